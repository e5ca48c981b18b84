/* SPDX-License-Identifier: MIT */
/*
 * RDMA engine units through a fake glue table (no device needed):
 * error-convention conversion, teardown in reverse order after a failure
 * at every setup step, the write engine's merging / chunk splitting /
 * selective signalling / bounded outstanding, COMPRESS for an all-zero
 * unregistered chunk, the source falling back when pin-all is refused and
 * which extensions a connect ends up with, and RMIG_RDMA_MAX_MR_SIZE.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/base/util.h"
#include "common/ram/ram.h"
#include "rdma/conn.h"
#include "rdma/ctrl.h"
#include "rdma/glue.h"
#include "rdma/progress.h"
#include "rdma/write.h"
#include "tests/support/fake_glue.h"
#include "tests/support/rdma_test_log.h"

#define MiB (1024ull * 1024)

/* The fake itself is fake_glue.c; these slots are swapped in to see the failure conventions. */
static int f_bad_rdmacm(struct rdma_cm_id *id, int backlog)
{
	(void)id, (void)backlog;
	errno = EADDRINUSE;
	return -1;
}

static int f_poll_broken(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	(void)cq, (void)n, (void)wc;
	return -2;
}

static int fake_setup(void **state)
{
	rmig_fake_install();
	return rdma_test_setup(state);
}

static int fake_teardown(void **state)
{
	rmig_fake_remove();
	return rdma_test_teardown(state);
}

/* ---------------- error conventions ---------------- */

static void test_error_conventions(void **state)
{
	struct ibv_send_wr swr = { 0 };
	struct ibv_recv_wr rwr = { 0 };
	struct rdma_cm_id *id = NULL;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	int err = 0;

	(void)state;
	/* ibv_post_*: a positive errno. */
	rmig_fake.post_send_ret = EINVAL;
	assert_int_equal(rmig_rdma_glue_post_send((struct ibv_qp *)&rmig_fake, &swr), -EINVAL);
	rmig_fake.post_send_ret = ENOMEM;
	assert_int_equal(rmig_rdma_glue_post_send((struct ibv_qp *)&rmig_fake, &swr), -ENOMEM);
	rmig_fake.post_send_ret = 0;
	assert_int_equal(rmig_rdma_glue_post_recv((struct ibv_qp *)&rmig_fake, &rwr), 0);
	/* rdmacm: -1 and errno. */
	rmig_fake.fail_at = "id";
	rmig_fake.fail_errno = ENODEV;
	assert_int_equal(rmig_rdma_glue_create_id(NULL, &id, NULL), -ENODEV);
	rmig_fake.glue.listen = f_bad_rdmacm;
	assert_int_equal(rmig_rdma_glue_listen(NULL, 1), -EADDRINUSE);
	/* constructors: NULL and errno, into *err. */
	rmig_fake.fail_at = "mr";
	rmig_fake.fail_errno = ENOMEM;
	mr = rmig_rdma_glue_reg_mr(NULL, NULL, 4096, 0, &err);
	assert_null(mr);
	assert_int_equal(err, -ENOMEM);
	rmig_fake.fail_at = "cq1";
	rmig_fake.fail_errno = EINVAL;
	err = 0;
	cq = rmig_rdma_glue_create_cq(&rmig_fake.verbs, 4, NULL, &err);
	assert_null(cq);
	assert_int_equal(err, -EINVAL);
	/* ibv_poll_cq: a negative count without errno. */
	rmig_fake.glue.poll_cq = f_poll_broken;
	assert_int_equal(rmig_rdma_glue_poll_cq(NULL, 1, NULL), -EIO);
	/* ibv_query_device: a positive errno. */
	rmig_fake.fail_at = "query_device";
	assert_int_equal(
	    rmig_rdma_glue_query_device(&rmig_fake.verbs, &(struct ibv_device_attr){ 0 }), -EIO);
	assert_int_equal(rmig_fake.live, 0);
}

/* ---------------- teardown in reverse ---------------- */

static void setup_fails_at(const char *step)
{
	struct rmig_rdma_cm cm;
	struct rmig_rdma_res res;
	struct rmig_rdma_progress prog;
	struct rmig_rdma_ctrl ctrl;
	int ret;

	memset(&cm, 0, sizeof(cm));
	memset(&res, 0, sizeof(res));
	assert_int_equal(rmig_rdma_progress_init(&prog, &cm, &res), 0);
	rmig_fake.njournal = 0;
	rmig_fake.live = 0;
	rmig_fake.nchannels = rmig_fake.ncqs = 0;
	rmig_fake.evq_n = 0;
	rmig_fake.fail_at = step;
	rmig_fake.fail_errno = ENOMEM;
	ret = rmig_rdma_cm_resolve(&cm, "127.0.0.1", 4444, 1000, -1);
	if (ret == 0)
		ret = rmig_rdma_res_create(&res, cm.id);
	if (ret == 0) {
		ret = rmig_rdma_ctrl_init(&ctrl, &res, &prog, NULL);
		if (ret == 0)
			rmig_rdma_ctrl_fini(&ctrl);
	}
	if (strcmp(step, "none"))
		assert_true(ret < 0);
	else
		assert_int_equal(ret, 0);
	rmig_rdma_res_destroy(&res);
	rmig_rdma_cm_destroy(&cm);
	rmig_rdma_progress_fini(&prog);
	rmig_fake_assert_reverse_teardown();
}

/*
 * A listener takes one request at a time: another one is rejected, and
 * its id, which rdma_cm gave us, is destroyed once the event is acked.
 */
static void test_extra_request_refused_and_freed(void **state)
{
	struct rmig_rdma_cm cm;
	struct rdma_cm_id first, *second;
	unsigned mark;

	(void)state;
	memset(&cm, 0, sizeof(cm));
	cm.state = RMIG_RDMA_CM_LISTENING;
	cm.req_id = &first;
	rmig_fake.evq_n = 0;
	mark = rmig_fake.njournal;
	rmig_fake_connect_request(NULL, 0);
	assert_int_equal(rmig_rdma_cm_process_one(&cm), 0);
	assert_ptr_equal(cm.req_id, &first);
	assert_int_equal(rmig_fake_journal_count(mark, "+id"), 1);
	assert_int_equal(rmig_fake_journal_count(mark, "-id"), 1);

	/* With none pending, the request is taken, and nothing is destroyed. */
	cm.req_id = NULL;
	mark = rmig_fake.njournal;
	second = rmig_fake_connect_request(NULL, 0);
	assert_int_equal(rmig_rdma_cm_process_one(&cm), 0);
	assert_ptr_equal(cm.req_id, second);
	assert_int_equal(rmig_fake_journal_count(mark, "-id"), 0);
	rmig_rdma_glue_destroy_id(second);
}

static void test_teardown_reverse_each_step(void **state)
{
	static const char *steps[] = { "event_channel", "id", "resolve_addr", "query_device",
				       "pd", "comp_channel1", "comp_channel2", "cq1", "cq2",
				       "notify", "qp", "mr", "none" };
	size_t i;

	(void)state;
	for (i = 0; i < RMIG_ARRAY_SIZE(steps); i++)
		setup_fails_at(steps[i]);
}

/* ---------------- write engine ---------------- */

static struct rmig_rdma_writer *the_w;
static unsigned max_seen_outstanding;

static int wr_resolve(void *opaque, const struct rmig_rdma_pending *p, struct rmig_rdma_wtarget *t)
{
	(void)opaque;
	t->laddr = 0x10000000 + p->offset;
	t->lkey = 1;
	t->raddr = 0x80000000 + p->offset;
	t->rkey = 2 + (uint32_t)p->chunk; /* one key per chunk, as dynamic mode */
	return 0;
}

/* A completion of the newest signalled WRITE, as the CQ would deliver it. */
static int wr_wait(void *opaque)
{
	unsigned i;

	(void)opaque;
	for (i = rmig_fake.nwrs; i-- > 0;) {
		if (rmig_fake.wrs[i].flags & IBV_SEND_SIGNALED) {
			rmig_rdma_writer_complete(the_w,
						  RMIG_RDMA_WRID_VALUE(rmig_fake.wrs[i].wr_id));
			return 0;
		}
	}
	fail_msg("waiting with no signalled WRITE outstanding: would hang");
	return -EIO;
}

static int wr_post_checked(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	unsigned out = (unsigned)(the_w->posted - the_w->completed) + 1;

	if (out > max_seen_outstanding)
		max_seen_outstanding = out;
	return rmig_fake_post_send(qp, wr, bad);
}

static void test_writer_merge_split(void **state)
{
	struct rmig_rdma_writer w;
	const uint64_t blen = 4 * MiB;

	(void)state;
	the_w = &w;
	rmig_rdma_writer_init(&w, (struct ibv_qp *)&rmig_fake, wr_resolve, wr_wait, NULL);
	/* three contiguous runs in chunk 0 -> one WRITE */
	assert_int_equal(rmig_rdma_writer_queue(&w, 0, blen, 0, 8192), 0);
	assert_int_equal(rmig_rdma_writer_queue(&w, 0, blen, 8192, 4096), 0);
	assert_int_equal(rmig_rdma_writer_queue(&w, 0, blen, 12288, 4096), 0);
	/* a gap -> a second WRITE that runs across the chunk end: split there */
	assert_int_equal(rmig_rdma_writer_queue(&w, 0, blen, MiB - 8192, 16384), 0);
	/* another block, same offsets: never merged with block 0 */
	assert_int_equal(rmig_rdma_writer_queue(&w, 1, blen, MiB + 8192, 4096), 0);
	assert_int_equal(rmig_rdma_writer_flush(&w, true), 0);
	assert_int_equal(rmig_fake.nwrs, 4);
	assert_int_equal(rmig_fake.wrs[0].op, IBV_WR_RDMA_WRITE);
	assert_int_equal(rmig_fake.wrs[0].len, 16384);
	assert_int_equal(rmig_fake.wrs[0].raddr, 0x80000000);
	assert_int_equal(rmig_fake.wrs[1].len, 8192); /* up to the chunk end */
	assert_int_equal(rmig_fake.wrs[1].raddr, 0x80000000 + MiB - 8192);
	assert_int_equal(rmig_fake.wrs[1].rkey, 2);
	assert_int_equal(rmig_fake.wrs[2].len, 8192); /* the rest, in chunk 1 */
	assert_int_equal(rmig_fake.wrs[2].raddr, 0x80000000 + MiB);
	assert_int_equal(rmig_fake.wrs[2].rkey, 3);
	assert_int_equal(rmig_fake.wrs[3].len, 4096);
	/* the flushed last one is signalled */
	assert_true(rmig_fake.wrs[3].flags & IBV_SEND_SIGNALED);
	assert_int_equal(rmig_rdma_writer_wait_all(&w), 0);
	assert_int_equal(w.completed, w.posted);
}

static void test_writer_signalling_bounded(void **state)
{
	struct rmig_rdma_writer w;
	unsigned i, sig = 0, since = 0, max_gap = 0;

	(void)state;
	the_w = &w;
	max_seen_outstanding = 0;
	rmig_fake.glue.post_send = wr_post_checked;
	rmig_rdma_writer_init(&w, (struct ibv_qp *)&rmig_fake, wr_resolve, wr_wait, NULL);
	/* 300 separate pages (every other page): 300 WRITEs */
	for (i = 0; i < 300; i++)
		assert_int_equal(rmig_rdma_writer_queue(&w, 0, 64 * MiB, (uint64_t)i * 8192, 4096),
				 0);
	assert_int_equal(rmig_rdma_writer_flush(&w, true), 0);
	assert_int_equal(rmig_rdma_writer_wait_all(&w), 0);
	assert_int_equal(rmig_fake.nwrs, 300);
	for (i = 0; i < rmig_fake.nwrs; i++) {
		if (rmig_fake.wrs[i].flags & IBV_SEND_SIGNALED) {
			sig++;
			since = 0;
		} else if (++since > max_gap) {
			max_gap = since;
		}
	}
	assert_true(max_gap < RMIG_RDMA_SIGNAL_EVERY);	    /* every Nth is signalled */
	assert_true(sig <= 300 / RMIG_RDMA_SIGNAL_EVERY + 2); /* and not many more */
	assert_true(rmig_fake.wrs[rmig_fake.nwrs - 1].flags & IBV_SEND_SIGNALED); /* the last one */
	assert_true(max_seen_outstanding <= RMIG_RDMA_MAX_OUTSTANDING);
	assert_true(max_seen_outstanding > RMIG_RDMA_SIGNAL_EVERY); /* it did pipeline */
}

/*
 * Queue @n WRITEs of @len bytes, one per chunk, and check what went
 * unsignalled: less than RMIG_RDMA_SIGNAL_BYTES between two signalled
 * WRITEs, so a lane's wait for a completion (its deadline is the
 * peer-timeout) needs at most that and one WRITE to cross, not 16 WRITEs.
 * Returns how many were signalled.
 */
static unsigned signal_gaps(uint64_t len, unsigned n)
{
	struct rmig_rdma_writer w;
	uint64_t unsig = 0;
	unsigned i, sig = 0;

	rmig_fake.nwrs = 0;
	the_w = &w;
	rmig_rdma_writer_init(&w, (struct ibv_qp *)&rmig_fake, wr_resolve, wr_wait, NULL);
	for (i = 0; i < n; i++)
		assert_int_equal(rmig_rdma_writer_queue(&w, 0, 64 * MiB, (uint64_t)i * MiB, len), 0);
	assert_int_equal(rmig_rdma_writer_flush(&w, true), 0);
	assert_int_equal(rmig_rdma_writer_wait_all(&w), 0);
	assert_int_equal(rmig_fake.nwrs, n);
	for (i = 0; i < rmig_fake.nwrs; i++) {
		assert_int_equal(rmig_fake.wrs[i].len, len);
		if (rmig_fake.wrs[i].flags & IBV_SEND_SIGNALED) {
			sig++;
			unsig = 0;
		} else {
			unsig += rmig_fake.wrs[i].len;
			assert_true(unsig < RMIG_RDMA_SIGNAL_BYTES);
		}
	}
	return sig;
}

static void test_writer_signalling_by_bytes(void **state)
{
	(void)state;
	/* Whole chunks: every RMIG_RDMA_SIGNAL_BYTES, and no more often. */
	assert_int_equal(signal_gaps(MiB, 40), 40 * MiB / RMIG_RDMA_SIGNAL_BYTES);
	/* Runs that do not divide it: the bound still holds, and most still go unsignalled. */
	assert_true(signal_gaps(MiB - 4096, 40) <= 40 / 4);
}

/*
 * A data lane has no SEND after its WRITEs to retire them: when its last
 * WRITE went unsignalled, the fence must add a signalled one, or waiting
 * for them all would hang (wr_wait fails the test then).
 */
static void test_writer_fence(void **state)
{
	struct rmig_rdma_writer w;
	unsigned i;

	(void)state;
	the_w = &w;
	rmig_rdma_writer_init(&w, (struct ibv_qp *)&rmig_fake, wr_resolve, wr_wait, NULL);
	for (i = 0; i < 3; i++)
		assert_int_equal(rmig_rdma_writer_queue(&w, 0, 64 * MiB, (uint64_t)i * 8192, 4096),
				 0);
	assert_int_equal(rmig_rdma_writer_flush(&w, false), 0);
	assert_int_equal(rmig_fake.nwrs, 3);
	for (i = 0; i < 3; i++)
		assert_false(rmig_fake.wrs[i].flags & IBV_SEND_SIGNALED);
	assert_int_equal(rmig_rdma_writer_fence(&w, false), 0);
	assert_int_equal(rmig_fake.nwrs, 4);
	assert_int_equal(rmig_fake.wrs[3].op, IBV_WR_RDMA_WRITE);
	assert_true(rmig_fake.wrs[3].flags & IBV_SEND_SIGNALED);
	assert_int_equal(rmig_fake.wrs[3].len, 0);
	assert_int_equal(rmig_fake.wrs[3].raddr, rmig_fake.wrs[2].raddr);
	assert_int_equal(rmig_fake.wrs[3].rkey, rmig_fake.wrs[2].rkey);
	assert_int_equal(w.completed, w.posted);
	assert_int_equal(w.bytes_written, 3 * 4096); /* the fence carries nothing */
	/* Everything retired: a second fence posts nothing. */
	assert_int_equal(rmig_rdma_writer_fence(&w, false), 0);
	assert_int_equal(rmig_fake.nwrs, 4);
	/* A signalled last WRITE needs no fence either. */
	assert_int_equal(rmig_rdma_writer_queue(&w, 0, 64 * MiB, 10 * MiB, 4096), 0);
	assert_int_equal(rmig_rdma_writer_flush(&w, true), 0);
	assert_int_equal(rmig_rdma_writer_fence(&w, false), 0);
	assert_int_equal(rmig_fake.nwrs, 5);
	assert_int_equal(w.completed, w.posted);
	/* At a round's end a lane proves it still reaches the peer, busy or not. */
	assert_int_equal(rmig_rdma_writer_fence(&w, true), 0);
	assert_int_equal(rmig_fake.nwrs, 6);
	assert_true(rmig_fake.wrs[5].flags & IBV_SEND_SIGNALED);
	assert_int_equal(rmig_fake.wrs[5].len, 0);
	assert_int_equal(rmig_fake.wrs[5].raddr, rmig_fake.wrs[4].raddr);
	assert_int_equal(w.completed, w.posted);
}

/* ---------------- COMPRESS for a zero, unregistered chunk ---------------- */

static void make_conn(struct rmig_rdma_conn *rc, bool pin_all)
{
	memset(rc, 0, sizeof(*rc));
	rc->is_source = true;
	rc->pin_all = pin_all;
	assert_int_equal(rmig_rdma_cm_resolve(&rc->cm, "127.0.0.1", 4444, 1000, -1), 0);
	assert_int_equal(rmig_rdma_res_create(&rc->res, rc->cm.id), 0);
	assert_int_equal(rmig_rdma_progress_init(&rc->prog, &rc->cm, &rc->res), 0);
	assert_int_equal(rmig_rdma_ctrl_init(&rc->ctrl, &rc->res, &rc->prog, NULL), 0);
	rc->ctrl_ready = true;
	rmig_rdma_ctrl_set_caps(&rc->ctrl, RMIG_RDMA_CAP_CREDITS);
	rc->ctrl.peer_credits = RMIG_RDMA_CREDITS; /* as if the peer had sent READY */
	rc->reg_batch = true;
}

static void free_conn(struct rmig_rdma_conn *rc)
{
	rmig_rdma_source_fini(rc);
	rmig_rdma_ctrl_fini(&rc->ctrl);
	rmig_rdma_res_destroy(&rc->res);
	rmig_rdma_cm_destroy(&rc->cm);
	rmig_rdma_progress_fini(&rc->prog);
}

static void test_zero_chunk_compress(void **state)
{
	struct rmig_rdma_conn rc;
	struct rmig_ram ram;
	struct rmig_ramblock *b;
	struct rmig_ram_counters acc = { 0 };
	unsigned i, ncomp = 0, nwrite = 0, nfin = 0;

	(void)state;
	rmig_ram_init(&ram);
	assert_int_equal(rmig_ram_alloc(&ram, "zero", 2 * MiB, 4096, &b), 0);
	make_conn(&rc, false);
	assert_int_equal(rmig_rdma_source_attach(&rc, &ram), 0);
	assert_int_equal(rmig_rdma_keycache_set_remote_block(rc.kc, 0, 0x5000000, 0, 0), 0);
	rc.setup_done = true;
	rmig_ram_bitmap_set_all(&ram);
	rmig_fake.nwrs = 0;
	assert_int_equal(rmig_rdma_source_before(&rc, RMIG_RAM_PHASE_ROUND), 0);
	/* the whole zero block, as runs of 64 pages */
	for (i = 0; i < b->npages; i += 64)
		assert_int_equal(rmig_rdma_source_save(&rc, b, i, 64, &acc), 0);
	assert_int_equal(rmig_rdma_source_after(&rc, RMIG_RAM_PHASE_ROUND, &acc), 0);
	for (i = 0; i < rmig_fake.nwrs; i++) {
		if (rmig_fake.wrs[i].op == IBV_WR_RDMA_WRITE)
			nwrite++;
		else if (rmig_fake.wrs[i].msg_type == RMIG_RDMA_MSG_COMPRESS)
			ncomp++;
		else if (rmig_fake.wrs[i].msg_type == RMIG_RDMA_MSG_REGISTER_FINISHED)
			nfin++;
		else
			fail_msg("unexpected message type %u", rmig_fake.wrs[i].msg_type);
	}
	assert_int_equal(nwrite, 0);   /* nothing registered, nothing written */
	assert_int_equal(ncomp, 1);    /* one batched COMPRESS message */
	assert_int_equal(nfin, 1);
	assert_int_equal(acc.zero_pages, b->npages);
	assert_int_equal(acc.normal_pages, 0);
	assert_int_equal(rmig_rdma_keycache_registered_count(rc.kc), 0);
	free_conn(&rc);
	rmig_ram_fini(&ram);
	rmig_fake_assert_reverse_teardown();
}

/* ---------------- dynamic mode: lazy per-chunk local registration ---------------- */

/* Writes to chunks 0 (twice), 1 and 17 of a 20 MiB block: one local MR per chunk written. */
static void test_dynamic_local_mrs(void **state)
{
	static const uint64_t chunks[] = { 0, 1, 17 };
	struct rmig_rdma_conn rc;
	struct rmig_ram ram;
	struct rmig_ramblock *b;
	struct rmig_ram_counters acc = { 0 };
	unsigned i, mark, nwrite = 0;

	(void)state;
	rmig_ram_init(&ram);
	assert_int_equal(rmig_ram_alloc(&ram, "dyn", 20 * MiB, 4096, &b), 0);
	memset(b->host, 0xab, b->length);
	make_conn(&rc, false);
	assert_int_equal(rmig_rdma_source_attach(&rc, &ram), 0);
	assert_int_equal(rmig_rdma_keycache_set_remote_block(rc.kc, 0, 0x5000000, 0, 0), 0);
	for (i = 0; i < 3; i++) {
		/* as if REGISTER_RESULTs had come: no request traffic in this test */
		assert_int_equal(rmig_rdma_keycache_mark_in_flight(rc.kc, 0, chunks[i]), 0);
		assert_int_equal(rmig_rdma_keycache_set_registered(rc.kc, 0, chunks[i], 7, 0x5000000),
				 0);
	}
	rc.setup_done = true;
	rmig_fake.nwrs = 0;
	mark = rmig_fake.njournal;
	assert_int_equal(rmig_rdma_source_before(&rc, RMIG_RAM_PHASE_ROUND), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(rmig_rdma_source_save(&rc, b, (chunks[i] * MiB) >> 12, 4, &acc),
				 0);
	/* a second, separate run in chunk 0 reuses its MR */
	assert_int_equal(rmig_rdma_source_save(&rc, b, 8, 4, &acc), 0);
	/* Post the WRITEs; the fake CQ never completes them, so retire them by hand. */
	assert_int_equal(rmig_rdma_writer_flush(&rc.w, true), 0);
	rmig_rdma_writer_complete(&rc.w, rc.w.posted);
	for (i = 0; i < rmig_fake.nwrs; i++)
		nwrite += rmig_fake.wrs[i].op == IBV_WR_RDMA_WRITE;
	assert_int_equal(nwrite, 4);
	assert_int_equal(rmig_fake_journal_count(mark, "+mr"), 3);
	assert_int_equal(acc.normal_pages, 16);
	free_conn(&rc);
	rmig_ram_fini(&ram);
	rmig_fake_assert_reverse_teardown();
}

/*
 * 2 MiB pages go as 1 MiB WRITEs (a chunk each): each page counts once,
 * not 0 times (a piece's length shifted by the page size), and zero pages
 * sent as COMPRESS likewise.
 */
static void test_large_pages_counted(void **state)
{
	struct rmig_rdma_conn rc;
	struct rmig_ram ram;
	struct rmig_ramblock *b, *z;
	struct rmig_ram_counters acc = { 0 };

	(void)state;
	rmig_ram_init(&ram);
	assert_int_equal(rmig_ram_alloc(&ram, "huge", 4 * MiB, 2 * MiB, &b), 0);
	assert_int_equal(rmig_ram_alloc(&ram, "hugezero", 4 * MiB, 2 * MiB, &z), 0);
	memset(b->host, 0xab, b->length);
	make_conn(&rc, false);
	rc.reg_batch = false; /* as with a QEMU peer: zeros go as COMPRESS piece by piece */
	assert_int_equal(rmig_rdma_source_attach(&rc, &ram), 0);
	assert_int_equal(rmig_rdma_keycache_set_remote_block(rc.kc, 0, 0x5000000, 0, 0), 0);
	assert_int_equal(rmig_rdma_keycache_set_remote_block(rc.kc, 1, 0x9000000, 0, 0), 0);
	for (uint64_t c = 0; c < 4; c++) {
		assert_int_equal(rmig_rdma_keycache_mark_in_flight(rc.kc, 0, c), 0);
		assert_int_equal(rmig_rdma_keycache_set_registered(rc.kc, 0, c, 7, 0x5000000), 0);
	}
	rc.setup_done = true;
	rmig_fake.nwrs = 0;
	assert_int_equal(rmig_rdma_source_before(&rc, RMIG_RAM_PHASE_ROUND), 0);
	assert_int_equal(rmig_rdma_source_save(&rc, b, 0, 2, &acc), 0);
	assert_int_equal(rmig_rdma_source_save(&rc, z, 0, 2, &acc), 0);
	assert_int_equal(rmig_rdma_writer_flush(&rc.w, true), 0);
	rmig_rdma_writer_complete(&rc.w, rc.w.posted);
	assert_int_equal(acc.normal_pages, 2);
	assert_int_equal(acc.normal_bytes, 4 * MiB);
	assert_int_equal(acc.zero_pages, 2);
	free_conn(&rc);
	rmig_ram_fini(&ram);
	rmig_fake_assert_reverse_teardown();
}

/* ---------------- RMIG_RDMA_MAX_MR_SIZE ---------------- */

static int res_with_knob(const char *value, uint64_t *max_mr_size)
{
	struct rmig_rdma_cm cm;
	struct rmig_rdma_res res;
	int ret;

	memset(&cm, 0, sizeof(cm));
	memset(&res, 0, sizeof(res));
	if (value)
		setenv("RMIG_RDMA_MAX_MR_SIZE", value, 1);
	else
		unsetenv("RMIG_RDMA_MAX_MR_SIZE");
	assert_int_equal(rmig_rdma_cm_resolve(&cm, "127.0.0.1", 4444, 1000, -1), 0);
	ret = rmig_rdma_res_create(&res, cm.id);
	*max_mr_size = res.max_mr_size;
	rmig_rdma_res_destroy(&res);
	rmig_rdma_cm_destroy(&cm);
	unsetenv("RMIG_RDMA_MAX_MR_SIZE");
	return ret;
}

static void test_max_mr_size_knob(void **state)
{
	uint64_t m;

	(void)state;
	assert_int_equal(res_with_knob(NULL, &m), 0);
	assert_true(m == UINT64_MAX); /* the fake device's limit */
	assert_int_equal(res_with_knob("4194304", &m), 0);
	assert_int_equal(m, 4 * MiB);
	assert_int_equal(res_with_knob("6M", &m), 0);
	assert_int_equal(m, 6 * MiB);
	assert_int_equal(res_with_knob("", &m), 0);
	assert_true(m == UINT64_MAX);
	assert_int_equal(res_with_knob("0", &m), -EINVAL);
	assert_error_mentions("RMIG_RDMA_MAX_MR_SIZE");
	assert_int_equal(res_with_knob("lots", &m), -EINVAL);
	assert_int_equal(res_with_knob("-4M", &m), -EINVAL);
	rmig_fake_assert_reverse_teardown();
}

/* ---------------- pin-all refused ---------------- */

static void test_pin_all_refused_falls_back(void **state)
{
	struct rmig_conn_opts opts = { .size = sizeof(opts), .timeout_ms = 1000,
				       .rdma_pin_all = true };
	/* PIN_SEGMENTS granted without pin-all means nothing and is dropped. */
	struct rmig_rdma_caps answer = { .version = 1,
					 .flags = RMIG_RDMA_CAP_CREDITS | RMIG_RDMA_CAP_PIN_SEGMENTS };
	struct rmig_conn *c = NULL;
	struct rmig_rdma_conn *rc;

	(void)state;
	rmig_rdma_caps_encode(&answer, rmig_fake.est_pdata);
	rmig_fake.est_pdata_set = true;
	assert_int_equal(rmig_rdma_get_ops()->connect("127.0.0.1:4444", &opts, &c), 0);
	rc = rmig_rdma_conn_of(c);
	assert_false(rc->pin_all);
	assert_false(rc->pin_segments);
	assert_true(rc->credits);
	assert_int_equal(rdma_test_warnings, 1); /* "refused pin-all; falling back" */
	rmig_rdma_get_ops()->close(c);
	rmig_fake_assert_reverse_teardown();

	/* granted: pin-all stays on */
	answer.flags = RMIG_RDMA_CAP_PIN_ALL;
	rmig_rdma_caps_encode(&answer, rmig_fake.est_pdata);
	rmig_fake.njournal = 0;
	rdma_test_warnings = 0;
	assert_int_equal(rmig_rdma_get_ops()->connect("127.0.0.1:4444", &opts, &c), 0);
	rc = rmig_rdma_conn_of(c);
	assert_true(rc->pin_all);
	assert_false(rc->pin_segments);
	assert_false(rc->credits);
	assert_int_equal(rdma_test_warnings, 0);
	rmig_rdma_get_ops()->close(c);
	rmig_fake_assert_reverse_teardown();

	/* granted with PIN_SEGMENTS: blocks may come in several regions */
	answer.flags = RMIG_RDMA_CAP_PIN_ALL | RMIG_RDMA_CAP_PIN_SEGMENTS;
	rmig_rdma_caps_encode(&answer, rmig_fake.est_pdata);
	rmig_fake.njournal = 0;
	assert_int_equal(rmig_rdma_get_ops()->connect("127.0.0.1:4444", &opts, &c), 0);
	rc = rmig_rdma_conn_of(c);
	assert_true(rc->pin_all);
	assert_true(rc->pin_segments);
	assert_true((rc->ctrl.caps & RMIG_RDMA_CAP_PIN_SEGMENTS) != 0);
	rmig_rdma_get_ops()->close(c);
	rmig_fake_assert_reverse_teardown();

	/* A destination answering an unknown version is refused (docs/rdma.txt section 2). */
	answer.version = 2;
	rmig_rdma_caps_encode(&answer, rmig_fake.est_pdata);
	rmig_fake.njournal = 0;
	assert_int_equal(rmig_rdma_get_ops()->connect("127.0.0.1:4444", &opts, &c), -EPROTONOSUPPORT);
	rmig_fake_assert_reverse_teardown();
}

/* ---------------- what the source offers under each knob ---------------- */

static uint32_t offered_with_channels(const char *knob, uint32_t channels)
{
	struct rmig_conn_opts opts = { .size = sizeof(opts), .timeout_ms = 1000,
				       .rdma_pin_all = true, .rdma_channels = channels };
	struct rmig_rdma_caps answer = { .version = 1, .flags = 0 }, offer;
	struct rmig_conn *c = NULL;

	if (knob)
		setenv(knob, "1", 1);
	rmig_rdma_caps_encode(&answer, rmig_fake.est_pdata);
	rmig_fake.est_pdata_set = true;
	rmig_fake.njournal = 0;
	rdma_test_warnings = 0;
	assert_int_equal(rmig_rdma_get_ops()->connect("127.0.0.1:4444", &opts, &c), 0);
	if (knob)
		unsetenv(knob);
	rmig_rdma_get_ops()->close(c);
	rmig_fake_assert_reverse_teardown();
	assert_int_equal(rmig_fake.conn_pdata_len, RMIG_RDMA_CAPS_SIZE);
	assert_int_equal(rmig_rdma_caps_decode(rmig_fake.conn_pdata, RMIG_RDMA_CAPS_SIZE, &offer),
			 0);
	return offer.flags;
}

static uint32_t offered_with(const char *knob)
{
	return offered_with_channels(knob, 1);
}

static void test_offered_caps_knobs(void **state)
{
	(void)state;
	/*
	 * AUTH only with a key (tests/rdma/rdma-integration.sh runs that for
	 * real), CHANNELS only when asked for more than one.
	 */
	assert_int_equal(offered_with(NULL),
			 RMIG_RDMA_CAPS_KNOWN & ~RMIG_RDMA_CAP_AUTH & ~RMIG_RDMA_CAP_CHANNELS);
	assert_int_equal(offered_with_channels(NULL, 0),
			 RMIG_RDMA_CAPS_KNOWN & ~RMIG_RDMA_CAP_AUTH & ~RMIG_RDMA_CAP_CHANNELS);
	/* Offered with 2; the fake destination grants nothing, so one QP and no CHANNELS_REQUEST. */
	assert_int_equal(offered_with_channels(NULL, 2), RMIG_RDMA_CAPS_KNOWN & ~RMIG_RDMA_CAP_AUTH);
	assert_int_equal(offered_with_channels("RMIG_RDMA_NO_EXTENSIONS", 2), RMIG_RDMA_CAP_PIN_ALL);
	/* iWARP QPs cannot be connected by hand: no lanes there, one QP. */
	rmig_fake.device.transport_type = IBV_TRANSPORT_IWARP;
	assert_int_equal(offered_with_channels(NULL, 2),
			 RMIG_RDMA_CAPS_KNOWN & ~RMIG_RDMA_CAP_AUTH & ~RMIG_RDMA_CAP_CHANNELS);
	rmig_fake.device.transport_type = IBV_TRANSPORT_IB;
	/* QEMU's flow, but pin-all may still come in several regions */
	assert_int_equal(offered_with("RMIG_RDMA_NO_CREDITS"),
			 RMIG_RDMA_CAP_PIN_ALL | RMIG_RDMA_CAP_PIN_SEGMENTS |
				 RMIG_RDMA_CAP_KEEPALIVE | RMIG_RDMA_CAP_PIN_STREAM);
	/* pin-all in SETUP, as v1 */
	assert_int_equal(offered_with("RMIG_RDMA_NO_PIN_STREAM"),
			 RMIG_RDMA_CAPS_KNOWN & ~RMIG_RDMA_CAP_AUTH & ~RMIG_RDMA_CAP_CHANNELS &
				 ~RMIG_RDMA_CAP_PIN_STREAM);
	/* plain v1: what QEMU itself would offer */
	assert_int_equal(offered_with("RMIG_RDMA_NO_EXTENSIONS"), RMIG_RDMA_CAP_PIN_ALL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_error_conventions, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_teardown_reverse_each_step, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_extra_request_refused_and_freed, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_writer_merge_split, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_writer_signalling_bounded, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_writer_signalling_by_bytes, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_writer_fence, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_zero_chunk_compress, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_dynamic_local_mrs, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_large_pages_counted, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_max_mr_size_knob, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_pin_all_refused_falls_back, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_offered_caps_knobs, fake_setup, fake_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
