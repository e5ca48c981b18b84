/* SPDX-License-Identifier: MIT */
/* The migration state machine: edges, CAS semantics, notification order, races. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <rmig/log.h>

#include "common/engine/state.h"

#define N RMIG_STATE__COUNT

/* The diagram in state.h, written out independently of state.c. */
static const struct {
	enum rmig_state from, to;
} diagram[] = {
	{RMIG_STATE_NONE, RMIG_STATE_SETUP},
	{RMIG_STATE_SETUP, RMIG_STATE_ACTIVE},
	{RMIG_STATE_SETUP, RMIG_STATE_FAILED},
	{RMIG_STATE_SETUP, RMIG_STATE_CANCELLING},
	{RMIG_STATE_ACTIVE, RMIG_STATE_COMPLETED},
	{RMIG_STATE_ACTIVE, RMIG_STATE_FAILED},
	{RMIG_STATE_ACTIVE, RMIG_STATE_CANCELLING},
	{RMIG_STATE_CANCELLING, RMIG_STATE_CANCELLED},
	{RMIG_STATE_CANCELLING, RMIG_STATE_FAILED},
	{RMIG_STATE_ACTIVE, RMIG_STATE_IN_DOUBT},
	{RMIG_STATE_CANCELLING, RMIG_STATE_IN_DOUBT},
	{RMIG_STATE_CANCELLING, RMIG_STATE_COMPLETED},
	{RMIG_STATE_IN_DOUBT, RMIG_STATE_COMPLETED},
	{RMIG_STATE_IN_DOUBT, RMIG_STATE_FAILED},
};

static bool in_diagram(enum rmig_state from, enum rmig_state to)
{
	for (size_t i = 0; i < sizeof(diagram) / sizeof(diagram[0]); i++)
		if (diagram[i].from == from && diagram[i].to == to)
			return true;
	return false;
}

/* A legal path from none to each state (terminated by NONE, which is never a target). */
static const enum rmig_state path_to[N][4] = {
	[RMIG_STATE_NONE] = {RMIG_STATE_NONE},
	[RMIG_STATE_SETUP] = {RMIG_STATE_SETUP, RMIG_STATE_NONE},
	[RMIG_STATE_ACTIVE] = {RMIG_STATE_SETUP, RMIG_STATE_ACTIVE, RMIG_STATE_NONE},
	[RMIG_STATE_CANCELLING] = {RMIG_STATE_SETUP, RMIG_STATE_CANCELLING, RMIG_STATE_NONE},
	[RMIG_STATE_COMPLETED] = {RMIG_STATE_SETUP, RMIG_STATE_ACTIVE, RMIG_STATE_COMPLETED},
	[RMIG_STATE_FAILED] = {RMIG_STATE_SETUP, RMIG_STATE_FAILED, RMIG_STATE_NONE},
	[RMIG_STATE_CANCELLED] = {RMIG_STATE_SETUP, RMIG_STATE_CANCELLING, RMIG_STATE_CANCELLED},
	[RMIG_STATE_IN_DOUBT] = {RMIG_STATE_SETUP, RMIG_STATE_ACTIVE, RMIG_STATE_IN_DOUBT},
};

static void drive_to(struct rmig_state_machine *sm, enum rmig_state target)
{
	enum rmig_state cur = RMIG_STATE_NONE;

	for (int i = 0; i < 4 && path_to[target][i] != RMIG_STATE_NONE; i++) {
		assert_int_equal(rmig_state_transition(sm, cur, path_to[target][i]), 0);
		cur = path_to[target][i];
	}
	assert_int_equal(rmig_state_get(sm), target);
}

struct event {
	int listener;
	enum rmig_state from, to;
	uint64_t when;
};

/* No lock of its own: the machine promises listeners run serialised. */
struct recorder {
	unsigned n;
	struct event ev[256];
};

struct tagged {
	struct recorder *rec;
	int id;
};

static void record(void *opaque, enum rmig_state from, enum rmig_state to, uint64_t when)
{
	struct tagged *t = opaque;
	struct recorder *r = t->rec;

	if (r->n < sizeof(r->ev) / sizeof(r->ev[0]))
		r->ev[r->n] =
			(struct event){.listener = t->id, .from = from, .to = to, .when = when};
	r->n++;
}

static int quiet(void **state)
{
	(void)state;
	/* -EINVAL paths report errors; keep the test output readable. */
	rmig_log_set_level(RMIG_LOG_ERROR);
	rmig_log_set_sink(NULL, NULL);
	return 0;
}

static void discard_sink(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static void test_names(void **state)
{
	static const char *const want[N] = {"none",	 "setup",  "active",   "cancelling",
					    "completed", "failed", "cancelled", "in-doubt"};

	(void)state;
	for (int s = 0; s < N; s++)
		assert_string_equal(rmig_state_get_name((enum rmig_state)s), want[s]);
	assert_non_null(rmig_state_get_name((enum rmig_state)N));
	assert_non_null(rmig_state_get_name((enum rmig_state)-1));
}

static void test_terminal(void **state)
{
	(void)state;
	for (int s = 0; s < N; s++) {
		bool has_out_edge = false;

		for (int t = 0; t < N; t++)
			has_out_edge |= in_diagram((enum rmig_state)s, (enum rmig_state)t);
		/* Terminal == no way out, except NONE which simply has not started. */
		if (s == RMIG_STATE_NONE)
			assert_false(rmig_state_is_terminal((enum rmig_state)s));
		else
			assert_int_equal(rmig_state_is_terminal((enum rmig_state)s), !has_out_edge);
	}
}

static void test_edge_table_matches_diagram(void **state)
{
	(void)state;
	for (int f = 0; f < N; f++)
		for (int t = 0; t < N; t++)
			assert_int_equal(
				rmig_state_edge_is_legal((enum rmig_state)f, (enum rmig_state)t),
				in_diagram((enum rmig_state)f, (enum rmig_state)t));
	assert_false(rmig_state_edge_is_legal(RMIG_STATE_NONE, (enum rmig_state)N));
	assert_false(rmig_state_edge_is_legal((enum rmig_state)N, RMIG_STATE_SETUP));
	assert_false(rmig_state_edge_is_legal((enum rmig_state)-1, RMIG_STATE_SETUP));
}

/* Every (from, to) pair, starting from a machine actually in @from. */
static void test_every_pair(void **state)
{
	(void)state;
	rmig_log_set_sink(discard_sink, NULL);
	for (int f = 0; f < N; f++) {
		for (int t = 0; t < N; t++) {
			struct rmig_state_machine sm;
			uint64_t before;
			int rc;

			rmig_state_init(&sm);
			drive_to(&sm, (enum rmig_state)f);
			before = rmig_state_entered_ns(&sm, (enum rmig_state)t);

			rmig_error_clear();
			rc = rmig_state_transition(&sm, (enum rmig_state)f, (enum rmig_state)t);
			if (in_diagram((enum rmig_state)f, (enum rmig_state)t)) {
				assert_int_equal(rc, 0);
				assert_int_equal(rmig_state_get(&sm), t);
				assert_true(rmig_state_entered_ns(&sm, (enum rmig_state)t) > 0);
				assert_true(rmig_state_entered_ns(&sm, (enum rmig_state)t) >=
					    rmig_state_entered_ns(&sm, (enum rmig_state)f));
			} else {
				assert_int_equal(rc, -EINVAL);
				assert_int_equal(rmig_state_get(&sm), f);
				assert_int_equal(rmig_state_entered_ns(&sm, (enum rmig_state)t),
						 before);
				assert_string_not_equal(rmig_error_get_last(), "");
			}
			rmig_state_destroy(&sm);
		}
	}
	rmig_log_set_sink(NULL, NULL);
}

static void test_init_state(void **state)
{
	struct rmig_state_machine sm;

	(void)state;
	rmig_state_init(&sm);
	assert_int_equal(rmig_state_get(&sm), RMIG_STATE_NONE);
	for (int s = 0; s < N; s++)
		assert_int_equal(rmig_state_entered_ns(&sm, (enum rmig_state)s), 0);
	assert_int_equal(rmig_state_entered_ns(&sm, (enum rmig_state)N), 0);
	rmig_state_destroy(&sm);
}

/* A legal edge from the wrong current state: -EBUSY, nothing changes, nobody is told. */
static void test_cas_busy_changes_nothing(void **state)
{
	struct rmig_state_machine sm;
	struct recorder rec = {.n = 0};
	struct tagged tag = {.rec = &rec, .id = 0};
	uint64_t setup_ns;

	(void)state;
	rmig_state_init(&sm);
	assert_int_equal(rmig_state_add_listener(&sm, record, &tag), 0);

	assert_int_equal(rmig_state_transition(&sm, RMIG_STATE_SETUP, RMIG_STATE_ACTIVE), -EBUSY);
	assert_int_equal(rmig_state_get(&sm), RMIG_STATE_NONE);
	assert_int_equal(rmig_state_entered_ns(&sm, RMIG_STATE_ACTIVE), 0);
	assert_int_equal(rec.n, 0);

	drive_to(&sm, RMIG_STATE_ACTIVE);
	assert_int_equal(rec.n, 2);
	setup_ns = rmig_state_entered_ns(&sm, RMIG_STATE_SETUP);
	/* Second attempt at an edge already taken. */
	assert_int_equal(rmig_state_transition(&sm, RMIG_STATE_NONE, RMIG_STATE_SETUP), -EBUSY);
	assert_int_equal(rmig_state_get(&sm), RMIG_STATE_ACTIVE);
	assert_int_equal(rmig_state_entered_ns(&sm, RMIG_STATE_SETUP), setup_ns);
	assert_int_equal(rec.n, 2);
	rmig_state_destroy(&sm);
}

/* An illegal edge is -EINVAL even when the current state does not match either. */
static void test_illegal_checked_before_busy(void **state)
{
	struct rmig_state_machine sm;

	(void)state;
	rmig_log_set_sink(discard_sink, NULL);
	rmig_state_init(&sm);
	drive_to(&sm, RMIG_STATE_SETUP);
	assert_int_equal(rmig_state_transition(&sm, RMIG_STATE_NONE, RMIG_STATE_ACTIVE), -EINVAL);
	assert_int_equal(rmig_state_transition(&sm, RMIG_STATE_COMPLETED, RMIG_STATE_ACTIVE),
			 -EINVAL);
	assert_int_equal(rmig_state_transition(&sm, RMIG_STATE_SETUP, (enum rmig_state)N), -EINVAL);
	assert_int_equal(rmig_state_get(&sm), RMIG_STATE_SETUP);
	assert_int_equal(rmig_state_transition(NULL, RMIG_STATE_NONE, RMIG_STATE_SETUP), -EINVAL);
	rmig_state_destroy(&sm);
	rmig_log_set_sink(NULL, NULL);
}

static void test_listener_order_and_timestamps(void **state)
{
	struct rmig_state_machine sm;
	struct recorder rec = {.n = 0};
	struct tagged tags[3];
	static const enum rmig_state path[] = {RMIG_STATE_NONE, RMIG_STATE_SETUP,
					       RMIG_STATE_ACTIVE, RMIG_STATE_CANCELLING,
					       RMIG_STATE_FAILED};
	const unsigned nedges = sizeof(path) / sizeof(path[0]) - 1;

	(void)state;
	rmig_state_init(&sm);
	for (int i = 0; i < 3; i++) {
		tags[i] = (struct tagged){.rec = &rec, .id = i};
		assert_int_equal(rmig_state_add_listener(&sm, record, &tags[i]), 0);
	}
	for (unsigned e = 0; e < nedges; e++)
		assert_int_equal(rmig_state_transition(&sm, path[e], path[e + 1]), 0);

	assert_int_equal(rec.n, nedges * 3);
	for (unsigned e = 0; e < nedges; e++) {
		for (int l = 0; l < 3; l++) {
			const struct event *ev = &rec.ev[e * 3 + (unsigned)l];

			assert_int_equal(ev->listener, l);
			assert_int_equal(ev->from, path[e]);
			assert_int_equal(ev->to, path[e + 1]);
			/* Every listener sees the same time, the one stored for the state. */
			assert_int_equal(ev->when, rmig_state_entered_ns(&sm, path[e + 1]));
		}
		if (e > 0)
			assert_true(rec.ev[e * 3].when >= rec.ev[(e - 1) * 3].when);
	}
	rmig_state_destroy(&sm);
}

static void test_add_listener_errors(void **state)
{
	struct rmig_state_machine sm;
	struct recorder rec = {.n = 0};
	struct tagged tag = {.rec = &rec, .id = 0};

	(void)state;
	rmig_log_set_sink(discard_sink, NULL);
	rmig_state_init(&sm);
	assert_int_equal(rmig_state_add_listener(&sm, NULL, &tag), -EINVAL);
	for (int i = 0; i < RMIG_STATE_MAX_LISTENERS; i++)
		assert_int_equal(rmig_state_add_listener(&sm, record, &tag), 0);
	assert_int_equal(rmig_state_add_listener(&sm, record, &tag), -ENOSPC);
	/* The rejected ones were not added: exactly MAX notifications per edge. */
	drive_to(&sm, RMIG_STATE_SETUP);
	assert_int_equal(rec.n, RMIG_STATE_MAX_LISTENERS);
	rmig_state_destroy(&sm);
	rmig_log_set_sink(NULL, NULL);
}

struct reentrant {
	struct rmig_state_machine *sm;
	int rc;
	bool called;
};

static void reenter(void *opaque, enum rmig_state from, enum rmig_state to, uint64_t when)
{
	struct reentrant *r = opaque;

	(void)from;
	(void)when;
	if (to == RMIG_STATE_SETUP) {
		r->called = true;
		r->rc = rmig_state_transition(r->sm, RMIG_STATE_SETUP, RMIG_STATE_ACTIVE);
	}
}

/* Breaking the listener rule must fail loudly, not hang the migration. */
static void test_listener_must_not_transition(void **state)
{
	struct rmig_state_machine sm;
	struct reentrant r = {.sm = &sm};

	(void)state;
	rmig_log_set_sink(discard_sink, NULL);
	rmig_state_init(&sm);
	assert_int_equal(rmig_state_add_listener(&sm, reenter, &r), 0);
	assert_int_equal(rmig_state_transition(&sm, RMIG_STATE_NONE, RMIG_STATE_SETUP), 0);
	assert_true(r.called);
	assert_int_equal(r.rc, -EDEADLK);
	assert_int_equal(rmig_state_get(&sm), RMIG_STATE_SETUP);
	rmig_state_destroy(&sm);
	rmig_log_set_sink(NULL, NULL);
}

/* ---- races -------------------------------------------------------------- */

struct racer {
	struct rmig_state_machine *sm;
	pthread_barrier_t *go;
	enum rmig_state to;
	int rc;
};

static void *race_from_active(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->go);
	r->rc = rmig_state_transition(r->sm, RMIG_STATE_ACTIVE, r->to);
	return NULL;
}

static void test_cancel_vs_complete_race(void **state)
{
	(void)state;
	for (int iter = 0; iter < 500; iter++) {
		struct rmig_state_machine sm;
		struct recorder rec = {.n = 0};
		struct tagged tag = {.rec = &rec, .id = 0};
		pthread_barrier_t go;
		struct racer a = {.sm = &sm, .go = &go, .to = RMIG_STATE_CANCELLING};
		struct racer b = {.sm = &sm, .go = &go, .to = RMIG_STATE_COMPLETED};
		pthread_t ta, tb;

		rmig_state_init(&sm);
		assert_int_equal(rmig_state_add_listener(&sm, record, &tag), 0);
		drive_to(&sm, RMIG_STATE_ACTIVE);
		assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
		assert_int_equal(pthread_create(&ta, NULL, race_from_active, &a), 0);
		assert_int_equal(pthread_create(&tb, NULL, race_from_active, &b), 0);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		pthread_barrier_destroy(&go);

		/* Exactly one wins; the loser is told -EBUSY and the state is the winner's. */
		assert_true((a.rc == 0) != (b.rc == 0));
		assert_int_equal(a.rc == 0 ? b.rc : a.rc, -EBUSY);
		assert_int_equal(rmig_state_get(&sm), a.rc == 0 ? a.to : b.to);
		assert_int_equal(rec.n, 3);
		assert_int_equal(rec.ev[2].to, rmig_state_get(&sm));
		assert_int_equal(rmig_state_entered_ns(&sm, a.rc == 0 ? b.to : a.to), 0);
		rmig_state_destroy(&sm);
	}
}

struct chain_racer {
	struct rmig_state_machine *sm;
	pthread_barrier_t *go;
	unsigned successes;
	int unexpected_rc; /* cmocka asserts must stay on the main thread */
};

static const enum rmig_state chain[] = {RMIG_STATE_NONE, RMIG_STATE_SETUP, RMIG_STATE_ACTIVE,
					RMIG_STATE_CANCELLING, RMIG_STATE_CANCELLED};
#define CHAIN_EDGES (sizeof(chain) / sizeof(chain[0]) - 1)

/* Every thread tries every edge in turn, spinning until the machine gets there. */
static void *chain_thread(void *arg)
{
	struct chain_racer *r = arg;

	pthread_barrier_wait(r->go);
	for (unsigned e = 0; e < CHAIN_EDGES; e++) {
		for (;;) {
			int rc = rmig_state_transition(r->sm, chain[e], chain[e + 1]);
			enum rmig_state cur;

			if (rc == 0) {
				r->successes++;
				break;
			}
			if (rc != -EBUSY) {
				r->unexpected_rc = rc;
				return NULL;
			}
			cur = rmig_state_get(r->sm);
			/* Someone else moved past this edge already. */
			if (cur != chain[e])
				for (unsigned k = e + 1; k < CHAIN_EDGES + 1; k++)
					if (cur == chain[k])
						goto next_edge;
		}
next_edge:;
	}
	return NULL;
}

/* Notifications arrive in transition order even with many threads transitioning. */
static void test_notifications_serialised(void **state)
{
	enum { NTHREADS = 4 };

	(void)state;
	for (int iter = 0; iter < 200; iter++) {
		struct rmig_state_machine sm;
		struct recorder rec = {.n = 0};
		struct tagged tag = {.rec = &rec, .id = 0};
		pthread_barrier_t go;
		struct chain_racer racers[NTHREADS];
		pthread_t t[NTHREADS];
		unsigned total = 0;

		rmig_state_init(&sm);
		assert_int_equal(rmig_state_add_listener(&sm, record, &tag), 0);
		assert_int_equal(pthread_barrier_init(&go, NULL, NTHREADS), 0);
		for (int i = 0; i < NTHREADS; i++) {
			racers[i] = (struct chain_racer){.sm = &sm, .go = &go};
			assert_int_equal(pthread_create(&t[i], NULL, chain_thread, &racers[i]), 0);
		}
		for (int i = 0; i < NTHREADS; i++) {
			pthread_join(t[i], NULL);
			assert_int_equal(racers[i].unexpected_rc, 0);
			total += racers[i].successes;
		}
		pthread_barrier_destroy(&go);

		assert_int_equal(total, CHAIN_EDGES);
		assert_int_equal(rec.n, CHAIN_EDGES);
		for (unsigned e = 0; e < CHAIN_EDGES; e++) {
			assert_int_equal(rec.ev[e].from, chain[e]);
			assert_int_equal(rec.ev[e].to, chain[e + 1]);
			if (e > 0)
				assert_true(rec.ev[e].when >= rec.ev[e - 1].when);
		}
		assert_int_equal(rmig_state_get(&sm), RMIG_STATE_CANCELLED);
		rmig_state_destroy(&sm);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_terminal),
		cmocka_unit_test(test_edge_table_matches_diagram),
		cmocka_unit_test(test_init_state),
		cmocka_unit_test(test_every_pair),
		cmocka_unit_test(test_cas_busy_changes_nothing),
		cmocka_unit_test(test_illegal_checked_before_busy),
		cmocka_unit_test(test_listener_order_and_timestamps),
		cmocka_unit_test(test_add_listener_errors),
		cmocka_unit_test(test_listener_must_not_transition),
		cmocka_unit_test(test_cancel_vs_complete_race),
		cmocka_unit_test(test_notifications_serialised),
	};

	return cmocka_run_group_tests(tests, quiet, NULL);
}
