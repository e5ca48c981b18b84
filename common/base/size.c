/* SPDX-License-Identifier: MIT */
/* Byte sizes as people write and read them: "1G", "512 MiB". */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <rmig/log.h>

#include "common/base/size.h"
#include "common/base/util.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Fraction digits beyond this are dropped: 10^-18 of a TiB is far below a byte. */
#define FRAC_DIGITS_MAX 18

/* The rest of a size after the number: "", "B", or K/M/G/T with optional "iB" or "B". */
static bool parse_suffix(const char *s, unsigned *shift)
{
	static const char letters[] = "kmgt";
	const char *l;

	*shift = 0;
	if (*s && (l = strchr(letters, s[0] | 0x20)) != NULL) {
		*shift = 10 * (unsigned)(l - letters + 1);
		s++;
		if (strncasecmp(s, "ib", 2) == 0)
			s += 2;
		else if ((*s | 0x20) == 'b')
			s++;
	} else if ((*s | 0x20) == 'b') {
		s++;
	}
	return *s == '\0';
}

int rmig_size_parse(const char *s, uint64_t *out)
{
	uint64_t ipart = 0, frac = 0, frac_den = 1, value;
	unsigned frac_digits = 0, shift;
	bool overflow = false, has_frac = false;
	unsigned __int128 frac_bytes;
	const char *p = s;

	if (!s || !out) {
		rmig_error("invalid size: no text given");
		return -EINVAL;
	}
	if (*s == '-') {
		rmig_error("invalid size '%.64s': sizes cannot be negative", s);
		return -EINVAL;
	}
	if (!is_digit(*p))
		goto bad_syntax;
	/* Syntax first, so "99999999999999999999Q" is reported as junk, not as too large. */
	for (; is_digit(*p); p++)
		if (__builtin_mul_overflow(ipart, 10, &ipart) ||
		    __builtin_add_overflow(ipart, (uint64_t)(*p - '0'), &ipart))
			overflow = true;
	if (*p == '.') {
		p++;
		has_frac = true;
		if (!is_digit(*p))
			goto bad_syntax;
		for (; is_digit(*p); p++) {
			if (frac_digits == FRAC_DIGITS_MAX)
				continue;
			frac = frac * 10 + (uint64_t)(*p - '0');
			frac_den *= 10;
			frac_digits++;
		}
	}
	if (!parse_suffix(p, &shift))
		goto bad_syntax;
	if (has_frac && shift == 0) {
		rmig_error("invalid size '%.64s': a fraction needs a K, M, G or T suffix "
			   "(sizes are whole bytes)",
			   s);
		return -EINVAL;
	}

	if (overflow || ipart > (UINT64_MAX >> shift))
		goto too_large;
	/* frac_bytes < 2^shift and ipart << shift <= 2^64 - 2^shift, so the sum fits. */
	frac_bytes = ((unsigned __int128)frac << shift) / frac_den;
	value = (ipart << shift) + (uint64_t)frac_bytes;
	*out = value;
	return 0;

bad_syntax:
	rmig_error("invalid size '%.64s': expected a number with an optional K, M, G or T suffix",
		   s);
	return -EINVAL;
too_large:
	rmig_error("invalid size '%.64s': too large, the maximum is 16 EiB minus one byte", s);
	return -ERANGE;
}

/* Below this, exact byte counts read better ("4096 B" is a page, "4.00 KiB" is not). */
#define FORMAT_EXACT_BELOW 10240

const char *rmig_size_format(uint64_t bytes, char *buf, unsigned len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	unsigned u = 0;

	if (!buf || len == 0)
		return "";
	if (bytes < FORMAT_EXACT_BELOW) {
		snprintf(buf, len, "%" PRIu64 " B", bytes);
		return buf;
	}
	while (u + 1 < RMIG_ARRAY_SIZE(units) && bytes >> (10 * (u + 1)))
		u++;
	for (;;) {
		unsigned __int128 scaled = (unsigned __int128)bytes << 1; /* 2x for rounding */
		uint64_t unit = 1ULL << (10 * u), hundredths, tenths;

		hundredths = (uint64_t)((scaled * 100 / unit + 1) / 2);
		if (hundredths < 1000) {
			snprintf(buf, len, "%" PRIu64 ".%02" PRIu64 " %s", hundredths / 100,
				 hundredths % 100, units[u]);
			return buf;
		}
		tenths = (uint64_t)((scaled * 10 / unit + 1) / 2);
		/* 1023.96 MiB would round to "1024.0 MiB"; say "1.00 GiB" instead. */
		if (tenths >= 10240 && u + 1 < RMIG_ARRAY_SIZE(units)) {
			u++;
			continue;
		}
		snprintf(buf, len, "%" PRIu64 ".%" PRIu64 " %s", tenths / 10, tenths % 10,
			 units[u]);
		return buf;
	}
}

/* ---- parameters --------------------------------------------------------- */

/* A plain whole number, no sign, no blanks.  -EINVAL for junk, -ERANGE outside [min, max]. */
