/* SPDX-License-Identifier: MIT */
/*
 * Whole migrations over real sockets.  Every test that completes compares
 * source and destination memory byte for byte, independently of rmig's own
 * checksums.  Bandwidth and downtime checks use rmig's own report against
 * the limits the test set; they are behaviour (the limit is honoured), not
 * speed goals.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "common/base/util.h"
#include "tests/support/harness.h"

#define MIB (1024ULL * 1024)

static int group_setup(void **state)
{
	(void)state;
	rmig_log_set_level(RMIG_LOG_ERROR);
	return rmig_transport_init_all() < 0 ? -1 : 0;
}

static void migrate_and_compare(const char *listen_uri, uint64_t ram, uint64_t dirty_rate)
{
	struct dest_thread d;
	struct source s;
	struct rmig_info info;

	dest_thread_start(&d, listen_uri);
	source_init(&s, ram, dirty_rate, 0.25);
	assert_int_equal(rmig_migration_start(s.mig, d.uri), 0);
	assert_int_equal(rmig_migration_wait(s.mig), RMIG_STATE_COMPLETED);
	assert_int_equal(dest_thread_join(&d), 0);
	assert_true(rmig_incoming_load_info(d.in)->verified);
	/* Completed: the source guest stays stopped, so memory is comparable. */
	assert_false(rmig_guest_is_running(s.guest));
	assert_true(ram_equal(&s.ram, &d.ram));

	rmig_migration_query(s.mig, &info);
	assert_int_equal(info.status, RMIG_STATE_COMPLETED);
	assert_int_equal(info.ram.total, ram);
	assert_int_equal(info.ram.remaining, 0);
	assert_true(info.ram.normal + info.ram.duplicate >= ram / 4096);
	assert_true(info.ram.dirty_sync_count >= 2);
	assert_true(info.has_downtime);
	/* The bulk round went with the guest running; the trailer at least with it stopped. */
	assert_int_equal(info.ram.precopy_bytes + info.ram.downtime_bytes, info.ram.transferred);
	assert_true(info.ram.precopy_bytes >= ram / 4);
	assert_true(info.ram.downtime_bytes > 0);
	source_fini(&s);
	dest_thread_fini(&d);
}

static void test_tcp_dirtying_guest(void **state)
{
	(void)state;
	migrate_and_compare("tcp:127.0.0.1:0", 64 * MIB, 20 * MIB);
}

static void test_tcp_ipv6(void **state)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };

	(void)state;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (fd >= 0)
			close(fd);
		skip();
	}
	close(fd);
	migrate_and_compare("tcp:[::1]:0", 16 * MIB, 5 * MIB);
}

static void test_unix_dirtying_guest(void **state)
{
	char uri[128];

	(void)state;
	snprintf(uri, sizeof(uri), "unix:/tmp/rmig-test-%d.sock", (int)getpid());
	migrate_and_compare(uri, 32 * MIB, 10 * MIB);
	unlink(uri + 5);
}

/*
 * fd: the embedder hands rmig sockets it already has, here the two ends
 * of a socketpair.
 */
static void test_fd_transport(void **state)
{
	struct dest_thread d;
	struct source s;
	char src_uri[32], dst_uri[32];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	snprintf(dst_uri, sizeof(dst_uri), "fd:%d", sv[0]);
	snprintf(src_uri, sizeof(src_uri), "fd:%d", sv[1]);
	dest_thread_start(&d, dst_uri);
	source_init(&s, 16 * MIB, 2 * MIB, 0.5);
	assert_int_equal(rmig_migration_start(s.mig, src_uri), 0);
	assert_int_equal(rmig_migration_wait(s.mig), RMIG_STATE_COMPLETED);
	assert_int_equal(dest_thread_join(&d), 0);
	assert_true(ram_equal(&s.ram, &d.ram));
	source_fini(&s);
	dest_thread_fini(&d);
}

struct transitions {
	pthread_mutex_t lock;
	enum rmig_state seen[16];
	unsigned n;
};

static void record_transition(void *opaque, enum rmig_state from, enum rmig_state to, uint64_t ns)
{
	struct transitions *t = opaque;

	(void)from;
	(void)ns;
	pthread_mutex_lock(&t->lock);
	if (t->n < RMIG_ARRAY_SIZE(t->seen))
		t->seen[t->n++] = to;
	pthread_mutex_unlock(&t->lock);
}

/*
 * A listener whose accept queue is full: the kernel drops further SYNs, so
 * a connect to it stays in progress, which holds the migration in SETUP.
 */
static int full_listener(char *uri, size_t len, int *fillers, int nfillers)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 0), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	for (int i = 0; i < nfillers; i++) {
		fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fillers[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	usleep(100 * 1000);
	snprintf(uri, len, "tcp:127.0.0.1:%u", ntohs(sa.sin_port));
	return fd;
}

static void test_cancel_during_setup(void **state)
{
	struct transitions t = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct source s;
	char uri[64];
	int fillers[3], lfd;

	(void)state;
	lfd = full_listener(uri, sizeof(uri), fillers, 3);
	source_init(&s, 8 * MIB, 1 * MIB, 0.25);
	assert_int_equal(rmig_migration_add_listener(s.mig, record_transition, &t), 0);
	assert_int_equal(rmig_migration_start(s.mig, uri), 0);
	usleep(300 * 1000);
	assert_int_equal(rmig_migration_get_state(s.mig), RMIG_STATE_SETUP);
	assert_int_equal(rmig_migration_cancel(s.mig), 0);
	assert_int_equal(rmig_migration_wait(s.mig), RMIG_STATE_CANCELLED);
	assert_int_equal(t.n, 3);
	assert_int_equal(t.seen[0], RMIG_STATE_SETUP);
	assert_int_equal(t.seen[1], RMIG_STATE_CANCELLING);
	assert_int_equal(t.seen[2], RMIG_STATE_CANCELLED);
	assert_true(guest_still_writes(s.guest, 100));
	/* A second cancel of a finished migration is refused, not a crash. */
	assert_int_equal(rmig_migration_cancel(s.mig), -EBUSY);
	source_fini(&s);
	for (int i = 0; i < 3; i++)
		close(fillers[i]);
	close(lfd);
}

static void test_cancel_during_active(void **state)
{
	struct dest_thread d;
	struct source s;

	(void)state;
	dest_thread_start(&d, "tcp:127.0.0.1:0");
	source_init(&s, 64 * MIB, 4 * MIB, 0.0);
	assert_int_equal(rmig_migration_set_param(s.mig, "max-bandwidth", "16M"), 0);
	assert_int_equal(rmig_migration_start(s.mig, d.uri), 0);
	assert_true(wait_for_state(s.mig, RMIG_STATE_ACTIVE, 10000));
	assert_true(wait_for_bytes(s.mig, 4 * MIB, 10000));
	/* Only the live parameters may change mid-migration (test_live_params.c). */
	assert_int_equal(rmig_migration_set_param(s.mig, "peer-timeout", "5000"), -EBUSY);
	assert_int_equal(rmig_migration_set_capability(s.mig, RMIG_CAP_VERIFY, false), -EBUSY);
	assert_int_equal(rmig_migration_cancel(s.mig), 0);
	assert_int_equal(rmig_migration_wait(s.mig), RMIG_STATE_CANCELLED);
	assert_true(guest_still_writes(s.guest, 100));
	/* The destination sees the stream end early and fails, cleanly. */
	assert_true(dest_thread_join(&d) < 0);
	assert_false(rmig_incoming_load_info(d.in)->verified);
	source_fini(&s);
	dest_thread_fini(&d);
}

static void test_destination_killed(void **state)
{
	struct rmig_info info;
	struct source s;
	char uri[256];
	pid_t pid;
	int status;

	(void)state;
	pid = dest_child_start(uri, sizeof(uri));
	source_init(&s, 64 * MIB, 4 * MIB, 0.0);
	assert_int_equal(rmig_migration_set_param(s.mig, "max-bandwidth", "16M"), 0);
	assert_int_equal(rmig_migration_start(s.mig, uri), 0);
	assert_true(wait_for_bytes(s.mig, 8 * MIB, 10000));
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	assert_int_equal(rmig_migration_wait(s.mig), RMIG_STATE_FAILED);
	rmig_migration_query(s.mig, &info);
	assert_true(info.error_desc[0] != '\0');
	assert_true(rmig_migration_get_error(s.mig) < 0);
	assert_true(guest_still_writes(s.guest, 100));
	source_fini(&s);
}

static void test_source_killed(void **state)
{
	struct dest_thread d;
	struct rmig_info info;
	pid_t pid;
	int status;

	(void)state;
	dest_thread_start(&d, "tcp:127.0.0.1:0");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct source s;

		source_init(&s, 64 * MIB, 4 * MIB, 0.0);
		rmig_migration_set_param(s.mig, "max-bandwidth", "16M");
		rmig_migration_start(s.mig, d.uri);
		rmig_migration_wait(s.mig);
		_exit(0);
	}
	/* Let some of the stream arrive, then kill the source mid-way. */
	for (int i = 0; i < 1000; i++) {
		rmig_incoming_query(d.in, &info);
		if (info.ram.transferred >= 8 * MIB)
			break;
		usleep(10 * 1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	assert_true(dest_thread_join(&d) < 0);
	rmig_incoming_query(d.in, &info);
	assert_int_equal(info.status, RMIG_STATE_FAILED);
	assert_non_null(strstr(info.error_desc, "truncated"));
	dest_thread_fini(&d);
}

/* The average rate over the migration must not exceed the limit by more than 10%. */
static void test_max_bandwidth(void **state)
{
	const uint64_t limit = 32 * MIB;
	struct dest_thread d;
	struct source s;
	struct rmig_info info;
	double rate;

	(void)state;
	dest_thread_start(&d, "tcp:127.0.0.1:0");
	source_init(&s, 48 * MIB, 0, 0.0);
	assert_int_equal(rmig_migration_set_param(s.mig, "max-bandwidth", "32M"), 0);
	assert_int_equal(rmig_migration_start(s.mig, d.uri), 0);
	assert_int_equal(rmig_migration_wait(s.mig), RMIG_STATE_COMPLETED);
	assert_int_equal(dest_thread_join(&d), 0);
	assert_true(ram_equal(&s.ram, &d.ram));
	rmig_migration_query(s.mig, &info);
	rate = (double)info.ram.transferred / ((double)(info.total_time_ms - info.setup_time_ms) / 1e3);
	print_message("max-bandwidth %llu B/s, measured %.0f B/s (%.3f of the limit)\n",
		      (unsigned long long)limit, rate, rate / (double)limit);
	assert_true(rate <= 1.10 * (double)limit);
	/* And the limiter is not absurdly conservative either. */
	assert_true(rate >= 0.5 * (double)limit);
	source_fini(&s);
	dest_thread_fini(&d);
}

/*
 * A page that takes longer than the destination's peer-timeout to send at
 * max-bandwidth: the stream must flow at the limit through the page, not
 * send it whole and then sleep it off in silence (the destination gave up
 * after 300 ms, thinking the source frozen).
 */
static void max_bandwidth_large_pages(const char *channels)
{
	struct rmig_guest_config cfg;
	struct dest_thread d;
	struct source s;

	dest_thread_start_param(&d, "tcp:127.0.0.1:0", "peer-timeout", "300");
	memset(&s, 0, sizeof(s));
	rmig_ram_init(&s.ram);
	rmig_guest_config_init(&cfg);
	cfg.nblocks = 1;
	cfg.block_size[0] = 16 * MIB;
	cfg.page_size = 4 * MIB; /* 0.5 s each at 8 MiB/s */
	cfg.zero_share = 0;
	cfg.seed = 42;
	assert_int_equal(rmig_guest_create(&cfg, &s.ram, &s.guest), 0);
	assert_int_equal(rmig_guest_start(s.guest), 0);
	s.emb = rmig_guest_embedder(s.guest);
	s.mig = rmig_migration_new(&s.ram, &s.emb);
	assert_non_null(s.mig);
	assert_int_equal(rmig_migration_set_param(s.mig, "max-bandwidth", "8M"), 0);
	assert_int_equal(rmig_migration_set_param(s.mig, "peer-timeout", "300"), 0);
	if (channels) {
		assert_int_equal(rmig_migration_set_capability(s.mig, RMIG_CAP_MULTIFD, true), 0);
		assert_int_equal(rmig_migration_set_param(s.mig, "multifd-channels", channels), 0);
	}
	assert_int_equal(rmig_migration_start(s.mig, d.uri), 0);
	assert_int_equal(rmig_migration_wait(s.mig), RMIG_STATE_COMPLETED);
	assert_int_equal(dest_thread_join(&d), 0);
	assert_true(rmig_incoming_load_info(d.in)->verified);
	assert_true(ram_equal(&s.ram, &d.ram));
	source_fini(&s);
	dest_thread_fini(&d);
}

static void test_max_bandwidth_large_pages(void **state)
{
	(void)state;
	max_bandwidth_large_pages(NULL);
}

/* The channels send a page at full speed; the main stream must not go quiet while that is paid off. */
static void test_max_bandwidth_large_pages_multifd(void **state)
{
	(void)state;
	max_bandwidth_large_pages("2");
}

/* With a dirty rate far below the link, downtime stays within the limit. */
static void test_downtime_limit(void **state)
{
	struct dest_thread d;
	struct source s;
	struct rmig_info info;

	(void)state;
	dest_thread_start(&d, "tcp:127.0.0.1:0");
	source_init(&s, 64 * MIB, 8 * MIB, 0.25);
	assert_int_equal(rmig_migration_set_param(s.mig, "downtime-limit", "300"), 0);
	assert_int_equal(rmig_migration_start(s.mig, d.uri), 0);
	assert_int_equal(rmig_migration_wait(s.mig), RMIG_STATE_COMPLETED);
	assert_int_equal(dest_thread_join(&d), 0);
	assert_true(ram_equal(&s.ram, &d.ram));
	rmig_migration_query(s.mig, &info);
	print_message("downtime %llu ms (limit 300 ms), %llu syncs\n",
		      (unsigned long long)info.downtime_ms,
		      (unsigned long long)info.ram.dirty_sync_count);
	assert_true(info.has_downtime);
	assert_true(info.downtime_ms <= 300);
	source_fini(&s);
	dest_thread_fini(&d);
}

/* The synthetic guest's embedder, with a stop that takes 200 ms, as pausing many vCPUs can. */
struct slow_stop {
	struct rmig_embedder inner;
};

static void slow_stop_stop(void *opaque)
{
	struct slow_stop *w = opaque;

	usleep(200 * 1000);
	w->inner.stop(w->inner.opaque);
}

static void slow_stop_cont(void *opaque)
{
	struct slow_stop *w = opaque;

	w->inner.cont(w->inner.opaque);
}

/* Downtime runs from the request to stop, not from when stop() returned. */
static void test_downtime_counts_the_stop(void **state)
{
	struct slow_stop w;
	struct dest_thread d;
	struct source s;
	struct rmig_info info;

	(void)state;
	dest_thread_start(&d, "tcp:127.0.0.1:0");
	source_init(&s, 8 * MIB, 0, 0.25);
	rmig_migration_free(s.mig);
	w.inner = s.emb;
	s.emb = (struct rmig_embedder){ .opaque = &w, .stop = slow_stop_stop,
					.cont = slow_stop_cont };
	s.mig = rmig_migration_new(&s.ram, &s.emb);
	assert_non_null(s.mig);
	assert_int_equal(rmig_migration_set_param(s.mig, "downtime-limit", "2000"), 0);
	assert_int_equal(rmig_migration_start(s.mig, d.uri), 0);
	assert_int_equal(rmig_migration_wait(s.mig), RMIG_STATE_COMPLETED);
	assert_int_equal(dest_thread_join(&d), 0);
	assert_true(ram_equal(&s.ram, &d.ram));
	rmig_migration_query(s.mig, &info);
	assert_true(info.has_downtime);
	assert_true(info.downtime_ms >= 200);
	source_fini(&s);
	dest_thread_fini(&d);
}

/*
 * A guest that keeps rewriting all of its RAM during every round never
 * converges to a 1 ms downtime on its own: rounds are paced by
 * max-bandwidth, so each one gives the writers a full second.  Only
 * auto-converge's throttle gets it there.
 */
static void test_auto_converge(void **state)
{
	struct dest_thread d;
	struct source s;
	struct rmig_info info;

	(void)state;
	dest_thread_start(&d, "tcp:127.0.0.1:0");
	source_init(&s, 32 * MIB, 64 * MIB, 0.0);
	assert_int_equal(rmig_migration_set_param(s.mig, "max-bandwidth", "32M"), 0);
	assert_int_equal(rmig_migration_set_param(s.mig, "downtime-limit", "1"), 0);
	assert_int_equal(rmig_migration_set_param(s.mig, "throttle-initial", "60"), 0);
	assert_int_equal(rmig_migration_set_param(s.mig, "throttle-increment", "39"), 0);
	assert_int_equal(rmig_migration_set_capability(s.mig, RMIG_CAP_AUTO_CONVERGE, true), 0);
	assert_int_equal(rmig_migration_start(s.mig, d.uri), 0);
	/* Watch the throttle rise while it runs. */
	uint64_t max_throttle = 0;
	while (!rmig_state_is_terminal(rmig_migration_get_state(s.mig))) {
		rmig_migration_query(s.mig, &info);
		if (info.throttle_pct > max_throttle)
			max_throttle = info.throttle_pct;
		usleep(5 * 1000);
	}
	assert_int_equal(rmig_migration_wait(s.mig), RMIG_STATE_COMPLETED);
	assert_int_equal(dest_thread_join(&d), 0);
	assert_true(ram_equal(&s.ram, &d.ram));
	print_message("auto-converge reached %llu%% throttle\n", (unsigned long long)max_throttle);
	assert_true(max_throttle >= 50);
	source_fini(&s);
	dest_thread_fini(&d);
}

static void test_refused_peer(void **state)
{
	struct source s;
	struct rmig_info info;
	char uri[64];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	/* A port that was just free: nothing listens there. */
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	snprintf(uri, sizeof(uri), "tcp:127.0.0.1:%u", ntohs(sa.sin_port));
	source_init(&s, 4 * MIB, 1 * MIB, 0.25);
	assert_int_equal(rmig_migration_start(s.mig, uri), 0);
	assert_int_equal(rmig_migration_wait(s.mig), RMIG_STATE_FAILED);
	assert_int_equal(rmig_migration_get_error(s.mig), -ECONNREFUSED);
	rmig_migration_query(s.mig, &info);
	assert_non_null(strstr(info.error_desc, "refused"));
	assert_true(guest_still_writes(s.guest, 50));
	source_fini(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_dirtying_guest),
		cmocka_unit_test(test_tcp_ipv6),
		cmocka_unit_test(test_unix_dirtying_guest),
		cmocka_unit_test(test_fd_transport),
		cmocka_unit_test(test_cancel_during_setup),
		cmocka_unit_test(test_cancel_during_active),
		cmocka_unit_test(test_destination_killed),
		cmocka_unit_test(test_source_killed),
		cmocka_unit_test(test_max_bandwidth),
		cmocka_unit_test(test_max_bandwidth_large_pages),
		cmocka_unit_test(test_max_bandwidth_large_pages_multifd),
		cmocka_unit_test(test_downtime_limit),
		cmocka_unit_test(test_downtime_counts_the_stop),
		cmocka_unit_test(test_auto_converge),
		cmocka_unit_test(test_refused_peer),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
