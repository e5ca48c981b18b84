/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/ram/checksum.h"

static void fill_pattern(unsigned char *p, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		p[i] = (unsigned char)(seed >> 56);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* All @n values distinct. */
static void assert_distinct(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	for (size_t i = 1; i < n; i++)
		assert_true(v[i] != v[i - 1]);
}

/*
 * The source and the destination may run different builds on different
 * hosts and must agree: these values pin the algorithm.  Changing them is
 * a wire-format change of the "verify" capability.
 */
static void test_known_answers(void **state)
{
	static unsigned char buf[4096];
	static const char fox[] = "The quick brown fox jumps over the lazy dog";

	(void)state;
	assert_int_equal(rmig_checksum("", 0, 0), 0xff246bbc423c2c96ULL);
	assert_int_equal(rmig_checksum(NULL, 0, 0), 0xff246bbc423c2c96ULL);
	assert_int_equal(rmig_checksum("abc", 3, 0), 0xed9f8795fdcfd611ULL);
	assert_int_equal(rmig_checksum(buf, 4096, 0), 0x3cf9129c5e857e01ULL);
	assert_int_equal(rmig_checksum(buf, 4096, 1), 0x2374745c1552efe7ULL);
	for (int i = 0; i < 1000; i++)
		buf[i] = (unsigned char)(i * 31 + 7);
	assert_int_equal(rmig_checksum(buf, 1000, 0x0123456789abcdefULL), 0x8b4045b51b7d5e63ULL);
	assert_int_equal(rmig_checksum(fox, 43, 0), 0x83d0b774e03d4ca8ULL);
}

static void test_alignment_independent(void **state)
{
	unsigned char *src = malloc(5000), *buf = malloc(5000 + 64);

	(void)state;
	assert_non_null(src);
	assert_non_null(buf);
	fill_pattern(src, 5000, 9);
	for (size_t len = 0; len < 5000; len = len < 80 ? len + 1 : len * 3 / 2) {
		uint64_t want = rmig_checksum(src, len, 5);

		for (size_t off = 1; off < 64; off++) {
			memcpy(buf + off, src, len);
			assert_int_equal(rmig_checksum(buf + off, len, 5), want);
		}
		assert_int_equal(rmig_checksum(src, len, 5), want); /* deterministic */
	}
	free(buf);
	free(src);
}

/*
 * Every single-bit flip changes the value (guaranteed by construction),
 * the flipped values are all different from one another, and on average
 * about half of the 64 output bits change.
 */
static void check_bit_flips(size_t len, size_t bit_step, uint64_t *out, double *avg_changed)
{
	unsigned char *p = malloc(len);
	uint64_t base;
	size_t n = 0;
	unsigned long changed = 0;

	assert_non_null(p);
	fill_pattern(p, len, len);
	base = rmig_checksum(p, len, 0);
	out[n++] = base;
	for (size_t bit = 0; bit < len * 8; bit += bit_step) {
		uint64_t h;

		p[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		h = rmig_checksum(p, len, 0);
		p[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		assert_true(h != base);
		changed += (unsigned long)__builtin_popcountll(h ^ base);
		out[n++] = h;
	}
	assert_distinct(out, n);
	*avg_changed = (double)changed / (double)(n - 1);
	free(p);
}

static void test_bit_flips(void **state)
{
	uint64_t *out = malloc((4096 * 8 + 1) * sizeof(*out));
	double avg, sum = 0;
	int rounds = 0;

	(void)state;
	assert_non_null(out);
	for (size_t len = 1; len <= 200; len++) {
		check_bit_flips(len, 1, out, &avg);
		sum += avg;
		rounds++;
	}
	check_bit_flips(4096, 1, out, &avg);
	assert_true(avg > 30.0 && avg < 34.0);
	check_bit_flips(4099, 3, out, &avg);
	assert_true(avg > 30.0 && avg < 34.0);
	check_bit_flips(65536 + 17, 61, out, &avg);
	assert_true(avg > 30.0 && avg < 34.0);
	assert_true(sum / rounds > 31.0 && sum / rounds < 33.0);
	free(out);
}

static void test_lengths_and_seeds(void **state)
{
	static unsigned char zeros[2048];
	uint64_t v[2049];

	(void)state;
	/* Zero-filled buffers differ only in length: the length is part of the sum. */
	for (size_t len = 0; len <= 2048; len++)
		v[len] = rmig_checksum(zeros, len, 0);
	assert_distinct(v, 2049);
	for (uint64_t seed = 0; seed < 2049; seed++)
		v[seed] = rmig_checksum(zeros, sizeof(zeros), seed);
	assert_distinct(v, 2049);
	/* Trailing zero bytes are not ignored. */
	assert_true(rmig_checksum("abc", 3, 0) != rmig_checksum("abc\0", 4, 0));
}

/* Swapping two 8-byte words, or two 32-byte stripes, must be noticed. */
static void test_reordering(void **state)
{
	unsigned char a[4096], b[4096];
	uint64_t ha;

	(void)state;
	fill_pattern(a, sizeof(a), 77);
	ha = rmig_checksum(a, sizeof(a), 0);
	for (size_t i = 0; i + 64 <= sizeof(a); i += 248) {
		memcpy(b, a, sizeof(a));
		memcpy(b + i, a + i + 32, 32);
		memcpy(b + i + 32, a + i, 32);
		assert_true(rmig_checksum(b, sizeof(b), 0) != ha);
		memcpy(b, a, sizeof(a));
		memcpy(b + i, a + i + 8, 8);
		memcpy(b + i + 8, a + i, 8);
		assert_true(rmig_checksum(b, sizeof(b), 0) != ha);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answers),
		cmocka_unit_test(test_alignment_independent),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_lengths_and_seeds),
		cmocka_unit_test(test_reordering),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
