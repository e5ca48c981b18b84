/* SPDX-License-Identifier: MIT */
/*
 * A data lane: one extra RC queue pair of a connection that carries only
 * the source's RDMA WRITEs (multifd over rdma:, docs/rdma.txt section 18).
 *
 * The connection's own QP keeps the control channel: every SEND and RECV,
 * and every registration.  A lane lives on the same device and PD, so the
 * memory regions and keys of the connection serve all lanes.  Its queue
 * pair is connected without rdma_cm: the path, MTU and timers are those
 * rdma_cm programmed for the connection's QP (rdma_init_qp_attr), with the
 * peer's lane QP number and PSN from the CHANNELS exchange (lanes.c).
 *
 * On the source a lane has its own send CQ, completion channel and thread.
 * The migration thread posts WRITEs on the lane that owns their chunk; the
 * lane's thread reaps the completions and publishes how far they got, and
 * wakes the connection's progress engine, where the writer waits.  On the
 * destination a lane has nothing to do: WRITEs land without completions.
 */
#ifndef RMIG_RDMA_LANE_H
#define RMIG_RDMA_LANE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "rdma/progress.h"
#include "rdma/res.h"
#include "rdma/write.h"

struct rmig_rdma_lane {
	uint32_t index;
	bool source;
	struct rmig_rdma_progress *prog; /* the connection's: woken on news, failed through */
	struct ibv_comp_channel *ch;	 /* source only */
	struct ibv_cq *send_cq, *recv_cq;
	struct ibv_qp *qp;
	uint32_t psn; /* our first packet sequence number */
	unsigned unacked;
	int numa_node; /* the device's; -1: unbound */
	/* source: the WRITEs of the chunks this lane owns */
	struct rmig_rdma_writer w;
	void *owner; /* the writer's resolver works for the connection */
	pthread_t thread;
	bool thread_started;
	int stop_fd;
	_Atomic uint64_t done; /* highest WRITE sequence number known complete */
	_Atomic int error;     /* -errno once a WRITE failed; why[] is written first */
	bool error_reported;
	char why[160];
	const char *numa_why; /* how numa_node was chosen, for the report */
};

/*
 * Build lane @index on the device and PD of @res: CQs (and, on a source,
 * a completion channel), and a QP moved to INIT with the attributes
 * rdma_cm gives @id.  A destination's lane takes remote writes; a
 * source's takes nothing.  On failure (reported) what was built stays for
 * rmig_rdma_lane_destroy().
 */
int rmig_rdma_lane_create(struct rmig_rdma_lane *l, uint32_t index, struct rmig_rdma_res *res,
			  struct rdma_cm_id *id, struct rmig_rdma_progress *prog, bool source);

/* Move the QP to RTR and RTS towards the peer's lane QP @peer_qpn starting at @peer_psn. */
int rmig_rdma_lane_connect(struct rmig_rdma_lane *l, struct rdma_cm_id *id, uint32_t peer_qpn,
			   uint32_t peer_psn);

/*
 * Source: start the completion thread, on @numa_node's CPUs when >= 0;
 * it reports at info level (-v) where it runs and @why.
 */
int rmig_rdma_lane_start(struct rmig_rdma_lane *l, int numa_node, const char *why);

/*
 * The NUMA node of the device behind @verbs
 * (/sys/class/infiniband/DEV/device/numa_node), -1 when it has none.
 */
int rmig_rdma_device_numa_node(struct ibv_context *verbs);

/*
 * The node for the lanes of a connection on @verbs under the numa-node
 * parameter @param (-2 auto: the device's; -1 none; N), or -1 for no
 * binding; *@why says how it was chosen.
 */
int rmig_rdma_lane_pick_node(int param, struct ibv_context *verbs, const char **why);

/*
 * Tests (source.c's RMIG_RDMA_CUT_LANE): reconnect an idle lane's QP
 * towards a queue pair the peer does not have, so that its WRITEs go
 * unanswered from now on, as over a pulled cable, while the connection's
 * QP carries on.
 */
int rmig_rdma_lane_cut(struct rmig_rdma_lane *l, struct rdma_cm_id *id);

/* Stop the thread, then free in reverse order of creation; safe on a partly built lane. */
void rmig_rdma_lane_destroy(struct rmig_rdma_lane *l);

/*
 * The lane writer's wait callback (@opaque is the lane): returns once more
 * of its WRITEs completed, or with the lane's or the connection's error.
 * Waits in the connection's progress engine, so keepalives go on and the
 * peer-timeout holds.
 */
int rmig_rdma_lane_wait(void *opaque);

#endif /* RMIG_RDMA_LANE_H */
