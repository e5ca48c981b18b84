/* SPDX-License-Identifier: MIT */
/*
 * The max-bandwidth limiter's arithmetic, kept apart from the migration
 * thread that sleeps on it so the rules can be tested on their own.
 *
 * Bytes are counted in slices (RMIG_RATELIMIT_SLICE_NS); a burst larger
 * than a slice carries its excess forward as debt, which the sender sleeps
 * off.  While there is no limit nothing is owed: the count starts afresh,
 * so a limit set live after a fast unlimited stretch does not bill that
 * stretch at the new rate (it used to stall the migration for the whole
 * "debt", long enough for the peer-timeout to end it).
 */
#ifndef RMIG_RATELIMIT_H
#define RMIG_RATELIMIT_H

#include <stdint.h>

/* Short enough that a limit is smooth, long enough to be cheap. */
#define RMIG_RATELIMIT_SLICE_NS (10ULL * 1000 * 1000)

struct rmig_ratelimit {
	uint64_t slice_start_ns;
	uint64_t slice_bytes; /* sent since slice_start_ns, debt included */
};

/* Nothing owed from @now_ns on. */
void rmig_ratelimit_reset(struct rmig_ratelimit *rl, uint64_t now_ns);
/* @bytes more went out. */
void rmig_ratelimit_add(struct rmig_ratelimit *rl, uint64_t bytes);
/*
 * How long to wait at @now_ns so that what went out keeps to @limit
 * bytes/s, or 0.  A @limit of 0 (none) forgives everything counted so far.
 * After waiting, the caller resets.
 */
uint64_t rmig_ratelimit_owed_ns(struct rmig_ratelimit *rl, uint64_t limit, uint64_t now_ns);

#endif /* RMIG_RATELIMIT_H */
