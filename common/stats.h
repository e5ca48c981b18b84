/* SPDX-License-Identifier: MIT */
/*
 * Migration statistics and the query-migrate report.
 *
 * Counters are updated by the migration thread (and by transports through
 * struct rmig_ram_counters) and read at any moment by other threads, so they
 * are relaxed atomics.  rmig_info is the consistent, plain-C snapshot that
 * reports are made from; its JSON uses QEMU's query-migrate field names so
 * management tools that already parse QEMU need nothing new.
 */
#ifndef RMIG_STATS_H
#define RMIG_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state.h"

/* What a transport reports back for pages it placed itself (RDMA). */
struct rmig_ram_counters {
	uint64_t zero_pages;   /* pages sent as "zero" markers (duplicate) */
	uint64_t normal_pages; /* pages whose contents were sent */
	uint64_t normal_bytes; /* contents bytes of those pages */
	uint64_t transferred;  /* bytes that crossed the wire, headers included */
};

struct rmig_stats {
	_Atomic uint64_t transferred;	   /* bytes on the wire, all sources */
	_Atomic uint64_t duplicate;	   /* zero pages */
	_Atomic uint64_t normal;	   /* pages sent with contents */
	_Atomic uint64_t normal_bytes;
	_Atomic uint64_t total;		   /* bytes of RAM being migrated */
	_Atomic uint64_t remaining;	   /* dirty bytes still to send */
	_Atomic uint64_t dirty_sync_count; /* dirty-log syncs so far */
	_Atomic uint64_t dirty_pages_rate; /* pages/s dirtied, last round */
	_Atomic uint64_t page_size;
	_Atomic uint64_t bandwidth;	   /* bytes/s, last complete window */
	_Atomic uint64_t expected_downtime_ms;
	_Atomic uint64_t iterations;	   /* rounds started, bulk included */
	_Atomic uint64_t throttle_pct;	   /* current auto-converge throttle */
};

void rmig_stats_init(struct rmig_stats *st);
void rmig_stats_add(struct rmig_stats *st, const struct rmig_ram_counters *c);

/*
 * Bandwidth estimator over ~100 ms windows.  Time the migration thread spent
 * sleeping for the rate limit is excluded, so a throttled migration does not
 * under-estimate what the link can do and delay switch-over forever.
 */
#define RMIG_BW_WINDOW_NS (100ULL * 1000 * 1000)

struct rmig_bw {
	uint64_t window_start_ns;
	uint64_t window_start_bytes;
	uint64_t slept_ns;	/* rate-limit sleep inside the current window */
	uint64_t bytes_per_sec; /* last estimate; 0 until the first window closes */
};

void rmig_bw_init(struct rmig_bw *bw, uint64_t now_ns, uint64_t bytes);
void rmig_bw_note_sleep(struct rmig_bw *bw, uint64_t slept_ns);
/*
 * Feed the running byte total.  When at least RMIG_BW_WINDOW_NS of
 * non-sleeping time has passed, closes the window, updates bytes_per_sec and
 * returns true.
 */
bool rmig_bw_update(struct rmig_bw *bw, uint64_t now_ns, uint64_t bytes);

/* Snapshot, in query-migrate terms.  Times in ms; mbps is Mbit/s (10^6). */
struct rmig_info {
	enum rmig_state status;
	uint64_t total_time_ms;	 /* setup -> now, or -> end when terminal */
	uint64_t setup_time_ms;	 /* setup -> active (0 until active) */
	uint64_t downtime_ms;	 /* guest stopped -> completed */
	bool has_downtime;	 /* only once completed */
	uint64_t expected_downtime_ms;
	bool has_expected_downtime; /* only while active */
	uint64_t throttle_pct;	 /* "cpu-throttle-percentage" */
	struct {
		uint64_t transferred, remaining, total, duplicate, normal, normal_bytes;
		uint64_t dirty_pages_rate, dirty_sync_count, page_size;
		double mbps;
	} ram;
	char error_desc[512];	 /* set when status == failed */
};

/*
 * Writes the query-migrate object, e.g.
 *   {"status":"completed","total-time":1234,"setup-time":5,"downtime":40,
 *    "ram":{"transferred":...,"remaining":0,"total":...,"duplicate":...,
 *           "normal":...,"normal-bytes":...,"dirty-pages-rate":...,
 *           "mbps":9123.4,"dirty-sync-count":4,"page-size":4096}}
 * Optional members (downtime, expected-downtime, setup-time before active,
 * cpu-throttle-percentage when 0, error-desc) are omitted when not
 * meaningful, as QEMU does.  Strings are JSON-escaped.
 * Returns the length it needed (like snprintf), or -EINVAL.
 */
int rmig_info_to_json(const struct rmig_info *info, char *buf, size_t len);

#endif /* RMIG_STATS_H */
