/* SPDX-License-Identifier: MIT */
/*
 * Capability negotiation, including against a QEMU (v1-only) peer: QEMU
 * knows only PIN_ALL and masks everything else off in both directions.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rdma/wire.h"
#include "tests/support/rdma_test_log.h"

/* What a QEMU destination answers (rdma.c qemu_rdma_accept): flags & PIN_ALL. */
static struct rmig_rdma_caps qemu_dest_answer(struct rmig_rdma_caps req)
{
	req.flags &= 0x01;
	return req;
}

static void test_caps_layout(void **state)
{
	(void)state;
	const uint8_t want[8] = {0, 0, 0, 1, 0x00, 0x01, 0x00, 0x01};
	struct rmig_rdma_caps c = {.version = 1,
				   .flags = RMIG_RDMA_CAP_PIN_ALL | RMIG_RDMA_CAP_CREDITS};
	struct rmig_rdma_caps d = {0};
	uint8_t got[8];

	rmig_rdma_caps_encode(&c, got);
	assert_memory_equal(got, want, 8);
	assert_int_equal(rmig_rdma_caps_decode(want, 8, &d), 0);
	assert_int_equal(d.version, 1);
	assert_int_equal(d.flags, c.flags);
}

static void test_caps_decode_lengths(void **state)
{
	(void)state;
	/* IB CM pads private data with zeros to its own size: longer is fine. */
	uint8_t buf[56] = {0, 0, 0, 1, 0, 0, 0, 1};
	struct rmig_rdma_caps d = {.version = 9, .flags = 9};

	for (size_t n = 0; n < 8; n++) {
		assert_int_equal(rmig_rdma_caps_decode(buf, n, &d), -EPROTO);
		assert_int_equal(d.version, 9);
	}
	assert_int_equal(rmig_rdma_caps_decode(NULL, 8, &d), -EPROTO);
	assert_error_mentions("private data");
	assert_int_equal(rmig_rdma_caps_decode(buf, sizeof(buf), &d), 0);
	assert_int_equal(d.flags, RMIG_RDMA_CAP_PIN_ALL);
}

static void test_negotiate_versions(void **state)
{
	(void)state;
	struct rmig_rdma_caps req = {.version = 0, .flags = 1}, ans = {.version = 42, .flags = 42};

	assert_int_equal(rmig_rdma_caps_negotiate(&req, RMIG_RDMA_CAPS_KNOWN, &ans),
			 -EPROTONOSUPPORT);
	assert_int_equal(ans.version, 42);
	assert_error_mentions("version 0");
	req.version = 2;
	assert_int_equal(rmig_rdma_caps_negotiate(&req, RMIG_RDMA_CAPS_KNOWN, &ans),
			 -EPROTONOSUPPORT);
	req.version = 0xffffffffu;
	assert_int_equal(rmig_rdma_caps_negotiate(&req, RMIG_RDMA_CAPS_KNOWN, &ans),
			 -EPROTONOSUPPORT);
	req.version = 1;
	assert_int_equal(rmig_rdma_caps_negotiate(&req, RMIG_RDMA_CAPS_KNOWN, &ans), 0);
	assert_int_equal(ans.version, 1);
	assert_int_equal(ans.flags, RMIG_RDMA_CAP_PIN_ALL);
}

static void test_negotiate_masks_unknown(void **state)
{
	(void)state;
	struct rmig_rdma_caps req = {.version = 1, .flags = 0xffffffffu}, ans;

	assert_int_equal(rmig_rdma_caps_negotiate(&req, RMIG_RDMA_CAPS_KNOWN, &ans), 0);
	assert_int_equal(ans.flags, RMIG_RDMA_CAPS_KNOWN);
	/* The destination's own support narrows it further. */
	assert_int_equal(rmig_rdma_caps_negotiate(&req, RMIG_RDMA_CAP_CREDITS, &ans), 0);
	assert_int_equal(ans.flags, RMIG_RDMA_CAP_CREDITS);
	/* Never grants what was not asked. */
	req.flags = 0;
	assert_int_equal(rmig_rdma_caps_negotiate(&req, RMIG_RDMA_CAPS_KNOWN, &ans), 0);
	assert_int_equal(ans.flags, 0);
}

static void test_rmig_source_qemu_dest(void **state)
{
	(void)state;
	/* rmig asks for everything; QEMU grants pin-all only: plain v1. */
	uint32_t want = RMIG_RDMA_CAPS_KNOWN, eff = 0xdead;
	struct rmig_rdma_caps req = {.version = RMIG_RDMA_VERSION, .flags = want};
	struct rmig_rdma_caps ans = qemu_dest_answer(req);

	assert_int_equal(rmig_rdma_caps_accept(want, &ans, &eff), 0);
	assert_int_equal(eff, RMIG_RDMA_CAP_PIN_ALL);
	assert_int_equal(rdma_test_warnings, 0);

	/* Without pin-all asked, nothing at all remains. */
	want = RMIG_RDMA_CAP_CREDITS | RMIG_RDMA_CAP_REG_BATCH;
	req.flags = want;
	ans = qemu_dest_answer(req);
	assert_int_equal(rmig_rdma_caps_accept(want, &ans, &eff), 0);
	assert_int_equal(eff, 0);
}

static void test_qemu_source_rmig_dest(void **state)
{
	(void)state;
	/* QEMU sends {1, 0} or {1, PIN_ALL}; rmig answers the same flags back. */
	struct rmig_rdma_caps req = {.version = 1, .flags = RMIG_RDMA_CAP_PIN_ALL}, ans;

	assert_int_equal(rmig_rdma_caps_negotiate(&req, RMIG_RDMA_CAPS_KNOWN, &ans), 0);
	assert_int_equal(ans.version, 1);
	assert_int_equal(ans.flags, RMIG_RDMA_CAP_PIN_ALL);
	req.flags = 0;
	assert_int_equal(rmig_rdma_caps_negotiate(&req, RMIG_RDMA_CAPS_KNOWN, &ans), 0);
	assert_int_equal(ans.flags, 0);
}

static void test_source_falls_back_from_pin_all(void **state)
{
	(void)state;
	struct rmig_rdma_caps ans = {.version = 1, .flags = 0};
	uint32_t eff = 0xdead;

	assert_int_equal(
	    rmig_rdma_caps_accept(RMIG_RDMA_CAP_PIN_ALL | RMIG_RDMA_CAP_CREDITS, &ans, &eff), 0);
	assert_int_equal(eff, 0);
	assert_int_equal(rdma_test_warnings, 1); /* says it registers dynamically */
}

static void test_accept_rejects_bad_answers(void **state)
{
	(void)state;
	struct rmig_rdma_caps ans = {.version = 0, .flags = 1};
	uint32_t eff = 0xdead;

	assert_int_equal(rmig_rdma_caps_accept(1, &ans, &eff), -EPROTONOSUPPORT);
	ans.version = 2;
	assert_int_equal(rmig_rdma_caps_accept(1, &ans, &eff), -EPROTONOSUPPORT);
	assert_int_equal(eff, 0xdead);
	/* Granted-but-unasked and unknown flags are ignored. */
	ans.version = 1;
	ans.flags = 0xffffffffu;
	assert_int_equal(rmig_rdma_caps_accept(RMIG_RDMA_CAP_CREDITS, &ans, &eff), 0);
	assert_int_equal(eff, RMIG_RDMA_CAP_CREDITS);
}

static void test_pin_segments_negotiation(void **state)
{
	(void)state;
	const uint32_t pin = RMIG_RDMA_CAP_PIN_ALL | RMIG_RDMA_CAP_PIN_SEGMENTS;
	struct rmig_rdma_caps req = {.version = 1, .flags = RMIG_RDMA_CAPS_KNOWN}, ans;
	uint32_t eff = 0xdead;

	/* rmig to rmig: granted with pin-all. */
	assert_int_equal(rmig_rdma_caps_negotiate(&req, RMIG_RDMA_CAPS_KNOWN, &ans), 0);
	assert_int_equal(ans.flags & pin, pin);
	assert_int_equal(rmig_rdma_caps_accept(req.flags, &ans, &eff), 0);
	assert_int_equal(eff & pin, pin);

	/* A destination that refuses pin-all (RMIG_RDMA_NO_PIN_ALL) never grants it alone. */
	assert_int_equal(
	    rmig_rdma_caps_negotiate(&req, RMIG_RDMA_CAPS_KNOWN & ~RMIG_RDMA_CAP_PIN_ALL, &ans), 0);
	assert_int_equal(ans.flags & pin, 0);
	/* Nor when only it was asked for. */
	req.flags = RMIG_RDMA_CAP_PIN_SEGMENTS;
	assert_int_equal(rmig_rdma_caps_negotiate(&req, RMIG_RDMA_CAPS_KNOWN, &ans), 0);
	assert_int_equal(ans.flags, 0);

	/* A source ignores it granted without pin-all. */
	ans.flags = RMIG_RDMA_CAP_PIN_SEGMENTS | RMIG_RDMA_CAP_CREDITS;
	assert_int_equal(rmig_rdma_caps_accept(RMIG_RDMA_CAPS_KNOWN, &ans, &eff), 0);
	assert_int_equal(eff, RMIG_RDMA_CAP_CREDITS);
	assert_int_equal(rdma_test_warnings, 1); /* pin-all refused: dynamic instead */
}

static void test_pin_stream_negotiation(void **state)
{
	(void)state;
	const uint32_t all = RMIG_RDMA_CAP_PIN_ALL | RMIG_RDMA_CAP_PIN_SEGMENTS |
			     RMIG_RDMA_CAP_PIN_STREAM;
	struct rmig_rdma_caps req = {.version = 1, .flags = RMIG_RDMA_CAPS_KNOWN}, ans;
	uint32_t eff = 0xdead;

	/* rmig to rmig: granted with both flags it rests on. */
	assert_int_equal(rmig_rdma_caps_negotiate(&req, RMIG_RDMA_CAPS_KNOWN, &ans), 0);
	assert_int_equal(ans.flags & all, all);
	assert_int_equal(rmig_rdma_caps_accept(req.flags, &ans, &eff), 0);
	assert_int_equal(eff & all, all);
	/* Never without PIN_SEGMENTS ... */
	assert_int_equal(rmig_rdma_caps_negotiate(
			     &req, RMIG_RDMA_CAPS_KNOWN & ~RMIG_RDMA_CAP_PIN_SEGMENTS, &ans),
			 0);
	assert_int_equal(ans.flags & all, RMIG_RDMA_CAP_PIN_ALL);
	/* ... nor without PIN_ALL, and a source drops it granted alone. */
	req.flags = RMIG_RDMA_CAP_PIN_STREAM | RMIG_RDMA_CAP_PIN_SEGMENTS;
	assert_int_equal(rmig_rdma_caps_negotiate(&req, RMIG_RDMA_CAPS_KNOWN, &ans), 0);
	assert_int_equal(ans.flags, 0);
	ans.flags = RMIG_RDMA_CAP_PIN_ALL | RMIG_RDMA_CAP_PIN_STREAM;
	assert_int_equal(rmig_rdma_caps_accept(RMIG_RDMA_CAPS_KNOWN, &ans, &eff), 0);
	assert_int_equal(eff, RMIG_RDMA_CAP_PIN_ALL);
}

static void test_pin_segments_v1_peer(void **state)
{
	(void)state;
	/* A QEMU destination masks the flag off: the source is left with v1 pin-all. */
	uint32_t want = RMIG_RDMA_CAP_PIN_ALL | RMIG_RDMA_CAP_PIN_SEGMENTS, eff = 0xdead;
	struct rmig_rdma_caps req = {.version = 1, .flags = want};
	struct rmig_rdma_caps ans = qemu_dest_answer(req);

	assert_int_equal(rmig_rdma_caps_accept(want, &ans, &eff), 0);
	assert_int_equal(eff, RMIG_RDMA_CAP_PIN_ALL);

	/* An rmig destination with RMIG_RDMA_NO_EXTENSIONS=1 supports PIN_ALL only, too. */
	assert_int_equal(rmig_rdma_caps_negotiate(&req, RMIG_RDMA_CAP_PIN_ALL, &ans), 0);
	assert_int_equal(ans.flags, RMIG_RDMA_CAP_PIN_ALL);

	/* A QEMU source never asks; an rmig destination answers pin-all alone. */
	req.flags = RMIG_RDMA_CAP_PIN_ALL;
	assert_int_equal(rmig_rdma_caps_negotiate(&req, RMIG_RDMA_CAPS_KNOWN, &ans), 0);
	assert_int_equal(ans.flags, RMIG_RDMA_CAP_PIN_ALL);
}

/*
 * KEEPALIVE is rmig's: a QEMU peer masks it off either way, so the
 * connection has no keepalives and no silence deadline (docs/rdma.txt).
 */
static void test_keepalive_negotiation(void **state)
{
	(void)state;
	uint32_t want = RMIG_RDMA_CAPS_KNOWN, eff = 0xdead;
	struct rmig_rdma_caps req = {.version = 1, .flags = want};
	struct rmig_rdma_caps ans = qemu_dest_answer(req);

	/* rmig source, QEMU destination */
	assert_int_equal(rmig_rdma_caps_accept(want, &ans, &eff), 0);
	assert_int_equal(eff & RMIG_RDMA_CAP_KEEPALIVE, 0);

	/* QEMU source (never asks), rmig destination */
	req.flags = RMIG_RDMA_CAP_PIN_ALL;
	assert_int_equal(rmig_rdma_caps_negotiate(&req, RMIG_RDMA_CAPS_KNOWN, &ans), 0);
	assert_int_equal(ans.flags & RMIG_RDMA_CAP_KEEPALIVE, 0);

	/* rmig on both sides: on, with or without pin-all or credits */
	req.flags = RMIG_RDMA_CAP_KEEPALIVE;
	assert_int_equal(rmig_rdma_caps_negotiate(&req, RMIG_RDMA_CAPS_KNOWN, &ans), 0);
	assert_int_equal(ans.flags, RMIG_RDMA_CAP_KEEPALIVE);
	assert_int_equal(rmig_rdma_caps_accept(req.flags, &ans, &eff), 0);
	assert_int_equal(eff, RMIG_RDMA_CAP_KEEPALIVE);

	/* Granted unasked (a confused peer): ignored, as any flag. */
	ans.flags = RMIG_RDMA_CAP_KEEPALIVE;
	assert_int_equal(rmig_rdma_caps_accept(RMIG_RDMA_CAP_PIN_ALL, &ans, &eff), 0);
	assert_int_equal(eff & RMIG_RDMA_CAP_KEEPALIVE, 0);

	/* A destination that does not support it (RMIG_RDMA_NO_EXTENSIONS) leaves it off. */
	req.flags = want;
	assert_int_equal(rmig_rdma_caps_negotiate(&req, RMIG_RDMA_CAP_PIN_ALL, &ans), 0);
	assert_int_equal(ans.flags, RMIG_RDMA_CAP_PIN_ALL);
}

static void test_rmig_both_sides(void **state)
{
	(void)state;
	uint32_t want = RMIG_RDMA_CAPS_KNOWN, eff;
	struct rmig_rdma_caps req = {.version = RMIG_RDMA_VERSION, .flags = want}, ans;
	uint8_t wire[8];

	/* Through the wire encoding both ways. */
	rmig_rdma_caps_encode(&req, wire);
	assert_int_equal(rmig_rdma_caps_decode(wire, 8, &req), 0);
	assert_int_equal(rmig_rdma_caps_negotiate(&req, RMIG_RDMA_CAPS_KNOWN, &ans), 0);
	rmig_rdma_caps_encode(&ans, wire);
	assert_int_equal(rmig_rdma_caps_decode(wire, 8, &ans), 0);
	assert_int_equal(rmig_rdma_caps_accept(want, &ans, &eff), 0);
	assert_int_equal(eff, RMIG_RDMA_CAPS_KNOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    RDMA_TEST(test_caps_layout),
	    RDMA_TEST(test_caps_decode_lengths),
	    RDMA_TEST(test_negotiate_versions),
	    RDMA_TEST(test_negotiate_masks_unknown),
	    RDMA_TEST(test_rmig_source_qemu_dest),
	    RDMA_TEST(test_qemu_source_rmig_dest),
	    RDMA_TEST(test_source_falls_back_from_pin_all),
	    RDMA_TEST(test_accept_rejects_bad_answers),
	    RDMA_TEST(test_pin_segments_negotiation),
	    RDMA_TEST(test_pin_stream_negotiation),
	    RDMA_TEST(test_pin_segments_v1_peer),
	    RDMA_TEST(test_keepalive_negotiation),
	    RDMA_TEST(test_rmig_both_sides),
	};

	return cmocka_run_group_tests_name("rdma_caps", tests, NULL, NULL);
}
