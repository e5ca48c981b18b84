/* SPDX-License-Identifier: MIT */
/*
 * Stream format: encoding round trips and every reader validation of the
 * header and the records, one by one (block matching: test_format_blocks.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rmig/log.h>
#include <rmig/transport.h>

#include "common/base/util.h"
#include "common/engine/format.h"
#include "common/ram/checksum.h"
#include "tests/support/memconn.h"
#include "tests/support/stream_image.h"
#include "tests/support/test_quiet.h"

static void expect_header_error(const struct wire *w, int err, const char *words)
{
	struct rmig_stream_header h = {.nblocks = 12345};

	rmig_error_clear();
	assert_int_equal(parse_header(w, &h), err);
	assert_int_equal(h.nblocks, 12345); /* out-parameter untouched */
	assert_null(h.blocks);
	if (words && !strstr(rmig_error_get_last(), words))
		fail_msg("error \"%s\" lacks \"%s\"", rmig_error_get_last(), words);
}

/* Parse the standard header plus one record; returns read_record's result. */
static int parse_record(uint32_t flags, uint32_t type, uint32_t block, uint64_t offset,
			uint32_t npages, uint32_t arg, struct rmig_record *out)
{
	struct wire w = {.n = 0};
	struct rmig_stream_header h;
	struct rmig_ram ram;
	struct rmig_conn *c;
	struct rmig_stream s;
	struct rmig_record r = {.type = 0xfeed};
	int rc;

	wstd(&w, flags);
	wrec(&w, type, block, offset, npages, arg);
	c = rmig_memconn_new(w.d, w.n, 0);
	assert_non_null(c);
	rmig_ram_init(&ram);
	assert_int_equal(rmig_stream_init(&s, c, 0), 0);
	assert_int_equal(rmig_format_read_header(&s, &h), 0);
	assert_int_equal(rmig_format_match_blocks(&h, &ram, 0), 0);
	rmig_error_clear();
	rc = rmig_format_read_record(&s, &h, &ram, &r);
	if (rc)
		assert_int_equal(r.type, 0xfeed); /* untouched on failure */
	else if (out)
		*out = r;
	rmig_format_header_free(&h);
	rmig_stream_fini(&s);
	rmig_memconn_free(c);
	rmig_ram_fini(&ram);
	return rc;
}

static void expect_record_error(uint32_t flags, uint32_t type, uint32_t block, uint64_t offset,
				uint32_t npages, uint32_t arg, const char *words)
{
	int rc = parse_record(flags, type, block, offset, npages, arg, NULL);

	if (rc != -EPROTO)
		fail_msg("record type %u block %u offset 0x%llx npages %u arg %u: got %d", type,
			 block, (unsigned long long)offset, npages, arg, rc);
	if (words && !strstr(rmig_error_get_last(), words))
		fail_msg("error \"%s\" lacks \"%s\"", rmig_error_get_last(), words);
}

/* --- header --- */

static void test_header_roundtrip(void **state)
{
	struct rmig_ram ram;
	struct rmig_conn *c = rmig_memconn_new(NULL, 0, 0);
	struct rmig_stream s;
	struct rmig_stream_header h;
	const uint8_t *out;
	size_t len;

	(void)state;
	rmig_ram_init(&ram);
	assert_int_equal(rmig_ram_alloc(&ram, "pc.ram", 1 << 20, 4096, NULL), 0);
	assert_int_equal(rmig_ram_alloc(&ram, "vga", 1 << 16, 512, NULL), 0);
	assert_int_equal(rmig_stream_init(&s, c, 0), 0);
	assert_int_equal(rmig_format_write_header(&s, RMIG_STREAM_F_VERIFY, &ram), 0);
	assert_int_equal(rmig_stream_flush(&s), 0);
	out = rmig_memconn_written(c, &len);
	/* 16 fixed + (2 + 6 + 12) + (2 + 3 + 12) */
	assert_int_equal(len, 16 + 20 + 17);
	assert_int_equal(rmig_get_be32(out), RMIG_STREAM_MAGIC);
	assert_memory_equal(out, "RMIG", 4);
	assert_int_equal(rmig_get_be32(out + 4), 1);
	assert_int_equal(rmig_get_be32(out + 8), RMIG_STREAM_F_VERIFY);
	assert_int_equal(rmig_get_be32(out + 12), 2);
	assert_int_equal(rmig_get_be16(out + 16), 6);
	assert_memory_equal(out + 18, "pc.ram", 6);

	{
		struct wire w = {.n = len};

		memcpy(w.d, out, len);
		assert_int_equal(parse_header(&w, &h), 0);
	}
	assert_int_equal(h.version, 1);
	assert_int_equal(h.flags, RMIG_STREAM_F_VERIFY);
	assert_int_equal(h.nblocks, 2);
	assert_string_equal(h.blocks[0].name, "pc.ram");
	assert_int_equal(h.blocks[0].page_size, 4096);
	assert_int_equal(h.blocks[0].length, 1 << 20);
	assert_string_equal(h.blocks[1].name, "vga");
	assert_int_equal(h.blocks[1].page_size, 512);
	assert_int_equal(h.blocks[1].length, 1 << 16);
	rmig_format_header_free(&h);
	assert_null(h.blocks);
	rmig_stream_fini(&s);
	rmig_memconn_free(c);
	rmig_ram_fini(&ram);
}

static void test_writer_refuses_bad_input(void **state)
{
	struct rmig_ram ram;
	struct rmig_conn *c = rmig_memconn_new(NULL, 0, 0);
	struct rmig_stream s;

	(void)state;
	rmig_ram_init(&ram);
	assert_int_equal(rmig_stream_init(&s, c, 0), 0);
	assert_int_equal(rmig_format_write_header(&s, 0, &ram), -EINVAL);
	assert_int_equal(rmig_ram_alloc(&ram, "a", 4096, 4096, NULL), 0);
	assert_int_equal(rmig_format_write_header(&s, 0x80, &ram), -EINVAL);
	rmig_stream_fini(&s);
	rmig_memconn_free(c);
	rmig_ram_fini(&ram);
}

static void test_header_bad_magic(void **state)
{
	struct wire w = {.n = 0};

	(void)state;
	whdr(&w, 0x51455649, 1, 0, 1); /* "QEVI" */
	wblock(&w, "a", 4096, 4096);
	expect_header_error(&w, -EPROTO, "magic");
}

static void test_header_bad_version(void **state)
{
	static const uint32_t versions[] = {0, 2, 3, 0xffffffff, 0x01000000};
	size_t i;

	(void)state;
	for (i = 0; i < RMIG_ARRAY_SIZE(versions); i++) {
		struct wire w = {.n = 0};
		char words[80];

		whdr(&w, RMIG_STREAM_MAGIC, versions[i], 0, 1);
		wblock(&w, "a", 4096, 4096);
		snprintf(words, sizeof(words), "unsupported stream version %u (this rmig reads 1)",
			 versions[i]);
		expect_header_error(&w, -EPROTONOSUPPORT, words);
	}
}

static void test_header_unknown_flags(void **state)
{
	static const uint32_t flags[] = {0x8, 0x80000000, 0xffffffff, 0xf};
	size_t i;

	(void)state;
	for (i = 0; i < RMIG_ARRAY_SIZE(flags); i++) {
		struct wire w = {.n = 0};

		whdr(&w, RMIG_STREAM_MAGIC, 1, flags[i], 1);
		wblock(&w, "a", 4096, 4096);
		expect_header_error(&w, -EPROTO, "unknown flags");
	}
}

static void test_header_nblocks(void **state)
{
	struct wire w = {.n = 0};

	(void)state;
	whdr(&w, RMIG_STREAM_MAGIC, 1, 0, 0);
	expect_header_error(&w, -EPROTO, "0 RAM blocks");
	w.n = 0;
	whdr(&w, RMIG_STREAM_MAGIC, 1, 0, RMIG_RAM_MAX_BLOCKS + 1);
	wblock(&w, "a", 4096, 4096);
	expect_header_error(&w, -EPROTO, "1025 RAM blocks");
	w.n = 0;
	whdr(&w, RMIG_STREAM_MAGIC, 1, 0, 0xffffffff);
	expect_header_error(&w, -EPROTO, "RAM blocks");
	/* Fewer blocks than announced: the stream just ends. */
	w.n = 0;
	whdr(&w, RMIG_STREAM_MAGIC, 1, 0, 3);
	wblock(&w, "a", 4096, 4096);
	wblock(&w, "b", 4096, 4096);
	expect_header_error(&w, -EPIPE, "truncated");
}

static void test_header_name_len(void **state)
{
	struct wire w = {.n = 0};
	char name[300];

	(void)state;
	whdr(&w, RMIG_STREAM_MAGIC, 1, 0, 1);
	w16(&w, 0);
	w32(&w, 4096);
	w64(&w, 4096);
	expect_header_error(&w, -EPROTO, "name of 0 bytes");

	memset(name, 'x', sizeof(name));
	w.n = 0;
	whdr(&w, RMIG_STREAM_MAGIC, 1, 0, 1);
	w16(&w, 256);
	wbytes(&w, name, 256);
	w32(&w, 4096);
	w64(&w, 4096);
	expect_header_error(&w, -EPROTO, "name of 256 bytes");

	w.n = 0;
	whdr(&w, RMIG_STREAM_MAGIC, 1, 0, 1);
	w16(&w, 0xffff);
	wbytes(&w, name, 300);
	expect_header_error(&w, -EPROTO, "name of 65535 bytes");

	/* 255 is the longest allowed. */
	w.n = 0;
	name[255] = '\0';
	whdr(&w, RMIG_STREAM_MAGIC, 1, 0, 1);
	wblock(&w, name, 4096, 4096);
	{
		struct rmig_stream_header h;

		assert_int_equal(parse_header(&w, &h), 0);
		assert_int_equal(strlen(h.blocks[0].name), 255);
		rmig_format_header_free(&h);
	}
}

static void test_header_name_unprintable(void **state)
{
	/* Exactly five bytes each; one bad byte among printable ones. */
	static const char names[][6] = {"a\nbcd", "tab\th", "nul\0x", "dele\x7f", "hi\x80\xffz"};
	size_t i;

	(void)state;
	for (i = 0; i < RMIG_ARRAY_SIZE(names); i++) {
		struct wire w = {.n = 0};

		whdr(&w, RMIG_STREAM_MAGIC, 1, 0, 1);
		w16(&w, 5);
		wbytes(&w, names[i], 5);
		w32(&w, 4096);
		w64(&w, 4096);
		expect_header_error(&w, -EPROTO, "non-printable");
	}
}

static void test_header_duplicate_names(void **state)
{
	struct wire w = {.n = 0};

	(void)state;
	whdr(&w, RMIG_STREAM_MAGIC, 1, 0, 3);
	wblock(&w, "pc.ram", 4096, 4096);
	wblock(&w, "vga", 4096, 4096);
	wblock(&w, "pc.ram", 4096, 8192);
	expect_header_error(&w, -EPROTO, "both named \"pc.ram\"");
}

static void test_header_page_size(void **state)
{
	static const uint32_t bad[] = {0,    1,	   256,	    511,      513,
				       4095, 4097, 3 << 12, 1u << 31, 0xffffffff};
	size_t i;

	(void)state;
	for (i = 0; i < RMIG_ARRAY_SIZE(bad); i++) {
		struct wire w = {.n = 0};

		whdr(&w, RMIG_STREAM_MAGIC, 1, 0, 1);
		wblock(&w, "a", bad[i], 1ull << 32);
		expect_header_error(&w, -EPROTO, "page size");
	}
}

static void test_header_length(void **state)
{
	static const uint64_t bad[] = {
	    0, 1, 4095, 4097, 6144, (1ull << 48) + 4096, UINT64_MAX, UINT64_MAX - 4095};
	struct rmig_stream_header h;
	struct wire w = {.n = 0};
	size_t i;

	(void)state;
	for (i = 0; i < RMIG_ARRAY_SIZE(bad); i++) {
		w.n = 0;
		whdr(&w, RMIG_STREAM_MAGIC, 1, 0, 1);
		wblock(&w, "a", 4096, bad[i]);
		expect_header_error(&w, -EPROTO, "length");
	}
	/* The largest allowed length parses (it is not allocated here). */
	w.n = 0;
	whdr(&w, RMIG_STREAM_MAGIC, 1, 0, 1);
	wblock(&w, "a", 1u << 30, RMIG_STREAM_MAX_BLOCK_LENGTH);
	assert_int_equal(parse_header(&w, &h), 0);
	assert_true(h.blocks[0].length == RMIG_STREAM_MAX_BLOCK_LENGTH);
	rmig_format_header_free(&h);
}

/* --- records --- */

static void test_record_roundtrip(void **state)
{
	struct rmig_record in = {.type = RMIG_REC_DATA, .block = 1, .offset = 512, .npages = 3};
	struct rmig_record out;
	struct rmig_conn *c = rmig_memconn_new(NULL, 0, 0);
	struct rmig_stream s;
	const uint8_t *bytes;
	size_t len;

	(void)state;
	assert_int_equal(rmig_stream_init(&s, c, 0), 0);
	assert_int_equal(rmig_format_write_record(&s, &in), 0);
	assert_int_equal(rmig_stream_flush(&s), 0);
	bytes = rmig_memconn_written(c, &len);
	assert_int_equal(len, RMIG_RECORD_SIZE);
	assert_int_equal(rmig_get_be32(bytes), RMIG_REC_DATA);
	assert_int_equal(rmig_get_be32(bytes + 4), 1);
	assert_true(rmig_get_be64(bytes + 8) == 512);
	assert_int_equal(rmig_get_be32(bytes + 16), 3);
	assert_int_equal(rmig_get_be32(bytes + 20), 0);
	rmig_stream_fini(&s);
	rmig_memconn_free(c);

	assert_int_equal(parse_record(0, RMIG_REC_DATA, 1, 512, 3, 0, &out), 0);
	assert_int_equal(out.type, in.type);
	assert_int_equal(out.block, in.block);
	assert_true(out.offset == in.offset);
	assert_int_equal(out.npages, in.npages);
	assert_int_equal(
	    parse_record(RMIG_STREAM_F_ZERO_PAGES, RMIG_REC_ZERO, 0, PC_LEN - 4096, 1, 0, &out), 0);
	assert_int_equal(parse_record(0, RMIG_REC_DATA, 0, 0, PC_LEN / 4096, 0, NULL), 0);
	assert_int_equal(parse_record(0, RMIG_REC_DATA, 1, 0, VGA_LEN / 512, 0, NULL), 0);
	assert_int_equal(parse_record(0, RMIG_REC_HOOK, 0, 0, 0, RMIG_RAM_PHASE_SETUP, NULL), 0);
	assert_int_equal(parse_record(0, RMIG_REC_HOOK, 0, 0, 0, RMIG_RAM_PHASE_FINAL, NULL), 0);
	assert_int_equal(parse_record(0, RMIG_REC_EOR, 0, 0, 0, 0xffffffff, &out), 0);
	assert_int_equal(out.arg, 0xffffffff);
	assert_int_equal(parse_record(0, RMIG_REC_EOS, 0, 0, 0, 0, NULL), 0);
}

static void test_record_unknown_type(void **state)
{
	static const uint32_t types[] = {0, 8, 9, 0x100, 0xffffffff};
	size_t i;

	(void)state;
	for (i = 0; i < RMIG_ARRAY_SIZE(types); i++)
		expect_record_error(0, types[i], 0, 0, 0, 0, "unknown type");
}

static void test_header_multifd(void **state)
{
	static const uint32_t bad[] = {0, 65, 0xffffffff};
	uint8_t session[RMIG_MULTIFD_SESSION_SIZE];
	struct rmig_stream_header h;
	struct wire w = {.n = 0};

	(void)state;
	for (size_t i = 0; i < sizeof(session); i++)
		session[i] = (uint8_t)(i * 7 + 1);
	whdr(&w, RMIG_STREAM_MAGIC, 1, RMIG_STREAM_F_MULTIFD, 1);
	wblock(&w, "a", 4096, 4096);
	w32(&w, 64);
	wbytes(&w, session, sizeof(session));
	assert_int_equal(parse_header(&w, &h), 0);
	assert_int_equal(h.channels, 64);
	assert_memory_equal(h.session, session, sizeof(session));
	rmig_format_header_free(&h);

	/* Without the flag the header has no channel section, and says no channels. */
	w.n = 0;
	whdr(&w, RMIG_STREAM_MAGIC, 1, 0, 1);
	wblock(&w, "a", 4096, 4096);
	assert_int_equal(parse_header(&w, &h), 0);
	assert_int_equal(h.channels, 0);
	rmig_format_header_free(&h);

	for (size_t i = 0; i < RMIG_ARRAY_SIZE(bad); i++) {
		w.n = 0;
		whdr(&w, RMIG_STREAM_MAGIC, 1, RMIG_STREAM_F_MULTIFD, 1);
		wblock(&w, "a", 4096, 4096);
		w32(&w, bad[i]);
		wbytes(&w, session, sizeof(session));
		expect_header_error(&w, -EPROTO, "multifd channels");
	}
	/* Cut inside the session: truncated, not accepted with a short id. */
	w.n = 0;
	whdr(&w, RMIG_STREAM_MAGIC, 1, RMIG_STREAM_F_MULTIFD, 1);
	wblock(&w, "a", 4096, 4096);
	w32(&w, 2);
	wbytes(&w, session, 5);
	expect_header_error(&w, -EPIPE, "truncated");
}

static void test_record_sync_ping(void **state)
{
	struct rmig_record r;

	(void)state;
	/* Only a multifd stream may carry them. */
	expect_record_error(0, RMIG_REC_SYNC, 0, 0, 0, 0, "did not announce multifd");
	expect_record_error(0, RMIG_REC_PING, 0, 0, 0, 0, "did not announce multifd");
	assert_int_equal(parse_record(RMIG_STREAM_F_MULTIFD, RMIG_REC_SYNC, 0, 0, 0, 7, &r), 0);
	assert_int_equal(r.type, RMIG_REC_SYNC);
	assert_int_equal(r.arg, 7);
	assert_int_equal(parse_record(RMIG_STREAM_F_MULTIFD, RMIG_REC_PING, 0, 0, 0, 0, &r), 0);
	assert_int_equal(r.type, RMIG_REC_PING);
	expect_record_error(RMIG_STREAM_F_MULTIFD, RMIG_REC_PING, 0, 0, 0, 1, "reserved");
	expect_record_error(RMIG_STREAM_F_MULTIFD, RMIG_REC_SYNC, 1, 0, 0, 0, "page range");
	expect_record_error(RMIG_STREAM_F_MULTIFD, RMIG_REC_PING, 0, 4096, 0, 0, "page range");
}

static void test_record_block_index(void **state)
{
	(void)state;
	expect_record_error(0, RMIG_REC_DATA, 2, 0, 1, 0, "RAM block 2");
	expect_record_error(0, RMIG_REC_DATA, 0xffffffff, 0, 1, 0, "RAM block 4294967295");
	expect_record_error(RMIG_STREAM_F_ZERO_PAGES, RMIG_REC_ZERO, 1024, 0, 1, 0, "RAM block");
}

static void test_record_unaligned_offset(void **state)
{
	(void)state;
	expect_record_error(0, RMIG_REC_DATA, 0, 1, 1, 0, "not a multiple");
	expect_record_error(0, RMIG_REC_DATA, 0, 512, 1, 0, "not a multiple");
	expect_record_error(0, RMIG_REC_DATA, 1, 256, 1, 0, "not a multiple");
	expect_record_error(RMIG_STREAM_F_ZERO_PAGES, RMIG_REC_ZERO, 0, 4095, 1, 0,
			    "not a multiple");
}

static void test_record_npages(void **state)
{
	(void)state;
	expect_record_error(0, RMIG_REC_DATA, 0, 0, 0, 0, "0 pages");
	expect_record_error(0, RMIG_REC_DATA, 1, 0, RMIG_RECORD_MAX_PAGES + 1, 0, "257 pages");
	expect_record_error(0, RMIG_REC_DATA, 0, 0, 0xffffffff, 0, "pages");
	expect_record_error(RMIG_STREAM_F_ZERO_PAGES, RMIG_REC_ZERO, 0, 0, 0, 0, "0 pages");
}

static void test_record_range(void **state)
{
	(void)state;
	/* One page past the end, and a run that starts inside but ends outside. */
	expect_record_error(0, RMIG_REC_DATA, 0, PC_LEN, 1, 0, "past its end");
	expect_record_error(0, RMIG_REC_DATA, 0, PC_LEN - 4096, 2, 0, "past its end");
	expect_record_error(0, RMIG_REC_DATA, 1, VGA_LEN - 512, 2, 0, "past its end");
	/* Offsets whose sum with the run's size would wrap around. */
	expect_record_error(0, RMIG_REC_DATA, 0, UINT64_MAX - 4095, 1, 0, "past its end");
	expect_record_error(0, RMIG_REC_DATA, 0, UINT64_MAX - 4095, 2, 0, "past its end");
	expect_record_error(0, RMIG_REC_DATA, 1, UINT64_MAX - 511, 256, 0, "past its end");
	expect_record_error(0, RMIG_REC_DATA, 0, 1ull << 63, 1, 0, "past its end");
	expect_record_error(RMIG_STREAM_F_ZERO_PAGES, RMIG_REC_ZERO, 0, UINT64_MAX - 4095, 1, 0,
			    "past its end");
}

static void test_record_zero_needs_flag(void **state)
{
	(void)state;
	expect_record_error(0, RMIG_REC_ZERO, 0, 0, 1, 0, "zero pages");
	expect_record_error(RMIG_STREAM_F_VERIFY, RMIG_REC_ZERO, 0, 0, 1, 0, "zero pages");
}

static void test_record_reserved_and_control(void **state)
{
	(void)state;
	expect_record_error(0, RMIG_REC_DATA, 0, 0, 1, 1, "reserved");
	expect_record_error(0, RMIG_REC_EOS, 0, 0, 0, 5, "reserved");
	expect_record_error(0, RMIG_REC_HOOK, 0, 0, 0, 0, "unknown RAM phase 0");
	expect_record_error(0, RMIG_REC_HOOK, 0, 0, 0, 4, "unknown RAM phase 4");
	expect_record_error(0, RMIG_REC_HOOK, 1, 0, 0, 1, "page range");
	expect_record_error(0, RMIG_REC_HOOK, 0, 4096, 0, 1, "page range");
	expect_record_error(0, RMIG_REC_EOR, 0, 0, 1, 1, "page range");
	expect_record_error(0, RMIG_REC_EOS, 0, 1, 0, 0, "page range");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_quiet, teardown_quiet)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_header_roundtrip),
	    T(test_writer_refuses_bad_input),
	    T(test_header_bad_magic),
	    T(test_header_bad_version),
	    T(test_header_unknown_flags),
	    T(test_header_nblocks),
	    T(test_header_name_len),
	    T(test_header_name_unprintable),
	    T(test_header_duplicate_names),
	    T(test_header_page_size),
	    T(test_header_length),
	    T(test_record_roundtrip),
	    T(test_record_unknown_type),
	    T(test_header_multifd),
	    T(test_record_sync_ping),
	    T(test_record_block_index),
	    T(test_record_unaligned_offset),
	    T(test_record_npages),
	    T(test_record_range),
	    T(test_record_zero_needs_flag),
	    T(test_record_reserved_and_control),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
