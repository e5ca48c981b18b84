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
#include "tools/monitor.h"

static void wait_for_load(struct cli_dest *d, const struct cli_options *o,
			  struct cli_monitor *mon)
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
		if (!cancel_sent && o->qmp_path && atomic_load(&mon->quit)) {
			cli_msg("quit (QMP): cancelling the incoming migration");
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
	err = rmig_incoming_get_error(d->in);
	if (!err)
		err = rc;
	/*
	 * Cancelled: by Ctrl-C, 130; by migrate_cancel or quit over QMP, 1, as
	 * on the source.  A signal that came after the migration had already
	 * ended otherwise (in doubt, failed) does not change what it earned.
	 */
	if (err == -ECANCELED)
		return cli_interrupted() ? CLI_EXIT_CANCELLED : CLI_EXIT_FAILED;
	return cli_exit_for_error(err, false);
}

/*
 * After the hand-over the workload is this side's: run the synthetic guest
 * on the received memory for --run seconds, so it visibly continues here.
 */
static int run_workload(struct cli_dest *d, const struct cli_options *o,
			struct cli_monitor *mon)
{
	struct rmig_guest_config cfg = o->guest;
	struct rmig_guest *g;
	int rc, left;

	if (!atomic_load(&d->started)) {
		rmig_error("the workload was not handed over, so it does not run here");
		return -EINVAL;
	}
	/* An explicit --dirty-rate 0 runs it idle. */
	if (!o->dirty_rate_set)
		cfg.dirty_rate = CLI_RUN_DEFAULT_DIRTY_RATE;
	rc = rmig_guest_adopt(&cfg, &d->ram, &g);
	if (rc)
		return rc;
	rc = rmig_guest_start(g);
	if (rc)
		goto out_destroy;
	atomic_store(&d->workload_running, true);
	if (!o->quiet)
		cli_msg("the workload runs here now (the source committed); for %d ms",
			o->run_ms);
	for (left = o->run_ms; left > 0 && !cli_interrupted(); left -= CLI_TICK_MS) {
		if (o->qmp_path && atomic_load(&mon->quit))
			break;
		cli_sleep_ms(CLI_TICK_MS);
	}
	rmig_guest_stop(g);
	atomic_store(&d->workload_running, false);
	if (!o->quiet)
		cli_msg("the workload ran here: %" PRIu64 " page writes", rmig_guest_writes(g));
out_destroy:
	rmig_guest_destroy(g);
	return rc;
}

/* Listening failed: nothing is "unreachable" when we only bind. */
static enum cli_exit bind_failed(const struct cli_options *o, int rc)
{
	/* An address we cannot listen on (unknown host, port in use, missing directory) is a bad URI. */
	enum cli_exit code = cli_exit_for_error(rc, true);

	if (code == CLI_EXIT_RESOURCES)
		return code;
	cli_help_cmd_usage_hint(o->cmd);
	return CLI_EXIT_USAGE;
}

/* A resolve over QMP ended the doubt: the exit code follows. */
static enum cli_exit settle(struct cli_dest *d, enum cli_exit code)
{
	enum rmig_state st = rmig_incoming_get_state(d->in);

	if (code != CLI_EXIT_IN_DOUBT)
		return code;
	/* Resolved, but the start callback (which follows the state) has not run yet. */
	if (st == RMIG_STATE_COMPLETED && !atomic_load(&d->started)) {
		for (int i = 0; i < 100 && !atomic_load(&d->started); i++)
			cli_sleep_ms(10);
	}
	if (st == RMIG_STATE_COMPLETED) {
		cli_msg("resolved: the source completed, the workload is this side's");
		return CLI_EXIT_OK;
	}
	if (st == RMIG_STATE_FAILED) {
		cli_msg("resolved: the source kept the workload; it does not run here");
		return CLI_EXIT_FAILED;
	}
	return code;
}

/* settle(), and with --run the workload starts here once it is this side's. */
static enum cli_exit settle_and_run(struct cli_dest *d, const struct cli_options *o,
				    struct cli_monitor *mon, enum cli_exit code)
{
	enum cli_exit now = settle(d, code);

	if (code == CLI_EXIT_IN_DOUBT && now == CLI_EXIT_OK && o->run_ms > 0 &&
	    run_workload(d, o, mon) < 0)
		now = CLI_EXIT_FAILED;
	return now;
}

/*
 * --qmp: serve until quit.  An in-doubt hand-over may be resolved
 * meanwhile (migrate-incoming-resolve), which settles the exit code and,
 * with --run, starts the workload here.  A signal ends the wait, not the
 * outcome: the code stays what the migration earned.
 */
static enum cli_exit linger(struct cli_dest *d, const struct cli_options *o,
			    struct cli_monitor *mon, enum cli_exit code)
{
	if (code == CLI_EXIT_IN_DOUBT && !o->quiet)
		cli_msg("in doubt: migrate-incoming-resolve over QMP settles it; the memory is "
			"kept until then");
	while (!atomic_load(&mon->quit) && !cli_interrupted()) {
		code = settle_and_run(d, o, mon, code);
		cli_sleep_ms(CLI_TICK_MS / 4);
	}
	/* A resolve and a quit within one tick: the resolve still counts. */
	return settle_and_run(d, o, mon, code);
}

static enum cli_exit finish(struct cli_dest *d, const struct cli_options *o,
			    struct cli_monitor *mon)
{
	const struct rmig_load_info *li;
	struct rmig_info info;
	enum cli_exit code;
	int rc;

	wait_for_load(d, o, mon);
	rc = cli_dest_join(d);
	code = incoming_exit_code(d, rc);
	/* Resolved over QMP before this thread looked: report what is true now. */
	if (o->qmp_path)
		code = settle(d, code);
	rmig_incoming_query(d->in, &info);
	li = rmig_incoming_load_info(d->in);
	cli_report_error_desc(&info);
	/* No source ever came: the cause above says it all, a table of zeros would not. */
	if (info.ram.transferred > 0 || rc == 0 || o->json)
		cli_report_incoming(o, &info, li, rc);
	if (code != CLI_EXIT_OK)
		cli_msg("incoming migration on %s %s (exit %d: %s)", d->uri,
			code == CLI_EXIT_CANCELLED || rc == -ECANCELED ||
				    rmig_incoming_get_error(d->in) == -ECANCELED
			    ? "cancelled"
			: code == CLI_EXIT_IN_DOUBT ? "is in doubt"
						     : "failed",
			(int)code, cli_exit_meaning(code));
	if (code == CLI_EXIT_OK && o->run_ms > 0 && run_workload(d, o, mon) < 0)
		code = CLI_EXIT_FAILED;
	if (o->qmp_path)
		code = linger(d, o, mon, code);
	return code;
}

int cli_cmd_incoming(const struct cli_options *o)
{
	struct cli_monitor mon = { 0 };
	struct cli_dest d;
	enum cli_exit code = CLI_EXIT_OK;
	int rc;

	rc = cli_dest_open(&d, &o->params);
	if (rc)
		return cli_exit_for_error(rc, true);
	if (!o->defer) {
		rc = cli_dest_bind(&d, o->uri);
		if (rc) {
			code = bind_failed(o, rc);
			goto out_dest;
		}
	}
	if (o->qmp_path) {
		rc = cli_monitor_start(&mon, o, NULL, &d, o->defer ? NULL : d.uri);
		if (rc) {
			code = cli_monitor_exit_for(rc);
			goto out_dest;
		}
	}
	if (o->defer) {
		if (!o->quiet)
			cli_msg("waiting for the migrate-incoming command on QMP socket %s",
				o->qmp_path);
		if (!cli_monitor_wait_started(&mon)) {
			code = cli_interrupted() ? CLI_EXIT_CANCELLED : CLI_EXIT_OK;
			goto out_monitor;
		}
	} else {
		rc = cli_dest_start(&d, o->accept_timeout_ms);
		if (rc) {
			code = cli_exit_for_error(rc, false);
			goto out_monitor;
		}
	}
	if (!o->quiet)
		cli_msg("waiting for a migration on %s", d.uri);
	code = finish(&d, o, &mon);
out_monitor:
	/* The loader has ended (finish joined it), so no state change can reach the monitor now. */
	cli_dest_join(&d);
	cli_monitor_stop(&mon);
out_dest:
	cli_dest_fini(&d);
	return code;
}
