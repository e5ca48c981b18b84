/* SPDX-License-Identifier: MIT */
/*
 * What the migration thread's files share of its context (save_int.h):
 * its byte count, the stats it publishes, its cancel flag and the main
 * stream's PING.  Below both save.c and save_setup.c, calling neither.
 */
#include "common/base/util.h"
#include "common/engine/format.h"
#include "common/engine/save_int.h"
#include "plugin/registry.h"

/* The "cancel" action of RMIG_FAULT, as a callback (fault.c sits below us). */
void rmig_save_fault_cancel(void *m)
{
	(void)rmig_migration_cancel(m);
}

bool rmig_save_cancelled(const struct save_ctx *c)
{
	return atomic_load(&c->m->cancel_requested);
}

/*
 * Bytes committed to the wire: flushed, or queued in the stream (page
 * contents are queued by reference and may wait for many runs before a
 * flush).  Counting at queue time is what lets the rate limit see a round
 * of by-reference pages before they all leave in one burst.  Channels
 * count what they flushed; what their short queues hold is seen once it
 * leaves (save.c's rate limit keeps every byte it has not yet seen).
 */
uint64_t rmig_save_wire_bytes(const struct save_ctx *c)
{
	return c->stream.bytes_out + c->stream.iov_bytes + c->transport_bytes +
	       rmig_mfd_send_bytes(c->mfd);
}

void rmig_save_publish_bytes(struct save_ctx *c)
{
	struct rmig_stats *st = &c->m->stats;
	uint64_t bytes[RMIG_MULTIFD_CHANNELS_MAX];
	uint32_t n = rmig_mfd_send_channel_bytes(c->mfd, bytes, RMIG_MULTIFD_CHANNELS_MAX);

	for (uint32_t i = 0; i < n; i++)
		atomic_store(&st->channel_bytes[i], bytes[i]);
	atomic_store(&st->transferred, rmig_save_wire_bytes(c));
}

/*
 * With channels the main stream is quiet for a whole round; a PING now and
 * then tells the destination we are alive (its read has the peer-timeout).
 * A failure is the stream's sticky error, seen at the next flush.
 */
void rmig_save_ping(struct save_ctx *c)
{
	struct rmig_record ping = { .type = RMIG_REC_PING };
	uint64_t now = rmig_time_now_ns();

	if (!c->mfd || now - c->last_ping_ns < c->ping_interval_ms * RMIG_NSEC_PER_MSEC)
		return;
	c->last_ping_ns = now;
	if (!rmig_format_write_record(&c->stream, &ping))
		(void)rmig_stream_flush(&c->stream);
}

void rmig_save_account(struct save_ctx *c, const struct rmig_ram_counters *acc)
{
	struct rmig_stats *st = &c->m->stats;

	/* A transport's round (or setup) ended: what it pinned meanwhile, too. */
	rmig_stats_note_pinning(st, c->conn);

	atomic_fetch_add(&st->duplicate, acc->zero_pages);
	atomic_fetch_add(&st->normal, acc->normal_pages);
	atomic_fetch_add(&st->normal_bytes, acc->normal_bytes);
	c->transport_bytes += acc->transferred;
	rmig_save_publish_bytes(c);
}
