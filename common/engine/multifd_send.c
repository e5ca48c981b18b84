/* SPDX-License-Identifier: MIT */
/*
 * multifd, source side: one thread and one stream per channel, fed by the
 * migration thread through a short queue of page runs (common/engine/multifd.h).
 *
 * The migration thread clears a run's dirty bits before it queues the run,
 * as the single-stream path does before it reads the pages, so a write
 * racing with the send lands in the dirty log and goes again next round, on
 * the same channel, behind this one.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/threadname.h"
#include "common/base/util.h"
#include "common/engine/multifd.h"
#include "common/engine/numa.h"
#include "common/engine/params.h"
#include "common/engine/stream.h"
#include "plugin/registry.h"

#define SEND_QUEUE_LEN RMIG_MULTIFD_QUEUE_RUNS
/* How often a waiting migration thread looks at cancel and its own clock. */
#define SEND_WAIT_SLICE_MS 50

enum item_kind { ITEM_PAGES, ITEM_SYNC, ITEM_EOS };

struct item {
	enum item_kind kind;
	struct rmig_ramblock *b;
	uint64_t page, npages;
	uint32_t round;
};

struct channel {
	struct rmig_mfd_send *ms;
	uint32_t index;
	struct rmig_conn *conn;
	struct rmig_stream stream;
	pthread_t thread;
	bool started;
	bool ended; /* the thread returned after END_OF_STREAM */
	pthread_cond_t work;
	int node;	       /* NUMA node of the thread and buffer; -1: none */
	const char *node_why;  /* how it was picked, for -v */
	uint8_t *buf;	       /* the stream's, from rmig_numa_alloc() */
	/* Under ms->lock: */
	struct item q[SEND_QUEUE_LEN];
	unsigned head, count;
	_Atomic uint64_t bytes;
};

struct rmig_mfd_send {
	struct rmig_mfd_send_config cfg;
	pthread_mutex_t lock;
	pthread_cond_t done; /* a channel finished an item, or failed */
	bool stopping;
	int error; /* the first channel failure, reported in error_desc */
	char error_desc[RMIG_ERROR_MAX];
	uint64_t last_tick_ns;
	struct channel ch[];
};

/* Under ms->lock.  The first failure wins; the others are its echoes. */
static void send_fail(struct rmig_mfd_send *ms, struct channel *ch, int err)
{
	if (ms->error)
		return;
	ms->error = err;
	snprintf(ms->error_desc, sizeof(ms->error_desc), "multifd channel %u: %s", ch->index,
		 *rmig_error_get_last() ? rmig_error_get_last() : strerror(-err));

	pthread_cond_broadcast(&ms->done);
}

static void note_bytes(struct channel *ch)
{
	atomic_store(&ch->bytes, ch->stream.bytes_out + ch->stream.iov_bytes);
}

/* ZERO records for zero pages, DATA (by reference) for the rest, as save.c does. */
static int send_pages(struct channel *ch, const struct item *it)
{
	struct rmig_ram_counters cnt = { 0 };
	int ret = rmig_format_write_pages(&ch->stream, it->b, it->page, it->npages,
					  ch->ms->cfg.zero_pages, &cnt);

	/* transferred stays 0: the migration thread counts channel bytes itself. */
	rmig_stats_add(ch->ms->cfg.stats, &cnt);
	return ret;
}

static int send_control(struct channel *ch, uint32_t type, uint32_t arg)
{
	struct rmig_record r = { .type = type, .arg = arg };
	int ret = rmig_format_write_record(&ch->stream, &r);

	return ret ? ret : rmig_stream_flush(&ch->stream);
}

/* Runs of pages, flushed together: one writev for the lot. */
static int send_runs(struct channel *ch, const struct item *runs, unsigned n)
{
	int ret = 0;

	for (unsigned i = 0; i < n && !ret; i++)
		ret = send_pages(ch, &runs[i]);
	return ret ? ret : rmig_stream_flush(&ch->stream);
}

static int send_item(struct channel *ch, const struct item *it)
{
	switch (it->kind) {
	case ITEM_PAGES:
		return send_runs(ch, it, 1);
	case ITEM_SYNC:
		return send_control(ch, RMIG_REC_SYNC, it->round);
	case ITEM_EOS:
		return send_control(ch, RMIG_REC_EOS, 0);
	}
	return -EINVAL;
}

static unsigned queue_depth(const struct rmig_mfd_send *ms)
{
	return ms->cfg.max_bandwidth && atomic_load(ms->cfg.max_bandwidth) ? 1 : SEND_QUEUE_LEN;
}

static uint64_t run_bytes(const struct item *it)
{
	return it->npages << it->b->page_shift;
}

/*
 * Under ms->lock, with runs of pages at the head of @ch's queue: take the
 * runs up to the next SYNC or END_OF_STREAM off the queue, as many as fit
 * in RMIG_MULTIFD_WRITE_BYTES, and write them in one go.  One writev of a
 * few MiB costs the kernel less than one per stripe (the single stream's
 * advantage over a raw socket's 1 MiB writes), and the slots are free at
 * once, so the migration thread refills this queue, and reaches the other
 * channels', while this one sends.  Returns with the lock held again.
 */
static int send_queued_runs(struct channel *ch)
{
	struct rmig_mfd_send *ms = ch->ms;
	struct item runs[SEND_QUEUE_LEN];
	uint64_t bytes = 0;
	unsigned n = 0;
	int ret;

	while (n < ch->count) {
		const struct item *it = &ch->q[(ch->head + n) % SEND_QUEUE_LEN];

		if (it->kind != ITEM_PAGES || (n && bytes + run_bytes(it) > RMIG_MULTIFD_WRITE_BYTES))
			break;
		bytes += run_bytes(it);
		runs[n++] = *it;
	}
	ch->head = (ch->head + n) % SEND_QUEUE_LEN;
	ch->count -= n;
	pthread_cond_broadcast(&ms->done);
	pthread_mutex_unlock(&ms->lock);
	ret = send_runs(ch, runs, n);
	note_bytes(ch);
	pthread_mutex_lock(&ms->lock);
	return ret;
}

static void *send_thread(void *opaque)
{
	struct channel *ch = opaque;
	struct rmig_mfd_send *ms = ch->ms;
	bool eos = false;

	rmig_error_clear();
	rmig_thread_name_self("rmig-mfd-tx%u", ch->index);
	/* A failed binding costs speed, not correctness: on, unbound. */
	if (ch->node >= 0 && rmig_numa_bind_thread(ch->node))
		rmig_warn("source multifd channel %u runs unbound: %s", ch->index,
			  rmig_error_get_last());
	rmig_numa_report("source", ch->index, ch->node, ch->node_why, ch->buf);
	pthread_mutex_lock(&ms->lock);
	while (!eos) {
		struct item it;
		int ret;

		while (!ch->count && !ms->stopping && !ms->error) {
			struct timespec ts = rmig_timespec_in_ms(ms->cfg.ping_interval_ms);

			if (pthread_cond_timedwait(&ch->work, &ms->lock, &ts) != ETIMEDOUT ||
			    ch->count || ms->stopping || ms->error)
				continue;
			/* A quiet channel is not a dead one: say so before the peer wonders. */
			pthread_mutex_unlock(&ms->lock);
			ret = send_control(ch, RMIG_REC_PING, 0);
			note_bytes(ch);
			pthread_mutex_lock(&ms->lock);
			if (ret)
				send_fail(ms, ch, ret);
		}
		if (ms->stopping || ms->error)
			break;
		it = ch->q[ch->head];
		if (it.kind == ITEM_PAGES && queue_depth(ms) > 1) {
			ret = send_queued_runs(ch);
			if (ret)
				send_fail(ms, ch, ret);
			continue;
		}
		pthread_mutex_unlock(&ms->lock);
		ret = send_item(ch, &it);
		note_bytes(ch);
		pthread_mutex_lock(&ms->lock);
		ch->head = (ch->head + 1) % SEND_QUEUE_LEN;
		ch->count--;
		if (ret)
			send_fail(ms, ch, ret);
		eos = !ret && it.kind == ITEM_EOS;
		pthread_cond_broadcast(&ms->done);
	}
	ch->ended = eos;
	if (eos) {
		/*
		 * Done: close now, beside the other channels, since a close waits
		 * for the peer's (plugin/sock.c), and one by one at teardown
		 * they would add up in the downtime.
		 */
		struct rmig_conn *conn = ch->conn;

		ch->conn = NULL;
		pthread_mutex_unlock(&ms->lock);
		rmig_stream_fini(&ch->stream);
		rmig_conn_close(conn);
		return NULL;
	}
	pthread_mutex_unlock(&ms->lock);
	return NULL;
}

int rmig_mfd_send_new(const struct rmig_mfd_send_config *cfg, struct rmig_mfd_send **out)
{
	struct rmig_mfd_send *ms;

	if (!cfg->channels || cfg->channels > RMIG_MULTIFD_CHANNELS_MAX || !cfg->stats) {
		rmig_error("multifd: %u channels asked for (1 to %u)", cfg->channels,
			   RMIG_MULTIFD_CHANNELS_MAX);
		return -EINVAL;
	}
	ms = calloc(1, sizeof(*ms) + cfg->channels * sizeof(ms->ch[0]));
	if (!ms) {
		rmig_error("multifd: out of memory for %u channels", cfg->channels);
		return -ENOMEM;
	}
	ms->cfg = *cfg;
	if (!ms->cfg.ping_interval_ms)
		ms->cfg.ping_interval_ms = 1000;
	pthread_mutex_init(&ms->lock, NULL);
	rmig_cond_init_monotonic(&ms->done);
	for (uint32_t i = 0; i < cfg->channels; i++) {
		ms->ch[i].ms = ms;
		ms->ch[i].index = i;
		ms->ch[i].node = -1;
		rmig_cond_init_monotonic(&ms->ch[i].work);
	}
	ms->last_tick_ns = rmig_time_now_ns();
	*out = ms;
	return 0;
}

int rmig_mfd_send_add(struct rmig_mfd_send *ms, uint32_t index, struct rmig_conn *conn,
		      const uint8_t session[RMIG_MULTIFD_SESSION_SIZE])
{
	struct rmig_channel_hello hello = { .index = index, .count = ms->cfg.channels };
	uint8_t msg[RMIG_CHANNEL_HELLO_SIZE];
	struct channel *ch = &ms->ch[index];
	int ret;

	ch->conn = conn;
	memcpy(hello.session, session, sizeof(hello.session));
	rmig_channel_hello_encode(msg, &hello);
	ch->node = rmig_numa_pick(ms->cfg.numa ? ms->cfg.numa_node : RMIG_NUMA_NODE_NONE, conn,
				  &ch->node_why);
	ch->buf = rmig_numa_alloc(RMIG_STREAM_BUF_DEFAULT, ch->node);
	if (!ch->buf) {
		rmig_error("multifd: out of memory for the buffer of channel %u", index);
		return -ENOMEM;
	}
	rmig_stream_init_buf(&ch->stream, conn, ch->buf, RMIG_STREAM_BUF_DEFAULT);
	ret = rmig_stream_write(&ch->stream, msg, sizeof(msg));
	if (!ret)
		ret = rmig_stream_flush(&ch->stream);
	if (ret)
		return ret;
	note_bytes(ch);
	ret = -pthread_create(&ch->thread, NULL, send_thread, ch);
	if (ret) {
		rmig_error("multifd: cannot start the thread of channel %u: %s", index,
			   strerror(-ret));
		return ret;
	}
	ch->started = true;
	return 0;
}

/* Under ms->lock: the error to hand the migration thread, re-reported on its own thread. */
static int take_error(struct rmig_mfd_send *ms)
{
	if (ms->error)
		rmig_error("%s", ms->error_desc);
	return ms->error;
}

/*
 * Under ms->lock: wait one slice for a channel to make progress, keeping
 * the caller's clock (tick) and cancel in view.
 */
static int wait_slice(struct rmig_mfd_send *ms)
{
	struct timespec ts = rmig_timespec_in_ms(SEND_WAIT_SLICE_MS);
	uint64_t now;

	pthread_cond_timedwait(&ms->done, &ms->lock, &ts);
	if (ms->cfg.cancel && atomic_load(ms->cfg.cancel))
		return -ECANCELED;
	now = rmig_time_now_ns();
	if (ms->cfg.tick && now - ms->last_tick_ns >= ms->cfg.ping_interval_ms * RMIG_NSEC_PER_MSEC) {
		ms->last_tick_ns = now;
		pthread_mutex_unlock(&ms->lock);
		ms->cfg.tick(ms->cfg.tick_opaque);
		pthread_mutex_lock(&ms->lock);
	}
	return take_error(ms);
}

/* Under ms->lock. */
static int enqueue(struct rmig_mfd_send *ms, struct channel *ch, const struct item *it)
{
	int ret = take_error(ms);

	while (!ret && ch->count >= queue_depth(ms))
		ret = wait_slice(ms);
	if (ret)
		return ret;
	if (!ch->started) {
		rmig_error("multifd: channel %u was never connected", ch->index);
		return -ENOTCONN;
	}
	ch->q[(ch->head + ch->count) % SEND_QUEUE_LEN] = *it;
	ch->count++;
	pthread_cond_signal(&ch->work);
	return 0;
}

int rmig_mfd_send_pages(struct rmig_mfd_send *ms, struct rmig_ramblock *b, uint64_t page,
			uint64_t npages)
{
	int ret = 0;

	pthread_mutex_lock(&ms->lock);
	while (!ret && npages) {
		uint64_t n = RMIG_MIN(npages, rmig_multifd_stripe_left(b, page));
		uint32_t owner = rmig_multifd_owner(b, page << b->page_shift, ms->cfg.channels);
		struct item it = { .kind = ITEM_PAGES, .b = b, .page = page, .npages = n };

		ret = enqueue(ms, &ms->ch[owner], &it);
		page += n;
		npages -= n;
	}
	pthread_mutex_unlock(&ms->lock);
	return ret;
}

/* Queue @kind on every channel, then wait until every queue has drained. */
static int send_everywhere(struct rmig_mfd_send *ms, enum item_kind kind, uint32_t round)
{
	struct item it = { .kind = kind, .round = round };
	int ret = 0;

	pthread_mutex_lock(&ms->lock);
	for (uint32_t i = 0; i < ms->cfg.channels && !ret; i++)
		ret = enqueue(ms, &ms->ch[i], &it);
	for (uint32_t i = 0; i < ms->cfg.channels && !ret; i++)
		while (!ret && ms->ch[i].count)
			ret = wait_slice(ms);
	pthread_mutex_unlock(&ms->lock);
	return ret;
}

int rmig_mfd_send_sync(struct rmig_mfd_send *ms, uint32_t round)
{
	return send_everywhere(ms, ITEM_SYNC, round);
}

int rmig_mfd_send_finish(struct rmig_mfd_send *ms)
{
	return send_everywhere(ms, ITEM_EOS, 0);
}

uint64_t rmig_mfd_send_bytes(struct rmig_mfd_send *ms)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; ms && i < ms->cfg.channels; i++)
		sum += atomic_load(&ms->ch[i].bytes);
	return sum;
}

uint32_t rmig_mfd_send_channel_bytes(struct rmig_mfd_send *ms, uint64_t *bytes, uint32_t max)
{
	uint32_t n = ms ? RMIG_MIN(ms->cfg.channels, max) : 0;

	for (uint32_t i = 0; i < n; i++)
		bytes[i] = atomic_load(&ms->ch[i].bytes);
	return n;
}

void rmig_mfd_send_abort(struct rmig_mfd_send *ms)
{
	if (!ms)
		return;
	/* Under the lock: a channel that ended closes its connection itself. */
	pthread_mutex_lock(&ms->lock);
	for (uint32_t i = 0; i < ms->cfg.channels; i++)
		if (ms->ch[i].conn)
			rmig_conn_abort(ms->ch[i].conn);
	pthread_mutex_unlock(&ms->lock);
}

void rmig_mfd_send_stop(struct rmig_mfd_send *ms)
{
	bool clean = true;

	if (!ms)
		return;
	pthread_mutex_lock(&ms->lock);
	ms->stopping = true;
	for (uint32_t i = 0; i < ms->cfg.channels; i++) {
		pthread_cond_signal(&ms->ch[i].work);
		if (ms->ch[i].started && !ms->ch[i].ended)
			clean = false;
	}
	pthread_mutex_unlock(&ms->lock);
	/* A thread still writing may wait out the peer-timeout otherwise. */
	if (!clean)
		rmig_mfd_send_abort(ms);
	for (uint32_t i = 0; i < ms->cfg.channels; i++) {
		if (ms->ch[i].started)
			pthread_join(ms->ch[i].thread, NULL);
		ms->ch[i].started = false;
	}
}

void rmig_mfd_send_free(struct rmig_mfd_send *ms)
{
	if (!ms)
		return;
	rmig_mfd_send_stop(ms);
	for (uint32_t i = 0; i < ms->cfg.channels; i++) {
		struct channel *ch = &ms->ch[i];

		if (ch->stream.buf)
			rmig_stream_fini(&ch->stream);
		if (ch->conn)
			rmig_conn_close(ch->conn);
		rmig_numa_free(ch->buf, RMIG_STREAM_BUF_DEFAULT, ch->node);
		pthread_cond_destroy(&ch->work);
	}
	pthread_cond_destroy(&ms->done);
	pthread_mutex_destroy(&ms->lock);
	free(ms);
}
