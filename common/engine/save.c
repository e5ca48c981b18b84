/* SPDX-License-Identifier: MIT */
/*
 * The migration thread: setup, a bulk round, dirty rounds, and the final
 * stop-and-copy.  One thread drives the stream; transports that place pages
 * themselves (RDMA) are called through the RAM hooks in the same order on
 * every round, so the stream never says "round done" before the pages are
 * in the destination's memory.
 */
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/base/logmute.h"
#include "common/base/threadname.h"
#include "common/base/util.h"
#include "common/engine/fault.h"
#include "common/engine/format.h"
#include "common/engine/handover.h"
#include "common/engine/save_int.h"
#include "common/engine/stream.h"
#include "common/engine/watchdog.h"
#include "common/ram/checksum.h"
#include "plugin/registry.h"

/* Pages handed to the stream or the transport in one go (1 MiB of 4 KiB pages). */
#define SAVE_RUN_PAGES RMIG_RECORD_MAX_PAGES
/* Rounds that fail to shrink before auto-converge throttles (QEMU waits for 2 too). */
#define SAVE_THROTTLE_TRIGGER 2

/* How much later than the transport's own deadline the watchdog fires. */
#define SAVE_WATCHDOG_GRACE_MS 1000
/* A refusal the destination sent before hanging up is already here, or never comes. */
#define SAVE_REFUSAL_WAIT_MS 500

/*
 * Sleep off whatever the current slice has overspent against max-bandwidth.
 * The sleep is reported to the bandwidth estimator, which leaves it out: a
 * throttled migration must still know how fast the link really is, or it
 * would never believe the rest fits in the downtime.
 */
static int save_rate_limit(struct save_ctx *c)
{
	uint64_t limit = atomic_load(&c->m->live.max_bandwidth);
	uint64_t now = rmig_time_now_ns();
	struct pollfd pfd = { .fd = c->m->cancel_fd, .events = POLLIN };
	uint64_t wait_ns = rmig_ratelimit_owed_ns(&c->rate, c->unlimited ? 0 : limit, now);
	int r;

	if (!wait_ns)
		return 0;
	r = rmig_stream_flush(&c->stream);
	if (r)
		return r;
	/*
	 * poll() on the cancel fd so a cancel does not wait out the limit, in
	 * slices so a new limit (set live) ends the sleep within one: the next
	 * call computes with it.
	 */
	while (wait_ns) {
		uint64_t step = RMIG_MIN(wait_ns, RMIG_RATELIMIT_SLICE_NS);

		if (poll(&pfd, 1, (int)RMIG_DIV_ROUND_UP(step, RMIG_NSEC_PER_MSEC)) > 0)
			return -ECANCELED;
		wait_ns -= step;
		/* With channels, a large page they sent can owe a long sleep: keep the main stream alive. */
		rmig_save_ping(c);
		if (atomic_load(&c->m->live.max_bandwidth) != limit)
			break;
	}
	rmig_bw_note_sleep(&c->bw, rmig_time_now_ns() - now);
	c->slept_in_window = true;
	rmig_ratelimit_reset(&c->rate, rmig_time_now_ns());
	return 0;
}

/*
 * What query-migrate shows while active, as QEMU computes it: bytes and
 * pages that left over the last wall-clock window, rate-limit sleep
 * included, so a live max-bandwidth change shows in mbps at once.  (The
 * estimator above leaves the sleep out; it answers another question, how
 * fast the link could go.)
 */
static void save_publish_rates(struct save_ctx *c, uint64_t now)
{
	struct rmig_stats *st = &c->m->stats;
	uint64_t pages = atomic_load(&st->normal) + atomic_load(&st->duplicate);
	uint64_t bytes = rmig_save_wire_bytes(c), dt = now - c->pps_start_ns;

	if (now < c->pps_start_ns + RMIG_BW_WINDOW_NS)
		return;
	if (pages >= c->pps_start_pages)
		atomic_store(&st->pages_per_second,
			     (uint64_t)((double)(pages - c->pps_start_pages) * 1e9 / (double)dt));
	if (bytes >= c->pps_start_bytes)
		atomic_store(&st->bandwidth,
			     (uint64_t)((double)(bytes - c->pps_start_bytes) * 1e9 / (double)dt));
	c->pps_start_ns = now;
	c->pps_start_pages = pages;
	c->pps_start_bytes = bytes;
}

/*
 * Everything that reached the wire since the last call counts against the
 * rate limit, also what left while we slept or waited elsewhere: multifd
 * channels send their queued runs on their own time, and bytes that were
 * not seen here would never be paid for.
 */
static void save_note_progress(struct save_ctx *c)
{
	uint64_t wire = rmig_save_wire_bytes(c);
	uint64_t now = rmig_time_now_ns();

	rmig_ratelimit_add(&c->rate, wire - c->rate_seen_bytes);
	c->rate_seen_bytes = wire;
	save_publish_rates(c, now);
	if (rmig_bw_update(&c->bw, now, rmig_save_wire_bytes(c))) {
		if (!c->slept_in_window)
			c->link_bw = c->bw.bytes_per_sec;
		c->slept_in_window = false;
	}
	rmig_save_publish_bytes(c);
}

/*
 * Between pieces of one large DATA payload, under a rate limit: what the
 * end of a run does, so that the stream keeps flowing at the limit instead
 * of sending a whole large page at once and then going silent for longer
 * than the destination's peer-timeout.
 */
static int save_pace(void *opaque)
{
	struct save_ctx *c = opaque;

	if (c->unlimited || !atomic_load(&c->m->live.max_bandwidth))
		return 0;
	save_note_progress(c);
	return save_rate_limit(c);
}

/* A run of pages through the stream: ZERO records for zero pages, DATA for the rest. */
static int save_run_stream(struct save_ctx *c, struct rmig_ramblock *b, uint64_t page,
			   uint64_t npages)
{
	struct rmig_ram_counters cnt = { 0 };
	int ret = rmig_format_write_pages_paced(&c->stream, b, page, npages,
						c->params.caps[RMIG_CAP_ZERO_PAGES], &cnt,
						save_pace, c);

	/* Bytes are counted from the stream (transferred stays 0 here). */
	rmig_stats_add(&c->m->stats, &cnt);
	return ret;
}

/*
 * Send every page set in the bitmaps, clearing as we go.  The bitmap bit is
 * cleared before the page is read, so a guest write racing with the send is
 * caught by the dirty log and resent next round, never lost.
 */
static int save_round(struct save_ctx *c, enum rmig_ram_phase phase)
{
	struct rmig_ram *ram = c->m->ram;
	struct rmig_stats *st = &c->m->stats;
	uint64_t remaining = rmig_ram_bitmap_bytes(ram);
	struct rmig_record eor = { .type = RMIG_REC_EOR, .arg = (uint32_t)c->round };
	int ret;

	atomic_store(&st->remaining, remaining);
	atomic_fetch_add(&st->iterations, 1);
	if (c->hooks) {
		struct rmig_record hook = { .type = RMIG_REC_HOOK, .arg = phase };

		ret = rmig_format_write_record(&c->stream, &hook);
		if (!ret)
			ret = rmig_stream_flush(&c->stream);
		if (!ret)
			ret = rmig_conn_ram_before_iterate(c->conn, phase);
		if (ret)
			return ret;
	}

	for (uint32_t bi = 0; bi < ram->nblocks; bi++) {
		struct rmig_ramblock *b = ram->blocks[bi];
		uint64_t page = 0, npages;

		for (;;) {
			page = rmig_ramblock_find_next_run(b, page, SAVE_RUN_PAGES, &npages);
			if (!npages)
				break;
			if (rmig_save_cancelled(c))
				return -ECANCELED;
			rmig_fault_source(RMIG_FAULT_BULK, rmig_save_fault_cancel, c->m); /* fires once: round 0 */
			rmig_ramblock_clear_pages(b, page, npages);
			if (c->hooks) {
				struct rmig_ram_counters acc = { 0 };

				ret = rmig_conn_ram_save_page(c->conn, b, page, npages, &acc);
				if (ret == RMIG_SAVE_PAGE_DECLINED) {
					rmig_error("transport %s declined pages inside its own RAM round",
						   c->conn->ops->scheme);
					ret = -EPROTO;
				}
				if (!ret)
					rmig_save_account(c, &acc);
			} else if (c->mfd) {
				ret = rmig_mfd_send_pages(c->mfd, b, page, npages);
				rmig_save_ping(c);
			} else {
				ret = save_run_stream(c, b, page, npages);
			}
			if (ret)
				return ret;
			remaining -= RMIG_MIN(remaining, npages << b->page_shift);
			atomic_store(&st->remaining, remaining);
			save_note_progress(c);
			ret = save_rate_limit(c);
			if (ret)
				return ret;
			page += npages;
		}
	}

	if (c->hooks) {
		struct rmig_ram_counters acc = { 0 };

		ret = rmig_conn_ram_after_iterate(c->conn, phase, &acc);
		if (ret)
			return ret;
		rmig_save_account(c, &acc);
	}
	/* END_OF_ROUND only once every channel has sent its part of the round. */
	if (c->mfd) {
		ret = rmig_mfd_send_sync(c->mfd, (uint32_t)c->round);
		if (ret)
			return ret;
	}
	ret = rmig_format_write_record(&c->stream, &eor);
	if (!ret)
		ret = rmig_stream_flush(&c->stream);
	rmig_save_publish_bytes(c);
	c->round++;
	return ret;
}

/*
 * The trailer's checksums are computed with the guest stopped, so they are
 * part of the downtime.  Measure their cost once, on a sample, so the
 * switch-over decision can budget for it.
 */
static void save_measure_checksum(struct save_ctx *c)
{
	struct rmig_ramblock *b = c->m->ram->blocks[0];
	uint64_t len, t0, dt, sum_ms;
	volatile uint64_t sink;

	if (!(c->flags & RMIG_STREAM_F_VERIFY))
		return;
	/* The largest block: a small first one (firmware, video) is too short a sample. */
	for (uint32_t i = 1; i < c->m->ram->nblocks; i++)
		if (c->m->ram->blocks[i]->length > b->length)
			b = c->m->ram->blocks[i];
	len = RMIG_MIN(b->length, 16ULL << 20);
	t0 = rmig_time_now_ns();
	sink = rmig_checksum(b->host, len, 0);
	(void)sink;
	dt = rmig_time_now_ns() - t0;
	c->checksum_ns_per_gib = (uint64_t)((double)dt * (double)(1ULL << 30) / (double)len);
	sum_ms = (uint64_t)((double)rmig_ram_get_total_bytes(c->m->ram) / (double)(1ULL << 30) *
			    (double)c->checksum_ns_per_gib / 1e6);
	if (sum_ms >= atomic_load(&c->m->live.downtime_limit_ms))
		rmig_warn("verify: checksumming the RAM takes about %" PRIu64 " ms with the guest "
			  "stopped, more than the %" PRIu64 " ms downtime limit; expect a longer "
			  "downtime or disable the verify capability",
			  sum_ms, atomic_load(&c->m->live.downtime_limit_ms));
}

static uint64_t save_expected_downtime_ms(const struct save_ctx *c, uint64_t remaining)
{
	uint64_t bw = c->link_bw ? c->link_bw : c->round_bw, ms;
	uint64_t total = rmig_ram_get_total_bytes(c->m->ram);

	if (!bw)
		return UINT64_MAX;
	ms = (uint64_t)((double)remaining * 1e3 / (double)bw);
	if (c->flags & RMIG_STREAM_F_VERIFY) {
		uint64_t sum_ms = (uint64_t)((double)total / (double)(1ULL << 30) *
					     (double)c->checksum_ns_per_gib / 1e6);

		/*
		 * A checksum that alone overruns the limit would make the
		 * migration chase a target it can never meet; budget only the
		 * data then (the operator was warned at setup).
		 */
		if (sum_ms < atomic_load(&c->m->live.downtime_limit_ms))
			ms += sum_ms;
	}
	return ms;
}

/*
 * Auto-converge, QEMU's rule: if the guest dirtied more than half of what we
 * managed to send in a round, twice, slow it down, and more each time.
 */
static void save_auto_converge(struct save_ctx *c, uint64_t dirtied, uint64_t sent)
{
	struct rmig_migration *m = c->m;

	if (!c->params.caps[RMIG_CAP_AUTO_CONVERGE] || !m->emb.throttle)
		return;
	if (dirtied * 2 <= sent) {
		c->bad_rounds = 0;
		return;
	}
	if (++c->bad_rounds < SAVE_THROTTLE_TRIGGER)
		return;
	c->bad_rounds = 0;
	c->throttle = c->throttle ? c->throttle + atomic_load(&m->live.cpu_throttle_increment)
				  : atomic_load(&m->live.cpu_throttle_initial);
	if (c->throttle > atomic_load(&m->live.max_cpu_throttle))
		c->throttle = atomic_load(&m->live.max_cpu_throttle);
	m->emb.throttle(m->emb.opaque, c->throttle);
	atomic_store(&m->stats.throttle_pct, c->throttle);
	rmig_info("auto-converge: throttling the guest to %u%%", c->throttle);
}

/*
 * From here a cancel only interrupts, and an interrupt ends a read, not a
 * write waiting on a frozen destination (over rdma without keepalives
 * nothing else would end it): the write gets the RESULT wait's deadline,
 * on a watchdog that aborts the connection.
 */
static int save_write_trailer(struct save_ctx *c, const uint64_t *sums)
{
	uint64_t wait_ms = c->params.peer_timeout_ms;
	struct rmig_watchdog w;
	bool armed = false;
	int ret;

	if (wait_ms) {
		/* The destination checksums meanwhile, and may take no message until done. */
		if (c->flags & RMIG_STREAM_F_VERIFY)
			wait_ms += rmig_handover_verify_allowance_ms(
			    rmig_ram_get_total_bytes(c->m->ram));
		ret = rmig_watchdog_arm(&w, c->conn, wait_ms + SAVE_WATCHDOG_GRACE_MS);
		if (ret)
			return ret;
		armed = true;
	}
	ret = rmig_format_write_trailer(&c->stream, c->flags, sums, c->m->ram->nblocks);
	if (!ret)
		ret = rmig_stream_flush(&c->stream);
	if (armed && rmig_watchdog_disarm(&w)) {
		rmig_error("hand-over: the destination took no trailer within %" PRIu64
			   " ms (peer-timeout)",
			   wait_ms);
		ret = -ETIMEDOUT;
	}
	return ret;
}

static int save_complete(struct save_ctx *c)
{
	struct rmig_migration *m = c->m;
	struct rmig_ram *ram = m->ram;
	struct rmig_record eos = { .type = RMIG_REC_EOS };
	uint64_t *sums = NULL;
	int ret;

	/* Downtime counts from the moment we ask, as QEMU's: stopping takes time too. */
	uint64_t stop_ns = rmig_time_now_ns();

	m->emb.stop(m->emb.opaque);
	/* Before stop_ns, so a reader that sees the stop also sees the split point. */
	atomic_store(&m->stats.precopy_bytes, rmig_save_wire_bytes(c));
	atomic_store(&m->stop_ns, stop_ns);
	atomic_store(&m->guest_stopped, true);
	c->unlimited = true;

	rmig_ram_sync(ram);
	atomic_fetch_add(&m->stats.dirty_sync_count, 1);
	rmig_fault_source(RMIG_FAULT_FINAL, rmig_save_fault_cancel, m);
	ret = save_round(c, RMIG_RAM_PHASE_FINAL);
	if (!ret && c->mfd)
		ret = rmig_mfd_send_finish(c->mfd);
	if (ret)
		return ret;
	/* END_OF_STREAM out first: the destination checksums while we do (load.c). */
	ret = rmig_format_write_record(&c->stream, &eos);
	if (!ret)
		ret = rmig_stream_flush(&c->stream);
	if (ret)
		return ret;
	if (c->flags & RMIG_STREAM_F_VERIFY) {
		sums = calloc(ram->nblocks, sizeof(*sums));
		if (!sums)
			return -ENOMEM;
		rmig_ram_checksums(ram, sums);
	}
	rmig_fault_corrupt_trailer(sums, ram->nblocks);
	/*
	 * From the trailer on, a cancel only interrupts: once its last byte is
	 * out the destination may answer RESULT(0) and wait for our word, and
	 * an aborted connection could carry no ABORT to it (it would be left
	 * in doubt).  Set before the write, as the cancel may come at any time.
	 */
	atomic_store(&m->awaiting_result, true);
	/*
	 * A cancel that read the flag still unset aborted the connection, but
	 * it set cancel_requested before that read: seen here, and then no
	 * trailer goes out that a RESULT(0) could answer.
	 */
	if (rmig_save_cancelled(c)) {
		free(sums);
		return -ECANCELED;
	}
	ret = save_write_trailer(c, sums);
	free(sums);
	atomic_store(&m->stats.remaining, 0);
	rmig_save_publish_bytes(c);
	return ret;
}

static int save_iterate(struct save_ctx *c)
{
	struct rmig_migration *m = c->m;
	struct rmig_ram *ram = m->ram;
	struct rmig_stats *st = &m->stats;
	int ret;

	/* Bulk round: everything.  Writes from now on land in the dirty log. */
	rmig_ram_dirty_log_clear(ram);
	rmig_ram_bitmap_set_all(ram);
	for (;;) {
		uint64_t t0 = rmig_time_now_ns(), sent0 = rmig_save_wire_bytes(c), dirtied, remaining, dt;
		uint64_t expected;

		ret = save_round(c, RMIG_RAM_PHASE_ROUND);
		if (ret)
			return ret;
		dirtied = rmig_ram_sync(ram);
		atomic_fetch_add(&st->dirty_sync_count, 1);
		dt = rmig_time_now_ns() - t0;
		if (dt)
			atomic_store(&st->dirty_pages_rate, (uint64_t)((double)dirtied * 1e9 / (double)dt));
		remaining = rmig_ram_bitmap_bytes(ram);
		atomic_store(&st->remaining, remaining);
		if (dt)
			c->round_bw = (uint64_t)((double)(rmig_save_wire_bytes(c) - sent0) * 1e9 / (double)dt);
		/* A round shorter than a window, with no sleep, still measured the link. */
		if (!c->link_bw && !c->slept_in_window && !c->bw.slept_ns)
			c->link_bw = c->round_bw;
		expected = save_expected_downtime_ms(c, remaining);
		/* No bandwidth measured yet: keep the last estimate, not 0 ("instant"). */
		if (expected != UINT64_MAX)
			atomic_store(&st->expected_downtime_ms, expected);
		if (expected <= atomic_load(&c->m->live.downtime_limit_ms))
			return 0;
		save_auto_converge(c, rmig_ram_bitmap_bytes(ram), rmig_save_wire_bytes(c) - sent0);
		if (rmig_save_cancelled(c))
			return -ECANCELED;
		rmig_fault_source(RMIG_FAULT_DIRTY, rmig_save_fault_cancel, m); /* a dirty round starts */
	}
}

/*
 * The destination's verdict on what it received (docs/switchover.md).
 * Nothing is decided here: 0 only means the destination is ready to take
 * over and waits for our COMMIT.
 */
static int save_await_result(struct save_ctx *c)
{
	uint64_t wait_ms = c->params.peer_timeout_ms;
	enum rmig_handover_kind kind;
	int ret, status;

	c->trailer_sent = true;
	rmig_fault_source(RMIG_FAULT_AFTER_TRAILER, rmig_save_fault_cancel, c->m);
	/* The destination checksums its RAM before it answers, silent meanwhile. */
	if (c->flags & RMIG_STREAM_F_VERIFY)
		wait_ms += rmig_handover_verify_allowance_ms(rmig_ram_get_total_bytes(c->m->ram));
	/*
	 * The transport's own deadline should fire first: it leaves the
	 * connection usable for the ABORT that save_finish() then sends, where
	 * the watchdog's abort would not.
	 */
	if (rmig_conn_set_peer_timeout(c->conn, (int)RMIG_MIN(wait_ms, (uint64_t)INT_MAX)) == 0)
		wait_ms += SAVE_WATCHDOG_GRACE_MS;
	ret = rmig_handover_recv(c->conn, wait_ms,
				 "waiting for the destination to confirm it has every page", &kind,
				 &status);
	(void)rmig_conn_set_peer_timeout(c->conn, (int)c->params.peer_timeout_ms);
	if (ret)
		return ret;
	if (kind != RMIG_HANDOVER_RESULT) {
		rmig_error("hand-over: expected RESULT from the destination, got %s",
			   rmig_handover_kind_get_name(kind));
		return -EPROTO;
	}
	if (status) {
		rmig_error("the destination did not take over: %s; the workload stays here",
			   strerror(status));
		return -EREMOTEIO;
	}
	return 0;
}

/*
 * A destination that refuses the stream (no room for our RAM, a record it
 * will not take) sends RESULT with its reason and hangs up, maybe while we
 * are still writing.  Our broken pipe says less than that RESULT, which
 * the kernel still holds for us: read it if it is there.  Quietly, since
 * the broken pipe was reported and the connection may have nothing more.
 */
static int save_read_refusal(struct save_ctx *c, int ret)
{
	enum rmig_handover_kind kind;
	int rc, status;

	if ((ret != -EPIPE && ret != -ECONNRESET) || c->trailer_sent || !c->conn)
		return ret;
	rmig_log_mute(true);
	rc = rmig_handover_recv(c->conn, SAVE_REFUSAL_WAIT_MS, "reading why the destination hung up",
				&kind, &status);
	rmig_log_mute(false);
	if (rc || kind != RMIG_HANDOVER_RESULT || !status)
		return ret;
	rmig_error("the destination did not take over: %s; the workload stays here",
		   strerror(status));
	return -EREMOTEIO;
}

/* Best effort and quiet: what failed was already reported, and the peer may be gone. */
static void save_send_abort(struct save_ctx *c)
{
	uint8_t msg[RMIG_HANDOVER_SIZE];

	rmig_handover_encode(msg, RMIG_HANDOVER_ABORT, 0);
	(void)rmig_conn_write(c->conn, msg, sizeof(msg));
}

static void save_finish(struct save_ctx *c, int ret)
{
	struct rmig_migration *m = c->m;
	enum rmig_state s = rmig_state_get(&m->sm);

	if (!ret) {
		atomic_store(&m->end_ns, rmig_time_now_ns());
		/* The commit point: from here the workload is the destination's. */
		if (rmig_state_transition(&m->sm, RMIG_STATE_ACTIVE, RMIG_STATE_COMPLETED) == 0) {
			rmig_fault_source(RMIG_FAULT_AFTER_COMMIT, rmig_save_fault_cancel, m);
			if (rmig_handover_send(c->conn, RMIG_HANDOVER_COMMIT, 0,
					       "committing the hand-over") < 0)
				rmig_warn("the destination may not have heard the commit: it will "
					  "report in-doubt until told that this side completed");
			return;
		}
		/* Cancel landed after the last byte went out; honour it, and say so. */
		save_send_abort(c);
		ret = -ECANCELED;
		s = rmig_state_get(&m->sm);
	} else if (c->trailer_sent) {
		/*
		 * The workload stays here: tell a destination that may have
		 * verified, so it fails instead of waiting in doubt.  A cancel
		 * during the wait for RESULT only interrupted it (where the
		 * transport can), so this still goes out.
		 */
		save_send_abort(c);
	}
	/* The workload must never stay stopped, or throttled, on a source that keeps it. */
	if (c->throttle && m->emb.throttle)
		m->emb.throttle(m->emb.opaque, 0);
	atomic_store(&m->stats.throttle_pct, 0);
	if (atomic_exchange(&m->guest_stopped, false))
		m->emb.cont(m->emb.opaque);
	atomic_store(&m->end_ns, rmig_time_now_ns());
	/* A cancel may land between reading the state and failing; retry on -EBUSY. */
	for (;;) {
		if (s == RMIG_STATE_CANCELLING) {
			/* A failure the cancel overtook is not this migration's end. */
			rmig_migration_clear_error(m);
			rmig_state_transition(&m->sm, RMIG_STATE_CANCELLING, RMIG_STATE_CANCELLED);
			return;
		}
		rmig_migration_set_error(m, ret);
		if (rmig_state_transition(&m->sm, s, RMIG_STATE_FAILED) != -EBUSY)
			return;
		s = rmig_state_get(&m->sm);
	}
}

void *rmig_save_thread(void *opaque)
{
	struct rmig_migration *m = opaque;
	struct save_ctx c = { .m = m };
	struct rmig_ram *ram = m->ram;
	int ret;

	rmig_error_clear();
	rmig_thread_name_self("rmig-migrate");
	rmig_migration_get_params(m, &c.params);
	c.flags = (c.params.caps[RMIG_CAP_VERIFY] ? RMIG_STREAM_F_VERIFY : 0) |
		  (c.params.caps[RMIG_CAP_ZERO_PAGES] ? RMIG_STREAM_F_ZERO_PAGES : 0) |
		  (c.params.caps[RMIG_CAP_MULTIFD] ? RMIG_STREAM_F_MULTIFD : 0);
	/*
	 * Four chances per peer-timeout to be heard, no chattier than every
	 * 20 ms, and at least every 250 ms: the destination times out by its
	 * own peer-timeout, which may be shorter than ours.
	 */
	c.ping_interval_ms = RMIG_MIN(RMIG_MAX(c.params.peer_timeout_ms / 4, 20), 250);
	atomic_store(&m->stats.total, rmig_ram_get_total_bytes(ram));
	atomic_store(&m->stats.remaining, rmig_ram_get_total_bytes(ram));
	atomic_store(&m->stats.page_size, ram->blocks[0]->page_size);

	ret = rmig_save_setup(&c);
	if (ret)
		goto out;
	/* As QEMU's first approximation: the limit, until a round has measured the link. */
	atomic_store(&m->stats.expected_downtime_ms, atomic_load(&m->live.downtime_limit_ms));
	if (rmig_state_transition(&m->sm, RMIG_STATE_SETUP, RMIG_STATE_ACTIVE)) {
		ret = -ECANCELED;
		goto out;
	}
	save_measure_checksum(&c);
	rmig_bw_init(&c.bw, rmig_time_now_ns(), rmig_save_wire_bytes(&c));
	c.pps_start_ns = rmig_time_now_ns();
	rmig_ratelimit_reset(&c.rate, c.pps_start_ns);
	c.rate_seen_bytes = rmig_save_wire_bytes(&c);
	c.pps_start_pages = atomic_load(&m->stats.normal) + atomic_load(&m->stats.duplicate);
	c.pps_start_bytes = rmig_save_wire_bytes(&c);
	ret = save_iterate(&c);
	if (!ret)
		ret = save_complete(&c);
	if (!ret)
		ret = save_await_result(&c);
out:
	if (ret && rmig_save_cancelled(&c))
		ret = -ECANCELED;
	ret = save_read_refusal(&c, ret);
	/* The channels' last bytes into the report before it becomes final. */
	rmig_mfd_send_stop(c.mfd);
	rmig_save_publish_bytes(&c);
	save_finish(&c, ret);
	pthread_mutex_lock(&m->lock);
	m->conn = NULL;
	pthread_mutex_unlock(&m->lock);
	rmig_mfd_send_free(c.mfd);
	if (c.stream.buf)
		rmig_stream_fini(&c.stream);
	if (c.conn)
		rmig_conn_close(c.conn);
	return NULL;
}
