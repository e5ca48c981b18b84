/* SPDX-License-Identifier: MIT */
/*
 * peer-timeout on the socket transports, over real sockets: a peer that
 * keeps its connection open but says nothing (a frozen process looks like
 * that) ends a read, and a peer that takes nothing ends a write, within the
 * timeout; progress resets it; no timeout means the old, unbounded wait.
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
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "common/engine/transports.h"
#include "plugin/registry.h"
#include "plugin/sock.h"
#include "tests/support/test_quiet.h"

#define TIMEOUT_MS 300

/* A connected pair over @scheme ("tcp:127.0.0.1:0" or a unix path), both with @timeout_ms. */
static void pair(const char *uri, int timeout_ms, struct rmig_conn **client,
		 struct rmig_conn **server)
{
	struct rmig_conn_opts opts = {.size = sizeof(opts), .peer_timeout_ms = timeout_ms};
	struct rmig_listener *l;
	char bound[256];

	assert_int_equal(rmig_listener_open(uri, &opts, &l), 0);
	assert_int_equal(rmig_listener_get_uri(l, bound, sizeof(bound)), 0);
	assert_int_equal(rmig_conn_open(bound, &opts, client), 0);
	assert_int_equal(rmig_listener_accept(l, 5000, server), 0);
	rmig_listener_close(l);
}

static uint64_t elapsed_ms(uint64_t t0)
{
	return (rmig_time_now_ns() - t0) / RMIG_NSEC_PER_MSEC;
}

static void expect_silent_read(struct rmig_conn *c)
{
	uint64_t t0 = rmig_time_now_ns(), ms;
	char b;

	assert_int_equal(rmig_conn_read(c, &b, 1), -ETIMEDOUT);
	ms = elapsed_ms(t0);
	assert_true(ms >= TIMEOUT_MS);
	assert_true(ms < 10 * TIMEOUT_MS);
	assert_non_null(strstr(rmig_error_get_last(), "nothing arrived from the peer"));
	assert_non_null(strstr(rmig_error_get_last(), "peer-timeout"));
}

static void test_read_times_out(void **state)
{
	struct rmig_conn *a, *b;

	(void)state;
	pair("tcp:127.0.0.1:0", TIMEOUT_MS, &a, &b);
	expect_silent_read(b); /* the destination of a frozen source */
	expect_silent_read(a); /* and the other way */
	rmig_conn_close(a);
	rmig_conn_close(b);
}

static void test_unix_read_times_out(void **state)
{
	struct rmig_conn *a, *b;
	char uri[128];

	(void)state;
	snprintf(uri, sizeof(uri), "unix:/tmp/rmig-peer-timeout-%d.sock", (int)getpid());
	pair(uri, TIMEOUT_MS, &a, &b);
	expect_silent_read(b);
	rmig_conn_close(a);
	rmig_conn_close(b);
}

static void test_write_times_out(void **state)
{
	static char chunk[1 << 16];
	struct rmig_conn *a, *b;
	uint64_t t0 = 0, total = 0;
	ssize_t n;

	(void)state;
	pair("tcp:127.0.0.1:0", TIMEOUT_MS, &a, &b);
	/* b never reads: once both socket buffers are full, a's write makes no progress. */
	for (;;) {
		t0 = rmig_time_now_ns();
		n = rmig_conn_write(a, chunk, sizeof(chunk));
		if (n < 0)
			break;
		total += (uint64_t)n;
		assert_true(total < (1ull << 30)); /* buffers are megabytes, not a gigabyte */
	}
	assert_int_equal(n, -ETIMEDOUT);
	assert_true(elapsed_ms(t0) >= TIMEOUT_MS);
	assert_non_null(strstr(rmig_error_get_last(), "the peer took no data"));
	rmig_conn_close(a);
	rmig_conn_close(b);
}

/* Writes a byte every 2/3 of the timeout, three times. */
static void *slow_writer(void *opaque)
{
	struct rmig_conn *a = opaque;

	for (int i = 0; i < 3; i++) {
		usleep(TIMEOUT_MS * 2 / 3 * 1000);
		if (rmig_conn_write(a, "x", 1) != 1)
			break;
	}
	return NULL;
}

static void test_progress_resets_the_clock(void **state)
{
	struct rmig_conn *a, *b;
	pthread_t t;
	uint64_t t0;
	char buf[8];

	(void)state;
	pair("tcp:127.0.0.1:0", TIMEOUT_MS, &a, &b);
	/*
	 * The reader waits in each read while the writer is quiet: three gaps of
	 * 2/3 of the timeout, over a full timeout in all, never one silence.
	 */
	t0 = rmig_time_now_ns();
	assert_int_equal(pthread_create(&t, NULL, slow_writer, a), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(rmig_conn_read(b, buf, sizeof(buf)), 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(elapsed_ms(t0) >= TIMEOUT_MS);
	rmig_conn_close(a);
	rmig_conn_close(b);
}

static void test_no_timeout_waits(void **state)
{
	struct rmig_conn *a, *b;
	char buf[8];

	(void)state;
	pair("tcp:127.0.0.1:0", 0, &a, &b);
	/* The data comes after longer than TIMEOUT_MS: without a timeout the read just waits. */
	if (fork() == 0) {
		usleep(TIMEOUT_MS * 2 * 1000);
		_exit(rmig_conn_write(a, "late", 4) == 4 ? 0 : 1);
	}
	assert_int_equal(rmig_conn_read(b, buf, sizeof(buf)), 4);
	wait(NULL);
	rmig_conn_close(a);
	rmig_conn_close(b);
}

/* The engine lengthens the timeout while the peer checksums, and puts it back. */
static void test_set_peer_timeout(void **state)
{
	struct rmig_conn *a, *b;
	uint64_t t0;
	char buf[8];

	(void)state;
	pair("tcp:127.0.0.1:0", TIMEOUT_MS, &a, &b);
	assert_int_equal(rmig_conn_set_peer_timeout(b, 4 * TIMEOUT_MS), 0);
	if (fork() == 0) {
		usleep(TIMEOUT_MS * 2 * 1000); /* longer than the open-time timeout */
		_exit(rmig_conn_write(a, "late", 4) == 4 ? 0 : 1);
	}
	assert_int_equal(rmig_conn_read(b, buf, sizeof(buf)), 4);
	wait(NULL);
	assert_int_equal(rmig_conn_set_peer_timeout(b, TIMEOUT_MS), 0);
	t0 = rmig_time_now_ns();
	assert_int_equal(rmig_conn_read(b, buf, sizeof(buf)), -ETIMEDOUT);
	assert_true(elapsed_ms(t0) < 4 * TIMEOUT_MS);
	rmig_conn_close(a);
	rmig_conn_close(b);
}

static void *interrupt_later(void *c)
{
	usleep(100 * 1000);
	rmig_conn_interrupt(c);
	return NULL;
}

/*
 * interrupt() ends a waiting read, once, and leaves the connection whole:
 * the hand-over's ABORT still goes out after a cancel, and reads work again.
 */
static void test_interrupt_keeps_the_connection(void **state)
{
	struct rmig_conn *a, *b;
	pthread_t th;
	uint64_t t0;
	char buf[8];

	(void)state;
	pair("tcp:127.0.0.1:0", 0, &a, &b);
	t0 = rmig_time_now_ns();
	assert_int_equal(pthread_create(&th, NULL, interrupt_later, a), 0);
	assert_int_equal(rmig_conn_read(a, buf, sizeof(buf)), -ECANCELED);
	pthread_join(th, NULL);
	assert_true(elapsed_ms(t0) >= 90);
	assert_int_equal(rmig_conn_write(a, "ABORT", 5), 5);
	assert_int_equal(rmig_conn_read(b, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "ABORT", 5);
	/* Once: the next read waits for data as before. */
	assert_int_equal(rmig_conn_write(b, "more", 4), 4);
	assert_int_equal(rmig_conn_read(a, buf, sizeof(buf)), 4);
	/* An interrupt before the read ends it at once. */
	rmig_conn_interrupt(a);
	assert_int_equal(rmig_conn_read(a, buf, sizeof(buf)), -ECANCELED);
	rmig_conn_close(a);
	rmig_conn_close(b);
}

/*
 * An interrupt whose count lands after the reader took its flag (and
 * drained the count) leaves the wake-up readable with no flag: later reads
 * must still sleep, and time out, not spin on it forever.
 */
static void test_late_interrupt_count(void **state)
{
	struct rmig_conn *a, *b;
	char buf[8];

	(void)state;
	pair("tcp:127.0.0.1:0", TIMEOUT_MS, &a, &b);
	rmig_conn_interrupt(a);
	assert_int_equal(rmig_conn_read(a, buf, sizeof(buf)), -ECANCELED);
	/* The interrupter's eventfd write, as if it came just after the reader's drain. */
	assert_int_equal(eventfd_write(((struct rmig_sock_conn *)a)->wake_fd, 1), 0);
	expect_silent_read(a);
	/* And data still reads. */
	assert_int_equal(rmig_conn_write(b, "more", 4), 4);
	assert_int_equal(rmig_conn_read(a, buf, sizeof(buf)), 4);
	rmig_conn_close(a);
	rmig_conn_close(b);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_quiet_transports, teardown_quiet)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_read_times_out),	       T(test_unix_read_times_out),
	    T(test_write_times_out),	       T(test_progress_resets_the_clock),
	    T(test_no_timeout_waits),	       T(test_set_peer_timeout),
	    T(test_interrupt_keeps_the_connection),
	    T(test_late_interrupt_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
