/* SPDX-License-Identifier: MIT */
/*
 * A snapshot of a migration, in query-migrate terms.  It is a plain value:
 * rmig fills it in, the caller owns it, nothing in it points back into rmig.
 */
#ifndef RMIG_PUBLIC_INFO_H
#define RMIG_PUBLIC_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rmig/defs.h>
#include <rmig/state.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Times in ms; mbps is Mbit/s (10^6). */
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
		uint64_t pages_per_second; /* pages sent (zero or not), last ~100 ms window */
		uint64_t precopy_bytes;	   /* sent while the guest ran */
		uint64_t downtime_bytes;   /* sent with the guest stopped */
	} ram;
	char error_desc[512];	 /* set when status == failed */
	/*
	 * rmig's own: what the transport registered (RDMA), on this side.
	 * JSON "x-rmig-pinned": {"peak", "limit", "evicted", "overlap-ms"},
	 * only when reported.
	 */
	struct {
		bool reported;
		uint64_t peak;	  /* most bytes of RAM pinned at once */
		uint64_t limit;	  /* the bound (rdma-max-pinned); 0: none */
		uint64_t evicted; /* regions unregistered to stay under it */
		/*
		 * Registering memory after setup, while pages moved: dynamic
		 * mode's, or pin-all's under rmig's PIN_STREAM.  Time spent
		 * pinning before active is in setup_time_ms instead.
		 */
		uint64_t overlap_ms;
	} pinned;
	/*
	 * multifd (capability "multifd"): the bytes that went over the
	 * channels, as QEMU's ram.multifd-bytes, and rmig's own per-channel
	 * figures, JSON "x-rmig-channels": [{"bytes"}, ...].  count 0: none.
	 */
	struct {
		uint32_t count;
		uint64_t bytes;
		uint64_t channel_bytes[64];
	} multifd;
};

/*
 * Writes the query-migrate object, e.g.
 *   {"status":"completed","total-time":1234,"setup-time":5,"downtime":40,
 *    "ram":{"transferred":...,"remaining":0,"total":...,"duplicate":...,
 *           "normal":...,"normal-bytes":...,"dirty-pages-rate":...,
 *           "mbps":9123.4,"dirty-sync-count":4,"postcopy-requests":0,
 *           "page-size":4096,"multifd-bytes":0,"pages-per-second":...,
 *           "precopy-bytes":...,"downtime-bytes":...,"postcopy-bytes":0,
 *           "dirty-sync-missed-zero-copy":0}}
 * Every member of QEMU's MigrationStats is there, 0 where rmig has nothing
 * to count (postcopy, zero-copy send, multifd-bytes without channels).
 * With multifd channels the object also has "x-rmig-channels".
 * Optional members (downtime, expected-downtime, setup-time before active,
 * cpu-throttle-percentage when 0, error-desc) are omitted when not
 * meaningful, as QEMU does.  Strings are JSON-escaped.
 * Returns the length it needed (like snprintf), or -EINVAL.
 */
RMIG_API int rmig_info_to_json(const struct rmig_info *info, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* RMIG_PUBLIC_INFO_H */
