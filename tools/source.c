/* SPDX-License-Identifier: MIT */
/*
 * The source end, for `rmig migrate` and `rmig loopback`: the synthetic
 * guest and the migration of it, watched from the main thread.
 *
 * The main thread polls rather than blocking in rmig_migration_wait(): it
 * has to redraw the progress line, notice Ctrl-C (the signal handler only
 * sets a flag) and enforce --connect-timeout, and none of that can happen
 * from inside pthread_join().
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "tools/cli.h"

/* Runs on the migration thread under the state lock: record, nothing more. */
static void on_state(void *opaque, enum rmig_state from, enum rmig_state to, uint64_t when_ns)
{
	_Atomic bool *reached_active = opaque;

	(void)from;
	(void)when_ns;
	if (to == RMIG_STATE_ACTIVE)
		atomic_store(reached_active, true);
}

/* The embedder the migration sees: the guest's, and word of it to the hook. */
static void source_stop(void *opaque)
{
	struct cli_source *s = opaque;

	s->guest_emb.stop(s->guest_emb.opaque);
	if (s->hook)
		s->hook(s->hook_opaque, false);
}

static void source_cont(void *opaque)
{
	struct cli_source *s = opaque;

	s->guest_emb.cont(s->guest_emb.opaque);
	if (s->hook)
		s->hook(s->hook_opaque, true);
}

static void source_throttle(void *opaque, unsigned pct)
{
	struct cli_source *s = opaque;

	if (s->guest_emb.throttle)
		s->guest_emb.throttle(s->guest_emb.opaque, pct);
}

int cli_source_create(struct cli_source *s, const struct cli_options *o, cli_guest_hook_fn hook,
		      void *hook_opaque)
{
	sigset_t saved;
	int rc;

	memset(s, 0, sizeof(*s));
	rmig_ram_init(&s->ram);
	rc = rmig_guest_create(&o->guest, &s->ram, &s->guest);
	if (rc)
		goto err_ram;
	s->guest_emb = rmig_guest_embedder(s->guest);
	s->hook = hook;
	s->hook_opaque = hook_opaque;
	s->emb = (struct rmig_embedder){
		.opaque = s, .stop = source_stop, .cont = source_cont, .throttle = source_throttle,
	};
	s->mig = rmig_migration_new(&s->ram, &s->emb);
	if (!s->mig) {
		rmig_error("out of memory for the migration");
		rc = -ENOMEM;
		goto err_guest;
	}
	rc = rmig_migration_set_params(s->mig, &o->params);
	if (rc)
		goto err_migration;
	rc = rmig_migration_add_listener(s->mig, on_state, &s->reached_active);
	if (rc)
		goto err_migration;
	cli_signals_block(&saved);
	rc = rmig_guest_start(s->guest);
	cli_signals_restore(&saved);
	if (rc)
		goto err_migration;
	return 0;

err_migration:
	rmig_migration_free(s->mig);
	s->mig = NULL;
err_guest:
	rmig_guest_destroy(s->guest);
	s->guest = NULL;
err_ram:
	rmig_ram_fini(&s->ram);
	return rc;
}

static void source_cancel(struct cli_source *s, const char *why)
{
	cli_msg("%s: cancelling the migration", why);
	rmig_migration_cancel(s->mig);
}

int cli_source_start(struct cli_source *s, const char *uri)
{
	sigset_t saved;
	int rc;

	s->t0_ns = rmig_time_now_ns();
	cli_signals_block(&saved);
	rc = rmig_migration_start(s->mig, uri);
	cli_signals_restore(&saved);
	return rc;
}

void cli_source_watch(struct cli_source *s, const struct cli_options *o, const char *uri,
		      struct cli_dest *dest, struct rmig_info *info)
{
	struct cli_progress prog;
	enum rmig_state st;
	bool cancel_sent = false;

	cli_progress_init(&prog, isatty(STDERR_FILENO) && !o->quiet);
	while (!rmig_state_is_terminal(st = rmig_migration_get_state(s->mig))) {
		if (!cancel_sent && s->quit && atomic_load(s->quit)) {
			if (dest)
				cli_dest_cancel(dest);
			source_cancel(s, "quit (QMP)");
			cancel_sent = true;
		}
		if (!cancel_sent && cli_interrupted()) {
			/* Loopback: stop our own destination first, so it does not report the cut.
			 */
			if (dest)
				cli_dest_cancel(dest);
			source_cancel(s, "interrupted");
			cancel_sent = true;
		}
		if (!cancel_sent && o->connect_timeout_ms > 0 && st == RMIG_STATE_SETUP &&
		    rmig_time_now_ns() - s->t0_ns >=
			    (uint64_t)o->connect_timeout_ms * RMIG_NSEC_PER_MSEC) {
			cli_msg("no connection to %s within %.3g s (--connect-timeout)", uri,
				o->connect_timeout_ms / 1e3);
			s->timed_out = true;
			rmig_migration_cancel(s->mig);
			cancel_sent = true;
		}
		/* Loopback: a destination that gave up leaves the source nobody to talk to. */
		if (!cancel_sent && dest && cli_dest_done(dest) && dest->rc != 0) {
			source_cancel(s, "the destination failed");
			cancel_sent = true;
		}
		rmig_migration_query(s->mig, info);
		cli_progress_draw(&prog, info, false);
		cli_sleep_ms(CLI_TICK_MS);
	}
	rmig_migration_wait(s->mig);
	s->writes_at_end = rmig_guest_writes(s->guest);
	rmig_migration_query(s->mig, info);
	cli_progress_clear();
}

int cli_source_run(struct cli_source *s, const struct cli_options *o, const char *uri,
		   struct cli_dest *dest, struct rmig_info *info)
{
	int rc = cli_source_start(s, uri);

	if (rc) {
		rmig_migration_query(s->mig, info);
		return rc;
	}
	cli_source_watch(s, o, uri, dest, info);
	return 0;
}

enum cli_exit cli_source_exit_code(struct cli_source *s, const struct rmig_info *info)
{
	switch (info->status) {
	case RMIG_STATE_COMPLETED:
		return CLI_EXIT_OK;
	case RMIG_STATE_CANCELLED:
		if (s->timed_out)
			return CLI_EXIT_UNREACHABLE;
		return cli_interrupted() ? CLI_EXIT_CANCELLED : CLI_EXIT_FAILED;
	default:
		return cli_exit_for_error(rmig_migration_get_error(s->mig),
					  !atomic_load(&s->reached_active));
	}
}

void cli_source_report_guest(struct cli_source *s, const struct cli_options *o)
{
	uint64_t before, after;

	if (!rmig_guest_is_running(s->guest)) {
		cli_msg("the guest is NOT running on the source");
		return;
	}
	if (o->guest.dirty_rate == 0) {
		cli_msg("the guest is still running on the source (idle: --dirty-rate 0)");
		return;
	}
	/* Show it: its writers make progress after the cancel. */
	before = rmig_guest_writes(s->guest);
	cli_sleep_ms(300);
	after = rmig_guest_writes(s->guest);
	if (after > before)
		cli_msg("the guest is still running on the source (%" PRIu64 " pages written in "
			"the last 0.3 s)",
			after - before);
	else
		cli_msg("the guest is marked running on the source but wrote nothing in 0.3 s");
}

void cli_source_destroy(struct cli_source *s)
{
	rmig_migration_free(s->mig);
	s->mig = NULL;
	rmig_guest_destroy(s->guest);
	s->guest = NULL;
	rmig_ram_fini(&s->ram);
}
