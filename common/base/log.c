/* SPDX-License-Identifier: MIT */
/*
 * Logging and per-thread last-error.  Nothing here allocates: messages are
 * formatted into stack or thread-local buffers and silently truncated, so
 * reporting an error can never itself fail (e.g. after ENOMEM).
 */
#include <rmig/log.h>

#include "common/base/logmute.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Longer than an error so debug dumps keep more context; still on the stack. */
#define RMIG_LOG_LINE_MAX 1024

static void default_sink(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	/* One stdio call, so lines from concurrent threads never interleave. */
	fprintf(stderr, "rmig: %s\n", msg);
}

static _Atomic int log_level = RMIG_LOG_WARN;
/* Plain variables: the header forbids changing the sink while threads log. */
static rmig_log_sink_fn log_sink = default_sink;
static void *log_sink_opaque;

static _Thread_local char last_error[RMIG_ERROR_MAX];
static _Thread_local bool log_muted;

static enum rmig_log_level clamp_level(int level)
{
	if (level < RMIG_LOG_ERROR)
		return RMIG_LOG_ERROR;
	if (level > RMIG_LOG_DEBUG)
		return RMIG_LOG_DEBUG;
	return (enum rmig_log_level)level;
}

void rmig_log_set_level(enum rmig_log_level level)
{
	atomic_store_explicit(&log_level, (int)clamp_level((int)level), memory_order_relaxed);
}

enum rmig_log_level rmig_log_get_level(void)
{
	return (enum rmig_log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

void rmig_log_set_sink(rmig_log_sink_fn fn, void *opaque)
{
	if (!fn) {
		log_sink = default_sink;
		log_sink_opaque = NULL;
		return;
	}
	log_sink = fn;
	log_sink_opaque = opaque;
}

static bool level_enabled(enum rmig_log_level level)
{
	return (int)level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

/*
 * Callers sometimes end a format with "\n" out of printf habit; the sink adds
 * its own, and "error-desc" in the JSON report should not carry one either.
 */
static void strip_newline(char *msg)
{
	size_t n = strlen(msg);

	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
}

/* Saves errno so "%m" works and so logging never disturbs the caller's errno. */
static void format_message(char *buf, size_t size, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void format_message(char *buf, size_t size, const char *fmt, va_list ap)
{
	int saved = errno;

	if (vsnprintf(buf, size, fmt, ap) < 0)
		buf[0] = '\0';
	strip_newline(buf);
	errno = saved;
}

void rmig_vlog(enum rmig_log_level level, const char *fmt, va_list ap)
{
	char msg[RMIG_LOG_LINE_MAX];
	int saved = errno;

	level = clamp_level((int)level);
	if (!level_enabled(level) || !fmt || log_muted)
		return;
	format_message(msg, sizeof(msg), fmt, ap);
	log_sink(log_sink_opaque, level, msg);
	errno = saved;
}

void rmig_log(enum rmig_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rmig_vlog(level, fmt, ap);
	va_end(ap);
}

void rmig_error(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (!fmt || log_muted)
		return;
	va_start(ap, fmt);
	format_message(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	/* ERROR is the lowest level, so it is always enabled. */
	log_sink(log_sink_opaque, RMIG_LOG_ERROR, last_error);
	errno = saved;
}

const char *rmig_error_get_last(void)
{
	return last_error;
}

void rmig_error_clear(void)
{
	last_error[0] = '\0';
}

void rmig_log_mute(bool on)
{
	log_muted = on;
}
