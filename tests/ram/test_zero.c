/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

/*
 * The variants are static, and the start-up choice hides all but one of
 * them; include the source so every variant this CPU can run is checked.
 */
#include "common/ram/zero.c"

struct variant {
	const char *name;
	is_zero_fn fn;
};

static struct variant variants[4];
static size_t nvariants;

static int setup_variants(void **state)
{
	(void)state;
	variants[nvariants++] = (struct variant){"generic", is_zero_generic};
#if ZERO_HAVE_X86
	variants[nvariants++] = (struct variant){"sse2", is_zero_sse2};
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2"))
		variants[nvariants++] = (struct variant){"avx2", is_zero_avx2};
#endif
	/* And whatever the public entry point picked. */
	variants[nvariants++] = (struct variant){"public", rmig_buffer_is_zero};
	return 0;
}

static is_zero_fn is_zero;

#define MAXLEN 9000
#define GUARD 128

static void test_impl_name(void **state)
{
	const char *name = rmig_buffer_is_zero_impl();

	(void)state;
	assert_non_null(name);
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2"))
		assert_string_equal(name, "avx2");
	else
		assert_string_equal(name, "sse2");
#else
	assert_string_equal(name, "generic");
#endif
}

static void test_empty_and_tiny_one(void **state)
{
	static const unsigned char one = 1, zero;

	(void)state;
	assert_true(is_zero(NULL, 0));
	assert_true(rmig_buffer_is_zero_scalar(NULL, 0));
	assert_true(is_zero(&one, 0));
	assert_false(is_zero(&one, 1));
	assert_true(is_zero(&zero, 1));
}

/* Checks one window [off, off + len) of a buffer whose outside is all 0xff. */
static void check_window(unsigned char *buf, size_t off, size_t len, size_t pos_step)
{
	unsigned char *p = buf + GUARD + off;
	static const unsigned char vals[] = {0x01, 0x80, 0xff, 0x10};

	memset(buf, 0xff, GUARD + off);
	memset(p, 0, len);
	memset(p + len, 0xff, GUARD + 64);
	/* Any read outside the window would see 0xff and answer false. */
	assert_true(is_zero(p, len));
	assert_true(rmig_buffer_is_zero_scalar(p, len));
	for (size_t pos = 0; pos < len; pos += pos_step) {
		p[pos] = vals[pos % 4];
		assert_false(is_zero(p, len));
		assert_false(rmig_buffer_is_zero_scalar(p, len));
		p[pos] = 0;
	}
	if (len) {
		/* The very last byte is where tail handling goes wrong. */
		p[len - 1] = 0x02;
		assert_false(is_zero(p, len));
		p[len - 1] = 0;
		assert_true(is_zero(p, len));
	}
}

static void test_all_lengths_alignments_one(void **state)
{
	unsigned char *buf = malloc(MAXLEN + 2 * GUARD + 128);

	(void)state;
	assert_non_null(buf);
	for (size_t len = 0; len <= 300; len++)
		for (size_t off = 0; off < 64; off++)
			check_window(buf, off, len, 1);
	free(buf);
}

static void test_page_sizes_one(void **state)
{
	static const size_t lens[] = {511, 512, 513, 1000, 4095, 4096, 4097, 8191, 8192, MAXLEN};
	unsigned char *buf = malloc(MAXLEN + 2 * GUARD + 128);

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (size_t off = 0; off < 64; off += 3)
			check_window(buf, off, lens[i], 1 + lens[i] / 97);
	/* Every byte of a page, at one awkward alignment. */
	check_window(buf, 17, 4096, 1);
	free(buf);
}

/* Exact-size heap buffers, so AddressSanitizer flags any read past either end. */
static void test_exact_allocations_one(void **state)
{
	(void)state;
	for (size_t len = 1; len <= 600; len++) {
		unsigned char *p = calloc(1, len);

		assert_non_null(p);
		assert_true(is_zero(p, len));
		p[len - 1] = 3;
		assert_false(is_zero(p, len));
		p[len - 1] = 0;
		p[len / 2] = 0x40;
		assert_false(is_zero(p, len));
		free(p);
	}
}

static void test_random_against_scalar_one(void **state)
{
	unsigned char *buf = calloc(1, 1 << 16);
	uint64_t s = 42;
	int zeros = 0;

	(void)state;
	assert_non_null(buf);
	for (int k = 0; k < 20000; k++) {
		size_t off, len;
		int expect, got;

		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		off = (s >> 33) % 4096;
		len = (s >> 13) % 20000;
		/* Few, sparse non-zero bytes: many windows are all zero, many are not. */
		if (k % 8 == 0)
			buf[(s >> 40) % (1 << 16)] = (unsigned char)(s | 1);
		if (k % 50 == 49)
			memset(buf, 0, 1 << 16);
		expect = rmig_buffer_is_zero_scalar(buf + off, len);
		got = is_zero(buf + off, len);
		assert_int_equal(got, expect);
		zeros += expect;
	}
	/* Both answers were exercised many times. */
	assert_true(zeros > 2000 && zeros < 18000);
	free(buf);
}

static void test_empty_and_tiny(void **state)
{
	for (size_t i = 0; i < nvariants; i++) {
		print_message("variant %s\n", variants[i].name);
		is_zero = variants[i].fn;
		test_empty_and_tiny_one(state);
	}
}

static void test_all_lengths_alignments(void **state)
{
	for (size_t i = 0; i < nvariants; i++) {
		print_message("variant %s\n", variants[i].name);
		is_zero = variants[i].fn;
		test_all_lengths_alignments_one(state);
	}
}

static void test_page_sizes(void **state)
{
	for (size_t i = 0; i < nvariants; i++) {
		print_message("variant %s\n", variants[i].name);
		is_zero = variants[i].fn;
		test_page_sizes_one(state);
	}
}

static void test_exact_allocations(void **state)
{
	for (size_t i = 0; i < nvariants; i++) {
		print_message("variant %s\n", variants[i].name);
		is_zero = variants[i].fn;
		test_exact_allocations_one(state);
	}
}

static void test_random_against_scalar(void **state)
{
	for (size_t i = 0; i < nvariants; i++) {
		print_message("variant %s\n", variants[i].name);
		is_zero = variants[i].fn;
		test_random_against_scalar_one(state);
	}
}

/* Walks @npages pages the way the senders do: the (length, kind) of each sub-run. */
static size_t split_all(const unsigned char *pages, size_t page_size, uint64_t npages,
			uint64_t *len, bool *zero, size_t max)
{
	size_t nruns = 0;

	while (npages) {
		uint64_t n = rmig_zero_run_split(pages, page_size, npages, &zero[nruns]);

		assert_true(n >= 1 && n <= npages);
		assert_true(nruns < max);
		len[nruns++] = n;
		pages += n * page_size;
		npages -= n;
	}
	return nruns;
}

#define SPLIT_PAGE 4096

static void test_zero_run_split(void **state)
{
	unsigned char *buf = calloc(10, SPLIT_PAGE);
	uint64_t len[10];
	bool zero[10];
	size_t n;

	(void)state;
	assert_non_null(buf);
	/* Z Z D D D Z D Z, the data pages dirty only at their first, last, middle byte. */
	buf[2 * SPLIT_PAGE] = 1;
	buf[4 * SPLIT_PAGE - 1] = 0x80;
	buf[4 * SPLIT_PAGE + SPLIT_PAGE / 2] = 2;
	buf[7 * SPLIT_PAGE - 1] = 4;
	n = split_all(buf, SPLIT_PAGE, 8, len, zero, 10);
	assert_int_equal(n, 5);
	assert_int_equal(len[0], 2);
	assert_true(zero[0]);
	assert_int_equal(len[1], 3);
	assert_false(zero[1]);
	assert_int_equal(len[2], 1);
	assert_true(zero[2]);
	assert_int_equal(len[3], 1);
	assert_false(zero[3]);
	assert_int_equal(len[4], 1);
	assert_true(zero[4]);

	/* A run never goes past @npages, even when the next page is of its kind. */
	assert_int_equal(rmig_zero_run_split(buf, SPLIT_PAGE, 1, &zero[0]), 1);
	assert_true(zero[0]);
	assert_int_equal(rmig_zero_run_split(buf + 2 * SPLIT_PAGE, SPLIT_PAGE, 2, &zero[0]), 2);
	assert_false(zero[0]);
	/* Pages 0-1 are zero, page 2 is not: the limit, not page 2, ends it. */
	assert_int_equal(rmig_zero_run_split(buf, SPLIT_PAGE, 2, &zero[0]), 2);
	assert_true(zero[0]);

	/* Nothing to split. */
	zero[0] = true;
	assert_int_equal(rmig_zero_run_split(buf, SPLIT_PAGE, 0, &zero[0]), 0);
	assert_false(zero[0]);

	/* All zero, and all data: one run each. */
	memset(buf, 0, 10 * SPLIT_PAGE);
	n = split_all(buf, SPLIT_PAGE, 10, len, zero, 10);
	assert_int_equal(n, 1);
	assert_int_equal(len[0], 10);
	assert_true(zero[0]);
	for (size_t i = 0; i < 10; i++)
		buf[i * SPLIT_PAGE + i * 7] = 0x11;
	n = split_all(buf, SPLIT_PAGE, 10, len, zero, 10);
	assert_int_equal(n, 1);
	assert_int_equal(len[0], 10);
	assert_false(zero[0]);

	/* Alternating single pages, at a page size that is not a power of two. */
	memset(buf, 0, 10 * SPLIT_PAGE);
	for (size_t i = 1; i < 10; i += 2)
		buf[i * 1000 + 999] = 9;
	n = split_all(buf, 1000, 10, len, zero, 10);
	assert_int_equal(n, 10);
	for (size_t i = 0; i < 10; i++) {
		assert_int_equal(len[i], 1);
		assert_int_equal(zero[i], i % 2 == 0);
	}
	free(buf);
}

/*
 * Every non-zero byte of the range is cleared, at any alignment and length,
 * and nothing around it is touched.
 */
static void test_zero_fill_clears_range(void **state)
{
	enum { AREA = 5 * 4096 + 300 };
	uint8_t *buf = malloc(AREA + 64);
	(void)state;

	assert_non_null(buf);
	for (size_t start = 0; start < 4200; start += 523) {
		for (size_t len = 0; start + len + 32 <= AREA; len = len * 3 + 777) {
			memset(buf, 0xa5, AREA + 64);
			/* some pieces already zero: they must come out zero too */
			memset(buf + start, 0, len / 2);
			rmig_zero_fill(buf + start, len);
			for (size_t i = 0; i < AREA + 64; i++) {
				bool inside = i >= start && i < start + len;

				if (buf[i] != (inside ? 0 : 0xa5))
					fail_msg("start %zu len %zu: byte %zu is %#x", start, len, i,
						 buf[i]);
			}
		}
	}
	free(buf);
}

/*
 * Neither applier writes to a page that is zero already: on a Debian
 * kernel a read of untouched anonymous memory maps the shared zero page,
 * so a fresh destination allocates nothing for the zero pages of a
 * mostly-empty guest.  The zero pages here are read-only, so a write
 * would be SIGSEGV; the pages holding data are writable and get cleared.
 */
static void test_zero_apply_writes_only_nonzero(void **state)
{
	const size_t page = (size_t)sysconf(_SC_PAGESIZE), npages = 64, len = npages * page;
	static const size_t data_pages[] = { 3, 4, 40, 63 };
	uint8_t *m;
	(void)state;

	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	for (size_t i = 0; i < sizeof(data_pages) / sizeof(data_pages[0]); i++)
		m[data_pages[i] * page + (i * 997) % page] = (uint8_t)(i + 1);
	for (size_t pg = 0; pg < npages; pg++) {
		bool data = false;

		for (size_t i = 0; i < sizeof(data_pages) / sizeof(data_pages[0]); i++)
			data |= data_pages[i] == pg;
		if (!data)
			assert_int_equal(mprotect(m + pg * page, page, PROT_READ), 0);
	}
	/* an unaligned range over pages 0..39 (page 40's data stays), then the rest */
	rmig_zero_fill(m + 100, 40 * page - 100);
	assert_int_equal(m[3 * page], 0);
	assert_int_equal(m[4 * page + 997], 0);
	assert_int_equal(m[40 * page + 1994], 3);
	rmig_zero_pages_apply(m + 40 * page, page, npages - 40);
	assert_true(rmig_buffer_is_zero(m, len));
	munmap(m, len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_impl_name),
		cmocka_unit_test(test_empty_and_tiny),
		cmocka_unit_test(test_all_lengths_alignments),
		cmocka_unit_test(test_page_sizes),
		cmocka_unit_test(test_exact_allocations),
		cmocka_unit_test(test_random_against_scalar),
		cmocka_unit_test(test_zero_run_split),
		cmocka_unit_test(test_zero_fill_clears_range),
		cmocka_unit_test(test_zero_apply_writes_only_nonzero),
	};

	return cmocka_run_group_tests(tests, setup_variants, NULL);
}
