/* SPDX-License-Identifier: MIT */
/*
 * Error reporting.
 *
 * The rule (borrowed from UCX): the function that *detects* an error reports
 * it once, with rmig_error(), in words an operator can act on; its callers
 * only propagate the negative errno.  rmig_error() also keeps the message in
 * a per-thread slot, so the migration thread can copy the first failure into
 * the query-migrate "error-desc" field without re-deriving it.
 */
#ifndef RMIG_LOG_H
#define RMIG_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include <rmig/defs.h>

#ifdef __cplusplus
extern "C" {
#endif

enum rmig_log_level {
	RMIG_LOG_ERROR = 0,
	RMIG_LOG_WARN = 1,
	RMIG_LOG_INFO = 2,
	RMIG_LOG_DEBUG = 3,
};

#define RMIG_ERROR_MAX 512

typedef void (*rmig_log_sink_fn)(void *opaque, enum rmig_log_level level, const char *msg);

/* Default sink: "rmig: <msg>\n" on stderr for levels <= the current level. */
RMIG_API void rmig_log_set_level(enum rmig_log_level level);
RMIG_API enum rmig_log_level rmig_log_get_level(void);
/* Replace the sink (NULL restores the default).  Not for use while threads log. */
RMIG_API void rmig_log_set_sink(rmig_log_sink_fn fn, void *opaque);

RMIG_API void rmig_log(enum rmig_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
RMIG_API void rmig_vlog(enum rmig_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/*
 * Report an error: logs at RMIG_LOG_ERROR and stores the text as this
 * thread's last error.  Returns nothing; callers return their -errno.
 */
RMIG_API void rmig_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* This thread's last error text ("" when none since the last clear). */
RMIG_API const char *rmig_error_get_last(void);
RMIG_API void rmig_error_clear(void);

#define rmig_warn(...) rmig_log(RMIG_LOG_WARN, __VA_ARGS__)
#define rmig_info(...) rmig_log(RMIG_LOG_INFO, __VA_ARGS__)
#define rmig_debug(...) rmig_log(RMIG_LOG_DEBUG, __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif /* RMIG_LOG_H */
