/* SPDX-License-Identifier: MIT */
/*
 * The migration state machine, shared by every transport.
 *
 *   none -> setup -> active -> completed
 *             |        |
 *             |        +----> failed
 *             +--> failed
 *   setup | active -> cancelling -> cancelled
 *                         +-------> failed
 *
 * A transition only happens from the state the caller expects (atomic
 * compare-and-swap), so a cancel racing with completion can never produce a
 * state that neither side asked for: whichever CAS lands first wins and the
 * other caller gets -EBUSY and sees the real state.
 *
 * Every successful transition is timestamped (monotonic ns) and then
 * announced to the listeners, in registration order.  Notifications are
 * serialised: a listener never sees B->C before A->B.  Listeners run on the
 * thread that made the transition, with the machine's notify lock held, so
 * they must be quick and must not call rmig_state_transition() themselves.
 */
#ifndef RMIG_STATE_H
#define RMIG_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rmig/state.h>

#define RMIG_STATE_MAX_LISTENERS 8

struct rmig_state_listener {
	rmig_state_listener_fn fn;
	void *opaque;
};

struct rmig_state_machine {
	_Atomic int state;
	/* Monotonic ns at which each state was last entered; 0 = never. */
	_Atomic uint64_t entered_ns[RMIG_STATE__COUNT];
	pthread_mutex_t notify_lock;
	unsigned nlisteners;
	struct rmig_state_listener listeners[RMIG_STATE_MAX_LISTENERS];
};

/* True if the edge from -> to is in the diagram above. */
bool rmig_state_edge_is_legal(enum rmig_state from, enum rmig_state to);

void rmig_state_init(struct rmig_state_machine *sm);
void rmig_state_destroy(struct rmig_state_machine *sm);

/* -ENOSPC when full, -EINVAL for a NULL fn. */
int rmig_state_add_listener(struct rmig_state_machine *sm, rmig_state_listener_fn fn, void *opaque);

/*
 * Move from @from to @to.  Returns 0 on success, -EINVAL if the edge is not
 * legal, -EBUSY if the current state is not @from (nothing changes then).
 */
int rmig_state_transition(struct rmig_state_machine *sm, enum rmig_state from, enum rmig_state to);

enum rmig_state rmig_state_get(const struct rmig_state_machine *sm);
/* When @s was last entered (monotonic ns), 0 if never. */
uint64_t rmig_state_entered_ns(const struct rmig_state_machine *sm, enum rmig_state s);

#endif /* RMIG_STATE_H */
