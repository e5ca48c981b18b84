/* SPDX-License-Identifier: MIT */
/*
 * The progress engine; see progress.h.
 */
#include "rdma/progress.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "rdma/glue.h"

#define CQ_ACK_BATCH 32
#define POLL_BATCH 16

static int wc_failed(struct rmig_rdma_ctrl *ctrl, const struct ibv_wc *wc)
{
	const char *what;

	if (wc->status == IBV_WC_WR_FLUSH_ERR) {
		/* The QP went to error: shutdown in progress, the cause is reported elsewhere. */
		ctrl->peer_gone = true;
		return 0;
	}
	switch (RMIG_RDMA_WRID_KIND(wc->wr_id)) {
	case RMIG_RDMA_WRID_WRITE: what = "RDMA write"; break;
	case RMIG_RDMA_WRID_SEND: what = "control message send"; break;
	default: what = "control message receive"; break;
	}
	if (wc->status == IBV_WC_REM_ACCESS_ERR)
		rmig_error("rdma: %s refused by the peer (remote access error: the destination "
			   "exited or invalidated the memory key it handed out)", what);
	else if (wc->status == IBV_WC_RETRY_EXC_ERR || wc->status == IBV_WC_RNR_RETRY_EXC_ERR)
		rmig_error("rdma: %s failed: the peer stopped answering (%s)", what,
			   rmig_rdma_glue_wc_status_str(wc->status));
	else
		rmig_error("rdma: %s failed: %s (vendor error 0x%x)", what,
			   rmig_rdma_glue_wc_status_str(wc->status), wc->vendor_err);
	rmig_rdma_ctrl_fail(ctrl, -EIO);
	return -EIO;
}

/* Returns completions handled (>= 0) or negative errno. */
static int drain_send(struct rmig_rdma_ctrl *ctrl)
{
	struct ibv_wc wc[POLL_BATCH];
	int n, i, total = 0;

	do {
		n = rmig_rdma_glue_poll_cq(ctrl->res->send_cq, POLL_BATCH, wc);
		if (n < 0) {
			rmig_error("rdma: polling the send completion queue failed");
			rmig_rdma_ctrl_fail(ctrl, n);
			return n;
		}
		for (i = 0; i < n; i++) {
			uint64_t v = RMIG_RDMA_WRID_VALUE(wc[i].wr_id);

			if (wc[i].status != IBV_WC_SUCCESS) {
				int ret = wc_failed(ctrl, &wc[i]);

				if (ret < 0)
					return ret;
			}
			if (RMIG_RDMA_WRID_KIND(wc[i].wr_id) == RMIG_RDMA_WRID_SEND &&
			    v < RMIG_RDMA_SEND_BUFS) {
				ctrl->send_busy[v] = false;
				/* RC completes in order: every WRITE before this send is done. */
				if (ctrl->write_done && wc[i].status == IBV_WC_SUCCESS)
					ctrl->write_done(ctrl->write_opaque, ctrl->send_wseq[v]);
			} else if (RMIG_RDMA_WRID_KIND(wc[i].wr_id) == RMIG_RDMA_WRID_WRITE) {
				if (ctrl->write_done && wc[i].status == IBV_WC_SUCCESS)
					ctrl->write_done(ctrl->write_opaque, v);
			}
		}
		total += n;
	} while (n == POLL_BATCH);
	return total;
}

static int drain_recv(struct rmig_rdma_ctrl *ctrl)
{
	struct ibv_wc wc[POLL_BATCH];
	int n, i, total = 0;

	do {
		n = rmig_rdma_glue_poll_cq(ctrl->res->recv_cq, POLL_BATCH, wc);
		if (n < 0) {
			rmig_error("rdma: polling the receive completion queue failed");
			rmig_rdma_ctrl_fail(ctrl, n);
			return n;
		}
		for (i = 0; i < n; i++) {
			uint64_t v = RMIG_RDMA_WRID_VALUE(wc[i].wr_id);
			int ret;

			if (wc[i].status != IBV_WC_SUCCESS) {
				ret = wc_failed(ctrl, &wc[i]);
				if (ret < 0)
					return ret;
				continue;
			}
			if (RMIG_RDMA_WRID_KIND(wc[i].wr_id) != RMIG_RDMA_WRID_RECV ||
			    v >= RMIG_RDMA_RECV_BUFS) {
				rmig_error("rdma: completion for an unknown receive (wr_id 0x%llx)",
					   (unsigned long long)wc[i].wr_id);
				rmig_rdma_ctrl_fail(ctrl, -EIO);
				return -EIO;
			}
			ret = rmig_rdma_ctrl_handle_recv(ctrl, (uint32_t)v, wc[i].byte_len);
			if (ret < 0)
				return ret;
		}
		total += n;
	} while (n == POLL_BATCH);
	return total;
}

int rmig_rdma_progress_check(struct rmig_rdma_ctrl *ctrl)
{
	if (atomic_load(&ctrl->aborted)) {
		rmig_rdma_ctrl_fail(ctrl, -ECANCELED);
		return -ECANCELED;
	}
	if (ctrl->error)
		return ctrl->error;
	if (ctrl->peer_error) {
		rmig_error("rdma: the peer reported an error and gave up (see its log)");
		rmig_rdma_ctrl_fail(ctrl, -ECONNABORTED);
		return -ECONNABORTED;
	}
	if (ctrl->peer_gone)
		return -ECONNRESET;
	return 0;
}

static int cq_event(struct rmig_rdma_ctrl *ctrl, struct ibv_comp_channel *ch, unsigned *unacked)
{
	struct ibv_cq *cq;
	int ret = rmig_rdma_glue_get_cq_event(ch, &cq);

	if (ret == -EAGAIN)
		return 0;
	if (ret < 0) {
		rmig_error("rdma: reading a completion event failed: %s", strerror(-ret));
		rmig_rdma_ctrl_fail(ctrl, ret);
		return ret;
	}
	if (++*unacked >= CQ_ACK_BATCH) {
		rmig_rdma_glue_ack_cq_events(cq, *unacked);
		*unacked = 0;
	}
	/* Re-arm before the caller drains, so no completion slips between the two. */
	ret = rmig_rdma_glue_req_notify_cq(cq);
	if (ret < 0) {
		rmig_error("rdma: re-arming a completion queue failed: %s", strerror(-ret));
		rmig_rdma_ctrl_fail(ctrl, ret);
	}
	return ret;
}

int rmig_rdma_progress_poll(struct rmig_rdma_ctrl *ctrl, bool block)
{
	struct rmig_rdma_cm *cm = ctrl->cm;
	struct rmig_rdma_res *res = ctrl->res;
	struct pollfd pfd[4];
	int ret, s, r;

	ret = rmig_rdma_progress_check(ctrl);
	if (ret < 0 && ret != -ECONNRESET)
		return ret;
	s = drain_send(ctrl);
	if (s < 0)
		return s;
	r = drain_recv(ctrl);
	if (r < 0)
		return r;
	if (s + r > 0 || !block) {
		/* Handle what arrived first: a peer gone shows on a round that finds none. */
		ret = rmig_rdma_progress_check(ctrl);
		return ret == -ECONNRESET ? 0 : ret;
	}
	ret = rmig_rdma_progress_check(ctrl);
	if (ret < 0)
		return ret;
	pfd[0] = (struct pollfd){ .fd = ctrl->abort_fd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = res->send_ch->fd, .events = POLLIN };
	pfd[2] = (struct pollfd){ .fd = res->recv_ch->fd, .events = POLLIN };
	pfd[3] = (struct pollfd){ .fd = cm->ch->fd, .events = POLLIN };
	ret = poll(pfd, 4, 1000);
	if (ret < 0 && errno != EINTR) {
		ret = -errno;
		rmig_error("rdma: poll failed: %s", strerror(-ret));
		rmig_rdma_ctrl_fail(ctrl, ret);
		return ret;
	}
	if (ret <= 0)
		return 0;
	if (pfd[0].revents & POLLIN)
		return rmig_rdma_progress_check(ctrl);
	if (pfd[1].revents & POLLIN) {
		ret = cq_event(ctrl, res->send_ch, &res->send_unacked);
		if (ret < 0)
			return ret;
	}
	if (pfd[2].revents & POLLIN) {
		ret = cq_event(ctrl, res->recv_ch, &res->recv_unacked);
		if (ret < 0)
			return ret;
	}
	if (pfd[3].revents & POLLIN) {
		while (rmig_rdma_cm_process_one(cm) == 0)
			;
		if (cm->state == RMIG_RDMA_CM_DISCONNECTED || cm->state == RMIG_RDMA_CM_ERROR)
			ctrl->peer_gone = true;
	}
	return 0;
}

int rmig_rdma_progress_wait(struct rmig_rdma_ctrl *ctrl, const char *what)
{
	int ret = rmig_rdma_progress_poll(ctrl, true);

	if (ret == -ECONNRESET) {
		rmig_error("rdma: the peer disconnected while %s", what);
		rmig_rdma_ctrl_fail(ctrl, ret);
	} else if (ret == -ECANCELED) {
		rmig_error("rdma: cancelled while %s", what);
	}
	return ret;
}

int rmig_rdma_progress_flush_sends(struct rmig_rdma_ctrl *ctrl, int timeout_ms)
{
	uint64_t deadline = rmig_time_now_ns() + (uint64_t)timeout_ms * RMIG_NSEC_PER_MSEC;

	/* Polls the send CQ directly: this also runs after abort or a failure. */
	while (!ctrl->peer_gone) {
		uint32_t i;

		for (i = 0; i < RMIG_RDMA_SEND_BUFS && !ctrl->send_busy[i]; i++)
			;
		if (i == RMIG_RDMA_SEND_BUFS)
			return 0;
		if (rmig_time_now_ns() >= deadline)
			return -ETIMEDOUT;
		if (drain_send(ctrl) < 0)
			return -EIO;
		if (ctrl->cm->state == RMIG_RDMA_CM_DISCONNECTED)
			return -ECONNRESET;
		poll(NULL, 0, 1);
	}
	return -ECONNRESET;
}
