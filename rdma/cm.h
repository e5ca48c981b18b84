/* SPDX-License-Identifier: MIT */
/*
 * Connection management: rdma_cm addressing, connection setup and teardown,
 * and the capability exchange in private data.  The verbs resources of the
 * queue pair (PD, CQs, QP) are res.h's.
 *
 * The connection state is an explicit enum driven by ONE switch over
 * RDMA_CM_EVENT_* (rmig_rdma_cm_apply_event), as rdma-core's rping does.
 * Every event is acked; DISCONNECTED and DEVICE_REMOVAL are honoured in
 * every state.
 */
#ifndef RMIG_RDMA_CM_H
#define RMIG_RDMA_CM_H

#include <stdbool.h>
#include <stdint.h>

#include <rdma/rdma_cma.h>

#include "rdma/wire.h"

/*
 * Transport retries of the RC QP, both finite so that a peer whose host
 * or link is gone fails the QP (RETRY_EXC_ERR / RNR_RETRY_EXC_ERR) instead
 * of retrying forever (issue 9: no retry waits without a deadline).
 *  - retry_count: the 3-bit field's largest value, 7, is still finite
 *    (ibv_modify_qp(3)): a lost ACK is retried 7 times, each after the
 *    local ACK timeout rdma_cm derives from the path (~0.5-2 s in all).
 *  - rnr_retry_count: 7 means *infinite* there, so 6.  Each retry waits
 *    the receiver's min_rnr_timer (the CM programs 655 ms), ~4 s in all.
 *    Receiver-not-ready never happens between well-behaved peers: every
 *    SEND has a RECV posted for it by flow control (ctrl.h), KEEPALIVE
 *    included; a peer that breaks that now fails the QP within seconds
 *    instead of stalling it for good.
 */
#define RMIG_RDMA_RETRY_COUNT	  7
#define RMIG_RDMA_RNR_RETRY_COUNT 6

enum rmig_rdma_cm_state {
	RMIG_RDMA_CM_IDLE = 0,
	RMIG_RDMA_CM_ADDR_RESOLVING,
	RMIG_RDMA_CM_ROUTE_RESOLVING,
	RMIG_RDMA_CM_ROUTE_RESOLVED,
	RMIG_RDMA_CM_CONNECTING,
	RMIG_RDMA_CM_LISTENING,
	RMIG_RDMA_CM_CONNECTED,
	RMIG_RDMA_CM_DISCONNECTED,
	RMIG_RDMA_CM_ERROR,
};

struct rmig_rdma_cm {
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
	enum rmig_rdma_cm_state state;
	int error; /* -errno once state is ERROR */
	/* capability exchange */
	struct rmig_rdma_caps peer_caps; /* what the peer sent (request or answer) */
	bool have_peer_caps;
	/* pending connect request (listener only) */
	struct rdma_cm_id *req_id;
};

const char *rmig_rdma_cm_state_name(enum rmig_rdma_cm_state s);
const char *rmig_rdma_cm_event_name(enum rdma_cm_event_type e);

/* The state machine: one switch over every event type. */
void rmig_rdma_cm_apply_event(struct rmig_rdma_cm *cm, const struct rdma_cm_event *ev);

/*
 * Get, apply and ack one event; -EAGAIN when none is pending (the channel
 * fd is non-blocking), other negative errno on failure.
 */
int rmig_rdma_cm_process_one(struct rmig_rdma_cm *cm);

/*
 * Wait until state == @want (0) or the state is ERROR / DISCONNECTED
 * (its -errno, reported), or @deadline_ns passes (-ETIMEDOUT), or @cancel_fd
 * (if >= 0) turns readable (-ECANCELED).  @what names the step for the
 * operator ("address resolution of 10.0.0.2").
 */
int rmig_rdma_cm_wait(struct rmig_rdma_cm *cm, enum rmig_rdma_cm_state want, uint64_t deadline_ns,
		      int cancel_fd, const char *what);

/* Source: resolve @host:@port (via getaddrinfo) up to ROUTE_RESOLVED. */
int rmig_rdma_cm_resolve(struct rmig_rdma_cm *cm, const char *host, unsigned port, int timeout_ms,
			 int cancel_fd);
/* Source: rdma_connect with @caps in private data, wait ESTABLISHED, keep the answer. */
int rmig_rdma_cm_connect(struct rmig_rdma_cm *cm, const struct rmig_rdma_caps *caps,
			 int timeout_ms, int cancel_fd);

/* Listener: bind + listen on @host:@port (empty host = any; port 0 = pick). */
int rmig_rdma_cm_listen(struct rmig_rdma_cm *cm, const char *host, unsigned port);
/*
 * Listener: wait for a CONNECT_REQUEST, move its id to a fresh channel in
 * @conn_cm (private data copied to conn_cm->peer_caps).
 */
int rmig_rdma_cm_get_request(struct rmig_rdma_cm *lcm, int timeout_ms, int cancel_fd,
			     struct rmig_rdma_cm *conn_cm);
/* Destination: answer with @caps, wait ESTABLISHED. */
int rmig_rdma_cm_accept(struct rmig_rdma_cm *cm, const struct rmig_rdma_caps *caps, int timeout_ms,
			int cancel_fd);
/* Refuse a connect request (bad version), best effort. */
void rmig_rdma_cm_reject(struct rmig_rdma_cm *cm);

/* Best-effort rdma_disconnect; waits up to @timeout_ms for DISCONNECTED. */
void rmig_rdma_cm_disconnect(struct rmig_rdma_cm *cm, int timeout_ms);

/*
 * Free in reverse order of creation: a pending request's id, the id, the
 * event channel.  Safe on a partly built cm.  The verbs resources on the id
 * (res.h) must be gone already.
 */
void rmig_rdma_cm_destroy(struct rmig_rdma_cm *cm);

/* Local "host:port" the id is bound to, as rdma:host:port in @buf. */
int rmig_rdma_cm_local_uri(const struct rmig_rdma_cm *cm, char *buf, size_t len);
/* The other end's address, for messages ("rdma:10.0.0.2:51234"). */
int rmig_rdma_cm_peer_uri(const struct rmig_rdma_cm *cm, char *buf, size_t len);

#endif /* RMIG_RDMA_CM_H */
