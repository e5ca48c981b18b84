/* SPDX-License-Identifier: MIT */
/*
 * The verbs resources of the one RC queue pair: a PD, a completion channel
 * and a CQ for each direction (a CQ shared by send and recv hung QEMU under
 * soft-RoCE), the QP, and the device limits the transport honours.
 *
 * As in rdma-core's rping, they are kept apart from the rdma_cm state
 * machine (cm.h): they are built on the connection's id once it has a
 * device (route resolved, or connect request received) and before
 * connect/accept, and freed before the id is destroyed.
 */
#ifndef RMIG_RDMA_RES_H
#define RMIG_RDMA_RES_H

#include <stdint.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

/* Queue sizes; the write engine and the control channel stay below them. */
#define RMIG_RDMA_SQ_DEPTH 160
#define RMIG_RDMA_RQ_DEPTH 40

struct rmig_rdma_res {
	struct rdma_cm_id *id; /* the connection's (cm.h owns it); the QP hangs on it */
	struct ibv_pd *pd;
	struct ibv_comp_channel *send_ch, *recv_ch;
	struct ibv_cq *send_cq, *recv_cq;
	struct ibv_qp *qp;
	unsigned send_unacked, recv_unacked; /* CQ events not yet acked */
	uint64_t max_mr_size; /* the device's, lowered by RMIG_RDMA_MAX_MR_SIZE */
};

/*
 * Query @id's device, then create the PD, the non-blocking completion
 * channels, both CQs (armed) and the QP on @id.  On failure (reported)
 * what was built stays in @res for rmig_rdma_res_destroy().
 */
int rmig_rdma_res_create(struct rmig_rdma_res *res, struct rdma_cm_id *id);

/*
 * Free in reverse order of creation: QP, CQs, completion channels, PD.
 * Safe on a partly built or zeroed @res.  Memory regions on the PD are the
 * caller's and must be gone already; the id must still exist.
 */
void rmig_rdma_res_destroy(struct rmig_rdma_res *res);

#endif /* RMIG_RDMA_RES_H */
