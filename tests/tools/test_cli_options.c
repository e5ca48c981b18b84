/* SPDX-License-Identifier: MIT */
/*
 * The rmig tool's option parsing and exit-code mapping: every option lands
 * where it should, every bad value is refused (never half-applied), and
 * options are refused by subcommands they do not apply to.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rmig/log.h>

#include "tools/cli.h"

#define MAX_ARGS 64

/* getopt permutes argv, so each parse gets its own writable copy. */
struct args {
	int argc;
	char *argv[MAX_ARGS + 1];
};

static void args_free(struct args *a)
{
	for (int i = 0; i < a->argc; i++)
		free(a->argv[i]);
	a->argc = 0;
}

/* The last parse's strings: o->uri and friends point into them until the next parse. */
static struct args a;

/* Parse "CMD arg..." (NULL-terminated) into @o; returns cli_options_parse()'s result. */
static int parse(struct cli_options *o, const char *cmd, ...)
{
	const char *s;
	va_list ap;
	int rc;

	args_free(&a);
	a.argv[a.argc++] = strdup(cmd);
	va_start(ap, cmd);
	while ((s = va_arg(ap, const char *)) != NULL && a.argc < MAX_ARGS)
		a.argv[a.argc++] = strdup(s);
	va_end(ap);
	a.argv[a.argc] = NULL;
	cli_options_init(o, (enum cli_cmd)cli_cmd_from_name(cmd));
	rc = cli_options_parse(o, a.argc, a.argv);
	return rc;
}

static void silence(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static int setup_quiet(void **state)
{
	(void)state;
	/* cli_msg() writes to stderr directly; the library's sink we can silence. */
	rmig_log_set_sink(silence, NULL);
	return 0;
}

static int teardown_args(void **state)
{
	(void)state;
	args_free(&a);
	return 0;
}

static void test_defaults(void **state)
{
	struct cli_options o;

	(void)state;
	assert_int_equal(parse(&o, "migrate", "tcp:h:1", NULL), 0);
	assert_string_equal(o.uri, "tcp:h:1");
	assert_int_equal(o.guest.nblocks, 1);
	assert_true(o.guest.block_size[0] == CLI_DEFAULT_RAM);
	assert_true(o.params.caps[RMIG_CAP_VERIFY]);
	assert_true(o.params.caps[RMIG_CAP_ZERO_PAGES]);
	assert_false(o.params.caps[RMIG_CAP_RDMA_PIN_ALL]);
	assert_int_equal(o.connect_timeout_ms, 0);
	assert_false(o.json);
	assert_false(o.quiet);
	assert_int_equal(o.verbose, 0);

	assert_int_equal(parse(&o, "incoming", "tcp:h:1", NULL), 0);
	assert_int_equal(o.accept_timeout_ms, -1);
	assert_int_equal(parse(&o, "bench", NULL), 0);
	assert_true(o.bench_ram == CLI_DEFAULT_BENCH_RAM);
	assert_int_equal(parse(&o, "loopback", NULL), 0);
	assert_int_equal(o.transport, CLI_TRANSPORT_AUTO);
	assert_null(o.addr);
}

static void test_every_source_option(void **state)
{
	struct cli_options o;

	(void)state;
	/* The URI in the middle: GNU getopt permutes, so position does not matter. */
	assert_int_equal(parse(&o, "migrate", "--ram", "3M,5M", "--page-size", "8K", "tcp:[::1]:9",
			       "--zero-share", "0.5", "--dirty-rate", "50M", "--pattern", "hotset",
			       "--hot-fraction", "0.2", "--hot-share", "0.9", "--writers", "4",
			       "--seed", "7", "--max-bandwidth", "1G", "--downtime-limit", "50",
			       "--pin-all", "--auto-converge", "--no-zero-pages", "--no-verify",
			       "--connect-timeout", "2.5", "--json", "-q", "-vv", "--plugin-dir",
			       "/p", NULL),
			 0);
	assert_string_equal(o.uri, "tcp:[::1]:9");
	assert_int_equal(o.guest.nblocks, 2);
	assert_true(o.guest.block_size[0] == 3u << 20);
	assert_true(o.guest.block_size[1] == 5u << 20);
	assert_int_equal(o.guest.page_size, 8192);
	assert_true(o.guest.zero_share == 0.5);
	assert_true(o.guest.dirty_rate == 50u << 20);
	assert_int_equal(o.guest.pattern, RMIG_GUEST_HOTSET);
	assert_true(o.guest.hot_fraction == 0.2);
	assert_true(o.guest.hot_share == 0.9);
	assert_int_equal(o.guest.writers, 4);
	assert_true(o.guest.seed == 7);
	assert_true(o.params.max_bandwidth == 1ULL << 30);
	assert_true(o.params.downtime_limit_ms == 50);
	assert_true(o.params.caps[RMIG_CAP_RDMA_PIN_ALL]);
	assert_true(o.params.caps[RMIG_CAP_AUTO_CONVERGE]);
	assert_false(o.params.caps[RMIG_CAP_ZERO_PAGES]);
	assert_false(o.params.caps[RMIG_CAP_VERIFY]);
	assert_int_equal(o.connect_timeout_ms, 2500);
	assert_true(o.json);
	assert_true(o.quiet);
	assert_int_equal(o.verbose, 2);
	assert_string_equal(o.plugin_dir, "/p");
}

static void test_other_commands(void **state)
{
	struct cli_options o;

	(void)state;
	assert_int_equal(
	    parse(&o, "incoming", "unix:/s", "--accept-timeout", "0.25", "--pin-all", NULL), 0);
	assert_int_equal(o.accept_timeout_ms, 250);
	assert_true(o.params.caps[RMIG_CAP_RDMA_PIN_ALL]);
	assert_int_equal(parse(&o, "loopback", "--transport", "unix", "--addr", "/tmp/s", NULL), 0);
	assert_int_equal(o.transport, CLI_TRANSPORT_UNIX);
	assert_string_equal(o.addr, "/tmp/s");
	assert_false(o.prealloc);
	assert_int_equal(parse(&o, "loopback", "--prealloc", NULL), 0);
	assert_true(o.prealloc);
	assert_int_equal(parse(&o, "bench", "--ram", "2G", NULL), 0);
	assert_true(o.bench_ram == 2ULL << 30);
	assert_int_equal(parse(&o, "bench", "--help", NULL), 0);
	assert_true(o.help);
	/* --help needs no URI */
	assert_int_equal(parse(&o, "migrate", "-h", NULL), 0);
	assert_true(o.help);
}

static void test_qmp_and_defer(void **state)
{
	struct cli_options o;

	(void)state;
	assert_int_equal(parse(&o, "incoming", "defer", "--qmp", "/tmp/q.sock", NULL), 0);
	assert_string_equal(o.qmp_path, "/tmp/q.sock");
	assert_true(o.defer);
	assert_int_equal(parse(&o, "migrate", "--qmp", "/q", "tcp:h:1", NULL), 0);
	assert_false(o.defer);
	assert_int_equal(parse(&o, "loopback", "--qmp", "/q", NULL), 0);
	assert_string_equal(o.qmp_path, "/q");
	/* defer waits for a URI over QMP: without a monitor it would wait forever. */
	assert_int_equal(parse(&o, "migrate", "defer", NULL), -EINVAL);
	assert_int_equal(parse(&o, "incoming", "defer", "--qmp", "", NULL), -EINVAL);
	assert_int_equal(parse(&o, "bench", "--qmp", "/q", NULL), -EINVAL);
}

static void test_usage_errors(void **state)
{
	struct cli_options o;

	(void)state;
	assert_int_equal(parse(&o, "migrate", NULL), -EINVAL);		   /* no URI */
	assert_int_equal(parse(&o, "migrate", "a", "b", NULL), -EINVAL);   /* two */
	assert_int_equal(parse(&o, "loopback", "tcp:x:1", NULL), -EINVAL); /* none wanted */
	assert_int_equal(parse(&o, "migrate", "u", "--bogus", NULL), -EINVAL);
	assert_int_equal(parse(&o, "migrate", "u", "-x", NULL), -EINVAL);
	assert_int_equal(parse(&o, "migrate", "u", "--ram", NULL), -EINVAL); /* no value */
	assert_int_equal(parse(&o, "incoming", "u", "--ram", "1G", NULL), -EINVAL);
	assert_int_equal(parse(&o, "bench", "--dirty-rate", "1M", NULL), -EINVAL);
	assert_int_equal(parse(&o, "migrate", "u", "--transport", "tcp", NULL), -EINVAL);
	/* Only loopback knows the source's layout before it connects. */
	assert_int_equal(parse(&o, "incoming", "u", "--prealloc", NULL), -EINVAL);
	assert_int_equal(parse(&o, "loopback", "--transport", "ib", NULL), -EINVAL);
	assert_int_equal(parse(&o, "bench", "--ram", "4K", NULL), -EINVAL);
}

static void test_bad_values(void **state)
{
	static const char *const bad[][2] = {
	    {"--ram", "3X"},
	    {"--ram", ""},
	    {"--ram", "3M,,5M"},
	    {"--ram", "3M,"},
	    {"--ram", "0"},
	    {"--ram", "-1G"},
	    {"--page-size", "3000"},
	    {"--page-size", "256"},
	    {"--page-size", "2G"},
	    {"--zero-share", "1.5"},
	    {"--zero-share", "-0.1"},
	    {"--zero-share", "nan"},
	    {"--zero-share", "0.5x"},
	    {"--hot-fraction", "0"},
	    {"--hot-share", "2"},
	    {"--dirty-rate", "fast"},
	    {"--pattern", "random"},
	    {"--writers", "0"},
	    {"--writers", "257"},
	    {"--writers", "-1"},
	    {"--seed", "-1"},
	    {"--seed", "99999999999999999999"},
	    {"--max-bandwidth", "-5"},
	    {"--downtime-limit", "0"},
	    {"--downtime-limit", "1.5"},
	    {"--connect-timeout", "0"},
	    {"--connect-timeout", "soon"},
	};
	struct cli_options o;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(&o, "migrate", "u", bad[i][0], bad[i][1], NULL);

		if (rc != -EINVAL)
			fail_msg("%s '%s' was accepted", bad[i][0], bad[i][1]);
	}
}

static void test_ram_list_limits(void **state)
{
	struct rmig_guest_config cfg;
	char list[256] = "";

	(void)state;
	rmig_guest_config_init(&cfg);
	for (unsigned i = 0; i < RMIG_GUEST_MAX_BLOCKS; i++)
		strcat(list, i ? ",1M" : "1M");
	assert_int_equal(cli_parse_ram_list(list, &cfg), 0);
	assert_int_equal(cfg.nblocks, RMIG_GUEST_MAX_BLOCKS);
	strcat(list, ",1M");
	cfg.nblocks = 1;
	assert_int_equal(cli_parse_ram_list(list, &cfg), -E2BIG);
	assert_int_equal(cfg.nblocks, 1); /* untouched on error */
}

static void test_value_parsers(void **state)
{
	uint64_t u = 42;
	double f = 9;
	int ms = 9;

	(void)state;
	assert_int_equal(cli_parse_uint("18446744073709551615", 0, UINT64_MAX, &u), 0);
	assert_true(u == UINT64_MAX);
	assert_int_equal(cli_parse_uint("18446744073709551616", 0, UINT64_MAX, &u), -ERANGE);
	assert_int_equal(cli_parse_uint(" 1", 0, 9, &u), -EINVAL);
	assert_int_equal(cli_parse_uint("+1", 0, 9, &u), -EINVAL);
	assert_int_equal(cli_parse_uint("10", 0, 9, &u), -ERANGE);
	assert_int_equal(cli_parse_fraction("0", 0, 1, true, &f), 0);
	assert_true(f == 0);
	assert_int_equal(cli_parse_fraction("0", 0, 1, false, &f), -ERANGE);
	assert_int_equal(cli_parse_fraction(".5", 0, 1, true, &f), 0);
	assert_true(f == 0.5);
	assert_int_equal(cli_parse_fraction("inf", 0, 1, true, &f), -EINVAL);
	assert_int_equal(cli_parse_fraction("1e0", 0, 1, true, &f), 0);
	assert_int_equal(cli_parse_seconds("0.0001", &ms), -ERANGE);
	assert_int_equal(cli_parse_seconds("30", &ms), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(cli_parse_seconds("9999999999", &ms), -ERANGE);
}

static void test_exit_codes(void **state)
{
	(void)state;
	assert_int_equal(cli_exit_for_error(0, true), CLI_EXIT_OK);
	assert_int_equal(cli_exit_for_error(-ECONNREFUSED, true), CLI_EXIT_UNREACHABLE);
	assert_int_equal(cli_exit_for_error(-EHOSTUNREACH, false), CLI_EXIT_UNREACHABLE);
	assert_int_equal(cli_exit_for_error(-ENETUNREACH, true), CLI_EXIT_UNREACHABLE);
	assert_int_equal(cli_exit_for_error(-ETIMEDOUT, false), CLI_EXIT_UNREACHABLE);
	assert_int_equal(cli_exit_for_error(-EINPROGRESS, false), CLI_EXIT_IN_DOUBT);
	assert_int_equal(cli_exit_for_error(-EREMOTEIO, false), CLI_EXIT_FAILED);
	assert_int_equal(cli_exit_for_error(-ENOMEM, false), CLI_EXIT_RESOURCES);
	assert_int_equal(cli_exit_for_error(-EAGAIN, true), CLI_EXIT_RESOURCES);
	assert_int_equal(cli_exit_for_error(-EPERM, true), CLI_EXIT_RESOURCES);
	assert_int_equal(cli_exit_for_error(-EINVAL, true), CLI_EXIT_USAGE);
	/* after data moved, EINVAL is a bad stream, not a bad command line */
	assert_int_equal(cli_exit_for_error(-EINVAL, false), CLI_EXIT_FAILED);
	assert_int_equal(cli_exit_for_error(-EPROTONOSUPPORT, true), CLI_EXIT_USAGE);
	assert_int_equal(cli_exit_for_error(-EIO, false), CLI_EXIT_FAILED);
	assert_int_equal(cli_exit_for_error(-EPIPE, false), CLI_EXIT_FAILED);
	assert_int_equal(cli_exit_for_error(-ECANCELED, false), CLI_EXIT_CANCELLED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),	   cmocka_unit_test(test_every_source_option),
	    cmocka_unit_test(test_other_commands), cmocka_unit_test(test_usage_errors),
	    cmocka_unit_test(test_qmp_and_defer),
	    cmocka_unit_test(test_bad_values),	   cmocka_unit_test(test_ram_list_limits),
	    cmocka_unit_test(test_value_parsers),  cmocka_unit_test(test_exit_codes),
	};

	return cmocka_run_group_tests(tests, setup_quiet, teardown_args);
}
