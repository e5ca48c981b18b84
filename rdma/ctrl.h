/* SPDX-License-Identifier: MIT */
/*
 * The control channel: SEND/RECV of protocol messages over the QP and flow
 * control.  Waiting for anything (completions, credits, a message) is the
 * progress engine's (progress.h): the channel registers handlers for its
 * SEND and RECV completions with it, and shares its connection-wide state
 * (the abort flag, the sticky error, whether the peer left or sent ERROR).
 *
 * Flow control (QEMU v1): a message the peer did not ask for may only be
 * sent with a credit, and credits come in READY messages.  The receiver
 * has its RECV posted before it sends READY.  Responses (RAM_BLOCKS_RESULT,
 * REGISTER_RESULT, UNREGISTER_FINISHED, SEGMENTS_RESULT), READY and ERROR
 * need no credit: the other side keeps spare RECVs posted for them.  QEMU
 * grants one credit, lazily, when its receiver starts waiting; so do we
 * without RMIG_RDMA_CAP_CREDITS, which keeps a QEMU peer happy.
 *
 * CREDITS extension (both peers set RMIG_RDMA_CAP_CREDITS): the receiver
 * keeps RMIG_RDMA_CREDITS RECVs for unsolicited messages and grants them
 * in batches: READY.repeat is the number of credits granted (QEMU always
 * sends repeat = 1, the same meaning).  A peer never holds more than
 * RMIG_RDMA_CREDITS credits; more is a protocol error.  So stream bytes
 * flow without a round trip per message.
 *
 * KEEPALIVE extension (both set RMIG_RDMA_CAP_KEEPALIVE): sent by the
 * progress engine when we have sent nothing for a keepalive interval,
 * consumed (and its RECV reposted) by the receiver's progress engine; it
 * needs no credit and never reaches rmig_rdma_ctrl_recv().  At most
 * RMIG_RDMA_KEEPALIVE_WINDOW can wait for the peer to take them, and it
 * keeps that many more RECVs for them.
 *
 * An untrusted peer (a destination that requires authentication, before
 * the source proved the key: docs/rdma.txt section 17) gets none of the
 * full rings.  One page holds every buffer: RMIG_RDMA_PREAUTH_RECVS RECVs
 * of RMIG_RDMA_PREAUTH_MSG bytes, exactly the messages an honest source
 * sends before it is trusted (AUTH_CHALLENGE, AUTH_PROOF), granted one
 * credit at a time.  Released buffers are not posted again, so once both
 * are used no small RECV is left in the queue, and rmig_rdma_ctrl_trust()
 * puts the full rings behind them in order.  Anything longer than a small
 * buffer fails the connection with a length error; anything more waits
 * for a RECV that never comes until the exchange's deadline.
 */
#ifndef RMIG_RDMA_CTRL_H
#define RMIG_RDMA_CTRL_H

#include <stdbool.h>
#include <stdint.h>

#include "rdma/progress.h"
#include "rdma/res.h"
#include "rdma/rings.h"
#include "rdma/wire.h"

#define RMIG_RDMA_CREDITS 4 /* unsolicited messages in flight with CAP_CREDITS */
/*
 * Our KEEPALIVEs the peer may not have consumed yet, at most: the RECVs
 * each side reserves for them, so one always finds a buffer however long
 * the peer is busy.  It holds because a side sends a KEEPALIVE only after
 * it received one since its previous (the first is free), and the peer
 * likewise: then ours sent <= theirs received + 1 <= ours received + 2.
 * Acknowledging by KEEPALIVE.repeat instead can deadlock: both sides at
 * the limit, each holding the other's acknowledgement.
 */
#define RMIG_RDMA_KEEPALIVE_WINDOW 2
/* RECVs: our grants, the peer's READYs (each grants >= 1), responses, ERROR, KEEPALIVEs. */
#define RMIG_RDMA_RECV_BUFS (2 * RMIG_RDMA_CREDITS + 4 + RMIG_RDMA_KEEPALIVE_WINDOW)
#define RMIG_RDMA_SEND_BUFS (RMIG_RDMA_CREDITS + 4)
#define RMIG_RDMA_RECV_RING_BYTES ((size_t)RMIG_RDMA_RECV_BUFS * RMIG_RDMA_CONTROL_MAX)
#define RMIG_RDMA_SEND_RING_BYTES ((size_t)RMIG_RDMA_SEND_BUFS * RMIG_RDMA_CONTROL_MAX)
#define RMIG_RDMA_PAYLOAD_MAX (RMIG_RDMA_CONTROL_MAX - RMIG_RDMA_HDR_SIZE)
#define RMIG_RDMA_PREAUTH_RECVS 2
#define RMIG_RDMA_PREAUTH_MSG 256 /* bytes per buffer, header included */
#define RMIG_RDMA_PREAUTH_PAGE 4096

/* A received message, valid until rmig_rdma_ctrl_release(). */
struct rmig_rdma_msg {
	struct rmig_rdma_hdr hdr;
	const uint8_t *payload; /* hdr.len bytes */
	uint32_t buf;
};

struct rmig_rdma_ctrl {
	struct rmig_rdma_progress *prog; /* the connection's: waits, error, peer state */
	struct rmig_rdma_res *res;
	bool error_sent;      /* ERROR goes out once, however many paths fail */
	bool credits_mode;
	uint32_t caps;	      /* effective capability flags: which extension types decode */
	uint32_t window;      /* credits we grant at most: 1, or RMIG_RDMA_CREDITS */
	/* registered message buffers */
	uint8_t *recv_mem, *send_mem;
	struct ibv_mr *recv_mr, *send_mr;
	/* until rmig_rdma_ctrl_trust(): the one page of an untrusted peer */
	bool untrusted;
	uint8_t *pre_mem;
	struct ibv_mr *pre_mr;
	uint32_t pre_posted; /* its RECVs still in the queue */
	bool rx_small[RMIG_RDMA_RECV_BUFS]; /* this buffer's RECV went to pre_mem */
	bool send_busy[RMIG_RDMA_SEND_BUFS];
	/* WRITEs posted before this send (progress.h): its completion retires them */
	uint64_t send_wseq[RMIG_RDMA_SEND_BUFS];
	/* received messages waiting to be consumed, in arrival order */
	uint32_t rxq_buf[RMIG_RDMA_RECV_BUFS];
	uint32_t rxq_len[RMIG_RDMA_RECV_BUFS];
	uint32_t rxq_head, rxq_count;
	bool rx_granted[RMIG_RDMA_RECV_BUFS]; /* message in this buffer used a credit */
	/* flow control */
	uint32_t peer_credits; /* we may send this many unsolicited messages */
	uint32_t granted;      /* credits the peer holds */
	uint32_t to_grant;     /* free RECVs not yet granted */
	/* KEEPALIVE (mod 2^32): sent, received, and the peer's latest count of ours received */
	uint32_t ka_sent, ka_received, ka_acked;
	bool ka_turn; /* one came from the peer since ours: we may send the next */
	/* statistics */
	uint64_t bytes_sent;
	uint64_t msgs_sent, msgs_received, readies_sent;
};

/*
 * Allocate and register the buffers on @res's PD and post every RECV; call
 * after the QP exists and before connect/accept.  Registers the channel's
 * completion handlers with @prog, the connection's progress engine.
 * @mem (may be NULL): prepared ring memory, taken over (emptied) whatever
 * the outcome.
 */
int rmig_rdma_ctrl_init(struct rmig_rdma_ctrl *ctrl, struct rmig_rdma_res *res,
			struct rmig_rdma_progress *prog, struct rmig_rdma_rings *mem);
/*
 * The same for a peer not trusted yet: one page, RMIG_RDMA_PREAUTH_RECVS
 * RECVs, one credit at a time, until rmig_rdma_ctrl_trust(), which
 * registers the rings in @mem (taken over likewise) or maps them then.
 */
int rmig_rdma_ctrl_init_untrusted(struct rmig_rdma_ctrl *ctrl, struct rmig_rdma_res *res,
				  struct rmig_rdma_progress *prog, struct rmig_rdma_rings *mem);
/*
 * The peer proved itself: map and register the full rings, post their
 * RECVs and open the credit window the capabilities allow.  -EPROTO when
 * a small RECV is still queued (the peer sent less than it should have).
 */
int rmig_rdma_ctrl_trust(struct rmig_rdma_ctrl *ctrl);
/*
 * A peer that never proved itself: hand the rings adopted at
 * init_untrusted back into @out (empty), so a listener keeps them for the
 * next source instead of faulting 11 MiB in again for every impostor.
 * Nothing is handed back once they were registered.  True if handed back.
 */
bool rmig_rdma_ctrl_return_rings(struct rmig_rdma_ctrl *ctrl, struct rmig_rdma_rings *out);
/* Once the capabilities are known: @caps is the effective set of flags. */
void rmig_rdma_ctrl_set_caps(struct rmig_rdma_ctrl *ctrl, uint32_t caps);
/* Deregister and free the buffers (QP must be destroyed or flushed first). */
void rmig_rdma_ctrl_fini(struct rmig_rdma_ctrl *ctrl);

/*
 * Send one message.  @need_credit: wait for a credit first (requests,
 * stream bytes, COMPRESS, REGISTER_FINISHED); responses pass false.
 * @payload may be NULL when @len is 0.
 */
int rmig_rdma_ctrl_send(struct rmig_rdma_ctrl *ctrl, uint32_t type, uint32_t repeat,
			const void *payload, uint32_t len, bool need_credit);

/* Best effort ERROR to the peer (no credit, does not wait); never to a peer that sent ERROR. */
void rmig_rdma_ctrl_send_error(struct rmig_rdma_ctrl *ctrl);

/*
 * Next received message other than READY.  @grant: give the peer credits
 * when it holds none (we wait for a request or stream bytes); false when
 * we wait for a response, which needs none (a QEMU peer would choke on an
 * unexpected READY).
 * -ECONNRESET (not reported) when the peer disconnected and nothing is
 * left, so the stream can call it end-of-file.  @what names the wait in
 * a timeout's report ("waiting for stream bytes").
 */
int rmig_rdma_ctrl_recv(struct rmig_rdma_ctrl *ctrl, struct rmig_rdma_msg *m, bool grant,
			const char *what);
/* Is a non-READY message already queued? */
bool rmig_rdma_ctrl_has_msg(const struct rmig_rdma_ctrl *ctrl);
/* Give the message's buffer back (re-post its RECV). */
int rmig_rdma_ctrl_release(struct rmig_rdma_ctrl *ctrl, const struct rmig_rdma_msg *m);

/*
 * Latch a local failure in the connection's progress engine: further calls
 * fail with @err.
 */
void rmig_rdma_ctrl_fail(struct rmig_rdma_ctrl *ctrl, int err);
/* Give up on the connection: ERROR to the peer (best effort), latch @err, return it. */
int rmig_rdma_ctrl_give_up(struct rmig_rdma_ctrl *ctrl, int err);

#endif /* RMIG_RDMA_CTRL_H */
