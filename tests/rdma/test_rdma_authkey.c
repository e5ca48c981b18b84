/* SPDX-License-Identifier: MIT */
/*
 * rdma/authkey.c: the key file and the proofs of the authentication
 * exchange.  A proof verifies only with the same key, the same role and
 * the same nonces: not reflected as the other side's, not replayed with
 * other nonces.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <rmig/log.h>

#include "rdma/authkey.h"

#define CAPS 0x00190000u /* AUTH, KEEPALIVE, CREDITS */

static char *key_file(const void *bytes, size_t len)
{
	char *path = strdup("/tmp/rmig-test-authkey-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, bytes, len), (ssize_t)len);
	close(fd);
	return path;
}

static void load(const void *bytes, size_t len, int want, struct rmig_rdma_auth_key *k)
{
	char *path = key_file(bytes, len);

	assert_int_equal(rmig_rdma_auth_key_load(path, k), want);
	unlink(path);
	free(path);
}

static void test_key_file(void **state)
{
	struct rmig_rdma_auth_key k;
	char big[RMIG_RDMA_AUTH_KEY_MAX + 1];

	(void)state;
	/* base64 of 32 random bytes, with its newline: the newline is not key. */
	load("c2VjcmV0IGtleSBmb3IgdGhlIHRlc3QgMDEyMzQ1Njc4OQ==\n", 49, 0, &k);
	assert_int_equal(k.len, 48);
	load("short key\n", 10, -EINVAL, &k);
	assert_int_equal(k.len, 0);
	memset(big, 'k', sizeof(big));
	load(big, sizeof(big), -EINVAL, &k);
	load(big, RMIG_RDMA_AUTH_KEY_MAX, 0, &k);
	assert_int_equal(k.len, RMIG_RDMA_AUTH_KEY_MAX);
	assert_int_equal(rmig_rdma_auth_key_load("/nonexistent/key", &k), -ENOENT);
	rmig_rdma_auth_key_wipe(&k);
	assert_int_equal(k.len, 0);
}

static void test_proofs(void **state)
{
	struct rmig_rdma_auth_key a = { .len = 20 }, b = { .len = 20 };
	uint8_t ns[RMIG_RDMA_AUTH_NONCE], nd[RMIG_RDMA_AUTH_NONCE], other[RMIG_RDMA_AUTH_NONCE];
	uint8_t pd[RMIG_RDMA_AUTH_MAC], ps[RMIG_RDMA_AUTH_MAC];

	(void)state;
	memcpy(a.bytes, "the shared secret 01", 20);
	memcpy(b.bytes, "the shared secret 02", 20);
	assert_int_equal(rmig_rdma_auth_nonce(ns), 0);
	assert_int_equal(rmig_rdma_auth_nonce(nd), 0);
	assert_int_equal(rmig_rdma_auth_nonce(other), 0);
	assert_memory_not_equal(ns, nd, sizeof(ns));

	assert_int_equal(rmig_rdma_auth_prove(&a, true, CAPS, ns, nd, pd), 0);
	assert_int_equal(rmig_rdma_auth_prove(&a, false, CAPS, ns, nd, ps), 0);
	assert_true(rmig_rdma_auth_check(&a, true, CAPS, ns, nd, pd));
	assert_true(rmig_rdma_auth_check(&a, false, CAPS, ns, nd, ps));
	/* Another key. */
	assert_false(rmig_rdma_auth_check(&b, true, CAPS, ns, nd, pd));
	/* Reflected: the destination's proof passed off as the source's, and back. */
	assert_memory_not_equal(pd, ps, sizeof(pd));
	assert_false(rmig_rdma_auth_check(&a, false, CAPS, ns, nd, pd));
	assert_false(rmig_rdma_auth_check(&a, true, CAPS, ns, nd, ps));
	/* Replayed into a connection with another nonce, or with the nonces swapped. */
	assert_false(rmig_rdma_auth_check(&a, true, CAPS, other, nd, pd));
	assert_false(rmig_rdma_auth_check(&a, true, CAPS, ns, other, pd));
	assert_false(rmig_rdma_auth_check(&a, true, CAPS, nd, ns, pd));
	/* A negotiation that differs (a flag stripped on the way). */
	assert_false(rmig_rdma_auth_check(&a, true, CAPS & ~0x00080000u, ns, nd, pd));
	/* One bit off. */
	pd[7] ^= 0x10;
	assert_false(rmig_rdma_auth_check(&a, true, CAPS, ns, nd, pd));
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
		cmocka_unit_test(test_key_file),
		cmocka_unit_test(test_proofs),
	};

	rmig_log_set_sink(discard, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
