/* SPDX-License-Identifier: MIT */
/*
 * Peer liveness through the fake glue (no device): with KEEPALIVE
 * negotiated, a peer that never answers makes a wait fail with -ETIMEDOUT
 * after about peer-timeout, while one that sends KEEPALIVEs keeps it
 * alive; we send ours, never more than the window unacknowledged; a
 * peer without KEEPALIVE (QEMU) gets no deadline; cancel ends any wait.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/base/util.h"
#include "rdma/conn.h"
#include "rdma/ctrl.h"
#include "rdma/progress.h"
#include "rdma/wire.h"
#include "tests/support/fake_glue.h"
#include "tests/support/rdma_test_log.h"

#define PEER_TIMEOUT_MS 200
#define BOUND_MS 400 /* test_bound_outlasts_keepalives */
#define CAPS_LIVE (RMIG_RDMA_CAP_CREDITS | RMIG_RDMA_CAP_KEEPALIVE)
/* Loose: a loaded CI machine may run late, never early. */
#define LATE_MAX_MS 3000

static int fake_setup(void **state)
{
	rmig_fake_install();
	return rdma_test_setup(state);
}

static int fake_teardown(void **state)
{
	rmig_fake_remove();
	return rdma_test_teardown(state);
}

/* A source connected to a fake destination that answered with @flags and then went silent. */
static struct rmig_conn *connect_silent(uint32_t flags, int peer_timeout_ms)
{
	struct rmig_conn_opts opts = { .size = sizeof(opts), .timeout_ms = 1000,
				       .peer_timeout_ms = peer_timeout_ms };
	struct rmig_rdma_caps answer = { .version = 1, .flags = flags };
	struct rmig_conn *c = NULL;

	rmig_rdma_caps_encode(&answer, rmig_fake.est_pdata);
	rmig_fake.est_pdata_set = true;
	assert_int_equal(rmig_rdma_get_ops()->connect("127.0.0.1:4444", &opts, &c), 0);
	return c;
}

/* KEEPALIVEs the connection has posted so far. */
static unsigned keepalives_sent(void)
{
	unsigned i, n = 0;

	for (i = 0; i < rmig_fake.nwrs && i < RMIG_FAKE_WRS_MAX; i++)
		n += rmig_fake.wrs[i].msg_type == RMIG_RDMA_MSG_KEEPALIVE;
	return n;
}

/* The peer's NIC acknowledges every SEND posted since the last call. */
static void complete_sends(struct rmig_rdma_conn *rc)
{
	static unsigned done;

	if (done > rmig_fake.nwrs)
		done = 0; /* a new connection */
	for (; done < rmig_fake.nwrs; done++) {
		const struct rmig_fake_wr *w = &rmig_fake.wrs[done % RMIG_FAKE_WRS_MAX];
		struct ibv_wc wc = { .wr_id = w->wr_id, .status = IBV_WC_SUCCESS,
				     .opcode = IBV_WC_SEND };

		if (w->op == IBV_WR_SEND)
			rmig_fake_cq_push(rc->res.send_cq, &wc);
	}
}

/* The peer's KEEPALIVE, saying it received @acked of ours. */
static void peer_keepalive(struct rmig_rdma_conn *rc, uint32_t acked)
{
	uint8_t msg[RMIG_RDMA_HDR_SIZE];

	assert_int_equal(rmig_rdma_msg_build(RMIG_RDMA_MSG_KEEPALIVE, acked, NULL, 0, msg,
					     sizeof(msg)),
			 RMIG_RDMA_HDR_SIZE);
	assert_int_equal(rmig_fake_deliver(rc->res.qp, msg, sizeof(msg)), 0);
}

static uint64_t elapsed_ms(uint64_t t0)
{
	return (rmig_time_now_ns() - t0) / RMIG_NSEC_PER_MSEC;
}

static void test_silent_peer_times_out(void **state)
{
	struct rmig_conn *c = connect_silent(CAPS_LIVE, PEER_TIMEOUT_MS);
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);
	uint64_t t0, ms;
	uint8_t byte;

	(void)state;
	assert_true(rc->keepalive);
	assert_int_equal(rc->prog.peer_timeout_ms, PEER_TIMEOUT_MS);
	assert_int_equal(rc->prog.keepalive_ms, PEER_TIMEOUT_MS / 4);
	t0 = rmig_time_now_ns();
	assert_int_equal(rmig_rdma_get_ops()->read(c, &byte, 1), -ETIMEDOUT);
	ms = elapsed_ms(t0);
	assert_true(ms >= PEER_TIMEOUT_MS - 1);
	assert_true(ms < LATE_MAX_MS);
	assert_error_mentions("no word from the peer for 200 ms (peer-timeout) while waiting for "
			      "stream bytes");
	/* We spoke once meanwhile: more waits for the peer's turn, so it always has buffers. */
	assert_int_equal(keepalives_sent(), 1);
	/* Latched, not reported again. */
	rmig_error_clear();
	assert_int_equal(rmig_rdma_get_ops()->read(c, &byte, 1), -ETIMEDOUT);
	assert_string_equal(rmig_error_get_last(), "");
	rmig_rdma_get_ops()->close(c);
	rmig_fake_assert_reverse_teardown();
}

static void test_message_resets_deadline(void **state)
{
	struct rmig_conn *c = connect_silent(CAPS_LIVE, PEER_TIMEOUT_MS);
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);
	uint8_t msg[RMIG_RDMA_HDR_SIZE + 4];
	uint64_t t0;
	uint8_t buf[4];
	int n;

	(void)state;
	usleep(150 * 1000);
	/* Stream bytes that arrive before the deadline are read, and the clock starts over. */
	n = rmig_rdma_msg_build(RMIG_RDMA_MSG_QEMU_FILE, 1, "abcd", 4, msg, sizeof(msg));
	assert_int_equal(n, (int)sizeof(msg));
	rc->ctrl.granted = 1; /* as if our READY had gone out */
	assert_int_equal(rmig_fake_deliver(rc->res.qp, msg, (uint32_t)n), 0);
	assert_int_equal(rmig_rdma_get_ops()->read(c, buf, 4), 4);
	t0 = rmig_time_now_ns();
	assert_int_equal(rmig_rdma_get_ops()->read(c, buf, 1), -ETIMEDOUT);
	assert_true(elapsed_ms(t0) >= PEER_TIMEOUT_MS - 60);
	rmig_rdma_get_ops()->close(c);
	rmig_fake_assert_reverse_teardown();
}

/*
 * The peer's last message (a hand-over's COMMIT) and its hang-up travel
 * apart, and the hang-up may be processed first: the message must still be
 * read, and only then the end of the stream.  Without the drain, a source
 * that committed left its destination in doubt.
 */
static void test_last_message_outlives_hangup(void **state)
{
	struct rmig_conn *c = connect_silent(CAPS_LIVE, PEER_TIMEOUT_MS);
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);
	uint8_t msg[RMIG_RDMA_HDR_SIZE + 4];
	uint8_t buf[4];
	int n;

	(void)state;
	n = rmig_rdma_msg_build(RMIG_RDMA_MSG_QEMU_FILE, 1, "RMGH", 4, msg, sizeof(msg));
	assert_int_equal(n, (int)sizeof(msg));
	rc->ctrl.granted = 1; /* as if our READY had gone out */
	assert_int_equal(rmig_fake_deliver(rc->res.qp, msg, (uint32_t)n), 0);
	rc->prog.peer_gone = true; /* its DISCONNECTED, handled first */
	assert_int_equal(rmig_rdma_get_ops()->read(c, buf, 4), 4);
	assert_memory_equal(buf, "RMGH", 4);
	assert_int_equal(rmig_rdma_get_ops()->read(c, buf, 1), 0);
	rmig_rdma_get_ops()->close(c);
}

/* A busy but live peer: its KEEPALIVEs alone keep us going, each consumed and its RECV reposted. */
static void test_peer_keepalives_keep_alive(void **state)
{
	struct rmig_conn *c = connect_silent(CAPS_LIVE, PEER_TIMEOUT_MS);
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);
	unsigned rq = rmig_fake.rq_n, i;
	uint64_t t0;

	(void)state;
	for (i = 0; i < 20; i++) { /* 1 s, five times the peer-timeout */
		usleep(50 * 1000);
		complete_sends(rc);
		/*
		 * Half of them from a peer that had not taken ours yet when it
		 * sent: we must not wait for acknowledgements (both sides
		 * waiting for the other's was a deadlock seen under soft-RoCE).
		 */
		peer_keepalive(rc, i < 10 ? 0 : rc->ctrl.ka_sent);
		assert_int_equal(rmig_rdma_progress_poll(&rc->prog, false, "testing"), 0);
		assert_int_equal(rmig_fake.rq_n, rq);
		assert_false(rmig_rdma_ctrl_has_msg(&rc->ctrl));
		if (i == 9) /* ~500 ms of unacknowledged turns: ours went on */
			assert_true(keepalives_sent() >= 5);
	}
	assert_int_equal(rc->ctrl.ka_received, 20);
	/* Its turns let ours go on too: about one per 50 ms. */
	assert_true(keepalives_sent() >= 10);
	assert_true(rc->ctrl.peer_credits == 0 && rc->ctrl.granted == 0);

	/* Then silence: the wait ends on its own. */
	t0 = rmig_time_now_ns();
	for (;;) {
		int ret = rmig_rdma_progress_poll(&rc->prog, true, "testing");

		if (ret < 0) {
			assert_int_equal(ret, -ETIMEDOUT);
			break;
		}
		assert_true(elapsed_ms(t0) < LATE_MAX_MS);
	}
	assert_true(elapsed_ms(t0) >= PEER_TIMEOUT_MS - 60);
	rmig_rdma_get_ops()->close(c);
	rmig_fake_assert_reverse_teardown();
}

/*
 * A set-up exchange has an absolute bound: a peer that sends KEEPALIVEs
 * and nothing else (as one that holds CHANNELS RESULT back would) is
 * still cut off at its end; without the bound the same peer lives on.
 */
static void test_bound_outlasts_keepalives(void **state)
{
	/* A silence deadline far past the bound: only the bound may end it, however late we run. */
	struct rmig_conn *c = connect_silent(CAPS_LIVE, 10 * BOUND_MS);
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);
	uint64_t t0 = rmig_time_now_ns();
	int ret = 0;

	(void)state;
	rmig_rdma_progress_set_bound(&rc->prog, BOUND_MS);
	while (ret == 0) {
		assert_true(elapsed_ms(t0) < LATE_MAX_MS);
		usleep(20 * 1000);
		complete_sends(rc);
		peer_keepalive(rc, rc->ctrl.ka_sent);
		ret = rmig_rdma_progress_poll(&rc->prog, true, "waiting for its CHANNELS RESULT");
	}
	assert_int_equal(ret, -ETIMEDOUT);
	assert_true(elapsed_ms(t0) >= BOUND_MS - 1);
	assert_true(rc->ctrl.ka_received >= 2); /* KEEPALIVEs came, and the bound still ended it */
	assert_error_mentions("did not finish setting up within 400 ms while waiting for its "
			      "CHANNELS RESULT");
	rmig_rdma_get_ops()->close(c);

	/* Cleared, the same KEEPALIVEs keep the connection for longer than the bound was. */
	c = connect_silent(CAPS_LIVE, 10 * BOUND_MS);
	rc = rmig_rdma_conn_of(c);
	rmig_rdma_progress_set_bound(&rc->prog, BOUND_MS);
	rmig_rdma_progress_set_bound(&rc->prog, 0);
	t0 = rmig_time_now_ns();
	while (elapsed_ms(t0) < 3 * BOUND_MS / 2) {
		usleep(20 * 1000);
		complete_sends(rc);
		peer_keepalive(rc, rc->ctrl.ka_sent);
		assert_int_equal(rmig_rdma_progress_poll(&rc->prog, false, "testing"), 0);
	}
	rmig_rdma_get_ops()->close(c);
	rmig_fake_assert_reverse_teardown();
}

/*
 * READY's grant is checked without wrapping: one credit held, a repeat of
 * 2^32 - 1 would add up to 0 and pass an added-up check.
 */
static void test_ready_grant_cannot_wrap(void **state)
{
	struct rmig_conn *c = connect_silent(CAPS_LIVE, 5000);
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);
	uint8_t msg[RMIG_RDMA_HDR_SIZE];

	(void)state;
	assert_int_equal(rc->ctrl.peer_credits, 0);
	assert_int_equal(rmig_rdma_msg_build(RMIG_RDMA_MSG_READY, 1, NULL, 0, msg, sizeof(msg)),
			 RMIG_RDMA_HDR_SIZE);
	assert_int_equal(rmig_fake_deliver(rc->res.qp, msg, sizeof(msg)), 0);
	assert_int_equal(rmig_rdma_progress_poll(&rc->prog, false, "testing"), 0);
	assert_int_equal(rc->ctrl.peer_credits, 1);
	assert_int_equal(rmig_rdma_msg_build(RMIG_RDMA_MSG_READY, UINT32_MAX, NULL, 0, msg,
					     sizeof(msg)),
			 RMIG_RDMA_HDR_SIZE);
	assert_int_equal(rmig_fake_deliver(rc->res.qp, msg, sizeof(msg)), 0);
	assert_int_equal(rmig_rdma_progress_poll(&rc->prog, false, "testing"), -EPROTO);
	assert_error_mentions("granted 4294967295 credits on top of 1");
	assert_int_equal(rc->ctrl.peer_credits, 1);
	rmig_rdma_get_ops()->close(c);
	rmig_fake_assert_reverse_teardown();
}

/* A WRITE with immediate consumes a RECV and fills nothing: refused, not read as a message. */
static void test_write_with_imm_refused(void **state)
{
	struct rmig_conn *c = connect_silent(CAPS_LIVE, 5000);
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);
	struct ibv_wc wc = { .wr_id = RMIG_RDMA_WRID_RECV | 0, .status = IBV_WC_SUCCESS,
			     .opcode = IBV_WC_RECV_RDMA_WITH_IMM, .wc_flags = IBV_WC_WITH_IMM,
			     .byte_len = RMIG_RDMA_HDR_SIZE };

	(void)state;
	rmig_fake_cq_push(rc->res.recv_cq, &wc);
	assert_int_equal(rmig_rdma_progress_poll(&rc->prog, false, "testing"), -EPROTO);
	assert_error_mentions("used up a receive without sending a message");
	assert_false(rmig_rdma_ctrl_has_msg(&rc->ctrl));
	rmig_rdma_get_ops()->close(c);
	rmig_fake_assert_reverse_teardown();
}

/* The engine lengthens the deadline while the peer checksums, then puts it back. */
static void test_set_peer_timeout(void **state)
{
	struct rmig_conn *c = connect_silent(CAPS_LIVE, PEER_TIMEOUT_MS);
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);
	uint64_t t0 = rmig_time_now_ns();

	(void)state;
	assert_int_equal(rmig_rdma_get_ops()->set_peer_timeout(c, 5000), 0);
	while (elapsed_ms(t0) < 2 * PEER_TIMEOUT_MS)
		assert_int_equal(rmig_rdma_progress_poll(&rc->prog, true, "testing"), 0);
	/* Keepalives kept their pace: the peer's deadline did not change. */
	assert_int_equal(rc->prog.keepalive_ms, PEER_TIMEOUT_MS / 4);
	assert_int_equal(rmig_rdma_get_ops()->set_peer_timeout(c, PEER_TIMEOUT_MS), 0);
	assert_int_equal(rmig_rdma_progress_poll(&rc->prog, true, "testing"), -ETIMEDOUT);
	rmig_rdma_get_ops()->close(c);
	rmig_fake_assert_reverse_teardown();
}

/* A KEEPALIVE acknowledging more than we sent is a lie: the peer's bookkeeping is broken. */
static void test_keepalive_bad_ack(void **state)
{
	struct rmig_conn *c = connect_silent(CAPS_LIVE, 0);
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);

	(void)state;
	peer_keepalive(rc, 0);
	assert_int_equal(rmig_rdma_progress_poll(&rc->prog, false, "testing"), 0);
	peer_keepalive(rc, 1); /* we sent none */
	assert_int_equal(rmig_rdma_progress_poll(&rc->prog, false, "testing"), -EPROTO);
	assert_error_mentions("acknowledged 1 KEEPALIVEs; we sent 0");
	rmig_rdma_get_ops()->close(c);
	rmig_fake_assert_reverse_teardown();
}

/* Without KEEPALIVE (a QEMU peer) silence is no proof of death: no deadline, no keepalives. */
static void test_no_keepalive_no_deadline(void **state)
{
	struct rmig_conn *c = connect_silent(RMIG_RDMA_CAP_CREDITS, PEER_TIMEOUT_MS);
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);
	uint8_t msg[RMIG_RDMA_HDR_SIZE];
	uint64_t t0 = rmig_time_now_ns();

	(void)state;
	assert_false(rc->keepalive);
	while (elapsed_ms(t0) < 2 * PEER_TIMEOUT_MS)
		assert_int_equal(rmig_rdma_progress_poll(&rc->prog, true, "testing"), 0);
	assert_int_equal(keepalives_sent(), 0);
	/* And a KEEPALIVE from it is an unknown type. */
	assert_int_equal(rmig_rdma_msg_build(RMIG_RDMA_MSG_KEEPALIVE, 0, NULL, 0, msg, sizeof(msg)),
			 RMIG_RDMA_HDR_SIZE);
	assert_int_equal(rmig_fake_deliver(rc->res.qp, msg, sizeof(msg)), 0);
	assert_int_equal(rmig_rdma_progress_poll(&rc->prog, false, "testing"), -EPROTO);
	assert_error_mentions("unknown type 258");
	rmig_rdma_get_ops()->close(c);
	rmig_fake_assert_reverse_teardown();
}

static void *abort_later(void *arg)
{
	usleep(100 * 1000);
	rmig_rdma_get_ops()->abort(arg);
	return NULL;
}

/* With a far deadline or none, cancel still ends a wait at once. */
static void cancel_during_wait(uint32_t flags, int peer_timeout_ms)
{
	struct rmig_conn *c = connect_silent(flags, peer_timeout_ms);
	pthread_t t;
	uint64_t t0;
	uint8_t byte;

	t0 = rmig_time_now_ns();
	assert_int_equal(pthread_create(&t, NULL, abort_later, c), 0);
	assert_int_equal(rmig_rdma_get_ops()->read(c, &byte, 1), -ECANCELED);
	assert_true(elapsed_ms(t0) < 1000);
	pthread_join(t, NULL);
	rmig_rdma_get_ops()->close(c);
	rmig_fake_assert_reverse_teardown();
}

static void *interrupt_later(void *arg)
{
	usleep(100 * 1000);
	rmig_rdma_get_ops()->interrupt(arg);
	return NULL;
}

/*
 * interrupt() ends the waiting read once and leaves the connection whole:
 * the hand-over's ABORT can still go out after a cancel, and a later
 * message is read as usual.
 */
static void test_interrupt_keeps_the_connection(void **state)
{
	/* A peer-timeout, so a wait the test did not foresee fails instead of hanging. */
	struct rmig_conn *c = connect_silent(CAPS_LIVE, 5000);
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);
	uint8_t msg[RMIG_RDMA_HDR_SIZE + 4], buf[4];
	unsigned sent;
	pthread_t t;
	uint64_t t0;
	int n;

	(void)state;
	t0 = rmig_time_now_ns();
	assert_int_equal(pthread_create(&t, NULL, interrupt_later, c), 0);
	assert_int_equal(rmig_rdma_get_ops()->read(c, buf, 1), -ECANCELED);
	pthread_join(t, NULL);
	assert_true(elapsed_ms(t0) >= 90 && elapsed_ms(t0) < 1000);
	assert_false(atomic_load(&rc->prog.aborted));
	assert_int_equal(rc->prog.error, 0);
	/* Still able to speak: with the peer's credit, a stream write posts its SEND. */
	n = rmig_rdma_msg_build(RMIG_RDMA_MSG_READY, 1, NULL, 0, msg, sizeof(msg));
	assert_int_equal(rmig_fake_deliver(rc->res.qp, msg, (uint32_t)n), 0);
	sent = rmig_fake.nwrs;
	assert_int_equal(rmig_rdma_get_ops()->write(c, "RMGH", 4), 4);
	assert_true(rmig_fake.nwrs > sent);
	/* And to listen: the next message is read. */
	n = rmig_rdma_msg_build(RMIG_RDMA_MSG_QEMU_FILE, 1, "ok!!", 4, msg, sizeof(msg));
	assert_int_equal(n, (int)sizeof(msg));
	assert_int_equal(rmig_fake_deliver(rc->res.qp, msg, (uint32_t)n), 0);
	assert_int_equal(rmig_rdma_get_ops()->read(c, buf, 4), 4);
	assert_memory_equal(buf, "ok!!", 4);
	rmig_rdma_get_ops()->close(c);
}

/* A failed SEND completion while the port says @port_state; what does a read return? */
static int failed_send(enum ibv_port_state port_state, enum ibv_wc_status status)
{
	static struct ibv_device dev = { .name = "fakerxe0" };
	struct rmig_conn *c = connect_silent(CAPS_LIVE, 0);
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);
	struct ibv_wc wc = { .wr_id = RMIG_RDMA_WRID_SEND | 0, .status = status,
			     .opcode = IBV_WC_SEND };
	uint8_t byte;
	int ret;

	rmig_fake.verbs.device = &dev;
	rc->cm.id->port_num = 1;
	rmig_fake.port_state = port_state;
	rmig_fake_cq_push(rc->res.send_cq, &wc);
	ret = rmig_rdma_get_ops()->read(c, &byte, 1);
	rmig_rdma_get_ops()->close(c);
	rmig_fake.verbs.device = NULL;
	return ret;
}

/*
 * A fatal WRITE completion polled in one batch with SEND completions: the
 * SENDs are still marked done, so nothing is left pending for teardown's
 * flush to wait out.
 */
static void test_fatal_completion_keeps_the_batch(void **state)
{
	struct rmig_conn *c = connect_silent(CAPS_LIVE, 0);
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);
	struct ibv_wc bad = { .wr_id = RMIG_RDMA_WRID_WRITE | 1, .status = IBV_WC_LOC_PROT_ERR,
			      .opcode = IBV_WC_RDMA_WRITE };
	bool was_busy[RMIG_RDMA_SEND_BUFS];
	unsigned i, busy = 0;
	uint8_t byte;

	(void)state;
	/* Two responses (no credit needed), not completed by the fake NIC yet. */
	for (i = 0; i < 2; i++)
		assert_int_equal(rmig_rdma_ctrl_send(&rc->ctrl, RMIG_RDMA_MSG_KEEPALIVE, 0, NULL, 0,
						     false),
				 0);
	for (i = 0; i < RMIG_RDMA_SEND_BUFS; i++)
		busy += rc->ctrl.send_busy[i];
	assert_int_equal(busy, 2);
	rmig_fake_cq_push(rc->res.send_cq, &bad);
	for (i = 0; i < RMIG_RDMA_SEND_BUFS; i++) {
		struct ibv_wc ok = { .wr_id = RMIG_RDMA_WRID_SEND | i, .status = IBV_WC_SUCCESS,
				     .opcode = IBV_WC_SEND };

		was_busy[i] = rc->ctrl.send_busy[i];
		if (was_busy[i])
			rmig_fake_cq_push(rc->res.send_cq, &ok);
	}
	assert_true(rmig_rdma_get_ops()->read(c, &byte, 1) < 0);
	/* Those two are done; the failure's own ERROR may be pending in another slot. */
	for (i = 0; i < RMIG_RDMA_SEND_BUFS; i++)
		if (was_busy[i])
			assert_false(rc->ctrl.send_busy[i]);
	rmig_rdma_get_ops()->close(c);
}

/* rxe fails every post with a bare local error once its netdev is down: name the link. */
static void test_link_down_is_named(void **state)
{
	(void)state;
	assert_int_equal(failed_send(IBV_PORT_DOWN, IBV_WC_LOC_QP_OP_ERR), -ENETDOWN);
	assert_error_mentions("control message send failed: the link is down (port 1 of "
			      "fakerxe0 is DOWN)");
}

/*
 * rxe can fail the request while its port still reads ACTIVE: the port is
 * looked at again for a moment (80 ms by default), and a link that goes
 * down meanwhile is still named.  RMIG_RDMA_PORT_SETTLE_MS=0 looks once.
 */
static void test_link_down_late_is_named(void **state)
{
	(void)state;
	rmig_fake.port_queries = 0;
	rmig_fake.port_down_from = 3;
	unsetenv("RMIG_RDMA_PORT_SETTLE_MS");
	assert_int_equal(failed_send(IBV_PORT_ACTIVE, IBV_WC_LOC_QP_OP_ERR), -ENETDOWN);
	assert_error_mentions("the link is down (port 1 of fakerxe0 is DOWN)");
	assert_int_equal(rmig_fake.port_queries, 3);

	rmig_fake.port_queries = 0;
	setenv("RMIG_RDMA_PORT_SETTLE_MS", "0", 1);
	assert_int_equal(failed_send(IBV_PORT_ACTIVE, IBV_WC_LOC_QP_OP_ERR), -EIO);
	assert_int_equal(rmig_fake.port_queries, 1);
	unsetenv("RMIG_RDMA_PORT_SETTLE_MS");
	rmig_fake.port_down_from = 0;
}

static void test_unanswered_retries_mean_unreachable(void **state)
{
	(void)state;
	assert_int_equal(failed_send(IBV_PORT_ACTIVE, IBV_WC_RETRY_EXC_ERR), -EHOSTUNREACH);
	assert_error_mentions("the peer stopped answering");
}

static void test_other_errors_stay_io(void **state)
{
	(void)state;
	assert_int_equal(failed_send(IBV_PORT_ACTIVE, IBV_WC_LOC_QP_OP_ERR), -EIO);
	assert_error_mentions("vendor error 0x0");
}

static void *signal_later(void *arg)
{
	uint64_t one = 1;

	usleep(100 * 1000);
	assert_int_equal(write(*(int *)arg, &one, sizeof(one)), (ssize_t)sizeof(one));
	return NULL;
}

static int (*fake_connect)(struct rdma_cm_id *id, struct rdma_conn_param *p);

/* The destination's first word: one credit, as a READY, and then nothing. */
static int connect_then_grant(struct rdma_cm_id *id, struct rdma_conn_param *p)
{
	uint8_t msg[RMIG_RDMA_HDR_SIZE];
	int ret = fake_connect(id, p);

	assert_int_equal(rmig_rdma_msg_build(RMIG_RDMA_MSG_READY, 1, NULL, 0, msg, sizeof(msg)),
			 RMIG_RDMA_HDR_SIZE);
	assert_int_equal(rmig_fake_deliver(id->qp, msg, sizeof(msg)), 0);
	return ret;
}

static struct ibv_qp *busy_qp;
static unsigned busy_sent;
/* The cancel, written once the flood is well under way: it must not land in an earlier step. */
static int busy_cancel_fd = -1;
static uint64_t busy_cancel_ns;
#define BUSY_CANCEL_AFTER 2000
static int (*plain_poll_cq)(struct ibv_cq *cq, int n, struct ibv_wc *wc);

/* As connect_then_grant, and the peer's KEEPALIVEs start (busy_poll_cq). */
static int connect_then_chatter(struct rdma_cm_id *id, struct rdma_conn_param *p)
{
	int ret = connect_then_grant(id, p);

	busy_qp = id->qp;
	return ret;
}

/*
 * A peer that never pauses: whenever the source looks at its receive
 * queue, another KEEPALIVE has come (acknowledging none of ours, which is
 * always allowed once KEEPALIVE is on, that is after authentication), so
 * its progress engine finds work every round and never blocks in poll().
 * Bounded, so that a broken engine fails the test rather than hanging it.
 */
static int busy_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	uint8_t msg[RMIG_RDMA_HDR_SIZE];

	if (busy_qp && cq == busy_qp->recv_cq && busy_sent < 20u * 1000 * 1000 && rmig_fake.rq_n) {
		assert_int_equal(rmig_rdma_msg_build(RMIG_RDMA_MSG_KEEPALIVE, 0, NULL, 0, msg,
						     sizeof(msg)),
				 RMIG_RDMA_HDR_SIZE);
		if (rmig_fake_deliver(busy_qp, msg, sizeof(msg)) == 0)
			busy_sent++;
		if (busy_sent == BUSY_CANCEL_AFTER && busy_cancel_fd >= 0) {
			uint64_t one = 1;

			busy_cancel_ns = rmig_time_now_ns();
			assert_int_equal(write(busy_cancel_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
			busy_cancel_fd = -1;
		}
	}
	return plain_poll_cq(cq, n, wc);
}

enum setup_peer {
	PEER_SILENT,   /* AUTH, no credit: the source waits for one to send its CHALLENGE */
	PEER_GRANTS,   /* AUTH, one credit: the CHALLENGE goes, and the source waits in a read */
	PEER_CHATTERS, /* CHANNELS, one credit, then KEEPALIVEs without end and no answer */
};

/*
 * The caller cannot abort a connection it has not been given yet: a
 * cancel during a set-up exchange (authentication, channels) comes through
 * opts.cancel_fd, and it must end that exchange at once, not when the
 * exchange's bound (a minute here) runs out, however the peer behaves
 * (@peer).
 */
static void cancel_during_setup(enum setup_peer peer)
{
	bool granted = peer != PEER_SILENT, chatters = peer == PEER_CHATTERS;
	char key_path[64];
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct rmig_conn_opts opts = { .size = sizeof(opts), .timeout_ms = 1000,
				       .peer_timeout_ms = 60000, .cancel_fd = fd,
				       .auth_key = chatters ? NULL : key_path,
				       .rdma_channels = chatters ? 2 : 0 };
	struct rmig_rdma_caps answer = {
		.version = 1,
		.flags = CAPS_LIVE | (chatters ? RMIG_RDMA_CAP_CHANNELS : RMIG_RDMA_CAP_AUTH),
	};
	uint32_t asked = chatters ? RMIG_RDMA_MSG_CHANNELS_REQUEST : RMIG_RDMA_MSG_AUTH_CHALLENGE;
	struct rmig_conn *c = NULL;
	unsigned i, requests = 0;
	pthread_t t;
	uint64_t t0;
	FILE *f;

	assert_true(fd >= 0);
	snprintf(key_path, sizeof(key_path), "/tmp/rmig-liveness-%d.key", (int)getpid());
	f = fopen(key_path, "w");
	assert_non_null(f);
	fputs("a key of thirty-two bytes, or so\n", f);
	fclose(f);
	rmig_rdma_caps_encode(&answer, rmig_fake.est_pdata);
	rmig_fake.est_pdata_set = true;
	rmig_error_clear();
	fake_connect = rmig_fake.glue.connect;
	plain_poll_cq = rmig_fake.glue.poll_cq;
	busy_qp = NULL;
	busy_sent = 0;
	if (peer == PEER_GRANTS)
		rmig_fake.glue.connect = connect_then_grant;
	if (peer == PEER_CHATTERS) {
		rmig_fake.glue.connect = connect_then_chatter;
		rmig_fake.glue.poll_cq = busy_poll_cq;
	}
	t0 = rmig_time_now_ns();
	if (chatters)
		busy_cancel_fd = fd;
	else
		assert_int_equal(pthread_create(&t, NULL, signal_later, &fd), 0);
	assert_int_equal(rmig_rdma_get_ops()->connect("127.0.0.1:4444", &opts, &c), -ECANCELED);
	assert_true(elapsed_ms(chatters ? busy_cancel_ns : t0) < 1000);
	if (!chatters)
		pthread_join(t, NULL);
	busy_cancel_fd = -1;
	rmig_fake.glue.connect = fake_connect;
	rmig_fake.glue.poll_cq = plain_poll_cq;
	busy_qp = NULL;
	unlink(key_path);
	assert_null(c);
	/* The CHALLENGE (or CHANNELS_REQUEST) went only when a credit allowed it. */
	for (i = 0; i < rmig_fake.nwrs && i < RMIG_FAKE_WRS_MAX; i++)
		requests += rmig_fake.wrs[i].msg_type == asked;
	assert_int_equal(requests, granted ? 1 : 0);
	/* The cancel came while the chatter kept the source busy. */
	if (chatters)
		assert_true(busy_sent >= BUSY_CANCEL_AFTER);
	assert_error_mentions("cancelled while");
	rmig_fake_assert_reverse_teardown();
	close(fd);
}

static void test_cancel_during_setup_exchange(void **state)
{
	(void)state;
	cancel_during_setup(PEER_SILENT);
	rmig_fake.njournal = rmig_fake.nwrs = 0;
	cancel_during_setup(PEER_GRANTS);
	rmig_fake.njournal = rmig_fake.nwrs = 0;
	cancel_during_setup(PEER_CHATTERS);
}

static void test_cancel_ends_wait(void **state)
{
	(void)state;
	cancel_during_wait(RMIG_RDMA_CAP_CREDITS, 0);
	rmig_fake.njournal = 0;
	cancel_during_wait(CAPS_LIVE, 60000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_silent_peer_times_out, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_message_resets_deadline, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_peer_keepalives_keep_alive, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_set_peer_timeout, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_bound_outlasts_keepalives, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_ready_grant_cannot_wrap, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_write_with_imm_refused, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_keepalive_bad_ack, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_no_keepalive_no_deadline, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_cancel_ends_wait, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_cancel_during_setup_exchange, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_link_down_is_named, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_fatal_completion_keeps_the_batch, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_link_down_late_is_named, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_last_message_outlives_hangup, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_keeps_the_connection, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_unanswered_retries_mean_unreachable,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_other_errors_stay_io, fake_setup,
						fake_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
