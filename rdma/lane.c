/* SPDX-License-Identifier: MIT */
/*
 * Data lanes; see lane.h.
 */
#include "common/base/threadname.h"
#include "rdma/lane.h"

#include "rmig-config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include <rmig/log.h>

#include "common/base/cpus.h"
#include "common/base/numapick.h"
#include "common/base/util.h"
#include "rdma/cm.h"
#include "rdma/glue.h"

#if RMIG_HAVE_NUMA
#include <numa.h>
#endif

#define LANE_POLL_BATCH 16
#define LANE_ACK_BATCH 32
/* The thread looks at its stop fd at least this often, whatever the CQ does. */
#define LANE_IDLE_MS 1000

static int lane_create_cqs(struct rmig_rdma_lane *l, struct ibv_context *verbs)
{
	int ret = 0;

	if (l->source) {
		l->ch = rmig_rdma_glue_create_comp_channel(verbs, &ret);
		if (!l->ch) {
			rmig_error("rdma: channel %u: cannot create a completion channel: %s",
				   l->index, strerror(-ret));
			return ret;
		}
		rmig_fd_set_nonblock(l->ch->fd);
	}
	l->send_cq = rmig_rdma_glue_create_cq(verbs, RMIG_RDMA_SQ_DEPTH, l->ch, &ret);
	/* A lane never posts a RECV, but a QP needs a receive CQ. */
	if (l->send_cq)
		l->recv_cq = rmig_rdma_glue_create_cq(verbs, 1, NULL, &ret);
	if (!l->send_cq || !l->recv_cq) {
		rmig_error("rdma: channel %u: cannot create a completion queue: %s", l->index,
			   strerror(-ret));
		return ret;
	}
	return 0;
}

/* The QP from RESET to INIT, with the attributes rdma_cm gives @id. */
static int lane_init(struct rmig_rdma_lane *l, struct rdma_cm_id *id)
{
	struct ibv_qp_attr attr;
	int mask = 0, ret;

	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_INIT;
	ret = rmig_rdma_glue_init_qp_attr(id, &attr, &mask);
	if (ret == 0) {
		/* Only the destination's lanes are written to; the source's expose nothing. */
		attr.qp_access_flags = l->source ? 0 : IBV_ACCESS_REMOTE_WRITE;
		ret = rmig_rdma_glue_modify_qp(l->qp, &attr, mask | IBV_QP_ACCESS_FLAGS);
	}
	if (ret < 0)
		rmig_error("rdma: channel %u: cannot initialise its queue pair: %s", l->index,
			   strerror(-ret));
	return ret;
}

int rmig_rdma_lane_create(struct rmig_rdma_lane *l, uint32_t index, struct rmig_rdma_res *res,
			  struct rdma_cm_id *id, struct rmig_rdma_progress *prog, bool source)
{
	struct ibv_qp_init_attr qa;
	uint32_t rnd = 0;
	int ret;

	memset(l, 0, sizeof(*l));
	l->index = index;
	l->source = source;
	l->prog = prog;
	l->stop_fd = -1;
	l->numa_node = -1;
	atomic_init(&l->done, 0);
	atomic_init(&l->error, 0);
	ret = lane_create_cqs(l, res->pd->context);
	if (ret < 0)
		return ret;
	memset(&qa, 0, sizeof(qa));
	qa.send_cq = l->send_cq;
	qa.recv_cq = l->recv_cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = source ? RMIG_RDMA_SQ_DEPTH : 1;
	qa.cap.max_recv_wr = 1;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	l->qp = rmig_rdma_glue_verbs_create_qp(res->pd, &qa, &ret);
	if (!l->qp) {
		rmig_error("rdma: channel %u: cannot create its queue pair: %s", index,
			   strerror(-ret));
		return ret;
	}
	/* Any PSN will do; a random one keeps a stale packet of an earlier QP out. */
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		rnd = (uint32_t)rmig_time_now_ns();
	l->psn = rnd & 0xffffff;
	return lane_init(l, id);
}

int rmig_rdma_lane_connect(struct rmig_rdma_lane *l, struct rdma_cm_id *id, uint32_t peer_qpn,
			   uint32_t peer_psn)
{
	struct ibv_qp_attr attr;
	int mask = 0, ret;

	/* The connection's path, MTU and timers, towards the peer's lane instead of its QP. */
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTR;
	ret = rmig_rdma_glue_init_qp_attr(id, &attr, &mask);
	if (ret == 0) {
		attr.dest_qp_num = peer_qpn;
		attr.rq_psn = peer_psn;
		rmig_debug("rdma: channel %u: path MTU %d, to queue pair %u", l->index,
			   attr.path_mtu, peer_qpn);
		ret = rmig_rdma_glue_modify_qp(l->qp, &attr, mask);
	}
	if (ret < 0) {
		rmig_error("rdma: channel %u: cannot connect its queue pair (ready to receive): %s",
			   l->index, strerror(-ret));
		return ret;
	}
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTS;
	mask = 0;
	ret = rmig_rdma_glue_init_qp_attr(id, &attr, &mask);
	if (ret == 0) {
		attr.sq_psn = l->psn;
		rmig_debug("rdma: channel %u: ACK timeout %u (4.096 us << it; 0: none)", l->index,
			   attr.timeout);
		/* Finite retries, as the connection's QP (cm.h). */
		attr.retry_cnt = RMIG_RDMA_RETRY_COUNT;
		attr.rnr_retry = RMIG_RDMA_RNR_RETRY_COUNT;
		ret = rmig_rdma_glue_modify_qp(l->qp, &attr,
					       mask | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY);
	}
	if (ret < 0)
		rmig_error("rdma: channel %u: cannot connect its queue pair (ready to send): %s",
			   l->index, strerror(-ret));
	return ret;
}

/*
 * The thread, and only it, records the lane's first failure: @why is
 * written before @err is published, and never again once it is, since the
 * migration thread may be reading it.
 */
static void lane_set_error(struct rmig_rdma_lane *l, int err, const char *why)
{
	if (atomic_load(&l->error))
		return;
	snprintf(l->why, sizeof(l->why), "%s", why);
	atomic_store_explicit(&l->error, err, memory_order_release);
}

/* The thread: record a failed WRITE for the migration thread, which reports it. */
static void lane_failed(struct rmig_rdma_lane *l, const struct ibv_wc *wc)
{
	int err;

	if (atomic_load(&l->error))
		return;
	char why[sizeof(l->why)];

	if (wc->status == IBV_WC_WR_FLUSH_ERR) {
		/* The QP went to error: shutdown, or a failure seen first elsewhere. */
		snprintf(why, sizeof(why), "its queue pair was shut down");
		err = -ECONNRESET;
	} else if (wc->status == IBV_WC_REM_ACCESS_ERR) {
		snprintf(why, sizeof(why),
			 "an RDMA write was refused by the peer (remote access error)");
		err = -EIO;
	} else if (wc->status == IBV_WC_RETRY_EXC_ERR || wc->status == IBV_WC_RNR_RETRY_EXC_ERR) {
		snprintf(why, sizeof(why), "an RDMA write failed: the peer stopped answering (%s)",
			 rmig_rdma_glue_wc_status_str(wc->status));
		err = -EHOSTUNREACH;
	} else {
		snprintf(why, sizeof(why), "an RDMA write failed: %s (vendor error 0x%x)",
			 rmig_rdma_glue_wc_status_str(wc->status), wc->vendor_err);
		err = -EIO;
	}
	lane_set_error(l, err, why);
}

/* Reap what completed; true when something changed for the migration thread. */
static bool lane_drain(struct rmig_rdma_lane *l)
{
	struct ibv_wc wc[LANE_POLL_BATCH];
	bool news = false;
	int n;

	do {
		n = rmig_rdma_glue_poll_cq(l->send_cq, LANE_POLL_BATCH, wc);
		if (n < 0) {
			lane_set_error(l, n, "polling its completion queue failed");
			return true;
		}
		for (int i = 0; i < n; i++) {
			uint64_t v = RMIG_RDMA_WRID_VALUE(wc[i].wr_id);

			news = true;
			if (wc[i].status != IBV_WC_SUCCESS)
				lane_failed(l, &wc[i]);
			else if (v > atomic_load(&l->done))
				atomic_store(&l->done, v);
		}
	} while (n == LANE_POLL_BATCH);
	return news;
}

int rmig_rdma_device_numa_node(struct ibv_context *verbs)
{
	char path[256];
	FILE *f;
	int node = -1;

	snprintf(path, sizeof(path), "/sys/class/infiniband/%s/device/numa_node",
		 verbs->device->name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &node) != 1)
		node = -1;
	fclose(f);
	return node >= 0 ? node : -1;
}

int rmig_rdma_lane_pick_node(int param, struct ibv_context *verbs, const char **why)
{
	return rmig_numa_choose(param, param == -2 ? rmig_rdma_device_numa_node(verbs) : -1, why);
}

/* Bind the calling lane thread where it belongs, and say what took effect. */
static void lane_place(struct rmig_rdma_lane *l)
{
	char cpus[256];

#if RMIG_HAVE_NUMA
	if (l->numa_node >= 0 && numa_run_on_node(l->numa_node) < 0) {
		rmig_warn("rdma channel %u: cannot run on NUMA node %d: %s", l->index,
			  l->numa_node, strerror(errno));
		l->numa_node = -1;
		l->numa_why = "binding failed";
	}
#endif
	rmig_cpus_of_thread(cpus, sizeof(cpus));
	if (l->numa_node >= 0)
		rmig_info("source rdma channel %u: NUMA node %d (%s): runs on CPUs %s", l->index,
			  l->numa_node, l->numa_why, cpus);
	else
		rmig_info("source rdma channel %u: no NUMA binding (%s): runs on CPUs %s", l->index,
			  l->numa_why, cpus);
}

static void *lane_thread(void *opaque)
{
	struct rmig_rdma_lane *l = opaque;

	lane_place(l);
	rmig_thread_name_self("rmig-lane%u", l->index);
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = l->ch->fd, .events = POLLIN },
			{ .fd = l->stop_fd, .events = POLLIN },
		};
		struct ibv_cq *cq;

		const char *broke = NULL;
		int ret;

		if (lane_drain(l))
			rmig_rdma_progress_wake(l->prog);
		if (poll(pfd, 2, LANE_IDLE_MS) < 0 && errno != EINTR)
			broke = "waiting for its completions failed";
		else if (pfd[1].revents & POLLIN)
			break;
		/*
		 * A removed or reset device leaves its channel reporting this
		 * forever: poll would return at once and the loop spin.
		 */
		else if (!(pfd[0].revents & POLLIN) &&
			 (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)))
			broke = "its completion channel failed";
		else if (!(pfd[0].revents & POLLIN))
			continue;
		if (!broke) {
			ret = rmig_rdma_glue_get_cq_event(l->ch, &cq);
			if (ret == -EAGAIN)
				continue;
			if (ret < 0)
				broke = "reading its completion events failed";
		}
		if (!broke) {
			if (++l->unacked >= LANE_ACK_BATCH) {
				rmig_rdma_glue_ack_cq_events(cq, l->unacked);
				l->unacked = 0;
			}
			/* Re-arm before draining, so no completion slips between the two. */
			if (rmig_rdma_glue_req_notify_cq(cq) < 0)
				broke = "re-arming its completion queue failed";
		}
		if (broke) {
			/* Nothing reaps this lane any more: its writer must hear so now. */
			lane_set_error(l, -EIO, broke);
			rmig_rdma_progress_wake(l->prog);
			break;
		}
	}
	return NULL;
}

int rmig_rdma_lane_start(struct rmig_rdma_lane *l, int numa_node, const char *why)
{
	sigset_t all, old;
	int ret;

	l->numa_node = numa_node;
	l->numa_why = why;
	ret = rmig_rdma_glue_req_notify_cq(l->send_cq);
	if (ret < 0) {
		rmig_error("rdma: channel %u: cannot arm completion notification: %s", l->index,
			   strerror(-ret));
		return ret;
	}
	l->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->stop_fd < 0) {
		ret = -errno;
		rmig_error("rdma: channel %u: cannot create an eventfd: %s", l->index,
			   strerror(-ret));
		return ret;
	}
	/* Signals are the embedder's threads' business, never a lane's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&l->thread, NULL, lane_thread, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		rmig_error("rdma: channel %u: cannot start its thread: %s", l->index,
			   strerror(ret));
		return -ret;
	}
	l->thread_started = true;
	return 0;
}

/*
 * No QP of the destination has this number (they count up from 17, and
 * 0xffffff is multicast's): what is sent to it is dropped unanswered.
 */
#define LANE_NOWHERE_QPN 0xfffffeu

int rmig_rdma_lane_cut(struct rmig_rdma_lane *l, struct rdma_cm_id *id)
{
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_RESET };
	int ret = rmig_rdma_glue_modify_qp(l->qp, &attr, IBV_QP_STATE);

	if (ret == 0)
		ret = lane_init(l, id);
	if (ret == 0)
		ret = rmig_rdma_lane_connect(l, id, LANE_NOWHERE_QPN, 0);
	if (ret < 0)
		rmig_warn("rdma channel %u: cannot cut it: %s", l->index, strerror(-ret));
	return ret;
}

void rmig_rdma_lane_destroy(struct rmig_rdma_lane *l)
{
	if (l->thread_started) {
		uint64_t one = 1;

		if (write(l->stop_fd, &one, sizeof(one)) < 0) {
			/* Counter full: already readable. */
		}
		pthread_join(l->thread, NULL);
		l->thread_started = false;
	}
	if (l->stop_fd >= 0) {
		close(l->stop_fd);
		l->stop_fd = -1;
	}
	if (l->qp) {
		rmig_rdma_glue_verbs_destroy_qp(l->qp);
		l->qp = NULL;
	}
	if (l->recv_cq) {
		rmig_rdma_glue_destroy_cq(l->recv_cq);
		l->recv_cq = NULL;
	}
	if (l->send_cq) {
		/* Unacked CQ events would make destroy_cq wait forever. */
		if (l->unacked)
			rmig_rdma_glue_ack_cq_events(l->send_cq, l->unacked);
		l->unacked = 0;
		rmig_rdma_glue_destroy_cq(l->send_cq);
		l->send_cq = NULL;
	}
	if (l->ch) {
		rmig_rdma_glue_destroy_comp_channel(l->ch);
		l->ch = NULL;
	}
}

int rmig_rdma_lane_wait(void *opaque)
{
	struct rmig_rdma_lane *l = opaque;
	uint64_t start = rmig_time_now_ns();

	for (;;) {
		uint64_t done = atomic_load(&l->done);
		int err = atomic_load_explicit(&l->error, memory_order_acquire), ret;

		if (done > l->w.completed) {
			rmig_rdma_writer_complete(&l->w, done);
			return 0;
		}
		if (err) {
			if (!l->error_reported)
				rmig_error("rdma: channel %u: %s", l->index, l->why);
			l->error_reported = true;
			rmig_rdma_progress_fail(l->prog, err == -ECONNRESET ? -EIO : err);
			return rmig_rdma_progress_check(l->prog);
		}
		/*
		 * The control QP's keepalives prove the peer's process lives, not
		 * that this lane's path does: a lane whose WRITEs go unanswered
		 * (its QP dropped at the far end, a path of its own gone) fails
		 * after peer-timeout, whatever the QP's own retry timer says.
		 */
		if (l->prog->peer_timeout_ms > 0 &&
		    rmig_time_now_ns() - start >
			    (uint64_t)l->prog->peer_timeout_ms * RMIG_NSEC_PER_MSEC) {
			rmig_error("rdma: channel %u: no RDMA write completed for %d ms (peer-timeout) "
				   "while the control channel was alive: the lane is cut",
				   l->index, l->prog->peer_timeout_ms);
			rmig_rdma_progress_fail(l->prog, -ETIMEDOUT);
			return -ETIMEDOUT;
		}
		ret = rmig_rdma_progress_wait(l->prog, "RDMA writes were in flight");
		if (ret < 0)
			return ret;
	}
}
