/* SPDX-License-Identifier: MIT */
/*
 * `rmig bench`: figures, not a test.
 *
 * The headline is the TCP migration's goodput as a share of what a raw
 * socket achieves over the same loopback with the same I/O shape: 1 MiB
 * writes from a populated region into a populated region (bench_run.c
 * says why populated), and with --channels the same for N channels beside
 * N raw sockets.  Goodput counts RAM bytes, not stream bytes, over the span the
 * state machine timestamps from ACTIVE to completed, so connection setup
 * is excluded for both sides.  Verification is off because it measures
 * the checksum, not the data path; the checksum has its own row.
 *
 * Every figure is the best of BENCH_REPS runs: noise on a shared machine
 * only ever makes a run slower, so the best is the closest to the truth.
 * A ratio is the median of paired runs instead (struct pair_figs says why).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "common/ram/checksum.h"
#include "common/ram/zero.h"
#include "tools/bench.h"

#define BENCH_REPS	  10
#define BENCH_MEM_REGION  (256u << 20) /* for the memory-speed rows */
#define BENCH_ZERO_PASSES 4	       /* 1 GiB of scanning per run */

static double gib_s(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / (double)(1ULL << 30) / ((double)ns / 1e9) : 0;
}

static double gbit_s(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes * 8 / (double)ns : 0;
}

/* ---- memory speeds ---- */

static volatile uint64_t bench_sink; /* keeps results alive so no loop is optimised away */

static uint64_t time_zero_scan(const uint8_t *zero, size_t len)
{
	uint64_t t0 = rmig_time_now_ns(), nz = 0;

	for (int pass = 0; pass < BENCH_ZERO_PASSES; pass++)
		for (size_t off = 0; off < len; off += 4096) /* page by page, as the sender does */
			nz += !rmig_buffer_is_zero(zero + off, 4096);
	bench_sink += nz;
	return rmig_time_now_ns() - t0;
}

static uint64_t time_memcpy(uint8_t *dst, const uint8_t *src, size_t len)
{
	uint64_t t0 = rmig_time_now_ns();

	memcpy(dst, src, len);
	__asm__ volatile("" : : "r"(dst) : "memory");
	return rmig_time_now_ns() - t0;
}

static uint64_t time_checksum(const uint8_t *src, size_t len)
{
	uint64_t t0 = rmig_time_now_ns();

	bench_sink += rmig_checksum(src, len, 0);
	return rmig_time_now_ns() - t0;
}

struct mem_figs {
	uint64_t zero_ns, memcpy_ns, checksum_ns;
};

static int bench_memory(struct mem_figs *f)
{
	const size_t len = BENCH_MEM_REGION;
	uint8_t *zero, *src, *dst;
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	zero = mmap(NULL, 3 * len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (zero == MAP_FAILED) {
		rmig_error("bench: cannot map %zu MiB for the memory figures", 3 * (len >> 20));
		return -ENOMEM;
	}
	src = zero + len;
	dst = src + len;
	/* Populate everything first: page faults are not what these rows measure. */
	memset(zero, 0, len);
	memset(dst, 0, len);
	for (size_t i = 0; i < len; i += 8) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64: cheap non-zero data */
		memcpy(src + i, &x, 8);
	}
	f->zero_ns = f->memcpy_ns = f->checksum_ns = UINT64_MAX;
	for (int rep = 0; rep < BENCH_REPS && !cli_interrupted(); rep++) {
		f->zero_ns = RMIG_MIN(f->zero_ns, time_zero_scan(zero, len));
		f->memcpy_ns = RMIG_MIN(f->memcpy_ns, time_memcpy(dst, src, len));
		f->checksum_ns = RMIG_MIN(f->checksum_ns, time_checksum(src, len));
	}
	munmap(zero, 3 * len);
	return cli_interrupted() ? -ECANCELED : 0;
}

/* ---- the command ---- */

/*
 * A migration beside its raw baseline, run back to back in every
 * repetition.  The ratio is the median of the repetitions' own ratios:
 * this machine drifts between fast and slow phases that last longer than
 * a run and shorter than a repetition, and a pair run side by side shares
 * its phase, where the best of one column and the best of the other need
 * not have.
 */
struct pair_figs {
	double ratio[BENCH_REPS]; /* migration goodput / raw goodput, per repetition */
	unsigned n;
};

/* multifd with @channels beside as many raw sockets. */
struct chan_figs {
	unsigned channels;
	uint64_t mig_active_ns, raw_ns;
	struct pair_figs pair;
};

struct net_figs {
	uint64_t mig_active_ns, mig_total_ns, raw_ns;
	struct pair_figs pair;
	uint64_t tls_active_ns, tls_total_ns; /* the same migration over TLS-PSK */
	unsigned nchan;
	struct chan_figs chan[CLI_BENCH_CHANNELS_MAX];
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pair_median(const struct pair_figs *p)
{
	double v[BENCH_REPS];

	if (!p->n)
		return 0;
	memcpy(v, p->ratio, p->n * sizeof(v[0]));
	qsort(v, p->n, sizeof(v[0]), cmp_double);
	return p->n % 2 ? v[p->n / 2] : (v[p->n / 2 - 1] + v[p->n / 2]) / 2;
}

/* A fresh TLS-PSK key file for the run (random key, identity "rmig"). */
static int bench_psk_file(char *path, size_t len)
{
	unsigned char key[32];
	FILE *rnd = fopen("/dev/urandom", "r");
	int fd, rc = 0;

	if ((size_t)snprintf(path, len, "%s/rmig-bench-psk-XXXXXX",
			     getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") >= len)
		return -ENAMETOOLONG;
	if (!rnd)
		return -errno;
	if (fread(key, 1, sizeof(key), rnd) != sizeof(key))
		rc = -EIO;
	fclose(rnd);
	fd = rc ? -1 : mkstemp(path);
	if (fd < 0)
		return rc ? rc : -errno;
	dprintf(fd, "rmig:");
	for (size_t i = 0; i < sizeof(key); i++)
		dprintf(fd, "%02x", key[i]);
	dprintf(fd, "\n");
	close(fd);
	return 0;
}

/* Run @params once and keep the best times; *@this_ns is this run's. */
static int bench_keep_best(struct rmig_ram *ram, const struct rmig_embedder *emb,
			   struct rmig_guest *g, const struct rmig_params *params, uint8_t *dst,
			   uint64_t *active_ns, uint64_t *total_ns, uint64_t *this_ns)
{
	struct bench_run run;
	int rc = bench_migrate_once(ram, emb, params, dst, &run);

	if (rc)
		return rc;
	*this_ns = run.active_ns;
	/* A completed migration leaves the guest stopped; the next run needs it back. */
	rmig_guest_cont(g);
	*active_ns = RMIG_MIN(*active_ns, run.active_ns);
	if (total_ns)
		*total_ns = RMIG_MIN(*total_ns, run.total_ns);
	return 0;
}

/* The raw baseline right after the migration that took @mig_ns: one more pair. */
static int bench_raw_pair(const struct rmig_ram *ram, uint8_t *dst, uint64_t len, unsigned n,
			  uint64_t mig_ns, uint64_t *ns, struct pair_figs *pair)
{
	int64_t raw = bench_raw_once(rmig_ram_get_block(ram, 0)->host, dst, len, n);

	if (raw < 0)
		return (int)raw;
	*ns = RMIG_MIN(*ns, (uint64_t)raw);
	if (mig_ns && pair->n < BENCH_REPS)
		pair->ratio[pair->n++] = (double)raw / (double)mig_ns;
	return 0;
}

/*
 * One repetition of every figure, in the same order each time, so that a
 * slow moment of the machine is spread over all of them rather than
 * landing on one.
 */
static int bench_rep(const struct cli_options *o, struct rmig_ram *ram,
		     const struct rmig_embedder *emb, struct rmig_guest *g,
		     const struct rmig_params *params, const struct rmig_params *tls_params,
		     uint8_t *dst, struct net_figs *f)
{
	uint64_t this_ns = 0, tls_ns;
	int rc = bench_keep_best(ram, emb, g, params, dst, &f->mig_active_ns, &f->mig_total_ns,
				 &this_ns);

	if (!rc)
		rc = bench_raw_pair(ram, dst, o->bench_ram, 1, this_ns, &f->raw_ns, &f->pair);
	/* The same guest over TLS, in the same run, so the ratio compares like with like. */
	if (!rc)
		rc = bench_keep_best(ram, emb, g, tls_params, dst, &f->tls_active_ns,
				     &f->tls_total_ns, &tls_ns);
	for (unsigned i = 0; i < f->nchan && !rc; i++) {
		struct rmig_params mp = *params;

		mp.caps[RMIG_CAP_MULTIFD] = true;
		mp.multifd_channels = f->chan[i].channels;
		rc = bench_keep_best(ram, emb, g, &mp, dst, &f->chan[i].mig_active_ns, NULL,
				     &this_ns);
		if (!rc)
			rc = bench_raw_pair(ram, dst, o->bench_ram, f->chan[i].channels, this_ns,
					    &f->chan[i].raw_ns, &f->chan[i].pair);
	}
	if (!rc && cli_interrupted())
		rc = -ECANCELED;
	return rc;
}

static int bench_network(const struct cli_options *o, struct net_figs *f)
{
	struct rmig_guest_config cfg;
	struct rmig_guest *g;
	struct rmig_embedder emb;
	struct rmig_params params, tls_params;
	struct rmig_ram ram;
	char psk[RMIG_PARAM_PATH_MAX];
	uint8_t *dst = NULL;
	int rc;

	rmig_guest_config_init(&cfg);
	cfg.nblocks = 1;
	cfg.block_size[0] = o->bench_ram;
	cfg.zero_share = 0; /* every page carries data */
	cfg.dirty_rate = 0; /* idle: one bulk round, nothing to re-send */
	cfg.seed = 1;
	rmig_params_init(&params);
	params.caps[RMIG_CAP_VERIFY] = false;
	tls_params = params;
	rc = bench_psk_file(psk, sizeof(psk));
	if (rc) {
		rmig_error("bench: cannot write a TLS key file: %s", strerror(-rc));
		return rc;
	}
	memcpy(tls_params.tls_psk, psk, sizeof(psk));

	memset(f, 0, sizeof(*f));
	f->mig_active_ns = f->mig_total_ns = f->raw_ns = UINT64_MAX;
	f->tls_active_ns = f->tls_total_ns = UINT64_MAX;
	f->nchan = o->bench_nchannels;
	for (unsigned i = 0; i < f->nchan; i++)
		f->chan[i] = (struct chan_figs){ .channels = o->bench_channels[i],
						 .mig_active_ns = UINT64_MAX,
						 .raw_ns = UINT64_MAX };
	rmig_ram_init(&ram);
	rc = rmig_guest_create(&cfg, &ram, &g);
	if (rc)
		goto out_ram;
	emb = rmig_guest_embedder(g);
	dst = bench_dest_map(o->bench_ram);
	if (!dst)
		rc = -ENOMEM;
	for (int rep = 0; rep < BENCH_REPS && !rc; rep++)
		rc = bench_rep(o, &ram, &emb, g, &params, &tls_params, dst, f);
	if (dst)
		munmap(dst, o->bench_ram);
	rmig_guest_destroy(g);
out_ram:
	rmig_ram_fini(&ram);
	unlink(psk);
	return rc;
}

/* Figures from a busy machine are not comparable with a quiet one's; say which this was. */
static void print_load(void)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double load = -1;

	if (f) {
		if (fscanf(f, "%lf", &load) != 1)
			load = -1;
		fclose(f);
	}
	if (load >= 0)
		printf("machine: %ld CPUs online, load average %.2f%s\n\n",
		       sysconf(_SC_NPROCESSORS_ONLN), load,
		       load >= (double)sysconf(_SC_NPROCESSORS_ONLN) ? " (busy: expect noise)"
								     : "");
	else
		printf("\n");
}

#define LABEL_W 52 /* width of the first column */

static void print_row(const char *label, uint64_t bytes, uint64_t ns)
{
	printf("  %-*s %8.2f %8.2f %9.1f\n", LABEL_W, label, gib_s(bytes, ns), gbit_s(bytes, ns),
	       (double)ns / 1e6);
}

static void print_table(uint64_t ram, const struct net_figs *n, const struct mem_figs *m)
{
	const uint64_t scanned = (uint64_t)BENCH_MEM_REGION * BENCH_ZERO_PASSES;
	double mig = gib_s(ram, n->mig_active_ns), raw = gib_s(ram, n->raw_ns);
	char size[32], title[96], label[64];

	rmig_size_format(ram, size, sizeof(size));
	printf("rmig bench: best of %d runs per figure\n", BENCH_REPS);
	print_load();
	snprintf(title, sizeof(title), "TCP over 127.0.0.1, %s idle guest, random pages", size);
	printf("%-*s %8s %8s %9s\n", LABEL_W + 2, title, "GiB/s", "Gb/s", "ms");
	print_row("migration goodput, ACTIVE -> completed", ram, n->mig_active_ns);
	print_row("migration goodput, total time (incl. setup)", ram, n->mig_total_ns);
	print_row("raw socket, 1 MiB writes into a populated region", ram, n->raw_ns);
	printf("  %-*s %8.2f  (target >= 0.90; best / best: %.2f)\n", LABEL_W,
	       "ratio: migration / raw, median of paired runs", pair_median(&n->pair),
	       raw > 0 ? mig / raw : 0);
	print_row("migration goodput over TLS-PSK, ACTIVE -> completed", ram, n->tls_active_ns);
	print_row("migration over TLS-PSK, total time (incl. handshake)", ram, n->tls_total_ns);
	printf("  %-*s %8.2f\n", LABEL_W, "ratio: TLS goodput / plain goodput",
	       mig > 0 ? gib_s(ram, n->tls_active_ns) / mig : 0);
	printf("  (verify off: this measures the data path; the checksum has its own row)\n\n");
	if (n->nchan) {
		printf("multifd, %s over N channels beside N raw sockets (GiB/s)\n", size);
		printf("  %8s %10s %10s %8s %14s\n", "channels", "migration", "raw", "ratio",
		       "vs 1 stream");
		for (unsigned i = 0; i < n->nchan; i++) {
			const struct chan_figs *c = &n->chan[i];
			double cm = gib_s(ram, c->mig_active_ns), cr = gib_s(ram, c->raw_ns);

			printf("  %8u %10.2f %10.2f %8.2f %14.2f\n", c->channels, cm, cr,
			       pair_median(&c->pair), mig > 0 ? cm / mig : 0);
		}
		printf("  (ratio: migration / the same number of raw sockets, median of paired "
		       "runs, target >= 0.90;\n   vs 1 stream: best / the best single-stream "
		       "migration above)\n\n");
	}
	printf("%-*s %8s %8s %9s\n", LABEL_W + 2, "Memory, 256 MiB populated region", "GiB/s",
	       "Gb/s", "ms");
	snprintf(label, sizeof(label), "zero-page scan, 4 KiB pages, %s (x%d)",
		 rmig_buffer_is_zero_impl(), BENCH_ZERO_PASSES);
	print_row(label, scanned, m->zero_ns);
	print_row("memcpy", BENCH_MEM_REGION, m->memcpy_ns);
	print_row("rmig_checksum", BENCH_MEM_REGION, m->checksum_ns);
	fflush(stdout);
}

static void json_fig(const char *name, uint64_t bytes, uint64_t ns, bool comma)
{
	printf("\"%s\":{\"gib_s\":%.4f,\"ms\":%.2f}%s", name, gib_s(bytes, ns), (double)ns / 1e6,
	       comma ? "," : "");
}

/* One JSON object on stdout: every figure of the table, and the ratios. */
static void print_json(uint64_t ram, const struct net_figs *n, const struct mem_figs *m)
{
	double mig = gib_s(ram, n->mig_active_ns), raw = gib_s(ram, n->raw_ns);

	printf("{\"reps\":%d,\"ram_bytes\":%" PRIu64 ",\"tcp\":{", BENCH_REPS, ram);
	json_fig("migration", ram, n->mig_active_ns, true);
	json_fig("migration_total", ram, n->mig_total_ns, true);
	json_fig("raw", ram, n->raw_ns, true);
	printf("\"ratio\":%.4f,\"ratio_of_best\":%.4f,", pair_median(&n->pair),
	       raw > 0 ? mig / raw : 0);
	json_fig("tls", ram, n->tls_active_ns, true);
	json_fig("tls_total", ram, n->tls_total_ns, true);
	printf("\"tls_ratio\":%.4f},\"channels\":[", mig > 0 ? gib_s(ram, n->tls_active_ns) / mig : 0);
	for (unsigned i = 0; i < n->nchan; i++) {
		const struct chan_figs *c = &n->chan[i];
		double cm = gib_s(ram, c->mig_active_ns), cr = gib_s(ram, c->raw_ns);

		printf("%s{\"channels\":%u,", i ? "," : "", c->channels);
		json_fig("migration", ram, c->mig_active_ns, true);
		json_fig("raw", ram, c->raw_ns, true);
		printf("\"ratio\":%.4f,\"ratio_of_best\":%.4f,\"vs_single_stream\":%.4f}",
		       pair_median(&c->pair), cr > 0 ? cm / cr : 0, mig > 0 ? cm / mig : 0);
	}
	printf("],\"memory\":{");
	json_fig("zero_scan", (uint64_t)BENCH_MEM_REGION * BENCH_ZERO_PASSES, m->zero_ns, true);
	json_fig("memcpy", BENCH_MEM_REGION, m->memcpy_ns, true);
	json_fig("checksum", BENCH_MEM_REGION, m->checksum_ns, false);
	printf("}}\n");
	fflush(stdout);
}

/*
 * Goodput against channels, migration beside raw sockets, drawn by gnuplot
 * from the same figures --json prints.  0, or -errno (reported).
 */
static int bench_plot(const char *path, uint64_t ram, const struct net_figs *n)
{
	FILE *gp;
	int rc;

	/* Checked with the options (options_check.c); a guard, since it goes into gnuplot's code. */
	if (!n->nchan || !cli_plot_path_safe(path)) {
		rmig_error("bench: --plot %s: refused (needs --channels, and a path without quotes)",
			   path);
		return -EINVAL;
	}
	gp = popen("gnuplot", "w");
	if (!gp) {
		rmig_error("bench: cannot run gnuplot for --plot: %s", strerror(errno));
		return -errno;
	}
	fprintf(gp, "set terminal svg size 720,440 dynamic background rgb 'white'\n"
		    "set output '%s'\n"
		    "set title 'rmig multifd over TCP loopback, best of %d runs'\n"
		    "set xlabel 'channels (raw: sockets)'\nset ylabel 'goodput, GiB/s'\n"
		    "set yrange [0:*]\nset key left top\nset grid\n",
		path, BENCH_REPS);
	/* Ticks at the counts measured, and room around them. */
	fprintf(gp, "set xtics (");
	for (unsigned i = 0; i < n->nchan; i++)
		fprintf(gp, "%s%u", i ? "," : "", n->chan[i].channels);
	fprintf(gp, ")\nset xrange [0.5:%u.5]\n$d << EOD\n", n->chan[n->nchan - 1].channels);
	for (unsigned i = 0; i < n->nchan; i++)
		fprintf(gp, "%u %.4f %.4f\n", n->chan[i].channels,
			gib_s(ram, n->chan[i].mig_active_ns), gib_s(ram, n->chan[i].raw_ns));
	fprintf(gp, "EOD\nplot $d using 1:2 with linespoints lw 2 title 'migration', "
		    "$d using 1:3 with linespoints lw 2 dt 2 title 'raw sockets', "
		    "%.4f with lines dt 3 title 'single-stream migration'\n",
		gib_s(ram, n->mig_active_ns));
	rc = pclose(gp);
	if (rc != 0) {
		rmig_error("bench: gnuplot failed drawing %s (status %d); is gnuplot installed?",
			   path, rc);
		return -EIO;
	}
	return 0;
}

int cli_cmd_bench(const struct cli_options *o)
{
	struct net_figs net;
	struct mem_figs mem;
	int rc;

	rc = bench_network(o, &net);
	if (!rc)
		rc = bench_memory(&mem);
	if (rc) {
		if (rc == -ECANCELED && cli_interrupted())
			return CLI_EXIT_CANCELLED;
		/* the cause was reported where it happened */
		cli_msg("bench failed (exit %d: %s)", (int)cli_exit_for_error(rc, false),
			cli_exit_meaning(cli_exit_for_error(rc, false)));
		return cli_exit_for_error(rc, false);
	}
	if (o->json)
		print_json(o->bench_ram, &net, &mem);
	else
		print_table(o->bench_ram, &net, &mem);
	if (o->bench_plot) {
		rc = bench_plot(o->bench_plot, o->bench_ram, &net);
		if (rc)
			return CLI_EXIT_FAILED;
		if (!o->json)
			printf("plot: %s\n", o->bench_plot);
	}
	return CLI_EXIT_OK;
}
