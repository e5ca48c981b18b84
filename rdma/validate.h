/* SPDX-License-Identifier: MIT */
/*
 * Semantic validation of decoded RDMA control messages against RAM and
 * protocol state.  rdma/wire.h has already checked the bytes' shape; this
 * checks what they *mean*: block indexes, addresses, lengths and counts.
 * Verbs-free.  Every function reports the first problem with rmig_error
 * (naming the block) and returns -EPROTO; nothing is acted on before it
 * returns 0.  Out-parameters are set only on success.
 *
 * Destination RAM space: rmig advertises block i's base in
 * RAM_BLOCKS_RESULT.offset as the sum of the lengths of blocks 0..i-1 and
 * expects COMPRESS.offset / REGISTER_REQUEST.key in that space (wire.h).
 * rmig_rdma_layout_bases() computes those bases once.
 */
#ifndef RMIG_RDMA_VALIDATE_H
#define RMIG_RDMA_VALIDATE_H

#include <stdbool.h>
#include <stdint.h>

#include <rmig/ram.h>

#include "rdma/wire.h"

/*
 * Fill @bases[0..ram->nblocks-1] with the RAM-space bases rmig advertises.
 * -EINVAL (reported) when @nbases is too small or the sum overflows.
 */
int rmig_rdma_layout_bases(const struct rmig_ram *ram, uint64_t *bases, uint32_t nbases);

/*
 * Received message type is the one the protocol state expects.  An ERROR
 * from the peer is -ECONNABORTED ("peer reported an error"), anything else
 * unexpected -EPROTO.  RMIG_RDMA_MSG_NONE as @expected accepts any type
 * but ERROR.
 */
int rmig_rdma_validate_type(const struct rmig_rdma_hdr *h, uint32_t expected);

/*
 * COMPRESS on the destination: block_idx < nblocks, value == 0, length > 0,
 * offset >= the block's base and [offset - base, + length) inside the block
 * without overflow.  On success *@block_off is the block-relative offset.
 * No page-alignment check on purpose: QEMU sends target-page (4 KiB) runs
 * even for blocks backed by larger pages, and filling is byte-exact anyway.
 */
int rmig_rdma_validate_compress(const struct rmig_ram *ram, const uint64_t *bases,
				const struct rmig_rdma_compress *c, uint64_t *block_off);

/*
 * REGISTER_REQUEST on the destination: block_idx < nblocks, key >= base and
 * inside the block, chunk + chunks (the extra chunks) still inside the
 * block without overflow.  On success *@first_chunk and *@nchunks
 * (= chunks + 1) give the chunk range to register.
 */
int rmig_rdma_validate_register(const struct rmig_ram *ram, const uint64_t *bases,
				const struct rmig_rdma_register *r, uint64_t *first_chunk,
				uint64_t *nchunks);

/* UNREGISTER_REQUEST on the destination: block_idx < nblocks, key (a chunk index) in the block. */
int rmig_rdma_validate_unregister(const struct rmig_ram *ram, const struct rmig_rdma_register *r);

/*
 * RAM_BLOCKS_RESULT on the source: the element count equals the local block
 * count, each block's length equals the local one (blocks are in the
 * source's order), base + length does not overflow, and under @pin_all the
 * rkey is present (non-zero).  The destination's bases need not equal ours:
 * a QEMU destination uses its own ram_addr_t offsets, which is why they are
 * sent at all.
 *
 * rmig_rdma_blocks_result_validate() does header-count checking, decoding and
 * this validation from raw payload bytes into @out[0..ram->nblocks-1].
 */
int rmig_rdma_validate_blocks_result(const struct rmig_ram *ram, const struct rmig_rdma_block *b,
				     uint32_t count, bool pin_all);
int rmig_rdma_blocks_result_validate(const struct rmig_ram *ram, const struct rmig_rdma_hdr *h,
				     const uint8_t *payload, bool pin_all,
				     struct rmig_rdma_block *out);

/*
 * REGISTER_RESULT on the source: its element count equals the count of the
 * REGISTER_REQUEST it answers.
 */
int rmig_rdma_validate_register_result(const struct rmig_rdma_hdr *h, uint32_t requested);

/*
 * SEGMENTS_RESULT on the source [PIN_SEGMENTS], after RAM_BLOCKS_RESULT
 * gave @blocks (already validated, in the source's order):
 *  - len == count x 24 (the header decoder checked it; checked again here
 *    so a hand-made header cannot lie);
 *  - block_idx < block count, and blocks come in order: each block's
 *    segments before the next block's, no block skipped, every block
 *    covered;
 *  - each start is chunk-aligned and equals the end of the block's
 *    previous segment (0 for the first): no gap, no overlap;
 *  - length > 0 and start + length <= block length (no overflow), the
 *    last segment of a block ending exactly at its length;
 *  - at most RMIG_RDMA_MAX_SEGMENTS segments per block;
 *  - rkey != 0, and a block's first segment has the rkey RAM_BLOCKS_RESULT
 *    gave for the block.
 *
 * rmig_rdma_segments_result_validate() checks the type, decodes and validates
 * from raw payload bytes into @out, which must have room for
 * rmig_rdma_hdr_count(@h) elements; @out is written only on success.
 */
int rmig_rdma_validate_segments(const struct rmig_ram *ram, const struct rmig_rdma_block *blocks,
				const struct rmig_rdma_segment *s, uint32_t count);
int rmig_rdma_segments_result_validate(const struct rmig_ram *ram,
				       const struct rmig_rdma_block *blocks,
				       const struct rmig_rdma_hdr *h, const uint8_t *payload,
				       struct rmig_rdma_segment *out);

/*
 * [PIN_STREAM] The answer to one SEGMENTS_REQUEST: exactly one segment,
 * which must be the next region the source lacks, @start of @block (the
 * end of its @nseg segments so far); chunk-aligned unless it ends the
 * block, inside the block, not the 65th, with a key.  @out only on success.
 */
int rmig_rdma_stream_segment_validate(const struct rmig_ram *ram, const struct rmig_rdma_hdr *h,
				      const uint8_t *payload, uint32_t block, uint64_t start,
				      uint32_t nseg, struct rmig_rdma_segment *out);

/*
 * CHANNELS_REQUEST / CHANNELS_RESULT [CHANNELS] of type @type: *@n
 * elements (0: any count from 2 to RMIG_RDMA_MAX_LANES, which then sets
 * *@n), element i with index i, qpn in 1..2^24-1 and psn below 2^24.
 * Decoded into @out (room for RMIG_RDMA_MAX_LANES), written only on
 * success.  -EPROTO (reported) otherwise; -ECONNABORTED for an ERROR.
 */
int rmig_rdma_channels_validate(const struct rmig_rdma_hdr *h, const uint8_t *payload,
				uint32_t type, uint32_t *n, struct rmig_rdma_lane_info *out);

#endif /* RMIG_RDMA_VALIDATE_H */
