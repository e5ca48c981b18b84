/* SPDX-License-Identifier: MIT */
/*
 * Semantic checks of decoded control messages (see validate.h).  Written
 * for a hostile peer: every subtraction is preceded by the comparison that
 * makes it non-negative, every addition by the one that rules out overflow.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <rmig/log.h>

#include "rdma/chunk.h"
#include "rdma/validate.h"

/*
 * What validation reads of a RAM block, through the accessors of
 * <rmig/ram.h> (the layout behind the handle is librmig's own).  Once per
 * message element at most: not a hot path.
 */
struct vblock {
	const char *name;
	uint64_t length;
};

static struct vblock vblock_of(const struct rmig_ramblock *b)
{
	return (struct vblock){ .name = rmig_ramblock_get_name(b),
				.length = rmig_ramblock_get_length(b) };
}

/* Name of block @idx, which the caller knows exists. */
static const char *block_name(const struct rmig_ram *ram, uint32_t idx)
{
	return rmig_ramblock_get_name(rmig_ram_get_block(ram, idx));
}

int rmig_rdma_layout_bases(const struct rmig_ram *ram, uint64_t *bases, uint32_t nbases)
{
	uint32_t nblocks = rmig_ram_get_nblocks(ram), i;
	uint64_t sum = 0;

	if (nbases < nblocks) {
		rmig_error("rdma: room for %u block bases, RAM has %u blocks", nbases, nblocks);
		return -EINVAL;
	}
	for (i = 0; i < nblocks; i++) {
		uint64_t len = rmig_ramblock_get_length(rmig_ram_get_block(ram, i));

		bases[i] = sum;
		if (len > UINT64_MAX - sum) {
			rmig_error("rdma: RAM blocks up to '%s' exceed a 64-bit address space",
				   block_name(ram, i));
			return -EINVAL;
		}
		sum += len;
	}
	return 0;
}

int rmig_rdma_validate_type(const struct rmig_rdma_hdr *h, uint32_t expected)
{
	if (h->type == RMIG_RDMA_MSG_ERROR) {
		rmig_error("rdma: peer reported an error%s%s and is aborting the migration; "
			   "see the peer's log",
			   expected != RMIG_RDMA_MSG_NONE ? " while this side waited for " : "",
			   expected != RMIG_RDMA_MSG_NONE ? rmig_rdma_msg_name(expected) : "");
		return -ECONNABORTED;
	}
	if (expected != RMIG_RDMA_MSG_NONE && h->type != expected) {
		rmig_error("rdma: protocol error: expected a %s message, got %s (type %u)",
			   rmig_rdma_msg_name(expected), rmig_rdma_msg_name(h->type), h->type);
		return -EPROTO;
	}
	return 0;
}

/* Block @idx into *@b; false (reported) when there is none. */
static bool need_block(const struct rmig_ram *ram, uint32_t idx, const char *what,
		       struct vblock *b)
{
	const struct rmig_ramblock *rb = rmig_ram_get_block(ram, idx);

	if (!rb) {
		rmig_error("rdma: %s names block %u, but there are only %u blocks", what, idx,
			   rmig_ram_get_nblocks(ram));
		return false;
	}
	*b = vblock_of(rb);
	return true;
}

/*
 * RAM-space address @addr -> offset in block @b based at @base; fails when
 * @addr is below the base or at/after the block's end.
 */
static bool space_to_block(const struct vblock *b, uint64_t base, uint64_t addr,
			   uint64_t *off)
{
	if (addr < base || addr - base >= b->length)
		return false;
	*off = addr - base;
	return true;
}

int rmig_rdma_validate_compress(const struct rmig_ram *ram, const uint64_t *bases,
				const struct rmig_rdma_compress *c, uint64_t *block_off)
{
	struct vblock b;
	uint64_t off;

	if (!need_block(ram, c->block_idx, "COMPRESS", &b))
		return -EPROTO;
	if (c->value != 0) {
		rmig_error("rdma: COMPRESS for block '%s' asks to fill with byte value %" PRIu32
			   "; only zero fill is part of the protocol",
			   b.name, c->value);
		return -EPROTO;
	}
	if (c->length == 0) {
		rmig_error("rdma: COMPRESS for block '%s' has length 0", b.name);
		return -EPROTO;
	}
	if (!space_to_block(&b, bases[c->block_idx], c->offset, &off) ||
	    !rmig_rdma_range_in_block(b.length, off, c->length)) {
		rmig_error("rdma: COMPRESS range [0x%" PRIx64 ", +0x%" PRIx64 ") is outside block "
			   "'%s' [0x%" PRIx64 ", +0x%" PRIx64 ")",
			   c->offset, c->length, b.name, bases[c->block_idx], b.length);
		return -EPROTO;
	}
	*block_off = off;
	return 0;
}

int rmig_rdma_validate_register(const struct rmig_ram *ram, const uint64_t *bases,
				const struct rmig_rdma_register *r, uint64_t *first_chunk,
				uint64_t *nchunks)
{
	struct vblock b;
	uint64_t off, chunk, count;

	if (!need_block(ram, r->block_idx, "REGISTER REQUEST", &b))
		return -EPROTO;
	if (!space_to_block(&b, bases[r->block_idx], r->key, &off)) {
		rmig_error("rdma: REGISTER REQUEST address 0x%" PRIx64 " is outside block '%s' "
			   "[0x%" PRIx64 ", +0x%" PRIx64 ")",
			   r->key, b.name, bases[r->block_idx], b.length);
		return -EPROTO;
	}
	chunk = rmig_rdma_chunk_index(off);
	count = rmig_rdma_chunk_count(b.length);
	/* chunk < count here, so count - 1 - chunk is the room left after it. */
	if (r->chunks > count - 1 - chunk) {
		rmig_error("rdma: REGISTER REQUEST for block '%s' chunk %" PRIu64 " plus %" PRIu64
			   " more runs past its last chunk %" PRIu64,
			   b.name, chunk, r->chunks, count - 1);
		return -EPROTO;
	}
	*first_chunk = chunk;
	*nchunks = r->chunks + 1;
	return 0;
}

int rmig_rdma_validate_unregister(const struct rmig_ram *ram, const struct rmig_rdma_register *r)
{
	struct vblock b;
	uint64_t count;

	if (!need_block(ram, r->block_idx, "UNREGISTER REQUEST", &b))
		return -EPROTO;
	count = rmig_rdma_chunk_count(b.length);
	if (r->key >= count) {
		rmig_error("rdma: UNREGISTER REQUEST for chunk %" PRIu64 " of block '%s', which "
			   "has %" PRIu64 " chunks",
			   r->key, b.name, count);
		return -EPROTO;
	}
	return 0;
}

static int check_dest_block(struct vblock lb, uint32_t i,
			    const struct rmig_rdma_block *b, bool pin_all)
{
	if (b->length != lb.length) {
		rmig_error("rdma: block %u '%s' is %" PRIu64 " bytes here but %" PRIu64
			   " bytes on the destination",
			   i, lb.name, lb.length, b->length);
		return -EPROTO;
	}
	if (b->length > UINT64_MAX - b->offset || b->length > UINT64_MAX - b->remote_host_addr) {
		rmig_error("rdma: destination describes block %u '%s' at an address that wraps "
			   "around (base 0x%" PRIx64 ", host 0x%" PRIx64 ")",
			   i, lb.name, b->offset, b->remote_host_addr);
		return -EPROTO;
	}
	if (pin_all && b->rkey == 0) {
		rmig_error("rdma: destination agreed to pin all memory but sent no key for block "
			   "%u '%s'",
			   i, lb.name);
		return -EPROTO;
	}
	return 0;
}

static int check_dest_count(const struct rmig_ram *ram, uint32_t count)
{
	if (count != rmig_ram_get_nblocks(ram)) {
		rmig_error("rdma: destination has %u RAM blocks, this side has %u; the two sides "
			   "must be configured with the same memory layout",
			   count, rmig_ram_get_nblocks(ram));
		return -EPROTO;
	}
	return 0;
}

int rmig_rdma_validate_blocks_result(const struct rmig_ram *ram, const struct rmig_rdma_block *b,
				     uint32_t count, bool pin_all)
{
	uint32_t i;
	int ret = check_dest_count(ram, count);

	for (i = 0; !ret && i < count; i++)
		ret = check_dest_block(vblock_of(rmig_ram_get_block(ram, i)), i, &b[i], pin_all);
	return ret;
}

int rmig_rdma_blocks_result_validate(const struct rmig_ram *ram, const struct rmig_rdma_hdr *h,
				     const uint8_t *payload, bool pin_all,
				     struct rmig_rdma_block *out)
{
	struct rmig_rdma_block tmp;
	uint32_t count, i;
	int ret;

	ret = rmig_rdma_validate_type(h, RMIG_RDMA_MSG_RAM_BLOCKS_RESULT);
	if (ret)
		return ret;
	/* The count comes first: @out has room for exactly ram->nblocks. */
	count = rmig_rdma_hdr_count(h);
	ret = check_dest_count(ram, count);
	if (ret)
		return ret;
	/* Check everything before writing anything, so @out is set only on success. */
	for (i = 0; i < count; i++) {
		rmig_rdma_block_decode(payload + (size_t)i * RMIG_RDMA_BLOCK_SIZE, &tmp);
		ret = check_dest_block(vblock_of(rmig_ram_get_block(ram, i)), i, &tmp, pin_all);
		if (ret)
			return ret;
	}
	for (i = 0; i < count; i++)
		rmig_rdma_block_decode(payload + (size_t)i * RMIG_RDMA_BLOCK_SIZE, &out[i]);
	return 0;
}

int rmig_rdma_validate_register_result(const struct rmig_rdma_hdr *h, uint32_t requested)
{
	int ret = rmig_rdma_validate_type(h, RMIG_RDMA_MSG_REGISTER_RESULT);

	if (ret)
		return ret;
	if (h->repeat != requested) {
		rmig_error("rdma: destination answered %u registrations with %u results", requested,
			   h->repeat);
		return -EPROTO;
	}
	return 0;
}

/* Where a SEGMENTS_RESULT walk stands: how far the current block is tiled. */
struct seg_walk {
	uint32_t block;
	uint64_t end;  /* the block's bytes [0, end) are covered */
	uint32_t nseg; /* segments seen for the block */
};

/* Moving on from w->block to @next is allowed only once w->block is covered. */
static int seg_next_block(const struct rmig_ram *ram, struct seg_walk *w, uint32_t i, uint32_t next)
{
	struct vblock b = vblock_of(rmig_ram_get_block(ram, w->block));

	if (next < w->block) {
		rmig_error("rdma: SEGMENTS RESULT element %" PRIu32 " is for block %" PRIu32
			   " after block %" PRIu32 ": blocks out of order",
			   i, next, w->block);
		return -EPROTO;
	}
	if (w->end != b.length) {
		rmig_error("rdma: SEGMENTS RESULT covers block %" PRIu32
			   " '%s' only up to 0x%" PRIx64 " of 0x%" PRIx64
			   " bytes before it moves on to block %" PRIu32,
			   w->block, b.name, w->end, b.length, next);
		return -EPROTO;
	}
	if (next != w->block + 1) {
		rmig_error("rdma: SEGMENTS RESULT jumps from block %" PRIu32 " to block %" PRIu32
			   ": block %" PRIu32 " '%s' has no segments",
			   w->block, next, w->block + 1, block_name(ram, w->block + 1));
		return -EPROTO;
	}
	w->block = next;
	w->end = 0;
	w->nseg = 0;
	return 0;
}

static int seg_walk_one(const struct rmig_ram *ram, const struct rmig_rdma_block *blocks,
			struct seg_walk *w, uint32_t i, const struct rmig_rdma_segment *s)
{
	struct vblock b;
	int ret;

	if (!need_block(ram, s->block_idx, "SEGMENTS RESULT", &b))
		return -EPROTO;
	if (s->block_idx != w->block) {
		ret = seg_next_block(ram, w, i, s->block_idx);
		if (ret)
			return ret;
	}
	if (s->start & (RMIG_RDMA_CHUNK_SIZE - 1)) {
		rmig_error("rdma: segment at 0x%" PRIx64 " of block '%s' does not start on a chunk "
			   "boundary",
			   s->start, b.name);
		return -EPROTO;
	}
	if (s->start != w->end && w->nseg == 0) {
		rmig_error("rdma: the first segment of block '%s' starts at 0x%" PRIx64 ", not 0",
			   b.name, s->start);
		return -EPROTO;
	}
	if (s->start != w->end) {
		rmig_error("rdma: segment at 0x%" PRIx64 " of block '%s' %s the previous one, "
			   "which ends at 0x%" PRIx64,
			   s->start, b.name, s->start > w->end ? "leaves a gap after" : "overlaps",
			   w->end);
		return -EPROTO;
	}
	/* start == end <= length here, so length - start cannot wrap. */
	if (s->length == 0 || s->length > b.length - s->start) {
		rmig_error("rdma: segment [0x%" PRIx64 ", +0x%" PRIx64 ") of block '%s' is empty "
			   "or runs past its end at 0x%" PRIx64,
			   s->start, s->length, b.name, b.length);
		return -EPROTO;
	}
	if (++w->nseg > RMIG_RDMA_MAX_SEGMENTS) {
		rmig_error("rdma: block '%s' comes in more than %d segments", b.name,
			   RMIG_RDMA_MAX_SEGMENTS);
		return -EPROTO;
	}
	if (s->rkey == 0 || (w->nseg == 1 && s->rkey != blocks[w->block].rkey)) {
		rmig_error("rdma: segment at 0x%" PRIx64 " of block '%s' has key 0x%" PRIx32 "%s",
			   s->start, b.name, s->rkey,
			   s->rkey == 0 ? "" : ", not the block's key from RAM BLOCKS RESULT");
		return -EPROTO;
	}
	w->end = s->start + s->length;
	return 0;
}

static int seg_walk_end(const struct rmig_ram *ram, const struct seg_walk *w)
{
	struct vblock b = vblock_of(rmig_ram_get_block(ram, w->block));

	if (w->end != b.length) {
		rmig_error("rdma: SEGMENTS RESULT covers block %" PRIu32
			   " '%s' only up to 0x%" PRIx64 " of 0x%" PRIx64 " bytes",
			   w->block, b.name, w->end, b.length);
		return -EPROTO;
	}
	if (w->block + 1 != rmig_ram_get_nblocks(ram)) {
		rmig_error("rdma: SEGMENTS RESULT ends after block %" PRIu32 "; block %" PRIu32
			   " '%s' has no segments",
			   w->block, w->block + 1, block_name(ram, w->block + 1));
		return -EPROTO;
	}
	return 0;
}

int rmig_rdma_validate_segments(const struct rmig_ram *ram, const struct rmig_rdma_block *blocks,
				const struct rmig_rdma_segment *s, uint32_t count)
{
	struct seg_walk w = {0};
	uint32_t i;
	int ret;

	if (rmig_ram_get_nblocks(ram) == 0) {
		rmig_error("rdma: SEGMENTS RESULT for a RAM without blocks");
		return -EPROTO;
	}
	for (i = 0; i < count; i++) {
		ret = seg_walk_one(ram, blocks, &w, i, &s[i]);
		if (ret)
			return ret;
	}
	return seg_walk_end(ram, &w);
}

int rmig_rdma_segments_result_validate(const struct rmig_ram *ram,
				       const struct rmig_rdma_block *blocks,
				       const struct rmig_rdma_hdr *h, const uint8_t *payload,
				       struct rmig_rdma_segment *out)
{
	struct rmig_rdma_segment tmp;
	struct seg_walk w = {0};
	uint32_t count, i;
	int ret;

	ret = rmig_rdma_validate_type(h, RMIG_RDMA_MSG_SEGMENTS_RESULT);
	if (ret)
		return ret;
	count = rmig_rdma_hdr_count(h);
	if ((uint64_t)count * RMIG_RDMA_SEGMENT_SIZE != h->len) {
		rmig_error("rdma: SEGMENTS RESULT has %" PRIu32 " payload bytes for %" PRIu32
			   " segments of %d bytes",
			   h->len, count, RMIG_RDMA_SEGMENT_SIZE);
		return -EPROTO;
	}
	if (rmig_ram_get_nblocks(ram) == 0) {
		rmig_error("rdma: SEGMENTS RESULT for a RAM without blocks");
		return -EPROTO;
	}
	/* Check everything before writing anything, so @out is set only on success. */
	for (i = 0; i < count; i++) {
		rmig_rdma_segment_decode(payload + (size_t)i * RMIG_RDMA_SEGMENT_SIZE, &tmp);
		ret = seg_walk_one(ram, blocks, &w, i, &tmp);
		if (ret)
			return ret;
	}
	ret = seg_walk_end(ram, &w);
	if (ret)
		return ret;
	for (i = 0; i < count; i++)
		rmig_rdma_segment_decode(payload + (size_t)i * RMIG_RDMA_SEGMENT_SIZE, &out[i]);
	return 0;
}

int rmig_rdma_stream_segment_validate(const struct rmig_ram *ram, const struct rmig_rdma_hdr *h,
				      const uint8_t *payload, uint32_t block, uint64_t start,
				      uint32_t nseg, struct rmig_rdma_segment *out)
{
	struct rmig_rdma_segment s;
	struct vblock b;
	uint64_t end;
	int ret = rmig_rdma_validate_type(h, RMIG_RDMA_MSG_SEGMENTS_RESULT);

	if (ret)
		return ret;
	if (h->repeat != 1 || h->len != RMIG_RDMA_SEGMENT_SIZE) {
		rmig_error("rdma: SEGMENTS RESULT for one pinned region has %" PRIu32
			   " elements in %" PRIu32 " bytes (expected one of %d bytes)",
			   h->repeat, h->len, RMIG_RDMA_SEGMENT_SIZE);
		return -EPROTO;
	}
	rmig_rdma_segment_decode(payload, &s);
	if (!need_block(ram, block, "SEGMENTS RESULT", &b))
		return -EPROTO;
	if (s.block_idx != block || s.start != start) {
		rmig_error("rdma: the destination pinned block %" PRIu32 " at 0x%" PRIx64
			   "; its next region is block %" PRIu32 " '%s' at 0x%" PRIx64,
			   s.block_idx, s.start, block, b.name, start);
		return -EPROTO;
	}
	end = s.start + s.length;
	/* start < length here (the caller asks only for what is not covered). */
	if (s.length == 0 || s.length > b.length - s.start ||
	    (end != b.length && (end & (RMIG_RDMA_CHUNK_SIZE - 1)))) {
		rmig_error("rdma: pinned region [0x%" PRIx64 ", +0x%" PRIx64 ") of block '%s' is "
			   "empty, runs past its end at 0x%" PRIx64 " or ends inside a chunk",
			   s.start, s.length, b.name, b.length);
		return -EPROTO;
	}
	if (nseg >= RMIG_RDMA_MAX_SEGMENTS || s.rkey == 0) {
		rmig_error("rdma: pinned region at 0x%" PRIx64 " of block '%s' is its %s",
			   s.start, b.name, s.rkey == 0 ? "without a key" : "65th or later");
		return -EPROTO;
	}
	*out = s;
	return 0;
}

int rmig_rdma_channels_validate(const struct rmig_rdma_hdr *h, const uint8_t *payload,
				uint32_t type, uint32_t *n, struct rmig_rdma_lane_info *out)
{
	struct rmig_rdma_lane_info li[RMIG_RDMA_MAX_LANES];
	uint32_t count = rmig_rdma_hdr_count(h);
	int ret = rmig_rdma_validate_type(h, type);

	if (ret < 0)
		return ret;
	if (*n ? count != *n : count < 2 || count > RMIG_RDMA_MAX_LANES) {
		rmig_error("rdma: %s describes %" PRIu32 " channels, expected %s%u",
			   rmig_rdma_msg_name(type), count, *n ? "" : "2 to ",
			   *n ? *n : RMIG_RDMA_MAX_LANES);
		return -EPROTO;
	}
	for (uint32_t i = 0; i < count; i++) {
		rmig_rdma_lane_info_decode(payload + (size_t)i * RMIG_RDMA_LANE_INFO_SIZE, &li[i]);
		if (li[i].index != i || li[i].qpn == 0 || li[i].qpn > 0xffffff ||
		    li[i].psn > 0xffffff) {
			rmig_error("rdma: %s: channel %" PRIu32 " is described as index %" PRIu32
				   ", queue pair %" PRIu32 ", PSN %" PRIu32
				   " (expected index %" PRIu32 " and 24-bit values)",
				   rmig_rdma_msg_name(type), i, li[i].index, li[i].qpn, li[i].psn, i);
			return -EPROTO;
		}
	}
	memcpy(out, li, (size_t)count * sizeof(*li));
	*n = count;
	return 0;
}
