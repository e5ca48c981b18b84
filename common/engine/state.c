/* SPDX-License-Identifier: MIT */
/*
 * The migration state machine.  See state.h for the diagram and the rules.
 *
 * Every transition takes the notify lock, so transitions are totally ordered
 * and listeners see them in exactly that order.  The state itself stays an
 * atomic so rmig_state_get() is lock-free for pollers (query-migrate, the
 * migration thread's "was I cancelled?" checks).
 */
#include "common/engine/state.h"

#include <errno.h>

#include <rmig/log.h>

#include "common/base/util.h"

static const char *const state_names[RMIG_STATE__COUNT] = {
	[RMIG_STATE_NONE] = "none",
	[RMIG_STATE_SETUP] = "setup",
	[RMIG_STATE_ACTIVE] = "active",
	[RMIG_STATE_CANCELLING] = "cancelling",
	[RMIG_STATE_COMPLETED] = "completed",
	[RMIG_STATE_FAILED] = "failed",
	[RMIG_STATE_CANCELLED] = "cancelled",
	[RMIG_STATE_IN_DOUBT] = "in-doubt",
};

#define EDGE(s) (1u << (s))

/* legal_next[from] is the set of states reachable in one step (the diagram). */
static const unsigned legal_next[RMIG_STATE__COUNT] = {
	[RMIG_STATE_NONE] = EDGE(RMIG_STATE_SETUP),
	[RMIG_STATE_SETUP] = EDGE(RMIG_STATE_ACTIVE) | EDGE(RMIG_STATE_FAILED) |
			     EDGE(RMIG_STATE_CANCELLING),
	[RMIG_STATE_ACTIVE] = EDGE(RMIG_STATE_COMPLETED) | EDGE(RMIG_STATE_FAILED) |
			      EDGE(RMIG_STATE_CANCELLING) | EDGE(RMIG_STATE_IN_DOUBT),
	[RMIG_STATE_CANCELLING] = EDGE(RMIG_STATE_CANCELLED) | EDGE(RMIG_STATE_FAILED) |
				  EDGE(RMIG_STATE_IN_DOUBT) | EDGE(RMIG_STATE_COMPLETED),
	[RMIG_STATE_IN_DOUBT] = EDGE(RMIG_STATE_COMPLETED) | EDGE(RMIG_STATE_FAILED),
};

static bool state_valid(enum rmig_state s)
{
	return (unsigned)s < RMIG_STATE__COUNT;
}

const char *rmig_state_get_name(enum rmig_state s)
{
	/* Never NULL: callers pass the result straight to "%s". */
	return state_valid(s) ? state_names[s] : "invalid";
}

bool rmig_state_is_terminal(enum rmig_state s)
{
	return s == RMIG_STATE_COMPLETED || s == RMIG_STATE_FAILED || s == RMIG_STATE_CANCELLED;
}

bool rmig_state_edge_is_legal(enum rmig_state from, enum rmig_state to)
{
	if (!state_valid(from) || !state_valid(to))
		return false;
	return (legal_next[from] & EDGE(to)) != 0;
}

void rmig_state_init(struct rmig_state_machine *sm)
{
	pthread_mutexattr_t attr;
	bool have_attr;

	atomic_init(&sm->state, RMIG_STATE_NONE);
	for (unsigned i = 0; i < RMIG_STATE__COUNT; i++)
		atomic_init(&sm->entered_ns[i], 0);
	sm->nlisteners = 0;
	for (unsigned i = 0; i < RMIG_STATE_MAX_LISTENERS; i++)
		sm->listeners[i] = (struct rmig_state_listener){0};

	/*
	 * Error-checking, so a listener that breaks the rule and transitions
	 * from inside its callback gets -EDEADLK instead of hanging the
	 * migration.  If the attribute cannot be set up, a plain mutex still
	 * gives correct behaviour for correct callers.
	 */
	have_attr = pthread_mutexattr_init(&attr) == 0;
	if (have_attr && pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK) != 0) {
		pthread_mutexattr_destroy(&attr);
		have_attr = false;
	}
	pthread_mutex_init(&sm->notify_lock, have_attr ? &attr : NULL);
	if (have_attr)
		pthread_mutexattr_destroy(&attr);
}

void rmig_state_destroy(struct rmig_state_machine *sm)
{
	pthread_mutex_destroy(&sm->notify_lock);
	sm->nlisteners = 0;
}

static int lock_notify(struct rmig_state_machine *sm, const char *what)
{
	int rc = pthread_mutex_lock(&sm->notify_lock);

	if (rc == EDEADLK)
		rmig_error("%s from inside a state listener: listeners must not change state",
			   what);
	else if (rc)
		rmig_error("%s: cannot take the state notify lock: %s", what, strerror(rc));
	return -rc;
}

int rmig_state_add_listener(struct rmig_state_machine *sm, rmig_state_listener_fn fn, void *opaque)
{
	int rc;

	if (!sm || !fn) {
		rmig_error("cannot add a state listener without a callback");
		return -EINVAL;
	}
	rc = lock_notify(sm, "adding a state listener");
	if (rc)
		return rc;
	if (sm->nlisteners >= RMIG_STATE_MAX_LISTENERS) {
		rmig_error("cannot add a state listener: all %u slots are in use",
			   RMIG_STATE_MAX_LISTENERS);
		rc = -ENOSPC;
		goto out_unlock;
	}
	sm->listeners[sm->nlisteners++] = (struct rmig_state_listener){.fn = fn, .opaque = opaque};
out_unlock:
	pthread_mutex_unlock(&sm->notify_lock);
	return rc;
}

int rmig_state_transition(struct rmig_state_machine *sm, enum rmig_state from, enum rmig_state to)
{
	int expected = (int)from;
	uint64_t now, old_ts;
	int rc;

	if (!sm) {
		rmig_error("state transition on a NULL state machine");
		return -EINVAL;
	}
	/* Checked before looking at the current state: a bad edge is a bug in the caller. */
	if (!rmig_state_edge_is_legal(from, to)) {
		rmig_error("illegal migration state change %s -> %s", rmig_state_get_name(from),
			   rmig_state_get_name(to));
		return -EINVAL;
	}
	rc = lock_notify(sm, "changing migration state");
	if (rc)
		return rc;

	/*
	 * Every writer holds the lock, so the state cannot move between this
	 * check and the CAS below; checking first lets the timestamp be
	 * published before the state, so a reader that sees the new state
	 * also sees when it was entered.
	 */
	if (atomic_load(&sm->state) != expected)
		goto out_busy;
	now = rmig_time_now_ns();
	if (now == 0)
		now = 1; /* 0 means "never entered" */
	old_ts = atomic_exchange(&sm->entered_ns[to], now);
	if (!atomic_compare_exchange_strong(&sm->state, &expected, (int)to)) {
		/* Someone wrote the state without the lock; do not leave a lie behind. */
		atomic_store(&sm->entered_ns[to], old_ts);
		goto out_busy;
	}

	for (unsigned i = 0; i < sm->nlisteners; i++)
		sm->listeners[i].fn(sm->listeners[i].opaque, from, to, now);
	pthread_mutex_unlock(&sm->notify_lock);
	return 0;

out_busy:
	pthread_mutex_unlock(&sm->notify_lock);
	/*
	 * Not reported as an error: losing a cancel/complete race is expected,
	 * and overwriting this thread's last error would hide the real cause
	 * of a failure from "error-desc".
	 */
	rmig_debug("migration state change %s -> %s skipped: state is %s", rmig_state_get_name(from),
		   rmig_state_get_name(to), rmig_state_get_name(rmig_state_get(sm)));
	return -EBUSY;
}

enum rmig_state rmig_state_get(const struct rmig_state_machine *sm)
{
	return (enum rmig_state)atomic_load(&sm->state);
}

uint64_t rmig_state_entered_ns(const struct rmig_state_machine *sm, enum rmig_state s)
{
	if (!state_valid(s))
		return 0;
	return atomic_load(&sm->entered_ns[s]);
}
