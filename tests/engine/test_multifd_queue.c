/* SPDX-License-Identifier: MIT */
/*
 * multifd, source side: how a channel drains its queue of page runs
 * (common/engine/multifd_send.c).  A channel takes every run queued ahead
 * of the next SYNC off its queue and writes them together, so the slots are
 * free while it writes; runs that arrive meanwhile go out after them, and
 * a SYNC still waits until all of them are handed to the connection.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "common/engine/format.h"
#include "common/engine/multifd.h"
#include "common/engine/stats.h"
#include "common/ram/ram.h"
#include "plugin/registry.h"
#include "plugin/sock.h"
#include "tests/support/test_quiet.h"

#define MIB (1024ull * 1024)
#define RUN_PAGES 256 /* one 1 MiB stripe of 4 KiB pages */
#define BLOCK_RUNS 32

static const uint8_t SESSION[RMIG_MULTIFD_SESSION_SIZE] = { 0x5a, 1, 2, 3 };

struct feeder {
	struct rmig_mfd_send *ms;
	struct rmig_ramblock *b;
	_Atomic unsigned queued; /* runs rmig_mfd_send_pages() took */
	int ret;
};

/* The migration thread's part: one stripe at a time, counting what was taken. */
static void *feed_runs(void *opaque)
{
	struct feeder *f = opaque;

	for (uint64_t page = 0; page < f->b->npages; page += RUN_PAGES) {
		f->ret = rmig_mfd_send_pages(f->ms, f->b, page, RUN_PAGES);
		if (f->ret)
			break;
		atomic_fetch_add(&f->queued, 1);
	}
	return NULL;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* One channel over a socketpair whose far end (@raw) the test holds. */
static struct rmig_mfd_send *one_channel(struct rmig_stats *st, _Atomic bool *cancel, int *raw)
{
	struct rmig_mfd_send_config cfg = {
		.channels = 1, .ping_interval_ms = 1000, .stats = st, .cancel = cancel,
	};
	struct rmig_mfd_send *ms;
	struct rmig_conn *conn;
	int sv[2], small = 64 * 1024;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	/* Far below one 1 MiB run, whatever the host's defaults: no run is written whole. */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
		assert_int_equal(setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	}
	assert_int_equal(rmig_sock_conn_new(sv[0], "chan", 30000, &conn), 0);
	conn->ops = rmig_transport_find("unix");
	assert_non_null(conn->ops);
	assert_int_equal(rmig_mfd_send_new(&cfg, &ms), 0);
	assert_int_equal(rmig_mfd_send_add(ms, 0, conn, SESSION), 0);
	*raw = sv[1];
	return ms;
}

/*
 * The peer reads nothing, so the channel sits in its first write.  The
 * runs it took are off its queue (up to RMIG_MULTIFD_WRITE_BYTES of them):
 * the queue takes a full load more before the migration thread waits.  (A
 * channel that freed a slot only after writing its run held the migration
 * thread at the queue's length.)
 */
static void test_slots_free_while_writing(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b;
	struct rmig_stats st;
	_Atomic bool cancel = false;
	struct feeder f = { 0 };
	unsigned queued;
	pthread_t t;
	int raw;

	(void)state;
	rmig_stats_init(&st);
	rmig_ram_init(&ram);
	assert_int_equal(rmig_ram_alloc(&ram, "pc.ram", BLOCK_RUNS * MIB, 4096, &b), 0);
	memset(b->host, 0x6d, b->length);
	f.ms = one_channel(&st, &cancel, &raw);
	f.b = b;
	assert_int_equal(pthread_create(&t, NULL, feed_runs, &f), 0);
	/* A deadline, not a speed goal: a loaded machine may take its time. */
	for (int i = 0; i < 1000 && atomic_load(&f.queued) <= RMIG_MULTIFD_QUEUE_RUNS; i++)
		sleep_ms(10);
	assert_true(atomic_load(&f.queued) >= RMIG_MULTIFD_QUEUE_RUNS + 1);
	/* And then it stops: the channel still sits in its first write, its queue full again. */
	sleep_ms(200);
	queued = atomic_load(&f.queued);
	assert_true(queued <= RMIG_MULTIFD_QUEUE_RUNS + RMIG_MULTIFD_WRITE_BYTES / MIB);
	atomic_store(&cancel, true);
	pthread_join(t, NULL);
	assert_int_equal(f.ret, -ECANCELED);
	rmig_mfd_send_free(f.ms);
	close(raw);
	rmig_ram_fini(&ram);
}

struct syncer {
	struct rmig_mfd_send *ms;
	_Atomic bool done;
	int ret;
};

static void *sync_round(void *opaque)
{
	struct syncer *s = opaque;

	s->ret = rmig_mfd_send_sync(s->ms, 0);
	atomic_store(&s->done, true);
	return NULL;
}

static int read_all(int fd, uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = read(fd, p, len);

		if (n <= 0)
			return n ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * A SYNC queued behind runs that the channel took off its queue still
 * waits for them: it returns only once every byte is with the connection,
 * and the records arrive in order, the SYNC last.
 */
static void test_sync_waits_for_taken_runs(void **state)
{
	const unsigned runs = 4;
	const size_t rec_len = RMIG_RECORD_SIZE + RUN_PAGES * 4096;
	size_t total = RMIG_CHANNEL_HELLO_SIZE + runs * rec_len + RMIG_RECORD_SIZE;
	struct rmig_ram ram;
	struct rmig_ramblock *b;
	struct rmig_stats st;
	_Atomic bool cancel = false;
	struct syncer s = { 0 };
	struct rmig_mfd_send *ms;
	uint8_t *got = malloc(total);
	pthread_t t;
	int raw;

	(void)state;
	assert_non_null(got);
	rmig_stats_init(&st);
	rmig_ram_init(&ram);
	assert_int_equal(rmig_ram_alloc(&ram, "pc.ram", runs * MIB, 4096, &b), 0);
	for (uint64_t i = 0; i < b->length; i++)
		b->host[i] = (uint8_t)(i * 7 + 1); /* no page is zero */
	ms = one_channel(&st, &cancel, &raw);
	assert_int_equal(rmig_mfd_send_pages(ms, b, 0, b->npages), 0);
	s.ms = ms;
	assert_int_equal(pthread_create(&t, NULL, sync_round, &s), 0);
	sleep_ms(200);
	/* Nothing read yet, so the runs are not all written: SYNC is still waiting. */
	assert_false(atomic_load(&s.done));
	assert_int_equal(read_all(raw, got, total), 0);
	pthread_join(t, NULL);
	assert_int_equal(s.ret, 0);
	for (unsigned r = 0; r < runs; r++) {
		const uint8_t *rec = got + RMIG_CHANNEL_HELLO_SIZE + r * rec_len;

		assert_int_equal(rmig_get_be32(rec), RMIG_REC_DATA);
		assert_int_equal(rmig_get_be64(rec + 8), (uint64_t)r * MIB);
		assert_int_equal(rmig_get_be32(rec + 16), RUN_PAGES);
		assert_memory_equal(rec + RMIG_RECORD_SIZE, b->host + r * MIB, RUN_PAGES * 4096);
	}
	assert_int_equal(rmig_get_be32(got + total - RMIG_RECORD_SIZE), RMIG_REC_SYNC);
	rmig_mfd_send_free(ms);
	close(raw);
	rmig_ram_fini(&ram);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slots_free_while_writing),
		cmocka_unit_test(test_sync_waits_for_taken_runs),
	};

	return cmocka_run_group_tests(tests, setup_quiet_transports, teardown_quiet);
}
