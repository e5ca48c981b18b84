/* SPDX-License-Identifier: MIT */
/*
 * Peer liveness through the fake glue (no device): a peer that never
 * answers makes a wait fail with -ETIMEDOUT after about peer-timeout, and
 * cancel still ends a wait without a deadline at once.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/base/util.h"
#include "rdma/conn.h"
#include "rdma/ctrl.h"
#include "rdma/progress.h"
#include "rdma/wire.h"
#include "tests/support/fake_glue.h"
#include "tests/support/rdma_test_log.h"

#define PEER_TIMEOUT_MS 200
/* Loose: a loaded CI machine may run late, never early. */
#define LATE_MAX_MS 3000

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

/* A source connected to a fake destination that answered with @flags and then went silent. */
static struct rmig_conn *connect_silent(uint32_t flags, int peer_timeout_ms)
{
	struct rmig_conn_opts opts = { .size = sizeof(opts), .timeout_ms = 1000,
				       .peer_timeout_ms = peer_timeout_ms };
	struct rmig_rdma_caps answer = { .version = 1, .flags = flags };
	struct rmig_conn *c = NULL;

	rmig_rdma_caps_encode(&answer, rmig_fake.est_pdata);
	rmig_fake.est_pdata_set = true;
	assert_int_equal(rmig_rdma_get_ops()->connect("127.0.0.1:4444", &opts, &c), 0);
	return c;
}

static uint64_t elapsed_ms(uint64_t t0)
{
	return (rmig_time_now_ns() - t0) / RMIG_NSEC_PER_MSEC;
}

static void test_silent_peer_times_out(void **state)
{
	struct rmig_conn *c = connect_silent(RMIG_RDMA_CAP_CREDITS, PEER_TIMEOUT_MS);
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);
	uint64_t t0, ms;
	uint8_t byte;

	(void)state;
	rmig_rdma_progress_set_liveness(&rc->prog, PEER_TIMEOUT_MS, false);
	t0 = rmig_time_now_ns();
	assert_int_equal(rmig_rdma_get_ops()->read(c, &byte, 1), -ETIMEDOUT);
	ms = elapsed_ms(t0);
	assert_true(ms >= PEER_TIMEOUT_MS - 1);
	assert_true(ms < LATE_MAX_MS);
	assert_error_mentions("no word from the peer for 200 ms (peer-timeout) while waiting for "
			      "stream bytes");
	/* Latched, not reported again. */
	rmig_error_clear();
	assert_int_equal(rmig_rdma_get_ops()->read(c, &byte, 1), -ETIMEDOUT);
	assert_string_equal(rmig_error_get_last(), "");
	rmig_rdma_get_ops()->close(c);
	rmig_fake_assert_reverse_teardown();
}

static void test_message_resets_deadline(void **state)
{
	struct rmig_conn *c = connect_silent(RMIG_RDMA_CAP_CREDITS, PEER_TIMEOUT_MS);
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);
	uint8_t msg[RMIG_RDMA_HDR_SIZE + 4];
	uint64_t t0;
	uint8_t buf[4];
	int n;

	(void)state;
	rmig_rdma_progress_set_liveness(&rc->prog, PEER_TIMEOUT_MS, false);
	usleep(150 * 1000);
	/* Stream bytes that arrive before the deadline are read, and the clock starts over. */
	n = rmig_rdma_msg_build(RMIG_RDMA_MSG_QEMU_FILE, 1, "abcd", 4, msg, sizeof(msg));
	assert_int_equal(n, (int)sizeof(msg));
	rc->ctrl.granted = 1; /* as if our READY had gone out */
	assert_int_equal(rmig_fake_deliver(rc->res.qp, msg, (uint32_t)n), 0);
	assert_int_equal(rmig_rdma_get_ops()->read(c, buf, 4), 4);
	t0 = rmig_time_now_ns();
	assert_int_equal(rmig_rdma_get_ops()->read(c, buf, 1), -ETIMEDOUT);
	assert_true(elapsed_ms(t0) >= PEER_TIMEOUT_MS - 60);
	rmig_rdma_get_ops()->close(c);
	rmig_fake_assert_reverse_teardown();
}

static void *abort_later(void *arg)
{
	usleep(100 * 1000);
	rmig_rdma_get_ops()->abort(arg);
	return NULL;
}

static void test_cancel_ends_wait_without_deadline(void **state)
{
	struct rmig_conn *c = connect_silent(RMIG_RDMA_CAP_CREDITS, 0);
	pthread_t t;
	uint64_t t0;
	uint8_t byte;

	(void)state;
	t0 = rmig_time_now_ns();
	assert_int_equal(pthread_create(&t, NULL, abort_later, c), 0);
	assert_int_equal(rmig_rdma_get_ops()->read(c, &byte, 1), -ECANCELED);
	assert_true(elapsed_ms(t0) < LATE_MAX_MS);
	pthread_join(t, NULL);
	rmig_rdma_get_ops()->close(c);
	rmig_fake_assert_reverse_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_silent_peer_times_out, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_message_resets_deadline, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_cancel_ends_wait_without_deadline, fake_setup,
						fake_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
