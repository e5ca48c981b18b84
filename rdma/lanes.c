/* SPDX-License-Identifier: MIT */
/*
 * The CHANNELS exchange [RMIG_RDMA_CAP_CHANNELS]: right after the
 * connection is up (and authenticated), the source describes its data
 * lanes in CHANNELS_REQUEST, the destination builds as many, connects them
 * to the source's and answers with its own in CHANNELS_RESULT; the source
 * then connects its lanes to those.  The destination's lanes are ready to
 * receive before it answers, so no WRITE can reach a lane that is not.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <rmig/log.h>

#include "rdma/conn.h"
#include "rdma/lane.h"
#include "rdma/validate.h"

static int lanes_alloc(struct rmig_rdma_conn *rc, uint32_t n)
{
	rc->lanes = calloc(n, sizeof(*rc->lanes));
	if (!rc->lanes) {
		rmig_error("rdma: out of memory");
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		rc->lanes[i].stop_fd = -1;
	return 0;
}

/* Create @n lanes; rc->nlanes counts what exists, for rmig_rdma_lanes_close(). */
static int lanes_create(struct rmig_rdma_conn *rc, uint32_t n, bool source)
{
	int ret = lanes_alloc(rc, n);

	for (uint32_t i = 0; ret == 0 && i < n; i++) {
		ret = rmig_rdma_lane_create(&rc->lanes[i], i, &rc->res, rc->cm.id, &rc->prog,
					    source);
		rc->nlanes = i + 1;
	}
	return ret;
}

/* CHANNELS_REQUEST / _RESULT payload describing our lanes. */
static int lanes_send(struct rmig_rdma_conn *rc, uint32_t type, bool need_credit)
{
	uint8_t buf[RMIG_RDMA_MAX_LANES * RMIG_RDMA_LANE_INFO_SIZE];

	for (uint32_t i = 0; i < rc->nlanes; i++) {
		struct rmig_rdma_lane_info li = { .index = i, .qpn = rc->lanes[i].qp->qp_num,
						  .psn = rc->lanes[i].psn };

		rmig_rdma_lane_info_encode(&li, buf + (size_t)i * RMIG_RDMA_LANE_INFO_SIZE);
	}
	return rmig_rdma_ctrl_send(&rc->ctrl, type, rc->nlanes, buf,
				   rc->nlanes * RMIG_RDMA_LANE_INFO_SIZE, need_credit);
}

/* The peer's description of its lanes in @m (validate.h). */
static int lanes_parse(const struct rmig_rdma_msg *m, uint32_t type, uint32_t *n,
		       struct rmig_rdma_lane_info *out)
{
	return rmig_rdma_channels_validate(&m->hdr, m->payload, type, n, out);
}

static int lanes_connect(struct rmig_rdma_conn *rc, const struct rmig_rdma_lane_info *peer)
{
	int ret = 0;

	for (uint32_t i = 0; ret == 0 && i < rc->nlanes; i++)
		ret = rmig_rdma_lane_connect(&rc->lanes[i], rc->cm.id, peer[i].qpn, peer[i].psn);
	return ret;
}

int rmig_rdma_lanes_open(struct rmig_rdma_conn *rc, uint32_t n)
{
	struct rmig_rdma_lane_info peer[RMIG_RDMA_MAX_LANES];
	struct rmig_rdma_msg m;
	const char *why;
	int ret, node;

	if (n < 2 || n > RMIG_RDMA_MAX_LANES)
		return -EINVAL;
	ret = lanes_create(rc, n, true);
	if (ret == 0)
		ret = lanes_send(rc, RMIG_RDMA_MSG_CHANNELS_REQUEST, true);
	if (ret == 0)
		ret = rmig_rdma_ctrl_recv(&rc->ctrl, &m, false, "waiting for its CHANNELS RESULT");
	if (ret == -ECONNRESET)
		rmig_error("rdma: the destination disconnected while setting up the channels");
	if (ret < 0)
		return ret;
	ret = lanes_parse(&m, RMIG_RDMA_MSG_CHANNELS_RESULT, &n, peer);
	if (ret == -EPROTO)
		return rmig_rdma_ctrl_give_up(&rc->ctrl, ret);
	if (ret == 0)
		ret = rmig_rdma_ctrl_release(&rc->ctrl, &m);
	if (ret == 0)
		ret = lanes_connect(rc, peer);
	if (ret < 0)
		return ret;
	node = rmig_rdma_lane_pick_node(rc->numa_param, rc->cm.id->verbs, &why);
	for (uint32_t i = 0; ret == 0 && i < n; i++)
		ret = rmig_rdma_lane_start(&rc->lanes[i], node, why);
	if (ret < 0)
		return ret;
	rmig_info("rdma: %u channels (queue pairs) carry the pages", n);
	return 0;
}

int rmig_rdma_lanes_serve(struct rmig_rdma_conn *rc)
{
	struct rmig_rdma_lane_info peer[RMIG_RDMA_MAX_LANES];
	struct rmig_rdma_msg m;
	uint32_t n = 0;
	int ret;

	ret = rmig_rdma_ctrl_recv(&rc->ctrl, &m, true, "waiting for its CHANNELS REQUEST");
	if (ret == -ECONNRESET)
		rmig_error("rdma: the source disconnected before describing its channels");
	if (ret < 0)
		return ret;
	/* Checked in full before anything is built for it. */
	ret = lanes_parse(&m, RMIG_RDMA_MSG_CHANNELS_REQUEST, &n, peer);
	if (ret == 0)
		ret = rmig_rdma_ctrl_release(&rc->ctrl, &m);
	if (ret == -EPROTO)
		return rmig_rdma_ctrl_give_up(&rc->ctrl, ret);
	if (ret == 0)
		ret = lanes_create(rc, n, false);
	if (ret == 0)
		ret = lanes_connect(rc, peer);
	if (ret == 0)
		ret = lanes_send(rc, RMIG_RDMA_MSG_CHANNELS_RESULT, false);
	if (ret < 0)
		return ret;
	rmig_info("rdma: the source writes over %u channels (queue pairs)", n);
	return 0;
}

void rmig_rdma_lanes_close(struct rmig_rdma_conn *rc)
{
	for (uint32_t i = 0; i < rc->nlanes; i++)
		rmig_rdma_lane_destroy(&rc->lanes[i]);
	free(rc->lanes);
	rc->lanes = NULL;
	rc->nlanes = 0;
}

int rmig_rdma_lanes_quiesce(struct rmig_rdma_conn *rc, bool round_end)
{
	int ret = 0;

	/* Every lane's fence first, then the waits: one round trip, not one per lane. */
	for (uint32_t i = 0; ret == 0 && i < rc->nlanes; i++)
		ret = rmig_rdma_writer_fence_post(&rc->lanes[i].w, round_end);
	for (uint32_t i = 0; ret == 0 && i < rc->nlanes; i++)
		ret = rmig_rdma_writer_wait_all(&rc->lanes[i].w);
	return ret;
}
