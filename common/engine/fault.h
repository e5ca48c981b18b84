/* SPDX-License-Identifier: MIT */
/*
 * Test-only fault injection (docs/switchover.md, "Fault injection").
 *
 * RMIG_FAULT="POINT:ACTION" in the environment makes the process fail on
 * purpose the first time it reaches POINT, on whichever side it plays, so
 * that the fault matrix (tests/fault/) hits each protocol phase exactly
 * rather than by timing.  Unset, every hook is one relaxed atomic load.
 */
#ifndef RMIG_FAULT_H
#define RMIG_FAULT_H

#include <stdint.h>

/*
 * How the side that hit a point cancels itself, for the "cancel" action.
 * A callback, so that the fault code stays below the objects it is hooked
 * into and never calls up into them.
 */
typedef void (*rmig_fault_cancel_fn)(void *opaque);

enum rmig_fault_point {
	RMIG_FAULT_SETUP,	  /* source: connected, before the header; dest: accepted */
	RMIG_FAULT_BULK,	  /* the bulk round's first page (rdma dest: its hook), before it */
	RMIG_FAULT_DIRTY,	  /* source: first dirty round starts; dest: first END_OF_ROUND */
	RMIG_FAULT_FINAL,	  /* source: guest stopped, before the final round; dest: EOS */
	RMIG_FAULT_AFTER_TRAILER, /* source: trailer flushed; dest: RESULT(0) sent */
	RMIG_FAULT_AFTER_COMMIT,  /* source: after the commit CAS; dest: COMMIT received */
	RMIG_FAULT__COUNT,
};

/* The source reached @p.  Fires at most once per process. */
void rmig_fault_source(enum rmig_fault_point p, rmig_fault_cancel_fn cancel, void *opaque);

/*
 * The destination reached @p.  The loader has no way to cancel and passes
 * NULL: the one given at setup is used.
 */
void rmig_fault_dest(enum rmig_fault_point p, rmig_fault_cancel_fn cancel, void *opaque);

/* Just before the trailer goes out: flips one bit of a checksum if "final:corrupt" fired. */
void rmig_fault_corrupt_trailer(uint64_t *sums, uint32_t n);

#endif /* RMIG_FAULT_H */
