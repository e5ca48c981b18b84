/* SPDX-License-Identifier: MIT */
/*
 * Chunk arithmetic for the RDMA transport.  Pure functions, no verbs.
 *
 * A block is cut into 1 MiB chunks counted from the block's *start* (not
 * from its RAM-space address, and not from the host virtual address): chunk
 * i covers [i << 20, min((i + 1) << 20, length)).  The last chunk of a
 * block whose length is not a multiple of 1 MiB is short.  Chunks are the
 * unit of dynamic registration on the destination, so an RDMA WRITE must
 * never cross a chunk end: the pages on either side may be covered by
 * different remote keys.
 *
 * All offsets and lengths here are block-relative bytes.  Nothing here
 * reports errors: the functions are total (out-of-range input gives a
 * documented neutral answer) so the engine can use them on the fast path
 * after validate.h has vetted anything that came from the network.
 */
#ifndef RMIG_RDMA_CHUNK_H
#define RMIG_RDMA_CHUNK_H

#include <stdbool.h>
#include <stdint.h>

#include "rdma/wire.h"

/* Chunks in a block of @block_len bytes: DIV_ROUND_UP(block_len, 1 MiB). */
uint64_t rmig_rdma_chunk_count(uint64_t block_len);

/* Chunk holding byte @offset of a block. */
uint64_t rmig_rdma_chunk_index(uint64_t offset);

/* First byte of @chunk (no clipping; UINT64_MAX if it would overflow). */
uint64_t rmig_rdma_chunk_start(uint64_t chunk);

/*
 * One past the last byte of @chunk, clipped to @block_len.  0 when @chunk
 * is not in the block (chunk >= rmig_rdma_chunk_count(block_len)).
 */
uint64_t rmig_rdma_chunk_end(uint64_t block_len, uint64_t chunk);

/* Bytes in @chunk: 1 MiB except a short last chunk; 0 when out of range. */
uint64_t rmig_rdma_chunk_len(uint64_t block_len, uint64_t chunk);

/* [offset, offset + len) lies inside a block of @block_len, without overflow. */
bool rmig_rdma_range_in_block(uint64_t block_len, uint64_t offset, uint64_t len);

/*
 * Length of the first piece of [offset, offset + len) that stays inside
 * offset's chunk and inside the block: the unit of one WRITE.  0 when len
 * is 0 or offset is outside the block.  Splitting a run of pages:
 *
 *	while (len) {
 *		n = rmig_rdma_chunk_piece(block_len, off, len);
 *		if (!n) break;          (run ran off the block: caller's bug)
 *		...one write of [off, off + n)...
 *		off += n; len -= n;
 *	}
 */
uint64_t rmig_rdma_chunk_piece(uint64_t block_len, uint64_t offset, uint64_t len);

/*
 * Number of chunks [offset, offset + len) touches (0 for len 0 or out of
 * the block).  The REGISTER_REQUEST "chunks" field is this minus one.
 */
uint64_t rmig_rdma_chunk_span(uint64_t block_len, uint64_t offset, uint64_t len);

/*
 * A pending, not yet posted RDMA WRITE on the source: contiguous bytes of
 * one block, inside one chunk.  len == 0 means "nothing pending".
 */
struct rmig_rdma_pending {
	uint32_t block;
	uint64_t offset; /* block-relative */
	uint64_t len;
	uint64_t chunk; /* rmig_rdma_chunk_index(offset), kept for the engine */
};

/* True when @p holds nothing. */
bool rmig_rdma_pending_empty(const struct rmig_rdma_pending *p);

/*
 * May run {block, offset, len} join @p?  Yes only when @p is non-empty, the
 * run is in the same block, starts exactly at p->offset + p->len, and its
 * end stays within both the block and @p's chunk.  (QEMU's rule; a run
 * starting exactly at the chunk end starts a new WRITE.)
 */
bool rmig_rdma_pending_can_merge(const struct rmig_rdma_pending *p, uint64_t block_len,
				 uint32_t block, uint64_t offset, uint64_t len);

/*
 * Absorb the run into @p if rmig_rdma_pending_can_merge() allows it and
 * return true; otherwise leave @p alone and return false, and the caller
 * flushes @p and starts a new one with rmig_rdma_pending_start().
 */
bool rmig_rdma_pending_merge(struct rmig_rdma_pending *p, uint64_t block_len, uint32_t block,
			     uint64_t offset, uint64_t len);

/*
 * Start @p with the first piece of the run (what fits in offset's chunk)
 * and return that piece's length; the caller feeds the rest of the run in
 * again.  Returns 0 (and leaves @p empty) when the run is empty or outside
 * the block.
 */
uint64_t rmig_rdma_pending_start(struct rmig_rdma_pending *p, uint64_t block_len, uint32_t block,
				 uint64_t offset, uint64_t len);

/* Forget @p's contents (after it was posted). */
void rmig_rdma_pending_clear(struct rmig_rdma_pending *p);

#endif /* RMIG_RDMA_CHUNK_H */
