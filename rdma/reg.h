/* SPDX-License-Identifier: MIT */
/*
 * Memory registration: the one place ibv_reg_mr failures are explained to
 * the operator (memlock limit), and the destination's table of what it has
 * registered for the source to write into.
 *
 * Destination, dynamic mode: one MR per REGISTER_REQUEST element (a chunk,
 * or a run of chunks), kept per first chunk so a repeated request returns
 * the same key and UNREGISTER_REQUEST can drop it.  No chunk is ever in two
 * MRs: a request inside an existing MR reuses it, one that overlaps an MR
 * without fitting inside is refused, so a hostile source cannot make us pin
 * the same memory twice, and what is registered never exceeds the RAM.  Pin-all: every block is
 * registered during SETUP in segments no larger than the device's
 * max_mr_size (chunk-aligned), one MR each.  Everything is deregistered at
 * teardown.
 */
#ifndef RMIG_RDMA_REG_H
#define RMIG_RDMA_REG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <infiniband/verbs.h>

#include "rdma/progress.h"
#include "rdma/ramview.h"
#include "rdma/wire.h"

/*
 * ibv_reg_mr with a useful error: names @what, and when the memlock limit
 * is the likely cause, says which limit is needed and how to raise it.
 */
int rmig_rdma_mr_register(struct ibv_pd *pd, void *addr, size_t len, int access, const char *what,
			  struct ibv_mr **out);
/* The memlock advice of rmig_rdma_mr_register: @what (@len) failed for @why under @limit. */
void rmig_rdma_memlock_explain(const char *what, uint64_t len, const char *why, uint64_t limit);
/*
 * Pin-all is about to pin @need bytes, @what: 0 when the locked-memory
 * limit holds them (or there is none); else -ENOMEM, explained as above,
 * so that it fails in setup rather than part way through a round.
 */
int rmig_rdma_memlock_fits(uint64_t need, const char *what);

struct rmig_rdma_dest_block {
	uint64_t nchunks;
	struct ibv_mr **chunk_mr;  /* dynamic: MR registered at this first chunk */
	uint64_t *cover;	   /* dynamic: 1 + first chunk of the MR holding it; 0: none */
	/* pin-all: regions [seg_start[s], seg_start[s + 1]), the first nseg registered */
	struct ibv_mr *seg_mr[RMIG_RDMA_MAX_SEGMENTS];
	uint32_t nseg, nplan;
	uint64_t seg_len; /* the planned region length; 0: not planned */
	uint64_t seg_start[RMIG_RDMA_MAX_SEGMENTS + 1];
};

struct rmig_rdma_dest_reg {
	const struct rmig_rdma_ramview *view; /* the connection's; outlives the table */
	struct ibv_pd *pd;
	uint32_t nblocks;
	struct rmig_rdma_dest_block *blocks;
	uint64_t registered_bytes;
	uint64_t peak_bytes;	 /* most registered at once */
	uint64_t nunregistered;	 /* MRs dropped at the source's request */
	uint64_t nregistrations;
	uint64_t reg_ns; /* time spent in ibv_reg_mr */
	uint64_t overlap_ns; /* serving registrations in rounds after SETUP (dest.c) */
};

int rmig_rdma_dreg_init(struct rmig_rdma_dest_reg *d, const struct rmig_rdma_ramview *view,
			struct ibv_pd *pd);
/* Deregister everything and free the table. */
void rmig_rdma_dreg_fini(struct rmig_rdma_dest_reg *d);

/*
 * Dynamic: make chunks [first, first + n) of @block writable by the peer
 * and return the rkey.  An MR that holds the whole range is reused; a
 * range that overlaps an MR without fitting inside it is refused
 * (-EPROTO, reported).  Arguments validated.
 */
int rmig_rdma_dreg_chunks(struct rmig_rdma_dest_reg *d, uint32_t block, uint64_t first,
			  uint64_t n, uint32_t *rkey);
/* Dynamic: drop the MR registered at @chunk (no-op when none). */
int rmig_rdma_dreg_unregister(struct rmig_rdma_dest_reg *d, uint32_t block, uint64_t chunk);

/*
 * Pin-all: choose each block's segments, split at @max_mr_size; with
 * @stream (PIN_STREAM) shorter, the first ones ramping up from one chunk
 * so the first keys come early, yet at most RMIG_RDMA_MAX_SEGMENTS per
 * block.  -E2BIG (reported) for a block that would need more.  A block
 * planned already keeps its plan.
 */
int rmig_rdma_dreg_plan(struct rmig_rdma_dest_reg *d, uint64_t max_mr_size, bool stream);
/*
 * Pin-all: plan and register every block, split at @max_mr_size.
 * Faulting the blocks in runs in pieces with a round of @prog between.
 */
int rmig_rdma_dreg_pin_all(struct rmig_rdma_dest_reg *d, uint64_t max_mr_size,
			   struct rmig_rdma_progress *prog);
/*
 * [PIN_STREAM] Register the next planned segment (blocks in order, each
 * from offset 0) and describe it in @out.  -ENOSPC (not reported) when
 * every block is pinned already: a source asking for more than our RAM;
 * -ENOENT (not reported) before the plan; a registration failure as
 * rmig_rdma_mr_register reports it.  @prog NULL (unit tests): the region
 * is not faulted in first.
 */
int rmig_rdma_dreg_pin_next(struct rmig_rdma_dest_reg *d, struct rmig_rdma_progress *prog,
			    struct rmig_rdma_segment *out);
/* Every block planned and wholly registered. */
bool rmig_rdma_dreg_all_pinned(const struct rmig_rdma_dest_reg *d);
/* Pin-all: rkey of the segment holding @offset of @block; -ENOENT when none. */
int rmig_rdma_dreg_pin_rkey(const struct rmig_rdma_dest_reg *d, uint32_t block, uint64_t offset,
			    uint32_t *rkey);
/* Pin-all: segment @seg of @block as SEGMENTS_RESULT describes it; -ENOENT when none. */
int rmig_rdma_dreg_segment(const struct rmig_rdma_dest_reg *d, uint32_t block, uint32_t seg,
			   struct rmig_rdma_segment *out);

/* Largest chunk-aligned segment not above @max_mr_size (at least one chunk). */
uint64_t rmig_rdma_segment_len(uint64_t max_mr_size);

/*
 * [PIN_STREAM] The region length for a block of @block_len registered
 * region by region during the rounds: at least 8 MiB, few enough that a
 * block has at most RMIG_RDMA_MAX_SEGMENTS, chunk-aligned, not above the
 * device's @max_mr_size.  The destination's plan and the source's own
 * side both cut by it.
 */
uint64_t rmig_rdma_stream_region_len(uint64_t block_len, uint64_t max_mr_size);

#endif /* RMIG_RDMA_REG_H */
