/* SPDX-License-Identifier: MIT */
/*
 * The source's account of what is pinned in dynamic mode, and which of it
 * was used least recently (issue 12: bounded pinning).
 *
 * The unit is a run: the chunks of one REGISTER_REQUEST element, which
 * the destination registers as one region keyed by the run's first chunk,
 * and which UNREGISTER_REQUEST of that first chunk frees as a whole.  A
 * run is "reserved" while its request is in flight, "held" once the
 * result came, and sits in an exact LRU list (a touch is O(1)) until it
 * is evicted.  Both sides pin the same runs (the source registers its own
 * chunks only where it writes, inside them), so one account bounds both.
 *
 * Verbs-free so it can be unit-tested; the eviction itself, which needs
 * the control channel, is rdma/evict.c.  Not thread-safe: the migration
 * thread owns it.
 */
#ifndef RMIG_RDMA_PINLRU_H
#define RMIG_RDMA_PINLRU_H

#include <stdbool.h>
#include <stdint.h>

struct rmig_rdma_pinlru {
	uint32_t nblocks;
	uint64_t *base;	     /* per block: global index of its chunk 0 */
	uint64_t *block_len; /* per block, bytes */
	uint64_t nchunks;    /* all blocks */
	uint32_t *run;	     /* per global chunk: length of the held run it heads, or 0 */
	uint32_t *prev, *next; /* LRU links between run heads; UINT32_MAX ends */
	uint32_t *head_of;   /* per global chunk: the head of the held run holding it, or UINT32_MAX */
	uint32_t lru, mru;   /* least and most recently used heads */
	uint64_t max_bytes;  /* 0: no bound */
	uint64_t held_bytes, reserved_bytes;
	/* statistics */
	uint64_t peak_bytes;	/* most held + reserved at once */
	uint64_t evicted_runs, evicted_bytes;
};

/*
 * @nblocks blocks of the given byte lengths; @max_bytes 0 for no bound.
 * -EINVAL (more than 2^32 - 1 chunks) / -ENOMEM, reported.
 */
int rmig_rdma_pinlru_init(struct rmig_rdma_pinlru *l, uint32_t nblocks, const uint64_t *block_lens,
			  uint64_t max_bytes);
void rmig_rdma_pinlru_fini(struct rmig_rdma_pinlru *l);

/* Bytes of chunks [first, first + count) of @block (0 when outside it). */
uint64_t rmig_rdma_pinlru_bytes(const struct rmig_rdma_pinlru *l, uint32_t block, uint64_t first,
				uint64_t count);
/* Bytes still free under the bound (UINT64_MAX without one). */
uint64_t rmig_rdma_pinlru_room(const struct rmig_rdma_pinlru *l);

/* A request for the run went out: count it against the bound from now. */
void rmig_rdma_pinlru_reserve(struct rmig_rdma_pinlru *l, uint32_t block, uint64_t first,
			      uint64_t count);
/* Its result came: the run is held, most recently used. */
void rmig_rdma_pinlru_hold(struct rmig_rdma_pinlru *l, uint32_t block, uint64_t first,
			   uint64_t count);
/* A write used @chunk: its run, if held, becomes the most recently used. */
void rmig_rdma_pinlru_touch(struct rmig_rdma_pinlru *l, uint32_t block, uint64_t chunk);
/* The least recently used held run; false when none is held. */
bool rmig_rdma_pinlru_oldest(const struct rmig_rdma_pinlru *l, uint32_t *block, uint64_t *first,
			     uint64_t *count);
/*
 * Take the run headed by @first out of the account, so that the next
 * oldest comes up; returns its bytes (0: no such run).  Not counted as
 * evicted until rmig_rdma_pinlru_evicted: the unregistration may fail.
 */
uint64_t rmig_rdma_pinlru_drop(struct rmig_rdma_pinlru *l, uint32_t block, uint64_t first);
/* A run of @bytes that was dropped is now unregistered on both sides. */
void rmig_rdma_pinlru_evicted(struct rmig_rdma_pinlru *l, uint64_t bytes);

#endif /* RMIG_RDMA_PINLRU_H */
