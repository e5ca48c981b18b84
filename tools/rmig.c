/* SPDX-License-Identifier: MIT */
/*
 * rmig: the command-line front end.  main() only sets the stage (log sink,
 * signals, transports) and dispatches; each subcommand lives in its own
 * file (cmd_*.c, bench.c) and returns its exit code.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rmig/log.h>

#include "common/engine/transports.h"
#include "plugin/loader.h"
#include "plugin/registry.h"
#include "rmig-config.h"
#include "tools/cli.h"

/*
 * Running from a meson build tree, the rdma module sits in
 * <build>/rdma/module/ next to <build>/tools/rmig, not in the install
 * directory.  Look there too, but only when the operator has not said where
 * modules are (RMIG_PLUGIN_DIR) and only in a build tree (build.ninja next
 * to tools/), so an installed rmig never loads stray modules.
 */
static void load_build_tree_modules(void)
{
	char exe[PATH_MAX], path[PATH_MAX + 32];
	char *slash;
	ssize_t n;

	if (getenv("RMIG_PLUGIN_DIR") || rmig_transport_find("rdma"))
		return;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return;
	*slash = '\0';
	snprintf(path, sizeof(path), "%s/../build.ninja", exe);
	if (access(path, F_OK) != 0)
		return;
	snprintf(path, sizeof(path), "%s/../rdma/module", exe);
	rmig_transport_load_dir(path);
}

static int load_plugin_dir(const struct cli_options *o)
{
	struct stat st;
	const char *why = NULL;

	if (!o->plugin_dir)
		return 0;
	/* The library skips a missing directory quietly; one the user named is worth a word. */
	if (stat(o->plugin_dir, &st) != 0)
		why = strerror(errno);
	else if (!S_ISDIR(st.st_mode))
		why = "not a directory";
	if (why) {
		cli_msg("%s: --plugin-dir %s: %s", cli_cmd_name(o->cmd), o->plugin_dir, why);
		return -EINVAL;
	}
	rmig_transport_load_dir(o->plugin_dir);
	return 0;
}

static void setup_transports(int verbose)
{
	cli_log_install(verbose);
	rmig_transport_init_all();
	load_build_tree_modules();
}

static int run_cmd(const struct cli_options *o)
{
	switch (o->cmd) {
	case CLI_CMD_INCOMING:
		return cli_cmd_incoming(o);
	case CLI_CMD_MIGRATE:
		return cli_cmd_migrate(o);
	case CLI_CMD_LOOPBACK:
		return cli_cmd_loopback(o);
	case CLI_CMD_BENCH:
		return cli_cmd_bench(o);
	case CLI_CMD__COUNT:
		break;
	}
	return CLI_EXIT_USAGE;
}

/* `rmig help [CMD]`, `rmig --help`. */
static int run_help(int argc, char **argv)
{
	setup_transports(0);
	if (argc < 3) {
		cli_help_main();
		return CLI_EXIT_OK;
	}
	if (cli_help_cmd(argv[2]) == 0)
		return CLI_EXIT_OK;
	cli_msg("help: unknown command '%s' (commands: incoming, migrate, loopback, bench)",
		argv[2]);
	return CLI_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	struct cli_options o;
	int cmd, code;

	cli_log_install(0);
	if (cli_signals_install() < 0) {
		cli_msg("cannot install signal handlers: %s", strerror(errno));
		return CLI_EXIT_FAILED;
	}
	if (argc < 2) {
		fprintf(stderr, "Usage: rmig COMMAND [OPTIONS]  (commands: incoming, migrate, "
				"loopback, bench)\nTry 'rmig --help'.\n");
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("rmig %s (transport ABI %d)\n", RMIG_VERSION, RMIG_TRANSPORT_ABI_VERSION);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)
		return run_help(strcmp(argv[1], "help") == 0 ? argc : 2, argv);
	cmd = cli_cmd_from_name(argv[1]);
	if (cmd < 0) {
		cli_msg("unknown command '%s' (commands: incoming, migrate, loopback, bench)",
			argv[1]);
		fprintf(stderr, "Try 'rmig --help'.\n");
		return CLI_EXIT_USAGE;
	}
	cli_options_init(&o, (enum cli_cmd)cmd);
	if (cli_options_parse(&o, argc - 1, argv + 1) < 0) {
		cli_help_cmd_usage_hint(o.cmd);
		return CLI_EXIT_USAGE;
	}
	setup_transports(o.verbose);
	if (o.help) {
		cli_help_cmd(cli_cmd_name(o.cmd));
		code = CLI_EXIT_OK;
		goto out_transports;
	}
	if (load_plugin_dir(&o) < 0) {
		code = CLI_EXIT_USAGE;
		goto out_transports;
	}
	code = run_cmd(&o);
out_transports:
	/* dlclose modules, so valgrind sees a clean exit */
	rmig_transport_reset();
	return code;
}
