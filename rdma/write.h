/* SPDX-License-Identifier: MIT */
/*
 * The write engine: merges the pages the migration thread hands over into
 * RDMA WRITEs (contiguous, one block, never crossing a chunk end: chunk.h's
 * rules) and posts them with a bounded number outstanding and selective
 * signalling (every Nth WRITE, the WRITE that brings the unsignalled bytes
 * to RMIG_RDMA_SIGNAL_BYTES, and any WRITE posted by a flush is signalled;
 * an RC send queue completes in order, so one completion retires every
 * earlier WRITE).
 *
 * Where a WRITE goes is not this file's business: at flush time it asks
 * the resolver (the source's registration logic), which either fills in
 * local and remote keys or takes the run itself (COMPRESS for an all-zero
 * unregistered chunk) and says so.  Keeps this testable through the fake
 * glue.
 *
 * Nor is waiting: it blocks through the wait callback, and hears of
 * completions by rmig_rdma_writer_complete(), which its owner (source.c)
 * registers with the progress engine.  A WRITE's wr_id is its sequence
 * number in that engine's encoding (progress.h).
 */
#ifndef RMIG_RDMA_WRITE_H
#define RMIG_RDMA_WRITE_H

#include <stdbool.h>
#include <stdint.h>

#include <infiniband/verbs.h>

#include "rdma/chunk.h"

#define RMIG_RDMA_MAX_OUTSTANDING 64
#define RMIG_RDMA_SIGNAL_EVERY 16
/*
 * A lane counts as cut after a peer-timeout without a completion, so the
 * wait for one must be short however slow the path: less than this goes
 * unsignalled before a signalled WRITE, so a wait needs at most this and
 * one WRITE (a chunk) to cross.  16 WRITEs of a 1 MiB chunk each took
 * 16 MiB, 1.6 s at 10 MB/s, too close to a short peer-timeout.
 */
#define RMIG_RDMA_SIGNAL_BYTES (4u << 20)

struct rmig_rdma_wtarget {
	uint64_t laddr;
	uint32_t lkey;
	uint64_t raddr;
	uint32_t rkey;
};

/*
 * Resolve @p to keys: 0 with @t filled, RMIG_RDMA_RESOLVED_TAKEN when the
 * resolver dealt with the run itself, or negative errno (reported).
 */
#define RMIG_RDMA_RESOLVED_TAKEN 1
typedef int (*rmig_rdma_resolve_fn)(void *opaque, const struct rmig_rdma_pending *p,
				    struct rmig_rdma_wtarget *t);
/* Block until at least one completion was processed (or fail). */
typedef int (*rmig_rdma_wait_fn)(void *opaque);

struct rmig_rdma_writer {
	struct ibv_qp *qp;
	uint32_t max_outstanding;
	uint32_t signal_every;
	rmig_rdma_resolve_fn resolve;
	rmig_rdma_wait_fn wait;
	void *opaque;
	struct rmig_rdma_pending pending;
	uint64_t pending_block_len;
	/*
	 * While a queue call flushes: the rest of the run it was given.
	 * Those pages are dirty but already cleared from the bitmap, so the
	 * resolver's look-ahead must learn about them here.
	 */
	struct rmig_rdma_pending rest;
	uint64_t posted;    /* WRITEs posted (a sequence number) */
	uint64_t completed; /* WRITEs known complete */
	uint32_t unsignalled;
	uint64_t unsignalled_bytes;
	struct rmig_rdma_wtarget last; /* where the last WRITE went (a fence's target) */
	/* statistics */
	uint64_t bytes_written;
	uint64_t signalled;
};

void rmig_rdma_writer_init(struct rmig_rdma_writer *w, struct ibv_qp *qp,
			   rmig_rdma_resolve_fn resolve, rmig_rdma_wait_fn wait, void *opaque);

/*
 * Queue [offset, offset + len) of @block (length @block_len) for writing:
 * merged into the pending WRITE when contiguous in the same chunk,
 * otherwise the pending WRITE is flushed first.  Runs crossing chunk
 * ends are split.
 */
int rmig_rdma_writer_queue(struct rmig_rdma_writer *w, uint32_t block, uint64_t block_len,
			   uint64_t offset, uint64_t len);

/* Post the pending WRITE; @last makes it signalled (end of a round). */
int rmig_rdma_writer_flush(struct rmig_rdma_writer *w, bool last);

/*
 * Wait until every posted WRITE completed.  The caller makes sure the last
 * work request on the send queue is signalled: a flush(last) WRITE, or a
 * control SEND posted after the WRITEs (every SEND is signalled and stamps
 * the WRITE count, so its completion retires them too).
 */
int rmig_rdma_writer_wait_all(struct rmig_rdma_writer *w);

/*
 * Wait until every posted WRITE completed, on a queue pair where no SEND
 * follows them (a data lane): when the last one posted was unsignalled,
 * a signalled zero-length WRITE to where it went goes after it first.
 * With @always, that zero-length WRITE goes even when nothing is
 * outstanding: the queue pair must prove it still reaches the peer.  A
 * zero-length WRITE reads and writes no memory, and the responder does
 * not check its key (IB spec C9-88), but the key of the last WRITE is
 * given anyway.
 */
int rmig_rdma_writer_fence(struct rmig_rdma_writer *w, bool always);
/* The posting half of rmig_rdma_writer_fence(): waits only for room in the window. */
int rmig_rdma_writer_fence_post(struct rmig_rdma_writer *w, bool always);

/* A signalled WRITE (or a later SEND) with sequence @seq completed. */
void rmig_rdma_writer_complete(struct rmig_rdma_writer *w, uint64_t seq);

/* Post one WRITE of @len bytes now (used by flush; exposed for tests). */
int rmig_rdma_writer_post(struct rmig_rdma_writer *w, const struct rmig_rdma_wtarget *t,
			  uint32_t len, bool force_signal);

#endif /* RMIG_RDMA_WRITE_H */
