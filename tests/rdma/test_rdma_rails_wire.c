/* SPDX-License-Identifier: MIT */
/*
 * The rails wire layer (rdma/rails.h): element and join layouts against
 * hand-written big-endian bytes, every refusal of every check, and that
 * RAILS_REQUEST / RAILS_RESULT are still unknown types on the wire.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
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
 * The destination of most cases: the control connection arrived at
 * 10.0.0.1:4444; the listener is bound there, at 10.0.1.1:4444 and :5555,
 * and at [fd00::1]:4444.
 */
static struct sockaddr_storage control, bound[4];
static struct rmig_rdma_rails_local local;
/* The rails of a RAILS_REQUEST: a case changes some and checks the first n. */
static struct rmig_rdma_rail_addr a[5];

static void plain_local(void)
{
	control = sa("10.0.0.1", PORT);
	bound[0] = sa("10.0.0.1", PORT);
	bound[1] = sa("10.0.1.1", PORT);
	bound[2] = sa("10.0.1.1", 5555);
	bound[3] = sa("fd00::1", PORT);
	local = (struct rmig_rdma_rails_local){
	    .control = &control, .bound = bound, .nbound = 4, .wildcard = false};
}

/* The rails a case starts from: the control address, then bound ones (see `local`). */
static void plain_rails(void)
{
	a[0] = rail(0, "10.0.0.1", PORT);
	a[1] = rail(1, "10.0.1.1", PORT);
	a[2] = rail(2, "fd00::1", PORT);
	a[3] = rail(3, "10.0.1.1", 5555);
	a[4] = rail(4, "10.0.1.1", 5556);
}

static int setup(void **state)
{
	rdma_test_setup(state);
	plain_local();
	plain_rails();
	return 0;
}

/* ---- RAILS_REQUEST and the layouts ---- */

/* A RAILS_REQUEST of @n rails, the header saying what it carries. */
static struct rmig_rdma_hdr request(uint32_t n, uint8_t *payload)
{
	for (uint32_t i = 0; i < n; i++)
		rmig_rdma_rail_addr_encode(&a[i], payload + i * RMIG_RDMA_RAIL_ADDR_SIZE);
	return (struct rmig_rdma_hdr){.len = n * RMIG_RDMA_RAIL_ADDR_SIZE,
				      .type = RMIG_RDMA_MSG_RAILS_REQUEST,
				      .repeat = n};
}

/* Validate a[0..@n-1] against `local`; on failure, the count and @out must be untouched. */
static int check_request(uint32_t n)
{
	uint8_t p[8 * RMIG_RDMA_RAIL_ADDR_SIZE];
	struct rmig_rdma_rail_addr out[RMIG_RDMA_MAX_RAILS];
	struct rmig_rdma_hdr h = request(n, p);
	uint32_t got = 99;
	int ret;

	memset(out, 0xee, sizeof(out));
	rmig_error_clear();
	ret = rmig_rdma_rails_request_validate(&h, p, &local, &got, out);
	assert_int_equal(got, ret ? 99 : n);
	for (uint32_t i = 0; i < (ret ? 1 : n); i++)
		assert_int_equal(out[i].index, ret ? 0xeeeeeeeeu : i);
	return ret;
}

static void test_layouts(void **state)
{
	(void)state;
	/* index 1, port 4444, family 4, pad, 169.254.79.1 and twelve zeros */
	const uint8_t v4[24] = {0x00, 0x00, 0x00, 0x01, 0x11, 0x5c, 0x04, 0x00,
				0xa9, 0xfe, 0x4f, 0x01, 0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
	/* index 3, port 65535, family 6, pad, fd00::1234 */
	const uint8_t v6[24] = {0x00, 0x00, 0x00, 0x03, 0xff, 0xff, 0x06, 0x00,
				0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x34};
	/* index 2, pad, cookie 01..10 */
	const uint8_t cookie[24] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
				    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
				    0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10};
	/* version 1, flags RAIL_JOIN, rail 3, pad, cookie 01..10; the answer {1, RAIL_JOIN} */
	const uint8_t join[32] = {0x00, 0x00, 0x00, 0x01, 0x80, 0x00, 0x00, 0x00,
				  0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,
				  0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
				  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10};
	const uint8_t answer[8] = {0x00, 0x00, 0x00, 0x01, 0x80, 0x00, 0x00, 0x00};
	struct rmig_rdma_rail_addr r = rail(1, "169.254.79.1", PORT), d;
	struct rmig_rdma_rail_cookie c = {.index = 2}, dc;
	uint8_t got[32], in[24];

	memset(got, 0xaa, sizeof(got));
	rmig_rdma_rail_addr_encode(&r, got);
	assert_memory_equal(got, v4, 24);
	r = rail(3, "fd00::1234", 65535);
	rmig_rdma_rail_addr_encode(&r, got);
	assert_memory_equal(got, v6, 24);
	/* Decode reads every field back, and not the pad. */
	memcpy(in, v6, sizeof(in));
	in[7] = 0x5a;
	rmig_rdma_rail_addr_decode(in, &d);
	assert_true(d.index == 3 && d.port == 65535 && d.family == 6);
	assert_memory_equal(d.addr, r.addr, 16);

	for (int i = 0; i < RMIG_RDMA_RAIL_COOKIE; i++)
		c.cookie[i] = (uint8_t)(i + 1);
	memset(got, 0xaa, sizeof(got));
	rmig_rdma_rail_cookie_encode(&c, got);
	assert_memory_equal(got, cookie, 24);
	memcpy(in, cookie, sizeof(in));
	in[5] = 0x77; /* the pad */
	rmig_rdma_rail_cookie_decode(in, &dc);
	assert_int_equal(dc.index, 2);
	assert_memory_equal(dc.cookie, c.cookie, RMIG_RDMA_RAIL_COOKIE);

	memset(got, 0xaa, sizeof(got));
	rmig_rdma_rail_join_encode(3, c.cookie, got);
	assert_memory_equal(got, join, 32);
	memset(got, 0xaa, sizeof(got));
	rmig_rdma_rail_join_answer_encode(got);
	assert_memory_equal(got, answer, 8);
	assert_int_equal(got[8], 0xaa);
}

static void test_request_header(void **state)
{
	(void)state;
	struct rmig_rdma_rail_addr out[RMIG_RDMA_MAX_RAILS];
	uint8_t p[2 * RMIG_RDMA_RAIL_ADDR_SIZE];
	struct rmig_rdma_hdr h = request(2, p);
	uint32_t n;

	assert_int_equal(check_request(2), 0);
	assert_int_equal(check_request(3), 0);
	assert_int_equal(check_request(4), 0);
	/* 2 to 4 rails, each with its own index. */
	assert_refused(check_request(1), "describes 1 rails");
	assert_refused(check_request(5), "2 to 4 rails");
	assert_int_equal(check_request(0), -EPROTO);
	a[1].index = 2;
	assert_refused(check_request(3), "rail 1 is described as index 2");
	a[0].index = 1;
	assert_refused(check_request(3), "rail 0 is described as index 1");
	/* A length that is not the count's. */
	h.len--;
	assert_int_equal(rmig_rdma_rails_request_validate(&h, p, &local, &n, out), -EPROTO);
	h.len = 3 * RMIG_RDMA_RAIL_ADDR_SIZE;
	assert_int_equal(rmig_rdma_rails_request_validate(&h, p, &local, &n, out), -EPROTO);
	/* An ERROR, or another type. */
	h.len = 2 * RMIG_RDMA_RAIL_ADDR_SIZE;
	h.type = RMIG_RDMA_MSG_ERROR;
	assert_int_equal(rmig_rdma_rails_request_validate(&h, p, &local, &n, out), -ECONNABORTED);
	h.type = RMIG_RDMA_MSG_RAILS_RESULT;
	assert_refused(rmig_rdma_rails_request_validate(&h, p, &local, &n, out),
		       "expected a RAILS REQUEST");
}

static void test_request_address(void **state)
{
	(void)state;
	for (unsigned f = 0; f < 256; f++) {
		if (f == 4)
			continue;
		a[1].family = (uint8_t)f;
		/* 6 is a family, but 10.0.1.1 followed by zeros is no bound IPv6 address. */
		assert_refused(check_request(2), f == 6 ? "rail 1: the source wants [a00:101::]"
							: "rail 1: the source names an address of");
	}
	a[1].family = 4;
	/* An IPv4 address with anything in bytes 4..15, each byte in turn. */
	for (int b = 4; b < 16; b++) {
		a[1].addr[b] = 1;
		assert_refused(check_request(2), "rail 1: the source names an IPv4 address whose");
		a[1].addr[b] = 0;
	}
	assert_int_equal(check_request(2), 0);
	a[1].port = 0;
	assert_refused(check_request(2), "rail 1: the source wants 10.0.1.1:0, port 0");
	a[1] = rail(1, "0.0.0.0", PORT);
	assert_refused(check_request(2), "rail 1: the source wants 0.0.0.0:4444, which is no");
	a[1] = rail(1, "::", PORT);
	assert_refused(check_request(2), "which is no address");
}

static void test_request_duplicates(void **state)
{
	(void)state;
	a[2] = rail(2, "10.0.1.1", PORT);
	assert_refused(check_request(3), "rail 2: the source wants 10.0.1.1:4444, which rail 1");
	/* The control connection's address again. */
	a[2] = rail(2, "10.0.0.1", PORT);
	assert_refused(check_request(3), "rail 2: the source wants 10.0.0.1:4444, which rail 0");
	/* The same address spelt v4-mapped is the same address. */
	a[2] = rail(2, "::ffff:10.0.1.1", PORT);
	assert_refused(check_request(3), "which rail 1 has already");
	/* Another port of the same address is another rail. */
	a[2] = rail(2, "10.0.1.1", 5555);
	assert_int_equal(check_request(3), 0);
}

static void test_request_rail0_is_control(void **state)
{
	(void)state;
	/* Bound, but not where the control connection arrived. */
	a[0] = rail(0, "10.0.1.1", PORT);
	a[1] = rail(1, "fd00::1", PORT);
	assert_int_equal(check_request(2), -EPROTO);
	assert_string_equal(rmig_error_get_last(),
			    "rdma: rail 0: the source names 10.0.1.1:4444, but its control "
			    "connection arrived at 10.0.0.1:4444");
	a[0] = rail(0, "10.0.0.1", 5555);
	assert_refused(check_request(2), "rail 0: the source names 10.0.0.1:5555");
	a[0] = rail(0, "10.0.0.1", PORT);
	assert_int_equal(check_request(2), 0);
}

static void test_request_not_bound(void **state)
{
	(void)state;
	a[1] = rail(1, "169.254.79.1", PORT);
	assert_int_equal(check_request(3), -EPROTO);
	assert_string_equal(rmig_error_get_last(),
			    "rdma: rail 1: the source wants 169.254.79.1:4444, which this "
			    "destination does not listen on");
	/* A bound address at a port it is not bound at. */
	a[1] = rail(1, "10.0.1.1", 4445);
	assert_refused(check_request(3), "rail 1: the source wants 10.0.1.1:4445, which this");
	a[1] = rail(1, "10.0.1.1", PORT);
	a[2] = rail(2, "fd00::2", PORT);
	assert_refused(check_request(3), "rail 2: the source wants [fd00::2]:4444, which this");
	/* Bound nowhere but at the control address: every further rail is refused. */
	a[2] = rail(2, "fd00::1", PORT);
	assert_int_equal(check_request(3), 0);
	local.nbound = 0;
	assert_refused(check_request(3), "rail 1: the source wants 10.0.1.1:4444, which this");
}

static void test_request_v4_mapped(void **state)
{
	(void)state;
	struct rmig_rdma_rail_addr out[RMIG_RDMA_MAX_RAILS];
	const uint8_t v4[16] = {10, 0, 1, 1};
	uint8_t p[3 * RMIG_RDMA_RAIL_ADDR_SIZE];
	struct rmig_rdma_hdr h;
	uint32_t n;

	/* A dual-stack listener sees an IPv4 control connection v4-mapped. */
	control = sa("::ffff:10.0.0.1", PORT);
	bound[3] = sa("::ffff:10.0.2.1", PORT);
	a[1] = rail(1, "::ffff:10.0.1.1", PORT);
	a[2] = rail(2, "10.0.2.1", PORT);
	h = request(3, p);
	assert_int_equal(rmig_rdma_rails_request_validate(&h, p, &local, &n, out), 0);
	assert_int_equal(n, 3);
	/* What the caller gets back is IPv4. */
	assert_int_equal(out[1].family, 4);
	assert_memory_equal(out[1].addr, v4, 16);
	/* Rail 0 spelt v4-mapped, the control connection plain IPv4. */
	control = sa("10.0.0.1", PORT);
	a[0] = rail(0, "::ffff:10.0.0.1", PORT);
	assert_int_equal(check_request(3), 0);
	/* Mapped is not the same as IPv4-compatible (::10.0.0.1). */
	a[0] = rail(0, "::10.0.0.1", PORT);
	assert_refused(check_request(3), "rail 0: the source names [::");
}

static void test_request_wildcard(void **state)
{
	(void)state;
	struct sockaddr_storage any = sa("0.0.0.0", PORT);

	/* IPv4 rails, as 0.0.0.0 takes (families: test_rdma_rails_checks). */
	a[1] = rail(1, "169.254.79.1", PORT);
	a[2] = rail(2, "172.16.5.5", PORT);
	a[3] = rail(3, "192.168.7.7", PORT);
	local.bound = &any;
	local.nbound = 1;
	local.wildcard = true;
	assert_int_equal(check_request(4), 0);
	/* Any address, but at the port the listener has. */
	a[3].port = 5555;
	assert_refused(check_request(4), "rail 3: the source wants 192.168.7.7:5555, which this");
	a[3].port = PORT;
	/* Rail 0 is still where the control connection arrived. */
	a[0] = rail(0, "10.0.0.2", PORT);
	assert_refused(check_request(4), "rail 0");
	/* Without the wildcard flag 0.0.0.0 is only an address, matching none. */
	a[0] = rail(0, "10.0.0.1", PORT);
	local.wildcard = false;
	assert_refused(check_request(4), "rail 1: the source wants 169.254.79.1:4444, which this");

	/* The caller's mistakes: no control address or one not IP, no list, a bare wildcard. */
	plain_local();
	local.control = NULL;
	assert_int_equal(check_request(2), -EINVAL);
	plain_local();
	control.ss_family = AF_UNIX;
	assert_int_equal(check_request(2), -EINVAL);
	plain_local();
	local.bound = NULL;
	assert_int_equal(check_request(2), -EINVAL);
	plain_local();
	local.wildcard = true;
	local.nbound = 0;
	assert_int_equal(check_request(2), -EINVAL);
	assert_error_mentions("wildcard");
}

/* ---- RAILS_RESULT ---- */

static void cookies(struct rmig_rdma_rail_cookie *c, uint32_t n)
{
	memset(c, 0, n * sizeof(*c));
	for (uint32_t i = 0; i < n; i++) {
		c[i].index = i;
		if (i)
			memset(c[i].cookie, (int)(0x40 + i), RMIG_RDMA_RAIL_COOKIE);
	}
}

/*
 * Validate @n elements of @c, in a message of @type and @len bytes, as
 * the answer to @nrails rails; @out untouched on failure.
 */
static int result_msg(const struct rmig_rdma_rail_cookie *c, uint32_t n, uint32_t nrails,
		      uint32_t type, uint32_t len)
{
	uint8_t p[8 * RMIG_RDMA_RAIL_COOKIE_SIZE];
	struct rmig_rdma_rail_cookie out[RMIG_RDMA_MAX_RAILS];
	struct rmig_rdma_hdr h = {.len = len, .type = type, .repeat = n};
	int ret;

	for (uint32_t i = 0; i < n; i++)
		rmig_rdma_rail_cookie_encode(&c[i], p + i * RMIG_RDMA_RAIL_COOKIE_SIZE);
	memset(out, 0xee, sizeof(out));
	rmig_error_clear();
	ret = rmig_rdma_rails_result_validate(&h, p, nrails, out);
	if (ret)
		assert_int_equal(out[0].index, 0xeeeeeeeeu);
	for (uint32_t i = 0; !ret && i < n; i++)
		assert_memory_equal(&out[i], &c[i], sizeof(c[i]));
	return ret;
}

static int check_result(const struct rmig_rdma_rail_cookie *c, uint32_t n, uint32_t nrails)
{
	return result_msg(c, n, nrails, RMIG_RDMA_MSG_RAILS_RESULT, n * RMIG_RDMA_RAIL_COOKIE_SIZE);
}

static void test_result(void **state)
{
	(void)state;
	struct rmig_rdma_rail_cookie c[5];

	cookies(c, 5);
	assert_int_equal(check_result(c, 2, 2), 0);
	assert_int_equal(check_result(c, 4, 4), 0);
	/* The count is the one asked for. */
	assert_refused(check_result(c, 3, 2), "describes 3 rails");
	assert_refused(check_result(c, 2, 3), "asked for 3 rails");
	/* Index i is rail i. */
	c[1].index = 2;
	assert_refused(check_result(c, 3, 3), "rail 1 is described as index 2");
	cookies(c, 5);
	/* Rail 0 joins nothing, every other rail with a cookie. */
	c[0].cookie[15] = 1;
	assert_refused(check_result(c, 3, 3), "rail 0 has a cookie");
	cookies(c, 5);
	memset(c[2].cookie, 0, RMIG_RDMA_RAIL_COOKIE);
	assert_refused(check_result(c, 3, 3), "rail 2 has an all-zero cookie");
	c[2].cookie[0] = 1; /* one byte is enough */
	assert_int_equal(check_result(c, 3, 3), 0);

	/* A length that is not the count's; an ERROR; another type; the caller's count. */
	cookies(c, 2);
	assert_refused(result_msg(c, 2, 2, RMIG_RDMA_MSG_RAILS_RESULT, 47), "in 47 bytes");
	assert_int_equal(result_msg(c, 2, 2, RMIG_RDMA_MSG_ERROR, 48), -ECONNABORTED);
	assert_refused(result_msg(c, 2, 2, RMIG_RDMA_MSG_RAILS_REQUEST, 48),
		       "expected a RAILS RESULT");
	assert_int_equal(check_result(c, 2, 1), -EINVAL);
	assert_int_equal(check_result(c, 2, 5), -EINVAL);
}

/* ---- joins ---- */

static uint8_t given[RMIG_RDMA_MAX_RAILS][RMIG_RDMA_RAIL_COOKIE];

static void give_cookies(void)
{
	memset(given, 0, sizeof(given));
	for (int r = 1; r < RMIG_RDMA_MAX_RAILS; r++)
		for (int i = 0; i < RMIG_RDMA_RAIL_COOKIE; i++)
			given[r][i] = (uint8_t)(r * 16 + i);
}

/*
 * Decode @len bytes of @pd as a join of one of @nrails rails, the rails of
 * plain_rails, arriving at the address of the rail it names (rail 1's if
 * that is none of them); *rail untouched on failure.
 */
static int join(const uint8_t *pd, size_t len, uint32_t nrails, uint32_t joined)
{
	uint32_t r = pd && len >= 12 ? rmig_get_be32(pd + 8) : 1;
	char ip[INET6_ADDRSTRLEN];
	struct sockaddr_storage at;
	int ret;

	r = r < RMIG_ARRAY_SIZE(a) ? r : 1;
	inet_ntop(a[r].family == 4 ? AF_INET : AF_INET6, a[r].addr, ip, sizeof(ip));
	at = sa(ip, a[r].port);
	r = 77;
	rmig_error_clear();
	ret = rmig_rdma_rail_join_decode(pd, len, (struct sockaddr *)&at, nrails, a, joined, given,
					 &r);
	if (ret)
		assert_int_equal(r, 77);
	else
		assert_int_equal(r, rmig_get_be32(pd + 8));
	return ret;
}

static void test_join(void **state)
{
	(void)state;
	uint8_t pd[56];

	give_cookies();
	memset(pd, 0, sizeof(pd));
	rmig_rdma_rail_join_encode(2, given[2], pd);
	assert_int_equal(join(pd, 32, 3, 0), 0);
	/* The IB CM pads private data to 56 bytes. */
	assert_int_equal(join(pd, 56, 3, 0x2), 0);
	/* Short: a plain connect request's {version, flags}, or nothing at all. */
	assert_refused(join(pd, 31, 3, 0), "31 bytes of private data is not a rail join");
	assert_int_equal(join(pd, 8, 3, 0), -EPROTO);
	assert_refused(join(NULL, 32, 3, 0), "0 bytes");
	/* Wrong version. */
	pd[3] = 2;
	assert_refused(join(pd, 32, 3, 0), "join for rail 2: version 2");
	pd[3] = 1;
	/* Flags exactly RAIL_JOIN: not with another bit, not without it. */
	pd[7] = 1;
	assert_refused(join(pd, 32, 3, 0), "join for rail 2: version 1, flags 0x80000001");
	pd[4] = 0;
	assert_int_equal(join(pd, 32, 3, 0), -EPROTO);
	pd[4] = 0x80;
	pd[7] = 0;
	assert_int_equal(join(pd, 32, 3, 0), 0);
	/* Rail 0 never joins; rails past the count do not exist. */
	rmig_rdma_rail_join_encode(0, given[0], pd);
	assert_refused(join(pd, 32, 3, 0), "join for rail 0: this migration has rails 1..2");
	rmig_rdma_rail_join_encode(3, given[3], pd);
	assert_refused(join(pd, 32, 3, 0), "join for rail 3");
	assert_int_equal(join(pd, 32, 4, 0), 0);
	rmig_put_be32(pd + 8, 0xffffffffu);
	assert_int_equal(join(pd, 32, 4, 0), -EPROTO);
	/* A rail joins once. */
	rmig_rdma_rail_join_encode(1, given[1], pd);
	assert_int_equal(join(pd, 32, 3, 0x4), 0);
	assert_refused(join(pd, 32, 3, 0x2), "join for rail 1: that rail has joined already");
	/* Another rail's cookie, or its own with any one bit flipped. */
	rmig_rdma_rail_join_encode(1, given[2], pd);
	assert_refused(join(pd, 32, 3, 0), "join for rail 1: its cookie is not the one");
	for (int bit = 0; bit < 8 * RMIG_RDMA_RAIL_COOKIE; bit++) {
		rmig_rdma_rail_join_encode(1, given[1], pd);
		pd[16 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(join(pd, 32, 3, 0), -EPROTO);
	}
	/* The caller's count out of range. */
	rmig_rdma_rail_join_encode(1, given[1], pd);
	assert_int_equal(join(pd, 32, 1, 0), -EINVAL);
	assert_int_equal(join(pd, 32, RMIG_RDMA_MAX_RAILS + 1, 0), -EINVAL);
}

static void test_join_answer(void **state)
{
	(void)state;
	uint8_t ans[56] = {0};

	rmig_rdma_rail_join_answer_encode(ans);
	assert_int_equal(rmig_rdma_rail_join_answer_check(ans, 8, 1), 0);
	assert_int_equal(rmig_rdma_rail_join_answer_check(ans, 56, 1), 0);
	assert_refused(rmig_rdma_rail_join_answer_check(ans, 7, 2), "rail 2: the destination "
			"answered the join with 7 bytes");
	assert_int_equal(rmig_rdma_rail_join_answer_check(NULL, 8, 2), -EPROTO);
	ans[3] = 2;
	assert_refused(rmig_rdma_rail_join_answer_check(ans, 8, 3), "rail 3: the destination "
			"answered the join with version 2");
	ans[3] = 1;
	/* A capability answer is not a join answer. */
	ans[4] = 0;
	ans[7] = 1;
	assert_refused(rmig_rdma_rail_join_answer_check(ans, 8, 1), "flags 0x00000001");
}

/* ---- not yet on the wire ---- */

static void test_rails_not_negotiable(void **state)
{
	(void)state;
	const uint32_t caps[] = {0, RMIG_RDMA_CAPS_KNOWN,
				 RMIG_RDMA_CAPS_KNOWN | RMIG_RDMA_CAP_RAILS, 0xffffffffu};
	struct rmig_rdma_caps req = {.version = 1, .flags = 0xffffffffu}, ans;
	uint8_t p[2 * RMIG_RDMA_RAIL_ADDR_SIZE], msg[RMIG_RDMA_HDR_SIZE + sizeof(p)];
	struct rmig_rdma_hdr h;
	uint32_t eff;
	int n;

	/* Well-formed RAILS messages are unknown types under any capabilities, as 0x10a is. */
	for (unsigned t = 0; t < 3; t++) {
		uint32_t type = RMIG_RDMA_MSG_RAILS_REQUEST + t;
		char want[64];

		request(2, p);
		n = rmig_rdma_msg_build(type, 2, p, sizeof(p), msg, sizeof(msg));
		assert_int_equal(n, (int)sizeof(msg));
		snprintf(want, sizeof(want), "rdma: control message of unknown type %u", type);
		for (unsigned c = 0; c < RMIG_ARRAY_SIZE(caps); c++) {
			rmig_error_clear();
			assert_int_equal(rmig_rdma_hdr_decode_caps(msg, (size_t)n, caps[c], &h),
					 -EPROTO);
			assert_string_equal(rmig_error_get_last(), want);
		}
		assert_int_equal(rmig_rdma_msg_elem_size(type), 0);
	}
	/* The flag is neither granted by a destination nor kept by a source. */
	assert_int_equal(RMIG_RDMA_CAPS_KNOWN & RMIG_RDMA_CAP_RAILS, 0);
	assert_int_equal(rmig_rdma_caps_negotiate(&req, 0xffffffffu, &ans), 0);
	assert_int_equal(ans.flags & (RMIG_RDMA_CAP_RAILS | RMIG_RDMA_RAIL_JOIN), 0);
	ans.flags = 0xffffffffu;
	assert_int_equal(rmig_rdma_caps_accept(0xffffffffu, &ans, &eff), 0);
	assert_int_equal(eff & (RMIG_RDMA_CAP_RAILS | RMIG_RDMA_RAIL_JOIN), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_layouts, setup, rdma_test_teardown),
	    cmocka_unit_test_setup_teardown(test_request_header, setup, rdma_test_teardown),
	    cmocka_unit_test_setup_teardown(test_request_address, setup, rdma_test_teardown),
	    cmocka_unit_test_setup_teardown(test_request_duplicates, setup, rdma_test_teardown),
	    cmocka_unit_test_setup_teardown(test_request_rail0_is_control, setup, rdma_test_teardown),
	    cmocka_unit_test_setup_teardown(test_request_not_bound, setup, rdma_test_teardown),
	    cmocka_unit_test_setup_teardown(test_request_v4_mapped, setup, rdma_test_teardown),
	    cmocka_unit_test_setup_teardown(test_request_wildcard, setup, rdma_test_teardown),
	    cmocka_unit_test_setup_teardown(test_result, setup, rdma_test_teardown),
	    cmocka_unit_test_setup_teardown(test_join, setup, rdma_test_teardown),
	    cmocka_unit_test_setup_teardown(test_join_answer, setup, rdma_test_teardown),
	    cmocka_unit_test_setup_teardown(test_rails_not_negotiable, setup, rdma_test_teardown),
	};

	return cmocka_run_group_tests_name("rdma_rails_wire", tests, NULL, NULL);
}
