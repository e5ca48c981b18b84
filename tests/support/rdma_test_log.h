/* SPDX-License-Identifier: MIT */
/*
 * Shared by the rdma protocol tests: swallow log output (failure paths are
 * exercised on purpose) and let a test check what the last error said.
 */
#ifndef RMIG_RDMA_TEST_LOG_H
#define RMIG_RDMA_TEST_LOG_H

#include <string.h>

#include <rmig/log.h>

static unsigned rdma_test_warnings;

static void rdma_test_quiet_sink(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque;
	(void)msg;
	if (level == RMIG_LOG_WARN)
		rdma_test_warnings++;
}

static int rdma_test_setup(void **state)
{
	(void)state;
	rmig_log_set_sink(rdma_test_quiet_sink, NULL);
	rmig_log_set_level(RMIG_LOG_WARN);
	rmig_error_clear();
	rdma_test_warnings = 0;
	return 0;
}

static int rdma_test_teardown(void **state)
{
	(void)state;
	rmig_log_set_sink(NULL, NULL);
	return 0;
}

#define assert_error_mentions(word)                                                                \
	do {                                                                                       \
		const char *e_ = rmig_error_get_last();                                                \
		if (!strstr(e_, (word)))                                                           \
			fail_msg("error \"%s\" does not mention \"%s\"", e_, (word));              \
	} while (0)

#define RDMA_TEST(fn) cmocka_unit_test_setup_teardown(fn, rdma_test_setup, rdma_test_teardown)

#endif /* RMIG_RDMA_TEST_LOG_H */
