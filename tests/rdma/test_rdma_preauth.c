/* SPDX-License-Identifier: MIT */
/*
 * A destination that requires --auth-key gives an untrusted source one
 * page of message buffers and nothing more (rdma/ctrl.h), through the fake
 * glue table: the test plays the source's side of the exchange whenever
 * the destination waits, and watches every registration.
 *
 *  - an honest source: one page registered and two small RECVs until its
 *    proof checks out, then the full rings and the credit window;
 *  - a wrong proof, an oversized message, a message without a credit, a
 *    source that hangs up: refused, and nothing but the page was ever
 *    registered.
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

#include <rmig/transport.h>

#include "common/base/util.h"
#include "rdma/authkey.h"
#include "rdma/conn.h"
#include "rdma/ctrl.h"
#include "rdma/rings.h"
#include "rdma/wire.h"
#include "tests/support/fake_glue.h"
#include "tests/support/rdma_test_log.h"
#include "tests/support/resident.h"

#define KEY "a key of thirty-two bytes, or so"
#define PAGE ((uint64_t)RMIG_RDMA_PREAUTH_PAGE)
#define RINGS ((uint64_t)(RMIG_RDMA_RECV_BUFS + RMIG_RDMA_SEND_BUFS) * RMIG_RDMA_CONTROL_MAX)
#define OFFER (RMIG_RDMA_CAP_CREDITS | RMIG_RDMA_CAP_REG_BATCH | RMIG_RDMA_CAP_AUTH)

enum misdeed {
	HONEST,
	WRONG_PROOF,  /* the proof of another key */
	OVERSIZED,    /* a CHALLENGE longer than a small buffer */
	NO_CREDIT,    /* stream bytes right behind the CHALLENGE */
	HANGS_UP,     /* leaves instead of proving */
	SILENT,	      /* neither proves nor leaves */
};

static struct rmig_rdma_glue fake;
static char key_path[64];

static struct {
	enum misdeed misdeed;
	unsigned step;
	uint64_t live, peak_untrusted; /* registered bytes: now, most while the source was untrusted */
	bool trusted;
	unsigned readies, max_ready; /* READYs sent, largest grant */
	unsigned small_recvs;	     /* RECVs of a small buffer's length seen posted */
	uint8_t ns[RMIG_RDMA_AUTH_NONCE], response[RMIG_RDMA_AUTH_RESPONSE_SIZE];
	bool have_response, error_sent;
	bool gone; /* hung up: the destination's further waits find nothing */
	int cancel_fd; /* > 0: the engine's cancel eventfd, given to listen */
} src;

static struct ibv_mr *t_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	struct ibv_mr *mr = fake.reg_mr(pd, addr, len, access);

	if (mr)
		src.live += len;
	if (!src.trusted && src.live > src.peak_untrusted)
		src.peak_untrusted = src.live;
	return mr;
}

static int t_dereg_mr(struct ibv_mr *mr)
{
	src.live -= mr->length;
	return fake.dereg_mr(mr);
}

static int t_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
	if (wr->sg_list[0].length == RMIG_RDMA_PREAUTH_MSG)
		src.small_recvs++;
	return fake.post_recv(qp, wr, bad);
}

/* What the destination says, as the source's NIC receives it. */
static int t_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	int ret = rmig_fake_post_send(qp, wr, bad);
	const uint8_t *buf = (const uint8_t *)(uintptr_t)wr->sg_list[0].addr;
	struct rmig_rdma_hdr h;
	struct ibv_wc wc = {.wr_id = wr->wr_id, .status = IBV_WC_SUCCESS, .opcode = IBV_WC_SEND};

	if (ret)
		return ret;
	assert_int_equal(rmig_rdma_hdr_decode_caps(buf, wr->sg_list[0].length, OFFER, &h), 0);
	switch (h.type) {
	case RMIG_RDMA_MSG_READY:
		src.readies++;
		src.max_ready = h.repeat > src.max_ready ? h.repeat : src.max_ready;
		break;
	case RMIG_RDMA_MSG_AUTH_RESPONSE:
		assert_int_equal(h.len, sizeof(src.response));
		memcpy(src.response, buf + RMIG_RDMA_HDR_SIZE, sizeof(src.response));
		src.have_response = true;
		break;
	case RMIG_RDMA_MSG_ERROR:
		src.error_sent = true;
		break;
	default:
		fail_msg("the destination sent %s to an untrusted source", rmig_rdma_msg_name(h.type));
	}
	rmig_fake_cq_push(qp->send_cq, &wc);
	return 0;
}

static struct ibv_qp *qp(void)
{
	return rmig_fake.req_id ? rmig_fake.req_id->qp : NULL;
}

static void send_msg(uint32_t type, const void *payload, uint32_t len)
{
	uint8_t m[RMIG_RDMA_HDR_SIZE + 1024] = {0};
	struct rmig_rdma_hdr h = {.len = len, .type = type, .repeat = 1};

	rmig_rdma_hdr_encode(&h, m);
	memcpy(m + RMIG_RDMA_HDR_SIZE, payload, len);
	assert_int_equal(rmig_fake_deliver(qp(), m, RMIG_RDMA_HDR_SIZE + len), 0);
}

/* The RECV at the head of the queue fails as a NIC fails one too short for what came. */
static void send_too_long(void)
{
	struct ibv_wc wc = {.status = IBV_WC_LOC_LEN_ERR, .opcode = IBV_WC_RECV};

	assert_true(rmig_fake.rq_n > 0);
	assert_true(rmig_fake.rq[rmig_fake.rq_head].len < RMIG_RDMA_HDR_SIZE + 1024);
	wc.wr_id = rmig_fake.rq[rmig_fake.rq_head].wr_id;
	rmig_fake.rq_head = (rmig_fake.rq_head + 1) % RMIG_FAKE_RQ_MAX;
	rmig_fake.rq_n--;
	rmig_fake_cq_push(qp()->recv_cq, &wc);
}

static void set_key(struct rmig_rdma_auth_key *k, const char *key)
{
	memset(k, 0, sizeof(*k));
	k->len = strlen(key);
	memcpy(k->bytes, key, k->len);
}

static void source_proves(void)
{
	struct rmig_rdma_auth_key k;
	uint8_t mac[RMIG_RDMA_AUTH_MAC];

	assert_true(src.have_response);
	/* The destination proved the key first, as rmig's source insists. */
	set_key(&k, KEY);
	assert_true(rmig_rdma_auth_check(&k, true, OFFER, src.ns, src.response,
					 src.response + RMIG_RDMA_AUTH_NONCE));
	if (src.misdeed == WRONG_PROOF)
		set_key(&k, "another key, of thirty-two bytes");
	assert_int_equal(rmig_rdma_auth_prove(&k, false, OFFER, src.ns, src.response, mac), 0);
	send_msg(RMIG_RDMA_MSG_AUTH_PROOF, mac, sizeof(mac));
	/* From here on the destination may register its rings, and only if the proof was right. */
	src.trusted = src.misdeed == HONEST;
}

/* The destination waits: the source takes its next step. */
static int t_get_cm_event(struct rdma_event_channel *ch, struct rdma_cm_event **ev)
{
	int ret = rmig_fake_get_cm_event(ch, ev);

	if (ret == 0 || !qp() || src.gone)
		return ret;
	switch (src.step++) {
	case 0:
		/* Granted, one credit, into one of two small RECVs. */
		assert_int_equal(src.readies, 1);
		assert_int_equal(src.max_ready, 1);
		assert_int_equal(src.small_recvs, RMIG_RDMA_PREAUTH_RECVS);
		assert_int_equal(rmig_fake.rq_n, RMIG_RDMA_PREAUTH_RECVS);
		memset(src.ns, 0x5a, sizeof(src.ns));
		if (src.misdeed == OVERSIZED) {
			send_too_long();
			break;
		}
		send_msg(RMIG_RDMA_MSG_AUTH_CHALLENGE, src.ns, sizeof(src.ns));
		if (src.misdeed == NO_CREDIT)
			send_msg(RMIG_RDMA_MSG_QEMU_FILE, "QEVM", 4);
		break;
	case 1:
		if (src.misdeed == HANGS_UP) {
			rmig_fake_cm_push(RDMA_CM_EVENT_DISCONNECTED);
			src.gone = true;
			break;
		}
		if (src.misdeed == SILENT) {
			src.gone = true;
			break;
		}
		source_proves();
		break;
	default:
		fail_msg("the destination waits for more than the exchange (step %u)", src.step);
	}
	return rmig_fake_get_cm_event(ch, ev);
}

static int setup(void **state)
{
	FILE *f;

	snprintf(key_path, sizeof(key_path), "/tmp/rmig-preauth-%d.key", (int)getpid());
	f = fopen(key_path, "w");
	assert_non_null(f);
	fputs(KEY "\n", f);
	fclose(f);
	memset(&src, 0, sizeof(src));
	rmig_fake_install();
	fake = rmig_fake.glue;
	rmig_fake.glue.reg_mr = t_reg_mr;
	rmig_fake.glue.dereg_mr = t_dereg_mr;
	rmig_fake.glue.post_recv = t_post_recv;
	rmig_fake.glue.post_send = t_post_send;
	rmig_fake.glue.get_cm_event = t_get_cm_event;
	return rdma_test_setup(state);
}

static int teardown(void **state)
{
	unlink(key_path);
	rmig_fake_remove();
	return rdma_test_teardown(state);
}

/* A source offering OFFER connects; returns accept's result, the connection in *@out. */
static int source_connects(enum misdeed misdeed, struct rmig_conn **out)
{
	const struct rmig_transport_ops *ops = rmig_rdma_get_ops();
	struct rmig_conn_opts opts = {.size = sizeof(opts), .timeout_ms = 1000,
				      .auth_key = key_path, .cancel_fd = src.cancel_fd};
	struct rmig_rdma_caps caps = {.version = 1, .flags = OFFER};
	uint8_t pdata[RMIG_RDMA_CAPS_SIZE];
	struct rmig_listener *l;
	int ret;

	src.misdeed = misdeed;
	assert_int_equal(ops->listen("127.0.0.1:4444", &opts, &l), 0);
	rmig_rdma_caps_encode(&caps, pdata);
	rmig_fake_connect_request(pdata, sizeof(pdata));
	*out = NULL;
	ret = ops->accept(l, 1000, out);
	src.trusted = true;
	ops->listener_close(l);
	return ret;
}

static void test_honest_source_trusted_after_proof(void **state)
{
	struct rmig_conn *c;
	struct rmig_rdma_conn *rc;

	(void)state;
	assert_int_equal(source_connects(HONEST, &c), 0);
	rc = rmig_rdma_conn_of(c);
	assert_int_equal(src.step, 2);
	/* Until the proof checked out: the page, and nothing else. */
	assert_int_equal(src.peak_untrusted, PAGE);
	/* Then the rings, every slot posted full-size, and the window the caps allow. */
	assert_int_equal(src.live, PAGE + RINGS);
	assert_false(rc->ctrl.untrusted);
	assert_int_equal(rmig_fake.rq_n, RMIG_RDMA_RECV_BUFS);
	for (unsigned i = 0; i < rmig_fake.rq_n; i++)
		assert_int_equal(rmig_fake.rq[(rmig_fake.rq_head + i) % RMIG_FAKE_RQ_MAX].len,
				 RMIG_RDMA_CONTROL_MAX);
	assert_int_equal(rc->ctrl.window, RMIG_RDMA_CREDITS);
	assert_int_equal(rc->ctrl.to_grant, RMIG_RDMA_CREDITS);
	assert_int_equal(src.max_ready, 1);
	assert_false(src.error_sent);
	rmig_rdma_get_ops()->close(c);
	assert_int_equal(src.live, 0);
	assert_int_equal(rmig_fake.live, 0);
}

static void refused(enum misdeed misdeed, unsigned steps, const char *why)
{
	struct rmig_conn *c;

	assert_int_equal(source_connects(misdeed, &c), -EKEYREJECTED);
	assert_null(c);
	assert_int_equal(src.step, steps);
	assert_int_equal(src.peak_untrusted, PAGE);
	assert_int_equal(src.live, 0);
	assert_int_equal(rmig_fake.live, 0);
	assert_int_equal(src.max_ready, 1);
	assert_error_mentions(why);
}

static void test_wrong_proof(void **state)
{
	(void)state;
	refused(WRONG_PROOF, 2, "did not prove the key");
	assert_true(src.error_sent);
}

static void test_oversized_message(void **state)
{
	(void)state;
	/* The NIC refuses it: a receive buffer of the small pre-auth size, never a big one. */
	refused(OVERSIZED, 1, "control message receive failed: local length error");
}

static void test_message_without_credit(void **state)
{
	(void)state;
	refused(NO_CREDIT, 1, "without a credit");
	assert_true(src.error_sent);
}

static void test_source_hangs_up(void **state)
{
	(void)state;
	refused(HANGS_UP, 2, "during authentication");
}

static void *cancel_later(void *arg)
{
	uint64_t one = 1;

	(void)arg;
	usleep(100 * 1000);
	assert_int_equal(write(src.cancel_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
	return NULL;
}

/*
 * The engine cannot abort a connection accept has not returned: its
 * cancel comes through the eventfd given to listen, and must end the
 * wait for a silent source's proof at once, not at the exchange's bound
 * (10 s without a peer-timeout).  A cancel is not a refusal.
 */
static void test_cancel_while_source_silent(void **state)
{
	struct rmig_conn *c;
	pthread_t t;
	uint64_t t0;

	(void)state;
	src.cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(src.cancel_fd > 0);
	t0 = rmig_time_now_ns();
	assert_int_equal(pthread_create(&t, NULL, cancel_later, NULL), 0);
	assert_int_equal(source_connects(SILENT, &c), -ECANCELED);
	assert_true(rmig_time_now_ns() - t0 < 1000 * RMIG_NSEC_PER_MSEC);
	pthread_join(t, NULL);
	assert_null(c);
	assert_int_equal(src.step, 2);
	assert_int_equal(src.live, 0);
	assert_int_equal(rmig_fake.live, 0);
	close(src.cancel_fd);
}

/*
 * The rings the listener faulted in ahead go to the request, unregistered
 * while it is untrusted; a source refused at authentication hands them
 * back, so the next one costs no new 11 MiB, and nothing of them was ever
 * registered.
 */
static void test_refused_source_leaves_rings(void **state)
{
	const struct rmig_transport_ops *ops = rmig_rdma_get_ops();
	struct rmig_conn_opts opts = {.size = sizeof(opts), .timeout_ms = 1000,
				      .auth_key = key_path};
	struct rmig_rdma_caps caps = {.version = 1, .flags = OFFER};
	struct rmig_rdma_rings probe = { 0 };
	uint8_t pdata[RMIG_RDMA_CAPS_SIZE];
	struct rmig_rdma_listener *rl;
	struct rmig_listener *l;
	struct rmig_conn *c = NULL;
	uint8_t *recv, *send;

	(void)state;
	/* MADV_POPULATE_WRITE came with Linux 5.14: nothing is prepared before it. */
	if (rmig_rdma_rings_prepare(&probe) == -EOPNOTSUPP)
		skip();
	rmig_rdma_rings_release(&probe);
	src.misdeed = WRONG_PROOF;
	assert_int_equal(ops->listen("127.0.0.1:4444", &opts, &l), 0);
	rl = (struct rmig_rdma_listener *)(void *)l;
	assert_true(ops->accept(l, 20, &c) < 0); /* a slice with no source: rings prepared */
	recv = rl->rings.recv;
	send = rl->rings.send;
	assert_non_null(recv);
	rmig_rdma_caps_encode(&caps, pdata);
	rmig_fake_connect_request(pdata, sizeof(pdata));
	assert_int_equal(ops->accept(l, 1000, &c), -EKEYREJECTED);
	assert_int_equal(src.step, 2);
	assert_int_equal(src.peak_untrusted, PAGE);
	assert_ptr_equal(rl->rings.recv, recv);
	assert_ptr_equal(rl->rings.send, send);
	/* still mapped, still faulted in */
	assert_int_equal(resident_pages(recv, RMIG_RDMA_RECV_RING_BYTES),
			 resident_page_count(RMIG_RDMA_RECV_RING_BYTES));
	src.trusted = true;
	ops->listener_close(l);
	assert_int_equal(src.live, 0);
	assert_int_equal(rmig_fake.live, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_honest_source_trusted_after_proof, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_proof, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oversized_message, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_message_without_credit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_source_hangs_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_while_source_silent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_source_leaves_rings, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
