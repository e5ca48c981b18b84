/* SPDX-License-Identifier: MIT */
/*
 * The source's registration cache (see keycache.h).  Per-chunk entries are
 * one flat array per block, allocated up front from the block length: a
 * 1 TiB guest has a million chunks, 24 MiB of entries, and lookups on the
 * WRITE path are a bounds check and an index.
 */
#include <errno.h>
#include <stdlib.h>

#include <rmig/log.h>

#include "rdma/chunk.h"
#include "rdma/keycache.h"

struct kc_chunk {
	void *local_mr;
	uint64_t remote_addr; /* remote virtual address of the chunk's first byte */
	uint32_t rkey;
	uint8_t state;
};

/* A destination memory region of a block (PIN_SEGMENTS). */
struct kc_seg {
	uint64_t start; /* block-relative */
	uint64_t len;
	uint32_t rkey;
};

struct kc_block {
	uint64_t length;
	uint64_t nchunks;
	struct kc_chunk *chunks;
	uint64_t remote_host_addr; /* destination block start */
	uint64_t remote_base;	   /* block's base in the destination's RAM space */
	uint32_t remote_rkey;	   /* pin-all */
	bool remote_known;
	uint32_t nsegs;
	struct kc_seg *segs; /* sorted by start; allocated with the first one */
	uint32_t nregions;
	struct rmig_rdma_region regions[RMIG_RDMA_KEYCACHE_MAX_REGIONS]; /* sorted by start */
};

struct rmig_rdma_keycache {
	bool pin_all;
	uint32_t nblocks;
	struct kc_block *blocks;
};

int rmig_rdma_keycache_create(uint32_t nblocks, const uint64_t *block_lens, bool pin_all,
			      struct rmig_rdma_keycache **out)
{
	struct rmig_rdma_keycache *kc;
	uint32_t i;

	if (nblocks && !block_lens) {
		rmig_error("rdma: key cache needs the lengths of its %u blocks", nblocks);
		return -EINVAL;
	}
	for (i = 0; i < nblocks; i++) {
		if (!block_lens[i]) {
			rmig_error("rdma: key cache: block %u has length 0", i);
			return -EINVAL;
		}
	}
	kc = calloc(1, sizeof(*kc));
	if (!kc)
		goto nomem;
	kc->pin_all = pin_all;
	kc->nblocks = nblocks;
	if (nblocks) {
		kc->blocks = calloc(nblocks, sizeof(*kc->blocks));
		if (!kc->blocks)
			goto nomem_free;
	}
	for (i = 0; i < nblocks; i++) {
		struct kc_block *b = &kc->blocks[i];

		b->length = block_lens[i];
		b->nchunks = rmig_rdma_chunk_count(b->length);
		b->chunks = calloc(b->nchunks, sizeof(*b->chunks));
		if (!b->chunks)
			goto nomem_free;
	}
	*out = kc;
	return 0;

nomem_free:
	rmig_rdma_keycache_destroy(kc);
nomem:
	rmig_error("rdma: out of memory for the registration key cache of %u blocks", nblocks);
	return -ENOMEM;
}

void rmig_rdma_keycache_destroy(struct rmig_rdma_keycache *kc)
{
	uint32_t i;

	if (!kc)
		return;
	for (i = 0; kc->blocks && i < kc->nblocks; i++) {
		free(kc->blocks[i].chunks);
		free(kc->blocks[i].segs);
	}
	free(kc->blocks);
	free(kc);
}

bool rmig_rdma_keycache_pin_all(const struct rmig_rdma_keycache *kc)
{
	return kc->pin_all;
}

uint32_t rmig_rdma_keycache_nblocks(const struct rmig_rdma_keycache *kc)
{
	return kc->nblocks;
}

static struct kc_block *get_block(const struct rmig_rdma_keycache *kc, uint32_t block)
{
	return block < kc->nblocks ? &kc->blocks[block] : NULL;
}

static struct kc_chunk *get_chunk(const struct rmig_rdma_keycache *kc, uint32_t block,
				  uint64_t chunk)
{
	struct kc_block *b = get_block(kc, block);

	return b && chunk < b->nchunks ? &b->chunks[chunk] : NULL;
}

/* For the functions that report: the engine passed an index it should have checked. */
static struct kc_chunk *need_chunk(const struct rmig_rdma_keycache *kc, uint32_t block,
				   uint64_t chunk, const char *what)
{
	struct kc_chunk *c = get_chunk(kc, block, chunk);

	if (!c)
		rmig_error("rdma: key cache %s: block %u chunk %llu does not exist (%u blocks)",
			   what, block, (unsigned long long)chunk, kc->nblocks);
	return c;
}

uint64_t rmig_rdma_keycache_nchunks(const struct rmig_rdma_keycache *kc, uint32_t block)
{
	struct kc_block *b = get_block(kc, block);

	return b ? b->nchunks : 0;
}

int rmig_rdma_keycache_set_remote_block(struct rmig_rdma_keycache *kc, uint32_t block,
					uint64_t remote_host_addr, uint64_t remote_base,
					uint32_t rkey)
{
	struct kc_block *b = get_block(kc, block);

	if (!b) {
		rmig_error("rdma: key cache: no block %u (%u blocks)", block, kc->nblocks);
		return -EINVAL;
	}
	b->remote_host_addr = remote_host_addr;
	b->remote_base = remote_base;
	b->remote_rkey = rkey;
	b->remote_known = true;
	return 0;
}

int rmig_rdma_keycache_add_remote_segment(struct rmig_rdma_keycache *kc, uint32_t block,
					  uint64_t start, uint64_t len, uint32_t rkey)
{
	struct kc_block *b = get_block(kc, block);
	const struct kc_seg *last;

	if (!kc->pin_all || !b || len == 0 || !rmig_rdma_range_in_block(b->length, start, len)) {
		rmig_error("rdma: remote segment [%llu, +%llu) does not fit block %u%s",
			   (unsigned long long)start, (unsigned long long)len, block,
			   kc->pin_all ? "" : " (not in pin-all mode)");
		return -EINVAL;
	}
	last = b->nsegs ? &b->segs[b->nsegs - 1] : NULL;
	if (last && start < last->start + last->len) {
		rmig_error("rdma: remote segment at %llu of block %u overlaps or precedes the "
			   "one at %llu",
			   (unsigned long long)start, block, (unsigned long long)last->start);
		return -EINVAL;
	}
	if (b->nsegs == RMIG_RDMA_KEYCACHE_MAX_REGIONS) {
		rmig_error("rdma: block %u has more than %d remote segments", block,
			   RMIG_RDMA_KEYCACHE_MAX_REGIONS);
		return -E2BIG;
	}
	if (!b->segs) {
		b->segs = calloc(RMIG_RDMA_KEYCACHE_MAX_REGIONS, sizeof(*b->segs));
		if (!b->segs) {
			rmig_error("rdma: out of memory for the remote segments of block %u",
				   block);
			return -ENOMEM;
		}
	}
	b->segs[b->nsegs++] = (struct kc_seg){.start = start, .len = len, .rkey = rkey};
	return 0;
}

uint32_t rmig_rdma_keycache_remote_segments(const struct rmig_rdma_keycache *kc, uint32_t block)
{
	struct kc_block *b = get_block(kc, block);

	return b ? b->nsegs : 0;
}

uint64_t rmig_rdma_keycache_remote_covered(const struct rmig_rdma_keycache *kc, uint32_t block)
{
	struct kc_block *b = get_block(kc, block);

	return b && b->nsegs ? b->segs[b->nsegs - 1].start + b->segs[b->nsegs - 1].len : 0;
}

/* The last segment starting at or before @offset, or NULL. */
static const struct kc_seg *seg_at(const struct kc_block *b, uint64_t offset)
{
	uint32_t lo = 0, hi = b->nsegs;

	/* Binary search: this runs once per WRITE. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (b->segs[mid].start <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &b->segs[lo - 1] : NULL;
}

/* Pin-all: the block rkey, or the one of the segment holding the whole range. */
static int resolve_pinned(const struct kc_block *b, uint32_t block, uint64_t offset, uint64_t len,
			  struct rmig_rdma_remote *out)
{
	const struct kc_seg *s;

	/* Block key 0: PIN_STREAM, where every key comes with its segment. */
	if (!b->remote_known || (!b->nsegs && !b->remote_rkey))
		return -ENOENT;
	if (!b->nsegs) {
		out->rkey = b->remote_rkey;
		out->addr = b->remote_host_addr + offset;
		return 0;
	}
	s = seg_at(b, offset);
	if (!s || offset - s->start >= s->len)
		return -ENOENT;
	if (len > s->len - (offset - s->start)) {
		rmig_error("rdma: write of %llu bytes at offset %llu of block %u crosses the end "
			   "of the destination's memory region at %llu",
			   (unsigned long long)len, (unsigned long long)offset, block,
			   (unsigned long long)(s->start + s->len));
		return -EPROTO;
	}
	out->rkey = s->rkey;
	out->addr = b->remote_host_addr + offset;
	return 0;
}

uint64_t rmig_rdma_keycache_remote_space_addr(const struct rmig_rdma_keycache *kc, uint32_t block,
					      uint64_t offset)
{
	struct kc_block *b = get_block(kc, block);

	return b ? b->remote_base + offset : UINT64_MAX;
}

enum rmig_rdma_chunk_state rmig_rdma_keycache_state(const struct rmig_rdma_keycache *kc,
						    uint32_t block, uint64_t chunk)
{
	struct kc_chunk *c = get_chunk(kc, block, chunk);

	return c ? (enum rmig_rdma_chunk_state)c->state : RMIG_RDMA_CHUNK_UNREGISTERED;
}

int rmig_rdma_keycache_mark_in_flight(struct rmig_rdma_keycache *kc, uint32_t block, uint64_t chunk)
{
	struct kc_chunk *c = need_chunk(kc, block, chunk, "mark in flight");

	if (!c)
		return -EINVAL;
	if (c->state != RMIG_RDMA_CHUNK_UNREGISTERED)
		return -EALREADY;
	c->state = RMIG_RDMA_CHUNK_IN_FLIGHT;
	return 0;
}

int rmig_rdma_keycache_set_registered(struct rmig_rdma_keycache *kc, uint32_t block, uint64_t chunk,
				      uint32_t rkey, uint64_t remote_host_addr)
{
	struct kc_chunk *c = get_chunk(kc, block, chunk);

	if (!c || c->state != RMIG_RDMA_CHUNK_IN_FLIGHT) {
		rmig_error("rdma: destination sent a registration result for block %u chunk %llu, "
			   "which this side did not ask to register",
			   block, (unsigned long long)chunk);
		return -EPROTO;
	}
	c->state = RMIG_RDMA_CHUNK_REGISTERED;
	c->rkey = rkey;
	/* Wraps only for a hostile address; the HCA then rejects the WRITE. */
	c->remote_addr = remote_host_addr + rmig_rdma_chunk_start(chunk);
	kc->blocks[block].remote_host_addr = remote_host_addr;
	return 0;
}

int rmig_rdma_keycache_resolve(const struct rmig_rdma_keycache *kc, uint32_t block, uint64_t offset,
			       uint64_t len, struct rmig_rdma_remote *out)
{
	struct kc_block *b = get_block(kc, block);
	struct kc_chunk *c;
	uint64_t chunk;

	if (!b || len == 0 || !rmig_rdma_range_in_block(b->length, offset, len)) {
		rmig_error("rdma: write of %llu bytes at offset %llu is outside block %u",
			   (unsigned long long)len, (unsigned long long)offset, block);
		return -EINVAL;
	}
	if (kc->pin_all)
		return resolve_pinned(b, block, offset, len, out);
	chunk = rmig_rdma_chunk_index(offset);
	if (rmig_rdma_chunk_piece(b->length, offset, len) != len) {
		rmig_error("rdma: write of %llu bytes at offset %llu of block %u crosses the end "
			   "of chunk %llu",
			   (unsigned long long)len, (unsigned long long)offset, block,
			   (unsigned long long)chunk);
		return -EINVAL;
	}
	c = &b->chunks[chunk];
	if (c->state != RMIG_RDMA_CHUNK_REGISTERED)
		return -ENOENT;
	out->rkey = c->rkey;
	out->addr = c->remote_addr + (offset - rmig_rdma_chunk_start(chunk));
	return 0;
}

int rmig_rdma_keycache_invalidate(struct rmig_rdma_keycache *kc, uint32_t block, uint64_t chunk,
				  void **local_mr)
{
	struct kc_chunk *c = need_chunk(kc, block, chunk, "invalidate");

	if (!c)
		return -EINVAL;
	if (local_mr)
		*local_mr = c->local_mr;
	c->local_mr = NULL;
	c->state = RMIG_RDMA_CHUNK_UNREGISTERED;
	c->rkey = 0;
	c->remote_addr = 0;
	return 0;
}

int rmig_rdma_keycache_set_local_mr(struct rmig_rdma_keycache *kc, uint32_t block, uint64_t chunk,
				    void *local_mr)
{
	struct kc_chunk *c = need_chunk(kc, block, chunk, "set local MR");

	if (!c)
		return -EINVAL;
	if (c->local_mr) {
		rmig_error("rdma: block %u chunk %llu already has a local registration", block,
			   (unsigned long long)chunk);
		return -EEXIST;
	}
	c->local_mr = local_mr;
	return 0;
}

void *rmig_rdma_keycache_local_mr(const struct rmig_rdma_keycache *kc, uint32_t block,
				  uint64_t chunk)
{
	struct kc_chunk *c = get_chunk(kc, block, chunk);

	return c ? c->local_mr : NULL;
}

int rmig_rdma_keycache_add_region(struct rmig_rdma_keycache *kc, uint32_t block,
				  const struct rmig_rdma_region *r)
{
	struct kc_block *b = get_block(kc, block);
	uint32_t i, pos;

	if (!b || !r->local_mr || r->len == 0 ||
	    !rmig_rdma_range_in_block(b->length, r->start, r->len)) {
		rmig_error("rdma: local registration [%llu, +%llu) does not fit block %u",
			   (unsigned long long)r->start, (unsigned long long)r->len, block);
		return -EINVAL;
	}
	if (b->nregions == RMIG_RDMA_KEYCACHE_MAX_REGIONS) {
		rmig_error("rdma: block %u needs more than %d memory registrations; "
			   "the device's maximum registration size is too small for it",
			   block, RMIG_RDMA_KEYCACHE_MAX_REGIONS);
		return -E2BIG;
	}
	for (pos = 0; pos < b->nregions && b->regions[pos].start < r->start; pos++)
		;
	/* Neighbours must end before r starts and start after r ends. */
	if ((pos > 0 && b->regions[pos - 1].start + b->regions[pos - 1].len > r->start) ||
	    (pos < b->nregions && r->start + r->len > b->regions[pos].start)) {
		rmig_error("rdma: local registration [%llu, +%llu) overlaps another in block %u",
			   (unsigned long long)r->start, (unsigned long long)r->len, block);
		return -EINVAL;
	}
	for (i = b->nregions; i > pos; i--)
		b->regions[i] = b->regions[i - 1];
	b->regions[pos] = *r;
	b->nregions++;
	return 0;
}

const struct rmig_rdma_region *rmig_rdma_keycache_find_region(const struct rmig_rdma_keycache *kc,
							      uint32_t block, uint64_t offset,
							      uint64_t len)
{
	struct kc_block *b = get_block(kc, block);
	uint32_t i;

	if (!b)
		return NULL;
	for (i = 0; i < b->nregions; i++) {
		const struct rmig_rdma_region *r = &b->regions[i];

		if (offset >= r->start && offset - r->start <= r->len &&
		    len <= r->len - (offset - r->start))
			return r;
	}
	return NULL;
}

void *rmig_rdma_keycache_local_for(const struct rmig_rdma_keycache *kc, uint32_t block,
				   uint64_t offset, uint64_t len)
{
	const struct rmig_rdma_region *r;
	void *mr = rmig_rdma_keycache_local_mr(kc, block, rmig_rdma_chunk_index(offset));

	if (mr)
		return mr;
	r = rmig_rdma_keycache_find_region(kc, block, offset, len);
	return r ? r->local_mr : NULL;
}

uint64_t rmig_rdma_keycache_release_all(struct rmig_rdma_keycache *kc,
					rmig_rdma_keycache_release_fn fn, void *opaque)
{
	uint64_t n = 0, j;
	uint32_t i, k;

	for (i = 0; i < kc->nblocks; i++) {
		struct kc_block *b = &kc->blocks[i];

		for (j = 0; j < b->nchunks; j++) {
			struct kc_chunk *c = &b->chunks[j];

			if (c->local_mr) {
				fn(opaque, i, j, c->local_mr);
				n++;
			}
			c->local_mr = NULL;
			c->state = RMIG_RDMA_CHUNK_UNREGISTERED;
			c->rkey = 0;
			c->remote_addr = 0;
		}
		for (k = 0; k < b->nregions; k++) {
			fn(opaque, i, UINT64_MAX, b->regions[k].local_mr);
			n++;
		}
		b->nregions = 0;
	}
	return n;
}

uint64_t rmig_rdma_keycache_registered_count(const struct rmig_rdma_keycache *kc)
{
	uint64_t n = 0, j;
	uint32_t i;

	for (i = 0; i < kc->nblocks; i++)
		for (j = 0; j < kc->blocks[i].nchunks; j++)
			n += kc->blocks[i].chunks[j].state == RMIG_RDMA_CHUNK_REGISTERED;
	return n;
}
