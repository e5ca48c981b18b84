/* SPDX-License-Identifier: MIT */
/*
 * Counters, the bandwidth estimator and the query-migrate JSON report.
 */
#include "common/engine/stats.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "plugin/registry.h"

void rmig_stats_init(struct rmig_stats *st)
{
	atomic_init(&st->transferred, 0);
	atomic_init(&st->duplicate, 0);
	atomic_init(&st->normal, 0);
	atomic_init(&st->normal_bytes, 0);
	atomic_init(&st->total, 0);
	atomic_init(&st->remaining, 0);
	atomic_init(&st->dirty_sync_count, 0);
	atomic_init(&st->dirty_pages_rate, 0);
	atomic_init(&st->page_size, 0);
	atomic_init(&st->bandwidth, 0);
	atomic_init(&st->expected_downtime_ms, 0);
	atomic_init(&st->iterations, 0);
	atomic_init(&st->throttle_pct, 0);
	atomic_init(&st->pages_per_second, 0);
	atomic_init(&st->precopy_bytes, 0);
	atomic_init(&st->pinned_reported, false);
	atomic_init(&st->pinned_peak, 0);
	atomic_init(&st->pinned_limit, 0);
	atomic_init(&st->pinned_evicted, 0);
	atomic_init(&st->pinned_overlap_ms, 0);
	atomic_init(&st->channels, 0);
	for (size_t i = 0; i < RMIG_ARRAY_SIZE(st->channel_bytes); i++)
		atomic_init(&st->channel_bytes[i], 0);
}

void rmig_stats_note_pinning(struct rmig_stats *st, struct rmig_conn *conn)
{
	struct rmig_transport_stats ts;

	if (rmig_conn_ram_stats(conn, &ts))
		return;
	atomic_store(&st->pinned_peak, ts.pinned_peak);
	atomic_store(&st->pinned_limit, ts.pinned_limit);
	atomic_store(&st->pinned_evicted, ts.pinned_evicted);
	atomic_store(&st->pinned_overlap_ms, ts.pinned_overlap_ms);
	atomic_store(&st->pinned_reported, true);
	/* Channels the transport runs itself (rdma lanes): their bytes are its to count. */
	if (ts.channels) {
		uint32_t n = RMIG_MIN(ts.channels, (uint32_t)RMIG_ARRAY_SIZE(st->channel_bytes));

		atomic_store(&st->channels, n);
		for (uint32_t i = 0; i < n; i++)
			atomic_store(&st->channel_bytes[i], ts.channel_bytes[i]);
	}
}

void rmig_stats_get_pinning(const struct rmig_stats *st, struct rmig_info *info)
{
	info->pinned.reported = atomic_load(&st->pinned_reported);
	info->pinned.peak = atomic_load(&st->pinned_peak);
	info->pinned.limit = atomic_load(&st->pinned_limit);
	info->pinned.evicted = atomic_load(&st->pinned_evicted);
	info->pinned.overlap_ms = atomic_load(&st->pinned_overlap_ms);
}

void rmig_stats_get_multifd(const struct rmig_stats *st, struct rmig_info *info)
{
	uint32_t n = atomic_load(&st->channels);

	_Static_assert(sizeof(info->multifd.channel_bytes) == sizeof(st->channel_bytes),
		       "the snapshot must hold every channel");
	info->multifd.count = n;
	info->multifd.bytes = 0;
	for (uint32_t i = 0; i < n && i < RMIG_ARRAY_SIZE(st->channel_bytes); i++) {
		info->multifd.channel_bytes[i] = atomic_load(&st->channel_bytes[i]);
		info->multifd.bytes += info->multifd.channel_bytes[i];
	}
}

void rmig_stats_add(struct rmig_stats *st, const struct rmig_ram_counters *c)
{
	/* Relaxed: readers want recent numbers, not a consistent cut across counters. */
	atomic_fetch_add_explicit(&st->duplicate, c->zero_pages, memory_order_relaxed);
	atomic_fetch_add_explicit(&st->normal, c->normal_pages, memory_order_relaxed);
	atomic_fetch_add_explicit(&st->normal_bytes, c->normal_bytes, memory_order_relaxed);
	atomic_fetch_add_explicit(&st->transferred, c->transferred, memory_order_relaxed);
}

/* ---- bandwidth ---------------------------------------------------------- */

static void bw_restart(struct rmig_bw *bw, uint64_t now_ns, uint64_t bytes)
{
	bw->window_start_ns = now_ns;
	bw->window_start_bytes = bytes;
	bw->slept_ns = 0;
}

void rmig_bw_init(struct rmig_bw *bw, uint64_t now_ns, uint64_t bytes)
{
	bw_restart(bw, now_ns, bytes);
	bw->bytes_per_sec = 0;
}

void rmig_bw_note_sleep(struct rmig_bw *bw, uint64_t slept_ns)
{
	if (__builtin_add_overflow(bw->slept_ns, slept_ns, &bw->slept_ns))
		bw->slept_ns = UINT64_MAX;
}

bool rmig_bw_update(struct rmig_bw *bw, uint64_t now_ns, uint64_t bytes)
{
	uint64_t elapsed, busy, delta;
	unsigned __int128 rate;

	/*
	 * A clock or counter that went backwards means the caller restarted
	 * something; measuring across that would give nonsense, so start over
	 * and keep the previous estimate.
	 */
	if (now_ns < bw->window_start_ns || bytes < bw->window_start_bytes) {
		bw_restart(bw, now_ns, bytes);
		return false;
	}
	elapsed = now_ns - bw->window_start_ns;
	/* More sleep than wall time (coarse sleep accounting): no busy time yet. */
	busy = elapsed > bw->slept_ns ? elapsed - bw->slept_ns : 0;
	if (busy < RMIG_BW_WINDOW_NS)
		return false;

	delta = bytes - bw->window_start_bytes;
	rate = (unsigned __int128)delta * RMIG_NSEC_PER_SEC / busy;
	bw->bytes_per_sec = rate > UINT64_MAX ? UINT64_MAX : (uint64_t)rate;
	bw_restart(bw, now_ns, bytes);
	return true;
}

/* ---- JSON --------------------------------------------------------------- */

/* snprintf-style appender: counts everything, stores what fits. */
struct jbuf {
	char *buf;
	size_t len;
	size_t pos;
};

static void jb_putn(struct jbuf *b, const char *s, size_t n)
{
	if (b->len > 0 && b->pos < b->len - 1) {
		size_t room = b->len - 1 - b->pos;

		memcpy(b->buf + b->pos, s, RMIG_MIN(n, room));
	}
	b->pos += n;
}

static void jb_puts(struct jbuf *b, const char *s)
{
	jb_putn(b, s, strlen(s));
}

static void jb_u64(struct jbuf *b, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);

	jb_putn(b, tmp, (size_t)n);
}

/*
 * Locale-independent on purpose: printf("%f") would write "9123,4" under a
 * German LC_NUMERIC and produce invalid JSON.  Three decimals is far below
 * the noise of a bandwidth estimate.
 */
static void jb_mbps(struct jbuf *b, double v)
{
	char tmp[48];
	uint64_t milli;
	int n;

	/* JSON has no NaN or infinity; showing 0 for an absurd estimate beats breaking parsers. */
	if (!isfinite(v) || v < 0 || v >= 1e15)
		v = 0;
	milli = (uint64_t)(v * 1000.0 + 0.5);
	n = snprintf(tmp, sizeof(tmp), "%" PRIu64 ".%03u", milli / 1000, (unsigned)(milli % 1000));
	jb_putn(b, tmp, (size_t)n);
}

/* Length of a valid UTF-8 sequence at s (at most n bytes), or 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	/* Second-byte limits that exclude overlong forms, surrogates and > U+10FFFF. */
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/*
 * Error texts can embed anything (paths, peer data), but JSON must be valid
 * UTF-8, so bytes that are not are replaced with U+FFFD.
 */
static void jb_string(struct jbuf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	jb_putn(b, "\"", 1);
	while (i < n) {
		unsigned char c = p[i];
		char esc[8];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			jb_putn(b, esc, 2);
			i++;
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			jb_putn(b, esc, 6);
			i++;
		} else if (c < 0x80) {
			jb_putn(b, (const char *)&p[i], 1);
			i++;
		} else {
			size_t len = utf8_seq_len(&p[i], n - i);

			if (len) {
				jb_putn(b, (const char *)&p[i], len);
				i += len;
			} else {
				jb_puts(b, "\\ufffd");
				i++;
			}
		}
	}
	jb_putn(b, "\"", 1);
}

static void jb_member_u64(struct jbuf *b, const char *name, uint64_t v)
{
	jb_puts(b, ",\"");
	jb_puts(b, name);
	jb_puts(b, "\":");
	jb_u64(b, v);
}

static bool setup_time_meaningful(const struct rmig_info *info)
{
	switch (info->status) {
	case RMIG_STATE_NONE:
	case RMIG_STATE_SETUP:
		return false;
	case RMIG_STATE_ACTIVE:
	case RMIG_STATE_COMPLETED:
		return true;
	default:
		/* Cancelled/failed: only if setup finished, i.e. active was reached. */
		return info->setup_time_ms != 0;
	}
}

int rmig_info_to_json(const struct rmig_info *info, char *buf, size_t len)
{
	struct jbuf b = {.buf = buf, .len = len, .pos = 0};

	if (!info || (!buf && len)) {
		rmig_error("query-migrate report: no %s given", info ? "buffer" : "snapshot");
		return -EINVAL;
	}
	if ((unsigned)info->status >= RMIG_STATE__COUNT) {
		rmig_error("query-migrate report: invalid migration state %d", (int)info->status);
		return -EINVAL;
	}

	jb_puts(&b, "{\"status\":\"");
	jb_puts(&b, rmig_state_get_name(info->status));
	jb_puts(&b, "\"");
	jb_member_u64(&b, "total-time", info->total_time_ms);
	if (setup_time_meaningful(info))
		jb_member_u64(&b, "setup-time", info->setup_time_ms);
	if (info->has_downtime)
		jb_member_u64(&b, "downtime", info->downtime_ms);
	if (info->has_expected_downtime)
		jb_member_u64(&b, "expected-downtime", info->expected_downtime_ms);
	if (info->throttle_pct)
		jb_member_u64(&b, "cpu-throttle-percentage", info->throttle_pct);
	if ((info->status == RMIG_STATE_FAILED || info->status == RMIG_STATE_IN_DOUBT) &&
	    info->error_desc[0]) {
		jb_puts(&b, ",\"error-desc\":");
		/* strnlen: the snapshot may have been filled with a truncating copy. */
		jb_string(&b, info->error_desc,
			  strnlen(info->error_desc, sizeof(info->error_desc)));
	}

	jb_puts(&b, ",\"ram\":{\"transferred\":");
	jb_u64(&b, info->ram.transferred);
	jb_member_u64(&b, "remaining", info->ram.remaining);
	jb_member_u64(&b, "total", info->ram.total);
	jb_member_u64(&b, "duplicate", info->ram.duplicate);
	jb_member_u64(&b, "normal", info->ram.normal);
	jb_member_u64(&b, "normal-bytes", info->ram.normal_bytes);
	jb_member_u64(&b, "dirty-pages-rate", info->ram.dirty_pages_rate);
	jb_puts(&b, ",\"mbps\":");
	jb_mbps(&b, info->ram.mbps);
	jb_member_u64(&b, "dirty-sync-count", info->ram.dirty_sync_count);
	/*
	 * QEMU's MigrationStats makes these members mandatory, so a client
	 * generated from its schema needs them even where rmig has nothing to
	 * count: no postcopy, no zero-copy send, and no channels without multifd.
	 */
	jb_member_u64(&b, "postcopy-requests", 0);
	jb_member_u64(&b, "page-size", info->ram.page_size);
	jb_member_u64(&b, "multifd-bytes", info->multifd.count ? info->multifd.bytes : 0);
	jb_member_u64(&b, "pages-per-second", info->ram.pages_per_second);
	jb_member_u64(&b, "precopy-bytes", info->ram.precopy_bytes);
	jb_member_u64(&b, "downtime-bytes", info->ram.downtime_bytes);
	jb_member_u64(&b, "postcopy-bytes", 0);
	jb_member_u64(&b, "dirty-sync-missed-zero-copy", 0);
	jb_puts(&b, "}");
	if (info->multifd.count) {
		uint32_t n = RMIG_MIN(info->multifd.count, (uint32_t)RMIG_ARRAY_SIZE(
							       info->multifd.channel_bytes));

		jb_puts(&b, ",\"x-rmig-channels\":[");
		for (uint32_t i = 0; i < n; i++) {
			jb_puts(&b, i ? ",{\"bytes\":" : "{\"bytes\":");
			jb_u64(&b, info->multifd.channel_bytes[i]);
			jb_puts(&b, "}");
		}
		jb_puts(&b, "]");
	}
	if (info->pinned.reported) {
		jb_puts(&b, ",\"x-rmig-pinned\":{\"peak\":");
		jb_u64(&b, info->pinned.peak);
		jb_member_u64(&b, "limit", info->pinned.limit);
		jb_member_u64(&b, "evicted", info->pinned.evicted);
		jb_member_u64(&b, "overlap-ms", info->pinned.overlap_ms);
		jb_puts(&b, "}");
	}
	jb_puts(&b, "}");

	if (len > 0)
		buf[RMIG_MIN(b.pos, len - 1)] = '\0';
	/* Bounded by the fixed-size snapshot (a few KiB at most), so it fits an int. */
	return (int)b.pos;
}
