/* SPDX-License-Identifier: MIT */
/*
 * The source-side migration object: its lifetime, configuration, cancel and
 * query.  What the migration thread actually does lives in save.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/base/util.h"
#include "common/engine/migration_int.h"
#include "common/engine/transports.h"
#include "plugin/registry.h"
#include "plugin/tls.h"

/* With m->lock held: what the migration thread reads live follows params. */
static void migration_publish_live(struct rmig_migration *m)
{
	atomic_store(&m->live.max_bandwidth, m->params.max_bandwidth);
	atomic_store(&m->live.downtime_limit_ms, m->params.downtime_limit_ms);
	atomic_store(&m->live.cpu_throttle_initial, m->params.cpu_throttle_initial);
	atomic_store(&m->live.cpu_throttle_increment, m->params.cpu_throttle_increment);
	atomic_store(&m->live.max_cpu_throttle, m->params.max_cpu_throttle);
}

struct rmig_migration *rmig_migration_new(struct rmig_ram *ram, const struct rmig_embedder *emb)
{
	struct rmig_migration *m;

	if (!ram || !emb || !emb->stop || !emb->cont) {
		rmig_error("migration: a RAM registry and an embedder with stop/cont are required");
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		rmig_error("migration: out of memory");
		return NULL;
	}
	m->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->cancel_fd < 0) {
		rmig_error("migration: eventfd: %s", strerror(errno));
		goto err_free;
	}
	m->ram = ram;
	m->emb = *emb;
	rmig_state_init(&m->sm);
	rmig_stats_init(&m->stats);
	rmig_params_init(&m->params);
	migration_publish_live(m);
	pthread_mutex_init(&m->lock, NULL);
	return m;

err_free:
	free(m);
	return NULL;
}

void rmig_migration_free(struct rmig_migration *m)
{
	if (!m)
		return;
	if (m->thread_started) {
		rmig_migration_cancel(m);
		rmig_migration_wait(m);
	}
	close(m->cancel_fd);
	pthread_mutex_destroy(&m->lock);
	rmig_state_destroy(&m->sm);
	free(m->uri);
	free(m);
}

/*
 * Under m->lock: the state, with a start() that has claimed the migration
 * but not yet entered SETUP counted as SETUP.
 */
static enum rmig_state migration_state_locked(struct rmig_migration *m)
{
	enum rmig_state s = rmig_state_get(&m->sm);

	return s == RMIG_STATE_NONE && m->starting ? RMIG_STATE_SETUP : s;
}

/* Under m->lock.  Configuration may change only before the migration starts or after it ends. */
static int migration_check_idle(struct rmig_migration *m, const char *what)
{
	enum rmig_state s = migration_state_locked(m);

	if (s == RMIG_STATE_SETUP || s == RMIG_STATE_ACTIVE || s == RMIG_STATE_CANCELLING) {
		rmig_error("cannot change %s while a migration is %s", what, rmig_state_get_name(s));
		return -EBUSY;
	}
	return 0;
}

int rmig_migration_set_capability(struct rmig_migration *m, enum rmig_capability cap, bool on)
{
	int ret;

	if ((unsigned)cap >= RMIG_CAP__COUNT) {
		rmig_error("unknown capability %d", (int)cap);
		return -EINVAL;
	}
	pthread_mutex_lock(&m->lock);
	ret = migration_check_idle(m, rmig_capability_get_name(cap));
	if (!ret)
		m->params.caps[cap] = on;
	pthread_mutex_unlock(&m->lock);
	return ret;
}

int rmig_migration_set_param(struct rmig_migration *m, const char *name, const char *value)
{
	struct rmig_params p;
	enum rmig_state s;
	int ret;

	pthread_mutex_lock(&m->lock);
	s = migration_state_locked(m);
	if ((s == RMIG_STATE_SETUP || s == RMIG_STATE_ACTIVE) && !rmig_params_is_live(name)) {
		rmig_error("cannot change %s while a migration is %s: only " RMIG_PARAMS_LIVE_NAMES
			   " can change then",
			   name ? name : "(null)", rmig_state_get_name(s));
		ret = -EBUSY;
		goto out_unlock;
	}
	if (s == RMIG_STATE_CANCELLING) {
		ret = migration_check_idle(m, name);
		goto out_unlock;
	}
	p = m->params;
	ret = rmig_params_set(&p, name, value);
	if (!ret) {
		m->params = p;
		migration_publish_live(m);
	}
out_unlock:
	pthread_mutex_unlock(&m->lock);
	return ret;
}

int rmig_migration_set_params(struct rmig_migration *m, const struct rmig_params *p)
{
	int ret;

	pthread_mutex_lock(&m->lock);
	ret = migration_check_idle(m, "parameters");
	if (!ret)
		ret = rmig_params_validate(p);
	if (!ret) {
		m->params = *p;
		migration_publish_live(m);
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

void rmig_migration_get_params(struct rmig_migration *m, struct rmig_params *p)
{
	pthread_mutex_lock(&m->lock);
	*p = m->params;
	pthread_mutex_unlock(&m->lock);
}

uint64_t rmig_migration_get_sync_count(struct rmig_migration *m)
{
	return atomic_load(&m->stats.dirty_sync_count);
}

int rmig_migration_add_listener(struct rmig_migration *m, rmig_state_listener_fn fn, void *opaque)
{
	return rmig_state_add_listener(&m->sm, fn, opaque);
}

int rmig_migration_check_config(const struct rmig_params *p, const char *uri)
{
	const struct rmig_tls_config cfg = {
		.creds_dir = p->tls_creds,
		.psk_file = p->tls_psk,
		.hostname = p->tls_hostname[0] ? p->tls_hostname : "-",
	};
	int ret = rmig_params_validate(p);

	if (!ret)
		ret = rmig_params_check_uri(p, uri);
	if (ret)
		return ret;
	/* x509 checks a host name: a URI without one needs tls-hostname, said before connecting. */
	if (p->tls_creds[0] && !p->tls_hostname[0]) {
		char host[RMIG_PARAM_NAME_MAX];

		if (rmig_tls_uri_host(uri, host, sizeof(host)) < 0) {
			rmig_error("TLS: %s names no host to check the destination's certificate "
				   "against: give --tls-hostname",
				   uri);
			return -EINVAL;
		}
	}
	return rmig_tls_check(&cfg, false);
}

int rmig_migration_start(struct rmig_migration *m, const char *uri)
{
	int ret;

	if (!uri || !*uri) {
		rmig_error("migration: no destination URI given");
		return -EINVAL;
	}
	/* An embedder need not know about transports: the built-ins and modules come here. */
	ret = rmig_transport_init_all();
	if (ret)
		return ret;
	pthread_mutex_lock(&m->lock);
	/* Before anything is changed: the running migration's thread reads m->uri. */
	if (m->starting || rmig_state_get(&m->sm) != RMIG_STATE_NONE) {
		rmig_error("migration: already started (state %s); a migration runs once",
			   rmig_state_get_name(migration_state_locked(m)));
		ret = -EBUSY;
		goto out_unlock;
	}
	ret = rmig_migration_check_config(&m->params, uri);
	if (ret)
		goto out_unlock;
	if (m->ram->nblocks == 0) {
		rmig_error("migration: there is no RAM to migrate");
		ret = -EINVAL;
		goto out_unlock;
	}
	free(m->uri);
	m->uri = strdup(uri);
	if (!m->uri) {
		ret = -ENOMEM;
		goto out_unlock;
	}
	m->starting = true;
	pthread_mutex_unlock(&m->lock);

	/* Listeners hear about SETUP before the thread exists, so they can prepare. */
	atomic_store(&m->start_ns, rmig_time_now_ns());
	ret = rmig_state_transition(&m->sm, RMIG_STATE_NONE, RMIG_STATE_SETUP);
	if (ret) {
		rmig_error("migration: already started (state %s)",
			   rmig_state_get_name(rmig_state_get(&m->sm)));
		return -EBUSY;
	}
	ret = pthread_create(&m->thread, NULL, rmig_save_thread, m);
	if (ret) {
		rmig_error("migration: cannot start the migration thread: %s", strerror(ret));
		atomic_store(&m->end_ns, rmig_time_now_ns());
		/* Set first: listeners told of FAILED read it. */
		rmig_migration_set_error(m, -ret);
		/* A cancel that came meanwhile has no thread to finish it: finish it here. */
		if (rmig_state_transition(&m->sm, RMIG_STATE_SETUP, RMIG_STATE_FAILED)) {
			rmig_migration_clear_error(m);
			rmig_state_transition(&m->sm, RMIG_STATE_CANCELLING, RMIG_STATE_CANCELLED);
		}
		return -ret;
	}
	m->thread_started = true;
	return 0;

out_unlock:
	pthread_mutex_unlock(&m->lock);
	return ret;
}

int rmig_migration_cancel(struct rmig_migration *m)
{
	uint64_t one = 1;
	enum rmig_state s;

	/*
	 * Retry the CAS until it lands or the state is one we cannot cancel
	 * from: the thread may move setup -> active under our feet.
	 */
	for (;;) {
		int r;

		s = rmig_state_get(&m->sm);
		if (s != RMIG_STATE_SETUP && s != RMIG_STATE_ACTIVE)
			return s == RMIG_STATE_CANCELLING ? 0 : -EBUSY;
		r = rmig_state_transition(&m->sm, s, RMIG_STATE_CANCELLING);
		if (r == 0)
			break;
		/* Anything but a lost race (-EDEADLK from inside a listener) will not pass by retrying. */
		if (r != -EBUSY)
			return r;
	}
	atomic_store(&m->cancel_requested, true);
	if (write(m->cancel_fd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow with one write per cancel; ignore. */
	}
	pthread_mutex_lock(&m->lock);
	if (m->conn && !(atomic_load(&m->awaiting_result) && rmig_conn_interrupt(m->conn)))
		rmig_conn_abort(m->conn);
	if (m->setup_conn)
		rmig_conn_abort(m->setup_conn);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

enum rmig_state rmig_migration_wait(struct rmig_migration *m)
{
	if (m->thread_started) {
		pthread_join(m->thread, NULL);
		m->thread_started = false;
	}
	return rmig_state_get(&m->sm);
}

enum rmig_state rmig_migration_get_state(struct rmig_migration *m)
{
	return rmig_state_get(&m->sm);
}

void rmig_migration_set_error(struct rmig_migration *m, int err)
{
	pthread_mutex_lock(&m->lock);
	if (!m->error) {
		m->error = err;
		snprintf(m->error_desc, sizeof(m->error_desc), "%s",
			 *rmig_error_get_last() ? rmig_error_get_last() : strerror(-err));
	}
	pthread_mutex_unlock(&m->lock);
}

void rmig_migration_clear_error(struct rmig_migration *m)
{
	pthread_mutex_lock(&m->lock);
	m->error = 0;
	m->error_desc[0] = '\0';
	pthread_mutex_unlock(&m->lock);
}

int rmig_migration_get_error(struct rmig_migration *m)
{
	int err;

	pthread_mutex_lock(&m->lock);
	err = m->error;
	pthread_mutex_unlock(&m->lock);
	return err;
}

static uint64_t ns_to_ms(uint64_t ns)
{
	return ns / RMIG_NSEC_PER_MSEC;
}

void rmig_migration_query(struct rmig_migration *m, struct rmig_info *info)
{
	const struct rmig_stats *st = &m->stats;
	uint64_t now = rmig_time_now_ns(), start, end, active, stop, elapsed_ns;

	memset(info, 0, sizeof(*info));
	info->status = rmig_state_get(&m->sm);
	start = atomic_load(&m->start_ns);
	end = atomic_load(&m->end_ns);
	active = rmig_state_entered_ns(&m->sm, RMIG_STATE_ACTIVE);
	stop = atomic_load(&m->stop_ns);

	if (start) {
		elapsed_ns = (end ? end : now) - start;
		info->total_time_ms = ns_to_ms(elapsed_ns);
		if (active >= start)
			info->setup_time_ms = ns_to_ms(active - start);
	} else {
		elapsed_ns = 0;
	}
	if (info->status == RMIG_STATE_COMPLETED && stop && end >= stop) {
		info->downtime_ms = ns_to_ms(end - stop);
		info->has_downtime = true;
	}
	if (info->status == RMIG_STATE_ACTIVE) {
		info->expected_downtime_ms = atomic_load(&st->expected_downtime_ms);
		info->has_expected_downtime = true;
	}
	info->throttle_pct = atomic_load(&st->throttle_pct);
	info->ram.transferred = atomic_load(&st->transferred);
	info->ram.remaining = atomic_load(&st->remaining);
	info->ram.total = atomic_load(&st->total);
	info->ram.duplicate = atomic_load(&st->duplicate);
	info->ram.normal = atomic_load(&st->normal);
	info->ram.normal_bytes = atomic_load(&st->normal_bytes);
	info->ram.dirty_pages_rate = atomic_load(&st->dirty_pages_rate);
	info->ram.dirty_sync_count = atomic_load(&st->dirty_sync_count);
	info->ram.page_size = atomic_load(&st->page_size);
	info->ram.pages_per_second = atomic_load(&st->pages_per_second);
	/* Read after transferred, so the split never exceeds it. */
	info->ram.precopy_bytes = stop ? atomic_load(&st->precopy_bytes) : info->ram.transferred;
	if (info->ram.precopy_bytes > info->ram.transferred)
		info->ram.precopy_bytes = info->ram.transferred;
	info->ram.downtime_bytes = info->ram.transferred - info->ram.precopy_bytes;
	rmig_stats_get_pinning(st, info);
	rmig_stats_get_multifd(st, info);
	if (rmig_state_is_terminal(info->status)) {
		/*
		 * Like QEMU's final mbps: the average over the transfer, setup
		 * left out (where RDMA connects and pin-all registers memory).
		 */
		uint64_t xfer_ns = elapsed_ns;

		if (active >= start && start && end > active)
			xfer_ns = end - active;
		if (xfer_ns)
			info->ram.mbps = (double)info->ram.transferred * 8.0 * 1e3 / (double)xfer_ns;
	} else {
		info->ram.mbps = (double)atomic_load(&st->bandwidth) * 8.0 / 1e6;
	}
	if (info->status == RMIG_STATE_FAILED) {
		pthread_mutex_lock(&m->lock);
		snprintf(info->error_desc, sizeof(info->error_desc), "%s", m->error_desc);
		pthread_mutex_unlock(&m->lock);
	}
}
