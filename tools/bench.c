/* SPDX-License-Identifier: MIT */
/*
 * `rmig bench`: figures, not a test.
 *
 * The headline is the TCP migration's goodput as a share of what a raw
 * socket achieves over the same loopback with the same I/O shape: 1 MiB
 * writes from a populated region into a fresh, never-touched region (the
 * destination's RAM is freshly mapped too, so both pay the same page
 * faults).  Goodput counts RAM bytes, not stream bytes, over the span the
 * state machine timestamps from ACTIVE to completed, so connection setup
 * is excluded for both sides.  Verification is off because it measures
 * the checksum, not the data path; the checksum has its own row.
 *
 * Every figure is the best of BENCH_REPS runs: noise on a shared machine
 * only ever makes a run slower, so the best is the closest to the truth.
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
#include "tools/cli.h"

#define BENCH_REPS	  3
#define BENCH_CHUNK	  (1u << 20)   /* the stream's largest run: 256 pages of 4 KiB */
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

/* ---- migration over TCP loopback ---- */

struct bench_times {
	_Atomic uint64_t setup_ns, active_ns, completed_ns;
};

static void on_state(void *opaque, enum rmig_state from, enum rmig_state to, uint64_t when_ns)
{
	struct bench_times *t = opaque;

	(void)from;
	if (to == RMIG_STATE_SETUP)
		atomic_store(&t->setup_ns, when_ns);
	else if (to == RMIG_STATE_ACTIVE)
		atomic_store(&t->active_ns, when_ns);
	else if (to == RMIG_STATE_COMPLETED)
		atomic_store(&t->completed_ns, when_ns);
}

struct bench_run {
	uint64_t active_ns; /* ACTIVE -> completed */
	uint64_t total_ns;  /* total-time, setup included */
};

/* One migration of @ram to a fresh destination.  0 or -errno (reported). */
static int bench_migrate_once(struct rmig_ram *ram, const struct rmig_embedder *emb,
			      const struct rmig_params *params, struct bench_run *run)
{
	struct bench_times times = {0};
	struct rmig_migration *m;
	struct rmig_info info;
	struct cli_dest d;
	sigset_t saved;
	int rc;

	struct rmig_params dest_params = *params;

	dest_params.caps[RMIG_CAP_RDMA_PIN_ALL] = false;
	dest_params.max_ram = 0;
	rc = cli_dest_listen(&d, "tcp:127.0.0.1:0", &dest_params);
	if (rc)
		return rc;
	rc = cli_dest_start(&d, 30000);
	if (rc)
		goto out_dest;
	m = rmig_migration_new(ram, emb);
	if (!m) {
		rc = -ENOMEM;
		goto out_dest;
	}
	rc = rmig_migration_set_params(m, params);
	if (!rc)
		rc = rmig_migration_add_listener(m, on_state, &times);
	if (rc)
		goto out_migration;
	cli_signals_block(&saved);
	rc = rmig_migration_start(m, d.uri);
	cli_signals_restore(&saved);
	if (rc)
		goto out_migration;
	while (!rmig_state_is_terminal(rmig_migration_get_state(m))) {
		if (cli_interrupted())
			rmig_migration_cancel(m);
		cli_sleep_ms(20);
	}
	rmig_migration_wait(m);
	rmig_migration_query(m, &info);
	rc = cli_dest_join(&d);
	if (info.status != RMIG_STATE_COMPLETED) {
		rc = cli_interrupted() ? -ECANCELED : rmig_migration_get_error(m);
		if (!rc)
			rc = -EIO;
		goto out_migration;
	}
	if (rc)
		goto out_migration;
	run->active_ns = atomic_load(&times.completed_ns) - atomic_load(&times.active_ns);
	/* total-time, but from the listener's ns stamps rather than query's whole ms */
	run->total_ns = atomic_load(&times.completed_ns) - atomic_load(&times.setup_ns);
out_migration:
	rmig_migration_free(m);
out_dest:
	cli_dest_fini(&d);
	return rc;
}

/* ---- raw socket baseline ---- */

struct raw_reader {
	int fd;
	uint8_t *dst;
	uint64_t len;
	int err;
};

static void *raw_reader_thread(void *opaque)
{
	struct raw_reader *r = opaque;

	for (uint64_t off = 0; off < r->len;) {
		ssize_t n =
		    read(r->fd, r->dst + off, RMIG_MIN((uint64_t)BENCH_CHUNK, r->len - off));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r->err = n < 0 ? -errno : -EPIPE;
			return NULL;
		}
		off += (uint64_t)n;
	}
	return NULL;
}

/* A connected pair over 127.0.0.1 with TCP_NODELAY, as the tcp: transport sets it. */
static int raw_connect(int *wfd, int *rfd)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t salen = sizeof(sa);
	int one = 1, lfd, c = -1, a, rc;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0)
		goto err_sockets;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto err_sockets;
	a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (a < 0)
		goto err_sockets;
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(lfd);
	*wfd = c;
	*rfd = a;
	return 0;

err_sockets:
	rc = -errno;
	rmig_error("bench: raw socket over 127.0.0.1: %s", strerror(-rc));
	if (c >= 0)
		close(c);
	if (lfd >= 0)
		close(lfd);
	return rc;
}

/* Move @len bytes of @src through a socket into a fresh region; returns ns or -errno. */
static int64_t raw_once(const uint8_t *src, uint64_t len)
{
	struct raw_reader r = {.len = len};
	pthread_t th;
	sigset_t saved;
	uint64_t t0 = 0, t1 = 0; /* read only when rc == 0, which sets both */
	int wfd = -1, rc;

	r.dst = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r.dst == MAP_FAILED) {
		rmig_error("bench: cannot map %" PRIu64 " bytes for the raw baseline", len);
		return -ENOMEM;
	}
	rc = raw_connect(&wfd, &r.fd);
	if (rc)
		goto out_unmap;
	cli_signals_block(&saved);
	rc = -pthread_create(&th, NULL, raw_reader_thread, &r);
	cli_signals_restore(&saved);
	if (rc)
		goto out_close;
	t0 = rmig_time_now_ns();
	for (uint64_t off = 0; off < len;) {
		ssize_t n = write(wfd, src + off, RMIG_MIN((uint64_t)BENCH_CHUNK, len - off));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		off += (uint64_t)n;
	}
	if (rc)
		shutdown(wfd, SHUT_RDWR); /* unblock the reader */
	pthread_join(th, NULL);
	t1 = rmig_time_now_ns();
	if (!rc)
		rc = r.err;
	if (rc)
		rmig_error("bench: raw socket transfer failed: %s", strerror(-rc));
out_close:
	close(wfd);
	close(r.fd);
out_unmap:
	munmap(r.dst, len);
	return rc ? rc : (int64_t)(t1 - t0);
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

struct net_figs {
	uint64_t mig_active_ns, mig_total_ns, raw_ns;
	uint64_t tls_active_ns, tls_total_ns; /* the same migration over TLS-PSK */
};

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

static int bench_network(const struct cli_options *o, struct net_figs *f)
{
	struct rmig_guest_config cfg;
	struct rmig_guest *g;
	struct rmig_embedder emb;
	struct rmig_params params, tls_params;
	struct rmig_ram ram;
	char psk[RMIG_PARAM_PATH_MAX];
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

	rmig_ram_init(&ram);
	rc = rmig_guest_create(&cfg, &ram, &g);
	if (rc)
		goto out_ram;
	emb = rmig_guest_embedder(g);
	f->mig_active_ns = f->mig_total_ns = f->raw_ns = UINT64_MAX;
	f->tls_active_ns = f->tls_total_ns = UINT64_MAX;
	for (int rep = 0; rep < BENCH_REPS; rep++) {
		struct bench_run run;
		int64_t raw;

		rc = bench_migrate_once(&ram, &emb, &params, &run);
		if (rc)
			break;
		/* A completed migration leaves the guest stopped; the next run needs it back. */
		rmig_guest_cont(g);
		f->mig_active_ns = RMIG_MIN(f->mig_active_ns, run.active_ns);
		f->mig_total_ns = RMIG_MIN(f->mig_total_ns, run.total_ns);
		/* The same guest over TLS, in the same run, so the ratio compares like with like. */
		rc = bench_migrate_once(&ram, &emb, &tls_params, &run);
		if (rc)
			break;
		rmig_guest_cont(g);
		f->tls_active_ns = RMIG_MIN(f->tls_active_ns, run.active_ns);
		f->tls_total_ns = RMIG_MIN(f->tls_total_ns, run.total_ns);
		raw = raw_once(rmig_ram_get_block(&ram, 0)->host, o->bench_ram);
		if (raw < 0) {
			rc = (int)raw;
			break;
		}
		f->raw_ns = RMIG_MIN(f->raw_ns, (uint64_t)raw);
		if (cli_interrupted()) {
			rc = -ECANCELED;
			break;
		}
	}
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
	print_row("raw socket, 1 MiB writes into a fresh region", ram, n->raw_ns);
	printf("  %-*s %8.2f  (target >= 0.90)\n", LABEL_W, "ratio: migration goodput / raw",
	       raw > 0 ? mig / raw : 0);
	print_row("migration goodput over TLS-PSK, ACTIVE -> completed", ram, n->tls_active_ns);
	print_row("migration over TLS-PSK, total time (incl. handshake)", ram, n->tls_total_ns);
	printf("  %-*s %8.2f\n", LABEL_W, "ratio: TLS goodput / plain goodput",
	       mig > 0 ? gib_s(ram, n->tls_active_ns) / mig : 0);
	printf("  (verify off: this measures the data path; the checksum has its own row)\n\n");
	printf("%-*s %8s %8s %9s\n", LABEL_W + 2, "Memory, 256 MiB populated region", "GiB/s",
	       "Gb/s", "ms");
	snprintf(label, sizeof(label), "zero-page scan, 4 KiB pages, %s (x%d)",
		 rmig_buffer_is_zero_impl(), BENCH_ZERO_PASSES);
	print_row(label, scanned, m->zero_ns);
	print_row("memcpy", BENCH_MEM_REGION, m->memcpy_ns);
	print_row("rmig_checksum", BENCH_MEM_REGION, m->checksum_ns);
	fflush(stdout);
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
	print_table(o->bench_ram, &net, &mem);
	return CLI_EXIT_OK;
}
