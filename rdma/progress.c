/* SPDX-License-Identifier: MIT */
/*
 * The progress engine; see progress.h.
 */
#include "rdma/progress.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "common/ram/populate.h"
#include "rdma/glue.h"

#define CQ_ACK_BATCH 32
#define POLL_BATCH 16
#define WAIT_MAX_MS 1000
/*
 * What one thread populates between two rounds: well under a second even
 * under TCG.  A piece is this per thread: rmig_mem_populate() gives no
 * thread less than 32 MiB, so a piece of 32 MiB would run on one thread.
 */
#define POPULATE_PIECE_PER_THREAD (32ULL << 20)

int rmig_rdma_progress_init(struct rmig_rdma_progress *p, struct rmig_rdma_cm *cm,
			    struct rmig_rdma_res *res)
{
	memset(p, 0, sizeof(*p));
	p->cm = cm;
	p->res = res;
	p->cancel_fd = -1;
	atomic_init(&p->aborted, false);
	atomic_init(&p->interrupted, false);
	p->abort_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->intr_fd = p->abort_fd < 0 ? -1 : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->wake_fd = p->intr_fd < 0 ? -1 : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->wake_fd < 0) {
		int ret = -errno;

		rmig_error("rdma: cannot create an eventfd: %s", strerror(-ret));
		if (p->intr_fd >= 0)
			close(p->intr_fd);
		if (p->abort_fd >= 0)
			close(p->abort_fd);
		p->abort_fd = p->intr_fd = -1;
		return ret;
	}
	return 0;
}

void rmig_rdma_progress_fini(struct rmig_rdma_progress *p)
{
	if (p->wake_fd >= 0) {
		close(p->wake_fd);
		p->wake_fd = -1;
	}
	if (p->intr_fd >= 0) {
		close(p->intr_fd);
		p->intr_fd = -1;
	}
	if (p->abort_fd >= 0) {
		close(p->abort_fd);
		p->abort_fd = -1;
	}
}

void rmig_rdma_progress_abort(struct rmig_rdma_progress *p)
{
	uint64_t one = 1;

	atomic_store(&p->aborted, true);
	if (write(p->abort_fd, &one, sizeof(one)) < 0) {
		/* Counter full means it is already readable; nothing else can fail here. */
	}
}

void rmig_rdma_progress_set_cancel_fd(struct rmig_rdma_progress *p, int fd)
{
	p->cancel_fd = fd;
}

void rmig_rdma_progress_interrupt(struct rmig_rdma_progress *p)
{
	uint64_t one = 1;

	atomic_store(&p->interrupted, true);
	if (write(p->intr_fd, &one, sizeof(one)) < 0) {
		/* Counter full means it is already readable. */
	}
}

void rmig_rdma_progress_wake(struct rmig_rdma_progress *p)
{
	uint64_t one = 1;

	if (write(p->wake_fd, &one, sizeof(one)) < 0) {
		/* Counter full means it is already readable. */
	}
}

bool rmig_rdma_progress_take_interrupt(struct rmig_rdma_progress *p)
{
	uint64_t v;

	if (!atomic_exchange(&p->interrupted, false))
		return false;
	/* So the next wait sleeps again. */
	if (read(p->intr_fd, &v, sizeof(v)) < 0) {
		/* Already drained: nothing to do. */
	}
	return true;
}

void rmig_rdma_progress_set_channel(struct rmig_rdma_progress *p,
				    const struct rmig_rdma_progress_channel *ch)
{
	p->chan = *ch;
}

void rmig_rdma_progress_set_writer(struct rmig_rdma_progress *p, rmig_rdma_write_done_fn done,
				   void *opaque, const uint64_t *posted)
{
	p->on_write_done = done;
	p->write_opaque = opaque;
	p->writes_posted = posted;
}

uint64_t rmig_rdma_progress_posted_writes(const struct rmig_rdma_progress *p)
{
	return p->writes_posted ? *p->writes_posted : 0;
}

void rmig_rdma_progress_retire_writes(struct rmig_rdma_progress *p, uint64_t seq)
{
	if (p->on_write_done)
		p->on_write_done(p->write_opaque, seq);
}

void rmig_rdma_progress_set_liveness(struct rmig_rdma_progress *p, int peer_timeout_ms,
				     bool keepalive)
{
	uint64_t now = rmig_time_now_ns();

	p->peer_timeout_ms = peer_timeout_ms > 0 ? peer_timeout_ms : 0;
	p->keepalive_ms = 0;
	if (keepalive) {
		p->keepalive_ms = RMIG_RDMA_KEEPALIVE_MAX_MS;
		/* Four chances to be heard before our own deadline would fire on the peer. */
		if (p->peer_timeout_ms && p->peer_timeout_ms / 4 < p->keepalive_ms)
			p->keepalive_ms = RMIG_MAX(p->peer_timeout_ms / 4, 1);
	}
	p->heard_ns = now;
	p->sent_ns = now;
	p->keepalive_due_ns = now + (uint64_t)p->keepalive_ms * RMIG_NSEC_PER_MSEC;
}

void rmig_rdma_progress_set_deadline(struct rmig_rdma_progress *p, int peer_timeout_ms)
{
	p->peer_timeout_ms = peer_timeout_ms > 0 ? peer_timeout_ms : 0;
}

void rmig_rdma_progress_set_bound(struct rmig_rdma_progress *p, int ms)
{
	p->bound_ms = ms > 0 ? ms : 0;
	p->bound_ns = ms > 0 ? rmig_time_now_ns() + (uint64_t)ms * RMIG_NSEC_PER_MSEC : 0;
}

void rmig_rdma_progress_sent(struct rmig_rdma_progress *p)
{
	p->sent_ns = rmig_time_now_ns();
	p->keepalive_due_ns = p->sent_ns + (uint64_t)p->keepalive_ms * RMIG_NSEC_PER_MSEC;
}

static void heard(struct rmig_rdma_progress *p)
{
	p->heard_ns = rmig_time_now_ns();
}

static int keepalive_if_due(struct rmig_rdma_progress *p, uint64_t now)
{
	if (!p->keepalive_ms || !p->chan.keepalive || now < p->keepalive_due_ns)
		return 0;
	/*
	 * Try again a quarter interval later if flow control holds it back
	 * (sent() moves this further when it goes out), so a wait never spins.
	 */
	p->keepalive_due_ns = now + RMIG_MAX((uint64_t)p->keepalive_ms * RMIG_NSEC_PER_MSEC / 4,
					     RMIG_NSEC_PER_MSEC);
	return p->chan.keepalive(p->chan.opaque);
}

static int deadline_check(struct rmig_rdma_progress *p, uint64_t now, const char *what)
{
	if (p->bound_ns && now >= p->bound_ns) {
		rmig_error("rdma: the peer did not finish setting up within %d ms while %s",
			   p->bound_ms, what ? what : "waiting for it");
		rmig_rdma_progress_fail(p, -ETIMEDOUT);
		return -ETIMEDOUT;
	}
	if (!p->peer_timeout_ms ||
	    now - p->heard_ns < (uint64_t)p->peer_timeout_ms * RMIG_NSEC_PER_MSEC)
		return 0;
	rmig_error("rdma: no word from the peer for %d ms (peer-timeout) while %s: it is frozen, "
		   "gone or unreachable", p->peer_timeout_ms, what ? what : "waiting for it");
	rmig_rdma_progress_fail(p, -ETIMEDOUT);
	return -ETIMEDOUT;
}

static int ms_until(uint64_t when, uint64_t now)
{
	return when <= now ? 0 : (int)RMIG_DIV_ROUND_UP(when - now, RMIG_NSEC_PER_MSEC);
}

/* How long a blocking round may sleep: not past the deadline nor the next KEEPALIVE. */
static int wait_ms(const struct rmig_rdma_progress *p, uint64_t now)
{
	int ms = WAIT_MAX_MS;

	if (p->peer_timeout_ms)
		ms = RMIG_MIN(ms, ms_until(p->heard_ns + (uint64_t)p->peer_timeout_ms *
								 RMIG_NSEC_PER_MSEC, now));
	if (p->keepalive_ms && p->chan.keepalive)
		ms = RMIG_MIN(ms, ms_until(p->keepalive_due_ns, now));
	if (p->bound_ns)
		ms = RMIG_MIN(ms, ms_until(p->bound_ns, now));
	return RMIG_MAX(ms, 1);
}

void rmig_rdma_progress_fail(struct rmig_rdma_progress *p, int err)
{
	if (!p->error)
		p->error = err;
}

/*
 * When a work request fails locally, the usual cause on a healthy host is
 * that the port lost its link: rxe then fails every post with a local QP
 * error that says nothing of the link.  Ask the port, so the operator hears
 * "link down" and the failure counts as an unreachable peer, not a bug.
 */
static const char *port_state_name(enum ibv_port_state st)
{
	switch (st) {
	case IBV_PORT_DOWN: return "DOWN";
	case IBV_PORT_INIT: return "INIT";
	case IBV_PORT_ARMED: return "ARMED";
	case IBV_PORT_ACTIVE: return "ACTIVE";
	case IBV_PORT_ACTIVE_DEFER: return "ACTIVE_DEFER";
	default: return "not active";
	}
}

static bool port_down_now(const struct rmig_rdma_progress *p, const char **state)
{
	struct ibv_port_attr attr;
	struct rdma_cm_id *id = p->cm ? p->cm->id : NULL;

	if (!id || !id->verbs || !id->verbs->device || !id->port_num)
		return false;
	if (rmig_rdma_glue_query_port(id->verbs, id->port_num, &attr) < 0)
		return false;
	*state = port_state_name(attr.state);
	return attr.state != IBV_PORT_ACTIVE;
}

/*
 * Is the link down?  A work request can fail before the port says so
 * (soft-RoCE failed a SEND with "local QP operation error" while its
 * netdev went down and the port still read ACTIVE), so a failure that is
 * not the link's at once is looked at again for a moment: only on this
 * failure path, and briefly, so that the operator hears the real cause.
 */
#define PORT_SETTLE_STEP_MS 20
#define PORT_SETTLE_DEFAULT_MS 80
#define PORT_SETTLE_MAX_MS 1000

/*
 * RMIG_RDMA_PORT_SETTLE_MS (0..1000) replaces the 80 ms: the fake glue's
 * port never goes down, and a fuzzer that fails work requests by the
 * thousand should not sleep for each one.
 */
static unsigned port_settle_ms(void)
{
	const char *v = getenv("RMIG_RDMA_PORT_SETTLE_MS");
	char *end;
	unsigned long ms;

	if (!v || !*v)
		return PORT_SETTLE_DEFAULT_MS;
	errno = 0;
	ms = strtoul(v, &end, 10);
	if (errno || *end || ms > PORT_SETTLE_MAX_MS)
		return PORT_SETTLE_DEFAULT_MS;
	return (unsigned)ms;
}

static bool port_down(const struct rmig_rdma_progress *p, const char **state)
{
	unsigned left = port_settle_ms();

	for (;;) {
		unsigned step = RMIG_MIN(left, PORT_SETTLE_STEP_MS);

		if (port_down_now(p, state))
			return true;
		if (!step)
			return false;
		poll(NULL, 0, (int)step);
		left -= step;
	}
}

static int wc_failed(struct rmig_rdma_progress *p, const struct ibv_wc *wc)
{
	const char *what, *state;
	int err = -EIO;

	if (wc->status == IBV_WC_WR_FLUSH_ERR) {
		/* The QP went to error: shutdown in progress, the cause is reported elsewhere. */
		p->peer_gone = true;
		return 0;
	}
	switch (RMIG_RDMA_WRID_KIND(wc->wr_id)) {
	case RMIG_RDMA_WRID_WRITE: what = "RDMA write"; break;
	case RMIG_RDMA_WRID_SEND: what = "control message send"; break;
	default: what = "control message receive"; break;
	}
	if (wc->status == IBV_WC_REM_ACCESS_ERR) {
		rmig_error("rdma: %s refused by the peer (remote access error: the destination "
			   "exited or invalidated the memory key it handed out)", what);
	} else if (port_down(p, &state)) {
		rmig_error("rdma: %s failed: the link is down (port %u of %s is %s)", what,
			   p->cm->id->port_num, p->cm->id->verbs->device->name,
			   state);
		err = -ENETDOWN;
	} else if (wc->status == IBV_WC_RETRY_EXC_ERR || wc->status == IBV_WC_RNR_RETRY_EXC_ERR) {
		/* The transport retried for seconds without an answer: the peer is gone. */
		rmig_error("rdma: %s failed: the peer stopped answering (%s)", what,
			   rmig_rdma_glue_wc_status_str(wc->status));
		err = -EHOSTUNREACH;
	} else {
		rmig_error("rdma: %s failed: %s (vendor error 0x%x)", what,
			   rmig_rdma_glue_wc_status_str(wc->status), wc->vendor_err);
	}
	rmig_rdma_progress_fail(p, err);
	return err;
}

/* Returns completions handled (>= 0) or negative errno. */
static int drain_send(struct rmig_rdma_progress *p)
{
	struct ibv_wc wc[POLL_BATCH];
	int n, i, total = 0, err = 0;

	do {
		n = rmig_rdma_glue_poll_cq(p->res->send_cq, POLL_BATCH, wc);
		if (n < 0) {
			rmig_error("rdma: polling the send completion queue failed");
			rmig_rdma_progress_fail(p, n);
			return n;
		}
		for (i = 0; i < n; i++) {
			uint64_t v = RMIG_RDMA_WRID_VALUE(wc[i].wr_id);

			/*
			 * After a fatal one, the rest of the batch is still
			 * accounted for: these completions are off the CQ now, and
			 * a SEND left marked busy would hold the teardown's flush
			 * until its deadline.
			 */
			if (wc[i].status != IBV_WC_SUCCESS && !err) {
				int ret = wc_failed(p, &wc[i]);

				if (ret < 0)
					err = ret;
			}
			/* Flushed: the SEND is not pending any more, the WRITE retires nothing. */
			if (RMIG_RDMA_WRID_KIND(wc[i].wr_id) == RMIG_RDMA_WRID_SEND) {
				if (p->chan.on_send_done)
					p->chan.on_send_done(p->chan.opaque, v, wc[i].status);
			} else if (RMIG_RDMA_WRID_KIND(wc[i].wr_id) == RMIG_RDMA_WRID_WRITE) {
				if (wc[i].status == IBV_WC_SUCCESS)
					rmig_rdma_progress_retire_writes(p, v);
			}
		}
		if (err)
			return err;
		total += n;
	} while (n == POLL_BATCH);
	return total;
}

static int drain_recv(struct rmig_rdma_progress *p)
{
	struct ibv_wc wc[POLL_BATCH];
	int n, i, total = 0;

	do {
		n = rmig_rdma_glue_poll_cq(p->res->recv_cq, POLL_BATCH, wc);
		if (n < 0) {
			rmig_error("rdma: polling the receive completion queue failed");
			rmig_rdma_progress_fail(p, n);
			return n;
		}
		for (i = 0; i < n; i++) {
			uint64_t v = RMIG_RDMA_WRID_VALUE(wc[i].wr_id);
			int ret;

			if (wc[i].status != IBV_WC_SUCCESS) {
				ret = wc_failed(p, &wc[i]);
				if (ret < 0)
					return ret;
				continue;
			}
			heard(p);
			/* The channel checks the value: only it knows its buffers. */
			if (RMIG_RDMA_WRID_KIND(wc[i].wr_id) != RMIG_RDMA_WRID_RECV ||
			    !p->chan.on_recv) {
				rmig_error("rdma: completion for an unknown receive (wr_id 0x%llx)",
					   (unsigned long long)wc[i].wr_id);
				rmig_rdma_progress_fail(p, -EIO);
				return -EIO;
			}
			/*
			 * A peer's WRITE with immediate also consumes a RECV, but puts
			 * nothing in its buffer: what is there is an old message.
			 */
			if (wc[i].opcode != IBV_WC_RECV || (wc[i].wc_flags & IBV_WC_WITH_IMM)) {
				rmig_error("rdma: the peer used up a receive without sending a "
					   "message (completion opcode %d, flags 0x%x)",
					   (int)wc[i].opcode, (unsigned)wc[i].wc_flags);
				rmig_rdma_progress_fail(p, -EPROTO);
				return -EPROTO;
			}
			ret = p->chan.on_recv(p->chan.opaque, v, wc[i].byte_len);
			if (ret < 0)
				return ret;
		}
		total += n;
	} while (n == POLL_BATCH);
	return total;
}

int rmig_rdma_progress_check(struct rmig_rdma_progress *p)
{
	if (atomic_load(&p->aborted)) {
		rmig_rdma_progress_fail(p, -ECANCELED);
		return -ECANCELED;
	}
	if (p->error)
		return p->error;
	if (p->peer_error) {
		rmig_error("rdma: the peer reported an error and gave up (see its log)");
		rmig_rdma_progress_fail(p, -ECONNABORTED);
		return -ECONNABORTED;
	}
	if (p->peer_gone)
		return -ECONNRESET;
	return 0;
}

static int cq_event(struct rmig_rdma_progress *p, struct ibv_comp_channel *ch, unsigned *unacked)
{
	struct ibv_cq *cq;
	int ret = rmig_rdma_glue_get_cq_event(ch, &cq);

	if (ret == -EAGAIN)
		return 0;
	if (ret < 0) {
		rmig_error("rdma: reading a completion event failed: %s", strerror(-ret));
		rmig_rdma_progress_fail(p, ret);
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
		rmig_rdma_progress_fail(p, ret);
	}
	return ret;
}

/*
 * The caller's cancel, while connecting: looked at before every round, as
 * a peer that keeps sending (READYs, say) would keep us from ever blocking.
 */
static bool cancel_seen(struct rmig_rdma_progress *p, const struct pollfd *polled)
{
	struct pollfd pfd = { .fd = p->cancel_fd, .events = POLLIN };

	if (p->cancel_fd < 0 || atomic_load(&p->aborted))
		return false;
	if (polled ? !(polled->revents & POLLIN) : poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLIN))
		return false;
	rmig_rdma_progress_abort(p);
	return true;
}

int rmig_rdma_progress_poll(struct rmig_rdma_progress *p, bool block, const char *what)
{
	struct rmig_rdma_cm *cm = p->cm;
	struct rmig_rdma_res *res = p->res;
	struct pollfd pfd[7];
	uint64_t now;
	int ret, s, r;

	if (cancel_seen(p, NULL))
		return -ECANCELED;
	ret = rmig_rdma_progress_check(p);
	if (ret < 0 && ret != -ECONNRESET)
		return ret;
	s = drain_send(p);
	if (s < 0)
		return s;
	r = drain_recv(p);
	if (r < 0)
		return r;
	/* Busy or waiting alike: the peer must hear from us, and we from it. */
	now = rmig_time_now_ns();
	ret = keepalive_if_due(p, now);
	if (ret < 0)
		return ret;
	ret = deadline_check(p, now, what);
	if (ret < 0)
		return ret;
	if (s + r > 0 || !block) {
		/* Handle what arrived first: a peer gone shows on a round that finds none. */
		ret = rmig_rdma_progress_check(p);
		return ret == -ECONNRESET ? 0 : ret;
	}
	ret = rmig_rdma_progress_check(p);
	if (ret < 0)
		return ret;
	pfd[0] = (struct pollfd){ .fd = p->abort_fd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = res->send_ch->fd, .events = POLLIN };
	pfd[2] = (struct pollfd){ .fd = res->recv_ch->fd, .events = POLLIN };
	pfd[3] = (struct pollfd){ .fd = cm->ch->fd, .events = POLLIN };
	/* Only a reader takes an interrupt: anyone else would spin on it. */
	pfd[4] = (struct pollfd){ .fd = p->interruptible ? p->intr_fd : -1, .events = POLLIN };
	pfd[5] = (struct pollfd){ .fd = p->wake_fd, .events = POLLIN };
	pfd[6] = (struct pollfd){ .fd = p->cancel_fd, .events = POLLIN };
	ret = poll(pfd, 7, wait_ms(p, now));
	if (ret < 0 && errno != EINTR) {
		ret = -errno;
		rmig_error("rdma: poll failed: %s", strerror(-ret));
		rmig_rdma_progress_fail(p, ret);
		return ret;
	}
	if (ret <= 0)
		return 0;
	if (cancel_seen(p, &pfd[6]))
		return -ECANCELED;
	if (pfd[0].revents & POLLIN)
		return rmig_rdma_progress_check(p);
	if (pfd[5].revents & POLLIN) {
		uint64_t v;

		/* A lane's news is in its own counters; the caller looks there. */
		if (read(p->wake_fd, &v, sizeof(v)) < 0) {
			/* Already drained. */
		}
	}
	if (pfd[1].revents & POLLIN) {
		ret = cq_event(p, res->send_ch, &res->send_unacked);
		if (ret < 0)
			return ret;
	}
	if (pfd[2].revents & POLLIN) {
		ret = cq_event(p, res->recv_ch, &res->recv_unacked);
		if (ret < 0)
			return ret;
	}
	if (pfd[3].revents & POLLIN) {
		while (rmig_rdma_cm_process_one(cm) == 0)
			heard(p);
		if (cm->state == RMIG_RDMA_CM_DISCONNECTED || cm->state == RMIG_RDMA_CM_ERROR)
			p->peer_gone = true;
	}
	return 0;
}

int rmig_rdma_progress_wait(struct rmig_rdma_progress *p, const char *what)
{
	int ret = rmig_rdma_progress_poll(p, true, what);

	if (ret == -ECONNRESET) {
		rmig_error("rdma: the peer disconnected while %s", what);
		rmig_rdma_progress_fail(p, ret);
	} else if (ret == -ECANCELED) {
		rmig_error("rdma: cancelled while %s", what);
	}
	return ret;
}

int rmig_rdma_progress_flush_sends(struct rmig_rdma_progress *p, int timeout_ms)
{
	uint64_t deadline = rmig_time_now_ns() + (uint64_t)timeout_ms * RMIG_NSEC_PER_MSEC;

	/*
	 * Polls the send CQ directly: this also runs after abort or a failure.
	 * Checked again after each drain, so that sends complete already cost
	 * no sleep: every teardown used to wait here 1 ms for nothing.
	 */
	while (!p->peer_gone) {
		if (!p->chan.sends_pending || !p->chan.sends_pending(p->chan.opaque))
			return 0;
		if (drain_send(p) < 0)
			return -EIO;
		if (!p->chan.sends_pending(p->chan.opaque))
			return 0;
		if (rmig_time_now_ns() >= deadline)
			return -ETIMEDOUT;
		if (p->cm->state == RMIG_RDMA_CM_DISCONNECTED)
			return -ECONNRESET;
		poll(NULL, 0, 1);
	}
	return -ECONNRESET;
}

int rmig_rdma_progress_populate(struct rmig_rdma_progress *p, void *addr, uint64_t len,
				const char *what)
{
	unsigned threads = rmig_populate_threads();
	uint64_t piece = POPULATE_PIECE_PER_THREAD * threads, off;

	for (off = 0; off < len; off += piece) {
		/* Non-blocking: 0 for a peer gone, which the next wait reports. */
		int ret = rmig_rdma_progress_poll(p, false, what);

		if (ret < 0)
			return ret;
		/* Advisory, as for the caller: registration faults in what is left. */
		if (rmig_mem_populate((uint8_t *)addr + off, RMIG_MIN(piece, len - off),
				      threads) == -EOPNOTSUPP)
			return 0;
	}
	return 0;
}
