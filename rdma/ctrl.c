/* SPDX-License-Identifier: MIT */
/*
 * The control channel: message buffers, SEND/RECV and flow control; see
 * ctrl.h for the rules.  Completions reach it through the handlers it
 * registers with the progress engine.
 */
#include "rdma/ctrl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <rmig/log.h>

#include "rdma/glue.h"
#include "rdma/progress.h"
#include "rdma/reg.h"
#include "rdma/rings.h"

/* The untrusted page (ctrl.h): receive buffers first, then send buffers. */
#define PRE_SEND_OFF ((size_t)RMIG_RDMA_PREAUTH_RECVS * RMIG_RDMA_PREAUTH_MSG)
_Static_assert(PRE_SEND_OFF + (size_t)RMIG_RDMA_SEND_BUFS * RMIG_RDMA_PREAUTH_MSG <=
		       RMIG_RDMA_PREAUTH_PAGE,
	       "the untrusted peer's buffers fit one page");
_Static_assert(RMIG_RDMA_PREAUTH_RECVS <= RMIG_RDMA_RECV_BUFS, "small RECVs use ring slots");

static uint8_t *recv_buf(const struct rmig_rdma_ctrl *ctrl, uint32_t i)
{
	if (ctrl->rx_small[i])
		return ctrl->pre_mem + (size_t)i * RMIG_RDMA_PREAUTH_MSG;
	return ctrl->recv_mem + (size_t)i * RMIG_RDMA_CONTROL_MAX;
}

/* Send buffers change with trust; a send in flight never reads its buffer again. */
static uint8_t *send_buf(const struct rmig_rdma_ctrl *ctrl, uint32_t i)
{
	if (ctrl->untrusted)
		return ctrl->pre_mem + PRE_SEND_OFF + (size_t)i * RMIG_RDMA_PREAUTH_MSG;
	return ctrl->send_mem + (size_t)i * RMIG_RDMA_CONTROL_MAX;
}

static bool have_send_bufs(const struct rmig_rdma_ctrl *ctrl)
{
	return ctrl->untrusted ? ctrl->pre_mr != NULL : ctrl->send_mr != NULL;
}

void rmig_rdma_ctrl_fail(struct rmig_rdma_ctrl *ctrl, int err)
{
	rmig_rdma_progress_fail(ctrl->prog, err);
}

int rmig_rdma_ctrl_give_up(struct rmig_rdma_ctrl *ctrl, int err)
{
	rmig_rdma_ctrl_send_error(ctrl);
	rmig_rdma_ctrl_fail(ctrl, err);
	return err;
}

static int post_recv_as(struct rmig_rdma_ctrl *ctrl, uint32_t i, bool small)
{
	struct ibv_sge sge = {
		.length = small ? RMIG_RDMA_PREAUTH_MSG : RMIG_RDMA_CONTROL_MAX,
		.lkey = small ? ctrl->pre_mr->lkey : ctrl->recv_mr->lkey,
	};
	struct ibv_recv_wr wr = { .wr_id = RMIG_RDMA_WRID_RECV | i, .sg_list = &sge, .num_sge = 1 };
	int ret;

	ctrl->rx_small[i] = small;
	sge.addr = (uintptr_t)recv_buf(ctrl, i);
	ret = rmig_rdma_glue_post_recv(ctrl->res->qp, &wr);
	if (ret < 0) {
		rmig_error("rdma: cannot post a receive buffer: %s", strerror(-ret));
		rmig_rdma_ctrl_fail(ctrl, ret);
		return ret;
	}
	if (small)
		ctrl->pre_posted++;
	return 0;
}

/*
 * Give buffer @i back to the queue.  Not while the peer is untrusted: a
 * small RECV left queued would take a full-size message after trust.
 */
static int post_recv(struct rmig_rdma_ctrl *ctrl, uint32_t i)
{
	if (ctrl->untrusted)
		return 0;
	return post_recv_as(ctrl, i, false);
}

/* Take over @mem's rings, if any, as ours (still unregistered). */
static void ctrl_adopt(struct rmig_rdma_ctrl *ctrl, struct rmig_rdma_rings *mem)
{
	if (!mem)
		return;
	if (mem->recv && mem->send) {
		ctrl->recv_mem = mem->recv;
		ctrl->send_mem = mem->send;
		mem->recv = mem->send = NULL;
	}
	rmig_rdma_rings_release(mem);
}

static void send_done(void *opaque, uint64_t i, enum ibv_wc_status status);
static int recv_done(void *opaque, uint64_t value, uint32_t len);
static bool sends_pending(void *opaque);
static int keepalive(void *opaque);

static void ctrl_reset(struct rmig_rdma_ctrl *ctrl, struct rmig_rdma_res *res,
		       struct rmig_rdma_progress *prog)
{
	const struct rmig_rdma_progress_channel handlers = {
		.on_send_done = send_done,
		.on_recv = recv_done,
		.sends_pending = sends_pending,
		.keepalive = keepalive,
		.opaque = ctrl,
	};

	memset(ctrl, 0, sizeof(*ctrl));
	ctrl->prog = prog;
	ctrl->res = res;
	rmig_rdma_progress_set_channel(prog, &handlers);
	ctrl->window = 1;
	ctrl->to_grant = 1;
}

/* The full rings: every RECV slot not queued yet is posted full-size. */
static int ctrl_map_rings(struct rmig_rdma_ctrl *ctrl)
{
	uint32_t i;
	int ret;

	/* Page-aligned (mmap) so registration pins exactly these pages. */
	if (!ctrl->recv_mem)
		ctrl->recv_mem = rmig_rdma_rings_map(RMIG_RDMA_RECV_RING_BYTES);
	if (!ctrl->send_mem)
		ctrl->send_mem = rmig_rdma_rings_map(RMIG_RDMA_SEND_RING_BYTES);
	if (!ctrl->recv_mem || !ctrl->send_mem) {
		rmig_error("rdma: out of memory for the control buffers");
		return -ENOMEM;
	}
	ret = rmig_rdma_mr_register(ctrl->res->pd, ctrl->recv_mem, RMIG_RDMA_RECV_RING_BYTES,
				    IBV_ACCESS_LOCAL_WRITE, "control receive buffers", &ctrl->recv_mr);
	if (ret < 0)
		return ret;
	ret = rmig_rdma_mr_register(ctrl->res->pd, ctrl->send_mem, RMIG_RDMA_SEND_RING_BYTES, 0,
				    "control send buffers", &ctrl->send_mr);
	if (ret < 0)
		return ret;
	for (i = 0; i < RMIG_RDMA_RECV_BUFS; i++) {
		ret = post_recv_as(ctrl, i, false);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int rmig_rdma_ctrl_init(struct rmig_rdma_ctrl *ctrl, struct rmig_rdma_res *res,
			struct rmig_rdma_progress *prog, struct rmig_rdma_rings *mem)
{
	int ret;

	ctrl_reset(ctrl, res, prog);
	ctrl_adopt(ctrl, mem);
	ret = ctrl_map_rings(ctrl);
	if (ret < 0)
		rmig_rdma_ctrl_fini(ctrl);
	return ret;
}

int rmig_rdma_ctrl_init_untrusted(struct rmig_rdma_ctrl *ctrl, struct rmig_rdma_res *res,
				  struct rmig_rdma_progress *prog, struct rmig_rdma_rings *mem)
{
	uint32_t i;
	int ret;

	ctrl_reset(ctrl, res, prog);
	ctrl->untrusted = true;
	ctrl->pre_mem = rmig_rdma_rings_map(RMIG_RDMA_PREAUTH_PAGE);
	/* Taken over whatever comes next: from here on fini unmaps them. */
	ctrl_adopt(ctrl, mem);
	if (!ctrl->pre_mem) {
		rmig_error("rdma: out of memory for the control buffers");
		rmig_rdma_ctrl_fini(ctrl);
		return -ENOMEM;
	}
	ret = rmig_rdma_mr_register(res->pd, ctrl->pre_mem, RMIG_RDMA_PREAUTH_PAGE,
				    IBV_ACCESS_LOCAL_WRITE, "control buffers before authentication",
				    &ctrl->pre_mr);
	for (i = 0; ret == 0 && i < RMIG_RDMA_PREAUTH_RECVS; i++)
		ret = post_recv_as(ctrl, i, true);
	if (ret < 0)
		rmig_rdma_ctrl_fini(ctrl);
	return ret;
}

int rmig_rdma_ctrl_trust(struct rmig_rdma_ctrl *ctrl)
{
	int ret;

	if (!ctrl->untrusted)
		return 0;
	if (ctrl->pre_posted) {
		rmig_error("rdma: the peer sent %u message(s) fewer than its authentication takes",
			   ctrl->pre_posted);
		return rmig_rdma_ctrl_give_up(ctrl, -EPROTO);
	}
	ctrl->untrusted = false;
	ret = ctrl_map_rings(ctrl);
	if (ret < 0) {
		rmig_rdma_ctrl_fail(ctrl, ret);
		return ret;
	}
	rmig_rdma_ctrl_set_caps(ctrl, ctrl->caps);
	return 0;
}

bool rmig_rdma_ctrl_return_rings(struct rmig_rdma_ctrl *ctrl, struct rmig_rdma_rings *out)
{
	/* Unregistered, so the peer never reached them: nothing of it is in them. */
	if (!ctrl->untrusted || ctrl->recv_mr || ctrl->send_mr || !ctrl->recv_mem ||
	    !ctrl->send_mem || out->recv || out->send)
		return false;
	out->recv = ctrl->recv_mem;
	out->send = ctrl->send_mem;
	ctrl->recv_mem = ctrl->send_mem = NULL;
	return true;
}

void rmig_rdma_ctrl_set_caps(struct rmig_rdma_ctrl *ctrl, uint32_t caps)
{
	/* An untrusted peer gets one credit at a time, whatever it offered. */
	bool on = (caps & RMIG_RDMA_CAP_CREDITS) != 0 && !ctrl->untrusted;

	ctrl->caps = caps;
	ctrl->credits_mode = on;
	ctrl->window = on ? RMIG_RDMA_CREDITS : 1;
	ctrl->to_grant = ctrl->window - ctrl->granted;
}

void rmig_rdma_ctrl_fini(struct rmig_rdma_ctrl *ctrl)
{
	if (ctrl->send_mr) {
		rmig_rdma_glue_dereg_mr(ctrl->send_mr);
		ctrl->send_mr = NULL;
	}
	if (ctrl->recv_mr) {
		rmig_rdma_glue_dereg_mr(ctrl->recv_mr);
		ctrl->recv_mr = NULL;
	}
	if (ctrl->send_mem) {
		munmap(ctrl->send_mem, RMIG_RDMA_SEND_RING_BYTES);
		ctrl->send_mem = NULL;
	}
	if (ctrl->recv_mem) {
		munmap(ctrl->recv_mem, RMIG_RDMA_RECV_RING_BYTES);
		ctrl->recv_mem = NULL;
	}
	if (ctrl->pre_mr) {
		rmig_rdma_glue_dereg_mr(ctrl->pre_mr);
		ctrl->pre_mr = NULL;
	}
	if (ctrl->pre_mem) {
		munmap(ctrl->pre_mem, RMIG_RDMA_PREAUTH_PAGE);
		ctrl->pre_mem = NULL;
	}
}

static bool is_response(uint32_t type)
{
	return type == RMIG_RDMA_MSG_RAM_BLOCKS_RESULT || type == RMIG_RDMA_MSG_REGISTER_RESULT ||
	       type == RMIG_RDMA_MSG_UNREGISTER_FINISHED || type == RMIG_RDMA_MSG_SEGMENTS_RESULT ||
	       type == RMIG_RDMA_MSG_AUTH_RESPONSE || type == RMIG_RDMA_MSG_CHANNELS_RESULT;
}

/* Extension types are messages only on a connection that negotiated them. */
static int decode_hdr(struct rmig_rdma_ctrl *ctrl, uint32_t i, uint32_t len,
		      struct rmig_rdma_hdr *h)
{
	return rmig_rdma_hdr_decode_caps(recv_buf(ctrl, i), len, ctrl->caps, h);
}

/*
 * The RECV into buffer @i completed with @len bytes.  READY and ERROR are
 * consumed here, anything else is queued for rmig_rdma_ctrl_recv().
 */
static int handle_recv(struct rmig_rdma_ctrl *ctrl, uint32_t i, uint32_t len)
{
	struct rmig_rdma_hdr h;
	uint32_t slot;
	int ret;

	ret = decode_hdr(ctrl, i, len, &h);
	if (ret < 0) /* reported by the decoder */
		return rmig_rdma_ctrl_give_up(ctrl, -EPROTO);
	ctrl->msgs_received++;
	switch (h.type) {
	case RMIG_RDMA_MSG_READY:
		/*
		 * v1 peers grant exactly one; nobody may hold more than the
		 * window.  Subtracted, not added: a repeat near 2^32 would wrap.
		 */
		if (h.repeat == 0 || h.repeat > (ctrl->credits_mode ? RMIG_RDMA_CREDITS : 1) -
							ctrl->peer_credits) {
			rmig_error("rdma: the peer granted %u credits on top of %u (at most %u "
				   "allowed)", h.repeat, ctrl->peer_credits,
				   ctrl->credits_mode ? RMIG_RDMA_CREDITS : 1);
			return rmig_rdma_ctrl_give_up(ctrl, -EPROTO);
		}
		ctrl->peer_credits += h.repeat;
		return post_recv(ctrl, i);
	case RMIG_RDMA_MSG_KEEPALIVE: /* decoded only under CAP_KEEPALIVE */
		/* Its arrival was the point (progress.c noted it); the count must be one we can have. */
		if (h.repeat - ctrl->ka_acked > ctrl->ka_sent - ctrl->ka_acked) {
			rmig_error("rdma: the peer acknowledged %u KEEPALIVEs; we sent %u, and it "
				   "had acknowledged %u", h.repeat, ctrl->ka_sent, ctrl->ka_acked);
			return rmig_rdma_ctrl_give_up(ctrl, -EPROTO);
		}
		ctrl->ka_acked = h.repeat;
		ctrl->ka_received++;
		ctrl->ka_turn = true;
		return post_recv(ctrl, i);
	case RMIG_RDMA_MSG_ERROR:
		/* Connection-wide: the progress engine reports it at its next check. */
		ctrl->prog->peer_error = true;
		return post_recv(ctrl, i);
	default:
		break;
	}
	ctrl->rx_granted[i] = !is_response(h.type);
	if (ctrl->rx_granted[i]) {
		if (ctrl->granted == 0) {
			rmig_error("rdma: the peer sent %s without a credit (flow-control "
				   "violation)", rmig_rdma_msg_name(h.type));
			return rmig_rdma_ctrl_give_up(ctrl, -EPROTO);
		}
		ctrl->granted--;
	}
	slot = (ctrl->rxq_head + ctrl->rxq_count) % RMIG_RDMA_RECV_BUFS;
	ctrl->rxq_buf[slot] = i;
	ctrl->rxq_len[slot] = len;
	ctrl->rxq_count++;
	return 0;
}

static int recv_done(void *opaque, uint64_t value, uint32_t len)
{
	struct rmig_rdma_ctrl *ctrl = opaque;

	if (value >= RMIG_RDMA_RECV_BUFS) {
		rmig_error("rdma: completion for an unknown receive (wr_id 0x%llx)",
			   (unsigned long long)(RMIG_RDMA_WRID_RECV | value));
		rmig_rdma_ctrl_fail(ctrl, -EIO);
		return -EIO;
	}
	if (ctrl->rx_small[value])
		ctrl->pre_posted--;
	return handle_recv(ctrl, (uint32_t)value, len);
}

static int post_send(struct rmig_rdma_ctrl *ctrl, uint32_t i, uint32_t len)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)send_buf(ctrl, i),
		.length = len,
		.lkey = ctrl->untrusted ? ctrl->pre_mr->lkey : ctrl->send_mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = RMIG_RDMA_WRID_SEND | i,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = IBV_WR_SEND,
		.send_flags = IBV_SEND_SIGNALED,
	};
	int ret;

	ctrl->send_busy[i] = true;
	ctrl->send_wseq[i] = rmig_rdma_progress_posted_writes(ctrl->prog);
	ret = rmig_rdma_glue_post_send(ctrl->res->qp, &wr);
	if (ret < 0) {
		ctrl->send_busy[i] = false;
		rmig_error("rdma: cannot post a control message: %s", strerror(-ret));
		rmig_rdma_ctrl_fail(ctrl, ret);
		return ret;
	}
	ctrl->msgs_sent++;
	ctrl->bytes_sent += len;
	rmig_rdma_progress_sent(ctrl->prog);
	return 0;
}

static void send_done(void *opaque, uint64_t i, enum ibv_wc_status status)
{
	struct rmig_rdma_ctrl *ctrl = opaque;

	if (i >= RMIG_RDMA_SEND_BUFS)
		return;
	ctrl->send_busy[i] = false;
	/* RC completes in order: every WRITE before this send is done. */
	if (status == IBV_WC_SUCCESS)
		rmig_rdma_progress_retire_writes(ctrl->prog, ctrl->send_wseq[i]);
}

static bool sends_pending(void *opaque)
{
	const struct rmig_rdma_ctrl *ctrl = opaque;
	uint32_t i;

	for (i = 0; i < RMIG_RDMA_SEND_BUFS; i++) {
		if (ctrl->send_busy[i])
			return true;
	}
	return false;
}

static int free_send_buf(struct rmig_rdma_ctrl *ctrl, bool wait, uint32_t *out)
{
	for (;;) {
		uint32_t i;
		int ret;

		for (i = 0; i < RMIG_RDMA_SEND_BUFS; i++) {
			if (!ctrl->send_busy[i]) {
				*out = i;
				return 0;
			}
		}
		if (!wait)
			return -EBUSY;
		ret = rmig_rdma_progress_wait(ctrl->prog, "waiting for a send buffer");
		if (ret < 0)
			return ret;
	}
}

int rmig_rdma_ctrl_send(struct rmig_rdma_ctrl *ctrl, uint32_t type, uint32_t repeat,
			const void *payload, uint32_t len, bool need_credit)
{
	struct rmig_rdma_hdr h = { .len = len, .type = type, .repeat = repeat };
	uint32_t i;
	int ret;

	if (len > (ctrl->untrusted ? RMIG_RDMA_PREAUTH_MSG : RMIG_RDMA_CONTROL_MAX) -
		      RMIG_RDMA_HDR_SIZE)
		return -EMSGSIZE;
	ret = rmig_rdma_progress_check(ctrl->prog);
	if (ret == -ECONNRESET) {
		rmig_error("rdma: the peer disconnected; cannot send %s", rmig_rdma_msg_name(type));
		rmig_rdma_ctrl_fail(ctrl, ret);
	}
	if (ret < 0)
		return ret;
	while (need_credit && ctrl->peer_credits == 0) {
		char what[64];

		snprintf(what, sizeof(what), "we waited for its READY to send %s",
			 rmig_rdma_msg_name(type));
		ret = rmig_rdma_progress_wait(ctrl->prog, what);
		if (ret < 0)
			return ret;
	}
	ret = free_send_buf(ctrl, true, &i);
	if (ret < 0)
		return ret;
	rmig_rdma_hdr_encode(&h, send_buf(ctrl, i));
	if (len)
		memcpy(send_buf(ctrl, i) + RMIG_RDMA_HDR_SIZE, payload, len);
	ret = post_send(ctrl, i, RMIG_RDMA_HDR_SIZE + len);
	if (ret < 0)
		return ret;
	if (need_credit)
		ctrl->peer_credits--;
	return 0;
}

void rmig_rdma_ctrl_send_error(struct rmig_rdma_ctrl *ctrl)
{
	struct rmig_rdma_hdr h = { .len = 0, .type = RMIG_RDMA_MSG_ERROR, .repeat = 1 };
	uint32_t i;

	/* Not back to a peer that sent ERROR itself: it is already going (docs/rdma.txt 12). */
	if (!have_send_bufs(ctrl) || ctrl->prog->peer_gone || ctrl->prog->peer_error || !ctrl->res->qp ||
	    ctrl->error_sent)
		return;
	if (free_send_buf(ctrl, false, &i) < 0)
		return;
	rmig_rdma_hdr_encode(&h, send_buf(ctrl, i));
	if (post_send(ctrl, i, RMIG_RDMA_HDR_SIZE) == 0)
		ctrl->error_sent = true;
}

/*
 * The progress engine's keepalive handler.  Skipped, not waited for,
 * when it cannot go now: no KEEPALIVE came from the peer since our last
 * (it may be busy, and more of ours might find no RECV: ctrl.h), or
 * every send buffer is in flight (which the peer will hear anyway).
 */
static int keepalive(void *opaque)
{
	struct rmig_rdma_ctrl *ctrl = opaque;
	struct rmig_rdma_hdr h = { .len = 0, .type = RMIG_RDMA_MSG_KEEPALIVE };
	uint32_t i;
	int ret;

	if (!(ctrl->caps & RMIG_RDMA_CAP_KEEPALIVE) || !have_send_bufs(ctrl) || ctrl->error_sent ||
	    ctrl->prog->peer_gone || ctrl->prog->peer_error || (ctrl->ka_sent && !ctrl->ka_turn))
		return 0;
	if (free_send_buf(ctrl, false, &i) < 0)
		return 0;
	h.repeat = ctrl->ka_received;
	rmig_rdma_hdr_encode(&h, send_buf(ctrl, i));
	ret = post_send(ctrl, i, RMIG_RDMA_HDR_SIZE);
	if (ret < 0)
		return ret;
	ctrl->ka_sent++;
	ctrl->ka_turn = false;
	return 0;
}

static int grant(struct rmig_rdma_ctrl *ctrl)
{
	uint32_t n = ctrl->to_grant;
	int ret;

	ret = rmig_rdma_ctrl_send(ctrl, RMIG_RDMA_MSG_READY, n, NULL, 0, false);
	if (ret < 0)
		return ret;
	ctrl->readies_sent++;
	ctrl->granted += n;
	ctrl->to_grant = 0;
	return 0;
}

bool rmig_rdma_ctrl_has_msg(const struct rmig_rdma_ctrl *ctrl)
{
	return ctrl->rxq_count > 0;
}

int rmig_rdma_ctrl_recv(struct rmig_rdma_ctrl *ctrl, struct rmig_rdma_msg *m, bool do_grant,
			const char *what)
{
	for (;;) {
		int ret;

		if (rmig_rdma_progress_take_interrupt(ctrl->prog))
			return -ECANCELED;
		if (ctrl->rxq_count) {
			uint32_t i = ctrl->rxq_buf[ctrl->rxq_head];
			uint32_t len = ctrl->rxq_len[ctrl->rxq_head];

			ctrl->rxq_head = (ctrl->rxq_head + 1) % RMIG_RDMA_RECV_BUFS;
			ctrl->rxq_count--;
			/* Decoded once already; cannot fail now. */
			ret = decode_hdr(ctrl, i, len, &m->hdr);
			if (ret < 0)
				return rmig_rdma_ctrl_give_up(ctrl, -EPROTO);
			m->payload = recv_buf(ctrl, i) + RMIG_RDMA_HDR_SIZE;
			m->buf = i;
			return 0;
		}
		ret = rmig_rdma_progress_check(ctrl->prog);
		if (ret == -ECONNRESET) {
			/*
			 * The peer's hang-up travels apart from its messages
			 * and may be seen first: its last ones (a hand-over's
			 * COMMIT) can still sit in the CQ.  Drain it once.
			 */
			(void)rmig_rdma_progress_poll(ctrl->prog, false, what);
			if (ctrl->rxq_count)
				continue;
		}
		if (ret < 0)
			return ret;
		/*
		 * About to block: hand back every buffer we have freed.  The
		 * peer must be able to send us something; and a source that
		 * waits for all its credits uses their return as proof that we
		 * processed everything it sent (see rmig_rdma_source_after).
		 * With one credit (QEMU v1) this is exactly QEMU's lazy READY.
		 */
		if (do_grant && ctrl->to_grant > 0) {
			ret = grant(ctrl);
			if (ret < 0)
				return ret;
		}
		ctrl->prog->interruptible = true;
		ret = rmig_rdma_progress_poll(ctrl->prog, true, what);
		ctrl->prog->interruptible = false;
		/* While connecting, no one else would say why the connect failed. */
		if (ret == -ECANCELED && ctrl->prog->cancel_fd >= 0)
			rmig_error("rdma: cancelled while %s", what);
		if (ret < 0 && !(ret == -ECONNRESET && ctrl->rxq_count))
			return ret;
	}
}

int rmig_rdma_ctrl_release(struct rmig_rdma_ctrl *ctrl, const struct rmig_rdma_msg *m)
{
	int ret = post_recv(ctrl, m->buf);

	if (ret < 0)
		return ret;
	if (ctrl->rx_granted[m->buf]) {
		ctrl->rx_granted[m->buf] = false;
		ctrl->to_grant++;
		/* With credits, hand buffers back in batches before the peer runs dry. */
		if (ctrl->credits_mode && ctrl->to_grant >= ctrl->window / 2 &&
		    !ctrl->prog->peer_gone && !ctrl->prog->error)
			return grant(ctrl);
	}
	return 0;
}
