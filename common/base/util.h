/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by every part of rmig: explicit byte order for wire
 * formats, time, and a few macros.  Nothing here allocates or fails.
 */
#ifndef RMIG_UTIL_H
#define RMIG_UTIL_H

#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define RMIG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define RMIG_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RMIG_MAX(a, b) ((a) > (b) ? (a) : (b))
#define RMIG_DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#define RMIG_ALIGN_UP(n, a) (((n) + (a) - 1) & ~((__typeof__(n))(a) - 1))
#define RMIG_IS_POW2(x) ((x) != 0 && ((x) & ((x) - 1)) == 0)
#define rmig_likely(x) __builtin_expect(!!(x), 1)
#define rmig_unlikely(x) __builtin_expect(!!(x), 0)
#define rmig_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define RMIG_NSEC_PER_SEC 1000000000ULL
#define RMIG_NSEC_PER_MSEC 1000000ULL

/* Monotonic clock in nanoseconds; all rmig timestamps use it. */
/* Best effort: O_NONBLOCK on @fd, so that waits on it are poll()s with deadlines. */
static inline void rmig_fd_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static inline uint64_t rmig_time_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * RMIG_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC, @ms from now: a deadline for a condition variable made by the next helper. */
static inline struct timespec rmig_timespec_in_ms(uint64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* A condition variable whose timed waits run on CLOCK_MONOTONIC, as rmig's deadlines do. */
static inline void rmig_cond_init_monotonic(pthread_cond_t *c)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
}

/*
 * Wire byte order.  Every multi-byte field that crosses a process boundary
 * is big-endian and goes through these helpers, so no struct is ever
 * memcpy'd onto the wire in host order by accident.  They take unaligned
 * pointers on purpose: wire buffers have no alignment guarantee.
 */
static inline void rmig_put_be16(void *p, uint16_t v)
{
	uint8_t *b = p;

	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static inline void rmig_put_be32(void *p, uint32_t v)
{
	v = __builtin_bswap32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void rmig_put_be64(void *p, uint64_t v)
{
	v = __builtin_bswap64(v);
	memcpy(p, &v, sizeof(v));
}

static inline uint16_t rmig_get_be16(const void *p)
{
	const uint8_t *b = p;

	return (uint16_t)((b[0] << 8) | b[1]);
}

static inline uint32_t rmig_get_be32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return __builtin_bswap32(v);
}

static inline uint64_t rmig_get_be64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return __builtin_bswap64(v);
}

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "rmig's byte-order helpers assume a little-endian host; add the big-endian variants"
#endif

#endif /* RMIG_UTIL_H */
