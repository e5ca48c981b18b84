/* SPDX-License-Identifier: MIT */
/*
 * Memory registration helpers and the destination's registration table.
 */
#include "rdma/reg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <rmig/log.h>

#include "common/base/memlock.h"
#include "common/base/size.h"
#include "common/base/util.h"
#include "rdma/chunk.h"
#include "rdma/glue.h"

void rmig_rdma_memlock_explain(const char *what, uint64_t len, const char *why, uint64_t limit)
{
	char a[32], b[32];

	rmig_error("rdma: cannot register %s (%s): %s; the locked-memory limit is %s and RDMA "
		   "needs at least the RAM being migrated plus ~16 MiB locked: raise it with "
		   "'ulimit -l unlimited' (root) or LimitMEMLOCK=infinity in the systemd unit",
		   what, rmig_size_format(len, a, sizeof(a)), why,
		   rmig_size_format(limit, b, sizeof(b)));
}

int rmig_rdma_memlock_fits(uint64_t need, const char *what)
{
	uint64_t limit = rmig_memlock_get_limit();

	if (!limit || need <= limit)
		return 0;
	rmig_rdma_memlock_explain(what, need, "more than may be locked", limit);
	return -ENOMEM;
}

int rmig_rdma_mr_register(struct ibv_pd *pd, void *addr, size_t len, int access, const char *what,
			  struct ibv_mr **out)
{
	struct ibv_mr *mr;
	int err = 0;

	mr = rmig_rdma_glue_reg_mr(pd, addr, len, access, &err);
	if (!mr) {
		struct rlimit rl;
		char a[32];

		if ((err == -ENOMEM || err == -EPERM || err == -EAGAIN) &&
		    getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
			rmig_rdma_memlock_explain(what, len, strerror(-err), rl.rlim_cur);
		} else {
			rmig_error("rdma: cannot register %s (%s) for RDMA: %s", what,
				   rmig_size_format(len, a, sizeof(a)), strerror(-err));
		}
		return err;
	}
	*out = mr;
	return 0;
}

uint64_t rmig_rdma_segment_len(uint64_t max_mr_size)
{
	uint64_t s = max_mr_size & ~(RMIG_RDMA_CHUNK_SIZE - 1);

	return s ? s : RMIG_RDMA_CHUNK_SIZE;
}

int rmig_rdma_dreg_init(struct rmig_rdma_dest_reg *d, const struct rmig_rdma_ramview *view,
			struct ibv_pd *pd)
{
	uint32_t i;

	memset(d, 0, sizeof(*d));
	d->view = view;
	d->pd = pd;
	d->blocks = calloc(view->nblocks ? view->nblocks : 1, sizeof(*d->blocks));
	if (!d->blocks)
		goto nomem;
	d->nblocks = view->nblocks;
	for (i = 0; i < view->nblocks; i++) {
		struct rmig_rdma_dest_block *db = &d->blocks[i];

		db->nchunks = rmig_rdma_chunk_count(view->blocks[i].length);
		db->chunk_mr = calloc(db->nchunks ? db->nchunks : 1, sizeof(*db->chunk_mr));
		db->cover = calloc(db->nchunks ? db->nchunks : 1, sizeof(*db->cover));
		if (!db->chunk_mr || !db->cover)
			goto nomem;
	}
	return 0;

nomem:
	rmig_error("rdma: out of memory for the registration table");
	rmig_rdma_dreg_fini(d);
	return -ENOMEM;
}

void rmig_rdma_dreg_fini(struct rmig_rdma_dest_reg *d)
{
	uint32_t i, s;
	uint64_t c;

	for (i = 0; d->blocks && i < d->nblocks; i++) {
		struct rmig_rdma_dest_block *db = &d->blocks[i];

		for (s = db->nseg; s-- > 0;)
			rmig_rdma_glue_dereg_mr(db->seg_mr[s]);
		db->nseg = 0;
		for (c = 0; db->chunk_mr && c < db->nchunks; c++)
			if (db->chunk_mr[c])
				rmig_rdma_glue_dereg_mr(db->chunk_mr[c]);
		free(db->chunk_mr);
		free(db->cover);
	}
	free(d->blocks);
	d->blocks = NULL;
	d->nblocks = 0;
}

/* Point chunks [first, first + n) at the MR that starts at @owner (UINT64_MAX: none). */
static void dreg_cover(struct rmig_rdma_dest_block *db, uint64_t first, uint64_t n, uint64_t owner)
{
	uint64_t c;

	for (c = first; c < first + n; c++)
		db->cover[c] = owner == UINT64_MAX ? 0 : owner + 1;
}

int rmig_rdma_dreg_chunks(struct rmig_rdma_dest_reg *d, uint32_t block, uint64_t first,
			  uint64_t n, uint32_t *rkey)
{
	const struct rmig_rdma_ramblk *b = rmig_rdma_ramview_block(d->view, block);
	struct rmig_rdma_dest_block *db;
	uint64_t start, end, c;
	char what[RMIG_BLOCK_NAME_MAX + 64];
	struct ibv_mr *mr;
	uint64_t t0;
	int ret;

	if (!b || block >= d->nblocks || n == 0 || first >= d->blocks[block].nchunks ||
	    n > d->blocks[block].nchunks - first) {
		rmig_error("rdma: registration request outside the RAM (block %u chunk %llu+%llu)",
			   block, (unsigned long long)first, (unsigned long long)n);
		return -EPROTO;
	}
	db = &d->blocks[block];
	start = rmig_rdma_chunk_start(first);
	end = rmig_rdma_chunk_end(b->length, first + n - 1);
	if (db->cover[first]) {
		mr = db->chunk_mr[db->cover[first] - 1];
		if ((uint8_t *)mr->addr <= b->host + start &&
		    (uint8_t *)mr->addr + mr->length >= b->host + end) {
			*rkey = mr->rkey;
			return 0;
		}
	}
	for (c = first; c < first + n; c++) {
		if (db->cover[c]) {
			rmig_error("rdma: the source asks to register chunks %llu-%llu of RAM block "
				   "'%s', but chunk %llu is already in a region that does not hold them "
				   "all: refused, no memory is pinned twice",
				   (unsigned long long)first, (unsigned long long)(first + n - 1),
				   b->name, (unsigned long long)c);
			return -EPROTO;
		}
	}
	snprintf(what, sizeof(what), "chunk %llu of RAM block '%s'", (unsigned long long)first,
		 b->name);
	t0 = rmig_time_now_ns();
	ret = rmig_rdma_mr_register(d->pd, b->host + start, end - start,
				    IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE, what, &mr);
	d->reg_ns += rmig_time_now_ns() - t0;
	if (ret < 0)
		return ret;
	db->chunk_mr[first] = mr;
	dreg_cover(db, first, n, first);
	d->registered_bytes += end - start;
	d->peak_bytes = RMIG_MAX(d->peak_bytes, d->registered_bytes);
	d->nregistrations++;
	*rkey = mr->rkey;
	return 0;
}

int rmig_rdma_dreg_unregister(struct rmig_rdma_dest_reg *d, uint32_t block, uint64_t chunk)
{
	struct rmig_rdma_dest_block *db;
	struct ibv_mr *mr;

	if (block >= d->nblocks || chunk >= d->blocks[block].nchunks)
		return -EPROTO;
	db = &d->blocks[block];
	mr = db->chunk_mr[chunk];
	if (mr) {
		dreg_cover(db, chunk, rmig_rdma_chunk_count(mr->length), UINT64_MAX);
		d->registered_bytes -= mr->length;
		d->nunregistered++;
		rmig_rdma_glue_dereg_mr(mr);
		db->chunk_mr[chunk] = NULL;
	}
	return 0;
}

/*
 * [PIN_STREAM] Regions at least this long: a SEGMENTS_REQUEST costs a
 * round trip, and pinning 8 MiB of fresh memory (~20 ms under soft-RoCE)
 * stays far ahead of the writes into the region before.
 */
#define STREAM_SEG_MIN (8ull << 20)

/*
 * Region boundaries of a block of @length: regions of @len, the first
 * ones from one chunk doubling up to @len when @ramp.  Returns the count,
 * or 0 when it would pass RMIG_RDMA_MAX_SEGMENTS (@start then partial).
 */
static uint32_t plan_regions(uint64_t length, uint64_t len, bool ramp,
			     uint64_t start[RMIG_RDMA_MAX_SEGMENTS + 1])
{
	uint64_t off = 0, step = ramp ? RMIG_MIN(len, (uint64_t)RMIG_RDMA_CHUNK_SIZE) : len;
	uint32_t n = 0;

	while (off < length) {
		if (n == RMIG_RDMA_MAX_SEGMENTS)
			return 0;
		start[n++] = off;
		off += RMIG_MIN(step, length - off);
		step = RMIG_MIN(step * 2, len);
	}
	start[n] = length;
	return n;
}

uint64_t rmig_rdma_stream_region_len(uint64_t block_len, uint64_t max_mr_size)
{
	/* Small enough to start writing early, few enough for one block's keys. */
	uint64_t len = RMIG_DIV_ROUND_UP(block_len, RMIG_RDMA_MAX_SEGMENTS);

	len = RMIG_MAX(RMIG_ALIGN_UP(len, RMIG_RDMA_CHUNK_SIZE), STREAM_SEG_MIN);
	return RMIG_MIN(len, rmig_rdma_segment_len(max_mr_size));
}

int rmig_rdma_dreg_plan(struct rmig_rdma_dest_reg *d, uint64_t max_mr_size, bool stream)
{
	uint64_t seg = rmig_rdma_segment_len(max_mr_size);
	uint32_t i;

	for (i = 0; i < d->nblocks; i++) {
		const struct rmig_rdma_ramblk *b = &d->view->blocks[i];
		struct rmig_rdma_dest_block *db = &d->blocks[i];
		uint64_t len = seg;

		if (db->seg_len)
			continue; /* planned already (a repeated RAM_BLOCKS_REQUEST) */
		if (stream)
			len = rmig_rdma_stream_region_len(b->length, max_mr_size);
		/*
		 * Streamed, the first regions ramp up from one chunk: the first
		 * WRITE waits for the first region alone (an 8 MiB one took
		 * ~35 ms to fault in and pin under soft-RoCE).  Without the
		 * ramp when that would take more than 64 regions.
		 */
		db->nplan = plan_regions(b->length, len, stream, db->seg_start);
		if (!db->nplan && stream)
			db->nplan = plan_regions(b->length, len, false, db->seg_start);
		if (!db->nplan) {
			rmig_error("rdma: RAM block '%s' needs more than %d registrations at this "
				   "device's max_mr_size; use dynamic registration (no pin-all)",
				   b->name, RMIG_RDMA_MAX_SEGMENTS);
			return -E2BIG;
		}
		db->seg_len = len;
	}
	return 0;
}

/* Pin the next segment of block @i, planned by rmig_rdma_dreg_plan. */
static int pin_segment(struct rmig_rdma_dest_reg *d, uint32_t i, struct rmig_rdma_progress *prog)
{
	const struct rmig_rdma_ramblk *b = &d->view->blocks[i];
	struct rmig_rdma_dest_block *db = &d->blocks[i];
	uint64_t off = db->seg_start[db->nseg];
	uint64_t len = db->seg_start[db->nseg + 1] - off, t0;
	char what[RMIG_BLOCK_NAME_MAX + 32];
	int ret;

	/*
	 * Fault the region in on every CPU first; registering then only
	 * pins.  Advisory: on failure the registration faults the pages in
	 * itself and reports what goes wrong, with the memlock advice.  In
	 * pieces with keepalives between: the source waits meanwhile.
	 */
	snprintf(what, sizeof(what), "pinning RAM block '%s'", b->name);
	ret = prog ? rmig_rdma_progress_populate(prog, b->host + off, len, what) : 0;
	if (ret < 0)
		return ret;
	snprintf(what, sizeof(what), "RAM block '%s'", b->name);
	t0 = rmig_time_now_ns();
	ret = rmig_rdma_mr_register(d->pd, b->host + off, len,
				    IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE, what,
				    &db->seg_mr[db->nseg]);
	d->reg_ns += rmig_time_now_ns() - t0;
	if (ret < 0)
		return ret; /* fini deregisters what was pinned */
	db->nseg++;
	d->registered_bytes += len;
	d->peak_bytes = RMIG_MAX(d->peak_bytes, d->registered_bytes);
	d->nregistrations++;
	return 0;
}

static bool block_pinned(const struct rmig_rdma_dest_reg *d, uint32_t i)
{
	const struct rmig_rdma_dest_block *db = &d->blocks[i];

	return db->nseg >= db->nplan;
}

int rmig_rdma_dreg_pin_all(struct rmig_rdma_dest_reg *d, uint64_t max_mr_size,
			   struct rmig_rdma_progress *prog)
{
	uint32_t i;
	int ret = rmig_rdma_dreg_plan(d, max_mr_size, false);

	for (i = 0; ret == 0 && i < d->nblocks; i++)
		while (ret == 0 && !block_pinned(d, i))
			ret = pin_segment(d, i, prog);
	return ret;
}

int rmig_rdma_dreg_pin_next(struct rmig_rdma_dest_reg *d, struct rmig_rdma_progress *prog,
			    struct rmig_rdma_segment *out)
{
	uint32_t i;
	int ret;

	for (i = 0; i < d->nblocks && d->blocks[i].seg_len && block_pinned(d, i); i++)
		;
	if (i == d->nblocks)
		return -ENOSPC;
	if (!d->blocks[i].seg_len)
		return -ENOENT;
	ret = pin_segment(d, i, prog);
	if (ret < 0)
		return ret;
	return rmig_rdma_dreg_segment(d, i, d->blocks[i].nseg - 1, out);
}

bool rmig_rdma_dreg_all_pinned(const struct rmig_rdma_dest_reg *d)
{
	for (uint32_t i = 0; i < d->nblocks; i++)
		if (!d->blocks[i].seg_len || !block_pinned(d, i))
			return false;
	return true;
}

int rmig_rdma_dreg_pin_rkey(const struct rmig_rdma_dest_reg *d, uint32_t block, uint64_t offset,
			    uint32_t *rkey)
{
	const struct rmig_rdma_dest_block *db;
	uint32_t s;

	if (block >= d->nblocks)
		return -ENOENT;
	db = &d->blocks[block];
	/* At most 64 regions: a scan is fine (pin-all answers few REGISTER_REQUESTs). */
	for (s = 0; s < db->nseg; s++) {
		if (offset < db->seg_start[s + 1]) {
			*rkey = db->seg_mr[s]->rkey;
			return 0;
		}
	}
	return -ENOENT;
}

int rmig_rdma_dreg_segment(const struct rmig_rdma_dest_reg *d, uint32_t block, uint32_t seg,
			   struct rmig_rdma_segment *out)
{
	const struct rmig_rdma_dest_block *db;

	if (block >= d->nblocks || seg >= d->blocks[block].nseg)
		return -ENOENT;
	db = &d->blocks[block];
	out->block_idx = block;
	out->rkey = db->seg_mr[seg]->rkey;
	out->start = db->seg_start[seg];
	out->length = db->seg_start[seg + 1] - db->seg_start[seg];
	return 0;
}
