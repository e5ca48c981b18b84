/* SPDX-License-Identifier: MIT */
/*
 * Bounded pinning in dynamic mode (docs/rdma.txt section 8): the source
 * keeps what both sides hold registered under "rdma-max-pinned", and past
 * it unregisters the least recently used runs on both sides, its own MRs
 * with ibv_dereg_mr and the destination's with UNREGISTER_REQUEST (plain
 * v1, so a QEMU destination frees them too).
 */
#ifndef RMIG_RDMA_EVICT_H
#define RMIG_RDMA_EVICT_H

#include <stdint.h>

struct rmig_rdma_conn;

/*
 * The bound to use: @requested when set, else RLIMIT_MEMLOCK less what
 * this side pins besides RAM (@other_pinned, its message buffers) and a
 * margin for queues; 0 (none) when the limit is unlimited or the process
 * holds CAP_IPC_LOCK, which lifts it.  Never below RMIG_RDMA_MAX_PINNED_MIN.
 */
uint64_t rmig_rdma_pin_bound(uint64_t requested, uint64_t other_pinned);

/*
 * Make room for @want more bytes, with no REGISTER_REQUEST in flight (the
 * caller collects them first: their results are the next messages, and
 * they are pinned): unregister least recently used runs until @want plus a quarter of the
 * bound is free, so evictions come in batches rather than one per chunk.
 * Waits for every WRITE posted so far to complete before it deregisters
 * the source's MRs.  Negative errno (reported).
 */
int rmig_rdma_evict(struct rmig_rdma_conn *rc, uint64_t want);

#endif /* RMIG_RDMA_EVICT_H */
