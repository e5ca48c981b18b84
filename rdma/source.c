/* SPDX-License-Identifier: MIT */
/*
 * Source side RAM hooks: per round, the pages handed over by the migration
 * thread become RDMA WRITEs, and zero pages COMPRESS ranges.  The SETUP
 * exchange is source_setup.c's, registration ahead of the writes
 * prefetch.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/size.h"
#include "common/base/util.h"
#include "common/ram/zero.h"
#include "rdma/chunk.h"
#include "rdma/conn.h"
#include "rdma/evict.h"
#include "rdma/glue.h"
#include "rdma/progress.h"

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
	rmig_rdma_pinlru_fini(&rc->pins);
	free(rc->next_prefetch);
	rc->next_prefetch = NULL;
	free(rc->cbuf);
	rc->cbuf = NULL;
	rc->save_blk = NULL;
	rmig_rdma_ramview_fini(&rc->view);
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
 * [PIN_STREAM] Our own side of pin-all too is registered region by region
 * as the writes reach it, not all in SETUP (10-30 ms for 128 MiB under
 * soft-RoCE, all of it on the way to ACTIVE): each region's registration
 * then overlaps the WRITEs already posted.  Cut as the destination cuts
 * its side, without the ramp (our pages are normally resident already);
 * faulted in first, with keepalives, for pages the guest never touched.
 * source_setup.c checked that every block fits the key cache's regions.
 */
static int local_region(struct rmig_rdma_conn *rc, const struct rmig_rdma_ramblk *b,
			uint64_t offset, struct ibv_mr **out)
{
	uint64_t len = rmig_rdma_stream_region_len(b->length, rc->res.max_mr_size), t0;
	struct rmig_rdma_region r = { .start = offset / len * len };
	char what[RMIG_BLOCK_NAME_MAX + 64];
	struct ibv_mr *mr;
	int ret;

	r.len = RMIG_MIN(len, b->length - r.start);
	t0 = rmig_time_now_ns();
	/* Advisory, as in pin_all_local(): registering faults in what is left. */
	ret = rmig_rdma_progress_populate(&rc->prog, b->host + r.start, r.len,
					  "pinning our RAM for pin-all");
	snprintf(what, sizeof(what), "region at %llu of RAM block '%s'",
		 (unsigned long long)r.start, b->name);
	if (ret == 0)
		ret = rmig_rdma_mr_register(rc->res.pd, b->host + r.start, r.len,
					    RMIG_RDMA_SOURCE_ACCESS, what, &mr);
	rc->local_reg_ns += rmig_time_now_ns() - t0;
	if (ret < 0)
		return ret;
	r.local_mr = mr;
	ret = rmig_rdma_keycache_add_region(rc->kc, b->index, &r);
	if (ret < 0) {
		rmig_rdma_glue_dereg_mr(mr);
		return ret;
	}
	rc->local_stream_bytes += r.len;
	*out = mr;
	return 0;
}

/*
 * Dynamic mode registers the source's own memory lazily, one chunk at a
 * time as writes reach it, so only what the migration writes gets pinned.
 * (Registering 16 MiB regions instead was measured under soft-RoCE: no
 * difference beyond noise, and it pins and populates untouched pages.)
 */
static int local_key(struct rmig_rdma_conn *rc, const struct rmig_rdma_ramblk *b, uint64_t chunk,
		     uint64_t offset, uint64_t len, uint32_t *lkey)
{
	struct ibv_mr *mr = rmig_rdma_keycache_local_for(rc->kc, b->index, offset, len);
	char what[RMIG_BLOCK_NAME_MAX + 64];
	uint64_t start, t0;
	int ret;

	if (!mr && rc->pin_stream) {
		ret = local_region(rc, b, offset, &mr);
		if (ret < 0)
			return ret;
	} else if (!mr) {
		/* Register the whole chunk once; later writes in it reuse the MR. */
		start = rmig_rdma_chunk_start(chunk);
		snprintf(what, sizeof(what), "chunk %llu of RAM block '%s'",
			 (unsigned long long)chunk, b->name);
		t0 = rmig_time_now_ns();
		ret = rmig_rdma_mr_register(rc->res.pd, b->host + start,
					    rmig_rdma_chunk_len(b->length, chunk),
					    RMIG_RDMA_SOURCE_ACCESS, what, &mr);
		/* Only ever after SETUP: writes come in rounds. */
		rc->local_reg_ns += rmig_time_now_ns() - t0;
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

/* [PIN_STREAM] Until the WRITE @p resolves: ask for regions, and wait for the answers. */
static int pinstream_need(struct rmig_rdma_conn *rc, const struct rmig_rdma_pending *p)
{
	struct rmig_rdma_remote r;
	uint64_t t0 = 0;
	int ret;

	while ((ret = rmig_rdma_keycache_resolve(rc->kc, p->block, p->offset, p->len, &r)) ==
	       -ENOENT) {
		if (!t0) {
			t0 = rmig_time_now_ns();
			rc->reg_waits++;
		}
		ret = rmig_rdma_pinstream_ask(rc, true);
		if (ret == 1) {
			/* Every region keyed and still nothing: our own bug, not the peer's. */
			rmig_error("rdma: no key for offset %llu of block %u although every region "
				   "is pinned",
				   (unsigned long long)p->offset, p->block);
			ret = -EPROTO;
		}
		if (ret == 0)
			ret = rmig_rdma_prefetch_poll(rc, true);
		if (ret < 0)
			break;
	}
	if (t0)
		rc->reg_wait_ns += rmig_time_now_ns() - t0;
	return ret;
}

/* [PIN_STREAM] Take the answers that came, and keep a region asked for ahead (never blocks). */
static int pinstream_ahead(struct rmig_rdma_conn *rc)
{
	int ret;

	/* Once everything is keyed, a WRITE costs what it costs without PIN_STREAM. */
	if (rc->pin_keyed)
		return 0;
	ret = rmig_rdma_prefetch_poll(rc, false);
	if (ret == 0)
		ret = rmig_rdma_pinstream_ask(rc, false);
	return ret < 0 ? ret : 0;
}

static int resolve(void *opaque, const struct rmig_rdma_pending *p, struct rmig_rdma_wtarget *t)
{
	struct rmig_rdma_conn *rc = opaque;
	/* p->block came from our own ram_save_page: in the view. */
	const struct rmig_rdma_ramblk *b = &rc->view.blocks[p->block];
	struct rmig_rdma_remote remote;
	/*
	 * The pages that end in this piece: a piece is at most a chunk, so a
	 * page larger than a chunk counts once, with its last piece.
	 */
	uint64_t pages = ((p->offset + p->len) >> b->page_shift) - (p->offset >> b->page_shift);
	int ret;

	if (!rc->pin_all) {
		/* Zeros in a chunk not asked for yet go as COMPRESS: no registration at all. */
		if (rmig_rdma_keycache_state(rc->kc, p->block, p->chunk) ==
			    RMIG_RDMA_CHUNK_UNREGISTERED &&
		    rmig_buffer_is_zero(b->host + p->offset, p->len)) {
			if (rc->acc)
				rc->acc->zero_pages += pages;
			ret = compress_add(rc, p->block, p->offset, p->len);
			return ret < 0 ? ret : RMIG_RDMA_RESOLVED_TAKEN;
		}
		ret = rmig_rdma_prefetch_need(rc, b, p->chunk);
		if (ret < 0)
			return ret;
	} else if (rc->pin_stream) {
		ret = pinstream_need(rc, p);
		if (ret < 0)
			return ret;
	}
	ret = rmig_rdma_keycache_resolve(rc->kc, p->block, p->offset, p->len, &remote);
	if (ret < 0) {
		rmig_error("rdma: no remote key for block '%s' offset %llu", b->name,
			   (unsigned long long)p->offset);
		return ret == -ENOENT ? -EPROTO : ret;
	}
	if (!rc->pin_all)
		rmig_rdma_pinlru_touch(&rc->pins, p->block, p->chunk);
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
	/* Keep the registrations ahead of us in flight (never blocks). */
	if (rc->pin_stream)
		return pinstream_ahead(rc);
	return rc->pin_all ? 0 : rmig_rdma_prefetch_ahead(rc, b, p->chunk);
}

/* A lane's writer resolves for the connection: the keys are the same on every lane. */
static int lane_resolve(void *opaque, const struct rmig_rdma_pending *p,
			struct rmig_rdma_wtarget *t)
{
	struct rmig_rdma_lane *l = opaque;

	return resolve(l->owner, p, t);
}

/*
 * Queue [off, off + len) of @b for writing: on the connection's QP, or
 * chunk by chunk on the lane owning each chunk, so a chunk's WRITEs always
 * share one QP and its registration is asked for once.
 */
static int queue_write(struct rmig_rdma_conn *rc, const struct rmig_rdma_ramblk *b, uint64_t off,
		       uint64_t len)
{
	if (!rc->nlanes)
		return rmig_rdma_writer_queue(&rc->w, b->index, b->length, off, len);
	while (len) {
		uint64_t chunk = rmig_rdma_chunk_index(off);
		uint64_t n = rmig_rdma_chunk_piece(b->length, off, len);
		struct rmig_rdma_lane *l = rmig_rdma_lane_of(rc, b->index, chunk);
		int ret;

		if (n == 0) /* off the block: the writer reports it */
			n = len;
		if (n < len)
			rc->lane_rest = (struct rmig_rdma_pending){
				.block = b->index, .offset = off + n, .len = len - n,
				.chunk = rmig_rdma_chunk_index(off + n) };
		ret = rmig_rdma_writer_queue(&l->w, b->index, b->length, off, n);
		rmig_rdma_pending_clear(&rc->lane_rest);
		if (ret < 0)
			return ret;
		off += n;
		len -= n;
	}
	return 0;
}

/* Post every pending WRITE; @last signals each (the end of a round). */
static int flush_writes(struct rmig_rdma_conn *rc, bool last)
{
	int ret = rmig_rdma_writer_flush(&rc->w, last);

	for (uint32_t i = 0; ret == 0 && i < rc->nlanes; i++)
		ret = rmig_rdma_writer_flush(&rc->lanes[i].w, last);
	return ret;
}

/* --- hooks --- */

static void write_done(void *opaque, uint64_t seq)
{
	rmig_rdma_writer_complete(opaque, seq);
}

int rmig_rdma_source_attach(struct rmig_rdma_conn *rc, struct rmig_ram *ram)
{
	uint32_t n = rmig_ram_get_nblocks(ram), i;
	uint64_t *lens;
	int ret;

	if (rc->kc) {
		rmig_error("rdma: RAM attached twice to one connection");
		return -EBUSY;
	}
	if (n == 0) {
		rmig_error("rdma: nothing to migrate (no RAM blocks)");
		return -EINVAL;
	}
	/* Dropped by rmig_rdma_source_fini(), as everything below. */
	rmig_rdma_ramview_fini(&rc->view);
	ret = rmig_rdma_ramview_init(&rc->view, ram);
	if (ret < 0)
		return ret;
	lens = calloc(n, sizeof(*lens));
	free(rc->next_prefetch);
	rc->next_prefetch = calloc(n, sizeof(*rc->next_prefetch));
	free(rc->cbuf);
	rc->cbuf = malloc((size_t)RMIG_RDMA_COMPRESS_BATCH * RMIG_RDMA_COMPRESS_SIZE);
	if (!lens || !rc->next_prefetch || !rc->cbuf) {
		free(lens);
		rmig_error("rdma: out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		lens[i] = rc->view.blocks[i].length;
	ret = rmig_rdma_keycache_create(n, lens, rc->pin_all, &rc->kc);
	if (ret == 0) {
		uint64_t bound = 0;

		/* Pin-all pins the whole RAM by definition: nothing to bound. */
		if (!rc->pin_all) {
			uint64_t bufs = (rc->ctrl.recv_mr ? rc->ctrl.recv_mr->length : 0) +
					(rc->ctrl.send_mr ? rc->ctrl.send_mr->length : 0);

			bound = rmig_rdma_pin_bound(rc->max_pinned_req, bufs);
		}
		rmig_rdma_pinlru_fini(&rc->pins);
		ret = rmig_rdma_pinlru_init(&rc->pins, n, lens, bound);
		if (ret == 0 && bound) {
			char sz[32];

			rmig_info("rdma: dynamic registration keeps at most %s pinned on each side "
				  "(rdma-max-pinned%s)",
				  rmig_size_format(bound, sz, sizeof(sz)),
				  rc->max_pinned_req ? "" : ", from the locked-memory limit");
		}
	}
	free(lens);
	if (ret < 0)
		return ret;
	rc->ram = ram;
	rmig_rdma_writer_init(&rc->w, rc->res.qp, resolve, rmig_rdma_conn_wait, rc);
	for (i = 0; i < rc->nlanes; i++) {
		struct rmig_rdma_lane *l = &rc->lanes[i];

		rmig_rdma_writer_init(&l->w, l->qp, lane_resolve, rmig_rdma_lane_wait, l);
		l->owner = rc;
	}
	rmig_rdma_pending_clear(&rc->lane_rest);
	rmig_rdma_progress_set_writer(&rc->prog, write_done, &rc->w, &rc->w.posted);
	return 0;
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
		int ret = rmig_rdma_progress_poll(&rc->prog, true,
						  "waiting for its READYs after a COMPRESS");

		if (ret < 0)
			return ret;
	}
	rc->compress_unsynced = false;
	return 0;
}

/*
 * RMIG_RDMA_CUT_LANE=bulk|dirty|final (tests only; the fault matrix's
 * "cut-channel" row over rdma): before that round's first WRITE, the last
 * lane is cut (lane.h), deterministically on this side of the race.
 */
static void cut_lane_knob(struct rmig_rdma_conn *rc, enum rmig_ram_phase phase)
{
	const char *v = getenv("RMIG_RDMA_CUT_LANE");
	const char *now = phase == RMIG_RAM_PHASE_FINAL ? "final"
			  : phase != RMIG_RAM_PHASE_ROUND ? NULL
			  : rc->rounds == 1		    ? "bulk"
			  : rc->rounds == 2		    ? "dirty"
							    : NULL;

	if (!v || !now || strcmp(v, now) || !rc->nlanes)
		return;
	/* The fault matrix reads this mark (RMIG_FAULT's) to time the cell. */
	rmig_warn("RMIG_FAULT: cut-lane at %s on the source (rdma channel %u)", now,
		  rc->nlanes - 1);
	rmig_rdma_lane_cut(&rc->lanes[rc->nlanes - 1], rc->cm.id);
}

int rmig_rdma_source_before(struct rmig_rdma_conn *rc, enum rmig_ram_phase phase)
{
	int ret;

	if (!rc->kc) {
		rmig_error("rdma: RAM hook before ram_attach");
		return -EINVAL;
	}
	if (phase != RMIG_RAM_PHASE_SETUP && !rc->setup_done) {
		rmig_error("rdma: RAM round before the SETUP exchange");
		return -EINVAL;
	}
	rmig_rdma_prefetch_restart(rc);
	if (rc->prog.error)
		return rc->prog.error;
	if (phase == RMIG_RAM_PHASE_ROUND)
		rc->rounds++;
	cut_lane_knob(rc, phase);
	ret = wait_peer_caught_up(rc);
	/* The first region's pinning starts before the first page is handed over. */
	if (ret == 0 && rc->pin_stream && phase != RMIG_RAM_PHASE_SETUP)
		ret = pinstream_ahead(rc);
	return ret;
}

/*
 * Our copy of @rb, or NULL when it is not one of the attached blocks.  The
 * migration thread walks the blocks in order, so the last one nearly
 * always matches and a run costs no call into librmig.
 */
static const struct rmig_rdma_ramblk *save_block(struct rmig_rdma_conn *rc,
						 struct rmig_ramblock *rb)
{
	const struct rmig_rdma_ramblk *b = rc->save_blk;

	if (b && b->rb == rb)
		return b;
	b = rmig_rdma_ramview_block(&rc->view, rmig_ramblock_get_index(rb));
	if (!b || b->rb != rb)
		return NULL;
	rc->save_blk = b;
	return b;
}

int rmig_rdma_source_save(struct rmig_rdma_conn *rc, struct rmig_ramblock *rb, uint64_t page,
			  uint64_t npages, struct rmig_ram_counters *acc)
{
	const struct rmig_rdma_ramblk *b;

	if (!rc->setup_done)
		return RMIG_SAVE_PAGE_DECLINED;
	b = save_block(rc, rb);
	if (!b)
		return RMIG_SAVE_PAGE_DECLINED;
	if (rc->prog.error)
		return rc->prog.error;
	rc->acc = acc;
	if (rc->pin_all || !rc->reg_batch)
		return queue_write(rc, b, page << b->page_shift, npages << b->page_shift);
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
			ret = queue_write(rc, b, off, n << b->page_shift);
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
		ret = rmig_rdma_source_setup(rc);
		if (ret < 0)
			return ret;
		rc->setup_done = true;
	}
	ret = flush_writes(rc, true);
	if (ret == 0)
		ret = compress_flush(rc);
	/* Collect the results of prefetches nobody needed, so none is left dangling. */
	while (ret == 0 && (rc->req_count || rc->pin_asked))
		ret = rmig_rdma_prefetch_poll(rc, true);
	/* The round is over only once the lanes' WRITEs have landed: REGISTER_FINISHED says so. */
	if (ret == 0)
		ret = rmig_rdma_lanes_quiesce(rc, true);
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
