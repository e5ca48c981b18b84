/* SPDX-License-Identifier: MIT */
/*
 * Encoding and validation of the rmig stream, version 1
 * (docs/stream-format.md).  The writer trusts its caller; the reader trusts
 * nothing and checks every field before anyone acts on it, so that
 * rmig_load() can write record payloads straight into guest memory.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rmig/log.h>
#include <rmig/transport.h>

#include "common/base/mem.h"
#include "common/base/size.h"
#include "common/base/util.h"
#include "common/engine/format.h"
#include "common/ram/checksum.h"
#include "common/ram/zero.h"
#include "plugin/tls.h"

#define HEADER_FIXED_SIZE 16 /* magic, version, flags, nblocks */
#define BLOCK_FIXED_SIZE  12 /* page_size, length (after name_len and name) */

_Static_assert(RMIG_RECORD_SIZE == 4 + 4 + 8 + 4 + 4, "record layout and size disagree");
_Static_assert(RMIG_BLOCK_NAME_MAX - 1 <= UINT16_MAX, "name_len is a u16 on the wire");
_Static_assert(1ULL * RMIG_RECORD_MAX_PAGES * RMIG_PAGE_SIZE_MAX < RMIG_STREAM_MAX_BLOCK_LENGTH,
	       "a record's byte count must not overflow the range check");

/* Total block bytes a header may ask this process to allocate (0 = the default). */
static _Atomic uint64_t max_alloc_bytes;

/*
 * What the kernel can give us now, not the machine's size: the pages will
 * be touched as they arrive, and running out half-way means the OOM killer,
 * not an error message.
 */
static uint64_t default_max_alloc(void)
{
	uint64_t avail = rmig_mem_get_available();
	long pages = sysconf(_SC_PHYS_PAGES);
	long page_size = sysconf(_SC_PAGESIZE);

	if (avail != UINT64_MAX)
		return avail;
	if (pages <= 0 || page_size <= 0)
		return UINT64_MAX;
	return (uint64_t)pages * (uint64_t)page_size;
}

void rmig_load_set_max_ram(uint64_t bytes)
{
	atomic_store_explicit(&max_alloc_bytes, bytes, memory_order_relaxed);
}

/* --- writer --- */

int rmig_format_write_header(struct rmig_stream *s, uint32_t flags, const struct rmig_ram *ram)
{
	uint8_t hdr[HEADER_FIXED_SIZE];
	uint32_t i;
	int rc;

	if (flags & ~RMIG_STREAM_F_KNOWN) {
		rmig_error("cannot write stream header: unknown flags 0x%x",
			   flags & ~RMIG_STREAM_F_KNOWN);
		return -EINVAL;
	}
	if (ram->nblocks == 0 || ram->nblocks > RMIG_RAM_MAX_BLOCKS) {
		rmig_error("cannot migrate %u RAM blocks: need 1 to %u", ram->nblocks,
			   RMIG_RAM_MAX_BLOCKS);
		return -EINVAL;
	}
	rmig_put_be32(hdr, RMIG_STREAM_MAGIC);
	rmig_put_be32(hdr + 4, RMIG_STREAM_VERSION);
	rmig_put_be32(hdr + 8, flags);
	rmig_put_be32(hdr + 12, ram->nblocks);
	rc = rmig_stream_write(s, hdr, sizeof(hdr));
	for (i = 0; i < ram->nblocks && rc == 0; i++) {
		const struct rmig_ramblock *b = ram->blocks[i];
		size_t name_len = strnlen(b->name, RMIG_BLOCK_NAME_MAX);
		uint8_t fixed[BLOCK_FIXED_SIZE];
		uint8_t len16[2];

		if (name_len == 0 || name_len >= RMIG_BLOCK_NAME_MAX) {
			rmig_error(
			    "cannot write stream header: RAM block %u has a name of bad length", i);
			return -EINVAL;
		}
		rmig_put_be16(len16, (uint16_t)name_len);
		rmig_put_be32(fixed, b->page_size);
		rmig_put_be64(fixed + 4, b->length);
		rc = rmig_stream_write(s, len16, sizeof(len16));
		if (!rc)
			rc = rmig_stream_write(s, b->name, name_len);
		if (!rc)
			rc = rmig_stream_write(s, fixed, sizeof(fixed));
	}
	return rc;
}

/* @len bytes at @p by reference, with @pace between pieces (none after the last). */
static int write_payload(struct rmig_stream *s, const uint8_t *p, uint64_t len,
			 int (*pace)(void *opaque), void *opaque)
{
	while (pace && len > RMIG_FORMAT_PACE_BYTES) {
		int ret = rmig_stream_write_ref(s, p, RMIG_FORMAT_PACE_BYTES);

		if (!ret)
			ret = pace(opaque);
		if (ret)
			return ret;
		p += RMIG_FORMAT_PACE_BYTES;
		len -= RMIG_FORMAT_PACE_BYTES;
	}
	return rmig_stream_write_ref(s, p, len);
}

int rmig_format_write_pages(struct rmig_stream *s, struct rmig_ramblock *b, uint64_t page,
			    uint64_t npages, bool zero_pages, struct rmig_ram_counters *cnt)
{
	return rmig_format_write_pages_paced(s, b, page, npages, zero_pages, cnt, NULL, NULL);
}

int rmig_format_write_pages_paced(struct rmig_stream *s, struct rmig_ramblock *b, uint64_t page,
				  uint64_t npages, bool zero_pages, struct rmig_ram_counters *cnt,
				  int (*pace)(void *opaque), void *opaque)
{
	uint64_t i = 0;

	while (i < npages) {
		uint8_t *p = b->host + ((page + i) << b->page_shift);
		bool zero = false;
		uint64_t j = npages;
		struct rmig_record r;
		int ret;

		/* Without zero pages every page is data: one record for the run. */
		if (zero_pages)
			j = i + rmig_zero_run_split(p, b->page_size, npages - i, &zero);
		r = (struct rmig_record){
			.type = zero ? RMIG_REC_ZERO : RMIG_REC_DATA,
			.block = b->index,
			.offset = (page + i) << b->page_shift,
			.npages = (uint32_t)(j - i),
		};
		ret = rmig_format_write_record(s, &r);
		if (!ret && !zero)
			ret = write_payload(s, p, (j - i) << b->page_shift, pace, opaque);
		if (ret)
			return ret;
		if (zero) {
			cnt->zero_pages += j - i;
		} else {
			cnt->normal_pages += j - i;
			cnt->normal_bytes += (j - i) << b->page_shift;
		}
		i = j;
	}
	return 0;
}

int rmig_format_write_channels(struct rmig_stream *s, uint32_t channels,
			       const uint8_t session[RMIG_MULTIFD_SESSION_SIZE])
{
	int rc = rmig_stream_put_u32(s, channels);

	return rc ? rc : rmig_stream_write(s, session, RMIG_MULTIFD_SESSION_SIZE);
}

int rmig_format_write_record(struct rmig_stream *s, const struct rmig_record *r)
{
	uint8_t b[RMIG_RECORD_SIZE];

	rmig_put_be32(b, r->type);
	rmig_put_be32(b + 4, r->block);
	rmig_put_be64(b + 8, r->offset);
	rmig_put_be32(b + 16, r->npages);
	rmig_put_be32(b + 20, r->arg);
	return rmig_stream_write(s, b, sizeof(b));
}

int rmig_format_write_trailer(struct rmig_stream *s, uint32_t flags, const uint64_t *sums,
			      uint32_t nblocks)
{
	uint32_t i;
	int rc = 0;

	if (flags & RMIG_STREAM_F_VERIFY) {
		for (i = 0; i < nblocks && rc == 0; i++)
			rc = rmig_stream_put_u64(s, sums[i]);
	}
	if (!rc)
		rc = rmig_stream_put_u32(s, RMIG_STREAM_END_MAGIC);
	return rc;
}

/* --- reader --- */

static bool name_is_printable(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (ch < 0x20 || ch > 0x7e)
			return false;
	}
	return true;
}

/* Read and check block @i of the header into @d; @prev are the blocks before it. */
static int read_block_desc(struct rmig_stream *s, uint32_t i, const struct rmig_block_desc *prev,
			   struct rmig_block_desc *d)
{
	uint8_t fixed[BLOCK_FIXED_SIZE];
	uint8_t len16[2];
	uint16_t name_len;
	uint32_t j;
	int rc;

	rc = rmig_stream_read(s, len16, sizeof(len16));
	if (rc)
		return rc;
	name_len = rmig_get_be16(len16);
	if (name_len == 0 || name_len >= RMIG_BLOCK_NAME_MAX) {
		rmig_error("stream header: RAM block %u has a name of %u bytes (must be 1 to %u)",
			   i, name_len, RMIG_BLOCK_NAME_MAX - 1);
		return -EPROTO;
	}
	rc = rmig_stream_read(s, d->name, name_len);
	if (rc)
		return rc;
	d->name[name_len] = '\0';
	if (!name_is_printable(d->name, name_len)) {
		rmig_error("stream header: RAM block %u has a name with non-printable bytes", i);
		return -EPROTO;
	}
	for (j = 0; j < i; j++) {
		if (strcmp(prev[j].name, d->name) == 0) {
			rmig_error("stream header: RAM blocks %u and %u are both named \"%s\"", j,
				   i, d->name);
			return -EPROTO;
		}
	}
	rc = rmig_stream_read(s, fixed, sizeof(fixed));
	if (rc)
		return rc;
	d->page_size = rmig_get_be32(fixed);
	d->length = rmig_get_be64(fixed + 4);
	if (!RMIG_IS_POW2(d->page_size) || d->page_size < RMIG_PAGE_SIZE_MIN ||
	    d->page_size > RMIG_PAGE_SIZE_MAX) {
		rmig_error(
		    "stream header: RAM block \"%s\" has page size %u (must be a power of two "
		    "from %u to %u)",
		    d->name, d->page_size, RMIG_PAGE_SIZE_MIN, RMIG_PAGE_SIZE_MAX);
		return -EPROTO;
	}
	if (d->length == 0 || d->length % d->page_size != 0 ||
	    d->length > RMIG_STREAM_MAX_BLOCK_LENGTH) {
		rmig_error("stream header: RAM block \"%s\" has length %llu (must be a non-zero "
			   "multiple of its page size %u, at most %llu)",
			   d->name, (unsigned long long)d->length, d->page_size,
			   (unsigned long long)RMIG_STREAM_MAX_BLOCK_LENGTH);
		return -EPROTO;
	}
	return 0;
}

/* F_MULTIFD: the channel count and the session every channel must name. */
static int read_channels(struct rmig_stream *s, struct rmig_stream_header *h)
{
	uint32_t n;
	int rc;

	rc = rmig_stream_get_u32(s, &n);
	if (!rc)
		rc = rmig_stream_read(s, h->session, sizeof(h->session));
	if (rc)
		return rc;
	if (n == 0 || n > RMIG_MULTIFD_CHANNELS_MAX) {
		rmig_error("stream header announces %u multifd channels (must be 1 to %u)", n,
			   RMIG_MULTIFD_CHANNELS_MAX);
		return -EPROTO;
	}
	h->channels = n;
	return 0;
}

int rmig_format_read_header(struct rmig_stream *s, struct rmig_stream_header *h)
{
	uint8_t fixed[HEADER_FIXED_SIZE];
	struct rmig_block_desc *blocks;
	uint32_t magic, version, flags, nblocks, i;
	int rc;

	rc = rmig_stream_read(s, fixed, sizeof(fixed));
	if (rc)
		return rc;
	magic = rmig_get_be32(fixed);
	version = rmig_get_be32(fixed + 4);
	flags = rmig_get_be32(fixed + 8);
	nblocks = rmig_get_be32(fixed + 12);
	if (rmig_tls_looks_like_handshake(fixed, sizeof(fixed))) {
		rmig_error("the source speaks TLS: give this side the same --tls-creds or "
			   "--tls-psk");
		return -EKEYREJECTED;
	}
	if (magic != RMIG_STREAM_MAGIC) {
		rmig_error(
		    "not an rmig migration stream: magic 0x%08x, expected 0x%08x (\"RMIG\"); "
		    "is the source an rmig of this family?",
		    magic, RMIG_STREAM_MAGIC);
		return -EPROTO;
	}
	if (version != RMIG_STREAM_VERSION) {
		rmig_error("unsupported stream version %u (this rmig reads %u)", version,
			   RMIG_STREAM_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (flags & ~RMIG_STREAM_F_KNOWN) {
		rmig_error(
		    "stream header has unknown flags 0x%x (this rmig knows 0x%x); the source "
		    "uses a feature this destination lacks",
		    flags & ~RMIG_STREAM_F_KNOWN, RMIG_STREAM_F_KNOWN);
		return -EPROTO;
	}
	if (nblocks == 0 || nblocks > RMIG_RAM_MAX_BLOCKS) {
		rmig_error("stream header names %u RAM blocks (must be 1 to %u)", nblocks,
			   RMIG_RAM_MAX_BLOCKS);
		return -EPROTO;
	}
	blocks = calloc(nblocks, sizeof(*blocks));
	if (!blocks) {
		rmig_error("out of memory for %u RAM block descriptions", nblocks);
		return -ENOMEM;
	}
	for (i = 0; i < nblocks; i++) {
		rc = read_block_desc(s, i, blocks, &blocks[i]);
		if (rc)
			goto free_blocks;
	}
	h->channels = 0;
	memset(h->session, 0, sizeof(h->session));
	if (flags & RMIG_STREAM_F_MULTIFD) {
		rc = read_channels(s, h);
		if (rc)
			goto free_blocks;
	}
	h->version = version;
	h->flags = flags;
	h->nblocks = nblocks;
	h->blocks = blocks;
	return 0;

free_blocks:
	free(blocks);
	return rc;
}

void rmig_format_header_free(struct rmig_stream_header *h)
{
	free(h->blocks);
	h->blocks = NULL;
	h->nblocks = 0;
}

static const char *record_type_name(uint32_t type)
{
	switch (type) {
	case RMIG_REC_DATA:
		return "DATA";
	case RMIG_REC_ZERO:
		return "ZERO";
	case RMIG_REC_HOOK:
		return "HOOK";
	case RMIG_REC_EOR:
		return "END_OF_ROUND";
	case RMIG_REC_EOS:
		return "END_OF_STREAM";
	case RMIG_REC_SYNC:
		return "SYNC";
	case RMIG_REC_PING:
		return "PING";
	}
	return "?";
}

/* DATA and ZERO: the pages must lie inside a block both sides have. */
static int check_page_record(const struct rmig_stream_header *h, const struct rmig_ram *ram,
			     const struct rmig_record *r)
{
	const char *what = record_type_name(r->type);
	const struct rmig_ramblock *b;
	uint64_t bytes;

	if (r->type == RMIG_REC_ZERO && !(h->flags & RMIG_STREAM_F_ZERO_PAGES)) {
		rmig_error("stream sent a ZERO record but its header did not announce zero pages");
		return -EPROTO;
	}
	b = rmig_ram_get_block(ram, r->block);
	if (r->block >= h->nblocks || !b) {
		rmig_error("stream %s record names RAM block %u, but there are only %u", what,
			   r->block, RMIG_MIN(h->nblocks, ram->nblocks));
		return -EPROTO;
	}
	if (r->npages == 0 || r->npages > RMIG_RECORD_MAX_PAGES) {
		rmig_error(
		    "stream %s record for RAM block \"%s\" covers %u pages (must be 1 to %u)", what,
		    b->name, r->npages, RMIG_RECORD_MAX_PAGES);
		return -EPROTO;
	}
	if (r->offset & ((uint64_t)b->page_size - 1)) {
		rmig_error(
		    "stream %s record for RAM block \"%s\" starts at offset 0x%llx, which is "
		    "not a multiple of its page size %u",
		    what, b->name, (unsigned long long)r->offset, b->page_size);
		return -EPROTO;
	}
	/* No overflow: npages <= 256 and page_size <= 1 GiB (static assert above). */
	bytes = (uint64_t)r->npages * b->page_size;
	if (r->offset > b->length || bytes > b->length - r->offset) {
		rmig_error(
		    "stream %s record writes 0x%llx bytes at offset 0x%llx of RAM block \"%s\", "
		    "past its end at 0x%llx",
		    what, (unsigned long long)bytes, (unsigned long long)r->offset, b->name,
		    (unsigned long long)b->length);
		return -EPROTO;
	}
	if (r->arg != 0) {
		rmig_error("stream %s record has non-zero reserved field 0x%x", what, r->arg);
		return -EPROTO;
	}
	return 0;
}

/* HOOK, END_OF_ROUND, END_OF_STREAM, SYNC and PING carry no page range. */
static int check_control_record(const struct rmig_stream_header *h, const struct rmig_record *r)
{
	const char *what = record_type_name(r->type);

	if ((r->type == RMIG_REC_SYNC || r->type == RMIG_REC_PING) &&
	    !(h->flags & RMIG_STREAM_F_MULTIFD)) {
		rmig_error("stream sent a %s record but its header did not announce multifd", what);
		return -EPROTO;
	}
	if (r->block != 0 || r->offset != 0 || r->npages != 0) {
		rmig_error("stream %s record has a page range (block %u, offset 0x%llx, %u pages); "
			   "it must have none",
			   what, r->block, (unsigned long long)r->offset, r->npages);
		return -EPROTO;
	}
	if (r->type == RMIG_REC_HOOK &&
	    (r->arg < RMIG_RAM_PHASE_SETUP || r->arg > RMIG_RAM_PHASE_FINAL)) {
		rmig_error("stream HOOK record names unknown RAM phase %u (known: 1 to 3)", r->arg);
		return -EPROTO;
	}
	if ((r->type == RMIG_REC_EOS || r->type == RMIG_REC_PING) && r->arg != 0) {
		rmig_error("stream %s record has non-zero reserved field 0x%x", what, r->arg);
		return -EPROTO;
	}
	return 0;
}

int rmig_format_read_record(struct rmig_stream *s, const struct rmig_stream_header *h,
			    const struct rmig_ram *ram, struct rmig_record *r)
{
	uint8_t b[RMIG_RECORD_SIZE];
	struct rmig_record rec;
	int rc;

	rc = rmig_stream_read(s, b, sizeof(b));
	if (rc)
		return rc;
	rec.type = rmig_get_be32(b);
	rec.block = rmig_get_be32(b + 4);
	rec.offset = rmig_get_be64(b + 8);
	rec.npages = rmig_get_be32(b + 16);
	rec.arg = rmig_get_be32(b + 20);
	switch (rec.type) {
	case RMIG_REC_DATA:
	case RMIG_REC_ZERO:
		rc = check_page_record(h, ram, &rec);
		break;
	case RMIG_REC_HOOK:
	case RMIG_REC_EOR:
	case RMIG_REC_EOS:
	case RMIG_REC_SYNC:
	case RMIG_REC_PING:
		rc = check_control_record(h, &rec);
		break;
	default:
		rmig_error("stream has a record of unknown type %u after %llu bytes", rec.type,
			   (unsigned long long)(s->bytes_in - RMIG_RECORD_SIZE));
		rc = -EPROTO;
		break;
	}
	if (rc)
		return rc;
	*r = rec;
	return 0;
}

static void report_block_mismatch(uint32_t i, const struct rmig_block_desc *d,
				  const struct rmig_ramblock *b)
{
	rmig_error("RAM block %u differs: the stream has \"%s\" of %llu bytes (page size %u), "
		   "this side has \"%s\" of %llu bytes (page size %u)",
		   i, d->name, (unsigned long long)d->length, d->page_size, b->name,
		   (unsigned long long)b->length, b->page_size);
}

static int compare_blocks(const struct rmig_stream_header *h, const struct rmig_ram *ram)
{
	uint32_t i, n = RMIG_MIN(h->nblocks, ram->nblocks);

	for (i = 0; i < n; i++) {
		const struct rmig_block_desc *d = &h->blocks[i];
		const struct rmig_ramblock *b = ram->blocks[i];

		if (strcmp(d->name, b->name) != 0 || d->length != b->length ||
		    d->page_size != b->page_size) {
			report_block_mismatch(i, d, b);
			return -EINVAL;
		}
	}
	if (h->nblocks > n) {
		rmig_error("the stream has %u RAM blocks, this side only %u: no block for \"%s\" "
			   "(%llu bytes)",
			   h->nblocks, ram->nblocks, h->blocks[n].name,
			   (unsigned long long)h->blocks[n].length);
		return -EINVAL;
	}
	if (ram->nblocks > n) {
		rmig_error("the stream has %u RAM blocks, this side %u: nothing for \"%s\" (%llu "
			   "bytes)",
			   h->nblocks, ram->nblocks, ram->blocks[n]->name,
			   (unsigned long long)ram->blocks[n]->length);
		return -EINVAL;
	}
	return 0;
}

static int alloc_blocks(const struct rmig_stream_header *h, struct rmig_ram *ram, uint64_t max_ram)
{
	uint64_t limit = max_ram ? max_ram : atomic_load_explicit(&max_alloc_bytes,
								   memory_order_relaxed);
	char want[32], have[32];
	uint64_t total = 0;
	uint32_t i;
	int rc;

	/* Cannot overflow: <= 1024 blocks of <= RMIG_STREAM_MAX_BLOCK_LENGTH each. */
	for (i = 0; i < h->nblocks; i++)
		total += h->blocks[i].length;
	if (!limit)
		limit = default_max_alloc();
	/* Before a byte is allocated: the block list is the peer's to choose. */
	if (total > limit) {
		rmig_error("the source asks for %s of RAM, more than this destination allows "
			   "(%s: %s); nothing was allocated",
			   rmig_size_format(total, want, sizeof(want)),
			   rmig_size_format(limit, have, sizeof(have)),
			   max_ram ? "max-ram" : "MemAvailable, or max-ram when set");
		return -ENOMEM;
	}
	for (i = 0; i < h->nblocks; i++) {
		const struct rmig_block_desc *d = &h->blocks[i];

		rc = rmig_ram_alloc(ram, d->name, d->length, d->page_size, NULL);
		if (rc)
			goto free_ram;
	}
	return 0;

free_ram:
	/* @ram was empty on entry: leave it so. */
	rmig_ram_fini(ram);
	rmig_ram_init(ram);
	return rc;
}

int rmig_format_match_blocks(const struct rmig_stream_header *h, struct rmig_ram *ram,
			     uint64_t max_ram)
{
	if (ram->nblocks == 0)
		return alloc_blocks(h, ram, max_ram);
	return compare_blocks(h, ram);
}

void rmig_ram_checksums(const struct rmig_ram *ram, uint64_t *sums)
{
	uint32_t i;

	for (i = 0; i < ram->nblocks; i++)
		sums[i] = rmig_checksum(ram->blocks[i]->host, ram->blocks[i]->length, 0);
}
