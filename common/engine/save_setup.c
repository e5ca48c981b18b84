/* SPDX-License-Identifier: MIT */
/*
 * The migration thread's SETUP: connect to the destination, secure the
 * connection when TLS is asked for, send the stream header, open the
 * multifd channels, and run the transport's SETUP hook (RDMA exchanges
 * blocks and pins there).  setup-time counts all of it.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "common/engine/fault.h"
#include "common/engine/format.h"
#include "common/engine/save_int.h"
#include "plugin/registry.h"
#include "plugin/tls.h"

static void save_tick(void *opaque)
{
	rmig_save_ping(opaque);
}

/*
 * TLS on @conn when asked for (*@out = @conn otherwise).  @conn stays the
 * caller's either way.
 */
static int save_tls_client(struct save_ctx *c, struct rmig_conn *conn, struct rmig_conn **out)
{
	struct rmig_tls_config cfg = {
		.creds_dir = c->params.tls_creds,
		.psk_file = c->params.tls_psk,
		.hostname = c->params.tls_hostname,
		.handshake_timeout_ms = (int)c->params.peer_timeout_ms,
	};
	char host[RMIG_PARAM_NAME_MAX];

	*out = conn;
	if (!rmig_tls_wanted(&cfg))
		return 0;
	if (!cfg.hostname[0] && rmig_tls_uri_host(c->m->uri, host, sizeof(host)) == 0)
		cfg.hostname = host;
	return rmig_tls_client(conn, &cfg, out);
}

/*
 * TLS, when asked for: the handshake is part of connecting, so setup-time
 * counts it, and no byte of the stream leaves before the destination
 * proved who it is (and accepted us).
 */
static int save_secure(struct save_ctx *c)
{
	struct rmig_migration *m = c->m;
	struct rmig_conn *tls;
	int ret = save_tls_client(c, c->conn, &tls);

	if (ret || tls == c->conn)
		return ret;
	pthread_mutex_lock(&m->lock);
	m->conn = tls;
	pthread_mutex_unlock(&m->lock);
	c->conn = tls;
	return rmig_save_cancelled(c) ? -ECANCELED : 0;
}

/* Connect, and with TLS secure, one more connection to the destination. */
static int save_connect(struct save_ctx *c, struct rmig_conn **out)
{
	struct rmig_conn_opts opts = {
		.size = sizeof(opts),
		.cancel_fd = c->m->cancel_fd,
		.duplex = true,
		.peer_timeout_ms = (int)c->params.peer_timeout_ms,
	};
	struct rmig_conn *conn;
	int ret;

	ret = rmig_conn_open(c->m->uri, &opts, &conn);
	if (ret)
		return ret;
	pthread_mutex_lock(&c->m->lock);
	c->m->setup_conn = conn;
	pthread_mutex_unlock(&c->m->lock);
	/* A cancel that came before setup_conn was set found nothing to abort. */
	ret = rmig_save_cancelled(c) ? -ECANCELED : save_tls_client(c, conn, out);
	pthread_mutex_lock(&c->m->lock);
	c->m->setup_conn = NULL;
	pthread_mutex_unlock(&c->m->lock);
	if (ret)
		rmig_conn_close(conn);
	return ret;
}

/*
 * multifd: the header announced the channels and the session; now connect
 * them.  setup-time counts this, as it counts the main connection.
 */
static int save_open_channels(struct save_ctx *c, const uint8_t *session)
{
	struct rmig_mfd_send_config cfg = {
		.channels = c->params.multifd_channels,
		.zero_pages = c->params.caps[RMIG_CAP_ZERO_PAGES],
		.ping_interval_ms = c->ping_interval_ms,
		.stats = &c->m->stats,
		.cancel = &c->m->cancel_requested,
		.max_bandwidth = &c->m->live.max_bandwidth,
		.numa = true,
		.numa_node = c->params.numa_node,
		.tick = save_tick,
		.tick_opaque = c,
	};
	int ret = rmig_mfd_send_new(&cfg, &c->mfd);

	atomic_store(&c->m->stats.channels, cfg.channels);
	for (uint32_t i = 0; !ret && i < cfg.channels; i++) {
		struct rmig_conn *conn;

		ret = save_connect(c, &conn);
		if (!ret)
			ret = rmig_mfd_send_add(c->mfd, i, conn, session);
		rmig_save_ping(c);
	}
	if (!ret && rmig_save_cancelled(c))
		ret = -ECANCELED;
	return ret;
}

int rmig_save_setup(struct save_ctx *c)
{
	struct rmig_migration *m = c->m;
	struct rmig_conn_opts opts = {
		.size = sizeof(opts),
		.rdma_pin_all = c->params.caps[RMIG_CAP_RDMA_PIN_ALL],
		.cancel_fd = m->cancel_fd,
		.duplex = true,
		.peer_timeout_ms = (int)c->params.peer_timeout_ms,
		.rdma_max_pinned = c->params.rdma_max_pinned,
		.auth_key = c->params.auth_key[0] ? c->params.auth_key : NULL,
		.rdma_channels = c->params.caps[RMIG_CAP_MULTIFD] ? c->params.multifd_channels : 1,
		.rdma_numa_node = c->params.numa_node,
	};
	struct rmig_conn *conn;
	int ret;

	ret = rmig_conn_open(m->uri, &opts, &conn);
	if (ret)
		return ret;
	pthread_mutex_lock(&m->lock);
	m->conn = conn;
	pthread_mutex_unlock(&m->lock);
	c->conn = conn;
	/* A cancel that came while we were connecting found no conn to abort. */
	if (rmig_save_cancelled(c))
		return -ECANCELED;
	rmig_fault_source(RMIG_FAULT_SETUP, rmig_save_fault_cancel, m);
	ret = save_secure(c);
	if (ret)
		return ret;
	conn = c->conn;

	ret = rmig_stream_init(&c->stream, conn, 0);
	if (ret)
		return ret;
	c->hooks = rmig_conn_has_ram_hooks(conn);
	if (c->hooks) {
		ret = rmig_conn_ram_attach(conn, m->ram);
		if (ret)
			return ret;
	}
	/*
	 * A transport that places pages itself (rdma:) took the channels at
	 * connect, as its own queue pairs: the stream opens none.
	 */
	if (c->hooks)
		c->flags &= ~RMIG_STREAM_F_MULTIFD;
	ret = rmig_format_write_header(&c->stream, c->flags, m->ram);
	if (ret)
		return ret;
	if (c->flags & RMIG_STREAM_F_MULTIFD) {
		uint8_t session[RMIG_MULTIFD_SESSION_SIZE];

		/* Not a secret (TLS guards the channels): it only tells our channels from others'. */
		if (getrandom(session, sizeof(session), 0) != (ssize_t)sizeof(session)) {
			rmig_error("multifd: no random session id: %s", strerror(errno));
			return -errno;
		}
		ret = rmig_format_write_channels(&c->stream, c->params.multifd_channels, session);
		/* The destination learns of the channels from the header: it goes first. */
		if (!ret)
			ret = rmig_stream_flush(&c->stream);
		if (!ret)
			ret = save_open_channels(c, session);
		if (ret)
			return ret;
	}
	if (c->hooks) {
		/* RDMA connects, exchanges blocks and pins here: setup-time counts it. */
		struct rmig_record hook = { .type = RMIG_REC_HOOK, .arg = RMIG_RAM_PHASE_SETUP };
		struct rmig_ram_counters acc = { 0 };

		ret = rmig_format_write_record(&c->stream, &hook);
		if (!ret)
			ret = rmig_stream_flush(&c->stream);
		if (!ret)
			ret = rmig_conn_ram_before_iterate(conn, RMIG_RAM_PHASE_SETUP);
		if (!ret)
			ret = rmig_conn_ram_after_iterate(conn, RMIG_RAM_PHASE_SETUP, &acc);
		if (ret)
			return ret;
		rmig_save_account(c, &acc);
	}
	ret = rmig_stream_flush(&c->stream);
	rmig_save_publish_bytes(c);
	return ret;
}

