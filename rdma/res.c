/* SPDX-License-Identifier: MIT */
/*
 * Verbs resources of the connection's queue pair; see res.h.
 */
#include "rdma/res.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/size.h"
#include "common/base/util.h"
#include "rdma/glue.h"

/*
 * RMIG_RDMA_MAX_MR_SIZE=<bytes> lowers the device's limit for this side.
 * Soft-RoCE's limit is far above any test RAM, so without it the pin-all
 * paths for blocks split into several memory regions would never run.
 */
static int max_mr_size_knob(struct rmig_rdma_res *res)
{
	const char *v = getenv("RMIG_RDMA_MAX_MR_SIZE");
	uint64_t lim;
	char a[32];

	if (!v || !*v)
		return 0;
	if (rmig_size_parse(v, &lim) < 0 || lim == 0) {
		rmig_error("rdma: RMIG_RDMA_MAX_MR_SIZE='%.64s' is not a size in bytes above 0 "
			   "(e.g. 4194304 or 4M)",
			   v);
		return -EINVAL;
	}
	if (lim < res->max_mr_size) {
		res->max_mr_size = lim;
		rmig_info("rdma: largest memory registration limited to %s by "
			  "RMIG_RDMA_MAX_MR_SIZE",
			  rmig_size_format(lim, a, sizeof(a)));
	}
	return 0;
}

static int res_query_limits(struct rmig_rdma_res *res)
{
	struct ibv_device_attr attr;
	int ret;

	memset(&attr, 0, sizeof(attr));
	ret = rmig_rdma_glue_query_device(res->id->verbs, &attr);
	if (ret < 0) {
		rmig_error("rdma: cannot query the RDMA device: %s", strerror(-ret));
		return ret;
	}
	res->max_mr_size = attr.max_mr_size ? attr.max_mr_size : UINT64_MAX;
	return max_mr_size_knob(res);
}

static int res_create_cqs(struct rmig_rdma_res *res)
{
	struct ibv_context *verbs = res->id->verbs;
	int ret = 0;

	res->send_ch = rmig_rdma_glue_create_comp_channel(verbs, &ret);
	if (res->send_ch)
		res->recv_ch = rmig_rdma_glue_create_comp_channel(verbs, &ret);
	if (!res->send_ch || !res->recv_ch) {
		rmig_error("rdma: cannot create a completion channel: %s", strerror(-ret));
		return ret;
	}
	rmig_fd_set_nonblock(res->send_ch->fd);
	rmig_fd_set_nonblock(res->recv_ch->fd);
	res->send_cq = rmig_rdma_glue_create_cq(verbs, RMIG_RDMA_SQ_DEPTH, res->send_ch, &ret);
	if (res->send_cq)
		res->recv_cq = rmig_rdma_glue_create_cq(verbs, RMIG_RDMA_RQ_DEPTH, res->recv_ch,
							&ret);
	if (!res->send_cq || !res->recv_cq) {
		rmig_error("rdma: cannot create a completion queue: %s", strerror(-ret));
		return ret;
	}
	ret = rmig_rdma_glue_req_notify_cq(res->send_cq);
	if (ret == 0)
		ret = rmig_rdma_glue_req_notify_cq(res->recv_cq);
	if (ret < 0)
		rmig_error("rdma: cannot arm completion notification: %s", strerror(-ret));
	return ret;
}

static int res_create_qp(struct rmig_rdma_res *res)
{
	struct ibv_qp_init_attr qa;
	int ret;

	memset(&qa, 0, sizeof(qa));
	qa.send_cq = res->send_cq;
	qa.recv_cq = res->recv_cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = RMIG_RDMA_SQ_DEPTH;
	qa.cap.max_recv_wr = RMIG_RDMA_RQ_DEPTH;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	ret = rmig_rdma_glue_create_qp(res->id, res->pd, &qa);
	if (ret < 0) {
		rmig_error("rdma: cannot create the queue pair: %s", strerror(-ret));
		return ret;
	}
	res->qp = res->id->qp;
	return 0;
}

int rmig_rdma_res_create(struct rmig_rdma_res *res, struct rdma_cm_id *id)
{
	int ret;

	res->id = id;
	ret = res_query_limits(res);
	if (ret < 0)
		return ret;
	res->pd = rmig_rdma_glue_alloc_pd(id->verbs, &ret);
	if (!res->pd) {
		rmig_error("rdma: cannot allocate a protection domain: %s", strerror(-ret));
		return ret;
	}
	ret = res_create_cqs(res);
	if (ret < 0)
		return ret;
	return res_create_qp(res);
}

void rmig_rdma_res_destroy(struct rmig_rdma_res *res)
{
	if (res->qp) {
		rmig_rdma_glue_destroy_qp(res->id);
		res->qp = NULL;
	}
	/* Unacked CQ events would make destroy_cq wait forever. */
	if (res->recv_cq) {
		if (res->recv_unacked)
			rmig_rdma_glue_ack_cq_events(res->recv_cq, res->recv_unacked);
		rmig_rdma_glue_destroy_cq(res->recv_cq);
		res->recv_cq = NULL;
	}
	if (res->send_cq) {
		if (res->send_unacked)
			rmig_rdma_glue_ack_cq_events(res->send_cq, res->send_unacked);
		rmig_rdma_glue_destroy_cq(res->send_cq);
		res->send_cq = NULL;
	}
	res->send_unacked = res->recv_unacked = 0;
	if (res->recv_ch) {
		rmig_rdma_glue_destroy_comp_channel(res->recv_ch);
		res->recv_ch = NULL;
	}
	if (res->send_ch) {
		rmig_rdma_glue_destroy_comp_channel(res->send_ch);
		res->send_ch = NULL;
	}
	if (res->pd) {
		rmig_rdma_glue_dealloc_pd(res->pd);
		res->pd = NULL;
	}
	res->id = NULL;
}
