/* SPDX-License-Identifier: MIT */
/*
 * multifd: page contents over N extra connections ("channels") beside the
 * main stream, QEMU's name for the same idea.  docs/stream-format.md,
 * section "Channels", is the normative description.
 *
 * The main stream keeps the header, the control records and the trailer;
 * channels carry DATA and ZERO records only.  A page belongs to one channel
 * for the whole migration: RAM is cut into stripes (1 MiB, or one page when
 * pages are bigger) dealt round-robin, so a page is never in flight on two
 * channels, and the records for one page arrive in the order they were
 * sent.  At the end of a round every channel says SYNC, and the main stream
 * says END_OF_ROUND only after every channel has flushed its SYNC; the
 * destination in turn reads past END_OF_ROUND only once every channel has
 * applied its SYNC.  A channel with nothing to send says PING, so the
 * peer-timeout still tells a frozen peer from a quiet one.
 *
 * Each channel opens with a fixed 32-byte hello naming the session (a random
 * id from the main stream's header), its index and the count, so a
 * destination joins exactly the connections of the source it is loading.
 */
#ifndef RMIG_MULTIFD_H
#define RMIG_MULTIFD_H

#include <stdbool.h>
#include <stdint.h>

#include "common/engine/format.h"
#include "common/engine/stats.h"
#include "common/ram/ram.h"

struct rmig_conn;

#define RMIG_CHANNEL_MAGIC	0x524d4348u /* "RMCH" */
#define RMIG_CHANNEL_VERSION	1
#define RMIG_CHANNEL_HELLO_SIZE 32
#define RMIG_MULTIFD_STRIPE_SHIFT 20 /* 1 MiB */
/* Runs (of up to a stripe) a source channel may have waiting, besides those it is writing. */
#define RMIG_MULTIFD_QUEUE_RUNS 8
/*
 * A channel writes the runs it took off its queue together, up to this
 * many bytes (at least one run): its byte count, which the bandwidth
 * estimate reads, moves once per write.
 */
#define RMIG_MULTIFD_WRITE_BYTES (4u << 20)

struct rmig_channel_hello {
	uint32_t index; /* 0 .. count - 1 */
	uint32_t count;
	uint8_t session[RMIG_MULTIFD_SESSION_SIZE];
};

void rmig_channel_hello_encode(uint8_t out[RMIG_CHANNEL_HELLO_SIZE],
			       const struct rmig_channel_hello *hello);
/* Checks magic, version, and index and count against @h.  0 or -EPROTO (reported). */
int rmig_channel_hello_decode(const uint8_t in[RMIG_CHANNEL_HELLO_SIZE],
			      const struct rmig_stream_header *h, struct rmig_channel_hello *out);

/* The channel (0 .. @channels - 1) that owns the page at byte @offset of @b. */
uint32_t rmig_multifd_owner(const struct rmig_ramblock *b, uint64_t offset, uint32_t channels);
/* Pages from @page to the end of its stripe (at least 1). */
uint64_t rmig_multifd_stripe_left(const struct rmig_ramblock *b, uint64_t page);

/* --- source --- */

struct rmig_mfd_send;

struct rmig_mfd_send_config {
	uint32_t channels;
	bool zero_pages;	     /* ZERO records allowed (F_ZERO_PAGES) */
	uint64_t ping_interval_ms;   /* an idle channel says PING this often */
	struct rmig_stats *stats;    /* normal/duplicate pages are counted here */
	const _Atomic bool *cancel;  /* waits give up with -ECANCELED once set */
	/*
	 * The live max-bandwidth (0: none).  Under a limit each channel holds
	 * one run at a time: what sits in the queues leaves whether or not
	 * the limit allows it.
	 */
	const _Atomic uint64_t *max_bandwidth;
	bool numa;		     /* place channels by numa_node; false: leave them be */
	int numa_node;		     /* the numa-node parameter (params.h) */
	/* Called about every ping interval while the caller waits on the channels. */
	void (*tick)(void *opaque);
	void *tick_opaque;
};

int rmig_mfd_send_new(const struct rmig_mfd_send_config *cfg, struct rmig_mfd_send **out);
/*
 * Channel @index takes @conn (owned from now on, even on failure), sends
 * its hello and starts its thread.
 */
int rmig_mfd_send_add(struct rmig_mfd_send *ms, uint32_t index, struct rmig_conn *conn,
		      const uint8_t session[RMIG_MULTIFD_SESSION_SIZE]);
/*
 * Queue a run of pages whose dirty bits were just cleared; it is split at
 * stripe ends and each piece goes to its owner.  Blocks while that
 * channel's queue is full.  A channel's failure is returned here (reported).
 */
int rmig_mfd_send_pages(struct rmig_mfd_send *ms, struct rmig_ramblock *b, uint64_t page,
			uint64_t npages);
/* Every channel says SYNC @round and flushes; returns when all have, or the first failure. */
int rmig_mfd_send_sync(struct rmig_mfd_send *ms, uint32_t round);
/* Every channel says END_OF_STREAM and flushes; the channel threads end. */
int rmig_mfd_send_finish(struct rmig_mfd_send *ms);
/* Bytes handed to the channels' connections or queued for them, all and per channel. */
uint64_t rmig_mfd_send_bytes(struct rmig_mfd_send *ms);
uint32_t rmig_mfd_send_channel_bytes(struct rmig_mfd_send *ms, uint64_t *bytes, uint32_t max);
/* Any thread: wake every channel blocked on its connection (cancel). */
void rmig_mfd_send_abort(struct rmig_mfd_send *ms);
/*
 * Ends the threads (aborting a connection still in use) and joins them, so
 * that the byte counts are final.  Idempotent.
 */
void rmig_mfd_send_stop(struct rmig_mfd_send *ms);
/* Stops, closes the connections, frees. */
void rmig_mfd_send_free(struct rmig_mfd_send *ms);

/* --- destination --- */

struct rmig_mfd_recv;

/*
 * Start a thread per channel, reading from @conns (taken over; @conns[i]
 * carried hello i and nothing was read past it).  @main is aborted when a
 * channel fails, so a loader blocked on the main stream hears of it.
 */
int rmig_mfd_recv_start(struct rmig_conn **conns, const struct rmig_stream_header *h,
			struct rmig_ram *ram, struct rmig_stats *st, struct rmig_conn *main,
			uint64_t peer_timeout_ms, struct rmig_mfd_recv **out);
/* The same, placing the channels by the numa-node parameter @numa_node (params.h). */
int rmig_mfd_recv_start_numa(struct rmig_conn **conns, const struct rmig_stream_header *h,
			     struct rmig_ram *ram, struct rmig_stats *st, struct rmig_conn *main,
			     uint64_t peer_timeout_ms, int numa_node, struct rmig_mfd_recv **out);
/* Wait until every channel applied its SYNC for round @round (0-based), or failed. */
int rmig_mfd_recv_wait_round(struct rmig_mfd_recv *mr, uint64_t round);
/* Wait until every channel read END_OF_STREAM, or failed. */
int rmig_mfd_recv_finish(struct rmig_mfd_recv *mr);
/* A channel's failure (re-reported on the caller's thread), or 0. */
int rmig_mfd_recv_error(struct rmig_mfd_recv *mr);
void rmig_mfd_recv_abort(struct rmig_mfd_recv *mr);
void rmig_mfd_recv_free(struct rmig_mfd_recv *mr);

#endif /* RMIG_MULTIFD_H */
