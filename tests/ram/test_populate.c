/* SPDX-License-Identifier: MIT */
/* rmig_mem_populate: resident afterwards, contents unchanged, slices cover everything. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/ram/populate.h"

#define MiB (1024ULL * 1024)

static long page_size(void)
{
	return sysconf(_SC_PAGESIZE);
}

static uint8_t *map(uint64_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	assert_true(p != MAP_FAILED);
	/* 4 KiB pages, so "resident" is judged page by page. */
	(void)madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

/* Pages of [p, p + len) that are resident. */
static uint64_t resident(const uint8_t *p, uint64_t len)
{
	uint64_t n = (len + page_size() - 1) / page_size(), i, count = 0;
	unsigned char *vec = malloc(n);

	assert_non_null(vec);
	assert_int_equal(mincore((void *)p, len, vec), 0);
	for (i = 0; i < n; i++)
		count += vec[i] & 1;
	free(vec);
	return count;
}

/* The kernel under test may predate MADV_POPULATE_WRITE (5.14): then there is nothing to test. */
static int populate_or_skip(void *p, uint64_t len, unsigned threads)
{
	int ret = rmig_mem_populate(p, len, threads);

	if (ret == -EOPNOTSUPP)
		skip();
	return ret;
}

static void test_fresh_memory_becomes_resident(void **state)
{
	const uint64_t len = 96 * MiB;
	uint8_t *p = map(len);
	uint64_t i;

	(void)state;
	assert_true(resident(p, len) < len / page_size() / 2);
	assert_int_equal(populate_or_skip(p, len, 3), 0);
	assert_int_equal(resident(p, len), len / page_size());
	for (i = 0; i < len; i += 4096)
		assert_int_equal(p[i], 0);
	munmap(p, len);
}

/* An odd length over many threads: the last, short slice is populated too. */
static void test_odd_length_all_slices(void **state)
{
	const uint64_t len = 64 * MiB + 3 * (uint64_t)page_size();
	uint8_t *p = map(len);

	(void)state;
	assert_int_equal(populate_or_skip(p, len, 8), 0);
	assert_int_equal(resident(p, len), len / page_size());
	/* and one page past a slice boundary in the middle */
	assert_int_equal(resident(p + 32 * MiB, page_size()), 1);
	munmap(p, len);
}

/* Memory with contents (a running guest's): populating changes no byte. */
static void test_contents_unchanged(void **state)
{
	const uint64_t len = 72 * MiB;
	uint8_t *p = map(len);
	uint64_t i;

	(void)state;
	/* every third page written, the rest never touched */
	for (i = 0; i < len; i += 3 * (uint64_t)page_size())
		memset(p + i, (int)(i / page_size()) | 1, page_size());
	assert_int_equal(populate_or_skip(p, len, 4), 0);
	assert_int_equal(resident(p, len), len / page_size());
	for (i = 0; i < len; i += (uint64_t)page_size()) {
		uint8_t want = (i / page_size()) % 3 == 0 ? (uint8_t)((i / page_size()) | 1) : 0;

		assert_int_equal(p[i], want);
		assert_int_equal(p[i + page_size() - 1], want);
	}
	munmap(p, len);
}

static void test_bad_arguments(void **state)
{
	uint8_t *p = map(4 * MiB);

	(void)state;
	assert_int_equal(rmig_mem_populate(NULL, 4096, 1), -EINVAL);
	assert_int_equal(rmig_mem_populate(p + 1, 4096, 1), -EINVAL);
	assert_int_equal(rmig_mem_populate(p, 0, 4), 0);
	assert_int_equal(resident(p, 4 * MiB), 0);
	/* 0 threads means the caller's thread alone, not nothing */
	assert_int_equal(populate_or_skip(p, 4 * MiB, 0), 0);
	assert_int_equal(resident(p, 4 * MiB), 4 * MiB / page_size());
	munmap(p, 4 * MiB);
}

/* A range that is not writable memory fails with an error, not silently. */
static void test_read_only_mapping_fails(void **state)
{
	uint8_t *p = map(4 * MiB);
	int ret;

	(void)state;
	assert_int_equal(mprotect(p, 4 * MiB, PROT_READ), 0);
	ret = rmig_mem_populate(p, 4 * MiB, 2);
	assert_true(ret < 0);
	munmap(p, 4 * MiB);
}

static void test_thread_count(void **state)
{
	unsigned n = rmig_populate_threads();

	(void)state;
	assert_true(n >= 1 && n <= 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fresh_memory_becomes_resident),
	    cmocka_unit_test(test_odd_length_all_slices),
	    cmocka_unit_test(test_contents_unchanged),
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_read_only_mapping_fails),
	    cmocka_unit_test(test_thread_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
