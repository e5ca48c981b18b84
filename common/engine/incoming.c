/* SPDX-License-Identifier: MIT */
/*
 * The destination: listen, accept one source, hand the connection to the
 * stream loader, and keep the same state machine and query-migrate report
 * as the source.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "common/engine/fault.h"
#include "common/engine/handover.h"
#include "common/engine/incoming.h"
#include "common/engine/multifd.h"
#include "common/engine/params.h"
#include "common/engine/state.h"
#include "common/engine/stats.h"
#include "common/engine/stream.h"
#include "common/engine/transports.h"
#include "plugin/registry.h"
#include "plugin/tls.h"

/* accept() is called in slices this long so a cancel is noticed promptly. */
#define INCOMING_ACCEPT_SLICE_MS 200

struct rmig_incoming {
	struct rmig_ram *ram;
	struct rmig_state_machine sm;
	struct rmig_stats stats;
	struct rmig_params params;
	struct rmig_listener *listener;
	struct rmig_load_info load_info;

	pthread_mutex_t lock; /* conn, mfd, error */
	struct rmig_conn *conn;
	struct rmig_mfd_recv *mfd; /* a multifd source's channels, while they run */
	/* A connection being proved (TLS, a channel's hello): a cancel must reach it too. */
	struct rmig_conn *setup_conn;
	int error;
	char error_desc[RMIG_ERROR_MAX];
	_Atomic bool cancel;
	/*
	 * Readable once cancelled, for a transport still proving a source
	 * inside accept (rdma's authentication), which has no connection we
	 * could abort yet.  Never read: it stays readable.
	 */
	int cancel_fd;
	/* The embedder's: the workload may run here now (I3 in docs/switchover.md). */
	rmig_incoming_start_fn start;
	void *start_opaque;

	_Atomic uint64_t start_ns, end_ns;
};

struct rmig_incoming *rmig_incoming_new(struct rmig_ram *ram)
{
	struct rmig_incoming *in;

	if (!ram) {
		rmig_error("incoming: a RAM registry is required");
		return NULL;
	}
	in = calloc(1, sizeof(*in));
	if (!in) {
		rmig_error("incoming: out of memory");
		return NULL;
	}
	in->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (in->cancel_fd < 0) {
		rmig_error("incoming: cannot create an eventfd: %s", strerror(errno));
		free(in);
		return NULL;
	}
	in->ram = ram;
	rmig_state_init(&in->sm);
	rmig_stats_init(&in->stats);
	rmig_params_init(&in->params);
	/* The destination accepts pin-all unless told not to. */
	in->params.caps[RMIG_CAP_RDMA_PIN_ALL] = true;
	pthread_mutex_init(&in->lock, NULL);
	return in;
}

void rmig_incoming_free(struct rmig_incoming *in)
{
	if (!in)
		return;
	if (in->listener)
		rmig_listener_close(in->listener);
	close(in->cancel_fd);
	pthread_mutex_destroy(&in->lock);
	rmig_state_destroy(&in->sm);
	free(in);
}

int rmig_incoming_add_listener(struct rmig_incoming *in, rmig_state_listener_fn fn, void *opaque)
{
	return rmig_state_add_listener(&in->sm, fn, opaque);
}

int rmig_incoming_set_capability(struct rmig_incoming *in, enum rmig_capability cap, bool on)
{
	if ((unsigned)cap >= RMIG_CAP__COUNT) {
		rmig_error("unknown capability %d", (int)cap);
		return -EINVAL;
	}
	if (in->listener) {
		rmig_error("cannot change %s after the destination started listening",
			   rmig_capability_get_name(cap));
		return -EBUSY;
	}
	in->params.caps[cap] = on;
	return 0;
}

int rmig_incoming_listen(struct rmig_incoming *in, const char *uri)
{
	struct rmig_conn_opts opts = {
		.size = sizeof(opts),
		.rdma_pin_all = in->params.caps[RMIG_CAP_RDMA_PIN_ALL],
		.duplex = true,
		.peer_timeout_ms = (int)in->params.peer_timeout_ms,
		.auth_key = in->params.auth_key[0] ? in->params.auth_key : NULL,
		.cancel_fd = in->cancel_fd,
	};
	struct rmig_tls_config tls = {
		.creds_dir = in->params.tls_creds,
		.psk_file = in->params.tls_psk,
	};
	int ret;

	ret = rmig_params_validate(&in->params);
	if (!ret)
		ret = rmig_params_check_uri(&in->params, uri);
	if (!ret)
		ret = rmig_tls_check(&tls, true);
	if (ret)
		return ret;
	ret = rmig_transport_init_all();
	if (ret)
		return ret;
	if (in->listener) {
		rmig_error("incoming: already listening");
		return -EBUSY;
	}
	return rmig_listener_open(uri, &opts, &in->listener);
}

int rmig_incoming_get_uri(struct rmig_incoming *in, char *buf, size_t len)
{
	if (!in->listener)
		return -ENOTCONN;
	return rmig_listener_get_uri(in->listener, buf, len);
}

static void incoming_set_error(struct rmig_incoming *in, int err)
{
	pthread_mutex_lock(&in->lock);
	if (!in->error) {
		in->error = err;
		snprintf(in->error_desc, sizeof(in->error_desc), "%s",
			 *rmig_error_get_last() ? rmig_error_get_last() : strerror(-err));
	}
	pthread_mutex_unlock(&in->lock);
}

/* The "cancel" action of RMIG_FAULT, as a callback (fault.c sits below us). */
static void incoming_fault_cancel(void *in)
{
	rmig_incoming_cancel(in);
}

/* Quiet: a failed load already said why, and the source may be gone. */
static void incoming_send_failure(struct rmig_conn *c, int err)
{
	uint8_t msg[RMIG_HANDOVER_SIZE];

	rmig_handover_encode(msg, RMIG_HANDOVER_RESULT, err ? err : -EIO);
	(void)rmig_conn_write(c, msg, sizeof(msg));
}

/*
 * After a good load: tell the source, then wait for its decision.  Returns
 * 0 on COMMIT, -ECONNABORTED on ABORT (the source kept the workload), and
 * -EINPROGRESS when the decision never came: in doubt.
 */
static int incoming_handover(struct rmig_incoming *in, struct rmig_stream *s)
{
	struct rmig_conn *c = s->conn;
	enum rmig_handover_kind kind;
	int ret, status;

	ret = rmig_handover_send(c, RMIG_HANDOVER_RESULT, 0,
				 "telling the source that every page arrived");
	if (ret)
		return ret; /* the source cannot commit without our RESULT: plain failure */
	rmig_fault_dest(RMIG_FAULT_AFTER_TRAILER, incoming_fault_cancel, in);
	/*
	 * A source that gave up on us sends ABORT right behind the trailer,
	 * and the stream may have read it ahead already.
	 */
	ret = rmig_handover_recv_after(c, s->buf + s->rpos, s->rlen - s->rpos,
				       in->params.peer_timeout_ms,
				       "waiting for the source to commit the hand-over", &kind, &status);
	if (ret == 0 && kind == RMIG_HANDOVER_COMMIT)
		return 0;
	if (ret == 0 && kind == RMIG_HANDOVER_ABORT) {
		rmig_error("the source kept the workload (it was cancelled, or gave up waiting for "
			   "us, after sending everything); the received memory is discarded");
		return -ECONNABORTED;
	}
	if (ret == 0)
		rmig_error("hand-over: expected COMMIT or ABORT from the source, got %s",
			   rmig_handover_kind_get_name(kind));
	rmig_error("hand-over in doubt: every page arrived and verified, but the source's "
		   "decision did not (%s).  The workload runs on neither side.  Ask the source: "
		   "if it reports completed, start here (rmig_incoming_resolve(in, true)); "
		   "otherwise discard (rmig_incoming_resolve(in, false))",
		   ret == -ETIMEDOUT ? "peer-timeout passed"
		   : ret == -ECANCELED ? "cancelled while waiting"
		   : ret == -ECONNRESET ? "the connection closed"
				      : "the connection failed");
	return -EINPROGRESS;
}

/* Refusals that mean "not the peer we wait for", after which we wait on. */
static bool peer_rejected(int ret)
{
	return ret == -EKEYREJECTED || ret == -ETIMEDOUT || ret == -ECONNRESET || ret == -EPIPE ||
	       ret == -EPROTO;
}

/*
 * Not in->conn, which holds the main connection once a multifd source's
 * channels are being set up.
 */
static void incoming_set_setup_conn(struct rmig_incoming *in, struct rmig_conn *conn)
{
	pthread_mutex_lock(&in->lock);
	in->setup_conn = conn;
	pthread_mutex_unlock(&in->lock);
}

/*
 * TLS, when asked for: nothing of the source is read, allocated or pinned
 * before it proved who it is.  @conn stays the caller's on failure.
 */
static int incoming_secure(struct rmig_incoming *in, struct rmig_conn *conn,
			   struct rmig_conn **out)
{
	struct rmig_tls_config cfg = {
		.creds_dir = in->params.tls_creds,
		.psk_file = in->params.tls_psk,
		.authz = in->params.tls_authz,
		.handshake_timeout_ms = (int)in->params.peer_timeout_ms,
	};
	int ret;

	*out = conn;
	if (!rmig_tls_wanted(&cfg))
		return 0;
	/* The handshake reads the peer: a cancel must be able to end it. */
	incoming_set_setup_conn(in, conn);
	/* A cancel that came before setup_conn was set found nothing to abort. */
	if (atomic_load(&in->cancel))
		ret = -ECANCELED;
	else
		ret = rmig_tls_server(conn, &cfg, out);
	incoming_set_setup_conn(in, NULL);
	return ret;
}

static int incoming_accept(struct rmig_incoming *in, int timeout_ms, struct rmig_conn **out)
{
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX
					   : rmig_time_now_ns() + (uint64_t)timeout_ms * RMIG_NSEC_PER_MSEC;

	for (;;) {
		uint64_t now = rmig_time_now_ns();
		int slice = INCOMING_ACCEPT_SLICE_MS, ret;
		struct rmig_conn *conn;
		char who[200];

		if (atomic_load(&in->cancel))
			return -ECANCELED;
		if (now >= deadline) {
			rmig_error("no source connected within %.1f s", (double)timeout_ms / 1e3);
			return -ETIMEDOUT;
		}
		if (deadline != UINT64_MAX && deadline - now < (uint64_t)slice * RMIG_NSEC_PER_MSEC)
			slice = (int)RMIG_DIV_ROUND_UP(deadline - now, RMIG_NSEC_PER_MSEC);
		ret = rmig_listener_accept(in->listener, slice, &conn);
		if (ret == -ETIMEDOUT)
			continue;
		/* Refused inside the transport (rdma: the peer could not prove --auth-key). */
		if (ret == -EKEYREJECTED) {
			rmig_warn("rejected a source: %s; still waiting for the source",
				  rmig_error_get_last());
			rmig_error_clear();
			continue;
		}
		if (ret)
			return ret;
		ret = incoming_secure(in, conn, out);
		if (!ret)
			return 0;
		/* A peer that could not prove itself is dropped; we wait for the right one. */
		rmig_warn("rejected %s: %s; still waiting for the source",
			  rmig_conn_describe(conn, who, sizeof(who)), rmig_error_get_last());
		rmig_conn_close(conn);
		if (atomic_load(&in->cancel))
			return -ECANCELED;
		if (!peer_rejected(ret))
			return ret;
		rmig_error_clear();
	}
}

/*
 * Exactly @len bytes from a connection that has not been handed to a
 * stream, all of them by @deadline: each read gets only the time left, so
 * a peer that trickles a byte at a time cannot stretch the wait.
 */
static int read_exact(struct rmig_conn *c, uint8_t *p, size_t len, uint64_t deadline)
{
	while (len) {
		uint64_t now = rmig_time_now_ns();
		ssize_t n;

		if (now >= deadline) {
			rmig_error("no channel hello within the time left for the channels");
			return -ETIMEDOUT;
		}
		(void)rmig_conn_set_peer_timeout(
		    c, (int)RMIG_MAX(RMIG_DIV_ROUND_UP(deadline - now, RMIG_NSEC_PER_MSEC), 1));
		n = rmig_conn_read(c, p, len);
		if (n == 0) {
			rmig_error("the connection closed before its channel hello");
			return -EPIPE;
		}
		if (n < 0)
			return (int)n;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The load_channels accept slot: take connections until each of the
 * header's channels has said hello.  A connection that is not one of them
 * (another source, a stale channel) is dropped, and the wait goes on for
 * at most peer-timeout in all.
 */
static int incoming_accept_channels(void *opaque, const struct rmig_stream_header *h,
				    struct rmig_conn **conns)
{
	struct rmig_incoming *in = opaque;
	uint64_t deadline = rmig_time_now_ns() + in->params.peer_timeout_ms * RMIG_NSEC_PER_MSEC;
	uint32_t have = 0;
	int ret = 0;

	memset(conns, 0, h->channels * sizeof(*conns));
	while (have < h->channels) {
		uint64_t now = rmig_time_now_ns();
		struct rmig_channel_hello hello;
		uint8_t msg[RMIG_CHANNEL_HELLO_SIZE];
		struct rmig_conn *conn;
		char who[200];

		if (now >= deadline) {
			rmig_error("only %u of the %u multifd channels connected within %llu ms "
				   "(peer-timeout)",
				   have, h->channels, (unsigned long long)in->params.peer_timeout_ms);
			ret = -ETIMEDOUT;
			break;
		}
		ret = incoming_accept(in, (int)RMIG_DIV_ROUND_UP(deadline - now, RMIG_NSEC_PER_MSEC),
				      &conn);
		if (ret == -ETIMEDOUT) {
			rmig_error_clear(); /* "no source connected": the loop says what was missing */
			continue;
		}
		if (ret)
			break;
		/* The hello inside what is left of the wait, and a cancel able to end it. */
		incoming_set_setup_conn(in, conn);
		ret = atomic_load(&in->cancel) ? -ECANCELED
					       : read_exact(conn, msg, sizeof(msg), deadline);
		incoming_set_setup_conn(in, NULL);
		(void)rmig_conn_set_peer_timeout(conn, (int)in->params.peer_timeout_ms);
		if (!ret)
			ret = rmig_channel_hello_decode(msg, h, &hello);
		if (!ret && conns[hello.index]) {
			rmig_error("multifd channel %u connected twice", hello.index);
			ret = -EPROTO;
		}
		if (ret) {
			rmig_warn("dropped %s: %s; still waiting for multifd channels",
				  rmig_conn_describe(conn, who, sizeof(who)), rmig_error_get_last());
			/* Not ours: no gentle close, which would wait for its peer's. */
			rmig_conn_abort(conn);
			rmig_conn_close(conn);
			if (ret == -ECANCELED || atomic_load(&in->cancel)) {
				ret = -ECANCELED;
				break;
			}
			rmig_error_clear();
			ret = 0;
			continue;
		}
		conns[hello.index] = conn;
		have++;
	}
	if (ret) {
		for (uint32_t i = 0; i < h->channels; i++)
			if (conns[i])
				rmig_conn_close(conns[i]);
	}
	return ret;
}

static void incoming_channels_running(void *opaque, struct rmig_mfd_recv *mr)
{
	struct rmig_incoming *in = opaque;

	pthread_mutex_lock(&in->lock);
	in->mfd = mr;
	pthread_mutex_unlock(&in->lock);
	/* A cancel that came before in->mfd was set found no channel to abort. */
	if (mr && atomic_load(&in->cancel))
		rmig_mfd_recv_abort(mr);
}

int rmig_incoming_run(struct rmig_incoming *in, int accept_timeout_ms)
{
	const struct rmig_load_channels channels = {
		.accept = incoming_accept_channels,
		.running = incoming_channels_running,
		.opaque = in,
		.numa_node = in->params.numa_node,
	};
	struct rmig_conn *conn = NULL;
	struct rmig_stream stream;
	enum rmig_state s;
	bool cancel;
	int ret;

	if (!in->listener) {
		rmig_error("incoming: not listening");
		return -ENOTCONN;
	}
	rmig_error_clear();
	atomic_store(&in->start_ns, rmig_time_now_ns());
	ret = rmig_state_transition(&in->sm, RMIG_STATE_NONE, RMIG_STATE_SETUP);
	if (ret) {
		rmig_error("incoming: already used (state %s)",
			   rmig_state_get_name(rmig_state_get(&in->sm)));
		return -EBUSY;
	}
	ret = incoming_accept(in, accept_timeout_ms, &conn);
	if (ret)
		goto out;
	pthread_mutex_lock(&in->lock);
	in->conn = conn;
	pthread_mutex_unlock(&in->lock);
	rmig_fault_dest(RMIG_FAULT_SETUP, incoming_fault_cancel, in);
	if (atomic_load(&in->cancel)) {
		ret = -ECANCELED;
		goto out_close;
	}
	ret = rmig_stream_init(&stream, conn, 0);
	if (ret)
		goto out_close;
	stream.peer_timeout_ms = in->params.peer_timeout_ms;
	stream.max_ram = in->params.max_ram;
	if (rmig_state_transition(&in->sm, RMIG_STATE_SETUP, RMIG_STATE_ACTIVE)) {
		ret = -ECANCELED;
		goto out_fini_stream;
	}
	atomic_store(&in->stats.total, 0);
	/* fd: has one connection; its listener says so if a source asks for more. */
	ret = rmig_load_channels(&stream, in->ram, &in->stats, &in->load_info, &channels);
	if (!ret)
		atomic_store(&in->stats.total, rmig_ram_get_total_bytes(in->ram));
	/* Only an rmig source waits for it; a QEMU source (plain RDMA v1) would not parse it. */
	if (ret && ret != -ECANCELED && in->load_info.header_ok)
		incoming_send_failure(conn, ret);
	else if (!ret)
		ret = incoming_handover(in, &stream);

out_fini_stream:
	rmig_stream_fini(&stream);
out_close:
	pthread_mutex_lock(&in->lock);
	in->conn = NULL;
	pthread_mutex_unlock(&in->lock);
	rmig_conn_close(conn);
out:
	atomic_store(&in->end_ns, rmig_time_now_ns());
	if (ret == -EINPROGRESS) {
		/* From active or cancelling alike: a cancel cannot undo what the source may have done. */
		incoming_set_error(in, ret);
		s = rmig_state_get(&in->sm);
		while (rmig_state_transition(&in->sm, s, RMIG_STATE_IN_DOUBT) == -EBUSY)
			s = rmig_state_get(&in->sm);
		return ret;
	}
	if (!ret) {
		/* The source committed: a cancel that landed meanwhile is too late. */
		rmig_fault_dest(RMIG_FAULT_AFTER_COMMIT, incoming_fault_cancel, in);
		if (in->start)
			in->start(in->start_opaque);
		do
			s = rmig_state_get(&in->sm);
		while (rmig_state_transition(&in->sm, s, RMIG_STATE_COMPLETED) == -EBUSY);
		return 0;
	}
	/*
	 * A cancel that came before the state could show it (in none, or
	 * just before its swap) ends cancelled too; anything else that failed
	 * says why, so no "failed" is ever without a reason.
	 */
	cancel = atomic_load(&in->cancel);
	if (cancel)
		ret = -ECANCELED;
	else
		incoming_set_error(in, ret);
	for (;;) {
		s = rmig_state_get(&in->sm);
		if (s == RMIG_STATE_CANCELLING) {
			rmig_state_transition(&in->sm, s, RMIG_STATE_CANCELLED);
			break;
		}
		if (cancel && (s == RMIG_STATE_SETUP || s == RMIG_STATE_ACTIVE)) {
			rmig_state_transition(&in->sm, s, RMIG_STATE_CANCELLING);
			continue;
		}
		if (rmig_state_transition(&in->sm, s, RMIG_STATE_FAILED) != -EBUSY)
			break;
	}
	return ret;
}

void rmig_incoming_cancel(struct rmig_incoming *in)
{
	enum rmig_state s;
	uint64_t one = 1;

	atomic_store(&in->cancel, true);
	if (write(in->cancel_fd, &one, sizeof(one)) < 0) {
		/* Only a full counter fails, and that is readable already. */
	}
	do {
		s = rmig_state_get(&in->sm);
		if (s != RMIG_STATE_SETUP && s != RMIG_STATE_ACTIVE)
			break;
	} while (rmig_state_transition(&in->sm, s, RMIG_STATE_CANCELLING) == -EBUSY);
	pthread_mutex_lock(&in->lock);
	if (in->conn)
		rmig_conn_abort(in->conn);
	if (in->setup_conn)
		rmig_conn_abort(in->setup_conn);
	rmig_mfd_recv_abort(in->mfd);
	pthread_mutex_unlock(&in->lock);
}

void rmig_incoming_set_start(struct rmig_incoming *in, rmig_incoming_start_fn fn, void *opaque)
{
	in->start = fn;
	in->start_opaque = opaque;
}

int rmig_incoming_set_param(struct rmig_incoming *in, const char *name, const char *value)
{
	if (rmig_state_get(&in->sm) != RMIG_STATE_NONE) {
		rmig_error("incoming: parameters cannot change once it runs");
		return -EBUSY;
	}
	return rmig_params_set(&in->params, name, value);
}

int rmig_incoming_resolve(struct rmig_incoming *in, bool start)
{
	int ret;

	if (rmig_state_get(&in->sm) != RMIG_STATE_IN_DOUBT) {
		rmig_error("incoming: nothing to resolve (state %s, not in-doubt)",
			   rmig_state_get_name(rmig_state_get(&in->sm)));
		return -EBUSY;
	}
	/* The transition first: of two racing resolves exactly one wins, and only it starts. */
	ret = rmig_state_transition(&in->sm, RMIG_STATE_IN_DOUBT,
				    start ? RMIG_STATE_COMPLETED : RMIG_STATE_FAILED);
	if (ret == 0 && start && in->start)
		in->start(in->start_opaque);
	return ret;
}

enum rmig_state rmig_incoming_get_state(struct rmig_incoming *in)
{
	return rmig_state_get(&in->sm);
}

int rmig_incoming_get_error(struct rmig_incoming *in)
{
	int err;

	pthread_mutex_lock(&in->lock);
	err = in->error;
	pthread_mutex_unlock(&in->lock);
	return err;
}

void rmig_incoming_query(struct rmig_incoming *in, struct rmig_info *info)
{
	const struct rmig_stats *st = &in->stats;
	uint64_t start = atomic_load(&in->start_ns), end = atomic_load(&in->end_ns);
	uint64_t active = rmig_state_entered_ns(&in->sm, RMIG_STATE_ACTIVE), elapsed = 0;

	memset(info, 0, sizeof(*info));
	info->status = rmig_state_get(&in->sm);
	if (start) {
		/* The clock starts when the source connects, not while we idle in accept. */
		uint64_t from = active >= start ? active : start;

		elapsed = (end ? end : rmig_time_now_ns()) - from;
		if (end && end < from)
			elapsed = 0;
		info->total_time_ms = elapsed / RMIG_NSEC_PER_MSEC;
	}
	info->ram.transferred = atomic_load(&st->transferred);
	info->ram.total = atomic_load(&st->total);
	info->ram.duplicate = atomic_load(&st->duplicate);
	info->ram.normal = atomic_load(&st->normal);
	info->ram.normal_bytes = atomic_load(&st->normal_bytes);
	/* Not from in->ram: the loader may be allocating its blocks right now. */
	info->ram.page_size = atomic_load(&st->page_size);
	info->ram.dirty_sync_count = atomic_load(&st->dirty_sync_count);
	rmig_stats_get_pinning(st, info);
	rmig_stats_get_multifd(st, info);
	if (elapsed)
		info->ram.mbps = (double)info->ram.transferred * 8.0 * 1e3 / (double)elapsed;
	if (info->status == RMIG_STATE_FAILED || info->status == RMIG_STATE_IN_DOUBT) {
		pthread_mutex_lock(&in->lock);
		snprintf(info->error_desc, sizeof(info->error_desc), "%s", in->error_desc);
		pthread_mutex_unlock(&in->lock);
	}
}

const struct rmig_load_info *rmig_incoming_load_info(struct rmig_incoming *in)
{
	return &in->load_info;
}
