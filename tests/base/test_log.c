/* SPDX-License-Identifier: MIT */
/* Logging: level filtering, sinks, and the per-thread last error. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <rmig/log.h>

struct capture {
	unsigned count;
	enum rmig_log_level level;
	char msg[2048];
};

static void capture_sink(void *opaque, enum rmig_log_level level, const char *msg)
{
	struct capture *c = opaque;

	c->count++;
	c->level = level;
	snprintf(c->msg, sizeof(c->msg), "%s", msg);
}

static int reset(void **state)
{
	(void)state;
	rmig_log_set_sink(NULL, NULL);
	rmig_log_set_level(RMIG_LOG_WARN);
	rmig_error_clear();
	return 0;
}

/* Read in main() before any test can change it. */
static enum rmig_log_level initial_level;

static void test_default_level_is_warn(void **state)
{
	(void)state;
	assert_int_equal(initial_level, RMIG_LOG_WARN);
	rmig_log_set_level(RMIG_LOG_DEBUG);
	assert_int_equal(rmig_log_get_level(), RMIG_LOG_DEBUG);
	rmig_log_set_level(RMIG_LOG_ERROR);
	assert_int_equal(rmig_log_get_level(), RMIG_LOG_ERROR);
}

static void test_out_of_range_level_is_clamped(void **state)
{
	(void)state;
	rmig_log_set_level((enum rmig_log_level)42);
	assert_int_equal(rmig_log_get_level(), RMIG_LOG_DEBUG);
	rmig_log_set_level((enum rmig_log_level)-3);
	assert_int_equal(rmig_log_get_level(), RMIG_LOG_ERROR);
}

static void test_level_filters_messages(void **state)
{
	struct capture c = {0};

	(void)state;
	rmig_log_set_sink(capture_sink, &c);
	rmig_info("info %d", 1);
	rmig_debug("debug %d", 2);
	assert_int_equal(c.count, 0);

	rmig_warn("warn %d", 3);
	assert_int_equal(c.count, 1);
	assert_int_equal(c.level, RMIG_LOG_WARN);
	assert_string_equal(c.msg, "warn 3");

	rmig_log_set_level(RMIG_LOG_DEBUG);
	rmig_debug("debug %s", "now");
	assert_int_equal(c.count, 2);
	assert_int_equal(c.level, RMIG_LOG_DEBUG);
	assert_string_equal(c.msg, "debug now");

	rmig_log_set_level(RMIG_LOG_ERROR);
	rmig_warn("dropped");
	assert_int_equal(c.count, 2);
	/* Errors get through at every level. */
	rmig_error("boom");
	assert_int_equal(c.count, 3);
	assert_int_equal(c.level, RMIG_LOG_ERROR);
	assert_string_equal(c.msg, "boom");
}

static void test_error_sets_last_and_clear_resets(void **state)
{
	struct capture c = {0};

	(void)state;
	rmig_log_set_sink(capture_sink, &c);
	assert_string_equal(rmig_error_get_last(), "");
	rmig_error("cannot connect to %s:%d", "10.0.0.1", 4444);
	assert_string_equal(rmig_error_get_last(), "cannot connect to 10.0.0.1:4444");
	assert_string_equal(c.msg, rmig_error_get_last());

	rmig_error("second");
	assert_string_equal(rmig_error_get_last(), "second");

	/* Plain log lines do not touch the last error. */
	rmig_warn("just a warning");
	assert_string_equal(rmig_error_get_last(), "second");

	rmig_error_clear();
	assert_string_equal(rmig_error_get_last(), "");
}

static void test_trailing_newline_is_stripped(void **state)
{
	struct capture c = {0};

	(void)state;
	rmig_log_set_sink(capture_sink, &c);
	rmig_error("with newline\n");
	assert_string_equal(rmig_error_get_last(), "with newline");
	rmig_warn("warned\n\n");
	assert_string_equal(c.msg, "warned");
}

static void test_long_error_is_truncated(void **state)
{
	struct capture c = {0};
	char big[RMIG_ERROR_MAX * 2];

	(void)state;
	rmig_log_set_sink(capture_sink, &c);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	rmig_error("%s", big);
	assert_int_equal(strlen(rmig_error_get_last()), RMIG_ERROR_MAX - 1);
	assert_memory_equal(rmig_error_get_last(), big, RMIG_ERROR_MAX - 1);
}

static void test_errno_is_preserved(void **state)
{
	struct capture c = {0};

	(void)state;
	rmig_log_set_sink(capture_sink, &c);
	errno = ENOENT;
	rmig_error("open failed: %m");
	assert_int_equal(errno, ENOENT);
	assert_string_equal(rmig_error_get_last(), "open failed: No such file or directory");
	errno = EAGAIN;
	rmig_warn("again");
	assert_int_equal(errno, EAGAIN);
}

struct thread_result {
	char seen_at_start[RMIG_ERROR_MAX];
	char seen_at_end[RMIG_ERROR_MAX];
	pthread_barrier_t *barrier;
};

static void *error_thread(void *arg)
{
	struct thread_result *r = arg;

	snprintf(r->seen_at_start, sizeof(r->seen_at_start), "%s", rmig_error_get_last());
	rmig_error("thread failure %d", 7);
	/* Let main report its own error while ours is set. */
	pthread_barrier_wait(r->barrier);
	pthread_barrier_wait(r->barrier);
	snprintf(r->seen_at_end, sizeof(r->seen_at_end), "%s", rmig_error_get_last());
	return NULL;
}

static void test_last_error_is_per_thread(void **state)
{
	struct capture c = {0};
	pthread_barrier_t barrier;
	struct thread_result r = {.barrier = &barrier};
	pthread_t t;

	(void)state;
	/* The capture sink is not thread-safe; the default one is, but it is noisy. */
	rmig_log_set_sink(capture_sink, &c);
	assert_int_equal(pthread_barrier_init(&barrier, NULL, 2), 0);
	rmig_error("main failure");
	assert_int_equal(pthread_create(&t, NULL, error_thread, &r), 0);
	pthread_barrier_wait(&barrier);
	/* Thread has reported its error; ours must be untouched. */
	assert_string_equal(rmig_error_get_last(), "main failure");
	rmig_error_clear();
	pthread_barrier_wait(&barrier);
	assert_int_equal(pthread_join(t, NULL), 0);
	pthread_barrier_destroy(&barrier);

	assert_string_equal(r.seen_at_start, "");
	assert_string_equal(r.seen_at_end, "thread failure 7");
	assert_string_equal(rmig_error_get_last(), "");
}

static void test_default_sink_writes_stderr(void **state)
{
	struct capture c = {0};
	char buf[256] = {0};
	FILE *tmp = tmpfile();
	int saved, n;

	(void)state;
	assert_non_null(tmp);
	/* Install and remove a sink first: NULL must bring the default back. */
	rmig_log_set_sink(capture_sink, &c);
	rmig_log_set_sink(NULL, &c);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);

	rmig_warn("to stderr %d", 5);
	rmig_info("filtered");
	rmig_error("bad thing");
	fflush(stderr);

	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	rewind(tmp);
	n = (int)fread(buf, 1, sizeof(buf) - 1, tmp);
	fclose(tmp);
	assert_true(n > 0);
	assert_string_equal(buf, "rmig: to stderr 5\nrmig: bad thing\n");
	assert_int_equal(c.count, 0);
}

static void vlog_helper(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void vlog_helper(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rmig_vlog(RMIG_LOG_WARN, fmt, ap);
	va_end(ap);
}

static void test_vlog(void **state)
{
	struct capture c = {0};

	(void)state;
	rmig_log_set_sink(capture_sink, &c);
	vlog_helper("%s=%u", "pages", 12u);
	assert_int_equal(c.count, 1);
	assert_string_equal(c.msg, "pages=12");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_default_level_is_warn, reset, reset),
		cmocka_unit_test_setup_teardown(test_out_of_range_level_is_clamped, reset, reset),
		cmocka_unit_test_setup_teardown(test_level_filters_messages, reset, reset),
		cmocka_unit_test_setup_teardown(test_error_sets_last_and_clear_resets, reset,
						reset),
		cmocka_unit_test_setup_teardown(test_trailing_newline_is_stripped, reset, reset),
		cmocka_unit_test_setup_teardown(test_long_error_is_truncated, reset, reset),
		cmocka_unit_test_setup_teardown(test_errno_is_preserved, reset, reset),
		cmocka_unit_test_setup_teardown(test_last_error_is_per_thread, reset, reset),
		cmocka_unit_test_setup_teardown(test_default_sink_writes_stderr, reset, reset),
		cmocka_unit_test_setup_teardown(test_vlog, reset, reset),
	};

	initial_level = rmig_log_get_level();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
