/* SPDX-License-Identifier: MIT */
/*
 * The fake glue table; see fake_glue.h.
 */
#include "tests/support/fake_glue.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/base/util.h"

struct rmig_fake rmig_fake = {.next_key = 100};

/* A CQ that holds what the test pushed; the ibv_cq comes first so the two convert. */
struct fake_cq {
	struct ibv_cq cq;
	struct ibv_wc wc[RMIG_FAKE_CQ_MAX];
	unsigned head, n;
	atomic_uint polls; /* a lane's thread polls its CQ while the test watches */
};

static void note(char sign, const char *what)
{
	struct rmig_fake *f = &rmig_fake;

	if (f->njournal < RMIG_FAKE_JOURNAL_MAX)
		snprintf(f->journal[f->njournal++], sizeof(f->journal[0]), "%c%s", sign, what);
	f->live += sign == '+' ? 1 : -1;
}

static bool failing(const char *what)
{
	if (rmig_fake.fail_at && !strcmp(rmig_fake.fail_at, what)) {
		errno = rmig_fake.fail_errno;
		return true;
	}
	return false;
}

static void push_event(enum rdma_cm_event_type e)
{
	rmig_fake.evq[rmig_fake.evq_n++] = e;
}

void rmig_fake_cm_push(enum rdma_cm_event_type e)
{
	if (rmig_fake.evq_n < RMIG_ARRAY_SIZE(rmig_fake.evq))
		push_event(e);
}

static struct rdma_event_channel *f_create_event_channel(void)
{
	struct rdma_event_channel *ch;

	if (failing("event_channel"))
		return NULL;
	ch = calloc(1, sizeof(*ch));
	ch->fd = eventfd(1, EFD_CLOEXEC); /* always readable: waits never sleep */
	note('+', "evch");
	return ch;
}

static void f_destroy_event_channel(struct rdma_event_channel *ch)
{
	close(ch->fd);
	free(ch);
	note('-', "evch");
}

static int f_create_id(struct rdma_event_channel *ch, struct rdma_cm_id **id, void *ctx,
		       enum rdma_port_space ps)
{
	(void)ps;
	if (failing("id"))
		return -1;
	*id = calloc(1, sizeof(**id));
	(*id)->channel = ch;
	(*id)->context = ctx;
	(*id)->verbs = &rmig_fake.verbs;
	rmig_fake.last_id = *id;
	note('+', "id");
	return 0;
}

static int f_destroy_id(struct rdma_cm_id *id)
{
	free(id);
	note('-', "id");
	return 0;
}

static int f_resolve_addr(struct rdma_cm_id *id, struct sockaddr *s, struct sockaddr *d, int t)
{
	(void)id, (void)s, (void)d, (void)t;
	if (failing("resolve_addr"))
		return -1;
	push_event(RDMA_CM_EVENT_ADDR_RESOLVED);
	return 0;
}

static int f_resolve_route(struct rdma_cm_id *id, int t)
{
	(void)id, (void)t;
	push_event(RDMA_CM_EVENT_ROUTE_RESOLVED);
	return 0;
}

static int f_connect(struct rdma_cm_id *id, struct rdma_conn_param *p)
{
	(void)id;
	rmig_fake.conn_pdata_len = 0;
	if (p && p->private_data && p->private_data_len >= sizeof(rmig_fake.conn_pdata)) {
		memcpy(rmig_fake.conn_pdata, p->private_data, sizeof(rmig_fake.conn_pdata));
		rmig_fake.conn_pdata_len = sizeof(rmig_fake.conn_pdata);
	}
	push_event(RDMA_CM_EVENT_ESTABLISHED);
	return 0;
}

static int f_bind_addr(struct rdma_cm_id *id, struct sockaddr *addr)
{
	(void)id, (void)addr;
	return failing("bind_addr") ? -1 : 0;
}

static int f_listen(struct rdma_cm_id *id, int backlog)
{
	(void)id, (void)backlog;
	return 0;
}

static int f_accept(struct rdma_cm_id *id, struct rdma_conn_param *p)
{
	(void)id, (void)p;
	if (failing("accept"))
		return -1;
	push_event(RDMA_CM_EVENT_ESTABLISHED);
	return 0;
}

static int f_reject(struct rdma_cm_id *id, const void *pdata, uint8_t len)
{
	(void)id, (void)pdata, (void)len;
	return 0;
}

static int f_migrate_id(struct rdma_cm_id *id, struct rdma_event_channel *ch)
{
	id->channel = ch;
	return 0;
}

struct rdma_cm_id *rmig_fake_connect_request(const void *pdata, uint8_t len)
{
	struct rmig_fake *f = &rmig_fake;
	struct rdma_cm_id *id = calloc(1, sizeof(*id));

	id->verbs = &f->verbs;
	f->req_id = f->last_id = id;
	f->req_pdata_len = len < sizeof(f->req_pdata) ? len : sizeof(f->req_pdata);
	if (f->req_pdata_len)
		memcpy(f->req_pdata, pdata, f->req_pdata_len);
	note('+', "id");
	push_event(RDMA_CM_EVENT_CONNECT_REQUEST);
	return id;
}

static int f_disconnect(struct rdma_cm_id *id)
{
	(void)id;
	push_event(RDMA_CM_EVENT_DISCONNECTED);
	return 0;
}

int rmig_fake_get_cm_event(struct rdma_event_channel *ch, struct rdma_cm_event **ev)
{
	struct rmig_fake *f = &rmig_fake;
	struct rdma_cm_event *e;
	unsigned i;

	(void)ch;
	if (f->evq_n == 0) {
		errno = EAGAIN;
		return -1;
	}
	e = calloc(1, sizeof(*e));
	e->event = f->evq[0];
	e->id = f->last_id;
	if (e->event == RDMA_CM_EVENT_ESTABLISHED && f->est_pdata_set) {
		e->param.conn.private_data = f->est_pdata;
		e->param.conn.private_data_len = sizeof(f->est_pdata);
	}
	if (e->event == RDMA_CM_EVENT_CONNECT_REQUEST) {
		e->id = f->req_id;
		e->param.conn.private_data = f->req_pdata_len ? f->req_pdata : NULL;
		e->param.conn.private_data_len = f->req_pdata_len;
	}
	for (i = 1; i < f->evq_n; i++)
		f->evq[i - 1] = f->evq[i];
	f->evq_n--;
	*ev = e;
	return 0;
}

static int f_ack_cm_event(struct rdma_cm_event *ev)
{
	free(ev);
	return 0;
}

static int f_query_device(struct ibv_context *c, struct ibv_device_attr *a)
{
	(void)c;
	if (failing("query_device"))
		return EIO;
	a->max_mr_size = UINT64_MAX;
	return 0;
}

static int f_query_port(struct ibv_context *c, uint8_t port, struct ibv_port_attr *a)
{
	(void)c;
	(void)port;
	if (failing("query_port"))
		return EIO;
	memset(a, 0, sizeof(*a));
	a->state = rmig_fake.port_state ? rmig_fake.port_state : IBV_PORT_ACTIVE;
	if (rmig_fake.port_down_from && ++rmig_fake.port_queries >= rmig_fake.port_down_from)
		a->state = IBV_PORT_DOWN;
	return 0;
}

static struct ibv_pd *f_alloc_pd(struct ibv_context *c)
{
	struct ibv_pd *pd;

	if (failing("pd"))
		return NULL;
	pd = calloc(1, sizeof(*pd));
	pd->context = c;
	note('+', "pd");
	return pd;
}

static int f_dealloc_pd(struct ibv_pd *pd)
{
	free(pd);
	note('-', "pd");
	return 0;
}

static struct ibv_comp_channel *f_create_comp_channel(struct ibv_context *c)
{
	struct ibv_comp_channel *ch;

	(void)c;
	if (failing(rmig_fake.nchannels % 2 ? "comp_channel2" : "comp_channel1"))
		return NULL;
	rmig_fake.nchannels++;
	ch = calloc(1, sizeof(*ch));
	ch->fd = eventfd(0, EFD_CLOEXEC);
	note('+', "compch");
	return ch;
}

static int f_destroy_comp_channel(struct ibv_comp_channel *ch)
{
	close(ch->fd);
	free(ch);
	note('-', "compch");
	return 0;
}

static struct ibv_cq *f_create_cq(struct ibv_context *c, int cqe, void *ctx,
				  struct ibv_comp_channel *ch, int v)
{
	struct fake_cq *fcq;

	(void)cqe, (void)v;
	if (failing(rmig_fake.ncqs % 2 ? "cq2" : "cq1"))
		return NULL;
	rmig_fake.ncqs++;
	/* Not calloc: the ring is written before it is read, and clearing it was a quarter of a fuzz run. */
	fcq = malloc(sizeof(*fcq));
	memset(fcq, 0, offsetof(struct fake_cq, wc));
	fcq->head = fcq->n = 0;
	atomic_init(&fcq->polls, 0);
	fcq->cq.context = c;
	fcq->cq.channel = ch;
	fcq->cq.cq_context = ctx;
	note('+', "cq");
	return &fcq->cq;
}

static int f_destroy_cq(struct ibv_cq *cq)
{
	free(cq);
	note('-', "cq");
	return 0;
}

/* A new or destroyed QP has an empty receive queue. */
static void rq_clear(void)
{
	rmig_fake.rq_head = rmig_fake.rq_n = 0;
}

static int f_create_qp(struct rdma_cm_id *id, struct ibv_pd *pd, struct ibv_qp_init_attr *a)
{
	if (failing("qp"))
		return -1;
	id->qp = calloc(1, sizeof(*id->qp));
	id->qp->pd = pd;
	id->qp->context = pd->context;
	id->qp->send_cq = a->send_cq;
	id->qp->recv_cq = a->recv_cq;
	rq_clear();
	note('+', "qp");
	return 0;
}

static void f_destroy_qp(struct rdma_cm_id *id)
{
	free(id->qp);
	id->qp = NULL;
	rq_clear();
	note('-', "qp");
}

/* A lane's QP, made without an id; the receive queue stays the connection's. */
static struct ibv_qp *f_verbs_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *a)
{
	struct ibv_qp *qp;

	if (failing("lane_qp"))
		return NULL;
	qp = calloc(1, sizeof(*qp));
	qp->pd = pd;
	qp->context = pd->context;
	qp->send_cq = a->send_cq;
	qp->recv_cq = a->recv_cq;
	note('+', "qp");
	return qp;
}

static int f_verbs_destroy_qp(struct ibv_qp *qp)
{
	free(qp);
	note('-', "qp");
	return 0;
}

/* No path to program: only the state asked for. */
static int f_init_qp_attr(struct rdma_cm_id *id, struct ibv_qp_attr *attr, int *mask)
{
	(void)id, (void)attr;
	*mask = IBV_QP_STATE;
	return 0;
}

static int f_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask)
{
	(void)qp, (void)attr, (void)mask;
	return failing("modify_qp") ? EINVAL : 0;
}

static struct ibv_mr *f_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	struct ibv_mr *mr;

	(void)access;
	if (failing("mr"))
		return NULL;
	mr = calloc(1, sizeof(*mr));
	mr->pd = pd;
	mr->addr = addr;
	mr->length = len;
	mr->lkey = rmig_fake.next_key++;
	mr->rkey = rmig_fake.next_key++;
	note('+', "mr");
	return mr;
}

static int f_dereg_mr(struct ibv_mr *mr)
{
	free(mr);
	note('-', "mr");
	return 0;
}

/* The channels never fire: the engine finds completions by polling. */
static int f_get_cq_event(struct ibv_comp_channel *ch, struct ibv_cq **cq, void **ctx)
{
	(void)ch, (void)cq, (void)ctx;
	errno = EAGAIN;
	return -1;
}

static void f_ack_cq_events(struct ibv_cq *cq, unsigned n)
{
	(void)cq, (void)n;
}

static int f_req_notify_cq(struct ibv_cq *cq, int s)
{
	(void)cq, (void)s;
	return failing("notify") ? EINVAL : 0;
}

static int f_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	struct fake_cq *fcq = (struct fake_cq *)cq;
	int i;

	atomic_fetch_add(&fcq->polls, 1);
	for (i = 0; i < n && fcq->n; i++) {
		wc[i] = fcq->wc[fcq->head];
		fcq->head = (fcq->head + 1) % RMIG_FAKE_CQ_MAX;
		fcq->n--;
	}
	return i;
}

void rmig_fake_cq_push(struct ibv_cq *cq, const struct ibv_wc *wc)
{
	struct fake_cq *fcq = (struct fake_cq *)cq;

	/* A real CQ overrun is fatal to the QP; here it is a test bug or an engine leak. */
	if (fcq->n == RMIG_FAKE_CQ_MAX)
		fail_msg("fake CQ overrun: the engine stopped polling?");
	fcq->wc[(fcq->head + fcq->n++) % RMIG_FAKE_CQ_MAX] = *wc;
}

unsigned rmig_fake_cq_polls(struct ibv_cq *cq)
{
	return atomic_load(&((struct fake_cq *)cq)->polls);
}

int rmig_fake_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	struct rmig_fake *f = &rmig_fake;

	(void)qp;
	if (f->post_send_ret) {
		*bad = wr;
		return f->post_send_ret;
	}
	for (; wr; wr = wr->next) {
		struct rmig_fake_wr *r = &f->wrs[f->nwrs++ % RMIG_FAKE_WRS_MAX];

		r->op = wr->opcode;
		r->flags = wr->send_flags;
		r->laddr = wr->num_sge ? wr->sg_list[0].addr : 0;
		r->len = wr->num_sge ? wr->sg_list[0].length : 0;
		r->raddr = wr->wr.rdma.remote_addr;
		r->rkey = wr->wr.rdma.rkey;
		r->wr_id = wr->wr_id;
		r->msg_type = wr->opcode == IBV_WR_SEND
				  ? rmig_get_be32((const uint8_t *)(uintptr_t)r->laddr + 4)
				  : 0;
	}
	return 0;
}

static int f_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
	struct rmig_fake *f = &rmig_fake;

	(void)qp;
	for (; wr; wr = wr->next) {
		struct rmig_fake_recv *r;

		if (f->rq_n == RMIG_FAKE_RQ_MAX) {
			*bad = wr;
			return ENOMEM; /* receive queue full, as a device says it */
		}
		r = &f->rq[(f->rq_head + f->rq_n++) % RMIG_FAKE_RQ_MAX];
		r->wr_id = wr->wr_id;
		r->addr = wr->num_sge ? wr->sg_list[0].addr : 0;
		r->len = wr->num_sge ? wr->sg_list[0].length : 0;
	}
	return 0;
}

int rmig_fake_deliver(struct ibv_qp *qp, const void *msg, uint32_t len)
{
	struct rmig_fake *f = &rmig_fake;
	struct rmig_fake_recv r;
	struct ibv_wc wc;

	if (f->rq_n == 0)
		return -ENOBUFS;
	r = f->rq[f->rq_head];
	if (len > r.len)
		return -EMSGSIZE;
	f->rq_head = (f->rq_head + 1) % RMIG_FAKE_RQ_MAX;
	f->rq_n--;
	memcpy((void *)(uintptr_t)r.addr, msg, len);
	memset(&wc, 0, sizeof(wc));
	wc.wr_id = r.wr_id;
	wc.status = IBV_WC_SUCCESS;
	wc.opcode = IBV_WC_RECV;
	wc.byte_len = len;
	wc.qp_num = qp->qp_num;
	rmig_fake_cq_push(qp->recv_cq, &wc);
	return 0;
}

void rmig_fake_install(void)
{
	struct rmig_fake *f = &rmig_fake;
	struct rmig_rdma_glue *g = &f->glue;

	*g = *rmig_rdma_glue_default();
	g->create_event_channel = f_create_event_channel;
	g->destroy_event_channel = f_destroy_event_channel;
	g->create_id = f_create_id;
	g->destroy_id = f_destroy_id;
	g->resolve_addr = f_resolve_addr;
	g->resolve_route = f_resolve_route;
	g->bind_addr = f_bind_addr;
	g->listen = f_listen;
	g->connect = f_connect;
	g->accept = f_accept;
	g->reject = f_reject;
	g->migrate_id = f_migrate_id;
	g->disconnect = f_disconnect;
	g->get_cm_event = rmig_fake_get_cm_event;
	g->ack_cm_event = f_ack_cm_event;
	g->query_device = f_query_device;
	g->query_port = f_query_port;
	g->alloc_pd = f_alloc_pd;
	g->dealloc_pd = f_dealloc_pd;
	g->create_comp_channel = f_create_comp_channel;
	g->destroy_comp_channel = f_destroy_comp_channel;
	g->create_cq = f_create_cq;
	g->destroy_cq = f_destroy_cq;
	g->create_qp = f_create_qp;
	g->destroy_qp = f_destroy_qp;
	g->init_qp_attr = f_init_qp_attr;
	g->verbs_create_qp = f_verbs_create_qp;
	g->verbs_destroy_qp = f_verbs_destroy_qp;
	g->modify_qp = f_modify_qp;
	g->reg_mr = f_reg_mr;
	g->dereg_mr = f_dereg_mr;
	g->get_cq_event = f_get_cq_event;
	g->ack_cq_events = f_ack_cq_events;
	g->req_notify_cq = f_req_notify_cq;
	g->poll_cq = f_poll_cq;
	g->post_send = rmig_fake_post_send;
	g->post_recv = f_post_recv;
	rmig_rdma_glue_set(g);
	memset(&f->device, 0, sizeof(f->device));
	snprintf(f->device.name, sizeof(f->device.name), "fake0");
	f->device.transport_type = IBV_TRANSPORT_IB;
	f->verbs.device = &f->device;
	f->njournal = 0;
	f->live = 0;
	f->fail_at = NULL;
	f->fail_errno = ENOMEM;
	f->nwrs = 0;
	f->post_send_ret = 0;
	f->evq_n = 0;
	f->nchannels = f->ncqs = 0;
	f->est_pdata_set = false;
	f->req_id = NULL;
	f->req_pdata_len = 0;
	rq_clear();
}

void rmig_fake_remove(void)
{
	rmig_rdma_glue_set(NULL);
}

unsigned rmig_fake_journal_count(unsigned from, const char *what)
{
	unsigned i, n = 0;

	for (i = from; i < rmig_fake.njournal; i++)
		n += !strcmp(rmig_fake.journal[i], what);
	return n;
}

void rmig_fake_assert_reverse_teardown(void)
{
	char stack[RMIG_FAKE_JOURNAL_MAX][32];
	unsigned n = 0, i;

	for (i = 0; i < rmig_fake.njournal; i++) {
		const char *e = rmig_fake.journal[i];

		if (e[0] == '+') {
			strcpy(stack[n++], e + 1);
		} else {
			assert_true(n > 0);
			assert_string_equal(stack[n - 1], e + 1);
			n--;
		}
	}
	assert_int_equal(n, 0);
	assert_int_equal(rmig_fake.live, 0);
}
