/* SPDX-License-Identifier: MIT */
/*
 * Internals of the rmig command-line tool, shared by its subcommands.
 *
 * The tool is split by concept: options.c turns argv into struct
 * cli_options (and nothing else, so it is unit-testable); progress.c owns
 * stderr while a migration runs (the live line and the log sink that must
 * not tear it); report.c turns results into text, JSON and exit codes;
 * signals.c is the Ctrl-C plumbing; source.c and dest.c drive the two ends
 * of a migration; cmd_*.c and bench.c are the subcommands.
 */
#ifndef RMIG_CLI_H
#define RMIG_CLI_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/base/size.h"
#include "common/engine/incoming.h"
#include "common/engine/migration.h"
#include "common/engine/params.h"
#include "common/engine/stats.h"
#include "common/ram/ram.h"
#include "tools/guest.h"

/* Exit codes; the help text documents the same table. */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILED = 1,	  /* migration failed, verification failed included */
	CLI_EXIT_USAGE = 2,	  /* bad option, URI or value */
	CLI_EXIT_UNREACHABLE = 3, /* peer refused, unreachable or timed out */
	CLI_EXIT_RESOURCES = 4,	  /* out of memory, memlock, descriptors */
	CLI_EXIT_IN_DOUBT = 5,	  /* incoming: hand-over in doubt (docs/switchover.md) */
	CLI_EXIT_AUTH = 6,	  /* the peer did not prove who it is, or refused us (TLS) */
	CLI_EXIT_CANCELLED = 130, /* SIGINT/SIGTERM, as a shell reports a killed job */
};

enum cli_cmd {
	CLI_CMD_INCOMING = 0,
	CLI_CMD_MIGRATE,
	CLI_CMD_LOOPBACK,
	CLI_CMD_BENCH,
	CLI_CMD__COUNT,
};

enum cli_transport {
	CLI_TRANSPORT_AUTO = 0,
	CLI_TRANSPORT_TCP,
	CLI_TRANSPORT_UNIX,
	CLI_TRANSPORT_RDMA,
};

#define CLI_DEFAULT_RAM	      (256ULL << 20)
#define CLI_DEFAULT_BENCH_RAM (1ULL << 30)
#define CLI_WRITERS_MAX	      256

struct cli_options {
	enum cli_cmd cmd;
	const char *uri; /* incoming, migrate: the one positional argument */
	bool help;

	/* output */
	bool json;
	bool quiet;
	int verbose; /* -v: info, -vv: debug */
	const char *plugin_dir;

	/* source */
	struct rmig_guest_config guest;
	struct rmig_params params; /* caps[RDMA_PIN_ALL] doubles as the incoming's --pin-all */
	int connect_timeout_ms;	   /* 0: the transport's own default */

	/* incoming */
	int accept_timeout_ms; /* < 0: wait forever */
	int run_ms;	       /* incoming: run the workload here this long after the hand-over */
	bool dirty_rate_set;   /* --dirty-rate was given (incoming: only with --run) */
#define CLI_RUN_DEFAULT_DIRTY_RATE (16ULL << 20) /* --run without --dirty-rate */

	/* loopback */
	enum cli_transport transport;
	const char *addr; /* NULL: the transport's default */
	bool prealloc;	  /* --prealloc: fault the destination's RAM in before the clock starts */

	/* bench */
	uint64_t bench_ram;
#define CLI_BENCH_CHANNELS_MAX 8
	unsigned bench_channels[CLI_BENCH_CHANNELS_MAX]; /* --channels 1,2,4 */
	unsigned bench_nchannels;			  /* 0: single stream only */
	const char *bench_plot;				  /* --plot FILE.svg */

	/* QMP (incoming, migrate, loopback) */
	const char *qmp_path; /* --qmp: serve QMP on this unix socket */
	bool defer;	      /* URI "defer": wait for migrate / migrate-incoming over QMP */
};

#define CLI_URI_DEFER "defer"
#define CLI_TICK_MS   200 /* how often the main thread redraws and looks at its flags */

/* ---- options.c ---- */

const char *cli_cmd_name(enum cli_cmd cmd);
/* -1 when @name is not a subcommand. */
int cli_cmd_from_name(const char *name);
void cli_options_init(struct cli_options *o, enum cli_cmd cmd);
/*
 * Parse a subcommand's arguments; argv[0] is the subcommand's name.  On a
 * usage error, prints "rmig: CMD: <what is wrong>" on stderr and returns
 * -EINVAL; on success fills @o (o->help when --help was given).
 */
int cli_options_parse(struct cli_options *o, int argc, char **argv);

/* ---- options_check.c ---- */

/*
 * After the options: the positional URI and the options that only mean
 * something together; @cmd names the subcommand in messages.  0, or
 * -EINVAL after "rmig: CMD: <what>" on stderr.
 */
int cli_options_check(struct cli_options *o, const char *cmd, int argc, char **argv);
/* False when @path cannot go between gnuplot's single quotes. */
bool cli_plot_path_safe(const char *path);

/* Value parsers, exposed for the unit test.  0 or -EINVAL/-ERANGE; *out set only on success. */
int cli_parse_fraction(const char *s, double min, double max, bool min_inclusive, double *out);
int cli_parse_seconds(const char *s, int *out_ms);
int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int cli_parse_ram_list(const char *s, struct rmig_guest_config *cfg);
/* "1,2,4": up to CLI_BENCH_CHANNELS_MAX counts of 1 to 64.  0 or -EINVAL. */
int cli_parse_channel_list(const char *s, unsigned *out, unsigned *n);

/* ---- progress.c: stderr while a migration runs ---- */

/* Route library messages through the tool, so they never tear the progress line. */
void cli_log_install(int verbose);
/* While muted, this thread's library errors are recorded (rmig_error_get_last), not printed. */
void cli_log_mute(bool muted);
/* True if an error with exactly this text was already printed (so reports skip it). */
bool cli_log_was_printed(const char *msg);
/* Print "rmig: <fmt>" on stderr, clearing the progress line first. */
void cli_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct cli_progress {
	bool enabled;
	uint64_t start_ns;
	/* a short history of (time, bytes) to show the throughput of the last second */
	uint64_t t_ns[8];
	uint64_t bytes[8];
	unsigned nsamples, head;
};

void cli_progress_init(struct cli_progress *p, bool enabled);
/* @receiving: word the line for the destination ("received" rather than "remaining"). */
void cli_progress_draw(struct cli_progress *p, const struct rmig_info *info, bool receiving);
void cli_progress_clear(void);

/* Human rates: "2.31 GiB/s". */
const char *cli_format_rate(double bytes_per_sec, char *buf, unsigned len);

/* ---- report.c ---- */

/*
 * Exit code for a failure with -errno @err.  @in_setup: the failure came
 * before any data moved, where EINVAL means a bad address (usage), not a
 * bad stream.
 */
enum cli_exit cli_exit_for_error(int err, bool in_setup);
const char *cli_exit_meaning(enum cli_exit code);
/* The final report: text (unless quiet) or one JSON line on stdout. */
void cli_report_source(const struct cli_options *o, const struct rmig_info *info);
void cli_report_incoming(const struct cli_options *o, const struct rmig_info *info,
			 const struct rmig_load_info *li, int rc);
/* Print info->error_desc unless the log sink already showed it. */
void cli_report_error_desc(const struct rmig_info *info);
void cli_print_json(const struct rmig_info *info);

/* ---- signals.c ---- */

/* SIGINT/SIGTERM set a flag; the second one exits at once with 130. */
int cli_signals_install(void);
bool cli_interrupted(void);
/* Threads inherit the mask: create them with the signals blocked, so only main sees them. */
void cli_signals_block(sigset_t *saved);
void cli_signals_restore(const sigset_t *saved);
/* Sleep up to @ms, returning early on a signal. */
void cli_sleep_ms(unsigned ms);

/* ---- dest.c: the destination, loading in its own thread ---- */

struct cli_dest {
	struct rmig_ram ram;
	struct rmig_incoming *in;
	pthread_t thread;
	bool thread_started;
	int accept_timeout_ms;
	_Atomic bool done;
	_Atomic bool started; /* the start callback ran: the source committed */
	_Atomic bool workload_running; /* --run: the workload runs here now */
	bool resolved;		       /* loopback: in doubt, settled from the source's outcome */
	int rc;
	char uri[256]; /* the bound address, e.g. with the port chosen */
};

/*
 * The incoming migration, not yet listening, with @p's destination
 * parameters: caps[rdma-pin-all] (accept the source's request),
 * peer-timeout, max-ram and the tls-* ones.
 */
int cli_dest_open(struct cli_dest *d, const struct rmig_params *p);
/* Listen on @uri (after cli_dest_open). */
int cli_dest_bind(struct cli_dest *d, const char *uri);
/* Both. */
int cli_dest_listen(struct cli_dest *d, const char *uri, const struct rmig_params *p);
int cli_dest_start(struct cli_dest *d, int accept_timeout_ms);
/*
 * Before cli_dest_start(): give the destination blocks laid out as @like's
 * (names, lengths, page sizes), mapped and faulted in on every CPU, as
 * QEMU's -mem-prealloc does.  *@ns is the time it took.
 */
int cli_dest_prealloc(struct cli_dest *d, const struct rmig_ram *like, uint64_t *ns);
/*
 * Fault in fresh, zero-filled [@addr, @addr + @len) on up to @threads CPUs
 * without changing a byte (MADV_POPULATE_WRITE, else a store per page).
 * 0, or the negative errno of rmig_mem_populate().
 */
int cli_mem_prefault(void *addr, uint64_t len, unsigned threads);
bool cli_dest_done(struct cli_dest *d);
void cli_dest_cancel(struct cli_dest *d);
/* Join the loader; returns rmig_incoming_run()'s result. */
int cli_dest_join(struct cli_dest *d);
void cli_dest_fini(struct cli_dest *d);

/* ---- source.c: the synthetic guest and its migration ---- */

/* Told when the guest stops or continues (the monitor's STOP and RESUME events). */
typedef void (*cli_guest_hook_fn)(void *opaque, bool running);

struct cli_source {
	struct rmig_ram ram;
	struct rmig_guest *guest;
	struct rmig_embedder guest_emb; /* the guest's own */
	struct rmig_embedder emb;	/* what the migration calls: the guest's, then the hook */
	cli_guest_hook_fn hook;
	void *hook_opaque;
	const _Atomic bool *quit; /* the monitor's quit request, or NULL */
	uint64_t t0_ns;		  /* when the migration was started */
	struct rmig_migration *mig;
	uint64_t writes_at_end;	     /* guest writes when the migration ended */
	bool timed_out;		     /* cancelled by --connect-timeout, not by the user */
	_Atomic bool reached_active; /* set by a state listener: failures after it are not usage */
};

/*
 * Create and start the guest, create the migration and apply o's
 * parameters.  @hook (may be NULL) hears of every stop and continue.
 */
int cli_source_create(struct cli_source *s, const struct cli_options *o, cli_guest_hook_fn hook,
		      void *hook_opaque);
/* Start the migration to @uri (any thread).  0, or -errno with @info filled. */
int cli_source_start(struct cli_source *s, const char *uri);
/*
 * Wait for the started migration, drawing progress and turning Ctrl-C (or
 * the monitor's quit) into a cancel.  @dest (loopback) is watched too: if
 * it fails first, the source is cancelled rather than left waiting.  Fills
 * @info with the final state.
 */
void cli_source_watch(struct cli_source *s, const struct cli_options *o, const char *uri,
		      struct cli_dest *dest, struct rmig_info *info);
/* Both: 0, or the start's -errno (then @info holds the state). */
int cli_source_run(struct cli_source *s, const struct cli_options *o, const char *uri,
		   struct cli_dest *dest, struct rmig_info *info);
/* The exit code of a finished source run (cancelled / failed / completed). */
enum cli_exit cli_source_exit_code(struct cli_source *s, const struct rmig_info *info);
/* After a cancel or failure: tell the user whether the guest kept running. */
void cli_source_report_guest(struct cli_source *s, const struct cli_options *o);
void cli_source_destroy(struct cli_source *s);

/* ---- subcommands ---- */

int cli_cmd_incoming(const struct cli_options *o);
int cli_cmd_migrate(const struct cli_options *o);
int cli_cmd_loopback(const struct cli_options *o);
int cli_cmd_bench(const struct cli_options *o);

/* ---- help.c ---- */

void cli_help_main(void);
/* 0, or -ENOENT for an unknown command. */
int cli_help_cmd(const char *name);
void cli_help_cmd_usage_hint(enum cli_cmd cmd);

#endif /* RMIG_CLI_H */
