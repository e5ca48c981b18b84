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

#include <rmig/info.h>
#include <rmig/transport.h>

#include "common/engine/state.h"

/* What a transport reports back for pages it placed itself (RDMA). */
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
	_Atomic uint64_t bandwidth;	   /* bytes/s sent over the last wall-clock window */
	_Atomic uint64_t expected_downtime_ms;
	_Atomic uint64_t iterations;	   /* rounds started, bulk included */
	_Atomic uint64_t throttle_pct;	   /* current auto-converge throttle */
	_Atomic uint64_t pages_per_second; /* last complete bandwidth window */
	/*
	 * transferred when the guest stopped (0 before): what went before is
	 * precopy-bytes, what went after downtime-bytes, as QEMU splits them.
	 */
	_Atomic uint64_t precopy_bytes;
	/* What the transport pinned (rmig_conn_ram_stats), once it reported. */
	_Atomic bool pinned_reported;
	_Atomic uint64_t pinned_peak, pinned_limit, pinned_evicted, pinned_overlap_ms;
	/* multifd: how many channels carry pages (0: none), and the bytes each carried. */
	_Atomic uint32_t channels;
	_Atomic uint64_t channel_bytes[64];
};

void rmig_stats_init(struct rmig_stats *st);
void rmig_stats_add(struct rmig_stats *st, const struct rmig_ram_counters *c);
/* Take the transport's pinning figures, when it has any. */
void rmig_stats_note_pinning(struct rmig_stats *st, struct rmig_conn *conn);
/* Copy them into @info. */
void rmig_stats_get_pinning(const struct rmig_stats *st, struct rmig_info *info);
/* The channels' figures into @info (multifd). */
void rmig_stats_get_multifd(const struct rmig_stats *st, struct rmig_info *info);

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

#endif /* RMIG_STATS_H */
