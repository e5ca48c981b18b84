/* SPDX-License-Identifier: MIT */
/*
 * A fake glue table for the RDMA engine tests: no device, no kernel.
 *
 * rdmacm and verbs objects are plain heap allocations; every create and
 * destroy is written to a journal so a test can check that teardown undoes
 * setup in reverse order.  Any create call can be made to fail by name.
 * Send work requests are recorded.  The completion queues really queue:
 * a test that plays the peer pushes completions with rmig_fake_cq_push()
 * and hands messages to the engine with rmig_fake_deliver(), which uses
 * the RECVs the engine posted in the order it posted them (as an RC QP
 * does).  Nothing completes on its own: tests that do not push see empty
 * CQs, which is what the write-engine tests rely on.  A destination comes
 * up through listen and accept once rmig_fake_connect_request() has played
 * the source's connect.
 *
 * One connection at a time; not thread-safe (the engine is driven from
 * the test's thread), except that a data lane's thread may poll its own
 * CQ and completion channel while the test runs.
 */
#ifndef RMIG_TESTS_FAKE_GLUE_H
#define RMIG_TESTS_FAKE_GLUE_H

#include <stdbool.h>
#include <stdint.h>

#include "rdma/glue.h"

#define RMIG_FAKE_JOURNAL_MAX 1024 /* a 64-chunk dynamic round journals ~150 */
#define RMIG_FAKE_WRS_MAX     4096 /* recorded send WRs; older ones are overwritten */
#define RMIG_FAKE_RQ_MAX      64   /* RECVs posted and not yet used */
#define RMIG_FAKE_CQ_MAX      1024 /* completions queued per CQ */

/* A posted send WR (first SGE only). */
struct rmig_fake_wr {
	enum ibv_wr_opcode op;
	unsigned flags;
	uint64_t laddr, raddr;
	uint32_t len, rkey;
	uint64_t wr_id;
	uint32_t msg_type; /* SEND: the type in its header, else 0 */
};

/* A posted RECV (first SGE only). */
struct rmig_fake_recv {
	uint64_t wr_id;
	uint64_t addr;
	uint32_t len;
};

struct rmig_fake {
	/* The installed table: a test may replace slots after rmig_fake_install(). */
	struct rmig_rdma_glue glue;
	/* "+pd", "-pd", ... in call order */
	char journal[RMIG_FAKE_JOURNAL_MAX][32];
	unsigned njournal;
	int live;	     /* objects created and not destroyed */
	const char *fail_at; /* name of the create call to fail */
	int fail_errno;
	struct rmig_fake_wr wrs[RMIG_FAKE_WRS_MAX];
	unsigned nwrs;	   /* total posted; index with % RMIG_FAKE_WRS_MAX */
	int post_send_ret; /* != 0: post_send fails with this */
	struct ibv_context verbs;
	struct ibv_device device; /* verbs.device: "fake0", InfiniBand transport unless a test says */
	enum ibv_port_state port_state; /* what query_port says; 0: ACTIVE */
	/* > 0: query_port reads DOWN from its port_down_from-th call on (a link going down late) */
	unsigned port_down_from, port_queries;
	/* private data of the ESTABLISHED event (the destination's caps answer) */
	uint8_t est_pdata[8];
	bool est_pdata_set;
	/* what the last rdma_connect offered in its private data */
	uint8_t conn_pdata[8];
	uint8_t conn_pdata_len;
	/* the CONNECT_REQUEST queued by rmig_fake_connect_request() */
	struct rdma_cm_id *req_id;
	uint8_t req_pdata[8];
	uint8_t req_pdata_len;
	/* CM events queued for get_cm_event */
	enum rdma_cm_event_type evq[16];
	unsigned evq_n;
	struct rdma_cm_id *last_id;
	unsigned nchannels, ncqs; /* which of the pair the next create is */
	uint32_t next_key;
	/* the receive queue of the one QP */
	struct rmig_fake_recv rq[RMIG_FAKE_RQ_MAX];
	unsigned rq_head, rq_n;
};

extern struct rmig_fake rmig_fake;

/* Reset the state (keys keep counting) and install the table. */
void rmig_fake_install(void);
/* Put the real table back. */
void rmig_fake_remove(void);

/* The default slots, for tests that wrap them. */
int rmig_fake_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad);
int rmig_fake_get_cm_event(struct rdma_event_channel *ch, struct rdma_cm_event **ev);

/*
 * Destination side: a source connects to the listener.  Queues a
 * CONNECT_REQUEST for a new id (journaled "+id", the connection's from
 * then on) whose private data is the first @len (at most 8) bytes of
 * @pdata; accepting it queues ESTABLISHED.
 */
struct rdma_cm_id *rmig_fake_connect_request(const void *pdata, uint8_t len);

/* Queue CM event @e, as if the peer or the device caused it (DISCONNECTED: the peer left). */
void rmig_fake_cm_push(enum rdma_cm_event_type e);

/* Queue @wc on @cq (one the fake created) for poll_cq. */
void rmig_fake_cq_push(struct ibv_cq *cq, const struct ibv_wc *wc);
/* poll_cq calls on @cq so far; safe while a lane's thread polls it. */
unsigned rmig_fake_cq_polls(struct ibv_cq *cq);

/*
 * The peer sends @len bytes of @msg: they land in the oldest RECV posted
 * on @qp and a RECV completion with byte_len @len goes to its recv CQ.
 * -ENOBUFS when no RECV is posted (a real peer would see RNR), -EMSGSIZE
 * when the buffer is too small.
 */
int rmig_fake_deliver(struct ibv_qp *qp, const void *msg, uint32_t len);

/* Journal entries equal to @what ("+mr") from index @from on. */
unsigned rmig_fake_journal_count(unsigned from, const char *what);
/* cmocka: the journal's destroys mirror its creates exactly, and nothing is left. */
void rmig_fake_assert_reverse_teardown(void);

#endif /* RMIG_TESTS_FAKE_GLUE_H */
