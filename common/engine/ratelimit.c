/* SPDX-License-Identifier: MIT */
/* The max-bandwidth limiter's arithmetic; see ratelimit.h. */
#include "common/engine/ratelimit.h"

static uint64_t bytes_in(uint64_t limit, uint64_t ns)
{
	return (uint64_t)((double)limit * (double)ns / 1e9);
}

void rmig_ratelimit_reset(struct rmig_ratelimit *rl, uint64_t now_ns)
{
	rl->slice_start_ns = now_ns;
	rl->slice_bytes = 0;
}

void rmig_ratelimit_add(struct rmig_ratelimit *rl, uint64_t bytes)
{
	rl->slice_bytes += bytes;
}

uint64_t rmig_ratelimit_owed_ns(struct rmig_ratelimit *rl, uint64_t limit, uint64_t now_ns)
{
	uint64_t elapsed, allowed, need_ns;

	if (!limit) {
		rmig_ratelimit_reset(rl, now_ns);
		return 0;
	}
	/* A clock read before the reset that came with a wait: nothing elapsed. */
	elapsed = now_ns > rl->slice_start_ns ? now_ns - rl->slice_start_ns : 0;
	if (elapsed >= RMIG_RATELIMIT_SLICE_NS) {
		/* Carry the debt forward so bursts larger than a slice are paid for. */
		allowed = bytes_in(limit, elapsed);
		rl->slice_bytes = rl->slice_bytes > allowed ? rl->slice_bytes - allowed : 0;
		rl->slice_start_ns = now_ns;
		elapsed = 0;
	}
	if (rl->slice_bytes <= bytes_in(limit, RMIG_RATELIMIT_SLICE_NS))
		return 0;
	/* Time the excess needs at the limit, less what the slice already took. */
	need_ns = (uint64_t)((double)rl->slice_bytes * 1e9 / (double)limit);
	return need_ns > elapsed ? need_ns - elapsed : 0;
}
