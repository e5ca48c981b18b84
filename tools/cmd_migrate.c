/* SPDX-License-Identifier: MIT */
/*
 * `rmig migrate URI`: start the synthetic guest and migrate it away.
 *
 * What stays behind matters as much as what went: after a cancel or a
 * failure the library continues the guest, and the tool says so (and shows
 * the writers still making progress), because "did my workload survive?"
 * is the operator's first question.
 *
 * With --qmp the same happens under a monitor: `defer` waits for the
 * migrate command, and after the migration the monitor keeps serving
 * until quit, as QEMU does, so management software can still ask.
 */
#include <stdio.h>

#include <rmig/log.h>

#include "plugin/registry.h"
#include "tools/cli.h"
#include "tools/monitor.h"

/*
 * Refuse a bad scheme, parameters that do not fit the transport, or TLS
 * credentials that are missing, before allocating and filling a guest:
 * those are usage errors, said early.
 */
static int check_uri(const struct cli_options *o)
{
	const struct rmig_transport_ops *ops;
	const char *addr;

	if (o->defer)
		return 0;
	if (rmig_transport_resolve(o->uri, &ops, &addr) < 0) {
		cli_help_cmd_usage_hint(o->cmd);
		return -1;
	}
	return rmig_migration_check_config(&o->params, o->uri) ? -1 : 0;
}

static enum cli_exit report(const struct cli_options *o, struct cli_source *src, const char *uri,
			    const struct rmig_info *info)
{
	enum cli_exit code = cli_source_exit_code(src, info);

	cli_report_error_desc(info);
	/* A failure before any data moved has nothing to report but its cause, said above. */
	if (atomic_load(&src->reached_active) || o->json)
		cli_report_source(o, info);
	if (info->status != RMIG_STATE_COMPLETED) {
		if (!o->quiet)
			cli_source_report_guest(src, o);
		cli_msg("migration to %s %s (exit %d: %s)", uri,
			src->timed_out			       ? "timed out"
			: info->status == RMIG_STATE_CANCELLED ? "cancelled"
							       : "failed",
			(int)code, cli_exit_meaning(code));
	}
	return code;
}

int cli_cmd_migrate(const struct cli_options *o)
{
	struct cli_monitor mon = { 0 };
	struct cli_source src;
	struct rmig_info info;
	const char *uri = o->uri;
	enum cli_exit code = CLI_EXIT_OK;
	int rc;

	if (check_uri(o))
		return CLI_EXIT_USAGE;
	rc = cli_source_create(&src, o, o->qmp_path ? cli_monitor_guest_hook : NULL, &mon);
	if (rc)
		return cli_exit_for_error(rc, true);
	if (o->qmp_path) {
		rc = cli_monitor_start(&mon, o, &src, NULL, o->defer ? NULL : o->uri);
		if (rc) {
			code = cli_monitor_exit_for(rc);
			goto out_source;
		}
		src.quit = &mon.quit;
	}
	if (o->defer) {
		if (!o->quiet)
			cli_msg("waiting for the migrate command on QMP socket %s", o->qmp_path);
		if (!cli_monitor_wait_started(&mon)) {
			code = cli_interrupted() ? CLI_EXIT_CANCELLED : CLI_EXIT_OK;
			goto out_monitor;
		}
		uri = cli_monitor_uri(&mon);
	} else {
		if (cli_interrupted()) {
			cli_msg("interrupted before the migration started");
			code = CLI_EXIT_CANCELLED;
			goto out_monitor;
		}
		rc = cli_source_start(&src, uri);
		if (rc) {
			/* Refused at start (reported by the library): nothing ran. */
			code = cli_exit_for_error(rc, true);
			goto out_monitor;
		}
	}
	cli_source_watch(&src, o, uri, NULL, &info);
	code = report(o, &src, uri, &info);
	if (o->qmp_path)
		cli_monitor_linger(&mon);
out_monitor:
	cli_monitor_stop(&mon);
out_source:
	cli_source_destroy(&src);
	return code;
}
