/* SPDX-License-Identifier: MIT */
/*
 * rdma_cm connection setup and teardown: addressing, the event state
 * machine and the capability exchange.  The queue pair's verbs resources
 * are res.c's.
 */
#include "rdma/cm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "rdma/glue.h"

const char *rmig_rdma_cm_state_name(enum rmig_rdma_cm_state s)
{
	switch (s) {
	case RMIG_RDMA_CM_IDLE: return "idle";
	case RMIG_RDMA_CM_ADDR_RESOLVING: return "resolving address";
	case RMIG_RDMA_CM_ROUTE_RESOLVING: return "resolving route";
	case RMIG_RDMA_CM_ROUTE_RESOLVED: return "route resolved";
	case RMIG_RDMA_CM_CONNECTING: return "connecting";
	case RMIG_RDMA_CM_LISTENING: return "listening";
	case RMIG_RDMA_CM_CONNECTED: return "connected";
	case RMIG_RDMA_CM_DISCONNECTED: return "disconnected";
	case RMIG_RDMA_CM_ERROR: return "error";
	}
	return "?";
}

const char *rmig_rdma_cm_event_name(enum rdma_cm_event_type e)
{
	return rmig_rdma_glue_event_str(e);
}

static void cm_fail(struct rmig_rdma_cm *cm, int err)
{
	cm->state = RMIG_RDMA_CM_ERROR;
	if (!cm->error)
		cm->error = err;
}

static void copy_caps(struct rmig_rdma_cm *cm, const struct rdma_conn_param *p)
{
	cm->have_peer_caps = p->private_data &&
			     rmig_rdma_caps_decode(p->private_data, p->private_data_len,
						   &cm->peer_caps) == 0;
}

void rmig_rdma_cm_apply_event(struct rmig_rdma_cm *cm, const struct rdma_cm_event *ev)
{
	switch (ev->event) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		if (cm->state == RMIG_RDMA_CM_ADDR_RESOLVING)
			cm->state = RMIG_RDMA_CM_ROUTE_RESOLVING; /* caller resolves the route next */
		break;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		if (cm->state == RMIG_RDMA_CM_ROUTE_RESOLVING)
			cm->state = RMIG_RDMA_CM_ROUTE_RESOLVED;
		break;
	case RDMA_CM_EVENT_CONNECT_REQUEST:
		/* Only a listener sees these; one peer at a time. */
		if (cm->state == RMIG_RDMA_CM_LISTENING && !cm->req_id) {
			cm->req_id = ev->id;
			copy_caps(cm, &ev->param.conn);
		} else {
			rmig_rdma_glue_reject(ev->id, NULL, 0);
		}
		break;
	case RDMA_CM_EVENT_ESTABLISHED:
		if (cm->state == RMIG_RDMA_CM_CONNECTING) {
			cm->state = RMIG_RDMA_CM_CONNECTED;
			if (!cm->have_peer_caps)
				copy_caps(cm, &ev->param.conn);
		}
		break;
	case RDMA_CM_EVENT_ADDR_ERROR:
		cm_fail(cm, ev->status < 0 ? ev->status : -EHOSTUNREACH);
		break;
	case RDMA_CM_EVENT_ROUTE_ERROR:
		cm_fail(cm, ev->status < 0 ? ev->status : -ENETUNREACH);
		break;
	case RDMA_CM_EVENT_UNREACHABLE:
	case RDMA_CM_EVENT_CONNECT_ERROR:
		cm_fail(cm, -EHOSTUNREACH);
		break;
	case RDMA_CM_EVENT_REJECTED:
		cm_fail(cm, -ECONNREFUSED);
		break;
	case RDMA_CM_EVENT_DISCONNECTED:
		/* Any state: the peer is gone (or we hung up and this confirms it). */
		if (cm->state != RMIG_RDMA_CM_ERROR)
			cm->state = RMIG_RDMA_CM_DISCONNECTED;
		break;
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		cm_fail(cm, -ENODEV);
		break;
	case RDMA_CM_EVENT_TIMEWAIT_EXIT:
	case RDMA_CM_EVENT_ADDR_CHANGE:
	case RDMA_CM_EVENT_CONNECT_RESPONSE:
	case RDMA_CM_EVENT_MULTICAST_JOIN:
	case RDMA_CM_EVENT_MULTICAST_ERROR:
	default:
		break;
	}
}

int rmig_rdma_cm_process_one(struct rmig_rdma_cm *cm)
{
	struct rdma_cm_id *refused;
	struct rdma_cm_event *ev;
	int ret;

	ret = rmig_rdma_glue_get_cm_event(cm->ch, &ev);
	if (ret < 0)
		return ret;
	rmig_debug("rdma: cm event %s (status %d) in state %s", rmig_rdma_cm_event_name(ev->event),
		   ev->status, rmig_rdma_cm_state_name(cm->state));
	rmig_rdma_cm_apply_event(cm, ev);
	/* A request turned away is ours to free, and only once its event is acked. */
	refused = ev->event == RDMA_CM_EVENT_CONNECT_REQUEST && ev->id != cm->req_id ? ev->id
										      : NULL;
	rmig_rdma_glue_ack_cm_event(ev);
	if (refused)
		rmig_rdma_glue_destroy_id(refused);
	return 0;
}

static const char *cm_error_text(int err)
{
	switch (err) {
	case -ECONNREFUSED: return "the peer refused the connection (nothing listening there?)";
	case -ENODEV: return "the RDMA device went away";
	case -EHOSTUNREACH: return "the peer is unreachable over RDMA";
	case -ENETUNREACH: return "no RDMA route to the peer";
	default: return strerror(-err);
	}
}

int rmig_rdma_cm_wait(struct rmig_rdma_cm *cm, enum rmig_rdma_cm_state want, uint64_t deadline_ns,
		      int cancel_fd, const char *what)
{
	for (;;) {
		struct pollfd pfd[2];
		uint64_t now;
		int ret, n = 1;

		ret = rmig_rdma_cm_process_one(cm);
		if (ret < 0 && ret != -EAGAIN) {
			rmig_error("rdma: %s: reading connection events: %s", what, strerror(-ret));
			return ret;
		}
		if (cm->state == want)
			return 0;
		if (cm->state == RMIG_RDMA_CM_ERROR) {
			rmig_error("rdma: %s failed: %s", what, cm_error_text(cm->error));
			return cm->error;
		}
		if (cm->state == RMIG_RDMA_CM_DISCONNECTED) {
			rmig_error("rdma: %s failed: the peer disconnected", what);
			return -ECONNRESET;
		}
		if (ret == 0)
			continue; /* more events may be queued */
		now = rmig_time_now_ns();
		if (now >= deadline_ns) {
			rmig_error("rdma: %s timed out", what);
			return -ETIMEDOUT;
		}
		pfd[0] = (struct pollfd){ .fd = cm->ch->fd, .events = POLLIN };
		if (cancel_fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = cancel_fd, .events = POLLIN };
		ret = poll(pfd, (nfds_t)n, (int)RMIG_MIN((deadline_ns - now) / RMIG_NSEC_PER_MSEC + 1,
						       1000));
		if (ret < 0 && errno != EINTR) {
			ret = -errno;
			rmig_error("rdma: %s: poll: %s", what, strerror(-ret));
			return ret;
		}
		if (n > 1 && (pfd[1].revents & POLLIN)) {
			rmig_error("rdma: %s cancelled", what);
			return -ECANCELED;
		}
	}
}

static int cm_channel_create(struct rmig_rdma_cm *cm)
{
	int err = 0;

	cm->ch = rmig_rdma_glue_create_event_channel(&err);
	if (!cm->ch) {
		if (err == -ENODEV || err == -ENOENT)
			rmig_error("rdma: no RDMA support here (cannot open /dev/infiniband/rdma_cm: "
				   "%s); load rdma_ucm or see docs/testing.md", strerror(-err));
		else
			rmig_error("rdma: cannot create an RDMA event channel: %s", strerror(-err));
		return err;
	}
	/* Non-blocking, so waits are poll() with timeouts and cancel. */
	rmig_fd_set_nonblock(cm->ch->fd);
	return 0;
}

static int cm_id_create(struct rmig_rdma_cm *cm)
{
	int ret = rmig_rdma_glue_create_id(cm->ch, &cm->id, cm);

	if (ret < 0) {
		cm->id = NULL;
		rmig_error("rdma: cannot create an RDMA connection id: %s", strerror(-ret));
	}
	return ret;
}

static int lookup(const char *host, unsigned port, bool passive, struct sockaddr_storage *ss)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;
	char portstr[16];
	int ret;

	if (passive)
		hints.ai_flags = AI_PASSIVE;
	snprintf(portstr, sizeof(portstr), "%u", port);
	ret = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
	if (ret) {
		rmig_error("rdma: cannot resolve '%s': %s", host, gai_strerror(ret));
		return -EHOSTUNREACH;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

static void no_device_hint(int ret)
{
	if (ret == -ENODEV || ret == -EADDRNOTAVAIL) {
		int n = rmig_rdma_glue_device_count();

		if (n <= 0)
			rmig_error("rdma: no RDMA device on this machine (ibv_devices lists none); "
				   "to test without hardware use soft-RoCE, see docs/testing.md");
		else
			rmig_error("rdma: no RDMA device serves that address (%d device(s) present; "
				   "is the address on an RDMA-capable interface?)", n);
	}
}

/* Both ends start alike: the address, an event channel, and an id on it. */
static int cm_open(struct rmig_rdma_cm *cm, const char *host, unsigned port, bool passive,
		   struct sockaddr_storage *ss)
{
	int ret = lookup(host, port, passive, ss);

	if (ret < 0)
		return ret;
	ret = cm_channel_create(cm);
	if (ret < 0)
		return ret;
	return cm_id_create(cm);
}

int rmig_rdma_cm_resolve(struct rmig_rdma_cm *cm, const char *host, unsigned port, int timeout_ms,
			 int cancel_fd)
{
	struct sockaddr_storage ss;
	char what[RMIG_ERROR_MAX / 2];
	uint64_t deadline = rmig_time_now_ns() + (uint64_t)timeout_ms * RMIG_NSEC_PER_MSEC;
	int ret;

	ret = cm_open(cm, host, port, false, &ss);
	if (ret < 0)
		return ret;
	cm->state = RMIG_RDMA_CM_ADDR_RESOLVING;
	ret = rmig_rdma_glue_resolve_addr(cm->id, (struct sockaddr *)&ss, timeout_ms);
	if (ret < 0) {
		no_device_hint(ret);
		rmig_error("rdma: cannot resolve %s:%u to an RDMA device: %s", host, port,
			   strerror(-ret));
		return ret;
	}
	snprintf(what, sizeof(what), "RDMA address resolution of %s", host);
	ret = rmig_rdma_cm_wait(cm, RMIG_RDMA_CM_ROUTE_RESOLVING, deadline, cancel_fd, what);
	if (ret < 0)
		return ret;
	ret = rmig_rdma_glue_resolve_route(cm->id, timeout_ms);
	if (ret < 0) {
		no_device_hint(ret);
		rmig_error("rdma: cannot resolve a route to %s: %s", host, strerror(-ret));
		return ret;
	}
	snprintf(what, sizeof(what), "RDMA route resolution to %s", host);
	return rmig_rdma_cm_wait(cm, RMIG_RDMA_CM_ROUTE_RESOLVED, deadline, cancel_fd, what);
}

int rmig_rdma_cm_connect(struct rmig_rdma_cm *cm, const struct rmig_rdma_caps *caps,
			 int timeout_ms, int cancel_fd)
{
	uint8_t pdata[RMIG_RDMA_CAPS_SIZE];
	struct rdma_conn_param p = {
		.private_data = pdata,
		.private_data_len = sizeof(pdata),
		.responder_resources = 2,
		.initiator_depth = 2,
		.retry_count = RMIG_RDMA_RETRY_COUNT,
		.rnr_retry_count = RMIG_RDMA_RNR_RETRY_COUNT,
	};
	int ret;

	rmig_rdma_caps_encode(caps, pdata);
	cm->state = RMIG_RDMA_CM_CONNECTING;
	cm->have_peer_caps = false;
	ret = rmig_rdma_glue_connect(cm->id, &p);
	if (ret < 0) {
		rmig_error("rdma: connect failed: %s", strerror(-ret));
		return ret;
	}
	return rmig_rdma_cm_wait(cm, RMIG_RDMA_CM_CONNECTED,
				 rmig_time_now_ns() + (uint64_t)timeout_ms * RMIG_NSEC_PER_MSEC, cancel_fd,
				 "RDMA connection");
}

int rmig_rdma_cm_listen(struct rmig_rdma_cm *cm, const char *host, unsigned port)
{
	struct sockaddr_storage ss;
	int ret;

	ret = cm_open(cm, host, port, true, &ss);
	if (ret < 0)
		return ret;
	ret = rmig_rdma_glue_bind_addr(cm->id, (struct sockaddr *)&ss);
	if (ret < 0) {
		no_device_hint(ret);
		rmig_error("rdma: cannot bind to %s:%u: %s", host[0] ? host : "*", port,
			   strerror(-ret));
		return ret;
	}
	ret = rmig_rdma_glue_listen(cm->id, 4);
	if (ret < 0) {
		rmig_error("rdma: cannot listen on %s:%u: %s", host[0] ? host : "*", port,
			   strerror(-ret));
		return ret;
	}
	cm->state = RMIG_RDMA_CM_LISTENING;
	return 0;
}

int rmig_rdma_cm_get_request(struct rmig_rdma_cm *lcm, int timeout_ms, int cancel_fd,
			     struct rmig_rdma_cm *conn_cm)
{
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX
					   : rmig_time_now_ns() + (uint64_t)timeout_ms * RMIG_NSEC_PER_MSEC;
	int ret;

	while (!lcm->req_id) {
		struct pollfd pfd[2];
		int n = 1;
		uint64_t now;

		ret = rmig_rdma_cm_process_one(lcm);
		if (ret == 0)
			continue;
		if (ret != -EAGAIN) {
			rmig_error("rdma: reading listener events: %s", strerror(-ret));
			return ret;
		}
		if (lcm->state == RMIG_RDMA_CM_ERROR) {
			rmig_error("rdma: listener failed: %s", cm_error_text(lcm->error));
			return lcm->error;
		}
		now = rmig_time_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT; /* not an error: the caller may ask again */
		pfd[0] = (struct pollfd){ .fd = lcm->ch->fd, .events = POLLIN };
		if (cancel_fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = cancel_fd, .events = POLLIN };
		ret = poll(pfd, (nfds_t)n,
			   deadline == UINT64_MAX
				   ? 1000
				   : (int)RMIG_MIN((deadline - now) / RMIG_NSEC_PER_MSEC + 1, 1000));
		if (n > 1 && ret > 0 && (pfd[1].revents & POLLIN)) {
			rmig_error("rdma: waiting for a connection: cancelled");
			return -ECANCELED;
		}
	}
	memset(conn_cm, 0, sizeof(*conn_cm));
	conn_cm->peer_caps = lcm->peer_caps;
	conn_cm->have_peer_caps = lcm->have_peer_caps;
	conn_cm->id = lcm->req_id;
	lcm->req_id = NULL;
	lcm->have_peer_caps = false;
	/* The connection gets its own channel, so its events never mix with new requests. */
	ret = cm_channel_create(conn_cm);
	if (ret < 0)
		goto reject;
	ret = rmig_rdma_glue_migrate_id(conn_cm->id, conn_cm->ch);
	if (ret < 0) {
		rmig_error("rdma: cannot move the new connection to its own channel: %s",
			   strerror(-ret));
		goto reject;
	}
	conn_cm->id->context = conn_cm;
	conn_cm->state = RMIG_RDMA_CM_CONNECTING;
	return 0;

reject:
	rmig_rdma_cm_reject(conn_cm);
	return ret;
}

int rmig_rdma_cm_accept(struct rmig_rdma_cm *cm, const struct rmig_rdma_caps *caps, int timeout_ms,
			int cancel_fd)
{
	uint8_t pdata[RMIG_RDMA_CAPS_SIZE];
	struct rdma_conn_param p = {
		.private_data = pdata,
		.private_data_len = sizeof(pdata),
		.responder_resources = 2,
		.initiator_depth = 2,
		.retry_count = RMIG_RDMA_RETRY_COUNT,
		.rnr_retry_count = RMIG_RDMA_RNR_RETRY_COUNT,
	};
	int ret;

	rmig_rdma_caps_encode(caps, pdata);
	ret = rmig_rdma_glue_accept(cm->id, &p);
	if (ret < 0) {
		rmig_error("rdma: accepting the connection failed: %s", strerror(-ret));
		return ret;
	}
	return rmig_rdma_cm_wait(cm, RMIG_RDMA_CM_CONNECTED,
				 rmig_time_now_ns() + (uint64_t)timeout_ms * RMIG_NSEC_PER_MSEC, cancel_fd,
				 "establishing the incoming RDMA connection");
}

void rmig_rdma_cm_reject(struct rmig_rdma_cm *cm)
{
	if (cm->id)
		rmig_rdma_glue_reject(cm->id, NULL, 0);
}

void rmig_rdma_cm_disconnect(struct rmig_rdma_cm *cm, int timeout_ms)
{
	uint64_t deadline = rmig_time_now_ns() + (uint64_t)timeout_ms * RMIG_NSEC_PER_MSEC;

	if (!cm->id || !cm->ch || (cm->state != RMIG_RDMA_CM_CONNECTED &&
				   cm->state != RMIG_RDMA_CM_CONNECTING))
		return;
	if (rmig_rdma_glue_disconnect(cm->id) < 0)
		return;
	/* Reap the DISCONNECTED event so the id can be destroyed without a pending event. */
	while (cm->state == RMIG_RDMA_CM_CONNECTED || cm->state == RMIG_RDMA_CM_CONNECTING) {
		struct pollfd pfd = { .fd = cm->ch->fd, .events = POLLIN };
		uint64_t now;
		int ret = rmig_rdma_cm_process_one(cm);

		if (ret == 0)
			continue;
		if (ret != -EAGAIN)
			break;
		now = rmig_time_now_ns();
		if (now >= deadline)
			break;
		poll(&pfd, 1, (int)((deadline - now) / RMIG_NSEC_PER_MSEC + 1));
	}
}

void rmig_rdma_cm_destroy(struct rmig_rdma_cm *cm)
{
	if (cm->req_id) {
		rmig_rdma_glue_reject(cm->req_id, NULL, 0);
		rmig_rdma_glue_destroy_id(cm->req_id);
		cm->req_id = NULL;
	}
	if (cm->id) {
		rmig_rdma_glue_destroy_id(cm->id);
		cm->id = NULL;
	}
	if (cm->ch) {
		rmig_rdma_glue_destroy_event_channel(cm->ch);
		cm->ch = NULL;
	}
	cm->state = RMIG_RDMA_CM_IDLE;
}

/* "rdma:HOST:PORT" of one end of @cm's route. */
static int cm_uri(const struct rmig_rdma_cm *cm, bool peer, char *buf, size_t len)
{
	const struct sockaddr *sa;
	char host[INET6_ADDRSTRLEN];
	unsigned port;
	int n;

	if (!cm->id)
		return -ENOTCONN;
	sa = peer ? &cm->id->route.addr.dst_addr : &cm->id->route.addr.src_addr;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		n = snprintf(buf, len, "rdma:%s:%u", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		n = snprintf(buf, len, "rdma:[%s]:%u", host, port);
	} else {
		return -EAFNOSUPPORT;
	}
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int rmig_rdma_cm_local_uri(const struct rmig_rdma_cm *cm, char *buf, size_t len)
{
	return cm_uri(cm, false, buf, len);
}

int rmig_rdma_cm_peer_uri(const struct rmig_rdma_cm *cm, char *buf, size_t len)
{
	return cm_uri(cm, true, buf, len);
}
