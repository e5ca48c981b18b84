/* SPDX-License-Identifier: MIT */
/*
 * multifd, destination side: a thread per channel applies DATA and ZERO
 * records straight into RAM, each checked against the header, the blocks
 * and the channel's own stripes before a byte is written
 * (common/engine/multifd.h).  Channels never touch each other's pages, so
 * they need no lock between them; they meet only at SYNC, which the main
 * loader waits for before it reads past END_OF_ROUND.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rmig/log.h>

#include "common/base/threadname.h"
#include "common/base/util.h"
#include "common/engine/fault.h"
#include "common/engine/multifd.h"
#include "common/engine/numa.h"
#include "common/engine/params.h"
#include "common/engine/stream.h"
#include "common/ram/zero.h"
#include "plugin/registry.h"

/* How often a waiting loader looks at its deadline. */
#define RECV_WAIT_SLICE_MS 100

struct rchannel {
	struct rmig_mfd_recv *mr;
	uint32_t index;
	struct rmig_conn *conn;
	struct rmig_stream stream;
	pthread_t thread;
	bool started;
	int node;	      /* NUMA node of the thread and buffer; -1: none */
	const char *node_why; /* how it was picked, for -v */
	uint8_t *buf;	      /* the stream's, from rmig_numa_alloc() */
	_Atomic uint64_t records; /* records applied: the waits below see it move */
	/* Under mr->lock: */
	uint64_t synced; /* SYNC records applied */
	bool eos;
};

struct rmig_mfd_recv {
	const struct rmig_stream_header *h;
	struct rmig_ram *ram;
	struct rmig_stats *st;
	struct rmig_conn *main;
	uint32_t n;
	uint64_t peer_timeout_ms; /* the waits' deadline without progress; 0: none */
	pthread_mutex_t lock;
	pthread_cond_t progress;
	int error;
	char error_desc[RMIG_ERROR_MAX];
	struct rchannel ch[];
};

/* Wakes everything that could be waiting on this migration: the main loader and every channel. */
void rmig_mfd_recv_abort(struct rmig_mfd_recv *mr)
{
	if (!mr)
		return;
	/* Under the lock: a channel that ended closes its connection itself. */
	pthread_mutex_lock(&mr->lock);
	for (uint32_t i = 0; i < mr->n; i++)
		if (mr->ch[i].conn)
			rmig_conn_abort(mr->ch[i].conn);
	pthread_mutex_unlock(&mr->lock);
}

static void recv_fail(struct rchannel *ch, int err)
{
	struct rmig_mfd_recv *mr = ch->mr;
	bool first;

	pthread_mutex_lock(&mr->lock);
	first = !mr->error;
	if (first) {
		const char *why = *rmig_error_get_last() ? rmig_error_get_last() : strerror(-err);

		mr->error = err;
		/* Name the channel, unless the reason already does. */
		if (strncmp(why, "multifd channel", 15) == 0)
			snprintf(mr->error_desc, sizeof(mr->error_desc), "%s", why);
		else
			snprintf(mr->error_desc, sizeof(mr->error_desc), "multifd channel %u: %s",
				 ch->index, why);
	}
	pthread_cond_broadcast(&mr->progress);
	pthread_mutex_unlock(&mr->lock);
	/*
	 * The loader may sit on a quiet main stream: it must hear of this now,
	 * yet keep the connection to tell the source why it failed.
	 */
	if (first) {
		if (!rmig_conn_interrupt(mr->main))
			rmig_conn_abort(mr->main);
		rmig_mfd_recv_abort(mr);
	}
}

/* A page record on this channel: inside one stripe, and a stripe this channel owns. */
static int check_owner(const struct rchannel *ch, const struct rmig_record *r)
{
	const struct rmig_ramblock *b = rmig_ram_get_block(ch->mr->ram, r->block);
	uint64_t page = r->offset >> b->page_shift;
	uint32_t owner = rmig_multifd_owner(b, r->offset, ch->mr->n);

	if (owner != ch->index || r->npages > rmig_multifd_stripe_left(b, page)) {
		rmig_error("multifd channel %u carried pages of RAM block \"%s\" at offset 0x%llx "
			   "(%u pages) that belong to channel %u or run past their stripe",
			   ch->index, b->name, (unsigned long long)r->offset, r->npages, owner);
		return -EPROTO;
	}
	return 0;
}

/* 0 to go on, 1 at END_OF_STREAM, or a negative errno (reported). */
static int recv_record(struct rchannel *ch, const struct rmig_record *r,
		       struct rmig_ram_counters *cnt)
{
	struct rmig_mfd_recv *mr = ch->mr;
	struct rmig_ramblock *b;
	int ret;

	switch (r->type) {
	case RMIG_REC_DATA:
	case RMIG_REC_ZERO:
		ret = check_owner(ch, r);
		if (ret)
			return ret;
		b = rmig_ram_get_block(mr->ram, r->block);
		if (r->type == RMIG_REC_ZERO) {
			rmig_zero_pages_apply(b->host + r->offset, b->page_size, r->npages);
			cnt->zero_pages += r->npages;
			return 0;
		}
		/* The bulk round's first page, as load.c marks it on a single stream. */
		rmig_fault_dest(RMIG_FAULT_BULK, NULL, NULL);
		ret = rmig_stream_read(&ch->stream, b->host + r->offset,
				       (size_t)r->npages * b->page_size);
		cnt->normal_pages += r->npages;
		cnt->normal_bytes += (uint64_t)r->npages * b->page_size;
		return ret;
	case RMIG_REC_SYNC:
		pthread_mutex_lock(&mr->lock);
		ret = r->arg == (uint32_t)ch->synced ? 0 : -EPROTO;
		if (!ret)
			ch->synced++;
		pthread_cond_broadcast(&mr->progress);
		pthread_mutex_unlock(&mr->lock);
		if (ret)
			rmig_error("multifd channel %u: SYNC for round %u, expected round %u",
				   ch->index, r->arg, (uint32_t)ch->synced);
		return ret;
	case RMIG_REC_PING:
		return 0;
	case RMIG_REC_EOS:
		return 1;
	default:
		rmig_error("multifd channel %u carried a control record (type %u): channels carry "
			   "pages, SYNC, PING and END_OF_STREAM only",
			   ch->index, r->type);
		return -EPROTO;
	}
}

static void *recv_thread(void *opaque)
{
	struct rchannel *ch = opaque;
	struct rmig_mfd_recv *mr = ch->mr;
	uint64_t counted = ch->stream.bytes_in;
	struct rmig_conn *conn;
	int ret;

	rmig_error_clear();
	rmig_thread_name_self("rmig-mfd-rx%u", ch->index);
	/* A failed binding costs speed, not correctness: on, unbound. */
	if (ch->node >= 0 && rmig_numa_bind_thread(ch->node))
		rmig_warn("destination multifd channel %u runs unbound: %s", ch->index,
			  rmig_error_get_last());
	rmig_numa_report("destination", ch->index, ch->node, ch->node_why, ch->buf);
	do {
		struct rmig_ram_counters cnt = { 0 };
		struct rmig_record r;

		ret = rmig_format_read_record(&ch->stream, mr->h, mr->ram, &r);
		if (!ret)
			ret = recv_record(ch, &r, &cnt);
		/* PING keeps a channel alive, but is no progress towards a SYNC. */
		if (!ret && r.type != RMIG_REC_PING)
			atomic_fetch_add(&ch->records, 1);
		cnt.transferred = ch->stream.bytes_in - counted;
		counted = ch->stream.bytes_in;
		if (mr->st) {
			rmig_stats_add(mr->st, &cnt);
			atomic_fetch_add(&mr->st->channel_bytes[ch->index], cnt.transferred);
		}
	} while (ret == 0);
	if (ret < 0) {
		recv_fail(ch, ret);
		return NULL;
	}
	/*
	 * Nothing more comes: close now, beside the other channels, since a
	 * close waits for the peer's (plugin/sock.c), and one by one after the
	 * load they would add up in the downtime.
	 */
	pthread_mutex_lock(&mr->lock);
	ch->eos = true;
	conn = ch->conn;
	ch->conn = NULL;
	pthread_cond_broadcast(&mr->progress);
	pthread_mutex_unlock(&mr->lock);
	rmig_stream_fini(&ch->stream);
	rmig_conn_close(conn);
	return NULL;
}

int rmig_mfd_recv_start(struct rmig_conn **conns, const struct rmig_stream_header *h,
			struct rmig_ram *ram, struct rmig_stats *st, struct rmig_conn *main,
			uint64_t peer_timeout_ms, struct rmig_mfd_recv **out)
{
	return rmig_mfd_recv_start_numa(conns, h, ram, st, main, peer_timeout_ms,
					RMIG_NUMA_NODE_NONE, out);
}

int rmig_mfd_recv_start_numa(struct rmig_conn **conns, const struct rmig_stream_header *h,
			     struct rmig_ram *ram, struct rmig_stats *st, struct rmig_conn *main,
			     uint64_t peer_timeout_ms, int numa_node, struct rmig_mfd_recv **out)
{
	struct rmig_mfd_recv *mr;
	uint32_t n = h->channels;
	int ret = 0;

	mr = calloc(1, sizeof(*mr) + n * sizeof(mr->ch[0]));
	if (!mr) {
		for (uint32_t i = 0; i < n; i++)
			rmig_conn_close(conns[i]);
		rmig_error("multifd: out of memory for %u channels", n);
		return -ENOMEM;
	}
	*mr = (struct rmig_mfd_recv){ .h = h, .ram = ram, .st = st, .main = main, .n = n,
				      .peer_timeout_ms = peer_timeout_ms };
	pthread_mutex_init(&mr->lock, NULL);
	rmig_cond_init_monotonic(&mr->progress);
	if (st) {
		/* Each channel's hello crossed it too, as the source counts it. */
		atomic_store(&st->channels, n);
		for (uint32_t i = 0; i < n; i++)
			atomic_fetch_add(&st->channel_bytes[i], RMIG_CHANNEL_HELLO_SIZE);
		atomic_fetch_add(&st->transferred, (uint64_t)n * RMIG_CHANNEL_HELLO_SIZE);
	}
	for (uint32_t i = 0; i < n; i++) {
		mr->ch[i].mr = mr;
		mr->ch[i].index = i;
		mr->ch[i].conn = conns[i];
		mr->ch[i].node = -1;
	}
	for (uint32_t i = 0; i < n && !ret; i++) {
		struct rchannel *ch = &mr->ch[i];

		ch->node = rmig_numa_pick(numa_node, ch->conn, &ch->node_why);
		ch->buf = rmig_numa_alloc(RMIG_STREAM_BUF_DEFAULT, ch->node);
		if (!ch->buf) {
			rmig_error("multifd: out of memory for the buffer of channel %u", i);
			ret = -ENOMEM;
			break;
		}
		rmig_stream_init_buf(&ch->stream, ch->conn, ch->buf, RMIG_STREAM_BUF_DEFAULT);
		ch->stream.peer_timeout_ms = peer_timeout_ms;
		ret = -pthread_create(&ch->thread, NULL, recv_thread, ch);
		if (ret)
			rmig_error("multifd: cannot start the thread of channel %u: %s", i,
				   strerror(-ret));
		else
			ch->started = true;
	}
	if (ret) {
		rmig_mfd_recv_free(mr);
		return ret;
	}
	*out = mr;
	return 0;
}

/* Under mr->lock: the failure, re-reported on the caller's thread. */
static int take_error(struct rmig_mfd_recv *mr)
{
	if (mr->error)
		rmig_error("%s", mr->error_desc);
	return mr->error;
}

int rmig_mfd_recv_error(struct rmig_mfd_recv *mr)
{
	int ret;

	pthread_mutex_lock(&mr->lock);
	ret = take_error(mr);
	pthread_mutex_unlock(&mr->lock);
	return ret;
}

/*
 * Under mr->lock: wait for channel @i to move, at most a slice.  Each
 * channel's own read deadline catches a silent one; this catches one that
 * talks (PING) but never gets anywhere: no record other than PING for a
 * whole peer-timeout.  An honest source flushed what we wait for before
 * the main stream asked us to wait, so only a backlog delays it, and a
 * backlog is records.
 */
static int wait_channel(struct rmig_mfd_recv *mr, uint32_t i, uint64_t *seen, uint64_t *deadline,
			const char *what)
{
	uint64_t now = rmig_time_now_ns(), records = atomic_load(&mr->ch[i].records);
	struct timespec ts = rmig_timespec_in_ms(RECV_WAIT_SLICE_MS);

	if (!mr->peer_timeout_ms) {
		pthread_cond_wait(&mr->progress, &mr->lock);
		return 0;
	}
	if (records != *seen || !*deadline) {
		*seen = records;
		*deadline = now + mr->peer_timeout_ms * RMIG_NSEC_PER_MSEC;
	}
	if (now >= *deadline) {
		rmig_error("multifd channel %u: no %s within %llu ms (peer-timeout), only PINGs "
			   "or nothing",
			   i, what, (unsigned long long)mr->peer_timeout_ms);
		/*
		 * The first failure, before the abort that follows makes every
		 * channel fail with -ECANCELED: that would read as a cancel,
		 * and the source would not be told why.
		 */
		if (!mr->error) {
			mr->error = -ETIMEDOUT;
			snprintf(mr->error_desc, sizeof(mr->error_desc), "%s", rmig_error_get_last());
		}
		return -ETIMEDOUT;
	}
	pthread_cond_timedwait(&mr->progress, &mr->lock, &ts);
	return 0;
}

int rmig_mfd_recv_wait_round(struct rmig_mfd_recv *mr, uint64_t round)
{
	int ret = 0;

	pthread_mutex_lock(&mr->lock);
	for (uint32_t i = 0; i < mr->n && !ret; i++) {
		uint64_t seen = 0, deadline = 0;

		while (!(ret = take_error(mr)) && mr->ch[i].synced <= round && !mr->ch[i].eos)
			if ((ret = wait_channel(mr, i, &seen, &deadline, "SYNC")))
				break;
		if (!ret && mr->ch[i].synced <= round) {
			rmig_error("multifd channel %u ended before the SYNC of round %llu", i,
				   (unsigned long long)round);
			ret = -EPROTO;
		}
	}
	pthread_mutex_unlock(&mr->lock);
	if (ret == -ETIMEDOUT)
		rmig_mfd_recv_abort(mr);
	return ret;
}

int rmig_mfd_recv_finish(struct rmig_mfd_recv *mr)
{
	int ret = 0;

	pthread_mutex_lock(&mr->lock);
	for (uint32_t i = 0; i < mr->n && !ret; i++) {
		uint64_t seen = 0, deadline = 0;

		while (!(ret = take_error(mr)) && !mr->ch[i].eos)
			if ((ret = wait_channel(mr, i, &seen, &deadline, "END_OF_STREAM")))
				break;
	}
	pthread_mutex_unlock(&mr->lock);
	if (ret == -ETIMEDOUT)
		rmig_mfd_recv_abort(mr);
	return ret;
}

void rmig_mfd_recv_free(struct rmig_mfd_recv *mr)
{
	bool all_done = true;

	if (!mr)
		return;
	pthread_mutex_lock(&mr->lock);
	for (uint32_t i = 0; i < mr->n; i++)
		if (mr->ch[i].started && !mr->ch[i].eos)
			all_done = false;
	pthread_mutex_unlock(&mr->lock);
	/* A thread still reading would wait out the peer-timeout. */
	if (!all_done)
		rmig_mfd_recv_abort(mr);
	/* Every thread first: a failing one aborts its siblings' connections. */
	for (uint32_t i = 0; i < mr->n; i++)
		if (mr->ch[i].started)
			pthread_join(mr->ch[i].thread, NULL);
	for (uint32_t i = 0; i < mr->n; i++) {
		struct rchannel *ch = &mr->ch[i];

		if (ch->stream.buf)
			rmig_stream_fini(&ch->stream);
		if (ch->conn)
			rmig_conn_close(ch->conn);
		rmig_numa_free(ch->buf, RMIG_STREAM_BUF_DEFAULT, ch->node);
	}
	pthread_cond_destroy(&mr->progress);
	pthread_mutex_destroy(&mr->lock);
	free(mr);
}
