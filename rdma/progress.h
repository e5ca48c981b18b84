/* SPDX-License-Identifier: MIT */
/*
 * The progress engine: the one place a connection waits.  It polls both
 * CQs and hands each completion to its owner through the handlers the
 * owners registered (a SEND or a RECV to the message channel, a WRITE to
 * the write engine), follows the CM event channel for a peer that hangs
 * up, and watches the abort eventfd.
 *
 * It owns what is connection-wide rather than any one user's: the wr_id
 * encoding it dispatches on, the abort flag, the sticky error, and what it
 * learnt of the peer.  It knows nothing of message buffers, credits or
 * WRITE runs; its users depend on it, never the other way round.
 *
 * Waiting is poll() on the send CQ channel, the recv CQ channel, the CM
 * event channel and the abort eventfd.  The CQ loop is: get event ->
 * re-arm -> drain -> ack in batches.  IBV_WC_WR_FLUSH_ERR means the QP is
 * going down, not a new error.
 */
#ifndef RMIG_RDMA_PROGRESS_H
#define RMIG_RDMA_PROGRESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <infiniband/verbs.h>

#include "rdma/cm.h"
#include "rdma/res.h"

/*
 * wr_id of every work request on the QP: the kind in the top byte, so a
 * completion finds its owner, and the owner's value below (a control
 * buffer's index, a WRITE's sequence number).
 */
#define RMIG_RDMA_WRID_SEND (1ULL << 56)
#define RMIG_RDMA_WRID_RECV (2ULL << 56)
#define RMIG_RDMA_WRID_WRITE (3ULL << 56)
#define RMIG_RDMA_WRID_KIND(id) ((id) & (0xffULL << 56))
#define RMIG_RDMA_WRID_VALUE(id) ((id) & ((1ULL << 56) - 1))

/*
 * The SEND with wr_id value @value completed: @status is IBV_WC_SUCCESS,
 * or IBV_WC_WR_FLUSH_ERR while the QP goes down (other failures end the
 * round before any handler runs).
 */
typedef void (*rmig_rdma_send_done_fn)(void *opaque, uint64_t value,
				       enum ibv_wc_status status);
/*
 * The RECV with wr_id value @value completed with @byte_len bytes.
 * Negative errno (reported and latched by the handler) ends the round.
 */
typedef int (*rmig_rdma_recv_fn)(void *opaque, uint64_t value, uint32_t byte_len);
/* Is a SEND still awaiting its completion? */
typedef bool (*rmig_rdma_sends_pending_fn)(void *opaque);
/*
 * We have sent nothing for a keepalive interval: send a KEEPALIVE if flow
 * control allows (quietly skipped otherwise).  Negative errno (reported
 * and latched) ends the round.
 */
typedef int (*rmig_rdma_keepalive_fn)(void *opaque);
/* Every WRITE up to sequence number @seq completed. */
typedef void (*rmig_rdma_write_done_fn)(void *opaque, uint64_t seq);

/* The owner of the SENDs and RECVs on the QP (the message channel). */
struct rmig_rdma_progress_channel {
	rmig_rdma_send_done_fn on_send_done;
	rmig_rdma_recv_fn on_recv;
	rmig_rdma_sends_pending_fn sends_pending;
	rmig_rdma_keepalive_fn keepalive; /* NULL: never */
	void *opaque;
};

/*
 * Longest silence between our control messages once the peer reads
 * KEEPALIVEs: short enough for any peer-timeout of 1 s or more on the
 * other side, which we do not know (docs/rdma.txt section 16).
 */
#define RMIG_RDMA_KEEPALIVE_MAX_MS 250

struct rmig_rdma_progress {
	struct rmig_rdma_cm *cm;   /* its event channel tells of a peer that hangs up */
	struct rmig_rdma_res *res; /* the CQs and their completion channels */
	int abort_fd;		   /* eventfd; readable once aborted */
	atomic_bool aborted;
	int intr_fd;		   /* eventfd; readable while an interrupt waits to be taken */
	atomic_bool interrupted;
	bool interruptible;	   /* a reader waits: an interrupt ends its wait */
	int wake_fd;		   /* eventfd; a data lane's thread has news (lane.h) */
	int cancel_fd;		   /* the caller's eventfd while connecting, or -1 */
	int error;		   /* sticky -errno: the connection failed */
	bool peer_gone;		   /* DISCONNECTED seen or QP flushed */
	bool peer_error;	   /* the peer sent ERROR (set by whoever decodes it) */
	struct rmig_rdma_progress_channel chan;
	/* WRITE completions go to the write engine */
	rmig_rdma_write_done_fn on_write_done;
	void *write_opaque;
	const uint64_t *writes_posted; /* the engine's count of WRITEs posted */
	/*
	 * Liveness.  Only control traffic proves the peer's process runs: a
	 * frozen process still has its kernel ACK our WRITEs and SENDs.
	 */
	int peer_timeout_ms;   /* > 0: the silence after which waits fail; 0: none */
	int keepalive_ms;      /* > 0: send KEEPALIVE after this long without sending */
	uint64_t heard_ns;     /* last RECV completion or CM event */
	uint64_t bound_ns;     /* > 0: a set-up exchange must be over by then */
	int bound_ms;
	uint64_t sent_ns;      /* last control message posted */
	uint64_t keepalive_due_ns;
};

/*
 * Create the abort eventfd; nothing failed yet and no handler.  @cm and
 * @res are the connection's, polled once they are built.  Negative errno
 * (reported).
 */
int rmig_rdma_progress_init(struct rmig_rdma_progress *p, struct rmig_rdma_cm *cm,
			    struct rmig_rdma_res *res);
/* Close the abort eventfd. */
void rmig_rdma_progress_fini(struct rmig_rdma_progress *p);

/*
 * Abort the connection: a wait under way wakes up, and every check fails
 * with -ECANCELED from now on.  Safe from any thread, while another waits.
 */
void rmig_rdma_progress_abort(struct rmig_rdma_progress *p);
/*
 * While the connection is not yet handed to its caller, that caller can
 * only cancel through the eventfd it gave (rmig_conn_opts.cancel_fd): a
 * wait sees it readable and aborts, as rmig_rdma_progress_abort().  The
 * fd is only polled, never read, so every waiter on it sees it.  -1:
 * none (once connected, the transport's abort op does it).
 */
void rmig_rdma_progress_set_cancel_fd(struct rmig_rdma_progress *p, int fd);
/*
 * Any thread: end the message read waiting now, or the next one, once,
 * with -ECANCELED (rmig_rdma_ctrl_recv takes it); nothing else changes, so
 * sends still work.  The transport's interrupt slot.
 */
void rmig_rdma_progress_interrupt(struct rmig_rdma_progress *p);
/*
 * Any thread: end the wait under way now (or the next one) as a round in
 * which something happened.  A data lane's thread calls it when WRITEs
 * completed or failed, so a writer waiting for its window looks again.
 */
void rmig_rdma_progress_wake(struct rmig_rdma_progress *p);
/* True once per interrupt; the reader calls it. */
bool rmig_rdma_progress_take_interrupt(struct rmig_rdma_progress *p);

/* The message channel's handlers; @ch is copied. */
void rmig_rdma_progress_set_channel(struct rmig_rdma_progress *p,
				    const struct rmig_rdma_progress_channel *ch);

/*
 * The write engine: @done gets its WRITE completions, and @posted is its
 * running count of WRITEs posted, which a SEND takes as its mark (below).
 */
void rmig_rdma_progress_set_writer(struct rmig_rdma_progress *p, rmig_rdma_write_done_fn done,
				   void *opaque, const uint64_t *posted);

/*
 * WRITEs posted so far (0 without a write engine).  A SEND records it when
 * posted; when the SEND completes, rmig_rdma_progress_retire_writes() with
 * that mark tells the write engine they are done: an RC send queue
 * completes in order.
 */
uint64_t rmig_rdma_progress_posted_writes(const struct rmig_rdma_progress *p);
void rmig_rdma_progress_retire_writes(struct rmig_rdma_progress *p, uint64_t seq);

/*
 * Liveness, once the connection is up: every round fails with -ETIMEDOUT
 * (reported once) when nothing at all came from the peer for
 * @peer_timeout_ms (<= 0: no deadline); with @keepalive, the channel's
 * keepalive handler runs whenever we sent nothing for a quarter of it
 * (at most RMIG_RDMA_KEEPALIVE_MAX_MS).  Call only with a peer that sends
 * KEEPALIVEs: others may be silent for as long as they work.
 */
void rmig_rdma_progress_set_liveness(struct rmig_rdma_progress *p, int peer_timeout_ms,
				     bool keepalive);
/*
 * A new deadline from now on (<= 0: none), for a connection armed with a
 * keepalive: the keepalive interval stays, the peer relies on it.
 */
void rmig_rdma_progress_set_deadline(struct rmig_rdma_progress *p, int peer_timeout_ms);
/*
 * A set-up exchange must be over within @ms from now (<= 0: no bound):
 * every round fails with -ETIMEDOUT (reported once) after it, whatever
 * the peer sends meanwhile.  A KEEPALIVE, or any message, proves that its
 * process runs, not that the exchange goes anywhere.
 */
void rmig_rdma_progress_set_bound(struct rmig_rdma_progress *p, int ms);
/* The channel posted a message: the keepalive interval starts over. */
void rmig_rdma_progress_sent(struct rmig_rdma_progress *p);

/* Latch a failure of the connection: further calls fail with @err. */
void rmig_rdma_progress_fail(struct rmig_rdma_progress *p, int err);

/*
 * One round of progress: drain both CQs, send a KEEPALIVE when one is
 * due; if nothing happened and @block, wait for an event (never past the
 * deadline).  Returns 0, or -ECANCELED after abort, -ECONNRESET when the
 * peer is gone, -ECONNABORTED when it reported an error, -ETIMEDOUT when
 * it was silent for peer_timeout_ms (reported as happening while @what,
 * "waiting for a REGISTER RESULT"), -EIO / -EPROTO on failures (each
 * reported once).
 */
int rmig_rdma_progress_poll(struct rmig_rdma_progress *p, bool block, const char *what);

/*
 * Fault in [@addr, @addr + @len) (rmig_mem_populate, advisory) in pieces,
 * with a round of progress between them: a long pin-all must not look
 * like a frozen process to the peer, nor hide one from us.  Negative
 * errno only when the connection failed meanwhile.
 */
int rmig_rdma_progress_populate(struct rmig_rdma_progress *p, void *addr, uint64_t len,
				const char *what);

/*
 * A blocking round for a caller that cannot go on without progress; a
 * peer that went away or an abort is reported as happening while @what
 * ("waiting for a send buffer").
 */
int rmig_rdma_progress_wait(struct rmig_rdma_progress *p, const char *what);

/*
 * The connection's state without waiting: 0 while it may go on, else
 * -ECANCELED (aborted), the latched error, -ECONNABORTED (the peer sent
 * ERROR; reported) or -ECONNRESET (the peer is gone; not reported).
 */
int rmig_rdma_progress_check(struct rmig_rdma_progress *p);

/*
 * Wait (up to @timeout_ms) until the channel has no SEND pending, so a
 * disconnect cannot flush the last stream bytes away.  Quiet.
 */
int rmig_rdma_progress_flush_sends(struct rmig_rdma_progress *p, int timeout_ms);

#endif /* RMIG_RDMA_PROGRESS_H */
