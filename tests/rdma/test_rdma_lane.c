/* SPDX-License-Identifier: MIT */
/*
 * Data lanes through the fake glue (no device): a source lane whose
 * completion channel dies (the device removed or reset) fails its writer
 * at once, with no peer-timeout to end the wait, and its thread stops
 * instead of spinning on a channel that will never be readable again.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/base/util.h"
#include "rdma/conn.h"
#include "rdma/lane.h"
#include "rdma/progress.h"
#include "rdma/wire.h"
#include "tests/support/fake_glue.h"
#include "tests/support/rdma_test_log.h"

/* The lane thread looks at its stop fd once a second: the error must come sooner. */
#define PROMPT_MS 900
/* Without the fix nothing ends the writer's wait; this does, so the test fails instead of hangs. */
#define WATCHDOG_MS 2000

/* What a failed assertion leaves behind, for the teardown to stop before the fake goes. */
static struct {
	struct rmig_conn *c;
	struct rmig_rdma_lane lane;
	bool lane_made;
} t;

static int fake_setup(void **state)
{
	memset(&t, 0, sizeof(t));
	rmig_fake_install();
	return rdma_test_setup(state);
}

static int fake_teardown(void **state)
{
	/* The lane's thread calls the glue: it stops before the real table is back. */
	if (t.lane_made)
		rmig_rdma_lane_destroy(&t.lane);
	if (t.c)
		rmig_rdma_get_ops()->close(t.c);
	memset(&t, 0, sizeof(t));
	rmig_fake_remove();
	return rdma_test_teardown(state);
}

/* A source connected to a fake destination without KEEPALIVE: no wait has a deadline. */
static struct rmig_conn *connect_quiet(void)
{
	struct rmig_conn_opts opts = { .size = sizeof(opts), .timeout_ms = 1000,
				       .peer_timeout_ms = 0 };
	struct rmig_rdma_caps answer = { .version = 1, .flags = RMIG_RDMA_CAP_CREDITS };
	struct rmig_conn *c = NULL;

	rmig_rdma_caps_encode(&answer, rmig_fake.est_pdata);
	rmig_fake.est_pdata_set = true;
	assert_int_equal(rmig_rdma_get_ops()->connect("127.0.0.1:4444", &opts, &c), 0);
	return c;
}

/*
 * The device behind @ch goes away: its fd reports POLLHUP, never POLLIN,
 * from now on (a pipe with no writer).
 */
static void channel_hang_up(struct ibv_comp_channel *ch)
{
	int pipefd[2], old;
	uint64_t one = 1;

	assert_int_equal(pipe2(pipefd, O_CLOEXEC | O_NONBLOCK), 0);
	close(pipefd[1]);
	old = dup(ch->fd);
	assert_true(old >= 0);
	/* dup2 swaps the file under the same number, so the fake still closes the one it made. */
	assert_true(dup2(pipefd[0], ch->fd) == ch->fd);
	close(pipefd[0]);
	/*
	 * A poll already asleep waits on the old file, which nothing wakes
	 * any more: one event on it makes the poll look again, as the kernel
	 * wakes the waiters of a dying device.
	 */
	assert_int_equal(write(old, &one, sizeof(one)), (ssize_t)sizeof(one));
	close(old);
}

struct watchdog {
	pthread_t thread;
	int done_fd;
	struct rmig_conn *c;
};

static void *watchdog_run(void *arg)
{
	struct watchdog *w = arg;
	struct pollfd pfd = { .fd = w->done_fd, .events = POLLIN };

	if (poll(&pfd, 1, WATCHDOG_MS) == 0)
		rmig_rdma_get_ops()->abort(w->c);
	return NULL;
}

static void watchdog_start(struct watchdog *w, struct rmig_conn *c)
{
	w->c = c;
	w->done_fd = eventfd(0, EFD_CLOEXEC);
	assert_true(w->done_fd >= 0);
	assert_int_equal(pthread_create(&w->thread, NULL, watchdog_run, w), 0);
}

static void watchdog_stop(struct watchdog *w)
{
	uint64_t one = 1;

	assert_int_equal(write(w->done_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
	pthread_join(w->thread, NULL);
	close(w->done_fd);
}

static void test_channel_hangup_fails_writer(void **state)
{
	struct rmig_rdma_conn *rc;
	struct watchdog w;
	unsigned polls;
	uint64_t t0, ms;
	int ret;

	(void)state;
	t.c = connect_quiet();
	rc = rmig_rdma_conn_of(t.c);
	assert_int_equal(rc->prog.peer_timeout_ms, 0);
	t.lane_made = true;
	assert_int_equal(rmig_rdma_lane_create(&t.lane, 1, &rc->res, rc->cm.id, &rc->prog, true),
			 0);
	assert_int_equal(rmig_rdma_lane_start(&t.lane, -1, "test"), 0);
	/* The usual case: the thread sleeps on an idle channel when the device goes. */
	usleep(20 * 1000);
	polls = rmig_fake_cq_polls(t.lane.send_cq);
	assert_true(polls >= 1);

	watchdog_start(&w, t.c);
	t0 = rmig_time_now_ns();
	channel_hang_up(t.lane.ch);
	ret = rmig_rdma_lane_wait(&t.lane);
	ms = (rmig_time_now_ns() - t0) / RMIG_NSEC_PER_MSEC;
	watchdog_stop(&w);

	assert_int_equal(ret, -EIO);
	assert_true(ms < PROMPT_MS);
	assert_error_mentions("rdma: channel 1: its completion channel failed");
	/* The thread is gone, not spinning: it drained once more at most, on its way out. */
	usleep(50 * 1000);
	assert_true(rmig_fake_cq_polls(t.lane.send_cq) - polls <= 2);

	rmig_rdma_lane_destroy(&t.lane);
	t.lane_made = false;
	rmig_rdma_get_ops()->close(t.c);
	t.c = NULL;
	rmig_fake_assert_reverse_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_channel_hangup_fails_writer, fake_setup,
						fake_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
