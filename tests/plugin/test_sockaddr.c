/* SPDX-License-Identifier: MIT */
/* rmig_hostport_parse(): what it accepts, and that it refuses with a reason. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <rmig/log.h>

#include "plugin/sockaddr.h"

struct good_case {
	const char *in;
	int allow_zero;
	const char *host;
	unsigned port;
};

static const struct good_case good[] = {
	{ "127.0.0.1:4444", 0, "127.0.0.1", 4444 },
	{ "localhost:1", 0, "localhost", 1 },
	{ "host-a.example.com:65535", 0, "host-a.example.com", 65535 },
	{ "under_score:80", 0, "under_score", 80 },
	{ "[::1]:4444", 0, "::1", 4444 },
	{ "[fe80::1%eth0]:22", 0, "fe80::1%eth0", 22 },
	{ "[::ffff:10.0.0.1]:9", 0, "::ffff:10.0.0.1", 9 },
	{ ":4444", 0, "", 4444 },
	{ "0.0.0.0:0", 1, "0.0.0.0", 0 },
	{ "[::]:0", 1, "::", 0 },
	{ ":0", 1, "", 0 },
	{ "h:00080", 0, "h", 80 },
};

struct bad_case {
	const char *in;
	int allow_zero;
	const char *reason; /* a word the message must contain */
};

static const struct bad_case bad[] = {
	{ "", 0, "port missing" },
	{ "localhost", 0, "port missing" },
	{ "localhost:", 0, "port missing" },
	{ "host:0", 0, "port 0" },
	{ "host:65536", 0, "range" },
	{ "host:99999999999999999999", 0, "range" },
	{ "host:-1", 0, "not a number" },
	{ "host:+80", 0, "not a number" },
	{ "host:80x", 0, "not a number" },
	{ "host: 80", 0, "not a number" },
	{ "::1:80", 0, "too many" },
	{ "[::1:80", 0, "']'" },
	{ "[::1]80", 0, "':'" },
	{ "[::1]", 0, "port missing" },
	{ "[::1]:", 0, "port missing" },
	{ "[]:80", 0, "empty" },
	{ "[10.0.0.1]:80", 0, "IPv6" },
	{ "[::1]]:80", 0, "':'" },
	{ "ho st:80", 0, "invalid character" },
	{ "host/x:80", 0, "invalid character" },
	{ "[::1 ]:80", 0, "invalid character" },
	{ "a:b:c", 0, "too many" },
	/* rdma: rails (docs/proposals/rails.md) are not built: say so, not "too many ':'". */
	{ "10.0.0.1:4444,10.0.1.1:4444", 0, "one address only" },
	{ "[fe80::1]:1,[fe80::2]:1", 0, "lists" },
	{ "host:80,", 0, "one address only" },
};

static void test_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char host[RMIG_HOST_MAX];
		unsigned port = 12345;
		int r = rmig_hostport_parse(good[i].in, host, sizeof(host), &port,
					    good[i].allow_zero);

		if (r != 0)
			fail_msg("'%s' refused: %s", good[i].in, rmig_error_get_last());
		assert_string_equal(host, good[i].host);
		assert_int_equal(port, good[i].port);
	}
}

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char host[RMIG_HOST_MAX] = "untouched";
		unsigned port = 7;
		int r;

		rmig_error_clear();
		r = rmig_hostport_parse(bad[i].in, host, sizeof(host), &port, bad[i].allow_zero);
		if (r != -EINVAL)
			fail_msg("'%s' gave %d, expected -EINVAL", bad[i].in, r);
		/* Out-parameters are only written on success. */
		assert_string_equal(host, "untouched");
		assert_int_equal(port, 7);
		if (!strstr(rmig_error_get_last(), bad[i].reason) ||
		    !strstr(rmig_error_get_last(), bad[i].in))
			fail_msg("'%s': message '%s' lacks '%s'", bad[i].in, rmig_error_get_last(),
				 bad[i].reason);
	}
}

static void test_host_length(void **state)
{
	char addr[RMIG_HOST_MAX + 16], host[RMIG_HOST_MAX], small[8];
	unsigned port;

	(void)state;
	/* The longest host that fits, then one byte more. */
	memset(addr, 'a', RMIG_HOST_MAX - 1);
	strcpy(addr + RMIG_HOST_MAX - 1, ":80");
	assert_int_equal(rmig_hostport_parse(addr, host, sizeof(host), &port, 0), 0);
	assert_int_equal(strlen(host), RMIG_HOST_MAX - 1);
	memset(addr, 'a', RMIG_HOST_MAX);
	strcpy(addr + RMIG_HOST_MAX, ":80");
	assert_int_equal(rmig_hostport_parse(addr, host, sizeof(host), &port, 0), -EINVAL);
	assert_non_null(strstr(rmig_error_get_last(), "too long"));
	/* The caller's buffer is a limit too. */
	assert_int_equal(rmig_hostport_parse("12345678:1", small, sizeof(small), &port, 0),
			 -EINVAL);
	assert_int_equal(rmig_hostport_parse("1234567:1", small, sizeof(small), &port, 0), 0);
	assert_string_equal(small, "1234567");
	assert_int_equal(rmig_hostport_parse(NULL, host, sizeof(host), &port, 0), -EINVAL);
}

static void quiet(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque, (void)level, (void)msg;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_host_length),
	};

	/* The bad cases are expected to report: keep the output readable. */
	rmig_log_set_sink(quiet, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
