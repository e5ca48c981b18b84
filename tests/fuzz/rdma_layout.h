/* SPDX-License-Identifier: MIT */
/*
 * The small fixed RAM that fuzz_rdma_control validates control messages
 * against, shared with gen_seeds so that its seeds name real blocks,
 * addresses and chunks (and pass validation) for as long as both agree.
 * Block i's RAM-space base is the sum of the earlier lengths, as
 * rmig_rdma_layout_bases() computes it.
 */
#ifndef RMIG_FUZZ_RDMA_LAYOUT_H
#define RMIG_FUZZ_RDMA_LAYOUT_H

#include <stdint.h>

#define FUZZ_RDMA_MiB	    (1024ull * 1024)
#define FUZZ_RDMA_NBLOCKS   3
#define FUZZ_RDMA_PAGE_SIZE 4096
/* The rkey fuzz_rdma_control's RAM_BLOCKS_RESULT stand-in gives every block. */
#define FUZZ_RDMA_DEST_RKEY 1

/* Several chunks; one chunk and a ragged tail; less than a chunk. */
static const uint64_t fuzz_rdma_block_len[FUZZ_RDMA_NBLOCKS] = {
    4 * FUZZ_RDMA_MiB,
    FUZZ_RDMA_MiB + 12 * 1024,
    64 * 1024,
};

#endif /* RMIG_FUZZ_RDMA_LAYOUT_H */
