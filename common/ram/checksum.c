/* SPDX-License-Identifier: MIT */
/*
 * rmig's block checksum: four independent 64-bit lanes over 32-byte
 * stripes, so the multiplier pipelines stay full, then a merge that folds
 * in the length and a final avalanche.
 *
 * Every step is a bijection of the running state for fixed input, and of
 * the input word for a fixed state (xor, rotate, multiply by an odd
 * constant, right xorshift).  So two inputs of the same length that differ
 * in a single 8-byte word, or in any words that all feed the same lane,
 * always hash differently; only differences spread over several lanes can
 * collide, by chance.  That is the property the "verify" capability needs:
 * a lost or corrupted page changes the sum.
 *
 * Words are read with memcpy and interpreted little-endian (util.h refuses
 * big-endian hosts), so the value is the same everywhere.
 */
#include <stdint.h>
#include <string.h>

#include "common/base/util.h"
#include "common/ram/checksum.h"

#define CK_M1 0xbf363632327c3ef5ULL
#define CK_M2 0xf2e9dcd04ad12fb7ULL
#define CK_M3 0xe1d9f90368e98161ULL
#define CK_GOLDEN 0x9e3779b97f4a7c15ULL
#define CK_STRIPE 32

static inline uint64_t rotl64(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* One word into one lane; the rotation feeds the well-mixed top bits back into the low ones. */
static inline uint64_t lane_round(uint64_t acc, uint64_t v)
{
	return (rotl64(acc, 23) ^ (v * CK_M1)) * CK_M2;
}

/* One value into the merged state. */
static inline uint64_t fold(uint64_t h, uint64_t v)
{
	return (rotl64(h, 29) ^ (v * CK_M2)) * CK_M1;
}

static inline uint64_t avalanche(uint64_t x)
{
	x ^= x >> 31;
	x *= CK_M3;
	x ^= x >> 29;
	x *= CK_M2;
	x ^= x >> 32;
	return x;
}

uint64_t rmig_checksum(const void *buf, size_t len, uint64_t seed)
{
	const unsigned char *p = buf;
	size_t n = len;
	uint64_t h = seed ^ ((uint64_t)len * CK_M3) ^ CK_GOLDEN;

	if (n >= CK_STRIPE) {
		uint64_t a0 = seed + CK_GOLDEN, a1 = seed + 2 * CK_GOLDEN;
		uint64_t a2 = seed + 3 * CK_GOLDEN, a3 = seed + 4 * CK_GOLDEN;

		do {
			a0 = lane_round(a0, le64(p));
			a1 = lane_round(a1, le64(p + 8));
			a2 = lane_round(a2, le64(p + 16));
			a3 = lane_round(a3, le64(p + 24));
			p += CK_STRIPE;
			n -= CK_STRIPE;
		} while (n >= CK_STRIPE);
		h = fold(h, avalanche(a0));
		h = fold(h, avalanche(a1));
		h = fold(h, avalanche(a2));
		h = fold(h, avalanche(a3));
	}
	for (; n >= 8; n -= 8, p += 8)
		h = fold(h, le64(p));
	if (n) {
		/* Zero padding is unambiguous because the length is already in h. */
		uint64_t v = 0;

		memcpy(&v, p, n);
		h = fold(h, v);
	}
	return avalanche(h ^ seed);
}
