/* SPDX-License-Identifier: MIT */
/*
 * Private to the migration thread's files: save.c (the rounds, the
 * hand-over) and save_setup.c (connecting: the main connection, TLS, the
 * multifd channels).  Not installed.
 */
#ifndef RMIG_SAVE_INT_H
#define RMIG_SAVE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/engine/migration_int.h"
#include "common/engine/multifd.h"
#include "common/engine/params.h"
#include "common/engine/ratelimit.h"
#include "common/engine/stats.h"
#include "common/engine/stream.h"

struct save_ctx {
	struct rmig_migration *m;
	struct rmig_params params;
	struct rmig_conn *conn;
	struct rmig_stream stream;
	bool hooks;
	uint32_t flags;
	struct rmig_bw bw;
	/*
	 * The link's speed, from windows in which the rate limit never slept.
	 * A window that slept only timed how fast the kernel swallowed our
	 * writes into an idle socket buffer, which can be many times the
	 * link; trusting it would blow the downtime limit.  0 = not known.
	 */
	uint64_t link_bw;
	bool slept_in_window;
	uint64_t pps_start_ns, pps_start_pages, pps_start_bytes; /* query-migrate's rates */
	/* The round's rate, sleep included: the fallback when link_bw is unknown. */
	uint64_t round_bw;
	/* rate limit, per slice */
	struct rmig_ratelimit rate; /* against max-bandwidth */
	uint64_t rate_seen_bytes; /* save_wire_bytes() when last counted against the limit */
	bool unlimited; /* final round: downtime beats the limit */
	/* bytes on the wire: stream + transport */
	uint64_t transport_bytes;
	uint64_t checksum_ns_per_gib; /* measured cost of the verify trailer */
	bool trailer_sent; /* the destination may be waiting for our decision */
	unsigned throttle;
	unsigned bad_rounds;
	uint64_t round;
	/* multifd: the channels, and the main stream's own keep-alive while they work */
	struct rmig_mfd_send *mfd;
	uint64_t ping_interval_ms, last_ping_ns;
};

/* The "cancel" action of RMIG_FAULT, as a callback (fault.c sits below us). */
void rmig_save_fault_cancel(void *m);
bool rmig_save_cancelled(const struct save_ctx *c);
/* Bytes committed to the wire: stream, transport and channels. */
uint64_t rmig_save_wire_bytes(const struct save_ctx *c);
void rmig_save_publish_bytes(struct save_ctx *c);
/* A transport's round (or setup) ended: its pages, bytes and pinning into the stats. */
void rmig_save_account(struct save_ctx *c, const struct rmig_ram_counters *acc);
/* multifd: a PING on the main stream when one is due. */
void rmig_save_ping(struct save_ctx *c);
/* Connect (and secure) the main connection and the channels, send the header: SETUP's work. */
int rmig_save_setup(struct save_ctx *c);

#endif /* RMIG_SAVE_INT_H */
