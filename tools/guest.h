/* SPDX-License-Identifier: MIT */
/*
 * rmig's built-in synthetic guest: RAM blocks filled with a chosen share of
 * zero and random pages, and writer threads that keep dirtying them at a set
 * rate and pattern, reporting each write through the dirty-log interface
 * exactly as a hypervisor would.  It is the embedder used by `rmig migrate`,
 * `rmig loopback`, the tests and the benchmarks.
 */
#ifndef RMIG_GUEST_H
#define RMIG_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#include <rmig/embedder.h>

#include "common/ram/ram.h"

enum rmig_guest_pattern {
	RMIG_GUEST_UNIFORM = 0, /* any page, equally likely */
	RMIG_GUEST_HOTSET,	/* hot_share of the writes go to the first hot_size of each block */
};

#define RMIG_GUEST_MAX_BLOCKS 16

struct rmig_guest_config {
	unsigned nblocks;			   /* 1..RMIG_GUEST_MAX_BLOCKS */
	uint64_t block_size[RMIG_GUEST_MAX_BLOCKS]; /* bytes, rounded up to pages */
	uint32_t page_size;			   /* default 4096 */
	double zero_share;			   /* 0..1: share of pages left zero */
	uint64_t dirty_rate;			   /* bytes/s over all writers; 0 = idle */
	enum rmig_guest_pattern pattern;
	double hot_fraction;			   /* hotset: share of each block that is hot (0..1] */
	double hot_share;			   /* hotset: share of writes that go there (0..1] */
	unsigned writers;			   /* writer threads; default 1 */
	uint64_t seed;
};

/* Defaults: one 64 MiB block, 4 KiB pages, 25% zero, idle, uniform, one writer. */
void rmig_guest_config_init(struct rmig_guest_config *cfg);

struct rmig_guest;

/*
 * Map and fill the blocks (named "guest.ram0", "guest.ram1", ...) and add
 * them to @ram.  Writers are not started.  Returns 0 or -errno (reported,
 * e.g. -ENOMEM naming the size).
 */
int rmig_guest_create(const struct rmig_guest_config *cfg, struct rmig_ram *ram,
		      struct rmig_guest **out);
/* Stops the writers if running and unmaps the memory (call rmig_ram_fini() after). */
/*
 * A guest whose memory is the blocks already in @ram (what a destination
 * received), to run the workload there after the hand-over.  Its writers
 * follow @cfg's pattern and rate; the memory stays @ram's.
 */
int rmig_guest_adopt(const struct rmig_guest_config *cfg, struct rmig_ram *ram,
		     struct rmig_guest **out);

void rmig_guest_destroy(struct rmig_guest *g);

int rmig_guest_start(struct rmig_guest *g); /* start the writer threads */
void rmig_guest_stop(struct rmig_guest *g); /* returns once no writer is mid-write */
void rmig_guest_cont(struct rmig_guest *g);
void rmig_guest_throttle(struct rmig_guest *g, unsigned pct);
bool rmig_guest_is_running(const struct rmig_guest *g);

/* Pages written so far by all writers (grows while running). */
uint64_t rmig_guest_writes(const struct rmig_guest *g);

/* The embedder interface backed by this guest. */
struct rmig_embedder rmig_guest_embedder(struct rmig_guest *g);

#endif /* RMIG_GUEST_H */
