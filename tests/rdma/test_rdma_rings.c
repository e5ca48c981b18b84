/* SPDX-License-Identifier: MIT */
/*
 * The control rings prepared ahead (rdma/rings.h): a
 * destination faults them in before it waits for a source, and the
 * connection then registers exactly those pages, through the fake glue.
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

#include <rmig/transport.h>

#include "rdma/conn.h"
#include "rdma/ctrl.h"
#include "rdma/wire.h"
#include "tests/support/fake_glue.h"
#include "tests/support/rdma_test_log.h"
#include "tests/support/resident.h"

#define RECV_RING RMIG_RDMA_RECV_RING_BYTES
#define SEND_RING RMIG_RDMA_SEND_RING_BYTES

static int setup(void **state)
{
	struct rmig_rdma_rings probe = { 0 };

	/* MADV_POPULATE_WRITE came with Linux 5.14: nothing is prepared before it. */
	if (rmig_rdma_rings_prepare(&probe) == -EOPNOTSUPP)
		skip();
	rmig_rdma_rings_release(&probe);
	unsetenv("RMIG_RDMA_NO_RING_PREPARE");
	rmig_fake_install();
	return rdma_test_setup(state);
}

static int teardown(void **state)
{
	unsetenv("RMIG_RDMA_NO_RING_PREPARE");
	rmig_fake_remove();
	return rdma_test_teardown(state);
}

struct rings_env {
	struct rmig_rdma_cm cm;
	struct rmig_rdma_res res;
	struct rmig_rdma_progress prog;
	struct rmig_rdma_ctrl ctrl;
};

static void rings_env_up(struct rings_env *e)
{
	memset(e, 0, sizeof(*e));
	assert_int_equal(rmig_rdma_progress_init(&e->prog, &e->cm, &e->res), 0);
	assert_int_equal(rmig_rdma_cm_resolve(&e->cm, "127.0.0.1", 4444, 1000, -1), 0);
	assert_int_equal(rmig_rdma_res_create(&e->res, e->cm.id), 0);
}

static void rings_env_down(struct rings_env *e)
{
	rmig_rdma_res_destroy(&e->res);
	rmig_rdma_cm_destroy(&e->cm);
	rmig_rdma_progress_fini(&e->prog);
}

/* Every page is in memory before a peer is there; the rings registered are those pages. */
static void test_prepared_rings_registered(void **state)
{
	struct rmig_rdma_rings mem = { 0 };
	struct rings_env e;
	uint8_t *recv, *send;

	(void)state;
	rings_env_up(&e);
	assert_int_equal(rmig_rdma_rings_prepare(&mem), 0);
	recv = mem.recv;
	send = mem.send;
	assert_non_null(recv);
	assert_non_null(send);
	assert_int_equal(resident_pages(recv, RECV_RING), resident_page_count(RECV_RING));
	assert_int_equal(resident_pages(send, SEND_RING), resident_page_count(SEND_RING));

	rmig_fake.rq_n = rmig_fake.rq_head = 0;
	assert_int_equal(rmig_rdma_ctrl_init(&e.ctrl, &e.res, &e.prog, &mem), 0);
	assert_null(mem.recv);
	assert_null(mem.send);
	assert_ptr_equal(e.ctrl.recv_mr->addr, recv);
	assert_int_equal(e.ctrl.recv_mr->length, RECV_RING);
	assert_ptr_equal(e.ctrl.send_mr->addr, send);
	assert_int_equal(e.ctrl.send_mr->length, SEND_RING);
	/* Every RECV is posted, full-size, inside the prepared ring. */
	assert_int_equal(rmig_fake.rq_n, RMIG_RDMA_RECV_BUFS);
	for (unsigned i = 0; i < rmig_fake.rq_n; i++) {
		assert_true(rmig_fake.rq[i].addr >= (uintptr_t)recv);
		assert_true(rmig_fake.rq[i].addr + rmig_fake.rq[i].len <=
			    (uintptr_t)recv + RECV_RING);
	}
	rmig_rdma_ctrl_fini(&e.ctrl);
	assert_null(e.ctrl.recv_mem);
	assert_null(e.ctrl.send_mem);
	/* Unmapped, not just forgotten: mincore fails on an address no mapping has. */
	assert_int_equal(resident_pages(recv, RECV_RING), (size_t)-1);
	assert_int_equal(resident_pages(send, SEND_RING), (size_t)-1);
	rings_env_down(&e);
	rmig_fake_assert_reverse_teardown();
}

/* A connection up to an untrusted control channel that adopted prepared rings; their recv ring. */
static uint8_t *untrusted_with_prepared_rings(struct rings_env *e, struct rmig_rdma_rings *mem)
{
	uint8_t *recv;

	rings_env_up(e);
	assert_int_equal(rmig_rdma_rings_prepare(mem), 0);
	recv = mem->recv;
	assert_int_equal(rmig_rdma_ctrl_init_untrusted(&e->ctrl, &e->res, &e->prog, mem), 0);
	return recv;
}

/* An untrusted peer still gets one page registered; a failed start frees the rings. */
static void test_prepared_rings_untrusted_and_failing(void **state)
{
	struct rmig_rdma_rings mem = { 0 };
	struct rings_env e;
	uint8_t *recv;

	(void)state;
	recv = untrusted_with_prepared_rings(&e, &mem);
	assert_null(mem.recv);
	assert_ptr_equal(e.ctrl.recv_mem, recv);
	assert_null(e.ctrl.recv_mr);
	assert_null(e.ctrl.send_mr);
	assert_non_null(e.ctrl.pre_mr);
	assert_int_equal(e.ctrl.pre_mr->length, RMIG_RDMA_PREAUTH_PAGE);
	rmig_rdma_ctrl_fini(&e.ctrl);
	assert_null(e.ctrl.recv_mem);

	assert_int_equal(rmig_rdma_rings_prepare(&mem), 0);
	rmig_fake.fail_at = "mr";
	rmig_fake.fail_errno = ENOMEM;
	assert_true(rmig_rdma_ctrl_init(&e.ctrl, &e.res, &e.prog, &mem) < 0);
	rmig_fake.fail_at = NULL;
	assert_null(mem.recv);
	assert_null(mem.send);
	assert_null(e.ctrl.recv_mem);
	assert_null(e.ctrl.send_mem);
	rings_env_down(&e);
	rmig_rdma_rings_release(&mem); /* empty: harmless */
}

/*
 * Rings handed back from a peer that never proved itself are the ones
 * given, still mapped, and fini leaves them alone; registered rings, or an
 * @out that holds some already, are never handed back.
 */
static void test_return_rings(void **state)
{
	struct rmig_rdma_rings mem = { 0 }, out = { 0 };
	struct rings_env e;
	uint8_t *recv;

	(void)state;
	recv = untrusted_with_prepared_rings(&e, &mem);
	assert_true(rmig_rdma_ctrl_return_rings(&e.ctrl, &out));
	assert_ptr_equal(out.recv, recv);
	assert_null(e.ctrl.recv_mem);
	assert_false(rmig_rdma_ctrl_return_rings(&e.ctrl, &out)); /* nothing left to give */
	rmig_rdma_ctrl_fini(&e.ctrl);
	assert_int_equal(resident_pages(recv, RECV_RING), resident_page_count(RECV_RING));

	/* Trusted from the start: registered at once, kept by the connection. */
	assert_int_equal(rmig_rdma_ctrl_init(&e.ctrl, &e.res, &e.prog, &out), 0);
	assert_non_null(e.ctrl.recv_mr);
	assert_false(rmig_rdma_ctrl_return_rings(&e.ctrl, &mem));
	assert_null(mem.recv);
	assert_ptr_equal(e.ctrl.recv_mem, recv);
	rmig_rdma_ctrl_fini(&e.ctrl);
	rings_env_down(&e);
}

/* A source connects; the destination's accept gives back the connection. */
static struct rmig_rdma_conn *accept_one(struct rmig_listener **l)
{
	const struct rmig_transport_ops *ops = rmig_rdma_get_ops();
	struct rmig_conn_opts opts = {.size = sizeof(opts), .timeout_ms = 1000};
	struct rmig_rdma_caps caps = {.version = 1, .flags = RMIG_RDMA_CAP_CREDITS};
	uint8_t pdata[RMIG_RDMA_CAPS_SIZE];
	struct rmig_conn *c = NULL;

	assert_int_equal(ops->listen("127.0.0.1:4444", &opts, l), 0);
	rmig_rdma_caps_encode(&caps, pdata);
	rmig_fake_connect_request(pdata, sizeof(pdata));
	assert_int_equal(ops->accept(*l, 1000, &c), 0);
	return rmig_rdma_conn_of(c);
}

static void close_one(struct rmig_rdma_conn *rc, struct rmig_listener *l)
{
	const struct rmig_transport_ops *ops = rmig_rdma_get_ops();

	ops->abort(&rc->base);
	ops->close(&rc->base);
	ops->listener_close(l);
}

/*
 * The accept faulted the rings in before the request came (the fake glue
 * touches none of their pages), and with the knob it leaves that to the
 * registration as before.
 */
static void test_accept_prepares_rings(void **state)
{
	struct rmig_listener *l;
	struct rmig_rdma_conn *rc;

	(void)state;
	rc = accept_one(&l);
	assert_int_equal(resident_pages(rc->ctrl.recv_mem, RECV_RING), resident_page_count(RECV_RING));
	assert_int_equal(resident_pages(rc->ctrl.send_mem, SEND_RING), resident_page_count(SEND_RING));
	assert_null(rc->ring_mem.recv); /* taken over, not kept twice */
	close_one(rc, l);

	setenv("RMIG_RDMA_NO_RING_PREPARE", "1", 1);
	rc = accept_one(&l);
	/* Not all: a touch may fault in a whole huge page where THP is on. */
	assert_true(resident_pages(rc->ctrl.recv_mem, RECV_RING) < resident_page_count(RECV_RING));
	assert_true(resident_pages(rc->ctrl.send_mem, SEND_RING) < resident_page_count(SEND_RING));
	close_one(rc, l);
}

/*
 * Engines accept in short slices; the rings are faulted in once, kept by
 * the listener across slices that time out, and go to the source that
 * finally comes.
 */
static void test_rings_kept_across_accept_slices(void **state)
{
	const struct rmig_transport_ops *ops = rmig_rdma_get_ops();
	struct rmig_conn_opts opts = {.size = sizeof(opts), .timeout_ms = 1000};
	struct rmig_rdma_caps caps = {.version = 1, .flags = RMIG_RDMA_CAP_CREDITS};
	uint8_t pdata[RMIG_RDMA_CAPS_SIZE];
	struct rmig_rdma_listener *rl;
	struct rmig_listener *l;
	struct rmig_conn *c = NULL;
	uint8_t *recv;

	(void)state;
	assert_int_equal(ops->listen("127.0.0.1:4444", &opts, &l), 0);
	rl = (struct rmig_rdma_listener *)(void *)l;
	assert_true(ops->accept(l, 20, &c) < 0);
	recv = rl->rings.recv;
	assert_non_null(recv);
	assert_true(ops->accept(l, 20, &c) < 0);
	assert_ptr_equal(rl->rings.recv, recv);
	rmig_rdma_caps_encode(&caps, pdata);
	rmig_fake_connect_request(pdata, sizeof(pdata));
	assert_int_equal(ops->accept(l, 1000, &c), 0);
	assert_ptr_equal(rmig_rdma_conn_of(c)->ctrl.recv_mem, recv);
	assert_null(rl->rings.recv);
	close_one(rmig_rdma_conn_of(c), l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_prepared_rings_registered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prepared_rings_untrusted_and_failing, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_return_rings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_accept_prepares_rings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rings_kept_across_accept_slices, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
