/* SPDX-License-Identifier: MIT */
/*
 * --qmp: the rmig tool's side of the QMP monitor.  It is the target the
 * commands act on (tools/qmp/commands.h), backed by the tool's source or
 * destination, and the bridge that turns their state changes and the
 * guest's stops and continues into events.
 *
 * Commands arrive on the monitor's thread; the main thread keeps doing
 * what it does without --qmp (progress, Ctrl-C, the report) and only
 * looks at the flags here: whether a deferred migration was started, and
 * whether quit was asked for.
 */
#ifndef RMIG_TOOLS_MONITOR_H
#define RMIG_TOOLS_MONITOR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "tools/cli.h"
#include "tools/qmp/server.h"

struct cli_monitor {
	struct qmp_server *srv;
	struct qmp_ctx ctx;
	enum qmp_role role;
	const struct cli_options *o;
	struct cli_source *src; /* source role */
	struct cli_dest *dest;	/* destination role */

	pthread_mutex_t lock;	  /* params, uri */
	struct rmig_params params; /* as set so far: what query-migrate-parameters shows */
	char uri[256];		  /* the URI migrate / migrate-incoming started */

	_Atomic bool started;	  /* a migration is under way (or was) */
	_Atomic bool quit;
	_Atomic bool user_paused; /* source: stopped by the stop command */
};

/*
 * Serve QMP on o->qmp_path for @src (source, loopback) or @dest
 * (incoming, opened but maybe not listening).  @started_uri: the URI the
 * command line started the migration with, after which migrate and
 * migrate-incoming are refused; NULL with defer.  0 or -errno (reported).
 */
int cli_monitor_start(struct cli_monitor *mon, const struct cli_options *o,
		      struct cli_source *src, struct cli_dest *dest, const char *started_uri);
/* The exit code for a monitor that could not start: a bad --qmp path is a usage error. */
enum cli_exit cli_monitor_exit_for(int rc);
/* The source's hook for STOP / RESUME: pass with the monitor as opaque. */
void cli_monitor_guest_hook(void *opaque, bool running);
/*
 * Defer: wait until migrate / migrate-incoming started the migration
 * (true), or quit or a signal came first (false).
 */
bool cli_monitor_wait_started(struct cli_monitor *mon);
/* After the migration ended: keep serving until quit or a signal. */
void cli_monitor_linger(struct cli_monitor *mon);
/* The URI the migration was started with (valid once started). */
const char *cli_monitor_uri(struct cli_monitor *mon);
void cli_monitor_stop(struct cli_monitor *mon);

#endif /* RMIG_TOOLS_MONITOR_H */
