/* SPDX-License-Identifier: MIT */
/*
 * The hand-over messages: every field a hostile peer can bend is refused,
 * and the wait for the peer's answer ends at peer-timeout, at hang-up and
 * at abort, over a real socket (the fd: transport on a socketpair).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "common/engine/handover.h"
#include "common/engine/transports.h"
#include "plugin/registry.h"
#include "tests/support/memconn.h"
#include "tests/support/test_quiet.h"

static void expect_refused(const uint8_t msg[RMIG_HANDOVER_SIZE], const char *words)
{
	enum rmig_handover_kind kind = 0;
	int status = -1;

	rmig_error_clear();
	assert_int_equal(rmig_handover_decode(msg, &kind, &status), -EPROTO);
	if (!strstr(rmig_error_get_last(), words))
		fail_msg("error \"%s\" lacks \"%s\"", rmig_error_get_last(), words);
	/* Outputs untouched on failure. */
	assert_int_equal(kind, 0);
	assert_int_equal(status, -1);
}

static void test_roundtrip(void **state)
{
	static const struct {
		enum rmig_handover_kind kind;
		int status;
	} cases[] = {
	    {RMIG_HANDOVER_RESULT, 0},	     {RMIG_HANDOVER_RESULT, EBADMSG},
	    {RMIG_HANDOVER_RESULT, -EPROTO}, {RMIG_HANDOVER_RESULT, RMIG_HANDOVER_STATUS_MAX},
	    {RMIG_HANDOVER_COMMIT, 0},	     {RMIG_HANDOVER_ABORT, 0},
	};
	uint8_t msg[RMIG_HANDOVER_SIZE];

	(void)state;
	for (size_t i = 0; i < RMIG_ARRAY_SIZE(cases); i++) {
		enum rmig_handover_kind kind;
		int status;

		rmig_handover_encode(msg, cases[i].kind, cases[i].status);
		assert_int_equal(rmig_get_be32(msg), RMIG_HANDOVER_MAGIC);
		assert_int_equal(rmig_handover_decode(msg, &kind, &status), 0);
		assert_int_equal(kind, cases[i].kind);
		/* A negative errno goes on the wire as its magnitude. */
		assert_int_equal(status, abs(cases[i].status));
	}
}

static void test_hostile(void **state)
{
	uint8_t msg[RMIG_HANDOVER_SIZE];

	(void)state;
	rmig_handover_encode(msg, RMIG_HANDOVER_COMMIT, 0);
	msg[3] ^= 1;
	expect_refused(msg, "instead of 0x524d4748");

	for (uint32_t kind = 0; kind < 8; kind += 4) { /* 0 and 4: just outside the range */
		rmig_handover_encode(msg, RMIG_HANDOVER_COMMIT, 0);
		rmig_put_be32(msg + 4, kind);
		expect_refused(msg, "unknown message kind");
	}
	rmig_handover_encode(msg, RMIG_HANDOVER_COMMIT, 0);
	rmig_put_be32(msg + 4, UINT32_MAX);
	expect_refused(msg, "unknown message kind 4294967295");

	rmig_handover_encode(msg, RMIG_HANDOVER_COMMIT, 0);
	rmig_put_be32(msg + 8, EIO);
	expect_refused(msg, "COMMIT carries status 5, expected 0");
	rmig_handover_encode(msg, RMIG_HANDOVER_ABORT, 0);
	rmig_put_be32(msg + 8, 1);
	expect_refused(msg, "ABORT carries status 1");

	rmig_handover_encode(msg, RMIG_HANDOVER_RESULT, 0);
	rmig_put_be32(msg + 8, RMIG_HANDOVER_STATUS_MAX + 1);
	expect_refused(msg, "status 4096, expected an errno up to 4095");

	rmig_handover_encode(msg, RMIG_HANDOVER_RESULT, 0);
	rmig_put_be32(msg + 12, 0x80);
	expect_refused(msg, "reserved word");
}

/* Both ends of a socketpair: @c is ours through the fd: transport, *@peer the raw other end. */
static struct rmig_conn *conn_pair(int *peer)
{
	struct rmig_conn *c = NULL;
	char uri[32];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	snprintf(uri, sizeof(uri), "fd:%d", sv[0]);
	assert_int_equal(rmig_conn_open(uri, NULL, &c), 0);
	*peer = sv[1];
	return c;
}

static void test_recv_in_pieces(void **state)
{
	uint8_t msg[RMIG_HANDOVER_SIZE];
	enum rmig_handover_kind kind;
	int peer, status;
	struct rmig_conn *c = conn_pair(&peer);

	(void)state;
	rmig_handover_encode(msg, RMIG_HANDOVER_RESULT, EBADMSG);
	assert_int_equal(write(peer, msg, 5), 5);
	assert_int_equal(write(peer, msg + 5, sizeof(msg) - 5), (ssize_t)sizeof(msg) - 5);
	assert_int_equal(rmig_handover_recv(c, 5000, "testing", &kind, &status), 0);
	assert_int_equal(kind, RMIG_HANDOVER_RESULT);
	assert_int_equal(status, EBADMSG);

	/* And the other way, as the engine sends it. */
	assert_int_equal(rmig_handover_send(c, RMIG_HANDOVER_COMMIT, 0, "testing"), 0);
	assert_int_equal(read(peer, msg, sizeof(msg)), (ssize_t)sizeof(msg));
	assert_int_equal(rmig_handover_decode(msg, &kind, &status), 0);
	assert_int_equal(kind, RMIG_HANDOVER_COMMIT);
	rmig_conn_close(c);
	close(peer);
}

/* A transport whose write returns 0 fails the send instead of spinning on it. */
static void test_send_write_stuck(void **state)
{
	struct rmig_conn *c = rmig_memconn_new(NULL, 0, 0);

	(void)state;
	assert_non_null(c);
	rmig_memconn_set_write_stuck(c);
	assert_int_equal(rmig_handover_send(c, RMIG_HANDOVER_COMMIT, 0, "testing"), -EIO);
	rmig_memconn_free(c);
}

/* No deadline (0): the read alone decides, and nothing fires at once. */
static void test_recv_without_deadline(void **state)
{
	uint8_t msg[RMIG_HANDOVER_SIZE];
	enum rmig_handover_kind kind;
	struct rmig_conn *c;
	int status;

	(void)state;
	rmig_handover_encode(msg, RMIG_HANDOVER_COMMIT, 0);
	c = rmig_memconn_new(msg, sizeof(msg), 3);
	assert_non_null(c);
	assert_int_equal(rmig_handover_recv(c, 0, "testing", &kind, &status), 0);
	assert_int_equal(kind, RMIG_HANDOVER_COMMIT);
	assert_int_equal(rmig_handover_recv(c, 0, "testing", &kind, &status), -ECONNRESET);
	rmig_memconn_free(c);
}

static void test_recv_times_out(void **state)
{
	enum rmig_handover_kind kind;
	int peer, status;
	struct rmig_conn *c = conn_pair(&peer);
	uint64_t t0, waited_ms;

	(void)state;
	/* A peer that is alive but says nothing: a frozen process looks like this. */
	t0 = rmig_time_now_ns();
	assert_int_equal(rmig_handover_recv(c, 300, "waiting in a test", &kind, &status),
			 -ETIMEDOUT);
	waited_ms = (rmig_time_now_ns() - t0) / RMIG_NSEC_PER_MSEC;
	assert_true(waited_ms >= 300);
	assert_true(waited_ms < 3000);
	assert_non_null(strstr(rmig_error_get_last(), "within 300 ms (peer-timeout)"));
	assert_non_null(strstr(rmig_error_get_last(), "waiting in a test"));
	rmig_conn_close(c);
	close(peer);
}

static void test_recv_hangup_and_partial(void **state)
{
	uint8_t msg[RMIG_HANDOVER_SIZE];
	enum rmig_handover_kind kind;
	int peer, status;
	struct rmig_conn *c = conn_pair(&peer);

	(void)state;
	/* Half a message, then the peer goes away: neither a timeout nor a message. */
	rmig_handover_encode(msg, RMIG_HANDOVER_COMMIT, 0);
	assert_int_equal(write(peer, msg, 8), 8);
	close(peer);
	assert_int_equal(rmig_handover_recv(c, 5000, "testing", &kind, &status), -ECONNRESET);
	assert_non_null(strstr(rmig_error_get_last(), "closed the connection"));
	rmig_conn_close(c);
}

static void test_recv_refuses_garbage(void **state)
{
	uint8_t msg[RMIG_HANDOVER_SIZE];
	enum rmig_handover_kind kind;
	int peer, status;
	struct rmig_conn *c = conn_pair(&peer);

	(void)state;
	memset(msg, 0xff, sizeof(msg));
	assert_int_equal(write(peer, msg, sizeof(msg)), (ssize_t)sizeof(msg));
	assert_int_equal(rmig_handover_recv(c, 5000, "testing", &kind, &status), -EPROTO);
	rmig_conn_close(c);
	close(peer);
}

static void test_verify_allowance(void **state)
{
	(void)state;
	/* A second per GiB, rounded up: a deadline, however large the RAM. */
	assert_int_equal(rmig_handover_verify_allowance_ms(0), 0);
	assert_int_equal(rmig_handover_verify_allowance_ms(1), 1000);
	assert_int_equal(rmig_handover_verify_allowance_ms(1ULL << 30), 1000);
	assert_int_equal(rmig_handover_verify_allowance_ms((10ULL << 30) + 1), 11000);
	assert_int_equal(rmig_handover_verify_allowance_ms(1ULL << 40), 1024000);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_quiet_transports, teardown_quiet)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_roundtrip),	       T(test_hostile),
	    T(test_recv_in_pieces),    T(test_send_write_stuck),  T(test_recv_without_deadline),  T(test_recv_times_out),
	    T(test_recv_hangup_and_partial), T(test_recv_refuses_garbage),
	    T(test_verify_allowance),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
