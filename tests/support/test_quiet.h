/* SPDX-License-Identifier: MIT */
/*
 * Group setup/teardown for tests that provoke errors on purpose: the
 * library's messages are swallowed so the test output stays readable
 * (tests that check a message use rmig_error_get_last()).
 */
#ifndef RMIG_TEST_QUIET_H
#define RMIG_TEST_QUIET_H

#include <stdlib.h>

#include <rmig/log.h>

#include "common/engine/format.h"
#include "common/engine/transports.h"

static inline void quiet(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static inline int setup_quiet(void **state)
{
	(void)state;
	rmig_log_set_sink(quiet, NULL);
	rmig_error_clear();
	return 0;
}

static inline int teardown_quiet(void **state)
{
	(void)state;
	rmig_log_set_sink(NULL, NULL);
	rmig_load_set_max_ram(0);
	return 0;
}

/* setup_quiet() with the built-in transports registered, and no module directory searched. */
static inline int setup_quiet_transports(void **state)
{
	setenv("RMIG_PLUGIN_DIR", "", 1);
	if (rmig_transport_init_all() < 0)
		return -1;
	return setup_quiet(state);
}

/* Fail with the library's own error text when a call returns a negative errno. */
#define assert_ok(expr)                                                                            \
	do {                                                                                       \
		long long r_ = (expr);                                                             \
		if (r_ < 0)                                                                        \
			fail_msg("%s = %lld: %s", #expr, r_, rmig_error_get_last());                   \
	} while (0)

#define assert_error_has(text)                                                                     \
	do {                                                                                       \
		if (!strstr(rmig_error_get_last(), text))                                              \
			fail_msg("error '%s' lacks '%s'", rmig_error_get_last(), text);                \
	} while (0)

#endif /* RMIG_TEST_QUIET_H */
