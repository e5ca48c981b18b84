/* SPDX-License-Identifier: MIT */
/*
 * The synthetic guest's writer threads: they pick pages by the configured
 * pattern, dirty them at the configured rate, and obey stop, cont and
 * throttle.
 *
 * Writers behave like vCPUs seen by a hypervisor with dirty logging: they
 * store into a page and then report it with rmig_ram_mark_dirty(), in that
 * order, so the migration can never see the bit without the data.
 *
 * Stopping is the delicate part: after rmig_guest_stop() returns, no byte
 * may change until rmig_guest_cont(), because the final round and the
 * verify checksum are computed right after.  A writer checks the stop flag
 * before every page and acknowledges under the mutex once it is parked;
 * stop() waits for every acknowledgement, and the mutex hand-off makes each
 * writer's last store visible to the caller.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/threadname.h"
#include "common/base/util.h"
#include "tools/guest_int.h"

/* Pacing granularity: writers sleep at most this long between checks. */
#define GUEST_STEP_NS RMIG_NSEC_PER_MSEC
/*
 * Tokens a writer may bank: enough to make up for a scheduling delay on a
 * loaded host without turning a long pause into a burst.
 */
#define GUEST_BURST_NS (20 * RMIG_NSEC_PER_MSEC)
/* Pages written between looks at the clock, so pacing and throttling stay accurate. */
#define GUEST_BATCH_MAX 256
/* Words stored into each written page. */
#define GUEST_WORDS_PER_WRITE 4

static int writers_sync_init(struct rmig_guest *g)
{
	pthread_condattr_t attr;
	int ret;

	ret = pthread_mutex_init(&g->lock, NULL);
	if (ret)
		goto report;
	ret = pthread_condattr_init(&attr);
	if (ret)
		goto err_destroy_lock;
	/* Deadlines come from rmig_time_now_ns(), the monotonic clock. */
	ret = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (ret)
		goto err_destroy_attr;
	ret = pthread_cond_init(&g->wake, &attr);
	if (ret)
		goto err_destroy_attr;
	ret = pthread_cond_init(&g->parked_cv, &attr);
	if (ret)
		goto err_destroy_wake;
	pthread_condattr_destroy(&attr);
	return 0;

err_destroy_wake:
	pthread_cond_destroy(&g->wake);
err_destroy_attr:
	pthread_condattr_destroy(&attr);
err_destroy_lock:
	pthread_mutex_destroy(&g->lock);
report:
	rmig_error("guest: cannot initialise thread synchronisation: %s", strerror(ret));
	return -ret;
}

int rmig_guest_writers_init(struct rmig_guest *g)
{
	int ret;

	g->writers = calloc(g->cfg.writers, sizeof(*g->writers));
	if (!g->writers) {
		rmig_error("guest: out of memory for %u writers", g->cfg.writers);
		return -ENOMEM;
	}
	ret = writers_sync_init(g);
	if (ret < 0) {
		free(g->writers);
		return ret;
	}
	for (unsigned i = 0; i < g->cfg.writers; i++) {
		g->writers[i].g = g;
		g->writers[i].rng = g->cfg.seed ^ (0xbb67ae8584caa73bULL * (i + 1));
	}
	return 0;
}

void rmig_guest_writers_fini(struct rmig_guest *g)
{
	pthread_cond_destroy(&g->parked_cv);
	pthread_cond_destroy(&g->wake);
	pthread_mutex_destroy(&g->lock);
	free(g->writers);
}

/* A page index over the concatenation of all blocks, honouring the pattern. */
static void pick_page(struct rmig_guest *g, uint64_t *rng, struct guest_block **blk, uint64_t *page)
{
	unsigned i;
	uint64_t idx;

	if (g->cfg.pattern == RMIG_GUEST_HOTSET &&
	    (g->cold_total == 0 || rng_unit(rng) < g->cfg.hot_share)) {
		idx = rng_below(rng, g->hot_total);
		for (i = 0; idx >= g->blocks[i].hot_pages; i++)
			idx -= g->blocks[i].hot_pages;
		*blk = &g->blocks[i];
		*page = idx;
		return;
	}
	if (g->cfg.pattern == RMIG_GUEST_HOTSET) {
		idx = rng_below(rng, g->cold_total);
		for (i = 0; idx >= g->blocks[i].npages - g->blocks[i].hot_pages; i++)
			idx -= g->blocks[i].npages - g->blocks[i].hot_pages;
		*blk = &g->blocks[i];
		*page = g->blocks[i].hot_pages + idx;
		return;
	}
	idx = rng_below(rng, g->total_pages);
	for (i = 0; idx >= g->blocks[i].npages; i++)
		idx -= g->blocks[i].npages;
	*blk = &g->blocks[i];
	*page = idx;
}

/*
 * One guest write: a few words at random places of one page.  The first
 * word is xor'ed with a non-zero value so the page is guaranteed to change.
 * Writers may hit the same word at once, like vCPUs sharing memory; relaxed
 * atomics make that well defined at the cost of plain moves.
 */
static void write_page(struct rmig_guest *g, uint64_t *rng)
{
	uint64_t words = g->cfg.page_size / sizeof(uint64_t);
	struct guest_block *gb;
	uint64_t page, *base, *w;

	pick_page(g, rng, &gb, &page);
	base = (uint64_t *)(void *)(gb->host + (page << g->page_shift));
	w = base + rng_below(rng, words);
	__atomic_store_n(w, __atomic_load_n(w, __ATOMIC_RELAXED) ^ (rng_next(rng) | 1),
			 __ATOMIC_RELAXED);
	for (int k = 1; k < GUEST_WORDS_PER_WRITE; k++) {
		w = base + rng_below(rng, words);
		__atomic_store_n(w, rng_next(rng), __ATOMIC_RELAXED);
	}
	rmig_ram_mark_dirty(gb->rb, page << g->page_shift, g->cfg.page_size);
}

/* Writes up to @n pages, fewer if a stop arrives; returns how many. */
static uint64_t write_batch(struct guest_writer *w, uint64_t n)
{
	struct rmig_guest *g = w->g;
	uint64_t done;

	for (done = 0; done < n; done++) {
		if (atomic_load_explicit(&g->stop_flag, memory_order_relaxed))
			break;
		write_page(g, &w->rng);
	}
	/* Only this thread writes its counter; readers just need a whole value. */
	atomic_store_explicit(&w->writes,
			      atomic_load_explicit(&w->writes, memory_order_relaxed) + done,
			      memory_order_relaxed);
	return done;
}

static struct timespec ns_to_timespec(uint64_t ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / RMIG_NSEC_PER_SEC),
		.tv_nsec = (long)(ns % RMIG_NSEC_PER_SEC),
	};

	return ts;
}

/*
 * Sleeps until @deadline (0: until woken), or earlier when a stop, quit,
 * cont or throttle change arrives, so that stop() never waits out a long
 * throttle sleep.
 */
static void writer_wait(struct rmig_guest *g, uint64_t deadline)
{
	struct timespec ts = ns_to_timespec(deadline);
	uint64_t gen;

	pthread_mutex_lock(&g->lock);
	gen = g->gen;
	while (!g->stop_req && !g->quit && g->gen == gen) {
		if (!deadline) {
			pthread_cond_wait(&g->wake, &g->lock);
		} else if (pthread_cond_timedwait(&g->wake, &g->lock, &ts) == ETIMEDOUT) {
			break;
		}
	}
	pthread_mutex_unlock(&g->lock);
}

/* Acknowledges a stop and waits for cont(); returns false when the guest is quitting. */
static bool writer_park(struct rmig_guest *g)
{
	bool quit;

	pthread_mutex_lock(&g->lock);
	g->parked++;
	pthread_cond_broadcast(&g->parked_cv);
	while (g->stop_req && !g->quit)
		pthread_cond_wait(&g->wake, &g->lock);
	g->parked--;
	quit = g->quit;
	pthread_mutex_unlock(&g->lock);
	return !quit;
}

/*
 * Pacing is a token bucket in bytes, a page write costing page_size.
 * Throttling is a duty cycle on top: after each GUEST_STEP_NS of running
 * the writer sleeps pct/(100-pct) of that, and no tokens accrue while it
 * sleeps, so a throttle of pct% cuts the dirty rate to (100-pct)% whether
 * the writer is CPU-bound or rate-bound, as throttling vCPUs would.
 */
static void *writer_main(void *arg)
{
	struct guest_writer *w = arg;
	struct rmig_guest *g = w->g;
	double rate = (double)g->cfg.dirty_rate / g->cfg.writers / 1e9; /* bytes per ns */
	double ps = (double)g->cfg.page_size;
	/* Plus a page, so no rate is too low to ever write. */
	double burst = rate * (double)GUEST_BURST_NS + ps;
	double tokens = 0;
	uint64_t now = rmig_time_now_ns(), last = now, run_start = now;

	rmig_thread_name_self("guest-writer%u", (unsigned)(w - g->writers));
	for (;;) {
		unsigned pct;

		if (atomic_load_explicit(&g->stop_flag, memory_order_acquire)) {
			if (!writer_park(g))
				break;
			tokens = 0;
			last = run_start = rmig_time_now_ns();
			continue;
		}
		now = rmig_time_now_ns();
		tokens = RMIG_MIN(tokens + rate * (double)(now - last), burst);
		last = now;
		if (tokens >= ps) {
			uint64_t n = RMIG_MIN((uint64_t)(tokens / ps), (uint64_t)GUEST_BATCH_MAX);

			tokens -= (double)write_batch(w, n) * ps;
		}
		pct = atomic_load_explicit(&g->throttle_pct, memory_order_relaxed);
		now = rmig_time_now_ns();
		if (pct && now - run_start >= GUEST_STEP_NS) {
			writer_wait(g, now + GUEST_STEP_NS * pct / (100 - pct));
			last = run_start = rmig_time_now_ns();
			continue;
		}
		if (tokens < ps) {
			uint64_t need;

			if (rate <= 0.0) {
				writer_wait(g, 0);
				continue;
			}
			need = (uint64_t)((ps - tokens) / rate) + 1;
			writer_wait(g, now + RMIG_MIN(need, (uint64_t)GUEST_STEP_NS));
		}
	}
	return NULL;
}

void rmig_guest_writers_quit(struct rmig_guest *g)
{
	unsigned n;

	pthread_mutex_lock(&g->lock);
	g->quit = true;
	g->gen++;
	atomic_store_explicit(&g->stop_flag, true, memory_order_release);
	pthread_cond_broadcast(&g->wake);
	n = g->nstarted;
	pthread_mutex_unlock(&g->lock);
	for (unsigned i = 0; i < n; i++)
		pthread_join(g->writers[i].thread, NULL);
	pthread_mutex_lock(&g->lock);
	g->nstarted = 0;
	g->quit = false;
	atomic_store_explicit(&g->stop_flag, g->stop_req, memory_order_release);
	pthread_mutex_unlock(&g->lock);
}

int rmig_guest_start(struct rmig_guest *g)
{
	int ret;

	pthread_mutex_lock(&g->lock);
	if (g->nstarted) {
		pthread_mutex_unlock(&g->lock);
		rmig_error("guest: writers are already running");
		return -EALREADY;
	}
	pthread_mutex_unlock(&g->lock);
	for (unsigned i = 0; i < g->cfg.writers; i++) {
		/* Counted before it exists, so a concurrent stop() waits for it too. */
		pthread_mutex_lock(&g->lock);
		g->nstarted++;
		pthread_mutex_unlock(&g->lock);
		ret = pthread_create(&g->writers[i].thread, NULL, writer_main, &g->writers[i]);
		if (ret) {
			pthread_mutex_lock(&g->lock);
			g->nstarted--;
			pthread_mutex_unlock(&g->lock);
			rmig_error("guest: cannot start writer thread %u of %u: %s", i + 1,
				   g->cfg.writers, strerror(ret));
			rmig_guest_writers_quit(g);
			return -ret;
		}
	}
	return 0;
}

void rmig_guest_stop(struct rmig_guest *g)
{
	pthread_mutex_lock(&g->lock);
	g->stop_req = true;
	g->gen++;
	atomic_store_explicit(&g->stop_flag, true, memory_order_release);
	pthread_cond_broadcast(&g->wake);
	while (g->parked < g->nstarted)
		pthread_cond_wait(&g->parked_cv, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

void rmig_guest_cont(struct rmig_guest *g)
{
	pthread_mutex_lock(&g->lock);
	g->stop_req = false;
	g->gen++;
	atomic_store_explicit(&g->stop_flag, g->quit, memory_order_release);
	pthread_cond_broadcast(&g->wake);
	pthread_mutex_unlock(&g->lock);
}

void rmig_guest_throttle(struct rmig_guest *g, unsigned pct)
{
	if (pct > 99)
		pct = 99;
	pthread_mutex_lock(&g->lock);
	atomic_store_explicit(&g->throttle_pct, pct, memory_order_relaxed);
	g->gen++;
	pthread_cond_broadcast(&g->wake);
	pthread_mutex_unlock(&g->lock);
}

bool rmig_guest_is_running(const struct rmig_guest *g)
{
	struct rmig_guest *mg = (struct rmig_guest *)g; /* the lock is not part of the value */
	bool running;

	pthread_mutex_lock(&mg->lock);
	running = mg->nstarted > 0 && !mg->stop_req;
	pthread_mutex_unlock(&mg->lock);
	return running;
}

uint64_t rmig_guest_writes(const struct rmig_guest *g)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < g->cfg.writers; i++)
		n += atomic_load_explicit(&g->writers[i].writes, memory_order_relaxed);
	return n;
}

static void embedder_stop(void *opaque)
{
	rmig_guest_stop(opaque);
}

static void embedder_cont(void *opaque)
{
	rmig_guest_cont(opaque);
}

static void embedder_throttle(void *opaque, unsigned pct)
{
	rmig_guest_throttle(opaque, pct);
}

struct rmig_embedder rmig_guest_embedder(struct rmig_guest *g)
{
	struct rmig_embedder e = {
		.opaque = g,
		.stop = embedder_stop,
		.cont = embedder_cont,
		.throttle = embedder_throttle,
	};

	return e;
}
