/* SPDX-License-Identifier: MIT */
/*
 * The built-in transports (tcp, unix, fd) through the registry wrappers,
 * over real sockets and pipes: data integrity, errors an operator would see,
 * abort from another thread, end of stream.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include <rmig/log.h>

#include "common/engine/transports.h"
#include "plugin/loader.h"
#include "plugin/registry.h"
#include "tests/support/test_quiet.h"

#define BIG (8u << 20)
#define RMIG_TEST_MIN(a, b) ((a) < (b) ? (a) : (b))

static char tmpdir[64];

static void write_all(struct rmig_conn *c, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = rmig_conn_write(c, p, len);

		assert_ok(n);
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

static void read_all(struct rmig_conn *c, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = rmig_conn_read(c, p, len);

		assert_ok(n);
		if (n == 0)
			fail_msg("unexpected end of stream with %zu bytes to go", len);
		p += n;
		len -= (size_t)n;
	}
}

/* Listen on @uri, connect to the address it reports, accept. */
static int make_pair(const char *uri, struct rmig_conn **client, struct rmig_conn **server,
		     char *bound, size_t boundlen)
{
	struct rmig_listener *l;
	int r;

	r = rmig_listener_open(uri, NULL, &l);
	if (r < 0)
		return r;
	assert_ok(rmig_listener_get_uri(l, bound, boundlen));
	assert_ok(rmig_conn_open(bound, NULL, client));
	assert_ok(rmig_listener_accept(l, 5000, server));
	rmig_listener_close(l);
	return 0;
}

static void ping_pong(struct rmig_conn *a, struct rmig_conn *b)
{
	char buf[6];

	write_all(a, "hello", 6);
	read_all(b, buf, 6);
	assert_string_equal(buf, "hello");
	write_all(b, "world", 6);
	read_all(a, buf, 6);
	assert_string_equal(buf, "world");
}

static void test_tcp_v4(void **state)
{
	struct rmig_conn *a, *b;
	char bound[128];

	(void)state;
	assert_ok(make_pair("tcp:127.0.0.1:0", &a, &b, bound, sizeof(bound)));
	assert_true(!strncmp(bound, "tcp:127.0.0.1:", 14));
	assert_true(atoi(bound + 14) > 0);
	ping_pong(a, b);
	rmig_conn_close(a);
	rmig_conn_close(b);
}

static void test_tcp_v6(void **state)
{
	struct rmig_conn *a, *b;
	char bound[128];
	int r;

	(void)state;
	r = make_pair("tcp:[::1]:0", &a, &b, bound, sizeof(bound));
	if (r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT || r == -EHOSTUNREACH)
		skip();
	assert_ok(r);
	assert_true(!strncmp(bound, "tcp:[::1]:", 10));
	ping_pong(a, b);
	rmig_conn_close(a);
	rmig_conn_close(b);
}

/* Connect to @host on the port of the listener's @bound URI, and accept. */
static void connect_port(struct rmig_listener *l, const char *bound, const char *host)
{
	struct rmig_conn *a, *b;
	char uri[160];

	snprintf(uri, sizeof(uri), "tcp:%s:%s", host, strrchr(bound, ':') + 1);
	assert_ok(rmig_conn_open(uri, NULL, &a));
	assert_ok(rmig_listener_accept(l, 5000, &b));
	ping_pong(a, b);
	rmig_conn_close(a);
	rmig_conn_close(b);
}

static void test_tcp_wildcard(void **state)
{
	struct rmig_listener *l;
	char bound[128];

	(void)state;
	/* "tcp::0" serves IPv4 peers, and IPv6 ones where the host has IPv6 (dual stack). */
	assert_ok(rmig_listener_open("tcp::0", NULL, &l));
	assert_ok(rmig_listener_get_uri(l, bound, sizeof(bound)));
	connect_port(l, bound, "127.0.0.1");
	connect_port(l, bound, "localhost");
	if (!strncmp(bound, "tcp:[::]:", 9))
		connect_port(l, bound, "[::1]");
	else
		assert_true(!strncmp(bound, "tcp:0.0.0.0:", 12));
	rmig_listener_close(l);
}

static void test_tcp_refused(void **state)
{
	struct rmig_listener *l;
	struct rmig_conn *c = (void *)0x1;
	char bound[128];

	(void)state;
	/* A port that was just ours and is now closed: nobody listens there. */
	assert_ok(rmig_listener_open("tcp:127.0.0.1:0", NULL, &l));
	assert_ok(rmig_listener_get_uri(l, bound, sizeof(bound)));
	rmig_listener_close(l);
	assert_int_equal(rmig_conn_open(bound, NULL, &c), -ECONNREFUSED);
	assert_ptr_equal(c, (void *)0x1);
	assert_non_null(strstr(rmig_error_get_last(), "Connection refused"));
	assert_non_null(strstr(rmig_error_get_last(), bound + 4));
}

static void test_bad_uris(void **state)
{
	struct rmig_conn *c;
	struct rmig_listener *l;

	(void)state;
	assert_int_equal(rmig_conn_open("localhost", NULL, &c), -EINVAL);
	assert_non_null(strstr(rmig_error_get_last(), "scheme"));
	assert_int_equal(rmig_conn_open(":4444", NULL, &c), -EINVAL);
	assert_int_equal(rmig_conn_open("bogus:1.2.3.4:5", NULL, &c), -EPROTONOSUPPORT);
	assert_non_null(strstr(rmig_error_get_last(), "bogus"));
	assert_non_null(strstr(rmig_error_get_last(), "tcp, unix, fd"));
	assert_int_equal(rmig_conn_open("tcp:127.0.0.1:99999", NULL, &c), -EINVAL);
	assert_int_equal(rmig_conn_open("tcp:127.0.0.1", NULL, &c), -EINVAL);
	assert_non_null(strstr(rmig_error_get_last(), "port missing"));
	assert_int_equal(rmig_conn_open("tcp:127.0.0.1:0", NULL, &c), -EINVAL);
	assert_int_equal(rmig_listener_open("tcp:127.0.0.1:x", NULL, &l), -EINVAL);
	/* .invalid never resolves (RFC 6761); "try again" from a resolver without network is unreachable too. */
	int r = rmig_conn_open("tcp:no-such-host.invalid:80", NULL, &c);
	assert_int_equal(r, -EHOSTUNREACH);
	assert_non_null(strstr(rmig_error_get_last(), "no-such-host.invalid"));
	assert_int_equal(rmig_conn_open("unix:", NULL, &c), -EINVAL);
	assert_int_equal(rmig_conn_open("fd:", NULL, &c), -EINVAL);
	assert_int_equal(rmig_conn_open("fd:12ab", NULL, &c), -EINVAL);
	assert_int_equal(rmig_conn_open("fd:99999999999", NULL, &c), -EINVAL);
	assert_int_equal(rmig_conn_open("fd:1000000", NULL, &c), -EBADF);
	assert_non_null(strstr(rmig_error_get_last(), "not an open file descriptor"));
}

static void test_accept_timeout(void **state)
{
	struct rmig_listener *l;
	struct rmig_conn *c = NULL;

	(void)state;
	assert_ok(rmig_listener_open("tcp:127.0.0.1:0", NULL, &l));
	assert_int_equal(rmig_listener_accept(l, 20, &c), -ETIMEDOUT);
	assert_null(c);
	assert_int_equal(rmig_listener_accept(l, 0, &c), -ETIMEDOUT);
	rmig_listener_close(l);
}

static void test_unix(void **state)
{
	struct rmig_conn *a, *b;
	char uri[128], bound[128], path[100];
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "%s/sock", tmpdir);
	snprintf(uri, sizeof(uri), "unix:%s", path);
	assert_ok(make_pair(uri, &a, &b, bound, sizeof(bound)));
	assert_string_equal(bound, uri);
	/* make_pair closed the listener, which removes its socket file. */
	assert_int_equal(stat(path, &st), -1);
	ping_pong(a, b);
	rmig_conn_close(a);
	rmig_conn_close(b);
}

static void test_unix_abstract(void **state)
{
	struct rmig_conn *a, *b;
	char uri[64], bound[128];

	(void)state;
	snprintf(uri, sizeof(uri), "unix:@rmig-test-%d", (int)getpid());
	assert_ok(make_pair(uri, &a, &b, bound, sizeof(bound)));
	assert_string_equal(bound, uri);
	ping_pong(a, b);
	rmig_conn_close(a);
	rmig_conn_close(b);
}

static void test_unix_paths(void **state)
{
	struct rmig_listener *l, *l2;
	struct rmig_conn *c;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char uri[256], path[100];
	int fd;

	(void)state;
	/* A stale socket file (its listener died) is replaced. */
	snprintf(path, sizeof(path), "%s/stale", tmpdir);
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	snprintf(uri, sizeof(uri), "unix:%s", path);
	assert_ok(rmig_listener_open(uri, NULL, &l));
	/* A live one is not. */
	assert_int_equal(rmig_listener_open(uri, NULL, &l2), -EADDRINUSE);
	assert_non_null(strstr(rmig_error_get_last(), "another process"));
	/* Nor when we cannot even try (out of descriptors): the live socket stays. */
	{
		struct rlimit was, low;
		struct stat st;
		int next = dup(0);

		assert_true(next >= 0);
		close(next);
		assert_int_equal(getrlimit(RLIMIT_NOFILE, &was), 0);
		low = was;
		low.rlim_cur = (rlim_t)next;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
		assert_true(rmig_listener_open(uri, NULL, &l2) < 0);
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &was), 0);
		assert_int_equal(lstat(path, &st), 0);
		assert_ok(rmig_conn_open(uri, NULL, &c));
		rmig_conn_close(c);
	}
	rmig_listener_close(l);

	/* Nor is anything that is not a socket. */
	snprintf(path, sizeof(path), "%s/file", tmpdir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(uri, sizeof(uri), "unix:%s", path);
	assert_int_equal(rmig_listener_open(uri, NULL, &l), -EEXIST);
	assert_non_null(strstr(rmig_error_get_last(), "not a socket"));
	assert_int_equal(unlink(path), 0);

	snprintf(uri, sizeof(uri), "unix:/tmp/%0150d", 0);
	assert_int_equal(rmig_listener_open(uri, NULL, &l), -ENAMETOOLONG);
	assert_non_null(strstr(rmig_error_get_last(), "limit"));

	snprintf(uri, sizeof(uri), "unix:%s/nobody", tmpdir);
	assert_int_equal(rmig_conn_open(uri, NULL, &c), -ENOENT);
	assert_non_null(strstr(rmig_error_get_last(), "listening"));
}

/* fd:N names a stream connection: not the process's own 0-2, a datagram or a listener. */
static void test_fd_refusals(void **state)
{
	struct rmig_conn *c;
	char uri[32];
	int sv[2], lfd;

	(void)state;
	assert_int_equal(rmig_conn_open("fd:2", NULL, &c), -EINVAL);
	assert_non_null(strstr(rmig_error_get_last(), "standard error"));
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	snprintf(uri, sizeof(uri), "fd:%d", sv[0]);
	assert_int_equal(rmig_conn_open(uri, NULL, &c), -EINVAL);
	assert_non_null(strstr(rmig_error_get_last(), "not a stream socket"));
	close(sv[0]);
	close(sv[1]);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(listen(lfd, 1), 0);
	snprintf(uri, sizeof(uri), "fd:%d", lfd);
	assert_int_equal(rmig_conn_open(uri, NULL, &c), -EINVAL);
	assert_non_null(strstr(rmig_error_get_last(), "listening socket"));
	close(lfd);
}

static void test_fd_socketpair(void **state)
{
	struct rmig_listener *l;
	struct rmig_conn *a, *b, *again;
	char uri[32], bound[32];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	snprintf(uri, sizeof(uri), "fd:%d", sv[0]);
	assert_ok(rmig_conn_open(uri, NULL, &a));
	snprintf(uri, sizeof(uri), "fd:%d", sv[1]);
	assert_ok(rmig_listener_open(uri, NULL, &l));
	assert_ok(rmig_listener_get_uri(l, bound, sizeof(bound)));
	assert_string_equal(bound, uri);
	assert_ok(rmig_listener_accept(l, -1, &b));
	assert_int_equal(rmig_listener_accept(l, -1, &again), -EALREADY);
	rmig_listener_close(l);
	ping_pong(a, b);
	rmig_conn_close(a);
	rmig_conn_close(b);
	/* Both ends now belong to rmig and are closed. */
	assert_int_equal(fcntl(sv[0], F_GETFD), -1);
	assert_int_equal(fcntl(sv[1], F_GETFD), -1);
}

static void test_fd_listener_unused(void **state)
{
	struct rmig_listener *l;
	char uri[32];
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	snprintf(uri, sizeof(uri), "fd:%d", p[0]);
	assert_ok(rmig_listener_open(uri, NULL, &l));
	rmig_listener_close(l);
	assert_int_equal(fcntl(p[0], F_GETFD), -1);
	close(p[1]);
}

/* Open @uri_fmt on both ends of a pipe: @w writes into @r. */
static void pipe_pair(struct rmig_conn **w, struct rmig_conn **r)
{
	char uri[32];
	int p[2];

	assert_int_equal(pipe(p), 0);
	snprintf(uri, sizeof(uri), "fd:%d", p[1]);
	assert_ok(rmig_conn_open(uri, NULL, w));
	snprintf(uri, sizeof(uri), "fd:%d", p[0]);
	assert_ok(rmig_conn_open(uri, NULL, r));
}

static void test_fd_pipe(void **state)
{
	struct rmig_conn *w, *r;
	char buf[8];

	(void)state;
	pipe_pair(&w, &r);
	write_all(w, "piped", 6);
	read_all(r, buf, 6);
	assert_string_equal(buf, "piped");
	rmig_conn_close(w);
	assert_int_equal(rmig_conn_read(r, buf, sizeof(buf)), 0);
	rmig_conn_close(r);

	/* A pipe without a reader: -EPIPE, and no SIGPIPE kills us. */
	pipe_pair(&w, &r);
	rmig_conn_close(r);
	assert_int_equal(rmig_conn_write(w, "x", 1), -EPIPE);
	assert_non_null(strstr(rmig_error_get_last(), "peer closed"));
	rmig_conn_close(w);
}

struct transfer {
	struct rmig_conn *c;
	const unsigned char *data;
	size_t len;
};

/* Sends @data as a mix of writev() bursts with odd-sized pieces and plain writes. */
static void *sender(void *arg)
{
	struct transfer *t = arg;
	size_t off = 0, round = 0;

	while (off < t->len) {
		if (round++ % 2) {
			size_t n = RMIG_TEST_MIN(t->len - off, 100000 + round * 7);
			ssize_t w = rmig_conn_write(t->c, t->data + off, n);

			if (w <= 0)
				return (void *)(intptr_t)-1;
			off += (size_t)w;
		} else {
			struct iovec iov[4];
			size_t left = t->len - off, pos = off;
			int cnt = 0;

			for (; cnt < 4 && left; cnt++) {
				size_t n = RMIG_TEST_MIN(left, 4096 * (size_t)(cnt + 1) + 13);

				iov[cnt] = (struct iovec){ (void *)(t->data + pos), n };
				pos += n;
				left -= n;
			}
			ssize_t w = rmig_conn_writev(t->c, iov, cnt);

			if (w <= 0)
				return (void *)(intptr_t)-1;
			off += (size_t)w;
		}
	}
	return NULL;
}

static void transfer_big(const char *listen_uri)
{
	unsigned char *data = malloc(BIG), *got = malloc(BIG);
	struct rmig_conn *a, *b;
	struct transfer t;
	char bound[128];
	pthread_t th;
	void *ret;

	assert_non_null(data);
	assert_non_null(got);
	srand(1234);
	for (size_t i = 0; i < BIG; i++)
		data[i] = (unsigned char)rand();
	assert_ok(make_pair(listen_uri, &a, &b, bound, sizeof(bound)));
	t = (struct transfer){ .c = a, .data = data, .len = BIG };
	assert_int_equal(pthread_create(&th, NULL, sender, &t), 0);
	read_all(b, got, BIG);
	assert_int_equal(pthread_join(th, &ret), 0);
	assert_null(ret);
	assert_memory_equal(data, got, BIG);
	/* The sender is done: the receiver now sees an orderly end of stream. */
	rmig_conn_close(a);
	assert_int_equal(rmig_conn_read(b, got, 1), 0);
	rmig_conn_close(b);
	free(data);
	free(got);
}

static void test_transfer_tcp(void **state)
{
	(void)state;
	transfer_big("tcp:127.0.0.1:0");
}

static void test_transfer_unix(void **state)
{
	char uri[128];

	(void)state;
	snprintf(uri, sizeof(uri), "unix:%s/big", tmpdir);
	transfer_big(uri);
}

struct blocked {
	struct rmig_conn *c;
	ssize_t result;
	int write; /* block in write (full buffers) rather than read */
};

static void *block_in_io(void *arg)
{
	struct blocked *b = arg;
	static char chunk[1 << 16];

	if (!b->write) {
		char buf[16];

		b->result = rmig_conn_read(b->c, buf, sizeof(buf));
		return NULL;
	}
	/* Nobody reads the other end, so this fills the buffers and then blocks. */
	for (;;) {
		b->result = rmig_conn_write(b->c, chunk, sizeof(chunk));
		if (b->result < 0)
			return NULL;
	}
}

/* Block a thread in @c and abort @c from here: the thread must come back with -ECANCELED. */
static void abort_blocked(struct rmig_conn *c, int write)
{
	struct blocked b = { .c = c, .write = write };
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, block_in_io, &b), 0);
	/* Not a timing assertion: the test passes whether or not it blocked yet. */
	usleep(50 * 1000);
	rmig_conn_abort(c);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(b.result, -ECANCELED);
	/* And it stays aborted. */
	assert_int_equal(rmig_conn_read(c, &b, 1), -ECANCELED);
	assert_int_equal(rmig_conn_write(c, &b, 1), -ECANCELED);
}

static void test_abort_tcp(void **state)
{
	struct rmig_conn *a, *b;
	char bound[128], buf[4];

	(void)state;
	assert_ok(make_pair("tcp:127.0.0.1:0", &a, &b, bound, sizeof(bound)));
	abort_blocked(a, 0);
	/* abort() also shut the socket down, so the peer sees the end. */
	assert_int_equal(rmig_conn_read(b, buf, sizeof(buf)), 0);
	rmig_conn_close(a);
	rmig_conn_close(b);

	assert_ok(make_pair("tcp:127.0.0.1:0", &a, &b, bound, sizeof(bound)));
	abort_blocked(a, 1);
	rmig_conn_close(a);
	rmig_conn_close(b);
}

static void test_abort_pipe(void **state)
{
	struct rmig_conn *w, *r;

	(void)state;
	/* shutdown() means nothing to a pipe: this is what the eventfd is for. */
	pipe_pair(&w, &r);
	abort_blocked(r, 0);
	abort_blocked(w, 1);
	rmig_conn_close(w);
	rmig_conn_close(r);
}

static void test_peer_close(void **state)
{
	struct rmig_conn *a, *b;
	char bound[128], buf[4];
	ssize_t n;

	(void)state;
	assert_ok(make_pair("tcp:127.0.0.1:0", &a, &b, bound, sizeof(bound)));
	write_all(a, "bye", 3);
	rmig_conn_close(a);
	read_all(b, buf, 3);
	assert_int_equal(rmig_conn_read(b, buf, sizeof(buf)), 0);
	/* Writing to a closed peer fails (EPIPE or ECONNRESET) and never raises SIGPIPE. */
	do
		n = rmig_conn_write(b, "xxxx", 4);
	while (n > 0);
	assert_true(n == -EPIPE || n == -ECONNRESET);
	assert_non_null(strstr(rmig_error_get_last(), "peer closed the connection"));
	rmig_conn_close(b);
}

static void test_conn_opts(void **state)
{
	struct rmig_conn_opts old = { .size = offsetof(struct rmig_conn_opts, timeout_ms) };
	struct rmig_conn_opts cur = { .size = sizeof(cur), .timeout_ms = 2000 };
	struct rmig_listener *l;
	struct rmig_conn *a, *b;
	char bound[128];

	(void)state;
	/* Options from an older caller (smaller struct) and the current one both work. */
	assert_ok(rmig_listener_open("tcp:127.0.0.1:0", &old, &l));
	assert_ok(rmig_listener_get_uri(l, bound, sizeof(bound)));
	assert_ok(rmig_conn_open(bound, &old, &a));
	assert_ok(rmig_listener_accept(l, 5000, &b));
	rmig_conn_close(a);
	rmig_conn_close(b);
	assert_ok(rmig_conn_open(bound, &cur, &a));
	assert_ok(rmig_listener_accept(l, 5000, &b));
	assert_false(rmig_conn_has_ram_hooks(a));
	assert_int_equal(rmig_conn_ram_load(a, RMIG_RAM_PHASE_ROUND), -ENOTSUP);
	rmig_conn_close(a);
	rmig_conn_close(b);
	assert_int_equal(rmig_listener_get_uri(l, bound, 8), -ENOSPC);
	rmig_listener_close(l);
}

static int setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/rmig-transports-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	return rmig_transport_init_all();
}

static int teardown(void **state)
{
	(void)state;
	rmig_transport_reset();
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_v4),
		cmocka_unit_test(test_tcp_v6),
		cmocka_unit_test(test_tcp_wildcard),
		cmocka_unit_test(test_tcp_refused),
		cmocka_unit_test(test_bad_uris),
		cmocka_unit_test(test_accept_timeout),
		cmocka_unit_test(test_unix),
		cmocka_unit_test(test_unix_abstract),
		cmocka_unit_test(test_unix_paths),
		cmocka_unit_test(test_fd_refusals),
		cmocka_unit_test(test_fd_socketpair),
		cmocka_unit_test(test_fd_listener_unused),
		cmocka_unit_test(test_fd_pipe),
		cmocka_unit_test(test_transfer_tcp),
		cmocka_unit_test(test_transfer_unix),
		cmocka_unit_test(test_abort_tcp),
		cmocka_unit_test(test_abort_pipe),
		cmocka_unit_test(test_peer_close),
		cmocka_unit_test(test_conn_opts),
	};

	/* No installed modules: only the built-ins are under test here. */
	setenv("RMIG_PLUGIN_DIR", "", 1);
	/* Many cases are expected to fail and report; their text is checked, not printed. */
	rmig_log_set_sink(quiet, NULL);
	return cmocka_run_group_tests(tests, setup, teardown);
}
