/* SPDX-License-Identifier: MIT */
/*
 * The synthetic guest.  Memory content is a deterministic function of the
 * seed, so two runs with the same configuration migrate the same bytes.
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
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tools/guest.h"
#include "common/base/mem.h"
#include "common/base/size.h"
#include "common/engine/params.h"
#include <rmig/log.h>
#include "common/base/util.h"

#define GUEST_MAX_WRITERS 256
#define GUEST_DEFAULT_BLOCK (64ULL << 20)
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

struct guest_block {
	uint8_t *host;
	uint64_t length;
	uint64_t npages;
	uint64_t hot_pages; /* the first hot_pages of the block form its hot set */
	struct rmig_ramblock *rb;
};

struct guest_writer {
	struct rmig_guest *g;
	pthread_t thread;
	uint64_t rng;
	_Atomic uint64_t writes;
	/* Keeps each writer's counter off its neighbours' cache line. */
	char pad[64];
};

struct rmig_guest {
	struct rmig_guest_config cfg;
	struct guest_block blocks[RMIG_GUEST_MAX_BLOCKS];
	uint32_t page_shift;
	uint64_t total_pages, hot_total, cold_total;
	struct guest_writer *writers;

	pthread_mutex_t lock;
	pthread_cond_t wake;	  /* writers wait here: stop, cont, throttle, quit */
	pthread_cond_t parked_cv; /* stop() waits here for acknowledgements */
	/* Under lock. */
	unsigned nstarted;
	unsigned parked;
	bool stop_req;
	bool quit;
	uint64_t gen; /* bumped on every change a sleeping writer must notice */
	/* Lock-free copies for the writers' per-page checks. */
	_Atomic bool stop_flag; /* stop_req || quit */
	_Atomic unsigned throttle_pct;
};

/* splitmix64: tiny, fast and good enough to pick pages and fill memory. */
static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n) without a division. */
static inline uint64_t rng_below(uint64_t *s, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rng_next(s) * n) >> 64);
}

static inline double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * 0x1p-53;
}

void rmig_guest_config_init(struct rmig_guest_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->nblocks = 1;
	cfg->block_size[0] = GUEST_DEFAULT_BLOCK;
	cfg->page_size = 4096;
	cfg->zero_share = 0.25;
	cfg->dirty_rate = 0;
	cfg->pattern = RMIG_GUEST_UNIFORM;
	cfg->hot_fraction = 0.1;
	cfg->hot_share = 0.9;
	cfg->writers = 1;
	cfg->seed = 1;
}

static bool in_unit(double x, bool zero_ok)
{
	return zero_ok ? (x >= 0.0 && x <= 1.0) : (x > 0.0 && x <= 1.0);
}

/* Checks and normalises the configuration (0 page size / writers mean the defaults). */
static int config_check(struct rmig_guest_config *cfg, const struct rmig_ram *ram)
{
	char name[32];

	if (cfg->nblocks < 1 || cfg->nblocks > RMIG_GUEST_MAX_BLOCKS) {
		rmig_error("guest: %u memory blocks requested; between 1 and %d are supported",
			   cfg->nblocks, RMIG_GUEST_MAX_BLOCKS);
		return -EINVAL;
	}
	if (cfg->page_size == 0)
		cfg->page_size = 4096;
	if (!RMIG_IS_POW2(cfg->page_size) || cfg->page_size < RMIG_PAGE_SIZE_MIN ||
	    cfg->page_size > RMIG_PAGE_SIZE_MAX) {
		rmig_error("guest: page size %" PRIu32
			   " is not a power of two between %d and %u bytes",
			   cfg->page_size, RMIG_PAGE_SIZE_MIN, RMIG_PAGE_SIZE_MAX);
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->nblocks; i++) {
		if (cfg->block_size[i] == 0 || cfg->block_size[i] > (SIZE_MAX >> 2)) {
			rmig_error("guest: block %u has size %" PRIu64
				   "; it must be between 1 byte and %zu bytes",
				   i, cfg->block_size[i], SIZE_MAX >> 2);
			return -EINVAL;
		}
		cfg->block_size[i] = RMIG_ALIGN_UP(cfg->block_size[i], (uint64_t)cfg->page_size);
		/* Checked now so that a clash cannot fail after gigabytes are filled. */
		snprintf(name, sizeof(name), "guest.ram%u", i);
		if (rmig_ram_find(ram, name)) {
			rmig_error("guest: RAM block '%s' is already registered "
				   "(one guest per RAM set)", name);
			return -EEXIST;
		}
	}
	if (ram->nblocks + cfg->nblocks > RMIG_RAM_MAX_BLOCKS) {
		rmig_error("guest: %u more blocks would exceed the limit of %d RAM blocks",
			   cfg->nblocks, RMIG_RAM_MAX_BLOCKS);
		return -E2BIG;
	}
	if (!in_unit(cfg->zero_share, true)) {
		rmig_error("guest: zero share %g is not between 0 and 1", cfg->zero_share);
		return -EINVAL;
	}
	if (cfg->pattern != RMIG_GUEST_UNIFORM && cfg->pattern != RMIG_GUEST_HOTSET) {
		rmig_error("guest: unknown write pattern %d", (int)cfg->pattern);
		return -EINVAL;
	}
	if (cfg->pattern == RMIG_GUEST_HOTSET &&
	    (!in_unit(cfg->hot_fraction, false) || !in_unit(cfg->hot_share, true))) {
		rmig_error("guest: hot set fraction %g must be in (0, 1] "
			   "and hot share %g in [0, 1]", cfg->hot_fraction, cfg->hot_share);
		return -EINVAL;
	}
	if (cfg->writers == 0)
		cfg->writers = 1;
	if (cfg->writers > GUEST_MAX_WRITERS) {
		rmig_error("guest: %u writer threads requested; at most %d are supported",
			   cfg->writers, GUEST_MAX_WRITERS);
		return -EINVAL;
	}
	return 0;
}

/*
 * Leaves a zero_share of the pages untouched (still the kernel's zero
 * page, costing no memory) and fills the others with random words.
 */
static void block_fill(struct guest_block *gb, const struct rmig_guest_config *cfg, unsigned idx)
{
	uint64_t rng = cfg->seed ^ (0x6a09e667f3bcc909ULL * (idx + 1));
	size_t words = cfg->page_size / sizeof(uint64_t);

	for (uint64_t p = 0; p < gb->npages; p++) {
		uint64_t *page;

		if (rng_unit(&rng) < cfg->zero_share)
			continue;
		page = (uint64_t *)(void *)(gb->host + (p * cfg->page_size));
		for (size_t w = 0; w < words; w++)
			page[w] = rng_next(&rng);
	}
}

static int block_map(struct guest_block *gb, uint64_t length, unsigned idx)
{
	char what[48];
	void *host;

	snprintf(what, sizeof(what), "guest memory block %u", idx);
	host = rmig_mem_map(length, what);
	if (!host)
		return -ENOMEM;
	/*
	 * No MADV_HUGEPAGE here: on the development hosts it made filling
	 * slower (compaction stalls) without making writes faster, and the
	 * untouched zero pages should stay free.
	 */
	gb->host = host;
	gb->length = length;
	return 0;
}

static void guest_unmap(struct rmig_guest *g)
{
	for (unsigned i = 0; i < g->cfg.nblocks; i++)
		if (g->blocks[i].host)
			munmap(g->blocks[i].host, g->blocks[i].length);
}

static int guest_sync_init(struct rmig_guest *g)
{
	pthread_condattr_t attr;
	int ret;

	ret = pthread_mutex_init(&g->lock, NULL);
	if (ret)
		goto report;
	ret = pthread_condattr_init(&attr);
	if (ret)
		goto err_destroy_lock;
	/* Deadlines come from rmig_now_ns(), the monotonic clock. */
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

static void guest_sync_fini(struct rmig_guest *g)
{
	pthread_cond_destroy(&g->parked_cv);
	pthread_cond_destroy(&g->wake);
	pthread_mutex_destroy(&g->lock);
}

/* The guest fills every page it maps, so it must fit in what the machine has free. */
static int guest_check_memory(const struct rmig_guest_config *cfg)
{
	uint64_t want = 0, avail = rmig_mem_available();
	char w[32], a[32];

	for (unsigned i = 0; i < cfg->nblocks; i++)
		want += cfg->block_size[i];
	if (avail == UINT64_MAX || want <= avail)
		return 0;
	rmig_error("guest: %s of RAM requested but only %s of memory is available; "
		   "use a smaller --ram",
		   rmig_size_format(want, w, sizeof(w)), rmig_size_format(avail, a, sizeof(a)));
	return -ENOMEM;
}

int rmig_guest_create(const struct rmig_guest_config *cfg, struct rmig_ram *ram,
		      struct rmig_guest **out)
{
	struct rmig_guest *g;
	uint32_t ram_base = ram->nblocks;
	char name[32];
	int ret;

	g = calloc(1, sizeof(*g));
	if (!g) {
		rmig_error("guest: out of memory");
		return -ENOMEM;
	}
	g->cfg = *cfg;
	ret = config_check(&g->cfg, ram);
	if (ret < 0)
		goto err_free;
	ret = guest_check_memory(&g->cfg);
	if (ret < 0)
		goto err_free;
	g->page_shift = (uint32_t)__builtin_ctz(g->cfg.page_size);
	g->writers = calloc(g->cfg.writers, sizeof(*g->writers));
	if (!g->writers) {
		rmig_error("guest: out of memory for %u writers", g->cfg.writers);
		ret = -ENOMEM;
		goto err_free;
	}
	ret = guest_sync_init(g);
	if (ret < 0)
		goto err_free_writers;

	for (unsigned i = 0; i < g->cfg.nblocks; i++) {
		struct guest_block *gb = &g->blocks[i];
		uint64_t hot;

		ret = block_map(gb, g->cfg.block_size[i], i);
		if (ret < 0)
			goto err_unmap;
		gb->npages = gb->length >> g->page_shift;
		hot = (uint64_t)((double)gb->npages * g->cfg.hot_fraction);
		gb->hot_pages = RMIG_MIN(RMIG_MAX(hot, 1), gb->npages);
		g->total_pages += gb->npages;
		g->hot_total += gb->hot_pages;
		g->cold_total += gb->npages - gb->hot_pages;
		block_fill(gb, &g->cfg, i);
	}
	/* Registered last, so a failure above leaves @ram as it was. */
	for (unsigned i = 0; i < g->cfg.nblocks; i++) {
		snprintf(name, sizeof(name), "guest.ram%u", i);
		ret = rmig_ram_add(ram, name, g->blocks[i].host, g->blocks[i].length,
				   g->cfg.page_size, &g->blocks[i].rb);
		if (ret < 0)
			goto err_remove_blocks;
	}
	for (unsigned i = 0; i < g->cfg.writers; i++) {
		g->writers[i].g = g;
		g->writers[i].rng = g->cfg.seed ^ (0xbb67ae8584caa73bULL * (i + 1));
	}
	*out = g;
	return 0;

err_remove_blocks:
	rmig_ram_truncate(ram, ram_base);
err_unmap:
	guest_unmap(g);
	guest_sync_fini(g);
err_free_writers:
	free(g->writers);
err_free:
	free(g);
	return ret;
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
	uint64_t now = rmig_now_ns(), last = now, run_start = now;

	for (;;) {
		unsigned pct;

		if (atomic_load_explicit(&g->stop_flag, memory_order_acquire)) {
			if (!writer_park(g))
				break;
			tokens = 0;
			last = run_start = rmig_now_ns();
			continue;
		}
		now = rmig_now_ns();
		tokens = RMIG_MIN(tokens + rate * (double)(now - last), burst);
		last = now;
		if (tokens >= ps) {
			uint64_t n = RMIG_MIN((uint64_t)(tokens / ps), (uint64_t)GUEST_BATCH_MAX);

			tokens -= (double)write_batch(w, n) * ps;
		}
		pct = atomic_load_explicit(&g->throttle_pct, memory_order_relaxed);
		now = rmig_now_ns();
		if (pct && now - run_start >= GUEST_STEP_NS) {
			writer_wait(g, now + GUEST_STEP_NS * pct / (100 - pct));
			last = run_start = rmig_now_ns();
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

/* Asks every started writer to leave and joins them; used by start() failure and destroy(). */
static void writers_quit(struct rmig_guest *g)
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
			writers_quit(g);
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

void rmig_guest_destroy(struct rmig_guest *g)
{
	if (!g)
		return;
	writers_quit(g);
	guest_unmap(g);
	guest_sync_fini(g);
	free(g->writers);
	free(g);
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
