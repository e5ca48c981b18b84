/* SPDX-License-Identifier: MIT */
/* The max-bandwidth limiter's arithmetic (common/engine/ratelimit.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/engine/ratelimit.h"

#define MS  1000000ULL
#define S   1000000000ULL
#define MIB (1024ULL * 1024)
#define T0  (1000 * S) /* any clock reading; not 0, so a clock before it can be tried */

/*
 * A limit set live after an unlimited stretch bills only what is sent from
 * then on: 256 MiB sent unlimited, then a 4 MiB/s limit, owes the next MiB's
 * 250 ms, not the ~60 s the whole stretch would take at the new rate.
 */
static void test_unlimited_stretch_is_forgiven(void **state)
{
	struct rmig_ratelimit rl;
	uint64_t now = T0;

	(void)state;
	rmig_ratelimit_reset(&rl, now);
	for (int i = 0; i < 256; i++) {
		rmig_ratelimit_add(&rl, MIB);
		now += 15 * MS;
		assert_int_equal(rmig_ratelimit_owed_ns(&rl, 0, now), 0);
	}
	rmig_ratelimit_add(&rl, MIB);
	now += 1 * MS;
	assert_in_range(rmig_ratelimit_owed_ns(&rl, 4 * MIB, now), 240 * MS, 250 * MS);
}

/* Sending at the limit, a slice's worth per slice, never waits. */
static void test_at_the_limit_no_wait(void **state)
{
	const uint64_t limit = 100 * MIB, per_slice = limit / (S / RMIG_RATELIMIT_SLICE_NS);
	struct rmig_ratelimit rl;
	uint64_t now = T0;

	(void)state;
	rmig_ratelimit_reset(&rl, now);
	for (int i = 0; i < 100; i++) {
		now += RMIG_RATELIMIT_SLICE_NS;
		rmig_ratelimit_add(&rl, per_slice);
		assert_int_equal(rmig_ratelimit_owed_ns(&rl, limit, now), 0);
	}
}

/* A burst of 10 MiB at once, at 10 MiB/s, owes a second. */
static void test_burst_owes_its_time(void **state)
{
	struct rmig_ratelimit rl;

	(void)state;
	rmig_ratelimit_reset(&rl, T0);
	rmig_ratelimit_add(&rl, 10 * MIB);
	assert_in_range(rmig_ratelimit_owed_ns(&rl, 10 * MIB, T0), S - MS, S);
	/* After the wait the caller resets: nothing more is owed. */
	rmig_ratelimit_reset(&rl, T0 + S);
	assert_int_equal(rmig_ratelimit_owed_ns(&rl, 10 * MIB, T0 + S), 0);
}

/*
 * Debt older than a slice carries forward, less what the elapsed time
 * allowed: 2 MiB at 1 MiB/s, looked at 20 ms later, owes 1.98 s.
 */
static void test_debt_carries_over_slices(void **state)
{
	struct rmig_ratelimit rl;
	uint64_t owed;

	(void)state;
	rmig_ratelimit_reset(&rl, T0);
	rmig_ratelimit_add(&rl, 2 * MIB);
	owed = rmig_ratelimit_owed_ns(&rl, MIB, T0 + 20 * MS);
	assert_in_range(owed, 1979 * MS, 1981 * MS);
	/* Asked again at once, the same debt: nothing was forgotten or counted twice. */
	assert_in_range(rmig_ratelimit_owed_ns(&rl, MIB, T0 + 20 * MS), owed - MS, owed);
}

/* A clock reading older than the slice's start (taken before a reset) owes no more, never wraps. */
static void test_clock_behind_the_slice(void **state)
{
	struct rmig_ratelimit rl;

	(void)state;
	rmig_ratelimit_reset(&rl, T0);
	rmig_ratelimit_add(&rl, MIB);
	assert_in_range(rmig_ratelimit_owed_ns(&rl, MIB, T0 - 5 * MS), S - MS, S);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unlimited_stretch_is_forgiven),
		cmocka_unit_test(test_at_the_limit_no_wait),
		cmocka_unit_test(test_burst_owes_its_time),
		cmocka_unit_test(test_debt_carries_over_slices),
		cmocka_unit_test(test_clock_behind_the_slice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
