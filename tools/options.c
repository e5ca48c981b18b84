/* SPDX-License-Identifier: MIT */
/*
 * Command-line options of the rmig tool.
 *
 * One table describes every option and which subcommands take it, so
 * "rmig incoming --ram 1G" is refused with a message naming the option
 * and the subcommand instead of being silently ignored.  Values are checked
 * here, before anything is allocated or connected, and every complaint
 * names the option and the value it did not like.  Sizes go through the
 * library's own rmig_size_parse() so the tool and the API agree on what
 * "1.5G" means.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "tools/cli.h"

#define FOR_I	(1u << CLI_CMD_INCOMING)
#define FOR_M	(1u << CLI_CMD_MIGRATE)
#define FOR_L	(1u << CLI_CMD_LOOPBACK)
#define FOR_B	(1u << CLI_CMD_BENCH)
#define FOR_ALL (FOR_I | FOR_M | FOR_L | FOR_B)
#define FOR_SRC (FOR_M | FOR_L)

/* Long-only options get codes past any character. */
enum {
	OPT_JSON = 256,
	OPT_PLUGIN_DIR,
	OPT_PIN_ALL,
	OPT_ACCEPT_TIMEOUT,
	OPT_RAM,
	OPT_PAGE_SIZE,
	OPT_ZERO_SHARE,
	OPT_DIRTY_RATE,
	OPT_PATTERN,
	OPT_HOT_FRACTION,
	OPT_HOT_SHARE,
	OPT_WRITERS,
	OPT_SEED,
	OPT_MAX_BANDWIDTH,
	OPT_DOWNTIME_LIMIT,
	OPT_PEER_TIMEOUT,
	OPT_MAX_PINNED,
	OPT_MAX_RAM,
	OPT_RUN,
	OPT_AUTO_CONVERGE,
	OPT_NO_ZERO_PAGES,
	OPT_NO_VERIFY,
	OPT_CONNECT_TIMEOUT,
	OPT_TRANSPORT,
	OPT_ADDR,
	OPT_QMP,
	OPT_TLS_CREDS,
	OPT_TLS_PSK,
	OPT_TLS_HOSTNAME,
	OPT_TLS_AUTHZ,
	OPT_AUTH_KEY,
	OPT_CHANNELS,
	OPT_PLOT,
	OPT_NUMA_NODE,
	OPT_PREALLOC,
};

struct cli_opt {
	struct option lo;
	unsigned cmds; /* FOR_* mask of the subcommands that accept it */
};

static const struct cli_opt cli_opts[] = {
    {{"help", no_argument, NULL, 'h'}, FOR_ALL},
    {{"verbose", no_argument, NULL, 'v'}, FOR_ALL},
    {{"quiet", no_argument, NULL, 'q'}, FOR_I | FOR_SRC},
    {{"json", no_argument, NULL, OPT_JSON}, FOR_I | FOR_SRC | FOR_B},
    {{"plot", required_argument, NULL, OPT_PLOT}, FOR_B},
    {{"numa-node", required_argument, NULL, OPT_NUMA_NODE}, FOR_I | FOR_SRC},
    {{"plugin-dir", required_argument, NULL, OPT_PLUGIN_DIR}, FOR_I | FOR_SRC},
    {{"pin-all", no_argument, NULL, OPT_PIN_ALL}, FOR_I | FOR_SRC},
    {{"accept-timeout", required_argument, NULL, OPT_ACCEPT_TIMEOUT}, FOR_I},
    {{"run", required_argument, NULL, OPT_RUN}, FOR_I},
    {{"ram", required_argument, NULL, OPT_RAM}, FOR_SRC | FOR_B},
    {{"page-size", required_argument, NULL, OPT_PAGE_SIZE}, FOR_SRC},
    {{"zero-share", required_argument, NULL, OPT_ZERO_SHARE}, FOR_SRC},
    {{"dirty-rate", required_argument, NULL, OPT_DIRTY_RATE}, FOR_SRC | FOR_I},
    {{"pattern", required_argument, NULL, OPT_PATTERN}, FOR_SRC},
    {{"hot-fraction", required_argument, NULL, OPT_HOT_FRACTION}, FOR_SRC},
    {{"hot-share", required_argument, NULL, OPT_HOT_SHARE}, FOR_SRC},
    {{"writers", required_argument, NULL, OPT_WRITERS}, FOR_SRC},
    {{"seed", required_argument, NULL, OPT_SEED}, FOR_SRC},
    {{"max-bandwidth", required_argument, NULL, OPT_MAX_BANDWIDTH}, FOR_SRC},
    {{"downtime-limit", required_argument, NULL, OPT_DOWNTIME_LIMIT}, FOR_SRC},
    {{"peer-timeout", required_argument, NULL, OPT_PEER_TIMEOUT}, FOR_I | FOR_SRC},
    {{"max-pinned", required_argument, NULL, OPT_MAX_PINNED}, FOR_SRC},
    {{"max-ram", required_argument, NULL, OPT_MAX_RAM}, FOR_I},
    {{"auto-converge", no_argument, NULL, OPT_AUTO_CONVERGE}, FOR_SRC},
    {{"no-zero-pages", no_argument, NULL, OPT_NO_ZERO_PAGES}, FOR_SRC},
    {{"no-verify", no_argument, NULL, OPT_NO_VERIFY}, FOR_SRC},
    {{"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT}, FOR_SRC},
    {{"transport", required_argument, NULL, OPT_TRANSPORT}, FOR_L},
    {{"addr", required_argument, NULL, OPT_ADDR}, FOR_L},
    {{"prealloc", no_argument, NULL, OPT_PREALLOC}, FOR_L},
    {{"qmp", required_argument, NULL, OPT_QMP}, FOR_I | FOR_M | FOR_L},
    {{"tls-creds", required_argument, NULL, OPT_TLS_CREDS}, FOR_I | FOR_M | FOR_L},
    {{"tls-psk", required_argument, NULL, OPT_TLS_PSK}, FOR_I | FOR_M | FOR_L},
    {{"tls-hostname", required_argument, NULL, OPT_TLS_HOSTNAME}, FOR_M | FOR_L},
    {{"tls-authz", required_argument, NULL, OPT_TLS_AUTHZ}, FOR_I | FOR_L},
    {{"auth-key", required_argument, NULL, OPT_AUTH_KEY}, FOR_I | FOR_M | FOR_L},
    {{"channels", required_argument, NULL, OPT_CHANNELS}, FOR_SRC | FOR_B},
};

#define CLI_NOPTS RMIG_ARRAY_SIZE(cli_opts)

static const char *const cmd_names[CLI_CMD__COUNT] = {
    [CLI_CMD_INCOMING] = "incoming",
    [CLI_CMD_MIGRATE] = "migrate",
    [CLI_CMD_LOOPBACK] = "loopback",
    [CLI_CMD_BENCH] = "bench",
};

const char *cli_cmd_name(enum cli_cmd cmd)
{
	return (unsigned)cmd < CLI_CMD__COUNT ? cmd_names[cmd] : "?";
}

int cli_cmd_from_name(const char *name)
{
	for (int i = 0; i < CLI_CMD__COUNT; i++)
		if (name && strcmp(name, cmd_names[i]) == 0)
			return i;
	return -1;
}

void cli_options_init(struct cli_options *o, enum cli_cmd cmd)
{
	memset(o, 0, sizeof(*o));
	o->cmd = cmd;
	rmig_guest_config_init(&o->guest);
	o->guest.nblocks = 1;
	o->guest.block_size[0] = CLI_DEFAULT_RAM;
	rmig_params_init(&o->params);
	/* Accepting pin-all is the default, as in QEMU: the source asked for it. */
	if (cmd == CLI_CMD_INCOMING)
		o->params.caps[RMIG_CAP_RDMA_PIN_ALL] = true;
	o->accept_timeout_ms = -1;
	o->transport = CLI_TRANSPORT_AUTO;
	o->bench_ram = CLI_DEFAULT_BENCH_RAM;
}

/* ---- value parsers ---- */

int cli_parse_channel_list(const char *s, unsigned *out, unsigned *n)
{
	unsigned list[CLI_BENCH_CHANNELS_MAX], count = 0;
	char buf[128];
	char *save = NULL, *tok;

	if (!s || !*s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (count == CLI_BENCH_CHANNELS_MAX ||
		    cli_parse_uint(tok, 1, RMIG_MULTIFD_CHANNELS_LIMIT, &v))
			return -EINVAL;
		list[count++] = (unsigned)v;
	}
	/* "1,,2" or a trailing comma is a typo, not a shorter list. */
	if (!count || strstr(s, ",,") || s[0] == ',' || s[strlen(s) - 1] == ',')
		return -EINVAL;
	memcpy(out, list, count * sizeof(*out));
	*n = count;
	return 0;
}

int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	/* By hand: strtoull takes blanks, signs and wraps "-1" to 2^64-1. */
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++)
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
			return -ERANGE;
	if (*p)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int cli_parse_fraction(const char *s, double min, double max, bool min_inclusive, double *out)
{
	char *end;
	double v;

	/* A leading digit or '.' only: no blanks, signs, "nan" or "inf". */
	if (!s || !((*s >= '0' && *s <= '9') || *s == '.'))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || errno || !isfinite(v))
		return -EINVAL;
	if (v > max || v < min || (!min_inclusive && v == min))
		return -ERANGE;
	*out = v;
	return 0;
}

/* Longest timeout a poll() millisecond int can carry, with room to spare. */
#define CLI_SECONDS_MAX (INT32_MAX / 1000 - 1)

int cli_parse_seconds(const char *s, int *out_ms)
{
	double v;
	int rc = cli_parse_fraction(s, 0.0, CLI_SECONDS_MAX, false, &v);

	if (rc)
		return rc;
	if (v < 0.001)
		return -ERANGE;
	*out_ms = (int)llround(v * 1000.0);
	return 0;
}

int cli_parse_ram_list(const char *s, struct rmig_guest_config *cfg)
{
	uint64_t sizes[RMIG_GUEST_MAX_BLOCKS];
	char item[64];
	unsigned n = 0;
	const char *p = s;

	if (!s || !*s) {
		rmig_error("no size given");
		return -EINVAL;
	}
	for (;;) {
		size_t len = strcspn(p, ",");
		int rc;

		if (n == RMIG_GUEST_MAX_BLOCKS) {
			rmig_error("too many RAM blocks: at most %u", RMIG_GUEST_MAX_BLOCKS);
			return -E2BIG;
		}
		if (len == 0 || len >= sizeof(item)) {
			rmig_error("invalid size '%.*s' in the list", (int)RMIG_MIN(len, 64), p);
			return -EINVAL;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		rc = rmig_size_parse(item, &sizes[n]);
		if (rc)
			return rc;
		if (sizes[n] == 0) {
			rmig_error("invalid size '%s': a RAM block cannot be empty", item);
			return -EINVAL;
		}
		n++;
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	cfg->nblocks = n;
	memcpy(cfg->block_size, sizes, n * sizeof(sizes[0]));
	return 0;
}

/* ---- the parser ---- */

static const struct cli_opt *cli_opt_find(int code)
{
	for (size_t i = 0; i < CLI_NOPTS; i++)
		if (cli_opts[i].lo.val == code)
			return &cli_opts[i];
	return NULL;
}

/* Report a bad value: "rmig: migrate: --ram: <why>". */
static int bad_value(const struct cli_options *o, const char *opt, const char *why)
{
	cli_msg("%s: --%s: %s", cli_cmd_name(o->cmd), opt, why);
	return -EINVAL;
}

/* As bad_value(), with the reason the library just gave (rmig_error_get_last). */
static int bad_value_lib(const struct cli_options *o, const char *opt)
{
	return bad_value(o, opt, rmig_error_get_last());
}

static int bad_number(const struct cli_options *o, const char *opt, const char *val, int rc,
		      const char *expected)
{
	char why[192];

	snprintf(why, sizeof(why), "%s '%.64s': expected %s",
		 rc == -ERANGE ? "out of range" : "invalid value", val, expected);
	return bad_value(o, opt, why);
}

static int parse_page_size(struct cli_options *o, const char *val)
{
	uint64_t v;
	char why[160];

	if (rmig_size_parse(val, &v))
		return bad_value_lib(o, "page-size");
	if (!RMIG_IS_POW2(v) || v < RMIG_PAGE_SIZE_MIN || v > RMIG_PAGE_SIZE_MAX) {
		snprintf(why, sizeof(why),
			 "invalid page size '%.64s': expected a power of two from %u to %u bytes",
			 val, RMIG_PAGE_SIZE_MIN, RMIG_PAGE_SIZE_MAX);
		return bad_value(o, "page-size", why);
	}
	o->guest.page_size = (uint32_t)v;
	return 0;
}

static int parse_transport(struct cli_options *o, const char *val)
{
	static const char *const names[] = {"auto", "tcp", "unix", "rdma"};
	char why[128];

	for (unsigned i = 0; i < RMIG_ARRAY_SIZE(names); i++) {
		if (strcmp(val, names[i]) == 0) {
			o->transport = (enum cli_transport)i;
			return 0;
		}
	}
	snprintf(why, sizeof(why), "unknown transport '%.64s': expected tcp, unix, rdma or auto",
		 val);
	return bad_value(o, "transport", why);
}

/* --tls-authz DN, repeatable: the accepted names, one per line. */
static int add_authz(struct cli_options *o, const char *dn)
{
	char *list = o->params.tls_authz;
	size_t used = strlen(list), len = strlen(dn);

	if (!len || strchr(dn, '\n')) {
		cli_msg("%s: --tls-authz needs one distinguished name, e.g. 'CN=src,O=example'",
			cli_cmd_name(o->cmd));
		return -EINVAL;
	}
	if (used + (used ? 1 : 0) + len >= sizeof(o->params.tls_authz)) {
		cli_msg("%s: --tls-authz: the names add up to more than %zu bytes",
			cli_cmd_name(o->cmd), sizeof(o->params.tls_authz) - 1);
		return -EINVAL;
	}
	if (used)
		list[used++] = '\n';
	memcpy(list + used, dn, len + 1);
	return 0;
}

/* One option's value into @o; returns 0 or -EINVAL (already reported). */
static int apply_option(struct cli_options *o, const struct cli_opt *opt, const char *val)
{
	const char *name = opt->lo.name;
	uint64_t u;
	int rc;

	switch (opt->lo.val) {
	case 'h':
		o->help = true;
		return 0;
	case 'v':
		o->verbose++;
		return 0;
	case 'q':
		o->quiet = true;
		return 0;
	case OPT_JSON:
		o->json = true;
		return 0;
	case OPT_PLUGIN_DIR:
		o->plugin_dir = val;
		return 0;
	case OPT_PIN_ALL:
		o->params.caps[RMIG_CAP_RDMA_PIN_ALL] = true;
		return 0;
	case OPT_AUTO_CONVERGE:
		o->params.caps[RMIG_CAP_AUTO_CONVERGE] = true;
		return 0;
	case OPT_NO_ZERO_PAGES:
		o->params.caps[RMIG_CAP_ZERO_PAGES] = false;
		return 0;
	case OPT_NO_VERIFY:
		o->params.caps[RMIG_CAP_VERIFY] = false;
		return 0;
	case OPT_PREALLOC:
		o->prealloc = true;
		return 0;
	case OPT_ADDR:
		o->addr = val;
		return 0;
	case OPT_TLS_CREDS:
	case OPT_TLS_PSK:
	case OPT_TLS_HOSTNAME:
	case OPT_AUTH_KEY:
		return rmig_params_set(&o->params, name, val) ? bad_value_lib(o, name) : 0;
	case OPT_TLS_AUTHZ:
		return add_authz(o, val);
	case OPT_QMP:
		if (!*val) {
			cli_msg("%s: --qmp needs a socket path", cli_cmd_name(o->cmd));
			return -EINVAL;
		}
		o->qmp_path = val;
		return 0;
	case OPT_TRANSPORT:
		return parse_transport(o, val);
	case OPT_PAGE_SIZE:
		return parse_page_size(o, val);
	case OPT_ACCEPT_TIMEOUT:
		rc = cli_parse_seconds(val, &o->accept_timeout_ms);
		return rc ? bad_number(o, name, val, rc, "seconds (e.g. 30 or 0.5)") : 0;
	case OPT_RUN:
		rc = cli_parse_seconds(val, &o->run_ms);
		return rc ? bad_number(o, name, val, rc, "seconds (e.g. 30 or 0.5)") : 0;
	case OPT_CONNECT_TIMEOUT:
		rc = cli_parse_seconds(val, &o->connect_timeout_ms);
		return rc ? bad_number(o, name, val, rc, "seconds (e.g. 30 or 0.5)") : 0;
	case OPT_RAM:
		if (o->cmd == CLI_CMD_BENCH) {
			if (rmig_size_parse(val, &u))
				return bad_value_lib(o, name);
			if (u < (1u << 20))
				return bad_value(o, name, "the benchmark needs at least 1M");
			o->bench_ram = u;
			return 0;
		}
		return cli_parse_ram_list(val, &o->guest) ? bad_value_lib(o, name) : 0;
	case OPT_ZERO_SHARE:
		rc = cli_parse_fraction(val, 0.0, 1.0, true, &o->guest.zero_share);
		return rc ? bad_number(o, name, val, rc, "a fraction from 0 to 1") : 0;
	case OPT_HOT_FRACTION:
		rc = cli_parse_fraction(val, 0.0, 1.0, false, &o->guest.hot_fraction);
		return rc ? bad_number(o, name, val, rc, "a fraction above 0, at most 1") : 0;
	case OPT_HOT_SHARE:
		rc = cli_parse_fraction(val, 0.0, 1.0, false, &o->guest.hot_share);
		return rc ? bad_number(o, name, val, rc, "a fraction above 0, at most 1") : 0;
	case OPT_DIRTY_RATE:
		if (rmig_size_parse(val, &o->guest.dirty_rate))
			return bad_value_lib(o, name);
		o->dirty_rate_set = true;
		return 0;
	case OPT_PATTERN:
		if (strcmp(val, "uniform") == 0)
			o->guest.pattern = RMIG_GUEST_UNIFORM;
		else if (strcmp(val, "hotset") == 0)
			o->guest.pattern = RMIG_GUEST_HOTSET;
		else
			return bad_number(o, name, val, -EINVAL, "uniform or hotset");
		return 0;
	case OPT_WRITERS:
		rc = cli_parse_uint(val, 1, CLI_WRITERS_MAX, &u);
		if (rc)
			return bad_number(o, name, val, rc, "a whole number from 1 to 256");
		o->guest.writers = (unsigned)u;
		return 0;
	case OPT_SEED:
		rc = cli_parse_uint(val, 0, UINT64_MAX, &u);
		if (rc)
			return bad_number(o, name, val, rc, "a whole number");
		o->guest.seed = u;
		return 0;
	case OPT_MAX_BANDWIDTH:
		return rmig_params_set(&o->params, "max-bandwidth", val) ? bad_value_lib(o, name)
									 : 0;
	case OPT_DOWNTIME_LIMIT:
		return rmig_params_set(&o->params, "downtime-limit", val) ? bad_value_lib(o, name)
									  : 0;
	case OPT_PEER_TIMEOUT:
		return rmig_params_set(&o->params, "peer-timeout", val) ? bad_value_lib(o, name) : 0;
	case OPT_MAX_RAM:
		return rmig_params_set(&o->params, "max-ram", val) ? bad_value_lib(o, name) : 0;
	case OPT_NUMA_NODE:
		return rmig_params_set(&o->params, "numa-node", val) ? bad_value_lib(o, name) : 0;
	case OPT_PLOT:
		o->bench_plot = val;
		return 0;
	case OPT_CHANNELS:
		if (o->cmd == CLI_CMD_BENCH)
			return cli_parse_channel_list(val, o->bench_channels, &o->bench_nchannels)
				   ? bad_value(o, name, "a list of channel counts from 1 to 64, "
							"e.g. 1,2,4")
				   : 0;
		/* QEMU's pair: the capability and the count, set together. */
		if (rmig_params_set(&o->params, "multifd-channels", val))
			return bad_value_lib(o, name);
		o->params.caps[RMIG_CAP_MULTIFD] = true;
		return 0;
	case OPT_MAX_PINNED:
		return rmig_params_set(&o->params, "rdma-max-pinned", val) ? bad_value_lib(o, name)
									   : 0;
	}
	return bad_value(o, name, "internal error: option without a handler");
}

/* getopt's tables, built from cli_opts (getopt wants them contiguous). */
static void build_tables(struct option *lo, char *shortopts, size_t shortlen)
{
	size_t n = 0;

	/* ':' first: report missing arguments as ':' so we can word the message. */
	n += (size_t)snprintf(shortopts, shortlen, ":");
	for (size_t i = 0; i < CLI_NOPTS; i++) {
		lo[i] = cli_opts[i].lo;
		if (lo[i].val < 256 && n + 3 < shortlen) {
			shortopts[n++] = (char)lo[i].val;
			if (lo[i].has_arg == required_argument)
				shortopts[n++] = ':';
		}
	}
	shortopts[n] = '\0';
	memset(&lo[CLI_NOPTS], 0, sizeof(lo[CLI_NOPTS]));
}

/* The text of the option getopt just complained about, for the message. */
static const char *offending(int argc, char **argv, int code)
{
	static char buf[8];

	if (code > 0 && code < 256) {
		snprintf(buf, sizeof(buf), "-%c", code);
		return buf;
	}
	return optind - 1 < argc && optind >= 1 ? argv[optind - 1] : "?";
}

int cli_options_parse(struct cli_options *o, int argc, char **argv)
{
	struct option lo[CLI_NOPTS + 1];
	char shortopts[2 * CLI_NOPTS + 2];
	int c, rc = 0;

	build_tables(lo, shortopts, sizeof(shortopts));
	/* The library's parsers report with rmig_error(); we reword and print once. */
	cli_log_mute(true);
	opterr = 0;
	optind = 0; /* GNU: full re-initialisation, so the parser can run more than once */
	while ((c = getopt_long(argc, argv, shortopts, lo, NULL)) != -1) {
		const struct cli_opt *opt = cli_opt_find(c);

		if (c == '?') {
			cli_msg("%s: unknown option '%s'", cli_cmd_name(o->cmd),
				optopt ? offending(argc, argv, optopt) : offending(argc, argv, 0));
			rc = -EINVAL;
			break;
		}
		if (c == ':') {
			cli_msg("%s: option '%s' needs a value", cli_cmd_name(o->cmd),
				offending(argc, argv, optopt < 256 ? optopt : 0));
			rc = -EINVAL;
			break;
		}
		if (!opt || !(opt->cmds & (1u << o->cmd))) {
			cli_msg("%s: option '--%s' does not apply to 'rmig %s'",
				cli_cmd_name(o->cmd), opt ? opt->lo.name : "?",
				cli_cmd_name(o->cmd));
			rc = -EINVAL;
			break;
		}
		rc = apply_option(o, opt, optarg);
		if (rc)
			break;
	}
	if (!rc)
		rc = cli_options_check(o, cli_cmd_name(o->cmd), argc, argv);
	cli_log_mute(false);
	return rc;
}
