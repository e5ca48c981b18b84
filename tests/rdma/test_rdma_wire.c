/* SPDX-License-Identifier: MIT */
/*
 * RDMA wire codecs: byte layouts checked against hand-written big-endian
 * arrays (the QEMU v1 layout), and rejection of hostile headers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <rmig/log.h>

#include "rdma/wire.h"

static unsigned n_logged;

static void quiet_sink(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
	n_logged++;
}

static int setup(void **state)
{
	(void)state;
	rmig_log_set_sink(quiet_sink, NULL);
	rmig_error_clear();
	n_logged = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rmig_log_set_sink(NULL, NULL);
	return 0;
}

static void put_hdr(uint8_t *b, uint32_t len, uint32_t type, uint32_t repeat)
{
	struct rmig_rdma_hdr h = {.len = len, .type = type, .repeat = repeat};

	rmig_rdma_hdr_encode(&h, b);
}

static void assert_error_mentions(const char *word)
{
	const char *e = rmig_error_get_last();

	if (!strstr(e, word))
		fail_msg("error \"%s\" does not mention \"%s\"", e, word);
}

static void test_hdr_encode_layout(void **state)
{
	(void)state;
	const uint8_t want[16] = {0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x07,
				  0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00};
	uint8_t got[16];

	memset(got, 0xaa, sizeof(got));
	put_hdr(got, 48, RMIG_RDMA_MSG_REGISTER_REQUEST, 2);
	assert_memory_equal(got, want, 16);
}

static void test_hdr_decode_valid(void **state)
{
	(void)state;
	/* READY as QEMU sends it: len 0, repeat 1, pad garbage. */
	const uint8_t ready[16] = {0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef};
	struct rmig_rdma_hdr h;

	assert_int_equal(rmig_rdma_hdr_decode(ready, sizeof(ready), &h), 0);
	assert_int_equal(h.len, 0);
	assert_int_equal(h.type, RMIG_RDMA_MSG_READY);
	assert_int_equal(h.repeat, 1);
	assert_int_equal(rmig_rdma_hdr_count(&h), 0);
}

static void test_hdr_qemu_file_ignores_repeat(void **state)
{
	(void)state;
	/* QEMU leaves repeat uninitialised in QEMU_FILE headers. */
	uint8_t msg[16 + 5];
	struct rmig_rdma_hdr h;

	put_hdr(msg, 5, RMIG_RDMA_MSG_QEMU_FILE, 0xfeedf00d);
	memcpy(msg + 16, "hello", 5);
	assert_int_equal(rmig_rdma_hdr_decode(msg, sizeof(msg), &h), 0);
	assert_int_equal(h.len, 5);
	assert_int_equal(h.type, RMIG_RDMA_MSG_QEMU_FILE);
}

static void test_hdr_blocks_result_counts_by_len(void **state)
{
	(void)state;
	/* QEMU's RAM_BLOCKS_RESULT: repeat 1, len = nblocks * 32. */
	uint8_t msg[16 + 3 * 32];
	struct rmig_rdma_hdr h;

	memset(msg, 0, sizeof(msg));
	put_hdr(msg, 96, RMIG_RDMA_MSG_RAM_BLOCKS_RESULT, 1);
	assert_int_equal(rmig_rdma_hdr_decode(msg, sizeof(msg), &h), 0);
	assert_int_equal(rmig_rdma_hdr_count(&h), 3);

	put_hdr(msg, 95, RMIG_RDMA_MSG_RAM_BLOCKS_RESULT, 1);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 16 + 95, &h), -EPROTO);
	assert_error_mentions("RAM BLOCKS RESULT");
}

static void test_hdr_len_mismatch(void **state)
{
	(void)state;
	uint8_t msg[64];
	struct rmig_rdma_hdr h = {.len = 77, .type = 77, .repeat = 77};

	memset(msg, 0, sizeof(msg));
	put_hdr(msg, 10, RMIG_RDMA_MSG_QEMU_FILE, 1);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 16 + 9, &h), -EPROTO);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 16 + 11, &h), -EPROTO);
	assert_error_mentions("QEMU FILE");
	/* Out-parameter untouched on failure. */
	assert_int_equal(h.len, 77);
	assert_int_equal(h.type, 77);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 16 + 10, &h), 0);
}

static void test_hdr_len_too_big(void **state)
{
	(void)state;
	uint8_t msg[16];
	struct rmig_rdma_hdr h;

	/* len + 16 wraps to a small number in 32 bits: must still be refused. */
	put_hdr(msg, 0xfffffff0u, RMIG_RDMA_MSG_QEMU_FILE, 1);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 0, &h), -EPROTO);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 16, &h), -EPROTO);
	put_hdr(msg, RMIG_RDMA_PAYLOAD_MAX + 1, RMIG_RDMA_MSG_QEMU_FILE, 1);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 16, &h), -EPROTO);
	assert_int_equal(rmig_rdma_hdr_decode(msg, RMIG_RDMA_CONTROL_MAX + 1, &h), -EPROTO);
	assert_error_mentions("maximum");
}

static void test_hdr_max_len_ok(void **state)
{
	(void)state;
	static uint8_t msg[RMIG_RDMA_CONTROL_MAX];
	struct rmig_rdma_hdr h;

	put_hdr(msg, RMIG_RDMA_PAYLOAD_MAX, RMIG_RDMA_MSG_QEMU_FILE, 1);
	assert_int_equal(rmig_rdma_hdr_decode(msg, sizeof(msg), &h), 0);
	assert_int_equal(h.len, RMIG_RDMA_PAYLOAD_MAX);
}

static void test_hdr_repeat_bounds(void **state)
{
	(void)state;
	static uint8_t msg[16 + (RMIG_RDMA_MAX_REPEAT + 1) * RMIG_RDMA_REGISTER_SIZE];
	struct rmig_rdma_hdr h;
	uint32_t len;

	len = RMIG_RDMA_MAX_REPEAT * RMIG_RDMA_REGISTER_SIZE;
	put_hdr(msg, len, RMIG_RDMA_MSG_REGISTER_REQUEST, RMIG_RDMA_MAX_REPEAT);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 16 + len, &h), 0);
	assert_int_equal(rmig_rdma_hdr_count(&h), RMIG_RDMA_MAX_REPEAT);

	len = (RMIG_RDMA_MAX_REPEAT + 1) * RMIG_RDMA_REGISTER_SIZE;
	put_hdr(msg, len, RMIG_RDMA_MSG_REGISTER_REQUEST, RMIG_RDMA_MAX_REPEAT + 1);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 16 + len, &h), -EPROTO);
	assert_error_mentions("4097");

	put_hdr(msg, 0, RMIG_RDMA_MSG_REGISTER_REQUEST, 0);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 16, &h), -EPROTO);

	/* repeat * size overflowing 32 bits must not alias a small length. */
	put_hdr(msg, 0, RMIG_RDMA_MSG_COMPRESS, 0xaaaaaaabu);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 16, &h), -EPROTO);
}

static void test_hdr_unknown_type(void **state)
{
	(void)state;
	uint8_t msg[16];
	struct rmig_rdma_hdr h;
	const uint32_t bad[] = {RMIG_RDMA_MSG_NONE, RMIG_RDMA_MSG__COUNT, 12, 0x80000000u,
				0xffffffffu};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put_hdr(msg, 0, bad[i], 1);
		assert_int_equal(rmig_rdma_hdr_decode(msg, 16, &h), -EPROTO);
		assert_error_mentions("unknown type");
	}
}

static void test_hdr_shape(void **state)
{
	(void)state;
	uint8_t msg[16 + 64];
	struct rmig_rdma_hdr h;
	const uint32_t empty_types[] = {
	    RMIG_RDMA_MSG_ERROR, RMIG_RDMA_MSG_READY, RMIG_RDMA_MSG_RAM_BLOCKS_REQUEST,
	    RMIG_RDMA_MSG_REGISTER_FINISHED, RMIG_RDMA_MSG_UNREGISTER_FINISHED};

	memset(msg, 0, sizeof(msg));
	for (size_t i = 0; i < sizeof(empty_types) / sizeof(empty_types[0]); i++) {
		put_hdr(msg, 8, empty_types[i], 1);
		assert_int_equal(rmig_rdma_hdr_decode(msg, 24, &h), -EPROTO);
		assert_error_mentions("expected none");
		/* Their repeat is not judged (QEMU sends 0 or echoes a count). */
		put_hdr(msg, 0, empty_types[i], 9999);
		assert_int_equal(rmig_rdma_hdr_decode(msg, 16, &h), 0);
	}
	/* Element types: len must be exactly repeat elements. */
	put_hdr(msg, 24, RMIG_RDMA_MSG_REGISTER_REQUEST, 2);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 16 + 24, &h), -EPROTO);
	put_hdr(msg, 48, RMIG_RDMA_MSG_COMPRESS, 1);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 16 + 48, &h), -EPROTO);
	put_hdr(msg, 24, RMIG_RDMA_MSG_REGISTER_RESULT, 1);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 16 + 24, &h), -EPROTO);
	put_hdr(msg, 32, RMIG_RDMA_MSG_REGISTER_RESULT, 2);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 16 + 32, &h), 0);
	assert_int_equal(rmig_rdma_hdr_count(&h), 2);
	put_hdr(msg, 48, RMIG_RDMA_MSG_UNREGISTER_REQUEST, 2);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 16 + 48, &h), 0);
}

static void test_hdr_truncated_every_length(void **state)
{
	(void)state;
	uint8_t msg[16 + 2 * RMIG_RDMA_REGISTER_SIZE];
	struct rmig_rdma_hdr h;

	memset(msg, 0x5a, sizeof(msg));
	put_hdr(msg, 2 * RMIG_RDMA_REGISTER_SIZE, RMIG_RDMA_MSG_REGISTER_REQUEST, 2);
	for (size_t n = 0; n < sizeof(msg); n++)
		assert_int_equal(rmig_rdma_hdr_decode(msg, n, &h), -EPROTO);
	assert_int_equal(rmig_rdma_hdr_decode(msg, sizeof(msg), &h), 0);
	assert_int_equal(rmig_rdma_hdr_decode(msg, sizeof(msg) + 1, &h), -EPROTO);
}

static void test_hdr_segments_need_the_flag(void **state)
{
	(void)state;
	uint8_t msg[16 + 2 * RMIG_RDMA_SEGMENT_SIZE];
	struct rmig_rdma_hdr h = {.len = 77, .type = 77, .repeat = 77};
	const uint32_t others = RMIG_RDMA_CAPS_KNOWN & ~RMIG_RDMA_CAP_PIN_SEGMENTS;

	memset(msg, 0, sizeof(msg));
	/* Without PIN_SEGMENTS negotiated both types are unknown, as to a v1 receiver. */
	put_hdr(msg, 0, RMIG_RDMA_MSG_SEGMENTS_REQUEST, 1);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 16, &h), -EPROTO);
	assert_error_mentions("unknown type 256");
	assert_error_mentions("did not negotiate");
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16, others, &h), -EPROTO);
	put_hdr(msg, 48, RMIG_RDMA_MSG_SEGMENTS_RESULT, 2);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 16 + 48, &h), -EPROTO);
	assert_error_mentions("unknown type 257");
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16 + 48, others, &h), -EPROTO);
	assert_int_equal(h.type, 77);

	/* With it, they decode. */
	put_hdr(msg, 0, RMIG_RDMA_MSG_SEGMENTS_REQUEST, 1);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16, RMIG_RDMA_CAP_PIN_SEGMENTS, &h), 0);
	assert_int_equal(h.type, RMIG_RDMA_MSG_SEGMENTS_REQUEST);
	assert_int_equal(rmig_rdma_hdr_count(&h), 0);
	put_hdr(msg, 48, RMIG_RDMA_MSG_SEGMENTS_RESULT, 2);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16 + 48, RMIG_RDMA_CAP_PIN_SEGMENTS, &h),
			 0);
	assert_int_equal(h.type, RMIG_RDMA_MSG_SEGMENTS_RESULT);
	assert_int_equal(rmig_rdma_hdr_count(&h), 2);

	/* The flag opens those two types only. */
	put_hdr(msg, 0, RMIG_RDMA_MSG_KEEPALIVE, 1);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16, RMIG_RDMA_CAP_PIN_SEGMENTS, &h),
			 -EPROTO);
	put_hdr(msg, 0, 0x108, 1); /* the first type past the extensions */
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16, RMIG_RDMA_CAPS_KNOWN, &h), -EPROTO);
	assert_error_mentions("unknown type 264");
	/* AUTH types need AUTH, and exact lengths with it. */
	put_hdr(msg, 32, RMIG_RDMA_MSG_AUTH_CHALLENGE, 1);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16 + 32, RMIG_RDMA_CAP_KEEPALIVE, &h),
			 -EPROTO);
	assert_error_mentions("did not negotiate");
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16 + 32, RMIG_RDMA_CAP_AUTH, &h), 0);
	put_hdr(msg, 64, RMIG_RDMA_MSG_AUTH_RESPONSE, 1);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16 + 64, RMIG_RDMA_CAP_AUTH, &h), 0);
	put_hdr(msg, 32, RMIG_RDMA_MSG_AUTH_RESPONSE, 1);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16 + 32, RMIG_RDMA_CAP_AUTH, &h), -EPROTO);
	assert_error_mentions("expected 64");
	put_hdr(msg, 0, RMIG_RDMA_MSG_AUTH_PROOF, 1);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16, RMIG_RDMA_CAP_AUTH, &h), -EPROTO);
	assert_error_mentions("expected 32");
	put_hdr(msg, 0, 0xff, 1);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16, RMIG_RDMA_CAPS_KNOWN, &h), -EPROTO);
	put_hdr(msg, 0, RMIG_RDMA_MSG_NONE, 1);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16, RMIG_RDMA_CAPS_KNOWN, &h), -EPROTO);
}

/* KEEPALIVE: only under its flag (a QEMU peer never gets one), no payload, any count. */
static void test_hdr_keepalive(void **state)
{
	uint8_t msg[16 + 8];
	uint8_t built[16];
	struct rmig_rdma_hdr h;

	(void)state;
	assert_int_equal(RMIG_RDMA_MSG_KEEPALIVE, 0x102);
	assert_int_equal(RMIG_RDMA_CAP_KEEPALIVE, 0x00080000u);
	assert_true((RMIG_RDMA_CAPS_KNOWN & RMIG_RDMA_CAP_KEEPALIVE) != 0);
	assert_string_equal(rmig_rdma_msg_name(RMIG_RDMA_MSG_KEEPALIVE), "KEEPALIVE");
	assert_int_equal(rmig_rdma_msg_elem_size(RMIG_RDMA_MSG_KEEPALIVE), 0);

	/* Exact bytes: len 0, type 0x102, repeat = the count echoed, zero pad. */
	assert_int_equal(rmig_rdma_msg_build(RMIG_RDMA_MSG_KEEPALIVE, 0x01020304, NULL, 0, built,
					     sizeof(built)),
			 16);
	{
		const uint8_t want[16] = { 0, 0, 0, 0, 0, 0, 1, 2, 1, 2, 3, 4, 0, 0, 0, 0 };

		assert_memory_equal(built, want, 16);
	}

	/* Unknown without the flag: plain v1 decoding and every other extension. */
	put_hdr(msg, 0, RMIG_RDMA_MSG_KEEPALIVE, 0);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 16, &h), -EPROTO);
	assert_error_mentions("unknown type 258");
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16,
						   RMIG_RDMA_CAPS_KNOWN & ~RMIG_RDMA_CAP_KEEPALIVE,
						   &h),
			 -EPROTO);

	/* With it: repeat is a count, 0 included, never an element count. */
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16, RMIG_RDMA_CAP_KEEPALIVE, &h), 0);
	assert_int_equal(h.type, RMIG_RDMA_MSG_KEEPALIVE);
	assert_int_equal(rmig_rdma_hdr_count(&h), 0);
	put_hdr(msg, 0, RMIG_RDMA_MSG_KEEPALIVE, 0xffffffffu);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16, RMIG_RDMA_CAP_KEEPALIVE, &h), 0);
	assert_int_equal(h.repeat, 0xffffffffu);

	/* A payload is refused, as are lengths that disagree with the bytes received. */
	put_hdr(msg, 8, RMIG_RDMA_MSG_KEEPALIVE, 1);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16 + 8, RMIG_RDMA_CAP_KEEPALIVE, &h),
			 -EPROTO);
	assert_error_mentions("expected none");
	put_hdr(msg, 0, RMIG_RDMA_MSG_KEEPALIVE, 1);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16 + 8, RMIG_RDMA_CAP_KEEPALIVE, &h),
			 -EPROTO);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 15, RMIG_RDMA_CAP_KEEPALIVE, &h), -EPROTO);
}

static void test_hdr_segments_shape(void **state)
{
	(void)state;
	static uint8_t msg[16 + (RMIG_RDMA_MAX_REPEAT + 1) * RMIG_RDMA_SEGMENT_SIZE];
	const uint32_t caps = RMIG_RDMA_CAP_PIN_SEGMENTS;
	struct rmig_rdma_hdr h;
	uint32_t len;

	/* SEGMENTS_REQUEST carries nothing; its repeat is not judged. */
	put_hdr(msg, 8, RMIG_RDMA_MSG_SEGMENTS_REQUEST, 1);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 24, caps, &h), -EPROTO);
	assert_error_mentions("SEGMENTS REQUEST");
	put_hdr(msg, 0, RMIG_RDMA_MSG_SEGMENTS_REQUEST, 0);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16, caps, &h), 0);

	/* SEGMENTS_RESULT: len must be exactly repeat elements, short or long. */
	put_hdr(msg, 47, RMIG_RDMA_MSG_SEGMENTS_RESULT, 2);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16 + 47, caps, &h), -EPROTO);
	put_hdr(msg, 24, RMIG_RDMA_MSG_SEGMENTS_RESULT, 2);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16 + 24, caps, &h), -EPROTO);
	assert_error_mentions("SEGMENTS RESULT");
	put_hdr(msg, 72, RMIG_RDMA_MSG_SEGMENTS_RESULT, 2);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16 + 72, caps, &h), -EPROTO);
	/* The header's len must match what arrived, too. */
	put_hdr(msg, 48, RMIG_RDMA_MSG_SEGMENTS_RESULT, 2);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16 + 47, caps, &h), -EPROTO);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16 + 49, caps, &h), -EPROTO);
	put_hdr(msg, 0, RMIG_RDMA_MSG_SEGMENTS_RESULT, 0);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16, caps, &h), -EPROTO);
	/* repeat * 24 overflowing 32 bits must not alias a small length. */
	put_hdr(msg, 0, RMIG_RDMA_MSG_SEGMENTS_RESULT, 0xaaaaaaabu);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16, caps, &h), -EPROTO);

	len = RMIG_RDMA_MAX_REPEAT * RMIG_RDMA_SEGMENT_SIZE;
	put_hdr(msg, len, RMIG_RDMA_MSG_SEGMENTS_RESULT, RMIG_RDMA_MAX_REPEAT);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16 + len, caps, &h), 0);
	assert_int_equal(rmig_rdma_hdr_count(&h), RMIG_RDMA_MAX_REPEAT);
	len += RMIG_RDMA_SEGMENT_SIZE;
	put_hdr(msg, len, RMIG_RDMA_MSG_SEGMENTS_RESULT, RMIG_RDMA_MAX_REPEAT + 1);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16 + len, caps, &h), -EPROTO);
	assert_error_mentions("4097");
}

static void test_block_layout(void **state)
{
	(void)state;
	const uint8_t want[32] = {
	    0x00, 0x00, 0x7f, 0x12, 0x34, 0x56, 0x00, 0x00, /* remote_host_addr */
	    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, /* offset */
	    0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, /* length */
	    0xca, 0xfe, 0xba, 0xbe,			    /* rkey */
	    0x00, 0x00, 0x00, 0x00,			    /* pad */
	};
	struct rmig_rdma_block b = {.remote_host_addr = 0x7f1234560000ull,
				    .offset = 0x100000000ull,
				    .length = 0x40000000ull,
				    .rkey = 0xcafebabe};
	struct rmig_rdma_block d;
	uint8_t got[32], in[32];

	memset(got, 0xff, sizeof(got));
	rmig_rdma_block_encode(&b, got);
	assert_memory_equal(got, want, 32);

	memcpy(in, want, 32);
	in[28] = 0x99; /* the pad is not ours to judge */
	rmig_rdma_block_decode(in, &d);
	assert_int_equal(d.remote_host_addr, b.remote_host_addr);
	assert_int_equal(d.offset, b.offset);
	assert_int_equal(d.length, b.length);
	assert_int_equal(d.rkey, b.rkey);
}

static void test_compress_layout(void **state)
{
	(void)state;
	const uint8_t want[24] = {
	    0x00, 0x00, 0x00, 0x00,			    /* value */
	    0x00, 0x00, 0x00, 0x03,			    /* block_idx */
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x10, 0x00, /* offset */
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x30, 0x00, /* length */
	};
	struct rmig_rdma_compress c = {
	    .value = 0, .block_idx = 3, .offset = 0x201000, .length = 0x3000};
	struct rmig_rdma_compress d;
	uint8_t got[24];

	rmig_rdma_compress_encode(&c, got);
	assert_memory_equal(got, want, 24);
	rmig_rdma_compress_decode(want, &d);
	assert_int_equal(d.value, 0);
	assert_int_equal(d.block_idx, 3);
	assert_int_equal(d.offset, 0x201000);
	assert_int_equal(d.length, 0x3000);
}

static void test_register_layout(void **state)
{
	(void)state;
	const uint8_t want[24] = {
	    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* key */
	    0x00, 0x00, 0x01, 0x00,			    /* block_idx */
	    0x00, 0x00, 0x00, 0x00,			    /* pad */
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, /* chunks */
	};
	struct rmig_rdma_register r = {.key = 0x0102030405060708ull, .block_idx = 256, .chunks = 2};
	struct rmig_rdma_register d;
	uint8_t got[24], in[24];

	memset(got, 0xee, sizeof(got));
	rmig_rdma_register_encode(&r, got);
	assert_memory_equal(got, want, 24);
	memcpy(in, want, 24);
	in[12] = 0xff; /* QEMU never clears its pad */
	rmig_rdma_register_decode(in, &d);
	assert_int_equal(d.key, r.key);
	assert_int_equal(d.block_idx, 256);
	assert_int_equal(d.chunks, 2);
}

static void test_register_result_layout(void **state)
{
	(void)state;
	const uint8_t want[16] = {
	    0x00, 0x01, 0x23, 0x45,			    /* rkey */
	    0x00, 0x00, 0x00, 0x00,			    /* pad */
	    0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88, /* host_addr */
	};
	struct rmig_rdma_register_result r = {.rkey = 0x12345, .host_addr = 0xffeeddccbbaa9988ull};
	struct rmig_rdma_register_result d;
	uint8_t got[16];

	memset(got, 0x11, sizeof(got));
	rmig_rdma_register_result_encode(&r, got);
	assert_memory_equal(got, want, 16);
	rmig_rdma_register_result_decode(want, &d);
	assert_int_equal(d.rkey, 0x12345);
	assert_int_equal(d.host_addr, 0xffeeddccbbaa9988ull);
}

static void test_segment_layout(void **state)
{
	(void)state;
	const uint8_t want[24] = {
	    0x00, 0x00, 0x01, 0x02,			    /* block_idx */
	    0xde, 0xad, 0xbe, 0xef,			    /* rkey */
	    0x00, 0x00, 0x00, 0x01, 0x00, 0x40, 0x00, 0x00, /* start */
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x23, 0x40, 0x00, /* length */
	};
	struct rmig_rdma_segment s = {
	    .block_idx = 0x102, .rkey = 0xdeadbeef, .start = 0x100400000ull, .length = 0x234000};
	struct rmig_rdma_segment d;
	uint8_t got[24];

	memset(got, 0x77, sizeof(got));
	rmig_rdma_segment_encode(&s, got);
	assert_memory_equal(got, want, 24);
	rmig_rdma_segment_decode(want, &d);
	assert_int_equal(d.block_idx, 0x102);
	assert_int_equal(d.rkey, 0xdeadbeef);
	assert_int_equal(d.start, 0x100400000ull);
	assert_int_equal(d.length, 0x234000);
}

static void test_lane_info_layout(void **state)
{
	(void)state;
	const uint8_t want[16] = {
	    0x00, 0x00, 0x00, 0x03, /* index */
	    0x00, 0x12, 0x34, 0x56, /* qpn */
	    0x00, 0xab, 0xcd, 0xef, /* psn */
	    0x00, 0x00, 0x00, 0x00, /* pad, written zero */
	};
	struct rmig_rdma_lane_info l = {.index = 3, .qpn = 0x123456, .psn = 0xabcdef}, d;
	uint8_t got[16];

	memset(got, 0x77, sizeof(got));
	rmig_rdma_lane_info_encode(&l, got);
	assert_memory_equal(got, want, 16);
	rmig_rdma_lane_info_decode(want, &d);
	assert_int_equal(d.index, 3);
	assert_int_equal(d.qpn, 0x123456);
	assert_int_equal(d.psn, 0xabcdef);
}

/* CHANNELS_REQUEST / _RESULT exist only with CHANNELS, and count 16-byte elements. */
static void test_hdr_channels(void **state)
{
	(void)state;
	uint8_t msg[16 + 3 * RMIG_RDMA_LANE_INFO_SIZE];
	struct rmig_rdma_hdr h;

	memset(msg, 0, sizeof(msg));
	put_hdr(msg, 32, RMIG_RDMA_MSG_CHANNELS_REQUEST, 2);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 16 + 32, &h), -EPROTO);
	assert_error_mentions("unknown type 262");
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16 + 32,
						   RMIG_RDMA_CAPS_KNOWN & ~RMIG_RDMA_CAP_CHANNELS, &h),
			 -EPROTO);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16 + 32, RMIG_RDMA_CAP_CHANNELS, &h), 0);
	assert_int_equal(rmig_rdma_hdr_count(&h), 2);
	put_hdr(msg, 48, RMIG_RDMA_MSG_CHANNELS_RESULT, 3);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16 + 48, RMIG_RDMA_CAP_CHANNELS, &h), 0);
	assert_int_equal(h.type, RMIG_RDMA_MSG_CHANNELS_RESULT);
	assert_int_equal(rmig_rdma_hdr_count(&h), 3);
	/* The length must be the count's. */
	put_hdr(msg, 40, RMIG_RDMA_MSG_CHANNELS_REQUEST, 3);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16 + 40, RMIG_RDMA_CAP_CHANNELS, &h),
			 -EPROTO);
	put_hdr(msg, 0, RMIG_RDMA_MSG_CHANNELS_REQUEST, 0);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16, RMIG_RDMA_CAP_CHANNELS, &h), -EPROTO);
	assert_string_equal(rmig_rdma_msg_name(RMIG_RDMA_MSG_CHANNELS_REQUEST), "CHANNELS REQUEST");
	assert_string_equal(rmig_rdma_msg_name(RMIG_RDMA_MSG_CHANNELS_RESULT), "CHANNELS RESULT");
}

static void test_msg_names(void **state)
{
	(void)state;
	assert_string_equal(rmig_rdma_msg_name(RMIG_RDMA_MSG_READY), "READY");
	assert_string_equal(rmig_rdma_msg_name(RMIG_RDMA_MSG_UNREGISTER_FINISHED),
			    "UNREGISTER FINISHED");
	assert_string_equal(rmig_rdma_msg_name(12), "unknown");
	assert_string_equal(rmig_rdma_msg_name(RMIG_RDMA_MSG_SEGMENTS_REQUEST), "SEGMENTS REQUEST");
	assert_string_equal(rmig_rdma_msg_name(RMIG_RDMA_MSG_SEGMENTS_RESULT), "SEGMENTS RESULT");
	assert_string_equal(rmig_rdma_msg_name(RMIG_RDMA_MSG_AUTH_CHALLENGE), "AUTH CHALLENGE");
	assert_string_equal(rmig_rdma_msg_name(0x108), "unknown");
	assert_string_equal(rmig_rdma_msg_name(0xffffffffu), "unknown");
	for (uint32_t t = 0; t < RMIG_RDMA_MSG__COUNT; t++)
		assert_non_null(rmig_rdma_msg_name(t));
	assert_int_equal(rmig_rdma_msg_elem_size(RMIG_RDMA_MSG_COMPRESS), 24);
	assert_int_equal(rmig_rdma_msg_elem_size(RMIG_RDMA_MSG_REGISTER_RESULT), 16);
	assert_int_equal(rmig_rdma_msg_elem_size(RMIG_RDMA_MSG_RAM_BLOCKS_RESULT), 32);
	assert_int_equal(rmig_rdma_msg_elem_size(RMIG_RDMA_MSG_QEMU_FILE), 0);
	assert_int_equal(rmig_rdma_msg_elem_size(RMIG_RDMA_MSG_SEGMENTS_RESULT), 24);
	assert_int_equal(rmig_rdma_msg_elem_size(RMIG_RDMA_MSG_SEGMENTS_REQUEST), 0);
}

static void test_msg_build(void **state)
{
	(void)state;
	uint8_t out[16 + 24];
	uint8_t elem[24];
	struct rmig_rdma_register r = {.key = 5, .block_idx = 1, .chunks = 0};
	struct rmig_rdma_hdr h;

	rmig_rdma_register_encode(&r, elem);
	assert_int_equal(
	    rmig_rdma_msg_build(RMIG_RDMA_MSG_REGISTER_REQUEST, 1, elem, 24, out, sizeof(out)), 40);
	assert_int_equal(rmig_rdma_hdr_decode(out, 40, &h), 0);
	assert_int_equal(h.type, RMIG_RDMA_MSG_REGISTER_REQUEST);
	assert_memory_equal(out + 16, elem, 24);

	assert_int_equal(rmig_rdma_msg_build(RMIG_RDMA_MSG_READY, 1, NULL, 0, out, 16), 16);
	assert_int_equal(rmig_rdma_msg_build(RMIG_RDMA_MSG_REGISTER_REQUEST, 1, elem, 24, out, 39),
			 -EMSGSIZE);
	assert_int_equal(rmig_rdma_msg_build(RMIG_RDMA_MSG_QEMU_FILE, 1, elem,
					     RMIG_RDMA_PAYLOAD_MAX + 1, out, SIZE_MAX),
			 -EMSGSIZE);
	assert_error_mentions("does not fit");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_hdr_encode_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hdr_decode_valid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hdr_qemu_file_ignores_repeat, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hdr_blocks_result_counts_by_len, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hdr_len_mismatch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hdr_len_too_big, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hdr_max_len_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hdr_repeat_bounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hdr_unknown_type, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hdr_shape, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hdr_truncated_every_length, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hdr_segments_need_the_flag, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hdr_segments_shape, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hdr_keepalive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_block_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_compress_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_register_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_register_result_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_segment_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lane_info_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hdr_channels, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_msg_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_msg_build, setup, teardown),
	};

	return cmocka_run_group_tests_name("rdma_wire", tests, NULL, NULL);
}
