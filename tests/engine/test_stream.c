/* SPDX-License-Identifier: MIT */
/* The buffered stream and the memory connection it is tested over. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "common/engine/stream.h"
#include "plugin/registry.h"
#include "tests/support/memconn.h"
#include "tests/support/test_quiet.h"

static void fill_pattern(uint8_t *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 131 + seed * 7 + (i >> 9));
}

/*
 * Write a mix of copied and referenced pieces (more references than one
 * writev can carry) through a stream with a small buffer, with the
 * connection accepting at most @wchunk bytes per call, and check the bytes
 * that arrived are exactly the expected sequence.
 */
static void write_mix(size_t bufsize, size_t wchunk)
{
	enum { NPAGES = 200, PAGE = 512 };
	uint8_t *pages = malloc(NPAGES * PAGE);
	uint8_t *expect = malloc(NPAGES * (PAGE + 12) + 10 * PAGE + 64);
	struct rmig_conn *c = rmig_memconn_new(NULL, 0, 0);
	struct rmig_stream s;
	const uint8_t *out;
	size_t n = 0, len;
	int i;

	assert_non_null(pages);
	assert_non_null(expect);
	assert_non_null(c);
	rmig_memconn_set_write_chunk(c, wchunk);
	fill_pattern(pages, NPAGES * PAGE, 3);
	assert_int_equal(rmig_stream_init(&s, c, bufsize), 0);
	for (i = 0; i < NPAGES; i++) {
		/* Some records without payload, so copies also follow copies. */
		const uint8_t *pg = pages + (size_t)i * PAGE;

		assert_int_equal(rmig_stream_put_u32(&s, (uint32_t)i), 0);
		rmig_put_be32(expect + n, (uint32_t)i);
		n += 4;
		assert_int_equal(rmig_stream_put_u64(&s, 0x0102030405060708ull + (uint64_t)i), 0);
		rmig_put_be64(expect + n, 0x0102030405060708ull + (uint64_t)i);
		n += 8;
		if (i % 7 == 3)
			continue;
		assert_int_equal(rmig_stream_write_ref(&s, pg, PAGE), 0);
		memcpy(expect + n, pg, PAGE);
		n += PAGE;
	}
	/* Contiguous references, which the stream may merge into one entry. */
	for (i = 0; i < 10; i++) {
		assert_int_equal(rmig_stream_write_ref(&s, pages + (size_t)i * PAGE, PAGE), 0);
		memcpy(expect + n, pages + (size_t)i * PAGE, PAGE);
		n += PAGE;
	}
	assert_int_equal(rmig_stream_write(&s, "tail", 4), 0);
	memcpy(expect + n, "tail", 4);
	n += 4;
	assert_int_equal(rmig_stream_flush(&s), 0);
	assert_int_equal(s.error, 0);
	assert_int_equal(s.bytes_out, n);
	out = rmig_memconn_written(c, &len);
	assert_int_equal(len, n);
	assert_memory_equal(out, expect, n);
	rmig_stream_fini(&s);
	rmig_memconn_free(c);
	free(expect);
	free(pages);
}

static void test_write_roundtrip_default(void **state)
{
	(void)state;
	write_mix(0, 0);
}

static void test_write_small_buffer(void **state)
{
	(void)state;
	write_mix(16, 0);
	write_mix(1, 0);
	write_mix(100, 0);
}

static void test_write_partial_writev(void **state)
{
	(void)state;
	write_mix(0, 1);
	write_mix(0, 7);
	write_mix(64, 513);
	write_mix(4096, 4095);
}

/* References are not copied: what is sent is what the memory holds at flush time. */
static void test_write_ref_is_by_reference(void **state)
{
	uint8_t page[4096];
	struct rmig_conn *c = rmig_memconn_new(NULL, 0, 0);
	struct rmig_stream s;
	const uint8_t *out;
	size_t len;

	(void)state;
	memset(page, 0xaa, sizeof(page));
	assert_int_equal(rmig_stream_init(&s, c, 0), 0);
	assert_int_equal(rmig_stream_write_ref(&s, page, sizeof(page)), 0);
	out = rmig_memconn_written(c, &len);
	assert_int_equal(len, 0);
	memset(page, 0x55, sizeof(page));
	assert_int_equal(rmig_stream_flush(&s), 0);
	out = rmig_memconn_written(c, &len);
	assert_int_equal(len, sizeof(page));
	assert_int_equal(out[0], 0x55);
	assert_int_equal(out[4095], 0x55);
	rmig_stream_fini(&s);
	rmig_memconn_free(c);
}

/* Without a writev slot the stream writes entry by entry, partial writes included. */
static void test_write_without_writev(void **state)
{
	enum { PAGE = 1024 };
	uint8_t pages[4 * PAGE];
	struct rmig_conn *c = rmig_memconn_new(NULL, 0, 0);
	struct rmig_transport_ops ops = *c->ops;
	const struct rmig_transport_ops *orig = c->ops;
	uint8_t expect[4 * (PAGE + 3)];
	struct rmig_stream s;
	const uint8_t *out;
	size_t len, n = 0;
	int i;

	(void)state;
	ops.writev = NULL;
	c->ops = &ops;
	rmig_memconn_set_write_chunk(c, 100);
	fill_pattern(pages, sizeof(pages), 9);
	assert_int_equal(rmig_stream_init(&s, c, 64), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(rmig_stream_write(&s, "abc", 3), 0);
		memcpy(expect + n, "abc", 3);
		n += 3;
		assert_int_equal(rmig_stream_write_ref(&s, pages + i * PAGE, PAGE), 0);
		memcpy(expect + n, pages + i * PAGE, PAGE);
		n += PAGE;
	}
	assert_int_equal(rmig_stream_flush(&s), 0);
	out = rmig_memconn_written(c, &len);
	assert_int_equal(len, n);
	assert_memory_equal(out, expect, n);
	rmig_stream_fini(&s);
	c->ops = orig;
	rmig_memconn_free(c);
}

static void read_all(size_t bufsize, size_t chunk)
{
	enum { LEN = 300000 };
	uint8_t *data = malloc(LEN), *got = malloc(LEN);
	struct rmig_conn *c;
	struct rmig_stream s;
	uint32_t v32;
	uint64_t v64;
	size_t off = 12, piece = 1;

	assert_non_null(data);
	assert_non_null(got);
	fill_pattern(data, LEN, 5);
	rmig_put_be32(data, 0xdeadbeef);
	rmig_put_be64(data + 4, 0x1122334455667788ull);
	c = rmig_memconn_new(data, LEN, chunk);
	assert_non_null(c);
	assert_int_equal(rmig_stream_init(&s, c, bufsize), 0);
	assert_int_equal(rmig_stream_get_u32(&s, &v32), 0);
	assert_int_equal(v32, 0xdeadbeef);
	assert_int_equal(rmig_stream_get_u64(&s, &v64), 0);
	assert_true(v64 == 0x1122334455667788ull);
	/* Growing pieces: some served from the buffer, some bypassing it. */
	while (off < LEN) {
		size_t n = RMIG_MIN(piece, (size_t)LEN - off);

		assert_int_equal(rmig_stream_read(&s, got + off, n), 0);
		off += n;
		piece = piece * 3 + 1;
	}
	assert_memory_equal(got + 12, data + 12, LEN - 12);
	assert_int_equal(s.bytes_in, LEN);
	rmig_stream_fini(&s);
	rmig_memconn_free(c);
	free(got);
	free(data);
}

static void test_read_roundtrip(void **state)
{
	(void)state;
	read_all(0, 0);
	read_all(0, 1000);
	read_all(64, 0);
	read_all(64, 1);
	read_all(4096, 333);
	read_all(1, 0);
}

static void test_read_eof_is_truncation(void **state)
{
	uint8_t data[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	uint8_t got[16];
	struct rmig_conn *c = rmig_memconn_new(data, sizeof(data), 3);
	struct rmig_stream s;

	(void)state;
	assert_int_equal(rmig_stream_init(&s, c, 0), 0);
	assert_int_equal(rmig_stream_read(&s, got, 4), 0);
	assert_int_equal(rmig_stream_read(&s, got, 16), -EPIPE);
	assert_non_null(strstr(rmig_error_get_last(), "truncated"));
	assert_non_null(strstr(rmig_error_get_last(), "after 10 bytes"));
	assert_int_equal(s.error, -EPIPE);
	rmig_stream_fini(&s);
	rmig_memconn_free(c);
}

/* The first error sticks, even on calls the connection itself would serve. */
static void test_sticky_error(void **state)
{
	uint8_t data[4] = {0};
	uint8_t got[8];
	uint32_t v = 77;
	struct rmig_conn *c = rmig_memconn_new(data, sizeof(data), 0);
	struct rmig_stream s;
	size_t len;

	(void)state;
	assert_int_equal(rmig_stream_init(&s, c, 0), 0);
	assert_int_equal(rmig_stream_read(&s, got, 8), -EPIPE);
	assert_int_equal(rmig_stream_write(&s, "x", 1), -EPIPE);
	assert_int_equal(rmig_stream_write_ref(&s, got, sizeof(got)), -EPIPE);
	assert_int_equal(rmig_stream_put_u64(&s, 1), -EPIPE);
	assert_int_equal(rmig_stream_flush(&s), -EPIPE);
	assert_int_equal(rmig_stream_get_u32(&s, &v), -EPIPE);
	assert_int_equal(v, 77); /* out-parameter untouched on failure */
	rmig_memconn_written(c, &len);
	assert_int_equal(len, 0);
	rmig_stream_fini(&s);
	rmig_memconn_free(c);
}

static void test_abort_cancels(void **state)
{
	uint8_t data[64] = {0};
	uint8_t got[8];
	struct rmig_conn *c = rmig_memconn_new(data, sizeof(data), 0);
	struct rmig_stream s;

	(void)state;
	assert_int_equal(rmig_stream_init(&s, c, 0), 0);
	assert_int_equal(rmig_stream_write(&s, "abc", 3), 0);
	rmig_conn_abort(c);
	assert_int_equal(rmig_stream_flush(&s), -ECANCELED);
	assert_int_equal(rmig_stream_read(&s, got, 1), -ECANCELED);
	rmig_stream_fini(&s);

	assert_int_equal(rmig_stream_init(&s, c, 0), 0);
	assert_int_equal(rmig_stream_read(&s, got, 1), -ECANCELED);
	rmig_stream_fini(&s);
	rmig_memconn_free(c);
}

static void test_memconn_chunks(void **state)
{
	uint8_t data[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
	uint8_t got[10];
	struct rmig_conn *c = rmig_memconn_new(data, sizeof(data), 4);

	(void)state;
	/* The input is a private copy: the caller may reuse its buffer. */
	memset(data, 0xff, sizeof(data));
	assert_int_equal(rmig_conn_read(c, got, 10), 4);
	assert_int_equal(rmig_conn_read(c, got + 4, 2), 2);
	assert_int_equal(rmig_conn_read(c, got + 6, 10), 4);
	assert_int_equal(rmig_conn_read(c, got, 10), 0);
	assert_int_equal(got[9], 9);
	assert_int_equal(got[4], 4);
	rmig_memconn_set_write_chunk(c, 3);
	assert_int_equal(rmig_conn_write(c, "hello", 5), 3);
	rmig_memconn_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_write_roundtrip_default, setup_quiet,
					    teardown_quiet),
	    cmocka_unit_test_setup_teardown(test_write_small_buffer, setup_quiet, teardown_quiet),
	    cmocka_unit_test_setup_teardown(test_write_partial_writev, setup_quiet, teardown_quiet),
	    cmocka_unit_test_setup_teardown(test_write_ref_is_by_reference, setup_quiet,
					    teardown_quiet),
	    cmocka_unit_test_setup_teardown(test_write_without_writev, setup_quiet, teardown_quiet),
	    cmocka_unit_test_setup_teardown(test_read_roundtrip, setup_quiet, teardown_quiet),
	    cmocka_unit_test_setup_teardown(test_read_eof_is_truncation, setup_quiet,
					    teardown_quiet),
	    cmocka_unit_test_setup_teardown(test_sticky_error, setup_quiet, teardown_quiet),
	    cmocka_unit_test_setup_teardown(test_abort_cancels, setup_quiet, teardown_quiet),
	    cmocka_unit_test_setup_teardown(test_memconn_chunks, setup_quiet, teardown_quiet),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
