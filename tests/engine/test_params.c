/* SPDX-License-Identifier: MIT */
/* Capabilities, parameters, size parsing and formatting. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <rmig/log.h>

#include "common/base/size.h"
#include "common/engine/params.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define TiB (1ULL << 40)

static void discard_sink(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static int quiet(void **state)
{
	(void)state;
	rmig_log_set_sink(discard_sink, NULL);
	rmig_error_clear();
	return 0;
}

static void test_defaults(void **state)
{
	struct rmig_params p;

	(void)state;
	memset(&p, 0xff, sizeof(p));
	rmig_params_init(&p);
	assert_false(p.caps[RMIG_CAP_RDMA_PIN_ALL]);
	assert_true(p.caps[RMIG_CAP_ZERO_PAGES]);
	assert_false(p.caps[RMIG_CAP_AUTO_CONVERGE]);
	assert_true(p.caps[RMIG_CAP_VERIFY]);
	assert_int_equal(p.max_bandwidth, 0);
	assert_int_equal(p.downtime_limit_ms, RMIG_DOWNTIME_LIMIT_DEFAULT_MS);
	assert_int_equal(p.cpu_throttle_initial, RMIG_THROTTLE_INITIAL_DEFAULT);
	assert_int_equal(p.cpu_throttle_increment, RMIG_THROTTLE_INCREMENT_DEFAULT);
	assert_int_equal(rmig_params_validate(&p), 0);
}

static void test_capability_names(void **state)
{
	static const char *const want[RMIG_CAP__COUNT] = {"rdma-pin-all", "zero-pages",
							   "auto-converge", "verify", "multifd"};

	(void)state;
	for (int c = 0; c < RMIG_CAP__COUNT; c++) {
		assert_string_equal(rmig_capability_get_name((enum rmig_capability)c), want[c]);
		assert_int_equal(rmig_capability_parse(want[c]), c);
	}
	assert_non_null(rmig_capability_get_name(RMIG_CAP__COUNT));
	assert_string_equal(rmig_error_get_last(), "");

	assert_int_equal(rmig_capability_parse("rdma-pin"), -ENOENT);
	assert_non_null(strstr(rmig_error_get_last(), "unknown capability 'rdma-pin'"));
	assert_int_equal(rmig_capability_parse("Zero-Pages"), -ENOENT);
	assert_int_equal(rmig_capability_parse(""), -ENOENT);
	assert_int_equal(rmig_capability_parse(NULL), -ENOENT);
}

static void test_multifd_params(void **state)
{
	struct rmig_params p;

	(void)state;
	rmig_params_init(&p);
	assert_false(p.caps[RMIG_CAP_MULTIFD]);
	assert_int_equal(p.multifd_channels, RMIG_MULTIFD_CHANNELS_DEFAULT);
	assert_int_equal(rmig_params_set(&p, "multifd-channels", "64"), 0);
	assert_int_equal(p.multifd_channels, 64);
	assert_int_equal(rmig_params_set(&p, "multifd-channels", "1"), 0);
	assert_int_equal(p.multifd_channels, 1);
	assert_int_equal(rmig_params_set(&p, "multifd-channels", "0"), -ERANGE);
	assert_int_equal(rmig_params_set(&p, "multifd-channels", "65"), -ERANGE);
	assert_int_equal(rmig_params_set(&p, "multifd-channels", "-1"), -EINVAL);
	assert_int_equal(p.multifd_channels, 1); /* unchanged by the refusals */
	p.multifd_channels = 0;
	assert_int_equal(rmig_params_validate(&p), -EINVAL);
	assert_non_null(strstr(rmig_error_get_last(), "multifd-channels"));
	p.multifd_channels = 4;
	assert_int_equal(rmig_params_validate(&p), 0);

	/* Channels need more connections (tcp, unix) or queue pairs (rdma) than fd: has. */
	p.caps[RMIG_CAP_MULTIFD] = true;
	assert_int_equal(rmig_params_check_uri(&p, "tcp:127.0.0.1:4444"), 0);
	assert_int_equal(rmig_params_check_uri(&p, "unix:/tmp/x.sock"), 0);
	assert_int_equal(rmig_params_check_uri(&p, "fd:3"), -EINVAL);
	assert_non_null(strstr(rmig_error_get_last(), "fd:"));
	assert_int_equal(rmig_params_check_uri(&p, "rdma:10.0.0.1:4444"), 0);
	p.caps[RMIG_CAP_MULTIFD] = false;
	assert_int_equal(rmig_params_check_uri(&p, "fd:3"), 0);

	/* numa-node: auto (the default), none, or a node. */
	rmig_params_init(&p);
	assert_int_equal(p.numa_node, RMIG_NUMA_NODE_AUTO);
	assert_int_equal(rmig_params_set(&p, "numa-node", "3"), 0);
	assert_int_equal(p.numa_node, 3);
	assert_int_equal(rmig_params_set(&p, "numa-node", "none"), 0);
	assert_int_equal(p.numa_node, RMIG_NUMA_NODE_NONE);
	assert_int_equal(rmig_params_set(&p, "numa-node", "auto"), 0);
	assert_int_equal(p.numa_node, RMIG_NUMA_NODE_AUTO);
	assert_int_equal(rmig_params_set(&p, "numa-node", "1024"), -ERANGE);
	assert_int_equal(rmig_params_set(&p, "numa-node", "-1"), -EINVAL);
	assert_int_equal(rmig_params_set(&p, "numa-node", "Auto"), -EINVAL);
	assert_int_equal(p.numa_node, RMIG_NUMA_NODE_AUTO);
	assert_int_equal(rmig_params_check_uri(&p, "rdma:10.0.0.1:4444"), 0);
}

/* ---- sizes -------------------------------------------------------------- */

static void test_parse_size_valid(void **state)
{
	static const struct {
		const char *in;
		uint64_t want;
	} cases[] = {
		{"0", 0},
		{"4096", 4096},
		{"4096B", 4096},
		{"4096b", 4096},
		{"1K", KiB},
		{"1k", KiB},
		{"1KiB", KiB},
		{"1kib", KiB},
		{"1KB", KiB},
		{"1kb", KiB},
		{"512M", 512 * MiB},
		{"125m", 125 * MiB},
		{"1G", GiB},
		{"1GiB", GiB},
		{"2T", 2 * TiB},
		{"1.5G", GiB + GiB / 2},
		{"0.5K", KiB / 2},
		{"1.25M", MiB + MiB / 4},
		/* Fractions of a byte are dropped, not rounded up. */
		{"1.1K", KiB + (KiB / 10)},
		{"007M", 7 * MiB},
		{"0.0000000000000000000001T", 0},
		{"18446744073709551615", UINT64_MAX},
		{"16777215T", 16777215ULL * TiB},
		{"16777215.5T", 16777215ULL * TiB + TiB / 2},
		/* Digits past the 18th are dropped, so this lands exactly on the maximum. */
		{"16777215.9999999999999999999T", UINT64_MAX},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 0xdeadbeef;

		if (rmig_size_parse(cases[i].in, &v) != 0)
			fail_msg("'%s' rejected: %s", cases[i].in, rmig_error_get_last());
		if (v != cases[i].want)
			fail_msg("'%s' parsed as %" PRIu64 ", want %" PRIu64, cases[i].in, v,
				 cases[i].want);
	}
	assert_string_equal(rmig_error_get_last(), "");
}

static void test_parse_size_invalid(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *msg; /* a substring the operator should see */
	} cases[] = {
		{"", -EINVAL, "invalid size ''"},
		{" ", -EINVAL, "expected a number"},
		{"   ", -EINVAL, "expected a number"},
		{"12Q", -EINVAL,
		 "invalid size '12Q': expected a number with an optional K, M, G or T suffix"},
		{"-1", -EINVAL, "cannot be negative"},
		{"-1G", -EINVAL, "cannot be negative"},
		{"+1", -EINVAL, "expected a number"},
		{" 1G", -EINVAL, "expected a number"},
		{"1G ", -EINVAL, "expected a number"},
		{"1 G", -EINVAL, "expected a number"},
		{"G", -EINVAL, "expected a number"},
		{"1GG", -EINVAL, "expected a number"},
		{"1Gi", -EINVAL, "expected a number"},
		{"1GiBs", -EINVAL, "expected a number"},
		{"1BB", -EINVAL, "expected a number"},
		{"1P", -EINVAL, "expected a number"},
		{"1.", -EINVAL, "expected a number"},
		{"1.G", -EINVAL, "expected a number"},
		{".5G", -EINVAL, "expected a number"},
		{"1..5G", -EINVAL, "expected a number"},
		{"1,5G", -EINVAL, "expected a number"},
		{"0x10", -EINVAL, "expected a number"},
		{"1e3", -EINVAL, "expected a number"},
		{"1.5", -EINVAL, "fraction needs a K, M, G or T suffix"},
		{"1.5B", -EINVAL, "fraction needs a K, M, G or T suffix"},
		{"99999999999999999999Q", -EINVAL, "expected a number"},
		{"18446744073709551616", -ERANGE, "too large"},
		{"99999999999999999999999", -ERANGE, "too large"},
		{"16777216T", -ERANGE, "too large"},
		{"17179869184G", -ERANGE, "too large"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 0x1234;
		int rc;

		rmig_error_clear();
		rc = rmig_size_parse(cases[i].in, &v);
		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d, want %d", cases[i].in, rc, cases[i].rc);
		assert_int_equal(v, 0x1234);
		if (!strstr(rmig_error_get_last(), cases[i].msg))
			fail_msg("'%s': message '%s' lacks '%s'", cases[i].in, rmig_error_get_last(),
				 cases[i].msg);
	}
	assert_int_equal(rmig_size_parse(NULL, &(uint64_t){0}), -EINVAL);
	assert_int_equal(rmig_size_parse("1G", NULL), -EINVAL);
}

static void test_format_size(void **state)
{
	static const struct {
		uint64_t in;
		const char *want;
	} cases[] = {
		{0, "0 B"},
		{1, "1 B"},
		{4096, "4096 B"},
		{10 * KiB - 1, "10239 B"},
		{10 * KiB, "10.0 KiB"},
		{GiB, "1.00 GiB"},
		{512 * MiB, "512.0 MiB"},
		{GiB + GiB / 2, "1.50 GiB"},
		{GiB - 1, "1.00 GiB"},
		{99 * MiB + MiB / 2, "99.5 MiB"},
		{3 * TiB + TiB / 4, "3.25 TiB"},
		{UINT64_MAX, "16.0 EiB"},
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(rmig_size_format(cases[i].in, buf, sizeof(buf)), cases[i].want);

	/* Small buffers truncate but stay terminated; none at all gives "". */
	memset(buf, '#', sizeof(buf));
	assert_string_equal(rmig_size_format(512 * MiB, buf, 5), "512.");
	assert_int_equal(buf[5], '#');
	assert_string_equal(rmig_size_format(GiB, buf, 0), "");
	assert_string_equal(rmig_size_format(GiB, NULL, 8), "");
}

/* Formatting then parsing gets back close to the original (within the rounding). */
static void test_format_parse_round_trip(void **state)
{
	static const uint64_t values[] = {0, 4096, 64 * KiB, 3 * MiB + 12345, 7 * GiB / 3,
					  5 * TiB + 17};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char text[32], *sp;
		uint64_t back = 0, diff;

		snprintf(text, sizeof(text), "%s", rmig_size_format(values[i], buf, sizeof(buf)));
		/* "1.50 GiB" -> "1.50GiB" */
		sp = strchr(text, ' ');
		assert_non_null(sp);
		memmove(sp, sp + 1, strlen(sp));
		assert_int_equal(rmig_size_parse(text, &back), 0);
		diff = back > values[i] ? back - values[i] : values[i] - back;
		/* At worst half a unit in the last shown digit: < 1% of the value. */
		assert_true(diff <= values[i] / 100);
	}
}

/* ---- parameters --------------------------------------------------------- */

static void test_params_set_valid(void **state)
{
	struct rmig_params p;

	(void)state;
	rmig_params_init(&p);
	assert_int_equal(rmig_params_set(&p, "max-bandwidth", "1G"), 0);
	assert_int_equal(p.max_bandwidth, GiB);
	assert_int_equal(rmig_params_set(&p, "max-bandwidth", "0"), 0);
	assert_int_equal(p.max_bandwidth, 0);
	assert_int_equal(rmig_params_set(&p, "downtime-limit", "1"), 0);
	assert_int_equal(p.downtime_limit_ms, 1);
	assert_int_equal(rmig_params_set(&p, "downtime-limit", "2000000"), 0);
	assert_int_equal(p.downtime_limit_ms, RMIG_DOWNTIME_LIMIT_MAX_MS);
	assert_int_equal(rmig_params_set(&p, "throttle-initial", "1"), 0);
	assert_int_equal(p.cpu_throttle_initial, 1);
	assert_int_equal(rmig_params_set(&p, "throttle-initial", "99"), 0);
	assert_int_equal(p.cpu_throttle_initial, 99);
	assert_int_equal(rmig_params_set(&p, "throttle-increment", "5"), 0);
	assert_int_equal(p.cpu_throttle_increment, 5);
	/* Setting one never touched another. */
	assert_int_equal(p.cpu_throttle_initial, 99);
	assert_int_equal(p.downtime_limit_ms, RMIG_DOWNTIME_LIMIT_MAX_MS);
	assert_int_equal(rmig_params_validate(&p), 0);
	assert_string_equal(rmig_error_get_last(), "");
}

static void test_params_set_invalid(void **state)
{
	static const struct {
		const char *name, *value;
		int rc;
		const char *msg;
	} cases[] = {
		{"max-bandwidth", "fast", -EINVAL, "invalid size 'fast'"},
		{"max-bandwidth", "-1", -EINVAL, "negative"},
		{"max-bandwidth", "", -EINVAL, "invalid size"},
		{"max-bandwidth", "99999999T", -ERANGE, "too large"},
		{"downtime-limit", "0", -ERANGE, "downtime-limit 0 is out of range"},
		{"downtime-limit", "2000001", -ERANGE, "from 1 to 2000000"},
		{"downtime-limit", "99999999999999999999999", -ERANGE, "out of range"},
		{"downtime-limit", "300ms", -EINVAL, "invalid downtime-limit '300ms'"},
		{"downtime-limit", "-5", -EINVAL, "milliseconds"},
		{"downtime-limit", "", -EINVAL, "invalid downtime-limit ''"},
		{"downtime-limit", " 30", -EINVAL, "invalid downtime-limit"},
		{"throttle-initial", "0", -ERANGE, "throttle-initial 0 is out of range"},
		{"throttle-initial", "100", -ERANGE, "percent from 1 to 99"},
		{"throttle-initial", "20%", -EINVAL, "invalid throttle-initial '20%'"},
		{"throttle-increment", "0", -ERANGE, "throttle-increment 0 is out of range"},
		{"throttle-increment", "100", -ERANGE, "from 1 to 99"},
		{"throttle-increment", "x", -EINVAL, "invalid throttle-increment 'x'"},
		{"bandwidth", "1G", -ENOENT, "unknown migration parameter 'bandwidth'"},
		{"", "1", -ENOENT, "unknown migration parameter"},
		{"auto-converge", "on", -ENOENT, "is a capability, not a parameter"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rmig_params p, before;
		int rc;

		rmig_params_init(&p);
		p.max_bandwidth = 12345;
		before = p;
		rmig_error_clear();
		rc = rmig_params_set(&p, cases[i].name, cases[i].value);
		if (rc != cases[i].rc)
			fail_msg("%s='%s': rc %d, want %d", cases[i].name, cases[i].value, rc,
				 cases[i].rc);
		assert_memory_equal(&p, &before, sizeof(p));
		if (!strstr(rmig_error_get_last(), cases[i].msg))
			fail_msg("%s='%s': message '%s' lacks '%s'", cases[i].name, cases[i].value,
				 rmig_error_get_last(), cases[i].msg);
	}

	struct rmig_params p;

	rmig_params_init(&p);
	assert_int_equal(rmig_params_set(NULL, "downtime-limit", "1"), -EINVAL);
	assert_int_equal(rmig_params_set(&p, NULL, "1"), -EINVAL);
	assert_int_equal(rmig_params_set(&p, "downtime-limit", NULL), -EINVAL);
	assert_int_equal(p.downtime_limit_ms, RMIG_DOWNTIME_LIMIT_DEFAULT_MS);
}

static void test_params_validate(void **state)
{
	struct rmig_params p;

	(void)state;
	rmig_params_init(&p);
	p.downtime_limit_ms = 0;
	assert_int_equal(rmig_params_validate(&p), -EINVAL);
	assert_non_null(strstr(rmig_error_get_last(), "downtime-limit"));
	p.downtime_limit_ms = RMIG_DOWNTIME_LIMIT_MAX_MS + 1;
	assert_int_equal(rmig_params_validate(&p), -EINVAL);
	p.downtime_limit_ms = RMIG_DOWNTIME_LIMIT_MAX_MS;
	assert_int_equal(rmig_params_validate(&p), 0);

	p.cpu_throttle_initial = 0;
	assert_int_equal(rmig_params_validate(&p), -EINVAL);
	assert_non_null(strstr(rmig_error_get_last(), "throttle-initial"));
	p.cpu_throttle_initial = RMIG_THROTTLE_MAX + 1;
	assert_int_equal(rmig_params_validate(&p), -EINVAL);
	p.cpu_throttle_initial = RMIG_THROTTLE_MAX;
	assert_int_equal(rmig_params_validate(&p), 0);

	p.cpu_throttle_increment = 0;
	assert_int_equal(rmig_params_validate(&p), -EINVAL);
	assert_non_null(strstr(rmig_error_get_last(), "throttle-increment"));
	p.cpu_throttle_increment = RMIG_THROTTLE_MAX + 1;
	assert_int_equal(rmig_params_validate(&p), -EINVAL);
	p.cpu_throttle_increment = 1;
	assert_int_equal(rmig_params_validate(&p), 0);

	/* Any bandwidth and any mix of capabilities is fine. */
	p.max_bandwidth = UINT64_MAX;
	for (int c = 0; c < RMIG_CAP__COUNT; c++)
		p.caps[c] = !p.caps[c];
	assert_int_equal(rmig_params_validate(&p), 0);
	assert_int_equal(rmig_params_validate(NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, quiet),
		cmocka_unit_test_setup(test_capability_names, quiet),
		cmocka_unit_test_setup(test_multifd_params, quiet),
		cmocka_unit_test_setup(test_parse_size_valid, quiet),
		cmocka_unit_test_setup(test_parse_size_invalid, quiet),
		cmocka_unit_test_setup(test_format_size, quiet),
		cmocka_unit_test_setup(test_format_parse_round_trip, quiet),
		cmocka_unit_test_setup(test_params_set_valid, quiet),
		cmocka_unit_test_setup(test_params_set_invalid, quiet),
		cmocka_unit_test_setup(test_params_validate, quiet),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
