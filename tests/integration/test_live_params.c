/* SPDX-License-Identifier: MIT */
/*
 * Parameters changed while a migration runs, as libvirt changes QEMU's
 * (virsh migrate-setspeed, migrate-setmaxdowntime): max-bandwidth,
 * downtime-limit and the cpu-throttle ones take effect, the others are
 * refused with a reason, and every migration that completes ends with
 * equal memory.  Real sockets, both ends in this process.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/base/util.h"
#include "common/engine/migration.h"
#include "common/engine/params.h"
#include "tests/support/harness.h"

#define MIB (1024ULL * 1024)

static int group_setup(void **state)
{
	(void)state;
	rmig_log_set_level(RMIG_LOG_ERROR);
	return rmig_transport_init_all() < 0 ? -1 : 0;
}

/* Wait up to @ms for a terminal state; cancel and fail past it: a limit that never changed. */
static enum rmig_state wait_bounded(struct rmig_migration *m, int ms, const char *why)
{
	uint64_t end = rmig_time_now_ns() + (uint64_t)ms * RMIG_NSEC_PER_MSEC;

	while (!rmig_state_is_terminal(rmig_migration_get_state(m))) {
		if (rmig_time_now_ns() > end) {
			rmig_migration_cancel(m);
			rmig_migration_wait(m);
			fail_msg("still running after %d ms: %s", ms, why);
		}
		usleep(10 * 1000);
	}
	return rmig_migration_wait(m);
}

static uint64_t syncs(struct rmig_migration *m)
{
	struct rmig_info info;

	rmig_migration_query(m, &info);
	return info.ram.dirty_sync_count;
}

/*
 * A guest that rewrites its RAM faster than a 1 ms downtime allows never
 * converges; raising downtime-limit while it iterates ends it.
 */
static void test_downtime_limit_raised_live(void **state)
{
	struct dest_thread d;
	struct source s;
	uint64_t end;

	(void)state;
	dest_thread_start(&d, "tcp:127.0.0.1:0");
	source_init(&s, 32 * MIB, 64 * MIB, 0.0);
	assert_int_equal(rmig_migration_set_param(s.mig, "max-bandwidth", "64M"), 0);
	assert_int_equal(rmig_migration_set_param(s.mig, "downtime-limit", "1"), 0);
	assert_int_equal(rmig_migration_start(s.mig, d.uri), 0);
	/* Three rounds in and not converging: the limit holds it back. */
	end = rmig_time_now_ns() + 20000 * RMIG_NSEC_PER_MSEC;
	while (syncs(s.mig) < 3 && rmig_time_now_ns() < end)
		usleep(10 * 1000);
	assert_true(syncs(s.mig) >= 3);
	assert_int_equal(rmig_migration_get_state(s.mig), RMIG_STATE_ACTIVE);
	assert_int_equal(rmig_migration_set_param(s.mig, "downtime-limit", "20000"), 0);
	assert_int_equal(wait_bounded(s.mig, 30000, "downtime-limit raised to 20 s"),
			 RMIG_STATE_COMPLETED);
	assert_int_equal(dest_thread_join(&d), 0);
	assert_true(ram_equal(&s.ram, &d.ram));
	source_fini(&s);
	dest_thread_fini(&d);
}

/*
 * 48 MiB at 1 MiB/s is 48 s; lifting the limit after the first MiB ends
 * it in a few.  Behaviour, not speed: the 20 s bound is far from both.
 */
static void test_max_bandwidth_lifted_live(void **state)
{
	struct dest_thread d;
	struct source s;

	(void)state;
	dest_thread_start(&d, "tcp:127.0.0.1:0");
	source_init(&s, 48 * MIB, 0, 0.0);
	assert_int_equal(rmig_migration_set_param(s.mig, "max-bandwidth", "1M"), 0);
	assert_int_equal(rmig_migration_start(s.mig, d.uri), 0);
	assert_true(wait_for_bytes(s.mig, MIB, 20000));
	assert_int_equal(rmig_migration_get_state(s.mig), RMIG_STATE_ACTIVE);
	assert_int_equal(rmig_migration_set_param(s.mig, "max-bandwidth", "0"), 0);
	assert_int_equal(wait_bounded(s.mig, 20000, "max-bandwidth lifted"),
			 RMIG_STATE_COMPLETED);
	assert_int_equal(dest_thread_join(&d), 0);
	assert_true(ram_equal(&s.ram, &d.ram));
	source_fini(&s);
	dest_thread_fini(&d);
}

/*
 * Before a round has measured the link, expected-downtime is the limit,
 * as QEMU's first approximation, not 0 ("instant").
 */
static void test_expected_downtime_before_a_measure(void **state)
{
	struct dest_thread d;
	struct source s;
	struct rmig_info info;

	(void)state;
	dest_thread_start(&d, "tcp:127.0.0.1:0");
	source_init(&s, 48 * MIB, 0, 0.0);
	assert_int_equal(rmig_migration_set_param(s.mig, "max-bandwidth", "1M"), 0);
	assert_int_equal(rmig_migration_set_param(s.mig, "downtime-limit", "777"), 0);
	assert_int_equal(rmig_migration_start(s.mig, d.uri), 0);
	assert_true(wait_for_bytes(s.mig, MIB / 2, 20000));
	rmig_migration_query(s.mig, &info);
	/* 48 MiB at 1 MiB/s: still in the bulk round, which ends the first measure. */
	assert_int_equal(info.status, RMIG_STATE_ACTIVE);
	assert_int_equal(info.ram.dirty_sync_count, 0);
	assert_true(info.has_expected_downtime);
	assert_int_equal(info.expected_downtime_ms, 777);
	assert_int_equal(rmig_migration_set_param(s.mig, "max-bandwidth", "0"), 0);
	assert_int_equal(wait_bounded(s.mig, 20000, "max-bandwidth lifted"),
			 RMIG_STATE_COMPLETED);
	assert_int_equal(dest_thread_join(&d), 0);
	assert_true(ram_equal(&s.ram, &d.ram));
	source_fini(&s);
	dest_thread_fini(&d);
}

/* What may not change live is refused with the list of what may; bad values change nothing. */
static void test_refusals_while_active(void **state)
{
	struct dest_thread d;
	struct source s;
	struct rmig_params p;

	(void)state;
	dest_thread_start(&d, "tcp:127.0.0.1:0");
	source_init(&s, 32 * MIB, 0, 0.0);
	assert_int_equal(rmig_migration_set_param(s.mig, "max-bandwidth", "2M"), 0);
	assert_int_equal(rmig_migration_start(s.mig, d.uri), 0);
	assert_true(wait_for_state(s.mig, RMIG_STATE_ACTIVE, 20000));

	rmig_error_clear();
	assert_int_equal(rmig_migration_set_param(s.mig, "peer-timeout", "5000"), -EBUSY);
	assert_non_null(strstr(rmig_error_get_last(), "cannot change peer-timeout while a "
						      "migration is active: only max-bandwidth"));
	assert_int_equal(rmig_migration_set_capability(s.mig, RMIG_CAP_VERIFY, false), -EBUSY);
	assert_int_equal(rmig_migration_set_param(s.mig, "downtime-limit", "0"), -ERANGE);
	assert_int_equal(rmig_migration_set_param(s.mig, "max-cpu-throttle", "100"), -ERANGE);
	assert_int_equal(rmig_migration_set_param(s.mig, "max-cpu-throttle", "40"), 0);
	assert_int_equal(rmig_migration_set_param(s.mig, "cpu-throttle-initial", "30"), 0);
	rmig_migration_get_params(s.mig, &p);
	assert_int_equal(p.downtime_limit_ms, RMIG_DOWNTIME_LIMIT_DEFAULT_MS);
	assert_int_equal(p.peer_timeout_ms, RMIG_PEER_TIMEOUT_DEFAULT_MS);
	assert_int_equal(p.max_cpu_throttle, 40);
	assert_int_equal(p.cpu_throttle_initial, 30);
	assert_true(p.caps[RMIG_CAP_VERIFY]);

	assert_int_equal(rmig_migration_set_param(s.mig, "max-bandwidth", "0"), 0);
	assert_int_equal(wait_bounded(s.mig, 20000, "max-bandwidth lifted"),
			 RMIG_STATE_COMPLETED);
	assert_int_equal(dest_thread_join(&d), 0);
	assert_true(ram_equal(&s.ram, &d.ram));
	/* Over: everything may change again. */
	assert_int_equal(rmig_migration_set_param(s.mig, "peer-timeout", "5000"), 0);
	source_fini(&s);
	dest_thread_fini(&d);
}

/*
 * auto-converge's throttle stops at max-cpu-throttle, and a ceiling raised
 * while it runs lets it climb.  The guest rewrites 2x its RAM per second
 * against a 1 ms downtime: only the throttle (and then a raised downtime
 * limit) can end it.
 */
static void test_max_cpu_throttle(void **state)
{
	struct dest_thread d;
	struct source s;
	struct rmig_info info;
	uint64_t top = 0, end;

	(void)state;
	dest_thread_start(&d, "tcp:127.0.0.1:0");
	source_init(&s, 32 * MIB, 64 * MIB, 0.0);
	assert_int_equal(rmig_migration_set_param(s.mig, "max-bandwidth", "32M"), 0);
	assert_int_equal(rmig_migration_set_param(s.mig, "downtime-limit", "1"), 0);
	assert_int_equal(rmig_migration_set_param(s.mig, "cpu-throttle-initial", "10"), 0);
	assert_int_equal(rmig_migration_set_param(s.mig, "cpu-throttle-increment", "10"), 0);
	assert_int_equal(rmig_migration_set_param(s.mig, "max-cpu-throttle", "20"), 0);
	assert_int_equal(rmig_migration_set_capability(s.mig, RMIG_CAP_AUTO_CONVERGE, true), 0);
	assert_int_equal(rmig_migration_start(s.mig, d.uri), 0);
	/* Enough rounds for 10 + 10 + 10 ...: held at 20. */
	end = rmig_time_now_ns() + 30000 * RMIG_NSEC_PER_MSEC;
	while (syncs(s.mig) < 7 && rmig_time_now_ns() < end) {
		rmig_migration_query(s.mig, &info);
		top = RMIG_MAX(top, info.throttle_pct);
		usleep(5 * 1000);
	}
	assert_true(syncs(s.mig) >= 7);
	assert_int_equal(top, 20);
	assert_int_equal(rmig_migration_set_param(s.mig, "max-cpu-throttle", "60"), 0);
	end = rmig_time_now_ns() + 30000 * RMIG_NSEC_PER_MSEC;
	while (top <= 20 && rmig_time_now_ns() < end) {
		rmig_migration_query(s.mig, &info);
		top = RMIG_MAX(top, info.throttle_pct);
		usleep(5 * 1000);
	}
	assert_true(top > 20 && top <= 60);
	assert_int_equal(rmig_migration_set_param(s.mig, "downtime-limit", "20000"), 0);
	assert_int_equal(wait_bounded(s.mig, 30000, "downtime-limit raised"), RMIG_STATE_COMPLETED);
	assert_int_equal(dest_thread_join(&d), 0);
	assert_true(ram_equal(&s.ram, &d.ram));
	source_fini(&s);
	dest_thread_fini(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_downtime_limit_raised_live),
		cmocka_unit_test(test_max_bandwidth_lifted_live),
		cmocka_unit_test(test_expected_downtime_before_a_measure),
		cmocka_unit_test(test_refusals_while_active),
		cmocka_unit_test(test_max_cpu_throttle),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
