/* SPDX-License-Identifier: MIT */
/*
 * Bounded pinning: the eviction; see evict.h.
 */
#include "rdma/evict.h"

#include <errno.h>
#include <string.h>

#include <rmig/log.h>
#include <rmig/params.h>

#include "common/base/memlock.h"
#include "common/base/util.h"
#include "rdma/conn.h"
#include "rdma/glue.h"

/* Room for what a side pins besides RAM and message buffers: QPs, CQs on hardware. */
#define PIN_MARGIN (4ULL << 20)

uint64_t rmig_rdma_pin_bound(uint64_t requested, uint64_t other_pinned)
{
	uint64_t limit, avail;

	if (requested)
		return RMIG_MAX(requested, RMIG_RDMA_MAX_PINNED_MIN);
	limit = rmig_memlock_get_limit();
	if (!limit)
		return 0;
	avail = limit > other_pinned + PIN_MARGIN ? limit - other_pinned - PIN_MARGIN : 0;
	return RMIG_MAX(avail, RMIG_RDMA_MAX_PINNED_MIN);
}

/* Collect one UNREGISTER_FINISHED; nothing else may come: no request is in flight. */
static int wait_finished(struct rmig_rdma_conn *rc)
{
	struct rmig_rdma_msg m;
	int ret;

	ret = rmig_rdma_ctrl_recv(&rc->ctrl, &m, false, "waiting for an UNREGISTER FINISHED");
	if (ret == -ECONNRESET) {
		rmig_error("rdma: the destination disconnected while unregistering memory");
		rmig_rdma_ctrl_fail(&rc->ctrl, ret);
	}
	if (ret < 0)
		return ret;
	if (m.hdr.type != RMIG_RDMA_MSG_UNREGISTER_FINISHED) {
		rmig_error("rdma: the destination answered an UNREGISTER REQUEST with %s",
			   rmig_rdma_msg_name(m.hdr.type));
		rmig_rdma_ctrl_release(&rc->ctrl, &m);
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
	}
	return rmig_rdma_ctrl_release(&rc->ctrl, &m);
}

/* Drop our side of a run the destination has freed. */
static void release_local(struct rmig_rdma_conn *rc, uint32_t block, uint64_t first,
			  uint64_t count)
{
	uint64_t k;

	for (k = 0; k < count; k++) {
		void *mr = NULL;

		if (rmig_rdma_keycache_invalidate(rc->kc, block, first + k, &mr) == 0 && mr)
			rmig_rdma_glue_dereg_mr(mr);
	}
}

int rmig_rdma_evict(struct rmig_rdma_conn *rc, uint64_t want)
{
	struct rmig_rdma_pinlru *l = &rc->pins;
	uint8_t payload[RMIG_RDMA_REQ_BATCH * RMIG_RDMA_REGISTER_SIZE];
	uint32_t vblock[RMIG_RDMA_REQ_BATCH];
	uint64_t vfirst[RMIG_RDMA_REQ_BATCH], vcount[RMIG_RDMA_REQ_BATCH];
	uint64_t vbytes[RMIG_RDMA_REQ_BATCH];
	uint64_t goal = want + l->max_bytes / 4, seq;
	uint32_t batch = rc->reg_batch ? RMIG_RDMA_REQ_BATCH : 1;
	int ret;

	if (rc->req_count) {
		rmig_error("internal error: eviction with REGISTER_REQUESTs in flight");
		return -EINVAL;
	}
	seq = rc->w.posted;
	while (rmig_rdma_pinlru_room(l) < goal) {
		uint32_t n = 0, i;

		while (n < batch && rmig_rdma_pinlru_room(l) < goal &&
		       rmig_rdma_pinlru_oldest(l, &vblock[n], &vfirst[n], &vcount[n])) {
			struct rmig_rdma_register r = { .key = vfirst[n], .block_idx = vblock[n] };

			rmig_rdma_register_encode(&r, payload + (size_t)n * RMIG_RDMA_REGISTER_SIZE);
			/* Out of the account now, so the loop picks the next oldest. */
			vbytes[n] = rmig_rdma_pinlru_drop(l, vblock[n], vfirst[n]);
			n++;
		}
		if (n == 0)
			break; /* nothing held: what is left is in flight, and that was collected */
		/* RC orders our WRITEs before that SEND on one QP only: the lanes' must be done. */
		ret = rmig_rdma_lanes_quiesce(rc, false);
		if (ret == 0)
			ret = rmig_rdma_ctrl_send(&rc->ctrl, RMIG_RDMA_MSG_UNREGISTER_REQUEST, n,
						  payload, n * RMIG_RDMA_REGISTER_SIZE, true);
		if (ret == 0)
			ret = wait_finished(rc);
		/*
		 * The destination dropped its regions after our earlier WRITEs
		 * landed (RC order); ours may still be read by the NIC until
		 * those WRITEs complete, which that SEND's completion proves.
		 */
		while (ret == 0 && rc->w.completed < seq)
			ret = rmig_rdma_progress_wait(&rc->prog,
						      "waiting for WRITEs to complete before "
						      "unregistering memory");
		if (ret < 0) {
			/* Ours are all still registered: the account and the stats say so. */
			for (i = 0; i < n; i++) {
				rmig_rdma_pinlru_reserve(l, vblock[i], vfirst[i], vcount[i]);
				rmig_rdma_pinlru_hold(l, vblock[i], vfirst[i], vcount[i]);
			}
			return ret;
		}
		for (i = 0; i < n; i++) {
			release_local(rc, vblock[i], vfirst[i], vcount[i]);
			rmig_rdma_pinlru_evicted(l, vbytes[i]);
		}
	}
	return 0;
}
