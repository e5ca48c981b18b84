/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rmig/log.h>

#include "common/ram/ram.h"

#define PS 4096u

static int quiet_errors;

static void quiet_sink(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
	quiet_errors++;
}

static int setup_quiet(void **state)
{
	(void)state;
	rmig_log_set_sink(quiet_sink, NULL);
	return 0;
}

static int teardown_quiet(void **state)
{
	(void)state;
	rmig_log_set_sink(NULL, NULL);
	return 0;
}

static uint64_t rng_state = 0x1234567;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Expects @ret from an add that must fail and leave @out and the table untouched. */
static void expect_add_fails(struct rmig_ram *ram, const char *name, void *host, uint64_t len,
			     uint32_t ps, int ret, const char *msg_part)
{
	struct rmig_ramblock *out = (struct rmig_ramblock *)(uintptr_t)0x1;
	uint32_t n = ram->nblocks;
	int before = quiet_errors;

	rmig_error_clear();
	assert_int_equal(rmig_ram_add(ram, name, host, len, ps, &out), ret);
	assert_ptr_equal(out, (struct rmig_ramblock *)(uintptr_t)0x1);
	assert_int_equal(ram->nblocks, n);
	assert_int_equal(quiet_errors, before + 1); /* reported exactly once */
	if (msg_part)
		assert_non_null(strstr(rmig_error_get_last(), msg_part));
}

static void test_add_validation(void **state)
{
	static char host[16 * 4096];
	struct rmig_ram ram;
	struct rmig_ramblock *b = NULL;
	char name[300];

	(void)state;
	rmig_ram_init(&ram);
	expect_add_fails(&ram, "", host, PS, PS, -EINVAL, "empty");
	memset(name, 'a', 256);
	name[256] = '\0';
	expect_add_fails(&ram, name, host, PS, PS, -EINVAL, "longer than 255");
	expect_add_fails(&ram, "bad\nname", host, PS, PS, -EINVAL, "non-printable");
	expect_add_fails(&ram, "bad\x80", host, PS, PS, -EINVAL, "non-printable");
	expect_add_fails(&ram, "x", host, 5000, PS, -EINVAL,
			 "length 5000 is not a multiple of the 4096-byte page size");
	expect_add_fails(&ram, "x", host, 0, PS, -EINVAL, "length 0");
	expect_add_fails(&ram, "x", host, 3 * PS, 3000, -EINVAL, "power of two");
	expect_add_fails(&ram, "x", host, 4096, 256, -EINVAL, "power of two");
	expect_add_fails(&ram, "x", host, 1ULL << 31, 1u << 31, -EINVAL, "power of two");
	expect_add_fails(&ram, "x", NULL, PS, PS, -EINVAL, "NULL");

	/* Boundaries that are valid. */
	name[255] = '\0';
	assert_int_equal(rmig_ram_add(&ram, name, host, PS, PS, &b), 0);
	assert_string_equal(b->name, name);
	assert_int_equal(rmig_ram_add(&ram, "small pages", host, 1024, 512, NULL), 0);
	assert_int_equal(rmig_ram_add(&ram, "~!", host, sizeof(host), PS, &b), 0);
	assert_int_equal(b->index, 2);
	assert_int_equal(b->npages, 16);
	assert_int_equal(b->page_shift, 12);
	assert_false(b->owned);
	expect_add_fails(&ram, "~!", host, PS, PS, -EEXIST, "already registered");
	assert_ptr_equal(rmig_ram_find(&ram, "~!"), b);
	assert_ptr_equal(rmig_ram_get_block(&ram, 2), b);
	assert_null(rmig_ram_get_block(&ram, 3));
	assert_null(rmig_ram_find(&ram, "nope"));
	assert_int_equal(rmig_ram_get_total_bytes(&ram), PS + 1024 + sizeof(host));
	rmig_ram_fini(&ram);
	assert_int_equal(ram.nblocks, 0);
	assert_null(ram.blocks);
}

static void test_too_many_blocks(void **state)
{
	static char host[512];
	struct rmig_ram ram;
	char name[32];

	(void)state;
	rmig_ram_init(&ram);
	for (unsigned i = 0; i < RMIG_RAM_MAX_BLOCKS; i++) {
		snprintf(name, sizeof(name), "b%u", i);
		assert_int_equal(rmig_ram_add(&ram, name, host, 512, 512, NULL), 0);
		assert_int_equal(ram.blocks[i]->index, i);
	}
	expect_add_fails(&ram, "one more", host, 512, 512, -E2BIG, "too many");
	rmig_ram_fini(&ram);
}

static void test_alloc(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b = NULL, *keep;
	int before;

	(void)state;
	rmig_ram_init(&ram);
	assert_int_equal(rmig_ram_alloc(&ram, "dst", 4u << 20, PS, &b), 0);
	assert_non_null(b);
	assert_true(b->owned);
	assert_int_equal(b->npages, 1024);
	for (uint64_t off = 0; off < b->length; off += PS)
		assert_int_equal(b->host[off], 0);
	b->host[b->length - 1] = 7; /* writable */
	keep = b;

	/* A size no address space has: -ENOMEM, reported with a human size. */
	before = quiet_errors;
	assert_int_equal(rmig_ram_alloc(&ram, "huge", 1ULL << 56, PS, &b), -ENOMEM);
	assert_ptr_equal(b, keep);
	assert_int_equal(quiet_errors, before + 1);
	assert_non_null(strstr(rmig_error_get_last(), "64.0 PiB"));
	assert_int_equal(ram.nblocks, 1);

	/* Validation happens before mapping. */
	assert_int_equal(rmig_ram_alloc(&ram, "dst", PS, PS, &b), -EEXIST);
	assert_int_equal(rmig_ram_alloc(&ram, "odd", 5000, PS, &b), -EINVAL);
	rmig_ram_fini(&ram);
}

static void test_truncate(void **state)
{
	static char host[4 * 4096];
	struct rmig_ram ram;
	struct rmig_ramblock *b = NULL;

	(void)state;
	rmig_ram_init(&ram);
	assert_int_equal(rmig_ram_add(&ram, "keep", host, sizeof(host), PS, NULL), 0);
	assert_int_equal(rmig_ram_add(&ram, "drop", host, sizeof(host), PS, NULL), 0);
	assert_int_equal(rmig_ram_alloc(&ram, "drop-owned", 1 << 20, PS, NULL), 0);
	rmig_ram_truncate(&ram, 5); /* beyond the end: nothing */
	assert_int_equal(ram.nblocks, 3);
	rmig_ram_truncate(&ram, 1);
	assert_int_equal(ram.nblocks, 1);
	assert_null(rmig_ram_find(&ram, "drop"));
	assert_non_null(rmig_ram_find(&ram, "keep"));
	/* The names are free again and indexes stay dense. */
	assert_int_equal(rmig_ram_add(&ram, "drop", host, sizeof(host), PS, &b), 0);
	assert_int_equal(b->index, 1);
	assert_int_equal(rmig_ram_get_total_bytes(&ram), 2 * sizeof(host));
	rmig_ram_fini(&ram);
}

/* A block of untouched mapped memory; the tracking code never reads it. */
static struct rmig_ramblock *add_block(struct rmig_ram *ram, const char *name, uint64_t npages)
{
	struct rmig_ramblock *b = NULL;

	assert_int_equal(rmig_ram_alloc(ram, name, npages * PS, PS, &b), 0);
	return b;
}

static uint64_t count_block(const struct rmig_ramblock *b)
{
	uint64_t n = 0;

	for (uint64_t p = 0; p < b->npages; p++)
		n += rmig_ramblock_test_page(b, p);
	return n;
}

static void test_mark_dirty_edges(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b;
	uint64_t run;

	(void)state;
	rmig_ram_init(&ram);
	b = add_block(&ram, "odd", 130);

	rmig_ram_mark_dirty(b, 100, 1); /* inside page 0 */
	assert_int_equal(rmig_ram_sync(&ram), 1);
	assert_true(rmig_ramblock_test_page(b, 0));
	assert_false(rmig_ramblock_test_page(b, 1));

	rmig_ram_mark_dirty(b, 2 * PS - 1, 2); /* straddles pages 1 and 2 */
	assert_int_equal(rmig_ram_sync(&ram), 2);
	assert_int_equal(count_block(b), 3);

	rmig_ram_mark_dirty(b, 5 * PS, 0);		 /* empty */
	rmig_ram_mark_dirty(b, 130 * PS, PS);		 /* just past the end */
	rmig_ram_mark_dirty(b, UINT64_MAX - 10, 100);	 /* far past, would overflow */
	assert_int_equal(rmig_ram_sync(&ram), 0);

	rmig_ram_mark_dirty(b, 129 * PS + 5, UINT64_MAX); /* clipped to the last page */
	assert_int_equal(rmig_ram_sync(&ram), 1);
	assert_true(rmig_ramblock_test_page(b, 129));
	assert_false(rmig_ramblock_test_page(b, 130)); /* out of range reads as clean */

	rmig_ram_mark_dirty(b, 60 * PS + 1, 11 * PS); /* pages 60..71, across word 0/1 */
	assert_int_equal(rmig_ram_sync(&ram), 12);
	assert_int_equal(rmig_ramblock_find_next_run(b, 3, 0, &run), 60);
	assert_int_equal(run, 12);

	rmig_ramblock_clear_pages(b, 0, 1000);
	assert_int_equal(rmig_ram_bitmap_count(&ram), 0);
	rmig_ram_mark_dirty(b, 0, UINT64_MAX); /* everything, spanning 3 words */
	assert_int_equal(rmig_ram_sync(&ram), 130);
	assert_int_equal(rmig_ram_bitmap_count(&ram), 130);
	assert_int_equal(rmig_ram_bitmap_bytes(&ram), 130 * PS);
	/* The unused bits of the last word stay clear in both bitmaps. */
	assert_int_equal(b->bitmap[2] >> 2, 0);
	rmig_ram_fini(&ram);
}

static void test_sync_moves_and_clears(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *a, *b;

	(void)state;
	rmig_ram_init(&ram);
	a = add_block(&ram, "a", 64);
	b = add_block(&ram, "b", 1000);

	assert_int_equal(rmig_ram_sync(&ram), 0);
	rmig_ram_mark_dirty(a, 0, PS);
	rmig_ram_mark_dirty(a, 0, PS); /* same page twice: one logged page */
	rmig_ram_mark_dirty(b, 999 * PS, PS);
	rmig_ram_mark_dirty(b, 500 * PS, 3 * PS);
	assert_int_equal(rmig_ram_bitmap_count(&ram), 0); /* not before sync */
	assert_int_equal(rmig_ram_sync(&ram), 5);
	assert_int_equal(rmig_ram_bitmap_count(&ram), 5);
	assert_int_equal(rmig_ram_sync(&ram), 0); /* the log is empty now */
	assert_int_equal(rmig_ram_bitmap_count(&ram), 5); /* and the bitmap kept */

	/* A page logged again while still in the bitmap is counted as logged. */
	rmig_ram_mark_dirty(a, 0, PS);
	assert_int_equal(rmig_ram_sync(&ram), 1);
	assert_int_equal(rmig_ram_bitmap_count(&ram), 5);

	rmig_ram_mark_dirty(b, 0, 10 * PS);
	rmig_ram_dirty_log_clear(&ram);
	assert_int_equal(rmig_ram_sync(&ram), 0);

	rmig_ram_bitmap_set_all(&ram);
	assert_int_equal(rmig_ram_bitmap_count(&ram), 1064);
	assert_int_equal(rmig_ram_bitmap_bytes(&ram), 1064 * PS);
	assert_int_equal(count_block(b), 1000);
	rmig_ram_fini(&ram);
}

/* Bit-at-a-time reference for next_run. */
static uint64_t ref_next_run(const struct rmig_ramblock *b, uint64_t start, uint64_t max,
			     uint64_t *n)
{
	uint64_t p = start, e;

	while (p < b->npages && !rmig_ramblock_test_page(b, p))
		p++;
	if (p >= b->npages) {
		*n = 0;
		return b->npages;
	}
	for (e = p; e < b->npages && rmig_ramblock_test_page(b, e) && (max == 0 || e - p < max);
	     e++)
		;
	*n = e - p;
	return p;
}

static void fill_random(struct rmig_ramblock *b, unsigned density_pct)
{
	rmig_ramblock_clear_pages(b, 0, b->npages);
	for (uint64_t p = 0; p < b->npages;) {
		/* Runs of random length make long and short runs both likely. */
		uint64_t len = 1 + rnd() % 80;

		if (rnd() % 100 < density_pct) {
			rmig_ram_mark_dirty(b, p * PS, len * PS);
		}
		p += len;
	}
}

static void test_next_run(void **state)
{
	static const uint64_t sizes[] = {1, 2, 63, 64, 65, 127, 128, 129, 130, 1000, 4097};
	struct rmig_ram ram;
	uint64_t n = 99;

	(void)state;
	rmig_ram_init(&ram);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char name[16];
		struct rmig_ramblock *b;

		snprintf(name, sizeof(name), "s%zu", i);
		b = add_block(&ram, name, sizes[i]);
		assert_int_equal(rmig_ramblock_find_next_run(b, 0, 0, &n), b->npages);
		assert_int_equal(n, 0);
		for (unsigned density = 0; density <= 100; density += 25) {
			fill_random(b, density);
			rmig_ram_sync(&ram);
			for (int k = 0; k < 300; k++) {
				uint64_t start = rnd() % (b->npages + 2);
				uint64_t max = rnd() % 4 == 0 ? 0 : 1 + rnd() % 200;
				uint64_t rn = 7, en = 7;
				uint64_t r = rmig_ramblock_find_next_run(b, start, max, &rn);
				uint64_t e = ref_next_run(b, start, max, &en);

				assert_int_equal(r, e);
				assert_int_equal(rn, en);
			}
		}
		/* Walking the bitmap run by run visits every set page exactly once. */
		fill_random(b, 50);
		rmig_ram_sync(&ram);
		{
			uint64_t expect = count_block(b), seen = 0, p = 0, len;

			while ((p = rmig_ramblock_find_next_run(b, p, 7, &len)) < b->npages) {
				assert_true(len >= 1 && len <= 7);
				seen += len;
				p += len;
			}
			assert_int_equal(seen, expect);
		}
	}
	rmig_ram_fini(&ram);
}

static void test_next_run_fixed(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b;
	uint64_t n;

	(void)state;
	rmig_ram_init(&ram);
	b = add_block(&ram, "odd", 130);
	rmig_ram_mark_dirty(b, 60 * PS, 70 * PS); /* 60..129, to the very end */
	rmig_ram_mark_dirty(b, 10 * PS, PS);
	rmig_ram_sync(&ram);
	assert_int_equal(rmig_ramblock_find_next_run(b, 0, 0, &n), 10);
	assert_int_equal(n, 1);
	assert_int_equal(rmig_ramblock_find_next_run(b, 11, 0, &n), 60);
	assert_int_equal(n, 70);
	assert_int_equal(rmig_ramblock_find_next_run(b, 11, 5, &n), 60);
	assert_int_equal(n, 5);
	assert_int_equal(rmig_ramblock_find_next_run(b, 64, 1000, &n), 64);
	assert_int_equal(n, 66);
	assert_int_equal(rmig_ramblock_find_next_run(b, 129, 0, &n), 129);
	assert_int_equal(n, 1);
	assert_int_equal(rmig_ramblock_find_next_run(b, 130, 0, &n), 130);
	assert_int_equal(n, 0);
	assert_int_equal(rmig_ramblock_find_next_run(b, UINT64_MAX, UINT64_MAX, &n), 130);
	assert_int_equal(n, 0);
	assert_int_equal(rmig_ramblock_find_next_run(b, 100, UINT64_MAX, &n), 100);
	assert_int_equal(n, 30);

	rmig_ramblock_clear_pages(b, 62, 4); /* across the word boundary */
	assert_int_equal(rmig_ramblock_find_next_run(b, 11, 0, &n), 60);
	assert_int_equal(n, 2);
	assert_int_equal(rmig_ramblock_find_next_run(b, 62, 0, &n), 66);
	assert_int_equal(n, 64);
	rmig_ramblock_clear_pages(b, 128, UINT64_MAX);
	assert_int_equal(rmig_ramblock_find_next_run(b, 66, 0, &n), 66);
	assert_int_equal(n, 62);
	rmig_ramblock_clear_pages(b, 130, 5); /* past the end: nothing */
	rmig_ramblock_clear_pages(b, 0, 0);
	assert_int_equal(rmig_ram_bitmap_count(&ram), 1 + 2 + 62);
	rmig_ram_fini(&ram);
}

static void test_clear_pages_random(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b;
	unsigned char ref[700];

	(void)state;
	rmig_ram_init(&ram);
	b = add_block(&ram, "c", 700);
	rmig_ram_bitmap_set_all(&ram);
	memset(ref, 1, sizeof(ref));
	for (int k = 0; k < 2000; k++) {
		uint64_t p = rnd() % 720, len = rnd() % 150;

		if (k % 200 == 0) {
			rmig_ram_bitmap_set_all(&ram);
			memset(ref, 1, sizeof(ref));
		}
		rmig_ramblock_clear_pages(b, p, len);
		for (uint64_t i = p; i < p + len && i < 700; i++)
			ref[i] = 0;
		for (uint64_t i = 0; i < 700; i++)
			assert_int_equal(rmig_ramblock_test_page(b, i), ref[i]);
	}
	rmig_ram_fini(&ram);
}

#define NWRITERS 4
#define CONC_PAGES 100003
#define MARKS_PER_WRITER 200000

struct conc_writer {
	struct rmig_ramblock *b;
	unsigned char *marked;
	uint64_t seed;
};

static _Atomic int writers_left;
static _Atomic int go;

static void *conc_writer_main(void *arg)
{
	struct conc_writer *w = arg;
	uint64_t s = w->seed;

	/* Start together, once the syncing side is already looping. */
	while (!atomic_load(&go))
		;
	for (int i = 0; i < MARKS_PER_WRITER; i++) {
		uint64_t p, n;

		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		p = (s >> 20) % CONC_PAGES;
		n = 1 + ((s >> 8) & 3); /* some multi-page ranges, some crossing words */
		rmig_ram_mark_dirty(w->b, p * PS, n * PS);
		for (uint64_t q = p; q < p + n && q < CONC_PAGES; q++)
			w->marked[q] = 1;
	}
	atomic_fetch_sub(&writers_left, 1);
	return NULL;
}

static void test_concurrent_no_loss(void **state)
{
	struct conc_writer w[NWRITERS];
	pthread_t t[NWRITERS];
	struct rmig_ram ram;
	struct rmig_ramblock *b;
	uint64_t syncs = 0, moved = 0;

	(void)state;
	rmig_ram_init(&ram);
	b = add_block(&ram, "conc", CONC_PAGES);
	atomic_store(&writers_left, NWRITERS);
	atomic_store(&go, 0);
	for (int i = 0; i < NWRITERS; i++) {
		w[i].b = b;
		w[i].marked = calloc(CONC_PAGES, 1);
		assert_non_null(w[i].marked);
		w[i].seed = 1000 + (uint64_t)i;
		assert_int_equal(pthread_create(&t[i], NULL, conc_writer_main, &w[i]), 0);
	}
	/* The migration side: sync concurrently with the writers. */
	atomic_store(&go, 1);
	while (atomic_load(&writers_left) > 0) {
		moved += rmig_ram_sync(&ram);
		syncs++;
	}
	for (int i = 0; i < NWRITERS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	moved += rmig_ram_sync(&ram);
	/* Not asserted: on a loaded host the writers may finish before a sync runs. */
	print_message("%" PRIu64 " syncs while writing\n", syncs);
	assert_true(moved >= rmig_ram_bitmap_count(&ram));
	for (uint64_t p = 0; p < CONC_PAGES; p++) {
		int any = 0;

		for (int i = 0; i < NWRITERS; i++)
			any |= w[i].marked[p];
		/* The bitmap is never cleared here, so it must equal the union exactly. */
		assert_int_equal(rmig_ramblock_test_page(b, p), any);
	}
	for (int i = 0; i < NWRITERS; i++)
		free(w[i].marked);
	rmig_ram_fini(&ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_validation),
		cmocka_unit_test(test_too_many_blocks),
		cmocka_unit_test(test_alloc),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_mark_dirty_edges),
		cmocka_unit_test(test_sync_moves_and_clears),
		cmocka_unit_test(test_next_run),
		cmocka_unit_test(test_next_run_fixed),
		cmocka_unit_test(test_clear_pages_random),
		cmocka_unit_test(test_concurrent_no_loss),
	};

	return cmocka_run_group_tests(tests, setup_quiet, teardown_quiet);
}
