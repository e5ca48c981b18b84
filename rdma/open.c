/* SPDX-License-Identifier: MIT */
/*
 * Opening an rdma: connection, both ends: rdma_cm set-up, the capability
 * exchange, authentication, the data lanes, and the liveness armed after;
 * and its teardown.  plugin.c puts these behind the ops table.
 *
 * Environment knobs (testing and interop):
 *   RMIG_RDMA_NO_PIN_ALL=1   destination refuses pin-all
 *   RMIG_RDMA_NO_CREDITS=1   offer neither CREDITS nor REG_BATCH: QEMU's
 *                            flow (one READY per message, one element per
 *                            request); PIN_SEGMENTS stays
 *   RMIG_RDMA_NO_PIN_STREAM=1  pin-all pins everything in SETUP, as v1
 *                            does, not region by region during the rounds
 *   RMIG_RDMA_NO_EXTENSIONS=1  offer none of rmig's extensions: plain QEMU
 *                            v1, one rkey per pinned block too
 *   RMIG_RDMA_NO_RING_PREPARE=1  fault the control buffers in as they are
 *                            registered, not ahead (destination: before it
 *                            waits; source: while it resolves); the
 *                            fuzzer's many accepts would each fault them in
 *   RMIG_RDMA_MAX_MR_SIZE=N  lower the device's max_mr_size (res.c)
 *   RMIG_RDMA_CUT_LANE=bulk|dirty|final  source: cut its last data lane
 *                            before that round's first WRITE (source.c)
 *   RMIG_RDMA_PORT_SETTLE_MS=N  how long a failed work request waits for
 *                            the port to read down (default 80, progress.c)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/size.h"
#include "common/base/util.h"
#include "plugin/sockaddr.h"
#include "rdma/auth.h"
#include "rdma/conn.h"
#include "rdma/opts.h"
#include "rdma/progress.h"

static bool env_on(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0") != 0;
}

/*
 * The device and port rdma_cm picked for the connection, for -v: on a host
 * with several NICs (or rails) the operator learns which one carries it.
 */
static const char *conn_where(const struct rmig_rdma_conn *rc, char *buf, size_t len)
{
	const struct rdma_cm_id *id = rc->cm.id;

	if (!id || !id->verbs || !id->verbs->device)
		return "an unnamed device";
	snprintf(buf, len, "%s port %u", id->verbs->device->name, id->port_num);
	return buf;
}

/* AUTH is offered only by a side holding a key (conn_auth_key). */
static uint32_t offered_caps(void)
{
	uint32_t f = RMIG_RDMA_CAPS_KNOWN & ~RMIG_RDMA_CAP_AUTH;

	if (env_on("RMIG_RDMA_NO_EXTENSIONS"))
		return f & RMIG_RDMA_CAP_PIN_ALL; /* QEMU's one flag */
	if (env_on("RMIG_RDMA_NO_CREDITS"))
		f &= ~(RMIG_RDMA_CAP_CREDITS | RMIG_RDMA_CAP_REG_BATCH);
	if (env_on("RMIG_RDMA_NO_PIN_STREAM"))
		f &= ~RMIG_RDMA_CAP_PIN_STREAM;
	return f;
}

static struct rmig_rdma_conn *conn_alloc(bool source)
{
	struct rmig_rdma_conn *rc = calloc(1, sizeof(*rc));

	if (!rc) {
		rmig_error("rdma: out of memory");
		return NULL;
	}
	rc->is_source = source;
	rc->numa_param = -1;
	/* First: the abort fd must exist whenever the connection can be aborted or freed. */
	if (rmig_rdma_progress_init(&rc->prog, &rc->cm, &rc->res) < 0) {
		free(rc);
		return NULL;
	}
	return rc;
}

/* Everything in reverse order of creation; safe on a partly built connection. */
void rmig_rdma_conn_free(struct rmig_rdma_conn *rc)
{
	if (rc->ctrl_ready) {
		/* Tell the peer why we go (best effort), or let the last stream bytes out. */
		bool failed = (rc->prog.error && rc->prog.error != -ECONNRESET) ||
			      atomic_load(&rc->prog.aborted);

		if (failed)
			rmig_rdma_ctrl_send_error(&rc->ctrl);
		(void)rmig_rdma_progress_flush_sends(&rc->prog, failed ? 500 : 5000);
	}
	rmig_rdma_cm_disconnect(&rc->cm, 1000);
	/* What dynamic registration cost: the figures to look at when it is slow. */
	if (rc->is_source && rc->kc)
		rmig_debug("rdma: %llu %s, %llu writes waited %llu ms for a key, "
			   "%llu COMPRESS messages",
			   (unsigned long long)rc->reg_requests,
			   rc->pin_stream ? "SEGMENTS_REQUESTs (regions to pin)" : "REGISTER_REQUESTs",
			   (unsigned long long)rc->reg_waits,
			   (unsigned long long)(rc->reg_wait_ns / 1000000),
			   (unsigned long long)rc->compress_msgs);
	/* What bounded pinning did (-v): the operator sizing memlock wants the peak. */
	if (rc->is_source && rc->kc && !rc->pin_all) {
		char peak[32], max[32];

		rmig_info("rdma: at most %s pinned at once on each side (bound %s), %llu regions "
			  "unregistered to stay under it",
			  rmig_size_format(rc->pins.peak_bytes, peak, sizeof(peak)),
			  rc->pins.max_bytes ? rmig_size_format(rc->pins.max_bytes, max, sizeof(max))
					     : "none",
			  (unsigned long long)rc->pins.evicted_runs);
	}
	else if (!rc->is_source && rc->dreg_ready)
		rmig_debug("rdma: %llu registrations taking %llu ms, %llu MiB registered at the end",
			   (unsigned long long)rc->dreg.nregistrations,
			   (unsigned long long)(rc->dreg.reg_ns / 1000000),
			   (unsigned long long)(rc->dreg.registered_bytes >> 20));
	/* Their threads first: nothing may reap a lane's CQ while it goes. */
	rmig_rdma_lanes_close(rc);
	if (rc->is_source)
		rmig_rdma_source_fini(rc);
	else
		rmig_rdma_dest_fini(rc);
	if (rc->ctrl_ready) {
		rmig_rdma_ctrl_fini(&rc->ctrl);
		rc->ctrl_ready = false;
	}
	rmig_rdma_rings_release(&rc->ring_mem);
	rmig_rdma_res_destroy(&rc->res);
	rmig_rdma_cm_destroy(&rc->cm);
	rmig_rdma_progress_fini(&rc->prog);
	free(rc);
}

/* @eff: the flags both sides agreed on. */
static void conn_set_caps(struct rmig_rdma_conn *rc, uint32_t eff)
{
	rc->pin_all = (eff & RMIG_RDMA_CAP_PIN_ALL) != 0;
	rc->credits = (eff & RMIG_RDMA_CAP_CREDITS) != 0;
	rc->reg_batch = (eff & RMIG_RDMA_CAP_REG_BATCH) != 0;
	rc->pin_segments = (eff & RMIG_RDMA_CAP_PIN_SEGMENTS) != 0;
	rc->keepalive = (eff & RMIG_RDMA_CAP_KEEPALIVE) != 0;
	rc->pin_stream = (eff & RMIG_RDMA_CAP_PIN_STREAM) != 0;
	rmig_rdma_ctrl_set_caps(&rc->ctrl, eff);
}

/*
 * Once connected.  Only a peer that sends KEEPALIVEs gets a deadline: any
 * other (QEMU) may be silent for as long as it works, a pin-all bulk round
 * for one (docs/rdma.txt section 16).
 */
static void conn_arm_liveness(struct rmig_rdma_conn *rc)
{
	if (rc->keepalive) {
		rmig_rdma_progress_set_liveness(&rc->prog, rc->peer_timeout_ms, true);
		return;
	}
	rmig_rdma_progress_set_liveness(&rc->prog, 0, false);
	if (rc->peer_timeout_ms > 0)
		rmig_info("rdma: the peer does not send keepalives; peer-timeout does not apply "
			  "to this connection");
}

/* How long a set-up exchange may take: peer-timeout, or 10 s when none. */
static int conn_setup_ms(const struct rmig_rdma_conn *rc)
{
	return rc->peer_timeout_ms > 0 ? rc->peer_timeout_ms : 10000;
}

/*
 * The authentication exchange is three short messages: silence during it
 * ends within peer-timeout (10 s when none), keepalives negotiated or not,
 * so a peer that offers AUTH and then says nothing cannot hold us.
 */
static int conn_authenticate(struct rmig_rdma_conn *rc, const struct rmig_rdma_auth_key *key,
			     uint32_t caps)
{
	int ret;

	/*
	 * No KEEPALIVEs either way until it is over: the exchange takes
	 * milliseconds, and a peer that could keep the deadline moving with
	 * them would hold us without ever proving anything.  One that sends
	 * one anyway sends an unknown type.
	 */
	/* Only which types decode: the flow-control state set up by conn_set_caps stays. */
	rc->ctrl.caps = caps & ~RMIG_RDMA_CAP_KEEPALIVE;
	rmig_rdma_progress_set_liveness(&rc->prog, conn_setup_ms(rc), false);
	/* Silence is not the only stall: READYs alone would keep a silence deadline away. */
	rmig_rdma_progress_set_bound(&rc->prog, conn_setup_ms(rc));
	ret = rc->is_source ? rmig_rdma_auth_source(rc, key, caps) : rmig_rdma_auth_dest(rc, key, caps);
	rmig_rdma_progress_set_bound(&rc->prog, 0);
	rc->ctrl.caps = caps;
	/* Only now does the source get the full rings and credits (ctrl.h). */
	if (ret == 0)
		ret = rmig_rdma_ctrl_trust(&rc->ctrl);
	conn_arm_liveness(rc);
	/*
	 * On the destination, whatever went wrong, that source did not
	 * authenticate: it is refused, and we wait on for the right one.
	 */
	if (!rc->is_source && ret < 0 && ret != -ENOMEM && ret != -ECANCELED)
		ret = -EKEYREJECTED;
	return ret;
}

/*
 * @untrusted: the peer must authenticate first, and until it has, it gets
 * one page of message buffers and nothing else (ctrl.h).  @rings: the
 * job preparing rc->ring_mem, if any, joined before the rings are used.
 */
static int conn_start(struct rmig_rdma_conn *rc, bool untrusted, struct rmig_rdma_rings_job *rings)
{
	int ret = rmig_rdma_res_create(&rc->res, rc->cm.id);

	rmig_rdma_rings_job_join(rings);
	if (ret < 0)
		return ret;
	/* RECVs are posted before connect/accept: the peer may send as soon as it is up. */
	ret = untrusted ? rmig_rdma_ctrl_init_untrusted(&rc->ctrl, &rc->res, &rc->prog, &rc->ring_mem)
			: rmig_rdma_ctrl_init(&rc->ctrl, &rc->res, &rc->prog, &rc->ring_mem);
	if (ret < 0)
		return ret;
	rc->ctrl_ready = true;
	return 0;
}

/*
 * A set-up exchange ends within peer-timeout (10 s when none), keepalives
 * negotiated or not: the peer answers at once or not at all.  The bound
 * is absolute: a peer that sends KEEPALIVEs and nothing else is still
 * held to it.
 */
static int conn_bounded(struct rmig_rdma_conn *rc, int (*step)(struct rmig_rdma_conn *rc))
{
	int ret;

	rmig_rdma_progress_set_liveness(&rc->prog, conn_setup_ms(rc), rc->keepalive);
	rmig_rdma_progress_set_bound(&rc->prog, conn_setup_ms(rc));
	ret = step(rc);
	rmig_rdma_progress_set_bound(&rc->prog, 0);
	conn_arm_liveness(rc);
	return ret;
}

static int lanes_open_wanted(struct rmig_rdma_conn *rc)
{
	return rmig_rdma_lanes_open(rc, rc->lanes_wanted);
}

/*
 * Lanes are connected by moving their QPs to RTR and RTS by hand, which
 * InfiniBand and RoCE allow and iWARP does not (only rdma_cm connects an
 * iWARP QP): there the capability is neither offered nor granted.
 */
static bool lanes_possible(const struct rmig_rdma_conn *rc)
{
	const struct ibv_context *v = rc->cm.id ? rc->cm.id->verbs : NULL;

	return v && v->device && v->device->transport_type == IBV_TRANSPORT_IB;
}

/* Source: the channels asked for, or one QP with a word why. */
static int conn_open_lanes(struct rmig_rdma_conn *rc, uint32_t eff)
{
	if (rc->lanes_wanted < 2)
		return 0;
	if (!(eff & RMIG_RDMA_CAP_CHANNELS)) {
		rmig_info("rdma: the destination takes no channels (QEMU, or an rmig without "
			  "them): one queue pair carries the pages");
		return 0;
	}
	return conn_bounded(rc, lanes_open_wanted);
}

int rmig_rdma_op_connect(const char *addr, const struct rmig_conn_opts *opts,
			  struct rmig_conn **out)
{
	char host[RMIG_HOST_MAX], where[IBV_SYSFS_NAME_MAX + 16];
	unsigned port;
	struct rmig_rdma_conn *rc;
	struct rmig_rdma_caps caps = { .version = RMIG_RDMA_VERSION };
	int timeout = rmig_rdma_opts_get_timeout(opts), cancel_fd = rmig_rdma_opts_get_cancel_fd(opts);
	bool want_pin = rmig_rdma_opts_get_pin_all(opts);
	struct rmig_rdma_auth_key *key;
	struct rmig_rdma_rings_job rings = { .started = false };
	uint32_t eff;
	int ret;

	ret = rmig_hostport_parse(addr, host, sizeof(host), &port, 0);
	if (ret < 0)
		return ret;
	ret = rmig_rdma_auth_key_from_opts(opts, &key);
	if (ret < 0)
		return ret;
	rc = conn_alloc(true);
	if (!rc) {
		rmig_rdma_auth_key_free(key);
		return -ENOMEM;
	}
	rc->peer_timeout_ms = rmig_rdma_opts_get_peer_timeout(opts);
	rc->max_pinned_req = rmig_rdma_opts_get_max_pinned(opts);
	/* Faulted in while rdma_cm resolves and the QP is built (rings.h). */
	if (!env_on("RMIG_RDMA_NO_RING_PREPARE"))
		rmig_rdma_rings_job_start(&rings, &rc->ring_mem);
	ret = rmig_rdma_cm_resolve(&rc->cm, host, port, timeout, cancel_fd);
	if (ret < 0)
		goto fail;
	ret = conn_start(rc, false, &rings);
	if (ret < 0)
		goto fail;
	caps.flags = offered_caps() | (key ? RMIG_RDMA_CAP_AUTH : 0);
	rc->numa_param = rmig_rdma_opts_get_numa_node(opts);
	rc->lanes_wanted = RMIG_MIN(RMIG_MAX(rmig_rdma_opts_get_channels(opts), 1u),
				    (uint32_t)RMIG_RDMA_MAX_LANES);
	if (rc->lanes_wanted > 1 && !lanes_possible(rc)) {
		rmig_info("rdma: channels need an InfiniBand or RoCE device; one queue pair "
			  "carries the pages");
		rc->lanes_wanted = 1;
	}
	if (rc->lanes_wanted < 2)
		caps.flags &= ~RMIG_RDMA_CAP_CHANNELS;
	if (!want_pin)
		caps.flags &= ~(RMIG_RDMA_CAP_PIN_ALL | RMIG_RDMA_CAP_PIN_SEGMENTS |
				RMIG_RDMA_CAP_PIN_STREAM);
	ret = rmig_rdma_cm_connect(&rc->cm, &caps, timeout, cancel_fd);
	if (ret < 0)
		goto fail;
	if (!rc->cm.have_peer_caps) {
		/* A v1 peer always answers; without an answer assume plain v1. */
		rc->cm.peer_caps = (struct rmig_rdma_caps){ .version = 1, .flags = 0 };
	}
	/* Warns when pin-all was refused: the source then registers dynamically. */
	ret = rmig_rdma_caps_accept(caps.flags, &rc->cm.peer_caps, &eff);
	if (ret < 0)
		goto fail;
	if (key && !(eff & RMIG_RDMA_CAP_AUTH)) {
		rmig_error("rdma: the destination does not authenticate (a QEMU destination, or an "
			   "rmig without --auth-key); refusing to expose memory to it");
		ret = -EKEYREJECTED;
		goto fail;
	}
	conn_set_caps(rc, eff);
	/* Until we return, our caller's cancel reaches only this fd: the exchanges below watch it. */
	rmig_rdma_progress_set_cancel_fd(&rc->prog, cancel_fd);
	if (key) {
		ret = conn_authenticate(rc, key, eff);
		if (ret < 0)
			goto fail;
	}
	conn_arm_liveness(rc);
	ret = conn_open_lanes(rc, eff);
	if (ret < 0)
		goto fail;
	rmig_info("rdma: connected to %s (%s registration, %s flow control%s) on %s", addr,
		  rc->pin_stream ? "streamed pin-all" : rc->pin_all ? "pin-all" : "dynamic",
		  rc->credits ? "credit" : "v1 READY",
		  key ? ", authenticated" : "", conn_where(rc, where, sizeof(where)));
	rmig_rdma_auth_key_free(key);
	rmig_rdma_progress_set_cancel_fd(&rc->prog, -1);
	*out = &rc->base;
	return 0;

fail:
	rmig_rdma_rings_job_join(&rings);
	rmig_rdma_auth_key_free(key);
	rmig_rdma_conn_free(rc);
	return ret;
}

int rmig_rdma_op_listen(const char *addr, const struct rmig_conn_opts *opts,
			 struct rmig_listener **out)
{
	char host[RMIG_HOST_MAX];
	unsigned port;
	struct rmig_rdma_listener *l;
	int ret;

	ret = rmig_hostport_parse(addr, host, sizeof(host), &port, 1);
	if (ret < 0)
		return ret;
	l = calloc(1, sizeof(*l));
	if (!l) {
		rmig_error("rdma: out of memory");
		return -ENOMEM;
	}
	l->timeout_ms = rmig_rdma_opts_get_timeout(opts);
	l->peer_timeout_ms = rmig_rdma_opts_get_peer_timeout(opts);
	l->cancel_fd = rmig_rdma_opts_get_cancel_fd(opts);
	/* A bad key file is found now, not when a source comes. */
	ret = rmig_rdma_auth_key_from_opts(opts, &l->key);
	if (ret == 0)
		ret = rmig_rdma_cm_listen(&l->cm, host, port);
	if (ret < 0) {
		rmig_rdma_cm_destroy(&l->cm);
		rmig_rdma_auth_key_free(l->key);
		free(l);
		return ret;
	}
	*out = &l->base;
	return 0;
}

/*
 * Fault in the control rings while no source is there yet, so that
 * accepting one only registers them (ctrl.h): the source's setup-time no
 * longer waits for our page zeroing.  The listener keeps them until a
 * source comes, as engines accept in short slices (to notice a cancel):
 * only the first slice pays.  Returns what is left of @timeout_ms (< 0:
 * no deadline) for the wait that follows.
 */
static int prepare_rings(struct rmig_rdma_listener *l, int timeout_ms)
{
	uint64_t t0 = rmig_time_now_ns(), spent_ms;

	if (l->rings.recv || l->rings_unprepared || env_on("RMIG_RDMA_NO_RING_PREPARE"))
		return timeout_ms;
	/* Before Linux 5.14 (no MADV_POPULATE_WRITE) every slice would map and unmap in vain. */
	if (rmig_rdma_rings_prepare(&l->rings) == -EOPNOTSUPP)
		l->rings_unprepared = true;
	if (timeout_ms < 0)
		return timeout_ms;
	spent_ms = (rmig_time_now_ns() - t0) / RMIG_NSEC_PER_MSEC;
	return spent_ms >= (uint64_t)timeout_ms ? 0 : timeout_ms - (int)spent_ms;
}

/*
 * A request that failed leaves the rings it was given, if it never
 * registered them, to the listener: only a source that proved itself
 * costs the destination another 11 MiB of page zeroing.
 */
static void rings_back_to_listener(struct rmig_rdma_listener *l, struct rmig_rdma_conn *rc)
{
	if (l->rings.recv || l->rings.send)
		return;
	if (rc->ring_mem.recv && rc->ring_mem.send) {
		l->rings = rc->ring_mem;
		rc->ring_mem = (struct rmig_rdma_rings){ 0 };
	} else if (rc->ctrl_ready) {
		(void)rmig_rdma_ctrl_return_rings(&rc->ctrl, &l->rings);
	}
}

int rmig_rdma_op_accept(struct rmig_listener *base, int timeout_ms, struct rmig_conn **out)
{
	struct rmig_rdma_listener *l = (struct rmig_rdma_listener *)(void *)base;
	struct rmig_rdma_caps answer;
	struct rmig_rdma_conn *rc;
	uint32_t supported = offered_caps();
	char where[IBV_SYSFS_NAME_MAX + 16]; /* "NAME port N" */
	int ret;

	rc = conn_alloc(false);
	if (!rc)
		return -ENOMEM;
	rc->peer_timeout_ms = l->peer_timeout_ms;
	ret = rmig_rdma_cm_get_request(&l->cm, prepare_rings(l, timeout_ms), l->cancel_fd, &rc->cm);
	if (ret < 0)
		goto fail;
	if (!rc->cm.have_peer_caps) {
		rmig_error("rdma: the connecting peer sent no capability data; not an RDMA "
			   "migration source");
		rmig_rdma_cm_reject(&rc->cm);
		ret = -EPROTO;
		goto fail_named;
	}
	if (env_on("RMIG_RDMA_NO_PIN_ALL"))
		supported &= ~RMIG_RDMA_CAP_PIN_ALL;
	if (!lanes_possible(rc))
		supported &= ~RMIG_RDMA_CAP_CHANNELS;
	if (l->key && !(rc->cm.peer_caps.flags & RMIG_RDMA_CAP_AUTH)) {
		rmig_error("rdma: the connecting source cannot authenticate (a QEMU source, or an "
			   "rmig without --auth-key); this destination requires --auth-key");
		rmig_rdma_cm_reject(&rc->cm);
		ret = -EKEYREJECTED;
		goto fail_named;
	}
	if (l->key)
		supported |= RMIG_RDMA_CAP_AUTH;
	ret = rmig_rdma_caps_negotiate(&rc->cm.peer_caps, supported, &answer);
	if (ret < 0) {
		rmig_rdma_cm_reject(&rc->cm);
		goto fail_named;
	}
	/*
	 * The prepared rings go to a request that passed the checks above.
	 * If it fails before they were registered (an impostor refused at
	 * authentication, say), they come back to the listener (fail below).
	 */
	rc->ring_mem = l->rings;
	l->rings = (struct rmig_rdma_rings){ 0 };
	ret = conn_start(rc, l->key != NULL, NULL);
	if (ret < 0) {
		rmig_rdma_cm_reject(&rc->cm);
		goto fail;
	}
	conn_set_caps(rc, answer.flags);
	ret = rmig_rdma_cm_accept(&rc->cm, &answer, l->timeout_ms, l->cancel_fd);
	if (ret < 0)
		goto fail_named;
	/* As on the source: the engine has no connection to abort until we return. */
	rmig_rdma_progress_set_cancel_fd(&rc->prog, l->cancel_fd);
	if (l->key) {
		ret = conn_authenticate(rc, l->key, answer.flags);
		if (ret < 0)
			goto fail_named;
	}
	conn_arm_liveness(rc);
	if (answer.flags & RMIG_RDMA_CAP_CHANNELS) {
		ret = conn_bounded(rc, rmig_rdma_lanes_serve);
		if (ret < 0)
			goto fail_named;
	}
	rmig_info("rdma: accepted a migration (%s registration, %s flow control%s) on %s",
		  rc->pin_stream ? "streamed pin-all" : rc->pin_all ? "pin-all" : "dynamic",
		  rc->credits ? "credit" : "v1 READY",
		  l->key ? ", authenticated" : "", conn_where(rc, where, sizeof(where)));
	rmig_rdma_progress_set_cancel_fd(&rc->prog, -1);
	*out = &rc->base;
	return 0;

fail_named:
	/*
	 * A source that does not speak the protocol, or gave up half way, is
	 * refused: with a key required, the engine waits on for the right one,
	 * and the log says who it was.
	 */
	if (l->key && ret != -ENOMEM && ret != -ECANCELED)
		ret = -EKEYREJECTED;
	if (ret == -EKEYREJECTED) {
		char why[RMIG_ERROR_MAX], who[96];

		snprintf(why, sizeof(why), "%s", rmig_error_get_last());
		if (rmig_rdma_cm_peer_uri(&rc->cm, who, sizeof(who)) == 0)
			rmig_error("%s (from %s)", why, who);
	}
fail:
	rings_back_to_listener(l, rc);
	rmig_rdma_conn_free(rc);
	return ret;
}

void rmig_rdma_listener_close(struct rmig_listener *base)
{
	struct rmig_rdma_listener *l = (struct rmig_rdma_listener *)(void *)base;

	rmig_rdma_rings_release(&l->rings);
	rmig_rdma_cm_destroy(&l->cm);
	rmig_rdma_auth_key_free(l->key);
	free(l);
}

int rmig_rdma_listener_uri(struct rmig_listener *base, char *buf, size_t len)
{
	struct rmig_rdma_listener *l = (struct rmig_rdma_listener *)(void *)base;

	return rmig_rdma_cm_local_uri(&l->cm, buf, len);
}
