/* SPDX-License-Identifier: MIT */
/*
 * The control channel's full-size rings (ctrl.h: 14 receive and 8 send
 * buffers of 512 KiB), mapped and faulted in ahead of a connection.
 *
 * Registering the rings pins them, and pinning pages never touched means
 * the kernel allocates and zeroes each first: for these 11 MiB that was
 * 30-40 ms per side under soft-RoCE, most of a destination's accept and
 * so of the source's setup-time.  A destination faults them in before it
 * waits for a source (the listener keeps them across accept slices), a
 * source on a helper thread while rdma_cm resolves (open.c); the
 * registration at connect then only pins resident pages.
 */
#ifndef RMIG_RDMA_RINGS_H
#define RMIG_RDMA_RINGS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rmig_rdma_rings {
	uint8_t *recv, *send; /* NULL: not prepared */
};

/* @len bytes of fresh private anonymous memory, page-aligned; NULL when none. */
void *rmig_rdma_rings_map(size_t len);

/*
 * Map and fault in @r.  0, or a negative errno (reported at debug level
 * only: rmig_rdma_ctrl_init() then maps them at connect, as without).
 */
int rmig_rdma_rings_prepare(struct rmig_rdma_rings *r);
/* Unmap what @r still holds; safe on an empty one. */
void rmig_rdma_rings_release(struct rmig_rdma_rings *r);

/* rmig_rdma_rings_prepare() on a helper thread. */
struct rmig_rdma_rings_job {
	pthread_t thread;
	bool started;
	struct rmig_rdma_rings *rings;
};

/*
 * Start preparing @r; without a thread (none could be started) nothing is
 * prepared and the registration faults the pages in, as without.  The
 * thread takes no signals: those are the embedder's threads' business.
 */
void rmig_rdma_rings_job_start(struct rmig_rdma_rings_job *j, struct rmig_rdma_rings *r);
/* Wait for the job, if one runs; safe on a NULL or finished one. */
void rmig_rdma_rings_job_join(struct rmig_rdma_rings_job *j);

#endif /* RMIG_RDMA_RINGS_H */
