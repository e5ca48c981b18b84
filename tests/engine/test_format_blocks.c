/* SPDX-License-Identifier: MIT */
/* Stream format: matching a header's blocks against RAM, and the trailer's checksums. */
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

/* --- blocks --- */

static int match(const struct wire *w, struct rmig_ram *ram)
{
	struct rmig_stream_header h;
	int rc;

	assert_int_equal(parse_header(w, &h), 0);
	rmig_error_clear();
	rc = rmig_format_match_blocks(&h, ram, 0);
	rmig_format_header_free(&h);
	return rc;
}

static void test_match_allocates_when_empty(void **state)
{
	struct wire w = {.n = 0};
	struct rmig_ram ram;

	(void)state;
	wstd(&w, 0);
	rmig_ram_init(&ram);
	assert_int_equal(match(&w, &ram), 0);
	assert_int_equal(ram.nblocks, 2);
	assert_string_equal(ram.blocks[0]->name, "pc.ram");
	assert_int_equal(ram.blocks[0]->length, PC_LEN);
	assert_int_equal(ram.blocks[0]->page_size, 4096);
	assert_true(ram.blocks[0]->owned);
	assert_string_equal(ram.blocks[1]->name, "vga.vram");
	assert_int_equal(ram.blocks[1]->length, VGA_LEN);
	assert_int_equal(ram.blocks[1]->page_size, 512);
	assert_int_equal(ram.blocks[1]->host[VGA_LEN - 1], 0);
	/* Matching again against what it made is fine. */
	assert_int_equal(match(&w, &ram), 0);
	rmig_ram_fini(&ram);
}

static void expect_mismatch(const struct wire *w, const char *const *words)
{
	struct rmig_ram ram;
	static uint8_t pc[PC_LEN], vga[VGA_LEN];

	rmig_ram_init(&ram);
	assert_int_equal(rmig_ram_add(&ram, "pc.ram", pc, PC_LEN, 4096, NULL), 0);
	assert_int_equal(rmig_ram_add(&ram, "vga.vram", vga, VGA_LEN, 512, NULL), 0);
	assert_int_equal(match(w, &ram), -EINVAL);
	for (; *words; words++) {
		if (!strstr(rmig_error_get_last(), *words))
			fail_msg("error \"%s\" lacks \"%s\"", rmig_error_get_last(), *words);
	}
	assert_int_equal(ram.nblocks, 2);
	rmig_ram_fini(&ram);
}

static void test_match_mismatch(void **state)
{
	struct wire w = {.n = 0};

	(void)state;
	whdr(&w, RMIG_STREAM_MAGIC, 1, 0, 2);
	wblock(&w, "pc.ram", 4096, PC_LEN * 2);
	wblock(&w, "vga.vram", 512, VGA_LEN);
	expect_mismatch(&w, (const char *const[]){"pc.ram", "131072", "65536", NULL});

	w.n = 0;
	whdr(&w, RMIG_STREAM_MAGIC, 1, 0, 2);
	wblock(&w, "pc.ram", 4096, PC_LEN);
	wblock(&w, "vga.vram", 4096, VGA_LEN);
	expect_mismatch(&w,
			(const char *const[]){"block 1", "page size 4096", "page size 512", NULL});

	w.n = 0;
	whdr(&w, RMIG_STREAM_MAGIC, 1, 0, 2);
	wblock(&w, "vga.vram", 512, VGA_LEN);
	wblock(&w, "pc.ram", 4096, PC_LEN);
	expect_mismatch(&w, (const char *const[]){"block 0", "vga.vram", "pc.ram", NULL});

	w.n = 0;
	whdr(&w, RMIG_STREAM_MAGIC, 1, 0, 1);
	wblock(&w, "pc.ram", 4096, PC_LEN);
	expect_mismatch(&w, (const char *const[]){"vga.vram", "8192", NULL});

	w.n = 0;
	whdr(&w, RMIG_STREAM_MAGIC, 1, 0, 3);
	wblock(&w, "pc.ram", 4096, PC_LEN);
	wblock(&w, "vga.vram", 512, VGA_LEN);
	wblock(&w, "rom", 4096, 4096);
	expect_mismatch(&w, (const char *const[]){"\"rom\"", "4096", NULL});
}

static void test_match_limit(void **state)
{
	struct wire w = {.n = 0};
	struct rmig_ram ram;

	(void)state;
	wstd(&w, 0);
	rmig_ram_init(&ram);
	rmig_load_set_max_ram(PC_LEN + VGA_LEN - 1);
	assert_int_equal(match(&w, &ram), -ENOMEM);
	assert_non_null(strstr(rmig_error_get_last(), "nothing was allocated"));
	assert_int_equal(ram.nblocks, 0);
	rmig_load_set_max_ram(PC_LEN + VGA_LEN);
	assert_int_equal(match(&w, &ram), 0);
	assert_int_equal(ram.nblocks, 2);
	rmig_ram_fini(&ram);

	/* By default a header cannot ask for more than the host's memory (128 TiB here). */
	rmig_load_set_max_ram(0);
	w.n = 0;
	whdr(&w, RMIG_STREAM_MAGIC, 1, 0, 2);
	wblock(&w, "small", 4096, 4096);
	wblock(&w, "huge", 1u << 30, 1ull << 47);
	rmig_ram_init(&ram);
	assert_int_equal(match(&w, &ram), -ENOMEM);
	assert_int_equal(ram.nblocks, 0);
	rmig_ram_fini(&ram);
}

static void test_checksums(void **state)
{
	struct rmig_ram ram;
	uint64_t sums[2];
	struct rmig_ramblock *a, *b;

	(void)state;
	rmig_ram_init(&ram);
	assert_int_equal(rmig_ram_alloc(&ram, "a", 8192, 4096, &a), 0);
	assert_int_equal(rmig_ram_alloc(&ram, "b", 4096, 512, &b), 0);
	memset(a->host, 0x5a, 8192);
	b->host[100] = 1;
	rmig_ram_checksums(&ram, sums);
	assert_true(sums[0] == rmig_checksum(a->host, 8192, 0));
	assert_true(sums[1] == rmig_checksum(b->host, 4096, 0));
	assert_true(sums[0] != sums[1]);
	rmig_ram_fini(&ram);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_quiet, teardown_quiet)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_match_allocates_when_empty),
	    T(test_match_mismatch),
	    T(test_match_limit),
	    T(test_checksums),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
