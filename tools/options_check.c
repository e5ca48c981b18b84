/* SPDX-License-Identifier: MIT */
/*
 * What no single option can check alone, once all are parsed: the
 * positional URI, and options that only mean something together.  A
 * mistake here is a usage error (exit 2), said before anything is
 * allocated or measured.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tools/cli.h"

bool cli_plot_path_safe(const char *path)
{
	/* The path goes into gnuplot's own language, between single quotes. */
	return !strpbrk(path, "'\n\r\\");
}

static int check_uri_arg(struct cli_options *o, const char *cmd, int argc, char **argv)
{
	bool wants_uri = o->cmd == CLI_CMD_INCOMING || o->cmd == CLI_CMD_MIGRATE;
	int left = argc - optind;

	if (wants_uri && left < 1) {
		cli_msg("%s: missing URI (e.g. tcp:HOST:PORT, unix:PATH, rdma:HOST:PORT)",
			cmd);
		return -EINVAL;
	}
	if (left > (wants_uri ? 1 : 0)) {
		cli_msg("%s: unexpected argument '%s'", cmd,
			argv[optind + (wants_uri ? 1 : 0)]);
		return -EINVAL;
	}
	if (!wants_uri)
		return 0;
	o->uri = argv[optind];
	/* As QEMU's -incoming defer: the URI comes later, from the monitor. */
	if (strcmp(o->uri, CLI_URI_DEFER) == 0) {
		if (!o->qmp_path) {
			cli_msg("%s: URI 'defer' waits for a URI over QMP, so it needs --qmp PATH",
				cmd);
			return -EINVAL;
		}
		o->defer = true;
	}
	return 0;
}

/* Each block a whole number of pages: a size rounded up silently is not the guest asked for. */
static int check_ram_pages(const struct cli_options *o, const char *cmd)
{
	const struct rmig_guest_config *g = &o->guest;

	for (unsigned i = 0; i < g->nblocks; i++) {
		if (g->page_size && g->block_size[i] % g->page_size) {
			cli_msg("%s: --ram: block %u is %" PRIu64 " bytes, not a whole number of "
				"%" PRIu32 "-byte pages (--page-size)",
				cmd, i, g->block_size[i], g->page_size);
			return -EINVAL;
		}
	}
	return 0;
}

int cli_options_check(struct cli_options *o, const char *cmd, int argc, char **argv)
{
	int rc;

	if (o->help)
		return 0;
	rc = check_uri_arg(o, cmd, argc, argv);
	if (rc)
		return rc;
	if (o->params.tls_creds[0] && o->params.tls_psk[0]) {
		cli_msg("%s: give --tls-creds or --tls-psk, not both", cmd);
		return -EINVAL;
	}
	/* The destination has a guest only after the hand-over, with --run. */
	if (o->cmd == CLI_CMD_INCOMING && o->dirty_rate_set && !o->run_ms) {
		cli_msg("incoming: --dirty-rate is the write rate of the workload that --run starts "
			"here; give --run too");
		return -EINVAL;
	}
	if (o->cmd == CLI_CMD_BENCH && o->bench_plot) {
		if (!o->bench_nchannels) {
			cli_msg("bench: --plot draws goodput against channels: give --channels too");
			return -EINVAL;
		}
		if (!cli_plot_path_safe(o->bench_plot)) {
			cli_msg("bench: --plot %s: the path may not hold quotes, backslashes or "
				"line breaks",
				o->bench_plot);
			return -EINVAL;
		}
	}
	if (o->cmd == CLI_CMD_MIGRATE || o->cmd == CLI_CMD_LOOPBACK)
		return check_ram_pages(o, cmd);
	return 0;
}
