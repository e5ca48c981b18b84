/* SPDX-License-Identifier: MIT */
/* Counters, the bandwidth window and the query-migrate JSON. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "common/engine/stats.h"

#define MS 1000000ULL

/* ---- a strict little JSON checker, so "valid JSON" is tested, not assumed ---- */

static const char *js_ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	return p;
}

static const char *js_value(const char *p, int depth);

static const char *js_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p != '"') {
		unsigned char c = (unsigned char)*p;

		if (c == '\0' || c < 0x20)
			return NULL;
		if (c == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
						return NULL;
				p += 5;
				continue;
			}
			if (!*p || !strchr("\"\\/bfnrt", *p))
				return NULL;
		}
		p++;
	}
	return p + 1;
}

static const char *js_number(const char *p)
{
	const char *start = p;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return p > start ? p : NULL;
}

static const char *js_object(const char *p, int depth)
{
	if (*p++ != '{')
		return NULL;
	p = js_ws(p);
	if (*p == '}')
		return p + 1;
	for (;;) {
		p = js_string(js_ws(p));
		if (!p)
			return NULL;
		p = js_ws(p);
		if (*p++ != ':')
			return NULL;
		p = js_value(js_ws(p), depth + 1);
		if (!p)
			return NULL;
		p = js_ws(p);
		if (*p == '}')
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static const char *js_value(const char *p, int depth)
{
	if (depth > 8)
		return NULL;
	if (*p == '{')
		return js_object(p, depth);
	if (*p == '"')
		return js_string(p);
	return js_number(p);
}

static bool json_valid(const char *s)
{
	const char *end = js_value(js_ws(s), 0);

	return end && *js_ws(end) == '\0';
}

/* ---- counters ----------------------------------------------------------- */

static void test_stats_init_and_add(void **state)
{
	struct rmig_stats st;
	const struct rmig_ram_counters a = {
		.zero_pages = 3,
		.normal_pages = 5,
		.normal_bytes = 5 * 4096,
		.transferred = 20500,
	};
	const struct rmig_ram_counters b = {
		.zero_pages = 7,
		.normal_pages = 11,
		.normal_bytes = 11 * 4096,
		.transferred = 45100,
	};

	(void)state;
	memset(&st, 0xa5, sizeof(st));
	rmig_stats_init(&st);
	assert_int_equal(atomic_load(&st.transferred), 0);
	assert_int_equal(atomic_load(&st.duplicate), 0);
	assert_int_equal(atomic_load(&st.normal), 0);
	assert_int_equal(atomic_load(&st.normal_bytes), 0);
	assert_int_equal(atomic_load(&st.total), 0);
	assert_int_equal(atomic_load(&st.remaining), 0);
	assert_int_equal(atomic_load(&st.dirty_sync_count), 0);
	assert_int_equal(atomic_load(&st.dirty_pages_rate), 0);
	assert_int_equal(atomic_load(&st.page_size), 0);
	assert_int_equal(atomic_load(&st.bandwidth), 0);
	assert_int_equal(atomic_load(&st.expected_downtime_ms), 0);
	assert_int_equal(atomic_load(&st.iterations), 0);
	assert_int_equal(atomic_load(&st.throttle_pct), 0);

	rmig_stats_add(&st, &a);
	rmig_stats_add(&st, &b);
	assert_int_equal(atomic_load(&st.duplicate), a.zero_pages + b.zero_pages);
	assert_int_equal(atomic_load(&st.normal), a.normal_pages + b.normal_pages);
	assert_int_equal(atomic_load(&st.normal_bytes), a.normal_bytes + b.normal_bytes);
	assert_int_equal(atomic_load(&st.transferred), a.transferred + b.transferred);
	/* Counters the transport does not own are left alone. */
	assert_int_equal(atomic_load(&st.total), 0);
	assert_int_equal(atomic_load(&st.remaining), 0);
}

/* ---- bandwidth ---------------------------------------------------------- */

static uint64_t expected_rate(uint64_t bytes, uint64_t busy_ns)
{
	return (uint64_t)((unsigned __int128)bytes * 1000000000ULL / busy_ns);
}

static void test_bw_window(void **state)
{
	const uint64_t t0 = 5000 * MS, b0 = 777;
	struct rmig_bw bw;

	(void)state;
	rmig_bw_init(&bw, t0, b0);
	assert_int_equal(bw.bytes_per_sec, 0);
	assert_false(rmig_bw_update(&bw, t0 + 50 * MS, b0 + 1000));
	assert_false(rmig_bw_update(&bw, t0 + RMIG_BW_WINDOW_NS - 1, b0 + 2000));
	assert_int_equal(bw.bytes_per_sec, 0);

	assert_true(rmig_bw_update(&bw, t0 + 125 * MS, b0 + 3000000));
	assert_int_equal(bw.bytes_per_sec, expected_rate(3000000, 125 * MS));

	/* The next window starts where the last one ended. */
	assert_int_equal(bw.window_start_ns, t0 + 125 * MS);
	assert_int_equal(bw.window_start_bytes, b0 + 3000000);
	assert_false(rmig_bw_update(&bw, t0 + 200 * MS, b0 + 9000000));
	assert_int_equal(bw.bytes_per_sec, expected_rate(3000000, 125 * MS));
	assert_true(rmig_bw_update(&bw, t0 + 225 * MS, b0 + 4000000));
	assert_int_equal(bw.bytes_per_sec, expected_rate(1000000, 100 * MS));
}

static void test_bw_excludes_sleep(void **state)
{
	const uint64_t t0 = 10 * MS;
	struct rmig_bw bw;

	(void)state;
	rmig_bw_init(&bw, t0, 0);
	rmig_bw_note_sleep(&bw, 30 * MS);
	rmig_bw_note_sleep(&bw, 40 * MS);
	/* 150 ms elapsed, 70 ms of it asleep: only 80 ms of work, window stays open. */
	assert_false(rmig_bw_update(&bw, t0 + 150 * MS, 800000));
	assert_int_equal(bw.bytes_per_sec, 0);
	/* 190 ms elapsed - 70 ms slept = 120 ms of work. */
	assert_true(rmig_bw_update(&bw, t0 + 190 * MS, 1200000));
	assert_int_equal(bw.bytes_per_sec, expected_rate(1200000, 120 * MS));
	/* Sleep is per window. */
	assert_int_equal(bw.slept_ns, 0);
	assert_true(rmig_bw_update(&bw, t0 + 290 * MS, 2200000));
	assert_int_equal(bw.bytes_per_sec, expected_rate(1000000, 100 * MS));
}

static void test_bw_more_sleep_than_time(void **state)
{
	struct rmig_bw bw;

	(void)state;
	rmig_bw_init(&bw, 0, 0);
	assert_true(rmig_bw_update(&bw, 100 * MS, 1000));
	rmig_bw_note_sleep(&bw, 900 * MS);
	/* Slept more than elapsed (coarse accounting): no window, no division by zero. */
	assert_false(rmig_bw_update(&bw, 300 * MS, 5000));
	assert_false(rmig_bw_update(&bw, 1000 * MS, 6000));
	assert_int_equal(bw.bytes_per_sec, expected_rate(1000, 100 * MS));
	assert_true(rmig_bw_update(&bw, 1100 * MS, 7000));
	assert_int_equal(bw.bytes_per_sec, expected_rate(6000, 100 * MS));

	/* Saturates rather than wrapping back to a small number. */
	rmig_bw_note_sleep(&bw, UINT64_MAX);
	rmig_bw_note_sleep(&bw, 5);
	assert_int_equal(bw.slept_ns, UINT64_MAX);
	assert_false(rmig_bw_update(&bw, UINT64_MAX, 8000));
}

static void test_bw_backwards_restarts(void **state)
{
	struct rmig_bw bw;

	(void)state;
	rmig_bw_init(&bw, 500 * MS, 10000);
	assert_true(rmig_bw_update(&bw, 600 * MS, 20000));
	uint64_t est = bw.bytes_per_sec;

	/* Byte counter reset: restart from here, keep the old estimate. */
	assert_false(rmig_bw_update(&bw, 700 * MS, 5));
	assert_int_equal(bw.bytes_per_sec, est);
	assert_int_equal(bw.window_start_ns, 700 * MS);
	assert_int_equal(bw.window_start_bytes, 5);
	/* Clock before the window start: same. */
	assert_false(rmig_bw_update(&bw, 100 * MS, 10));
	assert_int_equal(bw.window_start_ns, 100 * MS);
	assert_true(rmig_bw_update(&bw, 200 * MS, 10 + 4000));
	assert_int_equal(bw.bytes_per_sec, expected_rate(4000, 100 * MS));
}

static void test_bw_huge_does_not_overflow(void **state)
{
	struct rmig_bw bw;

	(void)state;
	rmig_bw_init(&bw, 0, 0);
	assert_true(rmig_bw_update(&bw, RMIG_BW_WINDOW_NS, UINT64_MAX));
	assert_int_equal(bw.bytes_per_sec, UINT64_MAX);
}

/* ---- JSON --------------------------------------------------------------- */

static struct rmig_info completed_info(void)
{
	struct rmig_info info = {
		.status = RMIG_STATE_COMPLETED,
		.total_time_ms = 1234,
		.setup_time_ms = 5,
		.downtime_ms = 40,
		.has_downtime = true,
		.throttle_pct = 0,
	};

	info.ram.transferred = 1073741824ULL + 12345;
	info.ram.remaining = 0;
	info.ram.total = 2147483648ULL;
	info.ram.duplicate = 262144;
	info.ram.normal = 262100;
	info.ram.normal_bytes = 262100ULL * 4096;
	info.ram.dirty_pages_rate = 321;
	info.ram.mbps = 9123.4;
	info.ram.dirty_sync_count = 4;
	info.ram.page_size = 4096;
	info.ram.pages_per_second = 70123;
	info.ram.precopy_bytes = 1000000000;
	info.ram.downtime_bytes = 73754169;
	return info;
}

static char *to_json(const struct rmig_info *info)
{
	int need = rmig_info_to_json(info, NULL, 0);
	char *buf;

	assert_true(need > 0);
	buf = malloc((size_t)need + 1);
	assert_non_null(buf);
	assert_int_equal(rmig_info_to_json(info, buf, (size_t)need + 1), need);
	assert_int_equal(strlen(buf), need);
	assert_true(json_valid(buf));
	return buf;
}

static void test_json_completed(void **state)
{
	struct rmig_info info = completed_info();
	char *json = to_json(&info);
	char expect[512];

	(void)state;
	snprintf(expect, sizeof(expect),
		 "{\"status\":\"completed\",\"total-time\":%" PRIu64 ",\"setup-time\":%" PRIu64
		 ",\"downtime\":%" PRIu64 ",\"ram\":{\"transferred\":%" PRIu64
		 ",\"remaining\":%" PRIu64 ",\"total\":%" PRIu64 ",\"duplicate\":%" PRIu64
		 ",\"normal\":%" PRIu64 ",\"normal-bytes\":%" PRIu64
		 ",\"dirty-pages-rate\":%" PRIu64 ",\"mbps\":9123.400,\"dirty-sync-count\":%" PRIu64
		 ",\"postcopy-requests\":0,\"page-size\":%" PRIu64
		 ",\"multifd-bytes\":0,\"pages-per-second\":%" PRIu64
		 ",\"precopy-bytes\":%" PRIu64 ",\"downtime-bytes\":%" PRIu64
		 ",\"postcopy-bytes\":0,\"dirty-sync-missed-zero-copy\":0}}",
		 info.total_time_ms, info.setup_time_ms, info.downtime_ms, info.ram.transferred,
		 info.ram.remaining, info.ram.total, info.ram.duplicate, info.ram.normal,
		 info.ram.normal_bytes, info.ram.dirty_pages_rate, info.ram.dirty_sync_count,
		 info.ram.page_size, info.ram.pages_per_second, info.ram.precopy_bytes,
		 info.ram.downtime_bytes);
	assert_string_equal(json, expect);
	free(json);
}

static void test_json_optional_members(void **state)
{
	struct rmig_info info = completed_info();
	char *json;

	(void)state;
	/* Active: expected-downtime and setup-time, no downtime, throttle when non-zero. */
	info.status = RMIG_STATE_ACTIVE;
	info.has_downtime = false;
	info.has_expected_downtime = true;
	info.expected_downtime_ms = 280;
	info.throttle_pct = 30;
	snprintf(info.error_desc, sizeof(info.error_desc), "not failed, not shown");
	json = to_json(&info);
	assert_non_null(strstr(json, "\"status\":\"active\""));
	assert_non_null(strstr(json, ",\"expected-downtime\":280"));
	assert_non_null(strstr(json, ",\"setup-time\":5"));
	assert_non_null(strstr(json, ",\"cpu-throttle-percentage\":30"));
	assert_null(strstr(json, "\"downtime\""));
	assert_null(strstr(json, "error-desc"));
	assert_null(strstr(json, "x-rmig-pinned"));
	free(json);

	/* A transport that pins reported: rmig's own member, after ram. */
	info.pinned.reported = true;
	info.pinned.peak = 8388608;
	info.pinned.limit = 8388608;
	info.pinned.evicted = 17;
	info.pinned.overlap_ms = 42;
	json = to_json(&info);
	assert_non_null(strstr(json, "},\"x-rmig-pinned\":{\"peak\":8388608,\"limit\":8388608,"
				     "\"evicted\":17,\"overlap-ms\":42}}"));
	free(json);
	info.pinned.reported = false;

	/* Setup: no setup-time yet. */
	info.status = RMIG_STATE_SETUP;
	info.setup_time_ms = 0;
	info.has_expected_downtime = false;
	info.throttle_pct = 0;
	json = to_json(&info);
	assert_non_null(strstr(json, "{\"status\":\"setup\",\"total-time\":1234,\"ram\":{"));
	assert_null(strstr(json, "setup-time"));
	assert_null(strstr(json, "expected-downtime"));
	assert_null(strstr(json, "cpu-throttle-percentage"));
	free(json);

	/* Failed during setup: no setup-time; failed after active: setup-time kept. */
	info.status = RMIG_STATE_FAILED;
	json = to_json(&info);
	assert_null(strstr(json, "setup-time"));
	assert_non_null(strstr(json, ",\"error-desc\":\"not failed, not shown\""));
	free(json);
	info.setup_time_ms = 17;
	json = to_json(&info);
	assert_non_null(strstr(json, ",\"setup-time\":17"));
	free(json);

	/* Failed with no text: no empty error-desc. */
	info.error_desc[0] = '\0';
	json = to_json(&info);
	assert_null(strstr(json, "error-desc"));
	free(json);
}

static void test_json_every_status_is_valid(void **state)
{
	(void)state;
	for (int s = 0; s < RMIG_STATE__COUNT; s++) {
		struct rmig_info info = completed_info();
		char want[64];
		char *json;

		info.status = (enum rmig_state)s;
		json = to_json(&info);
		snprintf(want, sizeof(want), "{\"status\":\"%s\"", rmig_state_get_name(info.status));
		assert_memory_equal(json, want, strlen(want));
		free(json);
	}
}

static void test_json_escaping(void **state)
{
	struct rmig_info info = completed_info();
	char *json;

	(void)state;
	info.status = RMIG_STATE_FAILED;
	snprintf(info.error_desc, sizeof(info.error_desc),
		 "peer said \"no\" at C:\\path\n\ttab\x01\x1f end \xc3\xa9 bad\xff\xc3 x");
	json = to_json(&info);
	assert_non_null(strstr(json, "\"error-desc\":\"peer said \\\"no\\\" at C:\\\\path"
				     "\\u000a\\u0009tab\\u0001\\u001f end \xc3\xa9 bad"
				     "\\ufffd\\ufffd x\""));
	free(json);

	/* Not NUL-terminated within the array: stops at the array's end. */
	memset(info.error_desc, 'e', sizeof(info.error_desc));
	json = to_json(&info);
	{
		const char *start = strstr(json, "\"error-desc\":\"") + strlen("\"error-desc\":\"");
		const char *end = strchr(start, '"');

		assert_int_equal(end - start, sizeof(info.error_desc));
	}
	free(json);
}

static void test_json_mbps(void **state)
{
	static const struct {
		double in;
		const char *out;
	} cases[] = {
		{0.0, "\"mbps\":0.000,"},	  {1.0006, "\"mbps\":1.001,"},
		{12.25, "\"mbps\":12.250,"},	  {-3.0, "\"mbps\":0.000,"},
		{NAN, "\"mbps\":0.000,"},	  {INFINITY, "\"mbps\":0.000,"},
		{40000.5, "\"mbps\":40000.500,"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rmig_info info = completed_info();
		char *json;

		info.ram.mbps = cases[i].in;
		json = to_json(&info);
		assert_non_null(strstr(json, cases[i].out));
		free(json);
	}
}

/* Every buffer length: a prefix of the full text, terminated, nothing past len. */
static void test_json_truncation(void **state)
{
	struct rmig_info info = completed_info();
	char *full;
	int need;

	(void)state;
	info.status = RMIG_STATE_FAILED;
	snprintf(info.error_desc, sizeof(info.error_desc), "x\"y\\z\n");
	full = to_json(&info);
	need = (int)strlen(full);

	for (size_t len = 0; len <= (size_t)need + 2; len++) {
		char *buf = malloc(len + 8);

		assert_non_null(buf);
		memset(buf, '#', len + 8);
		assert_int_equal(rmig_info_to_json(&info, buf, len), need);
		for (size_t i = len; i < len + 8; i++)
			assert_int_equal(buf[i], '#');
		if (len > 0) {
			size_t got = RMIG_MIN(len - 1, (size_t)need);

			assert_int_equal(buf[got], '\0');
			assert_memory_equal(buf, full, got);
		}
		free(buf);
	}
	free(full);
}

static void discard_sink(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static void test_json_errors(void **state)
{
	struct rmig_info info = completed_info();
	char buf[16];

	(void)state;
	rmig_log_set_sink(discard_sink, NULL);
	rmig_error_clear();
	assert_int_equal(rmig_info_to_json(NULL, buf, sizeof(buf)), -EINVAL);
	assert_string_not_equal(rmig_error_get_last(), "");
	assert_int_equal(rmig_info_to_json(&info, NULL, 10), -EINVAL);
	info.status = RMIG_STATE__COUNT;
	assert_int_equal(rmig_info_to_json(&info, buf, sizeof(buf)), -EINVAL);
	rmig_log_set_sink(NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_init_and_add),
		cmocka_unit_test(test_bw_window),
		cmocka_unit_test(test_bw_excludes_sleep),
		cmocka_unit_test(test_bw_more_sleep_than_time),
		cmocka_unit_test(test_bw_backwards_restarts),
		cmocka_unit_test(test_bw_huge_does_not_overflow),
		cmocka_unit_test(test_json_completed),
		cmocka_unit_test(test_json_optional_members),
		cmocka_unit_test(test_json_every_status_is_valid),
		cmocka_unit_test(test_json_escaping),
		cmocka_unit_test(test_json_mbps),
		cmocka_unit_test(test_json_truncation),
		cmocka_unit_test(test_json_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
