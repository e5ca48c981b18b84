/* SPDX-License-Identifier: MIT */
/*
 * The migration object through the public API alone: what an embedder can
 * get wrong, and that rmig says so instead of hanging or crashing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <rmig/rmig.h>

#include "tests/support/test_quiet.h"

static void noop(void *opaque)
{
	(void)opaque;
}

struct cancel_probe {
	struct rmig_migration *m;
	int ret;
	int calls;
};

/* Breaks the listener rule on purpose: drives the migration from inside a notification. */
static void cancel_on_setup(void *opaque, enum rmig_state from, enum rmig_state to, uint64_t when)
{
	struct cancel_probe *p = opaque;

	(void)from;
	(void)when;
	if (to != RMIG_STATE_SETUP)
		return;
	p->calls++;
	p->ret = rmig_migration_cancel(p->m);
}

static void test_cancel_inside_listener(void **state)
{
	static uint8_t mem[64 * 1024];
	const struct rmig_embedder emb = {.stop = noop, .cont = noop};
	struct cancel_probe probe = {.ret = 1};
	struct rmig_ram *ram = rmig_ram_new();
	enum rmig_state end;

	(void)state;
	assert_non_null(ram);
	assert_int_equal(rmig_ram_add(ram, "pc.ram", mem, sizeof(mem), 4096, NULL), 0);
	probe.m = rmig_migration_new(ram, &emb);
	assert_non_null(probe.m);
	assert_int_equal(rmig_migration_add_listener(probe.m, cancel_on_setup, &probe), 0);
	/* Port 1 on loopback refuses: the migration fails on its own after the listener ran. */
	assert_int_equal(rmig_migration_start(probe.m, "tcp:127.0.0.1:1"), 0);
	end = rmig_migration_wait(probe.m);
	assert_int_equal(probe.calls, 1);
	assert_int_equal(probe.ret, -EDEADLK);
	assert_int_equal(end, RMIG_STATE_FAILED);
	assert_int_equal(rmig_migration_get_error(probe.m), -ECONNREFUSED);
	rmig_migration_free(probe.m);
	rmig_ram_free(ram);
}

static void test_new_needs_callbacks(void **state)
{
	const struct rmig_embedder no_cont = {.stop = noop};
	const struct rmig_embedder whole = {.stop = noop, .cont = noop};
	struct rmig_ram *ram = rmig_ram_new();

	(void)state;
	assert_non_null(ram);
	rmig_error_clear();
	assert_null(rmig_migration_new(ram, &no_cont));
	assert_non_null(strstr(rmig_error_get_last(), "stop/cont"));
	/* A whole embedder, so only the missing RAM can be why. */
	assert_null(rmig_migration_new(NULL, &whole));
	rmig_ram_free(ram);
}

static void test_unknown_scheme(void **state)
{
	static uint8_t mem[4096];
	const struct rmig_embedder emb = {.stop = noop, .cont = noop};
	struct rmig_ram *ram = rmig_ram_new();
	struct rmig_migration *m;
	struct rmig_info info;

	(void)state;
	assert_int_equal(rmig_ram_add(ram, "pc.ram", mem, sizeof(mem), 4096, NULL), 0);
	m = rmig_migration_new(ram, &emb);
	assert_non_null(m);
	/* The engine registers the built-in transports itself; the embedder never asked. */
	assert_int_equal(rmig_migration_start(m, "nosuch:x"), 0);
	assert_int_equal(rmig_migration_wait(m), RMIG_STATE_FAILED);
	rmig_migration_query(m, &info);
	assert_non_null(strstr(info.error_desc, "unknown transport 'nosuch'"));
	assert_non_null(strstr(info.error_desc, "tcp"));
	rmig_migration_free(m);
	rmig_ram_free(ram);
}

/* A pipe cannot carry the destination's answer back: refused before anything is sent. */
static void test_fd_pipe_refused(void **state)
{
	static uint8_t mem[4096];
	const struct rmig_embedder emb = {.stop = noop, .cont = noop};
	struct rmig_ram *ram = rmig_ram_new();
	struct rmig_migration *m;
	struct rmig_info info;
	char uri[32];
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(rmig_ram_add(ram, "pc.ram", mem, sizeof(mem), 4096, NULL), 0);
	m = rmig_migration_new(ram, &emb);
	assert_non_null(m);
	snprintf(uri, sizeof(uri), "fd:%d", p[1]);
	assert_int_equal(rmig_migration_start(m, uri), 0);
	assert_int_equal(rmig_migration_wait(m), RMIG_STATE_FAILED);
	assert_int_equal(rmig_migration_get_error(m), -EPIPE);
	rmig_migration_query(m, &info);
	assert_non_null(strstr(info.error_desc, "is a pipe"));
	assert_non_null(strstr(info.error_desc, "socketpair"));
	rmig_migration_free(m);
	rmig_ram_free(ram);
	close(p[0]);
	close(p[1]);
}

/*
 * A destination that refuses: it reads the start of the stream, answers
 * RESULT with ENOMEM (as one short of RAM does) and hangs up on the rest.
 * The message is docs/switchover.md's, built by hand: this file keeps to
 * what an embedder sees.
 */
static void *refuse_stream(void *opaque)
{
	int fd = *(int *)opaque;
	uint32_t msg[4] = { htonl(0x524d4748u), htonl(1), htonl(ENOMEM), 0 };
	uint8_t head[256];
	size_t got = 0;

	while (got < sizeof(head)) {
		ssize_t n = read(fd, head + got, sizeof(head) - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (write(fd, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
		got = 0;
	close(fd);
	return NULL;
}

/*
 * Far more RAM than the socket holds, so the source is still writing when
 * the destination hangs up: it reports the destination's reason, read
 * from what arrived before the hang-up, not only its own broken pipe.
 */
static void test_destination_refusal_mid_stream(void **state)
{
	const size_t len = 16u << 20;
	const struct rmig_embedder emb = {.stop = noop, .cont = noop};
	struct rmig_ram *ram = rmig_ram_new();
	struct rmig_migration *m;
	struct rmig_info info;
	uint8_t *mem = malloc(len);
	pthread_t t;
	char uri[32];
	int sv[2];

	(void)state;
	assert_non_null(mem);
	memset(mem, 0x5a, len);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(pthread_create(&t, NULL, refuse_stream, &sv[1]), 0);
	assert_int_equal(rmig_ram_add(ram, "pc.ram", mem, len, 4096, NULL), 0);
	m = rmig_migration_new(ram, &emb);
	assert_non_null(m);
	snprintf(uri, sizeof(uri), "fd:%d", sv[0]);
	assert_int_equal(rmig_migration_start(m, uri), 0);
	assert_int_equal(rmig_migration_wait(m), RMIG_STATE_FAILED);
	pthread_join(t, NULL);
	rmig_migration_query(m, &info);
	assert_non_null(strstr(info.error_desc,
			       "the destination did not take over: Cannot allocate memory"));
	assert_int_equal(rmig_migration_get_error(m), -EREMOTEIO);
	rmig_migration_free(m);
	rmig_ram_free(ram);
	free(mem);
}

/*
 * start() runs a migration once: a second call, while it runs or after it
 * ended, is refused before it touches anything.  It used to free the URI
 * the running thread reads and restamp the start, so the ended one's
 * total-time wrapped round.
 */
static void test_second_start_refused(void **state)
{
	static uint8_t mem[64 * 1024];
	const struct rmig_embedder emb = {.stop = noop, .cont = noop};
	struct rmig_ram *ram = rmig_ram_new();
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t salen = sizeof(sa);
	struct rmig_migration *m;
	struct rmig_info before, after;
	char uri[64];
	int lfd;

	(void)state;
	/* A listener that never accepts: the migration stays in progress until cancelled. */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &salen), 0);
	snprintf(uri, sizeof(uri), "tcp:127.0.0.1:%u", ntohs(sa.sin_port));
	assert_non_null(ram);
	assert_int_equal(rmig_ram_add(ram, "pc.ram", mem, sizeof(mem), 4096, NULL), 0);
	m = rmig_migration_new(ram, &emb);
	assert_non_null(m);
	assert_int_equal(rmig_migration_start(m, uri), 0);
	assert_int_equal(rmig_migration_start(m, "tcp:127.0.0.1:1"), -EBUSY);
	/* Nor does configuration change under it. */
	assert_int_equal(rmig_migration_set_capability(m, RMIG_CAP_MULTIFD, true), -EBUSY);
	assert_int_equal(rmig_migration_cancel(m), 0);
	assert_int_equal(rmig_migration_wait(m), RMIG_STATE_CANCELLED);
	/* A cancelled migration has no error, whatever the cancel interrupted. */
	assert_int_equal(rmig_migration_get_error(m), 0);
	rmig_migration_query(m, &before);
	usleep(20 * 1000);
	assert_int_equal(rmig_migration_start(m, uri), -EBUSY);
	rmig_migration_query(m, &after);
	assert_int_equal(after.status, RMIG_STATE_CANCELLED);
	assert_int_equal(after.total_time_ms, before.total_time_ms);
	assert_true(after.total_time_ms < 60 * 1000);
	rmig_migration_free(m);
	rmig_ram_free(ram);
	close(lfd);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_quiet, teardown_quiet)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_cancel_inside_listener),
	    T(test_new_needs_callbacks),
	    T(test_unknown_scheme),
	    T(test_fd_pipe_refused),
	    T(test_destination_refusal_mid_stream),
	    T(test_second_start_refused),
	};

	/* Built-ins only: no module directory is searched. */
	setenv("RMIG_PLUGIN_DIR", "", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
