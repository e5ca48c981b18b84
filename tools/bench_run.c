/* SPDX-License-Identifier: MIT */
/*
 * One measured run for `rmig bench`: a migration over TCP loopback, or the
 * raw-socket baseline with the same I/O shape.
 *
 * Both write into the same destination memory, faulted in once before any
 * clock starts.  On these virtual machines the first touch of fresh
 * anonymous memory costs two to three times more when the host took the
 * pages back meanwhile (free page reporting hands freed guest memory to the
 * hypervisor), and whether it did depends on what ran a few seconds
 * earlier; and how fast the same copy runs depends on which memory the host
 * backs it with.  A figure that included the faults, or wrote to different
 * memory than its baseline, swung between runs by more than the data path
 * itself costs.  With both out of the comparison the ratio measures the
 * data path, which is what it is for; an operator who wants the faults out
 * of a real migration pre-allocates the destination (QEMU's -mem-prealloc).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rmig/log.h>

#include "common/base/threadname.h"
#include "common/base/util.h"
#include "tools/bench.h"

/* ---- migration ---- */

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

uint8_t *bench_dest_map(uint64_t len)
{
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		rmig_error("bench: cannot map %" PRIu64 " bytes for the destination", len);
		return NULL;
	}
	/* Best effort: a page it could not fault in faults in during the first run. */
	(void)cli_mem_prefault(p, len, 1);
	return p;
}

/* The destination's one block, as the source's header names it, in @dst. */
static int prealloc_dest(struct cli_dest *d, const struct rmig_ram *src, uint8_t *dst)
{
	const struct rmig_ramblock *b = rmig_ram_get_block(src, 0);

	if (rmig_ram_get_nblocks(src) != 1) {
		rmig_error("bench: the guest must have exactly one block");
		return -EINVAL;
	}
	return rmig_ram_add(&d->ram, b->name, dst, b->length, b->page_size, NULL);
}

int bench_migrate_once(struct rmig_ram *ram, const struct rmig_embedder *emb,
		       const struct rmig_params *params, uint8_t *dst, struct bench_run *run)
{
	struct rmig_params dest_params = *params;
	struct bench_times times = { 0 };
	struct rmig_migration *m;
	struct rmig_info info;
	struct cli_dest d;
	sigset_t saved;
	int rc;

	dest_params.caps[RMIG_CAP_RDMA_PIN_ALL] = false;
	dest_params.max_ram = 0;
	rc = cli_dest_listen(&d, "tcp:127.0.0.1:0", &dest_params);
	if (rc)
		return rc;
	rc = prealloc_dest(&d, ram, dst);
	if (!rc)
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

/* ---- raw sockets ---- */

struct raw_pipe {
	int wfd, rfd;
	const uint8_t *src;
	uint8_t *dst;
	uint64_t len;
	int werr, rerr;
	pthread_t writer, reader;
	bool writer_started, reader_started;
};

static void *raw_reader_thread(void *opaque)
{
	struct raw_pipe *r = opaque;

	rmig_thread_name_self("bench-raw-rx");
	for (uint64_t off = 0; off < r->len;) {
		ssize_t n = read(r->rfd, r->dst + off, RMIG_MIN((uint64_t)BENCH_CHUNK, r->len - off));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r->rerr = n < 0 ? -errno : -EPIPE;
			return NULL;
		}
		off += (uint64_t)n;
	}
	return NULL;
}

static void *raw_writer_thread(void *opaque)
{
	struct raw_pipe *r = opaque;

	rmig_thread_name_self("bench-raw-tx");
	for (uint64_t off = 0; off < r->len;) {
		ssize_t n = write(r->wfd, r->src + off, RMIG_MIN((uint64_t)BENCH_CHUNK, r->len - off));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r->werr = -errno;
			shutdown(r->wfd, SHUT_RDWR); /* unblock the reader */
			return NULL;
		}
		off += (uint64_t)n;
	}
	return NULL;
}

/* A connected pair over 127.0.0.1 with TCP_NODELAY, as the tcp: transport sets it. */
static int raw_connect(int *wfd, int *rfd)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
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

/* Start both threads of every pipe; the clock runs from here. */
static int raw_start(struct raw_pipe *p, unsigned n)
{
	sigset_t saved;
	int rc = 0;

	cli_signals_block(&saved);
	for (unsigned i = 0; i < n && !rc; i++) {
		rc = -pthread_create(&p[i].reader, NULL, raw_reader_thread, &p[i]);
		p[i].reader_started = !rc;
		if (!rc)
			rc = -pthread_create(&p[i].writer, NULL, raw_writer_thread, &p[i]);
		p[i].writer_started = !rc;
	}
	cli_signals_restore(&saved);
	return rc;
}

int64_t bench_raw_once(const uint8_t *src, uint8_t *dst, uint64_t len, unsigned nsockets)
{
	uint64_t share = RMIG_ALIGN_UP(RMIG_DIV_ROUND_UP(len, nsockets), (uint64_t)BENCH_CHUNK);
	struct raw_pipe *p = calloc(nsockets, sizeof(*p));
	uint64_t t0, t1;
	int rc = 0;

	if (!p) {
		rmig_error("bench: out of memory for %u sockets", nsockets);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < nsockets; i++) {
		uint64_t off = RMIG_MIN((uint64_t)i * share, len);

		p[i].wfd = p[i].rfd = -1;
		p[i].src = src + off;
		p[i].dst = dst + off;
		p[i].len = RMIG_MIN(share, len - off);
		if (!rc)
			rc = raw_connect(&p[i].wfd, &p[i].rfd);
	}
	t0 = rmig_time_now_ns();
	if (!rc)
		rc = raw_start(p, nsockets);
	for (unsigned i = 0; i < nsockets; i++) {
		if (rc && p[i].wfd >= 0)
			shutdown(p[i].wfd, SHUT_RDWR);
		if (p[i].writer_started)
			pthread_join(p[i].writer, NULL);
		if (p[i].reader_started)
			pthread_join(p[i].reader, NULL);
	}
	t1 = rmig_time_now_ns();
	for (unsigned i = 0; i < nsockets; i++) {
		if (!rc)
			rc = p[i].werr ? p[i].werr : p[i].rerr;
		if (p[i].wfd >= 0)
			close(p[i].wfd);
		if (p[i].rfd >= 0)
			close(p[i].rfd);
	}
	if (rc)
		rmig_error("bench: raw socket transfer failed: %s", strerror(-rc));
	free(p);
	return rc ? rc : (int64_t)(t1 - t0);
}
