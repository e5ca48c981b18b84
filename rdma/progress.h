/* SPDX-License-Identifier: MIT */
/*
 * The progress engine: the one place a connection waits.  It polls both
 * CQs and hands each completion to its owner (a SEND frees its control
 * buffer, a WRITE or a SEND retires the write engine's WRITEs, a RECV goes
 * to the control channel), follows the CM event channel for a peer that
 * hangs up, and watches the abort eventfd.
 *
 * Waiting is poll() on the send CQ channel, the recv CQ channel, the CM
 * event channel and the abort eventfd.  The CQ loop is: get event ->
 * re-arm -> drain -> ack in batches.  IBV_WC_WR_FLUSH_ERR means the QP is
 * going down, not a new error.
 */
#ifndef RMIG_RDMA_PROGRESS_H
#define RMIG_RDMA_PROGRESS_H

#include <stdbool.h>

#include "rdma/ctrl.h"

/*
 * wr_id of every work request on the QP: the kind in the top byte, so a
 * completion finds its owner, and the owner's value below (a control
 * buffer's index, a WRITE's sequence number).
 */
#define RMIG_RDMA_WRID_SEND (1ULL << 56)
#define RMIG_RDMA_WRID_RECV (2ULL << 56)
#define RMIG_RDMA_WRID_WRITE (3ULL << 56)
#define RMIG_RDMA_WRID_KIND(id) ((id) & (0xffULL << 56))
#define RMIG_RDMA_WRID_VALUE(id) ((id) & ((1ULL << 56) - 1))

/*
 * One round of progress: drain both CQs; if nothing happened and @block,
 * wait for an event.  Returns 0, or -ECANCELED after abort, -ECONNRESET
 * when the peer is gone, -ECONNABORTED when it reported an error, -EIO /
 * -EPROTO on failures (each reported once).
 */
int rmig_rdma_progress_poll(struct rmig_rdma_ctrl *ctrl, bool block);

/*
 * A blocking round for a caller that cannot go on without progress; a
 * peer that went away or an abort is reported as happening while @what
 * ("waiting for a send buffer").
 */
int rmig_rdma_progress_wait(struct rmig_rdma_ctrl *ctrl, const char *what);

/*
 * The connection's state without waiting: 0 while it may go on, else
 * -ECANCELED (aborted), the latched error, -ECONNABORTED (the peer sent
 * ERROR; reported) or -ECONNRESET (the peer is gone; not reported).
 */
int rmig_rdma_progress_check(struct rmig_rdma_ctrl *ctrl);

/*
 * Wait (up to @timeout_ms) until every posted SEND completed, so a
 * disconnect cannot flush the last stream bytes away.  Quiet.
 */
int rmig_rdma_progress_flush_sends(struct rmig_rdma_ctrl *ctrl, int timeout_ms);

#endif /* RMIG_RDMA_PROGRESS_H */
