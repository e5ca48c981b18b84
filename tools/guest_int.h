/* SPDX-License-Identifier: MIT */
/*
 * Private to guest.c (configuration, memory blocks, creation) and
 * guest_writers.c (the writer threads and their control).  The public
 * header is tools/guest.h.
 */
#ifndef RMIG_GUEST_INT_H
#define RMIG_GUEST_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "tools/guest.h"

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
	bool adopted; /* the memory is someone else's (rmig_guest_adopt): never unmapped */

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

/*
 * Allocate and seed the cfg.writers writers (none started) and the lock and
 * condition variables that control them.  Returns 0 or -errno, reported.
 */
int rmig_guest_writers_init(struct rmig_guest *g);
/* Ask every started writer to leave and join them; the guest can start again. */
void rmig_guest_writers_quit(struct rmig_guest *g);
/* Undo rmig_guest_writers_init(); no writer may be running. */
void rmig_guest_writers_fini(struct rmig_guest *g);

#endif /* RMIG_GUEST_INT_H */
