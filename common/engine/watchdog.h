/* SPDX-License-Identifier: MIT */
/*
 * A deadline for a blocking transport call.  The transport ABI's calls
 * block, and abort() is the one thing that makes them return from another
 * thread, so a deadline is a thread that aborts the connection when it
 * passes.  Arm it around the wait, disarm it after.
 */
#ifndef RMIG_WATCHDOG_H
#define RMIG_WATCHDOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <rmig/transport.h>

struct rmig_watchdog {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	struct rmig_conn *conn;
	uint64_t deadline_ns;
	bool disarmed, fired;
	bool started; /* false: armed with no deadline */
};

/*
 * Abort @c unless disarmed within @timeout_ms; 0 means no deadline, and
 * starts nothing.  -errno (reported) if no thread could start.
 */
int rmig_watchdog_arm(struct rmig_watchdog *w, struct rmig_conn *c, uint64_t timeout_ms);
/* Stop the watchdog and join it; returns true if it fired. */
bool rmig_watchdog_disarm(struct rmig_watchdog *w);

#endif /* RMIG_WATCHDOG_H */
