/* SPDX-License-Identifier: MIT */
/*
 * What rmig needs from the program whose memory it migrates.  A hypervisor
 * maps these onto pausing and resuming vCPUs; rmig's synthetic guest onto
 * its writer threads.  All callbacks are invoked from the migration thread.
 */
#ifndef RMIG_EMBEDDER_H
#define RMIG_EMBEDDER_H

#ifdef __cplusplus
extern "C" {
#endif

struct rmig_embedder {
	void *opaque;
	/*
	 * Stop every writer and return only once none will write again until
	 * cont(), each writer's last rmig_ram_mark_dirty() done before the
	 * return (under a lock both take, say): the final round sends what the
	 * log holds then.
	 */
	void (*stop)(void *opaque);
	/* Let writers run again (after a cancel or failure on the source). */
	void (*cont)(void *opaque);
	/* Slow writers down: 0 = full speed, 99 = run 1% of the time.  Optional. */
	void (*throttle)(void *opaque, unsigned pct);
};

#ifdef __cplusplus
}
#endif

#endif /* RMIG_EMBEDDER_H */
