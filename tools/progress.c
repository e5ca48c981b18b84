/* SPDX-License-Identifier: MIT */
/*
 * stderr while a migration runs: the live progress line, and the log sink
 * that lets library messages (from any thread) through without tearing it.
 *
 * Both write under one lock.  The line is redrawn in place with "\r" and
 * erased with "\033[K" (clear to end of line); it is only ever drawn when
 * stderr is a terminal, so pipes and log files never see an escape code.
 * A message erases the line, prints itself and leaves the line for the
 * next tick to redraw (~200 ms later).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "common/engine/params.h"
#include "tools/cli.h"

static pthread_mutex_t term_lock = PTHREAD_MUTEX_INITIALIZER;
static bool line_drawn; /* the progress line is on screen, cursor at its end */
/* Per thread: the QMP monitor's thread mutes itself for good, its client gets the errors. */
static __thread bool log_muted;

/*
 * The last few errors printed, so the final report can skip error-desc
 * when it is a message the user already saw.  Failures cascade in a few
 * lines at most; eight is plenty.
 */
#define PRINTED_KEEP 8
static char printed[PRINTED_KEEP][RMIG_ERROR_MAX];
static unsigned printed_next;

/* Caller holds term_lock. */
static void erase_line_locked(void)
{
	if (line_drawn) {
		fputs("\r\033[K", stderr);
		line_drawn = false;
	}
}

static void cli_sink(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque;
	pthread_mutex_lock(&term_lock);
	if (log_muted && level == RMIG_LOG_ERROR)
		goto out_unlock;
	erase_line_locked();
	fprintf(stderr, "rmig: %s%s\n", level == RMIG_LOG_WARN ? "warning: " : "", msg);
	if (level == RMIG_LOG_ERROR) {
		snprintf(printed[printed_next], sizeof(printed[0]), "%s", msg);
		printed_next = (printed_next + 1) % PRINTED_KEEP;
	}
out_unlock:
	pthread_mutex_unlock(&term_lock);
}

void cli_log_install(int verbose)
{
	rmig_log_set_level(verbose >= 2	  ? RMIG_LOG_DEBUG
			   : verbose == 1 ? RMIG_LOG_INFO
					  : RMIG_LOG_WARN);
	rmig_log_set_sink(cli_sink, NULL);
}

void cli_log_mute(bool muted)
{
	log_muted = muted;
}

bool cli_log_was_printed(const char *msg)
{
	bool found = false;

	if (!msg || !*msg)
		return false;
	pthread_mutex_lock(&term_lock);
	for (unsigned i = 0; i < PRINTED_KEEP && !found; i++)
		found = strcmp(printed[i], msg) == 0;
	pthread_mutex_unlock(&term_lock);
	return found;
}

void cli_msg(const char *fmt, ...)
{
	char msg[RMIG_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&term_lock);
	erase_line_locked();
	fprintf(stderr, "rmig: %s\n", msg);
	pthread_mutex_unlock(&term_lock);
}

const char *cli_format_rate(double bytes_per_sec, char *buf, unsigned len)
{
	char size[24]; /* "1023.96 EiB" at most */

	if (bytes_per_sec < 0)
		bytes_per_sec = 0;
	rmig_size_format((uint64_t)bytes_per_sec, size, sizeof(size));
	snprintf(buf, len, "%s/s", size);
	return buf;
}

void cli_progress_init(struct cli_progress *p, bool enabled)
{
	memset(p, 0, sizeof(*p));
	p->enabled = enabled;
	p->start_ns = rmig_time_now_ns();
}

/*
 * Throughput over the last second or so: instantaneous 200 ms deltas jump
 * around with scheduling, a whole-run average hides a stall.
 */
static double recent_rate(struct cli_progress *p, uint64_t now, uint64_t bytes)
{
	unsigned n = RMIG_ARRAY_SIZE(p->t_ns), oldest;
	double rate = 0;

	if (p->nsamples > 0) {
		oldest = (p->head + n - p->nsamples) % n;
		if (now > p->t_ns[oldest] && bytes >= p->bytes[oldest])
			rate = (double)(bytes - p->bytes[oldest]) * 1e9 /
			       (double)(now - p->t_ns[oldest]);
	}
	p->t_ns[p->head] = now;
	p->bytes[p->head] = bytes;
	p->head = (p->head + 1) % n;
	if (p->nsamples < 5) /* 5 x 200 ms */
		p->nsamples++;
	return rate;
}

/* The bulk round sends everything once; dirty_sync_count is still 0 while it runs. */
static bool in_bulk_round(const struct rmig_info *info)
{
	return info->ram.dirty_sync_count == 0;
}

static void format_source_line(char *line, size_t len, const struct rmig_info *info, double rate)
{
	char r[32], rem[32], dirty[32];
	size_t n;

	n = (size_t)snprintf(line, len, "[%s]", rmig_state_get_name(info->status));
	if (info->status == RMIG_STATE_SETUP) {
		snprintf(line + n, len - n, " connecting  %.1f s",
			 (double)info->total_time_ms / 1e3);
		return;
	}
	if (info->ram.total && in_bulk_round(info) && info->ram.remaining <= info->ram.total)
		n += (size_t)snprintf(line + n, len - n, " %5.1f%%",
				      100.0 * (double)(info->ram.total - info->ram.remaining) /
					  (double)info->ram.total);
	rmig_size_format(info->ram.remaining, rem, sizeof(rem));
	/* The dirty rate is measured at each sync; before the first one there is none yet. */
	if (in_bulk_round(info))
		snprintf(dirty, sizeof(dirty), "-");
	else
		cli_format_rate((double)(info->ram.dirty_pages_rate * info->ram.page_size), dirty,
				sizeof(dirty));
	n += (size_t)snprintf(line + n, len - n, "  %s  remaining %s  dirty %s",
			      cli_format_rate(rate, r, sizeof(r)), rem, dirty);
	if (n < len && in_bulk_round(info))
		n += (size_t)snprintf(line + n, len - n, "  bulk round");
	else if (n < len)
		n += (size_t)snprintf(line + n, len - n, "  round %" PRIu64,
				      info->ram.dirty_sync_count);
	if (info->throttle_pct && n < len)
		snprintf(line + n, len - n, "  throttle %" PRIu64 "%%", info->throttle_pct);
}

static void format_dest_line(char *line, size_t len, const struct rmig_info *info, double rate,
			     double waited_s)
{
	char r[32], got[32];

	if (info->status == RMIG_STATE_SETUP || info->status == RMIG_STATE_NONE) {
		snprintf(line, len, "[%s] waiting for the source  %.1f s",
			 rmig_state_get_name(info->status), waited_s);
		return;
	}
	rmig_size_format(info->ram.transferred, got, sizeof(got));
	snprintf(line, len, "[%s] received %s  %s", rmig_state_get_name(info->status), got,
		 cli_format_rate(rate, r, sizeof(r)));
}

void cli_progress_draw(struct cli_progress *p, const struct rmig_info *info, bool receiving)
{
	char line[160];
	uint64_t now = rmig_time_now_ns();
	double rate = recent_rate(p, now, info->ram.transferred);

	if (!p->enabled)
		return;
	if (receiving)
		format_dest_line(line, sizeof(line), info, rate, (double)(now - p->start_ns) / 1e9);
	else
		format_source_line(line, sizeof(line), info, rate);
	pthread_mutex_lock(&term_lock);
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	line_drawn = true;
	pthread_mutex_unlock(&term_lock);
}

void cli_progress_clear(void)
{
	pthread_mutex_lock(&term_lock);
	erase_line_locked();
	fflush(stderr);
	pthread_mutex_unlock(&term_lock);
}
