/* SPDX-License-Identifier: MIT */
/*
 * `rmig incoming URI`: receive one migration, verify it, report.
 *
 * Success means the stream arrived whole; "verified" additionally means
 * every RAM block's checksum matched the one the source computed with its
 * guest stopped.  A source running with --no-verify sends none, and the
 * report says so rather than claiming a check that never happened.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include <rmig/log.h>

#include "tools/cli.h"

#define CLI_TICK_MS 200

static void wait_for_load(struct cli_dest *d, const struct cli_options *o)
{
	struct cli_progress prog;
	struct rmig_info info;
	bool cancel_sent = false;

	cli_progress_init(&prog, isatty(STDERR_FILENO) && !o->quiet);
	while (!cli_dest_done(d)) {
		if (!cancel_sent && cli_interrupted()) {
			cli_msg("interrupted: cancelling the incoming migration");
			cli_dest_cancel(d);
			cancel_sent = true;
		}
		rmig_incoming_query(d->in, &info);
		cli_progress_draw(&prog, &info, true);
		cli_sleep_ms(CLI_TICK_MS);
	}
	cli_progress_clear();
}

static enum cli_exit incoming_exit_code(struct cli_dest *d, int rc)
{
	int err;

	if (rc == 0)
		return CLI_EXIT_OK;
	if (cli_interrupted())
		return CLI_EXIT_CANCELLED;
	err = rmig_incoming_get_error(d->in);
	return cli_exit_for_error(err ? err : rc, false);
}

/*
 * After the hand-over the workload is this side's: run the synthetic guest
 * on the received memory for --run seconds, so it visibly continues here.
 */
static int run_workload(struct cli_dest *d, const struct cli_options *o)
{
	struct rmig_guest_config cfg = o->guest;
	struct rmig_guest *g;
	int rc, left;

	if (!atomic_load(&d->started)) {
		rmig_error("the workload was not handed over, so it does not run here");
		return -EINVAL;
	}
	if (!cfg.dirty_rate)
		cfg.dirty_rate = CLI_RUN_DEFAULT_DIRTY_RATE;
	rc = rmig_guest_adopt(&cfg, &d->ram, &g);
	if (rc)
		return rc;
	rc = rmig_guest_start(g);
	if (rc)
		goto out_destroy;
	if (!o->quiet)
		cli_msg("the workload runs here now (the source committed); for %d ms",
			o->run_ms);
	for (left = o->run_ms; left > 0 && !cli_interrupted(); left -= CLI_TICK_MS)
		cli_sleep_ms(CLI_TICK_MS);
	rmig_guest_stop(g);
	if (!o->quiet)
		cli_msg("the workload ran here: %" PRIu64 " page writes", rmig_guest_writes(g));
out_destroy:
	rmig_guest_destroy(g);
	return rc;
}

int cli_cmd_incoming(const struct cli_options *o)
{
	const struct rmig_load_info *li;
	struct rmig_info info;
	struct cli_dest d;
	enum cli_exit code;
	int rc;

	rc = cli_dest_listen(&d, o->uri, o->params.caps[RMIG_CAP_RDMA_PIN_ALL],
			     o->params.peer_timeout_ms, o->params.max_ram);
	if (rc) {
		/*
		 * Nothing is "unreachable" when we only bind: an address we cannot
		 * listen on (unknown host, port in use, missing directory) is a bad URI.
		 */
		code = cli_exit_for_error(rc, true);
		if (code == CLI_EXIT_RESOURCES)
			return code;
		cli_help_cmd_usage_hint(o->cmd);
		return CLI_EXIT_USAGE;
	}
	if (!o->quiet)
		cli_msg("waiting for a migration on %s", d.uri);
	rc = cli_dest_start(&d, o->accept_timeout_ms);
	if (rc) {
		code = cli_exit_for_error(rc, false);
		goto out_dest;
	}
	wait_for_load(&d, o);
	rc = cli_dest_join(&d);
	rmig_incoming_query(d.in, &info);
	li = rmig_incoming_load_info(d.in);
	code = incoming_exit_code(&d, rc);
	cli_report_error_desc(&info);
	/* No source ever came: the cause above says it all, a table of zeros would not. */
	if (info.ram.transferred > 0 || rc == 0 || o->json)
		cli_report_incoming(o, &info, li, rc);
	if (code != CLI_EXIT_OK)
		cli_msg("incoming migration on %s %s (exit %d: %s)", d.uri,
			code == CLI_EXIT_CANCELLED ? "cancelled"
			: code == CLI_EXIT_IN_DOUBT ? "is in doubt"
						     : "failed",
			(int)code,
			cli_exit_meaning(code));
	if (code == CLI_EXIT_OK && o->run_ms > 0 && run_workload(&d, o) < 0)
		code = CLI_EXIT_FAILED;
out_dest:
	cli_dest_fini(&d);
	return code;
}
