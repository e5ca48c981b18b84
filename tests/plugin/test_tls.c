/* SPDX-License-Identifier: MIT */
/*
 * plugin/tls.c: its parsers, and real handshakes in one process over a
 * socketpair (TLS-PSK, keys made here), both ends on their own threads:
 * matching keys carry data both ways; different keys, and a plain peer,
 * are refused on both sides with -EKEYREJECTED and a message naming why.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <rmig/log.h>

#include "common/engine/transports.h"
#include "plugin/registry.h"
#include "plugin/sock.h"
#include "plugin/tls.h"
#include "plugin/tlscreds.h"

static void test_uri_host(void **state)
{
	char host[64];

	(void)state;
	assert_int_equal(rmig_tls_uri_host("tcp:10.0.0.2:4444", host, sizeof(host)), 0);
	assert_string_equal(host, "10.0.0.2");
	assert_int_equal(rmig_tls_uri_host("tcp:[fd00::1]:4444", host, sizeof(host)), 0);
	assert_string_equal(host, "fd00::1");
	assert_int_equal(rmig_tls_uri_host("tcp:dst.example:1", host, sizeof(host)), 0);
	assert_string_equal(host, "dst.example");
	assert_int_equal(rmig_tls_uri_host("unix:/run/rmig.sock", host, sizeof(host)), -ENOENT);
	assert_int_equal(rmig_tls_uri_host("fd:3", host, sizeof(host)), -ENOENT);
	assert_int_equal(rmig_tls_uri_host("tcp::5", host, sizeof(host)), -ENOENT);
	assert_int_equal(rmig_tls_uri_host("tcp:a-very-long-name:5", host, 4), -ENOENT);
}

static void test_psk_parse(void **state)
{
	struct rmig_tls_creds c;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(rmig_tls_psk_parse(&c, "rmig:000102030405060708090a0b0c0d0e0f\n", "f"), 0);
	assert_string_equal(c.identity, "rmig");
	assert_int_equal(c.key.size, 16);
	assert_int_equal(c.key.data[15], 0x0f);
	rmig_tls_creds_fini(&c);

	assert_int_equal(rmig_tls_psk_parse(&c, "no colon here", "f"), -EINVAL);
	assert_int_equal(rmig_tls_psk_parse(&c, ":00112233445566778899aabbccddeeff", "f"), -EINVAL);
	/* 15 bytes: too short to be a key worth having. */
	assert_int_equal(rmig_tls_psk_parse(&c, "id:00112233445566778899aabbccddee", "f"), -EINVAL);
	assert_int_equal(rmig_tls_psk_parse(&c, "id:zz112233445566778899aabbccddeeff", "f"), -EINVAL);
	assert_null(c.key.data);
}

static void test_looks_like_handshake(void **state)
{
	const unsigned char hello[] = { 0x16, 0x03, 0x01, 0x02 }, plain[] = "RMIG";

	(void)state;
	assert_true(rmig_tls_looks_like_handshake(hello, sizeof(hello)));
	assert_false(rmig_tls_looks_like_handshake(plain, 4));
	assert_false(rmig_tls_looks_like_handshake(hello, 1));
}

/* ---- handshakes over a socketpair ------------------------------------- */

struct side {
	const char *psk_file; /* NULL: plain, no TLS at all */
	bool server;
	bool interrupt_first; /* client: interrupt its first read, then still talk */
	struct rmig_conn *raw, *conn;
	int rc;
	char err[RMIG_ERROR_MAX];
	char got[32];
	int interrupted_rc;
};

static void *side_run(void *opaque)
{
	struct side *s = opaque;
	struct rmig_tls_config cfg = { .psk_file = s->psk_file };

	if (!s->psk_file) {
		/* A plain rmig peer: it starts its stream with the magic, then waits. */
		s->rc = (int)rmig_conn_write(s->raw, "RMIG\0\0\0\1", 8);
		if (s->rc > 0)
			s->rc = (int)rmig_conn_read(s->raw, s->got, sizeof(s->got));
		return NULL;
	}
	s->rc = s->server ? rmig_tls_server(s->raw, &cfg, &s->conn)
			  : rmig_tls_client(s->raw, &cfg, &s->conn);
	snprintf(s->err, sizeof(s->err), "%s", rmig_error_get_last());
	if (s->rc)
		return NULL;
	if (s->interrupt_first) {
		/* As a cancel during the hand-over: the read ends, the session must not. */
		assert_true(rmig_conn_interrupt(s->conn));
		s->interrupted_rc = (int)rmig_conn_read(s->conn, s->got, 4);
	}
	/* Each side says its name and hears the other's. */
	s->rc = (int)rmig_conn_write(s->conn, s->server ? "dst" : "src", 4);
	if (s->rc == 4)
		s->rc = (int)rmig_conn_read(s->conn, s->got, 4);
	return NULL;
}

static char *write_psk(const char *hex)
{
	char *path = strdup("/tmp/rmig-test-psk-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_true(dprintf(fd, "rmig:%s\n", hex) > 0);
	close(fd);
	return path;
}

/* Run a client and a server (either may be plain) against each other. */
static void handshake(struct side *c, struct side *s)
{
	pthread_t tc, ts;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(rmig_sock_conn_new(sv[0], "client", 5000, &c->raw), 0);
	assert_int_equal(rmig_sock_conn_new(sv[1], "server", 5000, &s->raw), 0);
	/* As the registry does after accept: the unix transport's slots drive them. */
	c->raw->ops = s->raw->ops = rmig_transport_find("unix");
	assert_non_null(c->raw->ops);
	s->server = true;
	assert_int_equal(pthread_create(&tc, NULL, side_run, c), 0);
	assert_int_equal(pthread_create(&ts, NULL, side_run, s), 0);
	pthread_join(ts, NULL);
	/* A refused server closes its end, as the destination does, so the client hears it. */
	if (s->rc < 0 || !s->conn)
		rmig_conn_close(s->raw);
	pthread_join(tc, NULL);
	if (!c->conn)
		rmig_conn_close(c->raw);
	if (c->conn)
		rmig_conn_close(c->conn);
	if (s->conn)
		rmig_conn_close(s->conn);
}

#define KEY_A "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define KEY_B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static void test_psk_handshake_carries_data(void **state)
{
	char *key = write_psk(KEY_A);
	struct side c = { .psk_file = key }, s = { .psk_file = key };

	(void)state;
	handshake(&c, &s);
	assert_int_equal(c.rc, 4);
	assert_int_equal(s.rc, 4);
	assert_string_equal(c.got, "dst");
	assert_string_equal(s.got, "src");
	unlink(key);
	free(key);
}

static void test_interrupt_keeps_the_session(void **state)
{
	char *key = write_psk(KEY_A);
	struct side c = { .psk_file = key, .interrupt_first = true }, s = { .psk_file = key };

	(void)state;
	handshake(&c, &s);
	assert_int_equal(c.interrupted_rc, -ECANCELED);
	/* After it, both directions still work: an ABORT would still get through. */
	assert_int_equal(c.rc, 4);
	assert_int_equal(s.rc, 4);
	assert_string_equal(c.got, "dst");
	assert_string_equal(s.got, "src");
	unlink(key);
	free(key);
}

static void test_psk_mismatch_refused_on_both_sides(void **state)
{
	char *a = write_psk(KEY_A), *b = write_psk(KEY_B);
	struct side c = { .psk_file = a }, s = { .psk_file = b };

	(void)state;
	handshake(&c, &s);
	assert_int_equal(s.rc, -EKEYREJECTED);
	assert_non_null(strstr(s.err, "pre-shared keys differ"));
	assert_int_equal(c.rc, -EKEYREJECTED);
	assert_non_null(strstr(c.err, "pre-shared key"));
	unlink(a);
	unlink(b);
	free(a);
	free(b);
}

static void test_plain_source_named(void **state)
{
	char *key = write_psk(KEY_A);
	struct side c = { .psk_file = NULL }, s = { .psk_file = key };

	(void)state;
	handshake(&c, &s);
	assert_int_equal(s.rc, -EKEYREJECTED);
	assert_non_null(strstr(s.err, "does not use TLS (it sent a plain rmig stream)"));
	/* The plain source hears no acceptance: at most the TLS alert (record type 21), then the end. */
	assert_true(c.rc <= 0 || c.got[0] == 0x15);
	unlink(key);
	free(key);
}

static void test_creds_missing_files_named(void **state)
{
	struct rmig_tls_creds c;
	struct rmig_tls_config cfg = { .creds_dir = "/nonexistent/pki", .hostname = "h" };

	(void)state;
	assert_int_equal(rmig_tls_creds_load(&c, &cfg, true), -ENOENT);
	assert_non_null(strstr(rmig_error_get_last(), "/nonexistent/pki/ca-cert.pem"));
	rmig_tls_creds_fini(&c);
	/* x509 on the source with no host name to check is refused, not left unchecked. */
	cfg.hostname = NULL;
	assert_int_equal(rmig_tls_creds_load(&c, &cfg, false), -EINVAL);
	assert_non_null(strstr(rmig_error_get_last(), "--tls-hostname"));
	rmig_tls_creds_fini(&c);
	cfg.psk_file = "/x";
	assert_int_equal(rmig_tls_creds_load(&c, &cfg, true), -EINVAL);
	assert_non_null(strstr(rmig_error_get_last(), "not both"));
	rmig_tls_creds_fini(&c);
}

static void discard(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_host),
		cmocka_unit_test(test_psk_parse),
		cmocka_unit_test(test_looks_like_handshake),
		cmocka_unit_test(test_psk_handshake_carries_data),
		cmocka_unit_test(test_interrupt_keeps_the_session),
		cmocka_unit_test(test_psk_mismatch_refused_on_both_sides),
		cmocka_unit_test(test_plain_source_named),
		cmocka_unit_test(test_creds_missing_files_named),
	};

	rmig_log_set_sink(discard, NULL);
	if (rmig_transport_init_all() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
