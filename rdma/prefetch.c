/* SPDX-License-Identifier: MIT */
/*
 * Source side, dynamic registration: the destination registers its memory
 * chunk by chunk when asked, and the source asks ahead of its writes.
 *
 * This is where rmig beats QEMU: QEMU asks the destination to register one
 * chunk and waits for the answer before it writes that chunk.  Here
 * REGISTER_REQUESTs are sent for the dirty chunks ahead of the write
 * position (up to 32 chunks ahead, 2 requests in flight, sizes ramping up
 * from one chunk each round), so by the time the writer reaches a chunk
 * its key is normally there and the round trips overlap the WRITEs.
 */
#include <errno.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "common/ram/zero.h"
#include "rdma/chunk.h"
#include "rdma/conn.h"
#include "rdma/evict.h"
#include "rdma/progress.h"
#include "rdma/validate.h"

/* --- register results --- */

static int handle_register_result(struct rmig_rdma_conn *rc, const struct rmig_rdma_msg *m)
{
	struct rmig_rdma_req *q;
	uint32_t i;
	int ret;

	if (rc->req_count == 0) {
		rmig_error("rdma: the destination sent a REGISTER_RESULT nobody asked for");
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
	}
	q = &rc->reqs[rc->req_head];
	ret = rmig_rdma_validate_register_result(&m->hdr, q->n);
	if (ret < 0)
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
	for (i = 0; i < q->n; i++) {
		struct rmig_rdma_register_result r;
		uint64_t k;

		rmig_rdma_register_result_decode(m->payload + (size_t)i * RMIG_RDMA_REGISTER_RESULT_SIZE,
						 &r);
		rmig_rdma_pinlru_hold(&rc->pins, q->block[i], q->chunk[i], q->count[i]);
		/* One key for the whole run: the destination registered it as one region. */
		for (k = 0; k < q->count[i]; k++) {
			ret = rmig_rdma_keycache_set_registered(rc->kc, q->block[i],
								q->chunk[i] + k, r.rkey,
								r.host_addr);
			if (ret < 0)
				return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
		}
	}
	rc->req_head = (rc->req_head + 1) % RMIG_RDMA_REQ_INFLIGHT;
	rc->req_count--;
	return 0;
}

int rmig_rdma_prefetch_poll(struct rmig_rdma_conn *rc, bool block)
{
	int ret;

	if (!block) {
		ret = rmig_rdma_progress_poll(&rc->prog, false, "writing RAM to it");
		if (ret < 0)
			return ret;
	}
	while (block || rmig_rdma_ctrl_has_msg(&rc->ctrl)) {
		struct rmig_rdma_msg m;

		ret = rmig_rdma_ctrl_recv(&rc->ctrl, &m, false,
					  rc->pin_stream ? "waiting for a pinned region's key"
							 : "waiting for a REGISTER RESULT");
		if (ret == -ECONNRESET) {
			rmig_error("rdma: the destination disconnected during the RAM transfer");
			rmig_rdma_ctrl_fail(&rc->ctrl, ret);
		}
		if (ret < 0)
			return ret;
		if (m.hdr.type == RMIG_RDMA_MSG_REGISTER_RESULT) {
			ret = handle_register_result(rc, &m);
		} else if (m.hdr.type == RMIG_RDMA_MSG_SEGMENTS_RESULT && rc->pin_stream) {
			ret = rmig_rdma_pinstream_result(rc, &m);
		} else {
			rmig_error("rdma: unexpected %s from the destination during the RAM transfer",
				   rmig_rdma_msg_name(m.hdr.type));
			ret = rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
		}
		if (ret < 0)
			return ret;
		ret = rmig_rdma_ctrl_release(&rc->ctrl, &m);
		if (ret < 0)
			return ret;
		block = false;
	}
	return 0;
}

/* --- register requests --- */

static bool run_overlaps(const struct rmig_rdma_pending *r, uint32_t block, uint64_t start,
			 uint64_t len)
{
	return !rmig_rdma_pending_empty(r) && r->block == block && r->offset < start + len &&
	       start < r->offset + r->len;
}

/* Is part of [start, start + len) of @block handed over but not posted yet? */
static bool run_queued(const struct rmig_rdma_conn *rc, uint32_t block, uint64_t start,
		       uint64_t len)
{
	if (run_overlaps(&rc->w.rest, block, start, len) ||
	    run_overlaps(&rc->w.pending, block, start, len) ||
	    run_overlaps(&rc->lane_rest, block, start, len))
		return true;
	for (uint32_t i = 0; i < rc->nlanes; i++)
		if (run_overlaps(&rc->lanes[i].w.rest, block, start, len) ||
		    run_overlaps(&rc->lanes[i].w.pending, block, start, len))
			return true;
	return false;
}

static bool chunk_wanted(struct rmig_rdma_conn *rc, const struct rmig_rdma_ramblk *b,
			 uint64_t chunk)
{
	uint64_t start = rmig_rdma_chunk_start(chunk);
	uint64_t len = rmig_rdma_chunk_len(b->length, chunk);
	/* Rounded up: a chunk inside one larger page still covers that page. */
	uint64_t first = start >> b->page_shift, n;
	uint64_t last = (start + len + (1ULL << b->page_shift) - 1) >> b->page_shift;
	uint64_t p;

	if (rmig_rdma_keycache_state(rc->kc, b->index, chunk) != RMIG_RDMA_CHUNK_UNREGISTERED)
		return false;
	/*
	 * Only chunks this round will write, and not the all-zero ones
	 * (COMPRESS instead).  The migration thread clears a run's dirty bits
	 * before it hands the run over, so the rest of the run being queued
	 * (the next chunk, when the run crosses a chunk end) is no longer
	 * dirty in the bitmap: ask the writer too.
	 */
	if (run_queued(rc, b->index, start, len))
		return !rmig_buffer_is_zero(b->host + start, len);
	p = rmig_ramblock_find_next_run(b->rb, first, last - first, &n);
	if (p >= last || n == 0)
		return false;
	return !rmig_buffer_is_zero(b->host + start, len);
}

/*
 * Add @chunk to request @q: with @merge (REG_BATCH) it extends the last
 * element when it directly follows that element's run, so the destination
 * registers one region for the run (one ibv_reg_mr, not one per chunk).
 * Returns false when a new element is needed but @q already has @max.
 */
static bool req_add(struct rmig_rdma_req *q, uint32_t block, uint64_t chunk, bool merge,
		    uint32_t max)
{
	uint32_t l = q->n - 1;

	if (merge && q->n && q->block[l] == block && q->chunk[l] + q->count[l] == chunk) {
		q->count[l]++;
		return true;
	}
	if (q->n == max)
		return false;
	q->block[q->n] = block;
	q->chunk[q->n] = chunk;
	q->count[q->n++] = 1;
	return true;
}

/*
 * Send one REGISTER_REQUEST for @need (UINT64_MAX for none) plus wanted
 * chunks ahead.  Without @need this is a prefetch and never blocks: it is
 * skipped when no credit or request slot is free.
 */
static int request_chunks(struct rmig_rdma_conn *rc, const struct rmig_rdma_ramblk *b,
			  uint64_t need, uint64_t from)
{
	uint8_t payload[RMIG_RDMA_REQ_BATCH * RMIG_RDMA_REGISTER_SIZE];
	uint64_t nchunks = rmig_rdma_chunk_count(b->length);
	uint64_t limit, c, k, added, room;
	struct rmig_rdma_req *q;
	uint32_t i, batch;
	int ret;

	if (need == UINT64_MAX &&
	    (rc->req_count >= RMIG_RDMA_REQ_INFLIGHT || rc->ctrl.peer_credits == 0 ||
	     rmig_rdma_pinlru_room(&rc->pins) == 0))
		return 0;
	if (need != UINT64_MAX) {
		/* A write waits for this chunk: past the bound, make room. */
		uint64_t nb = rmig_rdma_pinlru_bytes(&rc->pins, b->index, need, 1);

		if (rmig_rdma_pinlru_room(&rc->pins) < nb) {
			/* Their results come first, and what they asked for is pinned too. */
			while (rc->req_count) {
				ret = rmig_rdma_prefetch_poll(rc, true);
				if (ret < 0)
					return ret;
			}
			ret = rmig_rdma_evict(rc, nb);
			if (ret < 0)
				return ret;
		}
	}
	while (rc->req_count >= RMIG_RDMA_REQ_INFLIGHT) {
		ret = rmig_rdma_prefetch_poll(rc, true);
		if (ret < 0)
			return ret;
	}
	q = &rc->reqs[(rc->req_head + rc->req_count) % RMIG_RDMA_REQ_INFLIGHT];
	q->n = 0;
	/*
	 * Without REG_BATCH (a QEMU peer) one single-chunk element per message:
	 * QEMU answers only one, and runs are not exercised against it.
	 */
	batch = rc->reg_batch ? RMIG_RDMA_REQ_BATCH : 1;
	room = rmig_rdma_pinlru_room(&rc->pins);
	if (need != UINT64_MAX) {
		req_add(q, b->index, need, false, batch);
		room -= RMIG_MIN(room, rmig_rdma_pinlru_bytes(&rc->pins, b->index, need, 1));
	}
	limit = RMIG_MIN(nchunks, from + RMIG_RDMA_LOOKAHEAD);
	added = q->n;
	for (c = RMIG_MAX(from, rc->next_prefetch[b->index]); c < limit && added < rc->req_budget;
	     c++) {
		uint64_t cb;

		if (c == need || !chunk_wanted(rc, b, c))
			continue;
		/* The look-ahead stays inside the bound: it never evicts. */
		cb = rmig_rdma_pinlru_bytes(&rc->pins, b->index, c, 1);
		if (cb > room)
			break;
		if (!req_add(q, b->index, c, rc->reg_batch, batch))
			break;
		room -= cb;
		added++;
	}
	rc->next_prefetch[b->index] = RMIG_MAX(rc->next_prefetch[b->index], c);
	if (q->n == 0)
		return 0;
	for (i = 0; i < q->n; i++) {
		struct rmig_rdma_register r = {
			.key = rmig_rdma_keycache_remote_space_addr(rc->kc, q->block[i],
								     rmig_rdma_chunk_start(q->chunk[i])),
			.block_idx = q->block[i],
			.chunks = q->count[i] - 1, /* chunks after the first */
		};

		rmig_rdma_register_encode(&r, payload + (size_t)i * RMIG_RDMA_REGISTER_SIZE);
	}
	ret = rmig_rdma_ctrl_send(&rc->ctrl, RMIG_RDMA_MSG_REGISTER_REQUEST, q->n, payload,
				  q->n * RMIG_RDMA_REGISTER_SIZE, true);
	if (ret < 0)
		return ret;
	/*
	 * Only once it is sent, so that a request that never left reserves
	 * nothing and adds nothing to the peak reported as pinned.  Its
	 * answer cannot overtake this: receives are handled when we poll.
	 */
	for (i = 0; i < q->n; i++) {
		rmig_rdma_pinlru_reserve(&rc->pins, q->block[i], q->chunk[i], q->count[i]);
		for (k = 0; k < q->count[i]; k++) {
			ret = rmig_rdma_keycache_mark_in_flight(rc->kc, q->block[i],
								q->chunk[i] + k);
			if (ret < 0)
				return ret;
		}
	}
	rc->req_count++;
	rc->reg_requests++;
	rc->req_budget = RMIG_MIN(rc->req_budget * 2, RMIG_RDMA_REQ_MAX_CHUNKS);
	if (rc->acc)
		rc->acc->transferred += RMIG_RDMA_HDR_SIZE + q->n * RMIG_RDMA_REGISTER_SIZE;
	return 0;
}

void rmig_rdma_prefetch_restart(struct rmig_rdma_conn *rc)
{
	memset(rc->next_prefetch, 0, rc->view.nblocks * sizeof(*rc->next_prefetch));
	rc->req_budget = 1;
}

int rmig_rdma_prefetch_need(struct rmig_rdma_conn *rc, const struct rmig_rdma_ramblk *b,
			    uint64_t chunk)
{
	uint64_t t0;
	int ret;

	if (rmig_rdma_keycache_state(rc->kc, b->index, chunk) == RMIG_RDMA_CHUNK_UNREGISTERED) {
		ret = request_chunks(rc, b, chunk, chunk + 1);
		if (ret < 0)
			return ret;
	}
	if (rmig_rdma_keycache_state(rc->kc, b->index, chunk) == RMIG_RDMA_CHUNK_REGISTERED)
		return 0;
	t0 = rmig_time_now_ns();
	rc->reg_waits++;
	do {
		ret = rmig_rdma_prefetch_poll(rc, true);
		if (ret < 0)
			return ret;
	} while (rmig_rdma_keycache_state(rc->kc, b->index, chunk) != RMIG_RDMA_CHUNK_REGISTERED);
	rc->reg_wait_ns += rmig_time_now_ns() - t0;
	return 0;
}

int rmig_rdma_prefetch_ahead(struct rmig_rdma_conn *rc, const struct rmig_rdma_ramblk *b,
			     uint64_t chunk)
{
	int ret = rmig_rdma_prefetch_poll(rc, false);

	if (ret == 0 && chunk + RMIG_RDMA_LOOKAHEAD / 2 >= rc->next_prefetch[b->index])
		ret = request_chunks(rc, b, UINT64_MAX, chunk + 1);
	return ret;
}
