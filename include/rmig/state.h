/* SPDX-License-Identifier: MIT */
/*
 * The states of a migration, as QEMU's query-migrate names them.
 *
 *   none -> setup -> active -> completed
 *             |        |
 *             |        +----> failed
 *             +--> failed
 *   setup | active -> cancelling -> cancelled
 *                         +-------> failed
 *
 * and on the destination only, when the hand-over's last message was lost
 * (docs/switchover.md):
 *
 *   active | cancelling -> in-doubt -> completed | failed
 *
 * and a destination whose source committed completes even if a cancel
 * landed meanwhile (cancelling -> completed): the source has let go.
 *
 * In doubt, the workload runs on neither side and the destination keeps the
 * memory until rmig_incoming_resolve() says which way it went.
 *
 * Listeners see every transition, in order, on the thread that made it;
 * they must be quick and must not drive the migration themselves.
 */
#ifndef RMIG_PUBLIC_STATE_H
#define RMIG_PUBLIC_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include <rmig/defs.h>

#ifdef __cplusplus
extern "C" {
#endif

enum rmig_state {
	RMIG_STATE_NONE = 0,
	RMIG_STATE_SETUP,
	RMIG_STATE_ACTIVE,
	RMIG_STATE_CANCELLING,
	RMIG_STATE_COMPLETED,
	RMIG_STATE_FAILED,
	RMIG_STATE_CANCELLED,
	RMIG_STATE_IN_DOUBT, /* destination: received and verified, hand-over unconfirmed */
	RMIG_STATE__COUNT,
};

/* @when_ns is CLOCK_MONOTONIC. */
typedef void (*rmig_state_listener_fn)(void *opaque, enum rmig_state from, enum rmig_state to,
				       uint64_t when_ns);

/*
 * QEMU's spelling: "none", "setup", "active", "cancelling", "completed",
 * "failed", "cancelled"; and rmig's own "in-doubt".
 */
RMIG_API const char *rmig_state_get_name(enum rmig_state s);
/* Completed, failed or cancelled: no way out.  In doubt is not: a resolve ends it. */
RMIG_API bool rmig_state_is_terminal(enum rmig_state s);

#ifdef __cplusplus
}
#endif

#endif /* RMIG_PUBLIC_STATE_H */
