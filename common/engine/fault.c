/* SPDX-License-Identifier: MIT */
/*
 * Test-only fault injection: RMIG_FAULT="POINT:ACTION" (fault.h,
 * docs/switchover.md).  Compiled in so that the fault matrix drives the
 * very binaries that ship; inert unless the variable is set.
 *
 * A bad value is reported once, as an error, and ignored: failing the run
 * instead would need the hooks to return errors into the protocol paths
 * they watch.  The matrix still cannot pass on a typo, because it checks
 * for the "RMIG_FAULT: ... at ..." line printed when a fault fires.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <rmig/log.h>

#include "common/engine/fault.h"

enum fault_action {
	FAULT_KILL,
	FAULT_STOP,
	FAULT_CANCEL,
	FAULT_CORRUPT,
	FAULT_CUT,
	FAULT__COUNT,
};

enum fault_state {
	FAULT_UNPARSED,
	FAULT_INERT, /* unset, invalid, or already fired */
	FAULT_ARMED,
};

/*
 * "cut": after signalling the proxy, hold this side's thread this long, so
 * that the proxy has passed on what we wrote before the point and gone
 * silent before we write again.  A proxy, because closing our own socket
 * would be a clean close, not the silence of a pulled cable.
 */
#define FAULT_CUT_SETTLE_MS 300
/*
 * With RMIG_FAULT_CUT_ACK=PATH, after the settle, also wait (this long at
 * most) until the file PATH exists: the rdma fault matrix creates it once the link is down,
 * which under TCG can take longer than the settle time, and a COMMIT that
 * slipped out before the cut would make the cell a different experiment.
 */
#define FAULT_CUT_ACK_MAX_MS 10000
#define FAULT_CUT_ACK_POLL_MS 10

static const char *const point_names[RMIG_FAULT__COUNT] = {
    [RMIG_FAULT_SETUP] = "setup",
    [RMIG_FAULT_BULK] = "bulk",
    [RMIG_FAULT_DIRTY] = "dirty",
    [RMIG_FAULT_FINAL] = "final",
    [RMIG_FAULT_AFTER_TRAILER] = "after-trailer",
    [RMIG_FAULT_AFTER_COMMIT] = "after-commit",
};

static const char *const action_names[FAULT__COUNT] = {
    [FAULT_KILL] = "kill",	 [FAULT_STOP] = "stop", [FAULT_CANCEL] = "cancel",
    [FAULT_CORRUPT] = "corrupt", [FAULT_CUT] = "cut",
};

static pthread_once_t fault_once = PTHREAD_ONCE_INIT;
static _Atomic int fault_state = FAULT_UNPARSED;
static enum rmig_fault_point fault_point;
static enum fault_action fault_action;
static pid_t fault_proxy_pid;
/* Set when "final:corrupt" fired on the source; consumed by the trailer. */
static _Atomic bool fault_corrupt_pending;
/* The destination's cancel, seen at setup: the loader's hooks have none to pass. */
static rmig_fault_cancel_fn fault_dest_cancel;
static void *fault_dest_opaque;

static int fault_lookup(const char *const *names, int n, const char *s, size_t len)
{
	for (int i = 0; i < n; i++) {
		if (strlen(names[i]) == len && strncmp(names[i], s, len) == 0)
			return i;
	}
	return -1;
}

static void fault_parse(void)
{
	const char *v = getenv("RMIG_FAULT"), *colon, *proxy;
	int point, action;

	atomic_store(&fault_state, FAULT_INERT);
	if (!v || !*v)
		return;
	colon = strchr(v, ':');
	if (!colon) {
		rmig_log(RMIG_LOG_ERROR, "RMIG_FAULT=\"%s\" ignored: expected POINT:ACTION", v);
		return;
	}
	point = fault_lookup(point_names, RMIG_FAULT__COUNT, v, (size_t)(colon - v));
	action = fault_lookup(action_names, FAULT__COUNT, colon + 1, strlen(colon + 1));
	if (point < 0 || action < 0) {
		rmig_log(RMIG_LOG_ERROR,
			 "RMIG_FAULT=\"%s\" ignored: unknown %s (points: setup, bulk, dirty, "
			 "final, after-trailer, after-commit; actions: kill, stop, cancel, "
			 "corrupt, cut)",
			 v, point < 0 ? "point" : "action");
		return;
	}
	/* The trailer is the one thing a corrupt fault changes, and only the final round has it. */
	if (action == FAULT_CORRUPT && point != RMIG_FAULT_FINAL) {
		rmig_log(RMIG_LOG_ERROR, "RMIG_FAULT=\"%s\" ignored: corrupt applies only at final",
			 v);
		return;
	}
	if (action == FAULT_CUT) {
		proxy = getenv("RMIG_FAULT_PROXY");
		fault_proxy_pid = proxy ? (pid_t)atol(proxy) : 0;
		if (fault_proxy_pid <= 0) {
			rmig_log(RMIG_LOG_ERROR,
				 "RMIG_FAULT=\"%s\" ignored: cut needs RMIG_FAULT_PROXY, the pid "
				 "of the proxy that stops forwarding on SIGUSR1",
				 v);
			return;
		}
	}
	fault_point = (enum rmig_fault_point)point;
	fault_action = (enum fault_action)action;
	atomic_store(&fault_state, FAULT_ARMED);
}

static void fault_sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* True once, for the armed point: the caller then acts. */
static bool fault_fires(enum rmig_fault_point p)
{
	int armed = FAULT_ARMED;

	if (atomic_load_explicit(&fault_state, memory_order_relaxed) == FAULT_INERT)
		return false;
	pthread_once(&fault_once, fault_parse);
	if (atomic_load(&fault_state) != FAULT_ARMED || p != fault_point)
		return false;
	return atomic_compare_exchange_strong(&fault_state, &armed, FAULT_INERT);
}

static void fault_wait_cut_ack(void)
{
	const char *ack = getenv("RMIG_FAULT_CUT_ACK");
	long waited = 0;

	if (!ack || !*ack)
		return;
	while (access(ack, F_OK) != 0) {
		if (waited >= FAULT_CUT_ACK_MAX_MS) {
			rmig_log(RMIG_LOG_ERROR, "RMIG_FAULT: no cut acknowledged in %s after %d ms",
				 ack, FAULT_CUT_ACK_MAX_MS);
			return;
		}
		fault_sleep_ms(FAULT_CUT_ACK_POLL_MS);
		waited += FAULT_CUT_ACK_POLL_MS;
	}
}

/* What both sides do alike; false if the action is the side's own (cancel, corrupt). */
static bool fault_act_common(const char *side)
{
	rmig_log(RMIG_LOG_WARN, "RMIG_FAULT: %s at %s on the %s", action_names[fault_action],
		 point_names[fault_point], side);
	switch (fault_action) {
	case FAULT_KILL:
		raise(SIGKILL);
		return true;
	case FAULT_STOP:
		raise(SIGSTOP);
		rmig_log(RMIG_LOG_WARN, "RMIG_FAULT: the %s continues after SIGCONT", side);
		return true;
	case FAULT_CUT:
		if (kill(fault_proxy_pid, SIGUSR1))
			rmig_log(RMIG_LOG_ERROR,
				 "RMIG_FAULT: cannot signal the proxy (pid %ld): %s",
				 (long)fault_proxy_pid, strerror(errno));
		fault_sleep_ms(FAULT_CUT_SETTLE_MS);
		fault_wait_cut_ack();
		return true;
	default:
		return false;
	}
}

void rmig_fault_source(enum rmig_fault_point p, rmig_fault_cancel_fn cancel, void *opaque)
{
	if (!fault_fires(p) || fault_act_common("source"))
		return;
	if (fault_action == FAULT_CANCEL)
		cancel(opaque);
	else
		atomic_store(&fault_corrupt_pending, true);
}

void rmig_fault_dest(enum rmig_fault_point p, rmig_fault_cancel_fn cancel, void *opaque)
{
	/* Only a run with a destination fault armed remembers it; one destination per process. */
	if (cancel && p == RMIG_FAULT_SETUP &&
	    atomic_load_explicit(&fault_state, memory_order_relaxed) != FAULT_INERT) {
		fault_dest_cancel = cancel;
		fault_dest_opaque = opaque;
	}
	if (!fault_fires(p) || fault_act_common("destination"))
		return;
	if (!cancel) {
		cancel = fault_dest_cancel;
		opaque = fault_dest_opaque;
	}
	if (fault_action == FAULT_CANCEL && cancel)
		cancel(opaque);
	else
		rmig_log(RMIG_LOG_ERROR, "RMIG_FAULT: %s cannot apply on the destination",
			 action_names[fault_action]);
}

void rmig_fault_corrupt_trailer(uint64_t *sums, uint32_t n)
{
	if (!atomic_exchange(&fault_corrupt_pending, false))
		return;
	if (!sums || !n) {
		rmig_log(RMIG_LOG_ERROR,
			 "RMIG_FAULT: corrupt needs the verify capability (the trailer has no "
			 "checksum to flip)");
		return;
	}
	sums[0] ^= 1ULL << 20;
}
