/* SPDX-License-Identifier: MIT */
/*
 * The rmig tool's QMP target (see monitor.h).
 *
 * Two rules shape the guest commands.  The workload must never run twice:
 * once a migration completed, the source refuses cont, because the
 * destination owns the workload now.  And a migration owns the guest's
 * run state while it runs: stop and cont are refused then, so the
 * engine's own stop (for the final round) and cont (after a failure) are
 * never undone behind its back.
 */
#include "tools/monitor.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rmig/log.h>

#include "plugin/registry.h"

static struct cli_monitor *mon_of(void *t)
{
	return t;
}

static bool migration_running(enum rmig_state st)
{
	return st == RMIG_STATE_SETUP || st == RMIG_STATE_ACTIVE || st == RMIG_STATE_CANCELLING;
}

static void get_params(void *t, struct rmig_params *p)
{
	struct cli_monitor *mon = mon_of(t);

	pthread_mutex_lock(&mon->lock);
	*p = mon->params;
	pthread_mutex_unlock(&mon->lock);
}

/* Keep the mirror in step with what the library accepted. */
static void note_param(struct cli_monitor *mon, const char *name, const char *value)
{
	pthread_mutex_lock(&mon->lock);
	rmig_params_set(&mon->params, name, value);
	pthread_mutex_unlock(&mon->lock);
}

static void note_cap(struct cli_monitor *mon, enum rmig_capability cap, bool on)
{
	pthread_mutex_lock(&mon->lock);
	mon->params.caps[cap] = on;
	pthread_mutex_unlock(&mon->lock);
}

static void note_uri(struct cli_monitor *mon, const char *uri)
{
	pthread_mutex_lock(&mon->lock);
	snprintf(mon->uri, sizeof(mon->uri), "%s", uri);
	pthread_mutex_unlock(&mon->lock);
}

static void quit(void *t)
{
	atomic_store(&mon_of(t)->quit, true);
}

/* ---- the source ------------------------------------------------------- */

static enum qmp_role src_role(void *t)
{
	(void)t;
	return QMP_ROLE_SOURCE;
}

static void src_query(void *t, struct rmig_info *info)
{
	rmig_migration_query(mon_of(t)->src->mig, info);
}

static int src_set_cap(void *t, enum rmig_capability cap, bool on)
{
	struct cli_monitor *mon = mon_of(t);
	int rc = rmig_migration_set_capability(mon->src->mig, cap, on);

	if (!rc)
		note_cap(mon, cap, on);
	return rc;
}

static int src_set_param(void *t, const char *name, const char *value)
{
	struct cli_monitor *mon = mon_of(t);
	int rc = rmig_migration_set_param(mon->src->mig, name, value);

	if (!rc)
		note_param(mon, name, value);
	return rc;
}

/*
 * fd:N must not name the monitor's own descriptors: a migration over its
 * client socket, say, would read QMP and then close it under the server.
 */
static int refuse_own_fd(const struct cli_monitor *mon, const char *uri)
{
	char *end;
	long fd;

	if (strncmp(uri, "fd:", 3) != 0)
		return 0;
	fd = strtol(uri + 3, &end, 10);
	if (end == uri + 3 || *end || fd < 0 || fd > INT_MAX || !qmp_server_owns_fd(mon->srv, (int)fd))
		return 0;
	rmig_error("fd:%ld is a descriptor of the QMP monitor itself, not a migration stream", fd);
	return -EINVAL;
}

static int src_migrate(void *t, const char *uri)
{
	struct cli_monitor *mon = mon_of(t);
	const struct rmig_transport_ops *ops;
	const char *addr;
	int rc;

	if (atomic_load(&mon->quit)) {
		rmig_error("rmig is quitting");
		return -ESHUTDOWN;
	}
	if (atomic_load(&mon->started)) {
		rmig_error("a migration was already started by this rmig (to %s); run another "
			   "rmig for another migration",
			   cli_monitor_uri(mon));
		return -EBUSY;
	}
	if (atomic_load(&mon->user_paused)) {
		rmig_error("the guest is paused (stop): cont it before migrating it");
		return -EBUSY;
	}
	/* A bad scheme is the command's error, and leaves the source free to try again. */
	rc = rmig_transport_resolve(uri, &ops, &addr);
	if (!rc)
		rc = refuse_own_fd(mon, uri);
	if (rc)
		return rc;
	note_uri(mon, uri);
	rc = cli_source_start(mon->src, uri);
	if (rc)
		return rc;
	atomic_store(&mon->started, true);
	return 0;
}

static int src_cancel(void *t)
{
	struct cli_monitor *mon = mon_of(t);

	if (migration_running(rmig_migration_get_state(mon->src->mig)))
		rmig_migration_cancel(mon->src->mig);
	return 0;
}

static void src_run_status(void *t, struct qmp_run_status *st)
{
	struct cli_monitor *mon = mon_of(t);
	enum rmig_state ms = rmig_migration_get_state(mon->src->mig);

	st->running = false;
	if (atomic_load(&mon->user_paused)) {
		st->status = "paused";
	} else if (ms == RMIG_STATE_COMPLETED) {
		st->status = "postmigrate";
	} else if (rmig_guest_is_running(mon->src->guest)) {
		st->running = true;
		st->status = "running";
	} else {
		st->status = migration_running(ms) ? "finish-migrate" : "paused";
	}
}

/* stop and cont: only while no migration owns the guest, and never to run it twice. */
static int src_guest_allowed(struct cli_monitor *mon, const char *cmd)
{
	enum rmig_state ms = rmig_migration_get_state(mon->src->mig);

	if (ms == RMIG_STATE_COMPLETED) {
		rmig_error("%s: the migration completed, so the workload belongs to the "
			   "destination now; it must not run here again",
			   cmd);
		return -EPERM;
	}
	if (migration_running(ms)) {
		rmig_error("%s: a migration is %s and controls the guest; migrate_cancel first",
			   cmd, rmig_state_get_name(ms));
		return -EBUSY;
	}
	return 0;
}

static int src_stop(void *t)
{
	struct cli_monitor *mon = mon_of(t);
	int rc = src_guest_allowed(mon, "stop");

	if (rc || atomic_exchange(&mon->user_paused, true))
		return rc;
	rmig_guest_stop(mon->src->guest);
	cli_monitor_guest_hook(mon, false);
	return 0;
}

static int src_cont(void *t)
{
	struct cli_monitor *mon = mon_of(t);
	int rc = src_guest_allowed(mon, "cont");

	if (rc || !atomic_exchange(&mon->user_paused, false))
		return rc;
	rmig_guest_cont(mon->src->guest);
	cli_monitor_guest_hook(mon, true);
	return 0;
}

static int no_resolve(void *t, bool start)
{
	(void)t;
	(void)start;
	rmig_error("only a destination can be in doubt");
	return -EINVAL;
}

static int no_incoming(void *t, const char *uri)
{
	(void)t;
	(void)uri;
	rmig_error("migrate-incoming is for a destination");
	return -EINVAL;
}

static const struct qmp_target_ops source_ops = {
	.role = src_role,
	.query = src_query,
	.get_params = get_params,
	.set_cap = src_set_cap,
	.set_param = src_set_param,
	.migrate = src_migrate,
	.incoming = no_incoming,
	.cancel = src_cancel,
	.resolve = no_resolve,
	.run_status = src_run_status,
	.stop = src_stop,
	.cont = src_cont,
	.quit = quit,
};

static uint64_t src_passes(void *opaque)
{
	return rmig_migration_get_sync_count(mon_of(opaque)->src->mig);
}

/* ---- the destination -------------------------------------------------- */

static enum qmp_role dest_role(void *t)
{
	(void)t;
	return QMP_ROLE_DEST;
}

static void dest_query(void *t, struct rmig_info *info)
{
	rmig_incoming_query(mon_of(t)->dest->in, info);
}

static int dest_set_cap(void *t, enum rmig_capability cap, bool on)
{
	struct cli_monitor *mon = mon_of(t);
	int rc = rmig_incoming_set_capability(mon->dest->in, cap, on);

	if (!rc)
		note_cap(mon, cap, on);
	return rc;
}

static int dest_set_param(void *t, const char *name, const char *value)
{
	struct cli_monitor *mon = mon_of(t);
	int rc = rmig_incoming_set_param(mon->dest->in, name, value);

	if (!rc)
		note_param(mon, name, value);
	return rc;
}

static int dest_incoming(void *t, const char *uri)
{
	struct cli_monitor *mon = mon_of(t);
	int rc;

	if (!mon->o->defer) {
		rmig_error("migrate-incoming: this destination was started with a URI, not 'defer'");
		return -EINVAL;
	}
	if (atomic_load(&mon->quit)) {
		rmig_error("rmig is quitting");
		return -ESHUTDOWN;
	}
	if (atomic_load(&mon->started)) {
		rmig_error("The incoming migration has already been started (on %s)",
			   cli_monitor_uri(mon));
		return -EBUSY;
	}
	rc = refuse_own_fd(mon, uri);
	if (!rc)
		rc = cli_dest_bind(mon->dest, uri);
	if (rc)
		return rc;
	note_uri(mon, mon->dest->uri);
	rc = cli_dest_start(mon->dest, mon->o->accept_timeout_ms);
	if (rc)
		return rc;
	atomic_store(&mon->started, true);
	/*
	 * Answer once the loader's thread has taken the state to setup, so a
	 * query-migrate right after the reply never sees "none".  It gets there
	 * at once; the bound only keeps a stuck thread from holding the monitor.
	 */
	for (int i = 0; i < 1000 && rmig_incoming_get_state(mon->dest->in) == RMIG_STATE_NONE &&
			!cli_dest_done(mon->dest);
	     i++)
		usleep(1000);
	return 0;
}

static int dest_cancel(void *t)
{
	struct cli_monitor *mon = mon_of(t);

	if (atomic_load(&mon->started))
		cli_dest_cancel(mon->dest);
	return 0;
}

static int dest_resolve(void *t, bool start)
{
	return rmig_incoming_resolve(mon_of(t)->dest->in, start);
}

static void dest_run_status(void *t, struct qmp_run_status *st)
{
	struct cli_monitor *mon = mon_of(t);

	st->running = atomic_load(&mon->dest->workload_running);
	if (rmig_incoming_get_state(mon->dest->in) != RMIG_STATE_COMPLETED)
		st->status = "inmigrate";
	else
		st->status = st->running ? "running" : "paused";
}

static int dest_no_guest(void *t)
{
	(void)t;
	rmig_error("the destination has no guest of its own to stop or continue; "
		   "`rmig incoming --run S` runs the workload after the hand-over");
	return -EINVAL;
}

static int no_migrate(void *t, const char *uri)
{
	(void)t;
	(void)uri;
	rmig_error("migrate is for a source");
	return -EINVAL;
}

static const struct qmp_target_ops dest_ops = {
	.role = dest_role,
	.query = dest_query,
	.get_params = get_params,
	.set_cap = dest_set_cap,
	.set_param = dest_set_param,
	.migrate = no_migrate,
	.incoming = dest_incoming,
	.cancel = dest_cancel,
	.resolve = dest_resolve,
	.run_status = dest_run_status,
	.stop = dest_no_guest,
	.cont = dest_no_guest,
	.quit = quit,
};

/* ---- events and the main thread --------------------------------------- */

/* A refused command is the client's to hear about, not a line on the operator's stderr. */
static void monitor_thread_init(void)
{
	cli_log_mute(true);
}

/*
 * Post an event, from any thread.  Under the lock, so that a listener
 * still firing while the program tears down (a migration cancelled on the
 * way out) finds the server gone rather than freed.
 */
static void monitor_event(struct cli_monitor *mon, const char *name, json_t *data)
{
	if (!mon) {
		json_decref(data);
		return;
	}
	pthread_mutex_lock(&mon->lock);
	if (mon->srv)
		qmp_server_event(mon->srv, name, data);
	else
		json_decref(data);
	pthread_mutex_unlock(&mon->lock);
}

/* A state listener: on the migration thread, so it only queues. */
static void on_state(void *opaque, enum rmig_state from, enum rmig_state to, uint64_t when_ns)
{
	struct cli_monitor *mon = opaque;

	(void)from;
	(void)when_ns;
	monitor_event(mon, "MIGRATION", json_pack("{s:s}", "status", rmig_state_get_name(to)));
}

void cli_monitor_guest_hook(void *opaque, bool running)
{
	monitor_event(opaque, running ? "RESUME" : "STOP", NULL);
}

int cli_monitor_start(struct cli_monitor *mon, const struct cli_options *o,
		      struct cli_source *src, struct cli_dest *dest, const char *started_uri)
{
	sigset_t saved;
	int rc;

	memset(mon, 0, sizeof(*mon));
	pthread_mutex_init(&mon->lock, NULL);
	mon->o = o;
	mon->src = src;
	mon->dest = dest;
	mon->role = src ? QMP_ROLE_SOURCE : QMP_ROLE_DEST;
	mon->params = o->params;
	if (started_uri)
		snprintf(mon->uri, sizeof(mon->uri), "%s", started_uri);
	atomic_store(&mon->started, started_uri != NULL);
	mon->ctx.ops = src ? &source_ops : &dest_ops;
	mon->ctx.target = mon;
	atomic_store(&mon->ctx.events, true);
	mon->ctx.thread_init = monitor_thread_init;
	/* The monitor's thread, and the migration threads it starts, leave signals to main. */
	cli_signals_block(&saved);
	rc = qmp_server_start(o->qmp_path, &mon->ctx, src ? src_passes : NULL, mon, &mon->srv);
	cli_signals_restore(&saved);
	if (rc)
		goto err_lock;
	rc = src ? rmig_migration_add_listener(src->mig, on_state, mon)
		 : rmig_incoming_add_listener(dest->in, on_state, mon);
	if (rc)
		goto err_server;
	return 0;

err_server:
	qmp_server_stop(mon->srv);
	mon->srv = NULL;
err_lock:
	pthread_mutex_destroy(&mon->lock);
	return rc;
}

enum cli_exit cli_monitor_exit_for(int rc)
{
	/* Out of memory or descriptors is the machine's; anything about the path is usage. */
	if (rc == -ENOMEM || rc == -EMFILE || rc == -ENFILE)
		return CLI_EXIT_RESOURCES;
	return CLI_EXIT_USAGE;
}

bool cli_monitor_wait_started(struct cli_monitor *mon)
{
	while (!atomic_load(&mon->started)) {
		/*
		 * Looked at again after a quit: a migrate and a quit read in one
		 * go can both land between the two loads, and a migration that
		 * started must go the started way, where it is cancelled.
		 */
		if (atomic_load(&mon->quit) || cli_interrupted())
			return atomic_load(&mon->started);
		cli_sleep_ms(CLI_TICK_MS / 4);
	}
	return true;
}

void cli_monitor_linger(struct cli_monitor *mon)
{
	while (!atomic_load(&mon->quit) && !cli_interrupted())
		cli_sleep_ms(CLI_TICK_MS / 4);
}

const char *cli_monitor_uri(struct cli_monitor *mon)
{
	/* Written once, before started is set; read after. */
	return mon->uri;
}

void cli_monitor_stop(struct cli_monitor *mon)
{
	struct qmp_server *srv;

	if (!mon->srv)
		return;
	pthread_mutex_lock(&mon->lock);
	srv = mon->srv;
	mon->srv = NULL;
	pthread_mutex_unlock(&mon->lock);
	qmp_server_stop(srv);
	/* The lock stays: listeners may still fire until the migration is freed. */
}
