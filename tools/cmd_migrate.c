/* SPDX-License-Identifier: MIT */
/*
 * `rmig migrate URI`: start the synthetic guest and migrate it away.
 *
 * What stays behind matters as much as what went: after a cancel or a
 * failure the library continues the guest, and the tool says so (and shows
 * the writers still making progress), because "did my workload survive?"
 * is the operator's first question.
 */
#include <stdio.h>

#include <rmig/log.h>

#include "plugin/registry.h"
#include "tools/cli.h"

/* Refuse a bad scheme before allocating a guest: that is a usage error, said early. */
static int check_uri(const struct cli_options *o)
{
	const struct rmig_transport_ops *ops;
	const char *addr;

	if (rmig_transport_resolve(o->uri, &ops, &addr) < 0) {
		cli_help_cmd_usage_hint(o->cmd);
		return -1;
	}
	return 0;
}

int cli_cmd_migrate(const struct cli_options *o)
{
	struct cli_source src;
	struct rmig_info info;
	enum cli_exit code;
	int rc;

	if (check_uri(o))
		return CLI_EXIT_USAGE;
	rc = cli_source_create(&src, o);
	if (rc)
		return cli_exit_for_error(rc, true);
	if (cli_interrupted()) {
		cli_msg("interrupted before the migration started");
		code = CLI_EXIT_CANCELLED;
		goto out_source;
	}
	rc = cli_source_run(&src, o, o->uri, NULL, &info);
	if (rc) {
		/* Refused at start (reported by the library): nothing ran. */
		code = cli_exit_for_error(rc, true);
		goto out_source;
	}
	code = cli_source_exit_code(&src, &info);
	cli_report_error_desc(&info);
	/* A failure before any data moved has nothing to report but its cause, said above. */
	if (atomic_load(&src.reached_active) || o->json)
		cli_report_source(o, &info);
	if (info.status != RMIG_STATE_COMPLETED) {
		if (!o->quiet)
			cli_source_report_guest(&src, o);
		cli_msg("migration to %s %s (exit %d: %s)", o->uri,
			src.timed_out			      ? "timed out"
			: info.status == RMIG_STATE_CANCELLED ? "cancelled"
							      : "failed",
			(int)code, cli_exit_meaning(code));
	}
out_source:
	cli_source_destroy(&src);
	return code;
}
