/* SPDX-License-Identifier: MIT */
/*
 * The source's registration cache: what it knows about remote keys and
 * its own memory registrations, per block and per chunk.  Verbs-free so it
 * can be unit-tested: local memory regions are opaque `void *` handles
 * that the engine owns (struct ibv_mr *); this file only stores and hands
 * them back, and never frees them.
 *
 * Two modes, fixed at creation:
 *  - dynamic: every chunk starts UNREGISTERED.  The engine marks it
 *    IN_FLIGHT when it sends a REGISTER_REQUEST (so a second write to the
 *    chunk waits instead of asking twice, which is what makes pipelined
 *    requests safe) and REGISTERED with the rkey from REGISTER_RESULT.
 *    A chunk sent as COMPRESS stays UNREGISTERED: QEMU does the same, and
 *    the next write to it is judged zero or not afresh.
 *  - pin-all: one rkey per block from RAM_BLOCKS_RESULT; chunk states are
 *    not used for the remote side.  Under PIN_SEGMENTS a block may instead
 *    have a list of remote segments from SEGMENTS_RESULT, each with its own
 *    rkey, when the destination had to register it as several regions.
 *    Under PIN_STREAM the block rkey is 0 and the segments come one by
 *    one: what no segment covers yet does not resolve.
 *
 * Local registrations (both modes) are either per chunk
 * (rmig_rdma_keycache_set_local_mr) or a small sorted list of regions per
 * block (rmig_rdma_keycache_add_region), for when the block is larger than
 * the device's max_mr_size and needs several MRs.
 *
 * Not thread-safe: the migration thread owns it.
 */
#ifndef RMIG_RDMA_KEYCACHE_H
#define RMIG_RDMA_KEYCACHE_H

#include <stdbool.h>
#include <stdint.h>

enum rmig_rdma_chunk_state {
	RMIG_RDMA_CHUNK_UNREGISTERED = 0,
	RMIG_RDMA_CHUNK_IN_FLIGHT = 1, /* REGISTER_REQUEST sent, no result yet */
	RMIG_RDMA_CHUNK_REGISTERED = 2,
};

/* Where a WRITE goes: remote rkey and the remote virtual address of the first byte. */
struct rmig_rdma_remote {
	uint32_t rkey;
	uint64_t addr;
};

/* One local registration covering [start, start + len) of a block. */
struct rmig_rdma_region {
	uint64_t start; /* block-relative */
	uint64_t len;
	void *local_mr; /* engine's handle; never NULL in a stored region */
};

#define RMIG_RDMA_KEYCACHE_MAX_REGIONS 64 /* per block */

struct rmig_rdma_keycache;

/*
 * @nblocks blocks with the given lengths (each > 0).  -EINVAL for bad
 * arguments, -ENOMEM; both reported.
 */
int rmig_rdma_keycache_create(uint32_t nblocks, const uint64_t *block_lens, bool pin_all,
			      struct rmig_rdma_keycache **out);
/* Frees the cache; the engine must have taken the local MRs back first (teardown). */
void rmig_rdma_keycache_destroy(struct rmig_rdma_keycache *kc);

bool rmig_rdma_keycache_pin_all(const struct rmig_rdma_keycache *kc);
uint32_t rmig_rdma_keycache_nblocks(const struct rmig_rdma_keycache *kc);
/* 0 for a bad block index. */
uint64_t rmig_rdma_keycache_nchunks(const struct rmig_rdma_keycache *kc, uint32_t block);

/*
 * Store what RAM_BLOCKS_RESULT said about @block (already validated):
 * destination block start address, its base in the destination RAM space
 * (needed to translate COMPRESS/REGISTER addresses) and, under pin-all,
 * the whole-block rkey.
 */
int rmig_rdma_keycache_set_remote_block(struct rmig_rdma_keycache *kc, uint32_t block,
					uint64_t remote_host_addr, uint64_t remote_base,
					uint32_t rkey);

/*
 * Pin-all, PIN_SEGMENTS: append the destination region [start, start + len)
 * of @block with its rkey.  Segments must be added in increasing start,
 * not overlap, and lie inside the block: -EINVAL (reported) otherwise, or
 * in dynamic mode; -E2BIG (reported) past RMIG_RDMA_KEYCACHE_MAX_REGIONS.
 * Once a block has segments, resolve uses them instead of the block rkey.
 */
int rmig_rdma_keycache_add_remote_segment(struct rmig_rdma_keycache *kc, uint32_t block,
					  uint64_t start, uint64_t len, uint32_t rkey);
/* Remote segments stored for @block (0 for a bad index). */
uint32_t rmig_rdma_keycache_remote_segments(const struct rmig_rdma_keycache *kc, uint32_t block);
/*
 * End of @block's last remote segment (0: none, or a bad index): under
 * PIN_STREAM, where segments come adjacent from 0, how much has a key.
 */
uint64_t rmig_rdma_keycache_remote_covered(const struct rmig_rdma_keycache *kc, uint32_t block);

/*
 * Destination RAM-space address of block-relative @offset: what goes into
 * COMPRESS.offset and REGISTER_REQUEST.key.  UINT64_MAX for a bad block.
 */
uint64_t rmig_rdma_keycache_remote_space_addr(const struct rmig_rdma_keycache *kc, uint32_t block,
					      uint64_t offset);

/* UNREGISTERED for an out-of-range block/chunk (it is never registered). */
enum rmig_rdma_chunk_state rmig_rdma_keycache_state(const struct rmig_rdma_keycache *kc,
						    uint32_t block, uint64_t chunk);

/*
 * UNREGISTERED -> IN_FLIGHT.  -EALREADY if it is in flight or registered
 * (not reported: the engine just waits or uses the key), -EINVAL for a bad
 * index (reported).
 */
int rmig_rdma_keycache_mark_in_flight(struct rmig_rdma_keycache *kc, uint32_t block,
				      uint64_t chunk);

/*
 * IN_FLIGHT -> REGISTERED with REGISTER_RESULT's rkey and host_addr (the
 * destination's block start).  -EPROTO (reported) when no request for this
 * chunk was in flight: a result nobody asked for.
 */
int rmig_rdma_keycache_set_registered(struct rmig_rdma_keycache *kc, uint32_t block, uint64_t chunk,
				      uint32_t rkey, uint64_t remote_host_addr);

/*
 * Remote side of a WRITE of [offset, offset + len) in @block: under pin-all
 * the rkey of the remote segment holding the range, or the block rkey when
 * the block has no segments; in dynamic mode the chunk's rkey, which needs
 * the range to sit in one REGISTERED chunk.  -ENOENT (not reported) when
 * the chunk is not registered yet or no segment holds @offset, -EINVAL
 * (reported) for a range outside the block or crossing a chunk end in
 * dynamic mode, -EPROTO (reported) for a range crossing a segment end
 * (never for chunk-aligned segments: a WRITE stays within one chunk).
 */
int rmig_rdma_keycache_resolve(const struct rmig_rdma_keycache *kc, uint32_t block, uint64_t offset,
			       uint64_t len, struct rmig_rdma_remote *out);

/*
 * Back to UNREGISTERED (after UNREGISTER_REQUEST, or to drop a key).  The
 * chunk's local MR, if any, is detached and returned in *@local_mr (NULL if
 * none) for the engine to deregister.  -EINVAL for a bad index (reported).
 */
int rmig_rdma_keycache_invalidate(struct rmig_rdma_keycache *kc, uint32_t block, uint64_t chunk,
				  void **local_mr);

/* Per-chunk local MR.  Setting replaces nothing: -EEXIST if one is stored. */
int rmig_rdma_keycache_set_local_mr(struct rmig_rdma_keycache *kc, uint32_t block, uint64_t chunk,
				    void *local_mr);
/* NULL when none (or bad index). */
void *rmig_rdma_keycache_local_mr(const struct rmig_rdma_keycache *kc, uint32_t block,
				  uint64_t chunk);

/*
 * Add a local region to @block.  Regions must be non-empty, inside the
 * block and not overlap one another; -EINVAL / -E2BIG (reported).
 */
int rmig_rdma_keycache_add_region(struct rmig_rdma_keycache *kc, uint32_t block,
				  const struct rmig_rdma_region *r);
/* The region containing all of [offset, offset + len), or NULL. */
const struct rmig_rdma_region *rmig_rdma_keycache_find_region(const struct rmig_rdma_keycache *kc,
							      uint32_t block, uint64_t offset,
							      uint64_t len);

/*
 * Local MR for a WRITE source range: the chunk's MR if set, else a region
 * containing the range, else NULL.
 */
void *rmig_rdma_keycache_local_for(const struct rmig_rdma_keycache *kc, uint32_t block,
				   uint64_t offset, uint64_t len);

/*
 * Teardown: call @fn once for every stored local MR (chunk MRs, then
 * regions), detaching each, and reset every chunk to UNREGISTERED.  @fn
 * deregisters; @chunk is UINT64_MAX for a region.  Returns the number of
 * MRs handed back.
 */
typedef void (*rmig_rdma_keycache_release_fn)(void *opaque, uint32_t block, uint64_t chunk,
					      void *local_mr);
uint64_t rmig_rdma_keycache_release_all(struct rmig_rdma_keycache *kc,
					rmig_rdma_keycache_release_fn fn, void *opaque);

/* Chunks currently REGISTERED (statistics, tests). */
uint64_t rmig_rdma_keycache_registered_count(const struct rmig_rdma_keycache *kc);

#endif /* RMIG_RDMA_KEYCACHE_H */
