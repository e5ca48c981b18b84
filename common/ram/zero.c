/* SPDX-License-Identifier: MIT */
/*
 * Zero-page detection.  Most non-zero pages differ from zero in their first
 * bytes, so every variant looks at the first 16 bytes before anything else;
 * the vector loops only run in full on pages that really are (almost) zero.
 *
 * Each vector variant reads the unaligned head and tail with unaligned
 * loads and the middle with aligned ones, never a byte outside the buffer.
 */
#include <stdint.h>
#include <string.h>

#include "common/base/util.h"
#include "common/ram/zero.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ZERO_HAVE_X86 1
#else
#define ZERO_HAVE_X86 0
#endif

bool rmig_buffer_is_zero_scalar(const void *buf, size_t len)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static inline uint64_t load64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint32_t load32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Up to 16 bytes, with overlapping word loads instead of a byte loop. */
static inline bool small_is_zero(const unsigned char *p, size_t len)
{
	if (len >= 8)
		return (load64(p) | load64(p + len - 8)) == 0;
	if (len >= 4)
		return (load32(p) | load32(p + len - 4)) == 0;
	return rmig_buffer_is_zero_scalar(p, len);
}

/* Word-wise version for targets without the x86 vector units. */
static bool __attribute__((unused)) is_zero_generic(const void *buf, size_t len)
{
	const unsigned char *p = buf, *end = p + len;
	uint64_t acc = 0;

	if (len <= 16)
		return small_is_zero(p, len);
	if (load64(p) | load64(p + 8))
		return false;
	for (p += 16; p + 32 <= end; p += 32) {
		acc = load64(p) | load64(p + 8) | load64(p + 16) | load64(p + 24);
		if (acc)
			return false;
	}
	for (; p + 8 <= end; p += 8)
		acc |= load64(p);
	return (acc | load64(end - 8)) == 0;
}

#if ZERO_HAVE_X86
static bool is_zero_sse2(const void *buf, size_t len)
{
	const unsigned char *p = buf, *end = p + len;
	const __m128i *v, *vend;
	__m128i acc;

	if (len <= 16)
		return small_is_zero(p, len);
	acc = _mm_loadu_si128((const __m128i *)(const void *)p);
	if (_mm_movemask_epi8(_mm_cmpeq_epi8(acc, _mm_setzero_si128())) != 0xffff)
		return false;
	/* Aligned middle from the first boundary after the head (it may re-read head bytes). */
	v = (const __m128i *)(const void *)(((uintptr_t)p + 16) & ~(uintptr_t)15);
	vend = (const __m128i *)(const void *)((uintptr_t)end & ~(uintptr_t)15);
	acc = _mm_setzero_si128();
	while (v + 4 <= vend) {
		acc = _mm_or_si128(_mm_or_si128(v[0], v[1]), _mm_or_si128(v[2], v[3]));
		if (_mm_movemask_epi8(_mm_cmpeq_epi8(acc, _mm_setzero_si128())) != 0xffff)
			return false;
		v += 4;
	}
	while (v < vend)
		acc = _mm_or_si128(acc, *v++);
	acc = _mm_or_si128(acc, _mm_loadu_si128((const __m128i *)(const void *)(end - 16)));
	return _mm_movemask_epi8(_mm_cmpeq_epi8(acc, _mm_setzero_si128())) == 0xffff;
}

__attribute__((target("avx2"))) static bool is_zero_avx2(const void *buf, size_t len)
{
	const unsigned char *p = buf, *end = p + len;
	const __m256i *v, *vend;
	__m256i acc;
	__m128i head;

	if (len <= 16)
		return small_is_zero(p, len);
	head = _mm_loadu_si128((const __m128i *)(const void *)p);
	if (!_mm_testz_si128(head, head))
		return false;
	if (len < 64)
		return is_zero_sse2(buf, len);
	/* A 32-byte head lets the aligned middle start inside (p, p + 32]. */
	acc = _mm256_loadu_si256((const __m256i *)(const void *)p);
	if (!_mm256_testz_si256(acc, acc))
		return false;
	v = (const __m256i *)(const void *)(((uintptr_t)p + 32) & ~(uintptr_t)31);
	vend = (const __m256i *)(const void *)((uintptr_t)end & ~(uintptr_t)31);
	acc = _mm256_setzero_si256();
	while (v + 4 <= vend) {
		acc = _mm256_or_si256(_mm256_or_si256(v[0], v[1]), _mm256_or_si256(v[2], v[3]));
		if (!_mm256_testz_si256(acc, acc))
			return false;
		v += 4;
	}
	while (v < vend)
		acc = _mm256_or_si256(acc, *v++);
	acc = _mm256_or_si256(acc, _mm256_loadu_si256((const __m256i *)(const void *)(end - 32)));
	return _mm256_testz_si256(acc, acc);
}
#endif

typedef bool (*is_zero_fn)(const void *buf, size_t len);

#if ZERO_HAVE_X86
static is_zero_fn is_zero_impl = is_zero_sse2; /* valid even before the constructor runs */
static const char *is_zero_name = "sse2";
#else
static is_zero_fn is_zero_impl = is_zero_generic;
static const char *is_zero_name = "generic";
#endif

__attribute__((constructor)) static void is_zero_select(void)
{
#if ZERO_HAVE_X86
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2")) {
		is_zero_impl = is_zero_avx2;
		is_zero_name = "avx2";
	}
#endif
}

bool rmig_buffer_is_zero(const void *buf, size_t len)
{
	return is_zero_impl(buf, len);
}

const char *rmig_buffer_is_zero_impl(void)
{
	return is_zero_name;
}

uint64_t rmig_zero_run_split(const void *pages, size_t page_size, uint64_t npages, bool *zero)
{
	const unsigned char *p = pages;
	uint64_t n;

	*zero = false;
	if (npages == 0)
		return 0;
	*zero = rmig_buffer_is_zero(p, page_size);
	for (n = 1; n < npages; n++)
		if (rmig_buffer_is_zero(p + n * page_size, page_size) != *zero)
			break;
	return n;
}

#define RMIG_ZERO_FILL_PIECE ((size_t)4096)

void rmig_zero_pages_apply(uint8_t *pages, size_t page_size, uint64_t npages)
{
	for (uint64_t i = 0; i < npages; i++, pages += page_size)
		if (!rmig_buffer_is_zero(pages, page_size))
			memset(pages, 0, page_size);
}

void rmig_zero_fill(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		/* Up to the next 4 KiB boundary: the smallest page a host can have. */
		size_t piece = RMIG_ZERO_FILL_PIECE - ((uintptr_t)p & (RMIG_ZERO_FILL_PIECE - 1));

		if (piece > len)
			piece = len;
		if (!rmig_buffer_is_zero(p, piece))
			memset(p, 0, piece);
		p += piece;
		len -= piece;
	}
}
