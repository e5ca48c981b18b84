/* SPDX-License-Identifier: MIT */
/*
 * The rails wire layer's checks of what a peer's bytes may name
 * (rdma/rails.h), beside test_rdma_rails_wire.c: pads are zero, a rail is
 * at an address a connection can arrive at, a wildcard listener takes
 * only its own families, and a join arrives where RAILS_REQUEST put its
 * rail.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "rdma/rails.h"
#include "rdma/wire.h"
#include "tests/support/rails_test.h"

/*
 * The destination: the control connection arrived at 10.0.0.1:4444; the
 * listener is bound there and at 10.0.1.1, [fd00::1], 127.0.0.1 and
 * [::1], all at :4444 (bound_local), or is the wildcard `any` at :4444.
 */
static struct sockaddr_storage control, bound[5], any;
static struct rmig_rdma_rails_local local;
/* The rails of a RAILS_REQUEST: a case changes some and checks the first n. */
static struct rmig_rdma_rail_addr a[RMIG_RDMA_MAX_RAILS];

static void bound_local(void)
{
	bound[0] = sa("10.0.0.1", PORT);
	bound[1] = sa("10.0.1.1", PORT);
	bound[2] = sa("fd00::1", PORT);
	bound[3] = sa("127.0.0.1", PORT);
	bound[4] = sa("::1", PORT);
	local = (struct rmig_rdma_rails_local){
	    .control = &control, .bound = bound, .nbound = 5, .wildcard = false};
}

/* A wildcard listener at @ip (0.0.0.0 or ::), IPv6 only if @v6only. */
static void wildcard_local(const char *ip, bool v6only)
{
	any = sa(ip, PORT);
	local = (struct rmig_rdma_rails_local){
	    .control = &control, .bound = &any, .nbound = 1, .wildcard = true, .v6only = v6only};
}

static int setup(void **state)
{
	rdma_test_setup(state);
	control = sa("10.0.0.1", PORT);
	bound_local();
	a[0] = rail(0, "10.0.0.1", PORT);
	a[1] = rail(1, "10.0.1.1", PORT);
	a[2] = rail(2, "fd00::1", PORT);
	a[3] = rail(3, "10.0.1.1", 5555);
	return 0;
}

/*
 * Validate a RAILS_REQUEST of a[0..@n-1] against `local`, byte @off of
 * element @poke set to @val first (nothing set when @poke >= @n); on
 * failure the count and @out must be untouched.  @out may be NULL.
 */
static int request_poked(uint32_t n, uint32_t poke, size_t off, uint8_t val,
			 struct rmig_rdma_rail_addr *out)
{
	uint8_t p[RMIG_RDMA_MAX_RAILS * RMIG_RDMA_RAIL_ADDR_SIZE];
	struct rmig_rdma_rail_addr o[RMIG_RDMA_MAX_RAILS];
	struct rmig_rdma_hdr h = {.len = n * RMIG_RDMA_RAIL_ADDR_SIZE,
				  .type = RMIG_RDMA_MSG_RAILS_REQUEST,
				  .repeat = n};
	uint32_t got = 99;
	int ret;

	for (uint32_t i = 0; i < n; i++)
		rmig_rdma_rail_addr_encode(&a[i], p + i * RMIG_RDMA_RAIL_ADDR_SIZE);
	if (poke < n)
		p[poke * RMIG_RDMA_RAIL_ADDR_SIZE + off] = val;
	memset(o, 0xee, sizeof(o));
	rmig_error_clear();
	ret = rmig_rdma_rails_request_validate(&h, p, &local, &got, o);
	assert_int_equal(got, ret ? 99 : n);
	for (uint32_t i = 0; i < (ret ? 1 : n); i++)
		assert_int_equal(o[i].index, ret ? 0xeeeeeeeeu : i);
	if (out)
		memcpy(out, o, sizeof(o));
	return ret;
}

static int check_request(uint32_t n)
{
	return request_poked(n, n, 0, 0, NULL);
}

/* ---- pads ---- */

static void test_request_pad(void **state)
{
	(void)state;
	assert_int_equal(check_request(3), 0);
	/* Any value in any rail's pad byte (byte 7). */
	for (unsigned v = 1; v < 256; v++)
		assert_int_equal(request_poked(3, 1, 7, (uint8_t)v, NULL), -EPROTO);
	assert_int_equal(request_poked(3, 1, 7, 0x5a, NULL), -EPROTO);
	assert_string_equal(rmig_error_get_last(), "rdma: RAILS REQUEST: rail 1 has 0x5a in its "
						   "pad byte, which must be zero");
	assert_refused(request_poked(3, 0, 7, 1, NULL), "rail 0 has 0x1 in its pad byte");
	assert_refused(request_poked(3, 2, 7, 0x80, NULL), "rail 2 has 0x80 in its pad byte");
}

/* Validate RAILS_RESULT for @n rails, byte @off of element @poke set to @val first. */
static int result_poked(uint32_t n, uint32_t poke, size_t off, uint8_t val)
{
	uint8_t p[RMIG_RDMA_MAX_RAILS * RMIG_RDMA_RAIL_COOKIE_SIZE];
	struct rmig_rdma_rail_cookie c, out[RMIG_RDMA_MAX_RAILS];
	struct rmig_rdma_hdr h = {.len = n * RMIG_RDMA_RAIL_COOKIE_SIZE,
				  .type = RMIG_RDMA_MSG_RAILS_RESULT,
				  .repeat = n};
	int ret;

	for (uint32_t i = 0; i < n; i++) {
		c.index = i;
		memset(c.cookie, i ? (int)(0x40 + i) : 0, sizeof(c.cookie));
		rmig_rdma_rail_cookie_encode(&c, p + i * RMIG_RDMA_RAIL_COOKIE_SIZE);
	}
	p[poke * RMIG_RDMA_RAIL_COOKIE_SIZE + off] = val;
	memset(out, 0xee, sizeof(out));
	rmig_error_clear();
	ret = rmig_rdma_rails_result_validate(&h, p, n, out);
	if (ret)
		assert_int_equal(out[0].index, 0xeeeeeeeeu);
	return ret;
}

static void test_result_pad(void **state)
{
	(void)state;
	assert_int_equal(result_poked(3, 1, 4, 0), 0);
	/* Each byte of each rail's pad word (bytes 4..7). */
	for (uint32_t r = 0; r < 3; r++)
		for (size_t b = 4; b < 8; b++)
			assert_int_equal(result_poked(3, r, b, 1), -EPROTO);
	assert_int_equal(result_poked(3, 2, 7, 3), -EPROTO);
	assert_string_equal(rmig_error_get_last(), "rdma: RAILS RESULT: rail 2 has 0x3 in its pad "
						   "word, which must be zero");
	assert_refused(result_poked(3, 0, 4, 0x80), "rail 0 has 0x80000000 in its pad word");
}

/* ---- addresses no rail's connection can arrive at ---- */

static void test_request_not_unicast(void **state)
{
	(void)state;
	/* Refused at rail 1: the address, as the error prints it, and why. */
	static const struct {
		const char *ip, *printed, *why;
	} refused[] = {
	    {"127.0.0.1", "127.0.0.1:4444", "a loopback address"},
	    {"127.255.255.254", "127.255.255.254:4444", "a loopback address"},
	    {"::ffff:127.0.0.1", "127.0.0.1:4444", "a loopback address"},
	    {"224.0.0.1", "224.0.0.1:4444", "a multicast address"},
	    {"239.255.255.255", "239.255.255.255:4444", "a multicast address"},
	    {"255.255.255.255", "255.255.255.255:4444", "the broadcast address"},
	    {"::1", "[::1]:4444", "a loopback address"},
	    {"ff02::1", "[ff02::1]:4444", "a multicast address"},
	    {"ff0e::101", "[ff0e::101]:4444", "a multicast address"},
	    {"fe80::1", "[fe80::1]:4444", "a link-local address, which names no interface"},
	    {"febf:ffff::1", "[febf:ffff::1]:4444", "a link-local address"},
	};
	/* Accepted at rail 1, however close to a refused range (169.254/16 is the harness's). */
	static const char *const accepted[] = {
	    "169.254.77.1", "169.254.78.1", "169.254.0.1", "126.255.255.255", "128.0.0.1",
	    "223.255.255.255", "fd00::5", "2001:db8::1", "fe7f::1", "fec0::1", "fe:80::1",
	};
	char want[160];

	/* Under a dual-stack :: wildcard, which takes any address of either family. */
	wildcard_local("::", false);
	for (size_t i = 0; i < RMIG_ARRAY_SIZE(refused); i++) {
		a[1] = rail(1, refused[i].ip, PORT);
		snprintf(want, sizeof(want), "rdma: rail 1: the source wants %s, %s",
			 refused[i].printed, refused[i].why);
		assert_refused(check_request(2), want);
	}
	for (size_t i = 0; i < RMIG_ARRAY_SIZE(accepted); i++) {
		a[1] = rail(1, accepted[i], PORT);
		if (check_request(2))
			fail_msg("rail 1 at %s refused: %s", accepted[i], rmig_error_get_last());
	}
	/* Whatever the listener: bound at loopback, or an IPv4 wildcard, it is still refused. */
	bound_local();
	a[1] = rail(1, "127.0.0.1", PORT);
	assert_refused(check_request(2), "rail 1: the source wants 127.0.0.1:4444, a loopback");
	a[1] = rail(1, "::1", PORT);
	assert_refused(check_request(2), "rail 1: the source wants [::1]:4444, a loopback");
	wildcard_local("0.0.0.0", false);
	a[1] = rail(1, "127.0.0.1", PORT);
	assert_refused(check_request(2), "rail 1: the source wants 127.0.0.1:4444, a loopback");
	a[3] = rail(3, "239.1.2.3", PORT);
	a[1] = rail(1, "169.254.78.1", PORT);
	a[2] = rail(2, "10.0.1.1", PORT);
	assert_refused(check_request(4), "rail 3: the source wants 239.1.2.3:4444, a multicast");
	assert_int_equal(check_request(3), 0);
}

static void test_request_rail0_any_unicast(void **state)
{
	(void)state;
	struct sockaddr_in6 *in6 = (void *)&control;

	/*
	 * Rail 0 joins nothing: it is where the control connection did
	 * arrive, at a link-local address with a scope id the element does
	 * not carry, or at loopback through a fake device in a unit test.
	 */
	control = sa("fe80::1", PORT);
	in6->sin6_scope_id = 3;
	a[0] = rail(0, "fe80::1", PORT);
	assert_int_equal(check_request(3), 0);
	control = sa("127.0.0.1", PORT);
	a[0] = rail(0, "127.0.0.1", PORT);
	assert_int_equal(check_request(3), 0);
	/* The rule for rails 1.. is unchanged by it. */
	a[1] = rail(1, "127.0.0.1", 5555);
	assert_refused(check_request(3), "rail 1: the source wants 127.0.0.1:5555, a loopback");
}

/* ---- the families a wildcard takes ---- */

static void test_request_wildcard_family(void **state)
{
	(void)state;
	/* 0.0.0.0 takes IPv4, spelt plain or v4-mapped; v6only means nothing to it. */
	wildcard_local("0.0.0.0", false);
	a[1] = rail(1, "169.254.78.1", PORT);
	a[2] = rail(2, "::ffff:10.9.9.9", PORT);
	assert_int_equal(check_request(3), 0);
	local.v6only = true;
	assert_int_equal(check_request(3), 0);
	a[2] = rail(2, "fd00::5", PORT);
	assert_int_equal(check_request(3), -EPROTO);
	assert_string_equal(rmig_error_get_last(),
			    "rdma: rail 2: the source wants [fd00::5]:4444, but this destination "
			    "listens on the wildcard 0.0.0.0:4444, which takes IPv4 only");

	/* :: IPv6 only: IPv6 rails, not IPv4 ones however spelt. */
	control = sa("fd00::1", PORT);
	a[0] = rail(0, "fd00::1", PORT);
	wildcard_local("::", true);
	a[1] = rail(1, "fd00::5", PORT);
	a[2] = rail(2, "2001:db8::7", PORT);
	assert_int_equal(check_request(3), 0);
	a[2] = rail(2, "169.254.78.1", PORT);
	assert_int_equal(check_request(3), -EPROTO);
	assert_string_equal(rmig_error_get_last(),
			    "rdma: rail 2: the source wants 169.254.78.1:4444, but this "
			    "destination listens on the wildcard [::]:4444, which takes IPv6 only");
	a[2] = rail(2, "::ffff:169.254.78.1", PORT);
	assert_refused(check_request(3), "rail 2: the source wants 169.254.78.1:4444, but this");

	/* A dual-stack :: takes both. */
	local.v6only = false;
	assert_int_equal(check_request(3), 0);
	a[2] = rail(2, "169.254.78.1", PORT);
	a[3] = rail(3, "10.0.1.1", PORT);
	assert_int_equal(check_request(4), 0);
	/* At another port the family is not the reason: nothing listens there. */
	a[3].port = 5555;
	assert_refused(check_request(4), "rail 3: the source wants 10.0.1.1:5555, which this "
					 "destination does not listen on");

	/* 0.0.0.0 beside an IPv6-only :: takes either family between them. */
	a[3].port = PORT;
	bound[0] = sa("0.0.0.0", PORT);
	bound[1] = sa("::", PORT);
	local.bound = bound;
	local.nbound = 2;
	local.v6only = true;
	assert_int_equal(check_request(4), 0);
}

/* ---- joins arrive where their rail is ---- */

static uint8_t given[RMIG_RDMA_MAX_RAILS][RMIG_RDMA_RAIL_COOKIE];

/*
 * Decode the join @pd of one of 3 rails at @rails, arriving at @at (NULL:
 * none); *rail untouched on failure.
 */
static int join_at(const uint8_t *pd, const struct sockaddr_storage *at,
		   const struct rmig_rdma_rail_addr *rails)
{
	uint32_t r = 77;
	int ret;

	rmig_error_clear();
	ret = rmig_rdma_rail_join_decode(pd, RMIG_RDMA_RAIL_JOIN_SIZE, (const struct sockaddr *)at,
					 3, rails, 0, given, &r);
	assert_int_equal(r, ret ? 77 : rmig_get_be32(pd + 8));
	return ret;
}

static void test_join_pad(void **state)
{
	(void)state;
	struct sockaddr_storage at = sa("10.0.1.1", PORT);
	uint8_t pd[RMIG_RDMA_RAIL_JOIN_SIZE];

	memset(given[1], 0x11, RMIG_RDMA_RAIL_COOKIE);
	rmig_rdma_rail_join_encode(1, given[1], pd);
	assert_int_equal(join_at(pd, &at, a), 0);
	/* Each byte of the pad word (bytes 12..15). */
	for (int b = 12; b < 16; b++) {
		pd[b] = 1;
		assert_int_equal(join_at(pd, &at, a), -EPROTO);
		pd[b] = 0;
	}
	pd[15] = 0x42;
	assert_int_equal(join_at(pd, &at, a), -EPROTO);
	assert_string_equal(rmig_error_get_last(), "rdma: join for rail 1: its pad word is "
						   "0x00000042, which must be zero");
}

static void test_join_address(void **state)
{
	(void)state;
	struct rmig_rdma_rail_addr rails[RMIG_RDMA_MAX_RAILS];
	struct sockaddr_storage at;
	uint8_t pd[RMIG_RDMA_RAIL_JOIN_SIZE];

	/* The rails as the validator returned them: rail 1 spelt v4-mapped comes back IPv4. */
	a[1] = rail(1, "::ffff:10.0.1.1", PORT);
	assert_int_equal(request_poked(3, 3, 0, 0, rails), 0);
	memset(given[1], 0x11, RMIG_RDMA_RAIL_COOKIE);
	memset(given[2], 0x22, RMIG_RDMA_RAIL_COOKIE);
	rmig_rdma_rail_join_encode(1, given[1], pd);
	at = sa("10.0.1.1", PORT);
	assert_int_equal(join_at(pd, &at, rails), 0);
	/* As a dual-stack listener sees it. */
	at = sa("::ffff:10.0.1.1", PORT);
	assert_int_equal(join_at(pd, &at, rails), 0);
	/* Rail 1's address at another port, another rail's address, the control one. */
	at = sa("10.0.1.1", 5555);
	assert_int_equal(join_at(pd, &at, rails), -EPROTO);
	assert_string_equal(rmig_error_get_last(),
			    "rdma: join for rail 1: it arrived at 10.0.1.1:5555, but RAILS "
			    "REQUEST named 10.0.1.1:4444 for that rail");
	at = sa("fd00::1", PORT);
	assert_refused(join_at(pd, &at, rails), "join for rail 1: it arrived at [fd00::1]:4444");
	at = sa("10.0.0.1", PORT);
	assert_refused(join_at(pd, &at, rails), "join for rail 1: it arrived at 10.0.0.1:4444");
	/* Rail 2 where it belongs, its scope id not compared; and at rail 1's address. */
	rmig_rdma_rail_join_encode(2, given[2], pd);
	at = sa("fd00::1", PORT);
	((struct sockaddr_in6 *)(void *)&at)->sin6_scope_id = 2;
	assert_int_equal(join_at(pd, &at, rails), 0);
	at = sa("10.0.1.1", PORT);
	assert_refused(join_at(pd, &at, rails), "join for rail 2: it arrived at 10.0.1.1:4444, "
						"but RAILS REQUEST named [fd00::1]:4444");

	/* The caller's mistakes: no address or one not IP, no rails. */
	at = sa("fd00::1", PORT);
	assert_int_equal(join_at(pd, NULL, rails), -EINVAL);
	assert_int_equal(join_at(pd, &at, NULL), -EINVAL);
	at.ss_family = AF_UNIX;
	assert_int_equal(join_at(pd, &at, rails), -EINVAL);
	assert_error_mentions("IPv4 or IPv6 address it arrived at");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_request_pad, setup, rdma_test_teardown),
	    cmocka_unit_test_setup_teardown(test_result_pad, setup, rdma_test_teardown),
	    cmocka_unit_test_setup_teardown(test_request_not_unicast, setup, rdma_test_teardown),
	    cmocka_unit_test_setup_teardown(test_request_rail0_any_unicast, setup, rdma_test_teardown),
	    cmocka_unit_test_setup_teardown(test_request_wildcard_family, setup, rdma_test_teardown),
	    cmocka_unit_test_setup_teardown(test_join_pad, setup, rdma_test_teardown),
	    cmocka_unit_test_setup_teardown(test_join_address, setup, rdma_test_teardown),
	};

	return cmocka_run_group_tests_name("rdma_rails_checks", tests, NULL, NULL);
}
