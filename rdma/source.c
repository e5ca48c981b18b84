/* SPDX-License-Identifier: MIT */
/*
 * Source side RAM hooks: RAM block exchange in SETUP, then per round the
 * pages handed over by the migration thread become RDMA WRITEs.
 *
 * Dynamic registration is where rmig beats QEMU: QEMU asks the
 * destination to register one chunk and waits for the answer before it
 * writes that chunk.  Here REGISTER_REQUESTs are sent for the dirty chunks
 * ahead of the write position (up to 32 chunks ahead, 2 requests in
 * flight, sizes ramping up from one chunk each round), so by the time the
 * writer reaches a chunk its key is normally there and the round trips
 * overlap the WRITEs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdma/chunk.h"
#include "rdma/conn.h"
#include "rdma/glue.h"
#include "rdma/progress.h"
#include <rmig/log.h>
#include "common/ram/populate.h"
#include "common/base/util.h"
#include "rdma/validate.h"
#include "common/ram/zero.h"

static void release_mr(void *opaque, uint32_t block, uint64_t chunk, void *mr)
{
	(void)opaque;
	(void)block;
	(void)chunk;
	rmig_rdma_glue_dereg_mr(mr);
}

void rmig_rdma_source_fini(struct rmig_rdma_conn *rc)
{
	if (rc->kc) {
		rmig_rdma_keycache_release_all(rc->kc, release_mr, NULL);
		rmig_rdma_keycache_destroy(rc->kc);
		rc->kc = NULL;
	}
	free(rc->next_prefetch);
	rc->next_prefetch = NULL;
	free(rc->cbuf);
	rc->cbuf = NULL;
}

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

/* Handle every queued response; with @block, wait for at least one. */
static int poll_responses(struct rmig_rdma_conn *rc, bool block)
{
	int ret;

	if (!block) {
		ret = rmig_rdma_progress_poll(&rc->ctrl, false);
		if (ret < 0)
			return ret;
	}
	while (block || rmig_rdma_ctrl_has_msg(&rc->ctrl)) {
		struct rmig_rdma_msg m;

		ret = rmig_rdma_ctrl_recv(&rc->ctrl, &m, false);
		if (ret == -ECONNRESET) {
			rmig_error("rdma: the destination disconnected during the RAM transfer");
			rmig_rdma_ctrl_fail(&rc->ctrl, ret);
		}
		if (ret < 0)
			return ret;
		if (m.hdr.type == RMIG_RDMA_MSG_REGISTER_RESULT) {
			ret = handle_register_result(rc, &m);
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

static bool chunk_wanted(struct rmig_rdma_conn *rc, struct rmig_ramblock *b, uint64_t chunk)
{
	uint64_t start = rmig_rdma_chunk_start(chunk);
	uint64_t len = rmig_rdma_chunk_len(b->length, chunk);
	uint64_t first = start >> b->page_shift, last = (start + len) >> b->page_shift, n;
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
	if (run_overlaps(&rc->w.rest, b->index, start, len) ||
	    run_overlaps(&rc->w.pending, b->index, start, len))
		return !rmig_buffer_is_zero(b->host + start, len);
	p = rmig_ramblock_next_run(b, first, last - first, &n);
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
static int request_chunks(struct rmig_rdma_conn *rc, struct rmig_ramblock *b, uint64_t need,
			  uint64_t from)
{
	uint8_t payload[RMIG_RDMA_REQ_BATCH * RMIG_RDMA_REGISTER_SIZE];
	uint64_t nchunks = rmig_rdma_chunk_count(b->length);
	uint64_t limit, c, k, added;
	struct rmig_rdma_req *q;
	uint32_t i, batch;
	int ret;

	if (need == UINT64_MAX &&
	    (rc->req_count >= RMIG_RDMA_REQ_INFLIGHT || rc->ctrl.peer_credits == 0))
		return 0;
	while (rc->req_count >= RMIG_RDMA_REQ_INFLIGHT) {
		ret = poll_responses(rc, true);
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
	if (need != UINT64_MAX)
		req_add(q, b->index, need, false, batch);
	limit = RMIG_MIN(nchunks, from + RMIG_RDMA_LOOKAHEAD);
	added = q->n;
	for (c = RMIG_MAX(from, rc->next_prefetch[b->index]); c < limit && added < rc->req_budget;
	     c++) {
		if (c == need || !chunk_wanted(rc, b, c))
			continue;
		if (!req_add(q, b->index, c, rc->reg_batch, batch))
			break;
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
		for (k = 0; k < q->count[i]; k++) {
			ret = rmig_rdma_keycache_mark_in_flight(rc->kc, q->block[i],
								q->chunk[i] + k);
			if (ret < 0)
				return ret;
		}
	}
	ret = rmig_rdma_ctrl_send(&rc->ctrl, RMIG_RDMA_MSG_REGISTER_REQUEST, q->n, payload,
				  q->n * RMIG_RDMA_REGISTER_SIZE, true);
	if (ret < 0)
		return ret;
	rc->req_count++;
	rc->reg_requests++;
	rc->req_budget = RMIG_MIN(rc->req_budget * 2, RMIG_RDMA_REQ_MAX_CHUNKS);
	if (rc->acc)
		rc->acc->transferred += RMIG_RDMA_HDR_SIZE + q->n * RMIG_RDMA_REGISTER_SIZE;
	return 0;
}

/* --- COMPRESS batching --- */

static int compress_flush(struct rmig_rdma_conn *rc)
{
	uint32_t len;
	int ret;

	if (rc->ncomp == 0)
		return 0;
	rmig_rdma_compress_encode(&rc->last_comp,
				  rc->cbuf + (size_t)(rc->ncomp - 1) * RMIG_RDMA_COMPRESS_SIZE);
	len = rc->ncomp * RMIG_RDMA_COMPRESS_SIZE;
	ret = rmig_rdma_ctrl_send(&rc->ctrl, RMIG_RDMA_MSG_COMPRESS, rc->ncomp, rc->cbuf, len, true);
	if (ret < 0)
		return ret;
	if (rc->acc)
		rc->acc->transferred += RMIG_RDMA_HDR_SIZE + len;
	rc->compress_msgs++;
	rc->compress_unsynced = true;
	rc->ncomp = 0;
	return 0;
}

static int compress_add(struct rmig_rdma_conn *rc, uint32_t block, uint64_t offset, uint64_t len)
{
	uint64_t addr = rmig_rdma_keycache_remote_space_addr(rc->kc, block, offset);
	int ret;

	/* Contiguous zero runs of one block become one element. */
	if (rc->ncomp && rc->last_comp.block_idx == block &&
	    rc->last_comp.offset + rc->last_comp.length == addr) {
		rc->last_comp.length += len;
		return 0;
	}
	if (rc->ncomp) {
		rmig_rdma_compress_encode(&rc->last_comp,
					  rc->cbuf + (size_t)(rc->ncomp - 1) *
							     RMIG_RDMA_COMPRESS_SIZE);
		/* QEMU serves only the first element of a COMPRESS: batch only with REG_BATCH. */
		if (rc->ncomp == (rc->reg_batch ? RMIG_RDMA_COMPRESS_BATCH : 1)) {
			ret = compress_flush(rc);
			if (ret < 0)
				return ret;
		}
	}
	rc->last_comp = (struct rmig_rdma_compress){
		.value = 0, .block_idx = block, .offset = addr, .length = len };
	rc->ncomp++;
	return 0;
}

/* --- the writer's resolver --- */

/*
 * Access flags of the source's own registrations.  The NIC only reads this
 * memory, but a registration without LOCAL_WRITE pins pages read-only, and
 * for a page the guest never touched that is the kernel's shared zero page:
 * when the guest later writes the page it gets a fresh copy, while the MR
 * keeps the zero page and every later WRITE sends zeros (seen as a checksum
 * mismatch under soft-RoCE).  LOCAL_WRITE makes the pin break the sharing
 * first, so the MR and the guest see the same page, at the price of
 * populating the untouched pages of what is registered.
 */
#define LOCAL_ACCESS IBV_ACCESS_LOCAL_WRITE

/*
 * Dynamic mode registers the source's own memory lazily, one chunk at a
 * time as writes reach it, so only what the migration writes gets pinned.
 * (Registering 16 MiB regions instead was measured under soft-RoCE: no
 * difference beyond noise, and it pins and populates untouched pages.)
 */
static int local_key(struct rmig_rdma_conn *rc, struct rmig_ramblock *b, uint64_t chunk,
		     uint64_t offset, uint64_t len, uint32_t *lkey)
{
	struct ibv_mr *mr = rmig_rdma_keycache_local_for(rc->kc, b->index, offset, len);
	char what[RMIG_BLOCK_NAME_MAX + 64];
	uint64_t start;
	int ret;

	if (!mr) {
		/* Register the whole chunk once; later writes in it reuse the MR. */
		start = rmig_rdma_chunk_start(chunk);
		snprintf(what, sizeof(what), "chunk %llu of RAM block '%s'",
			 (unsigned long long)chunk, b->name);
		ret = rmig_rdma_mr_register(rc->res.pd, b->host + start,
					    rmig_rdma_chunk_len(b->length, chunk), LOCAL_ACCESS,
					    what, &mr);
		if (ret < 0)
			return ret;
		ret = rmig_rdma_keycache_set_local_mr(rc->kc, b->index, chunk, mr);
		if (ret < 0) {
			rmig_rdma_glue_dereg_mr(mr);
			return ret;
		}
	}
	*lkey = mr->lkey;
	return 0;
}

static int resolve(void *opaque, const struct rmig_rdma_pending *p, struct rmig_rdma_wtarget *t)
{
	struct rmig_rdma_conn *rc = opaque;
	struct rmig_ramblock *b = rmig_ram_block(rc->ram, p->block);
	struct rmig_rdma_remote remote;
	uint64_t pages = p->len >> b->page_shift;
	int ret;

	if (!rc->pin_all) {
		enum rmig_rdma_chunk_state st = rmig_rdma_keycache_state(rc->kc, p->block, p->chunk);

		if (st == RMIG_RDMA_CHUNK_UNREGISTERED) {
			if (rmig_buffer_is_zero(b->host + p->offset, p->len)) {
				if (rc->acc)
					rc->acc->zero_pages += pages;
				ret = compress_add(rc, p->block, p->offset, p->len);
				return ret < 0 ? ret : RMIG_RDMA_RESOLVED_TAKEN;
			}
			ret = request_chunks(rc, b, p->chunk, p->chunk + 1);
			if (ret < 0)
				return ret;
		}
		if (rmig_rdma_keycache_state(rc->kc, p->block, p->chunk) !=
		    RMIG_RDMA_CHUNK_REGISTERED) {
			uint64_t t0 = rmig_now_ns();

			rc->reg_waits++;
			do {
				ret = poll_responses(rc, true);
				if (ret < 0)
					return ret;
			} while (rmig_rdma_keycache_state(rc->kc, p->block, p->chunk) !=
				 RMIG_RDMA_CHUNK_REGISTERED);
			rc->reg_wait_ns += rmig_now_ns() - t0;
		}
	}
	ret = rmig_rdma_keycache_resolve(rc->kc, p->block, p->offset, p->len, &remote);
	if (ret < 0) {
		rmig_error("rdma: no remote key for block '%s' offset %llu", b->name,
			   (unsigned long long)p->offset);
		return ret == -ENOENT ? -EPROTO : ret;
	}
	ret = local_key(rc, b, p->chunk, p->offset, p->len, &t->lkey);
	if (ret < 0)
		return ret;
	t->laddr = (uintptr_t)(b->host + p->offset);
	t->raddr = remote.addr;
	t->rkey = remote.rkey;
	if (rc->acc) {
		rc->acc->normal_pages += pages;
		rc->acc->normal_bytes += p->len;
		rc->acc->transferred += p->len;
	}
	if (!rc->pin_all) {
		/* Keep the registrations ahead of us in flight (never blocks). */
		ret = poll_responses(rc, false);
		if (ret == 0 && p->chunk + RMIG_RDMA_LOOKAHEAD / 2 >= rc->next_prefetch[p->block])
			ret = request_chunks(rc, b, UINT64_MAX, p->chunk + 1);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* --- hooks --- */

static void write_done(void *opaque, uint64_t seq)
{
	rmig_rdma_writer_complete(opaque, seq);
}

int rmig_rdma_source_attach(struct rmig_rdma_conn *rc, struct rmig_ram *ram)
{
	uint64_t *lens;
	uint32_t i;
	int ret;

	if (rc->kc) {
		rmig_error("rdma: RAM attached twice to one connection");
		return -EBUSY;
	}
	if (ram->nblocks == 0) {
		rmig_error("rdma: nothing to migrate (no RAM blocks)");
		return -EINVAL;
	}
	lens = calloc(ram->nblocks, sizeof(*lens));
	rc->next_prefetch = calloc(ram->nblocks, sizeof(*rc->next_prefetch));
	rc->cbuf = malloc((size_t)RMIG_RDMA_COMPRESS_BATCH * RMIG_RDMA_COMPRESS_SIZE);
	if (!lens || !rc->next_prefetch || !rc->cbuf) {
		free(lens);
		rmig_error("rdma: out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < ram->nblocks; i++)
		lens[i] = ram->blocks[i]->length;
	ret = rmig_rdma_keycache_create(ram->nblocks, lens, rc->pin_all, &rc->kc);
	free(lens);
	if (ret < 0)
		return ret;
	rc->ram = ram;
	rmig_rdma_writer_init(&rc->w, rc->res.qp, resolve, rmig_rdma_conn_wait, rc);
	rc->ctrl.write_posted = &rc->w.posted;
	rc->ctrl.write_done = write_done;
	rc->ctrl.write_opaque = &rc->w;
	return 0;
}

static int pin_all_local(struct rmig_rdma_conn *rc)
{
	uint64_t seg = rmig_rdma_segment_len(rc->res.max_mr_size);
	uint32_t i;
	int ret;

	for (i = 0; i < rc->ram->nblocks; i++) {
		struct rmig_ramblock *b = rc->ram->blocks[i];
		uint64_t off;

		/* As the destination does (rdma/reg.c); advisory. */
		(void)rmig_mem_populate(b->host, b->length, rmig_populate_threads());
		for (off = 0; off < b->length; off += seg) {
			struct rmig_rdma_region r = { .start = off,
						      .len = RMIG_MIN(seg, b->length - off) };
			struct ibv_mr *mr;

			ret = rmig_rdma_mr_register(rc->res.pd, b->host + off, r.len, LOCAL_ACCESS,
						    b->name, &mr);
			if (ret < 0)
				return ret;
			r.local_mr = mr;
			ret = rmig_rdma_keycache_add_region(rc->kc, i, &r);
			if (ret < 0) {
				rmig_rdma_glue_dereg_mr(mr);
				return ret;
			}
		}
	}
	return 0;
}

_Static_assert(RMIG_RDMA_MAX_SEGMENTS <= RMIG_RDMA_KEYCACHE_MAX_REGIONS,
	       "the key cache must hold every segment a block may have");

/* The answer @resp to a set-up request, in @m. */
static int answer_recv(struct rmig_rdma_conn *rc, uint32_t resp, const char *during,
		       struct rmig_rdma_msg *m)
{
	int ret = rmig_rdma_ctrl_recv(&rc->ctrl, m, false);

	if (ret == -ECONNRESET)
		rmig_error("rdma: the destination disconnected during %s", during);
	if (ret < 0)
		return ret;
	ret = rmig_rdma_validate_type(&m->hdr, resp);
	if (ret == -EPROTO)
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
	return ret;
}

/* One set-up exchange: @req (empty, needs a credit), then its answer @resp in @m. */
static int request_answer(struct rmig_rdma_conn *rc, uint32_t req, uint32_t resp,
			  const char *during, struct rmig_rdma_msg *m)
{
	int ret = rmig_rdma_ctrl_send(&rc->ctrl, req, 1, NULL, 0, true);

	return ret < 0 ? ret : answer_recv(rc, resp, during, m);
}

/*
 * [PIN_SEGMENTS] A block the destination registered as several memory
 * regions has a key per region; RAM_BLOCKS_RESULT (@blocks) carried only
 * the first.  Fetch them all, so each WRITE uses the key of its region.
 */
static int exchange_segments(struct rmig_rdma_conn *rc, const struct rmig_rdma_block *blocks)
{
	struct rmig_rdma_segment *segs;
	struct rmig_rdma_msg m;
	uint32_t n, i;
	int ret;

	ret = request_answer(rc, RMIG_RDMA_MSG_SEGMENTS_REQUEST, RMIG_RDMA_MSG_SEGMENTS_RESULT,
			     "the segment exchange", &m);
	if (ret < 0)
		return ret;
	n = rmig_rdma_hdr_count(&m.hdr);
	segs = calloc(n ? n : 1, sizeof(*segs));
	if (!segs) {
		rmig_error("rdma: out of memory");
		return -ENOMEM;
	}
	ret = rmig_rdma_segments_result_validate(rc->ram, blocks, &m.hdr, m.payload, segs);
	for (i = 0; i < n && ret == 0; i++)
		ret = rmig_rdma_keycache_add_remote_segment(
		    rc->kc, segs[i].block_idx, segs[i].start, segs[i].length, segs[i].rkey);
	free(segs);
	if (ret == -ENOMEM)
		return ret;
	if (ret < 0)
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
	return rmig_rdma_ctrl_release(&rc->ctrl, &m);
}

static int exchange_blocks(struct rmig_rdma_conn *rc)
{
	struct rmig_rdma_block *blocks;
	struct rmig_rdma_msg m;
	uint32_t i;
	int ret;

	ret = rmig_rdma_ctrl_send(&rc->ctrl, RMIG_RDMA_MSG_RAM_BLOCKS_REQUEST, 1, NULL, 0, true);
	/*
	 * Under pin-all the destination now registers all its RAM; register
	 * ours meanwhile rather than after its answer.
	 */
	if (ret == 0 && rc->pin_all)
		ret = pin_all_local(rc);
	if (ret == 0)
		ret = answer_recv(rc, RMIG_RDMA_MSG_RAM_BLOCKS_RESULT, "the RAM block exchange", &m);
	if (ret < 0)
		return ret;
	blocks = calloc(rc->ram->nblocks, sizeof(*blocks));
	if (!blocks) {
		rmig_error("rdma: out of memory");
		return -ENOMEM;
	}
	ret = rmig_rdma_blocks_result_validate(rc->ram, &m.hdr, m.payload, rc->pin_all, blocks);
	if (ret < 0) {
		free(blocks);
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
	}
	for (i = 0; i < rc->ram->nblocks && ret == 0; i++)
		ret = rmig_rdma_keycache_set_remote_block(rc->kc, i, blocks[i].remote_host_addr,
							  blocks[i].offset,
							  rc->pin_all ? blocks[i].rkey : 0);
	if (ret < 0) {
		free(blocks);
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
	}
	ret = rmig_rdma_ctrl_release(&rc->ctrl, &m);
	if (ret == 0 && rc->pin_all && rc->pin_segments)
		ret = exchange_segments(rc, blocks);
	free(blocks);
	return ret;
}

/*
 * Barrier between rounds.  The destination applies COMPRESS with its CPU
 * when it gets to the message, but the next round's WRITEs land in its
 * memory as soon as the NIC moves them.  A zero page COMPRESSed in one
 * round and rewritten (and WRITTEN) in the next would be zeroed after its
 * new contents arrived.  With QEMU's single credit nothing could be sent
 * before the peer had processed everything earlier, so the order held by
 * itself; with several credits we wait, before the first WRITE of a round
 * that follows a COMPRESS, until every credit is back, which the peer only
 * does once it has processed and released every message we sent.
 */
static int wait_peer_caught_up(struct rmig_rdma_conn *rc)
{
	struct rmig_rdma_ctrl *ctrl = &rc->ctrl;

	if (!ctrl->credits_mode || !rc->compress_unsynced)
		return 0;
	while (ctrl->peer_credits < ctrl->window) {
		int ret = rmig_rdma_progress_poll(ctrl, true);

		if (ret < 0)
			return ret;
	}
	rc->compress_unsynced = false;
	return 0;
}

int rmig_rdma_source_before(struct rmig_rdma_conn *rc, enum rmig_ram_phase phase)
{
	if (!rc->kc) {
		rmig_error("rdma: RAM hook before ram_attach");
		return -EINVAL;
	}
	if (phase != RMIG_RAM_PHASE_SETUP && !rc->setup_done) {
		rmig_error("rdma: RAM round before the SETUP exchange");
		return -EINVAL;
	}
	/* Prefetch starts over each round: the dirty set is new. */
	memset(rc->next_prefetch, 0, rc->ram->nblocks * sizeof(*rc->next_prefetch));
	rc->req_budget = 1;
	if (rc->ctrl.error)
		return rc->ctrl.error;
	return wait_peer_caught_up(rc);
}

int rmig_rdma_source_save(struct rmig_rdma_conn *rc, struct rmig_ramblock *b, uint64_t page,
			  uint64_t npages, struct rmig_ram_counters *acc)
{
	if (!rc->setup_done || b->index >= rc->ram->nblocks || rc->ram->blocks[b->index] != b)
		return RMIG_SAVE_PAGE_DECLINED;
	if (rc->ctrl.error)
		return rc->ctrl.error;
	rc->acc = acc;
	if (rc->pin_all || !rc->reg_batch)
		return rmig_rdma_writer_queue(&rc->w, b->index, b->length, page << b->page_shift,
					      npages << b->page_shift);
	/*
	 * rmig peer, dynamic mode: zero pages go as COMPRESS ranges (24 bytes
	 * for any run) wherever they are, so a mostly-zero guest neither
	 * registers nor writes them.  Not with a QEMU peer, which serves only
	 * one COMPRESS element per message.
	 */
	while (npages) {
		uint64_t off = page << b->page_shift, n;
		bool zero;
		int ret;

		n = rmig_zero_run_split(b->host + off, b->page_size, npages, &zero);
		if (zero) {
			ret = compress_add(rc, b->index, off, n << b->page_shift);
			if (acc)
				acc->zero_pages += n;
		} else {
			ret = rmig_rdma_writer_queue(&rc->w, b->index, b->length, off,
						     n << b->page_shift);
		}
		if (ret < 0)
			return ret;
		page += n;
		npages -= n;
	}
	return 0;
}

int rmig_rdma_source_after(struct rmig_rdma_conn *rc, enum rmig_ram_phase phase,
			   struct rmig_ram_counters *acc)
{
	int ret;

	rc->acc = acc;
	if (phase == RMIG_RAM_PHASE_SETUP && !rc->setup_done) {
		ret = exchange_blocks(rc);
		if (ret < 0)
			return ret;
		rc->setup_done = true;
	}
	ret = rmig_rdma_writer_flush(&rc->w, true);
	if (ret == 0)
		ret = compress_flush(rc);
	/* Collect the results of prefetches nobody needed, so none is left dangling. */
	while (ret == 0 && rc->req_count)
		ret = poll_responses(rc, true);
	if (ret == 0)
		ret = rmig_rdma_ctrl_send(&rc->ctrl, RMIG_RDMA_MSG_REGISTER_FINISHED, 1, NULL, 0,
					  true);
	/* That SEND is signalled and follows every WRITE: its completion retires them all. */
	if (ret == 0)
		ret = rmig_rdma_writer_wait_all(&rc->w);
	if (acc)
		acc->transferred += RMIG_RDMA_HDR_SIZE;
	rc->acc = NULL;
	return ret;
}
