/* SPDX-License-Identifier: MIT */
/*
 * The default glue table (the real librdmacm / libibverbs) and the
 * wrappers that convert their three error conventions into negative errno.
 */
#include "rdma/glue.h"

#include <errno.h>
#include <stddef.h>

/* Inline verbs need a real function to point at. */
static int glue_req_notify_cq(struct ibv_cq *cq, int solicited_only)
{
	return ibv_req_notify_cq(cq, solicited_only);
}

static int glue_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	return ibv_poll_cq(cq, n, wc);
}

static int glue_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	return ibv_post_send(qp, wr, bad);
}

static int glue_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
	return ibv_post_recv(qp, wr, bad);
}

static struct ibv_mr *glue_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	/* ibv_reg_mr is a macro in newer verbs.h; call it through a function. */
	return ibv_reg_mr(pd, addr, len, access);
}

static int glue_query_device(struct ibv_context *ctx, struct ibv_device_attr *attr)
{
	return ibv_query_device(ctx, attr);
}

static int glue_query_port(struct ibv_context *ctx, uint8_t port, struct ibv_port_attr *attr)
{
	/* ibv_query_port is a macro in verbs.h as well. */
	return ibv_query_port(ctx, port, attr);
}

static const struct rmig_rdma_glue default_glue = {
	.create_event_channel = rdma_create_event_channel,
	.destroy_event_channel = rdma_destroy_event_channel,
	.create_id = rdma_create_id,
	.destroy_id = rdma_destroy_id,
	.resolve_addr = rdma_resolve_addr,
	.resolve_route = rdma_resolve_route,
	.bind_addr = rdma_bind_addr,
	.listen = rdma_listen,
	.get_cm_event = rdma_get_cm_event,
	.ack_cm_event = rdma_ack_cm_event,
	.connect = rdma_connect,
	.accept = rdma_accept,
	.reject = rdma_reject,
	.disconnect = rdma_disconnect,
	.migrate_id = rdma_migrate_id,
	.create_qp = rdma_create_qp,
	.destroy_qp = rdma_destroy_qp,
	.init_qp_attr = rdma_init_qp_attr,
	.get_device_list = ibv_get_device_list,
	.free_device_list = ibv_free_device_list,
	.query_device = glue_query_device,
	.query_port = glue_query_port,
	.alloc_pd = ibv_alloc_pd,
	.dealloc_pd = ibv_dealloc_pd,
	.create_comp_channel = ibv_create_comp_channel,
	.destroy_comp_channel = ibv_destroy_comp_channel,
	.create_cq = ibv_create_cq,
	.destroy_cq = ibv_destroy_cq,
	.verbs_create_qp = ibv_create_qp,
	.verbs_destroy_qp = ibv_destroy_qp,
	.modify_qp = ibv_modify_qp,
	.reg_mr = glue_reg_mr,
	.dereg_mr = ibv_dereg_mr,
	.get_cq_event = ibv_get_cq_event,
	.ack_cq_events = ibv_ack_cq_events,
	.req_notify_cq = glue_req_notify_cq,
	.poll_cq = glue_poll_cq,
	.post_send = glue_post_send,
	.post_recv = glue_post_recv,
	.event_str = rdma_event_str,
	.wc_status_str = ibv_wc_status_str,
};

static const struct rmig_rdma_glue *glue = &default_glue;

const struct rmig_rdma_glue *rmig_rdma_glue_default(void)
{
	return &default_glue;
}

const struct rmig_rdma_glue *rmig_rdma_glue_get(void)
{
	return glue;
}

void rmig_rdma_glue_set(const struct rmig_rdma_glue *g)
{
	glue = g ? g : &default_glue;
}

/* rdmacm and ibv_get_cq_event: -1 and errno. */
static int from_minus1(int ret)
{
	if (ret >= 0)
		return 0;
	return errno > 0 ? -errno : -EIO;
}

/* ibv_post_*, ibv_dealloc_pd, ibv_destroy_*, ibv_dereg_mr...: a positive errno. */
static int from_positive(int ret)
{
	if (ret == 0)
		return 0;
	if (ret > 0)
		return -ret;
	/* Some providers return -1 with errno set instead; accept both. */
	return errno > 0 ? -errno : -EIO;
}

/* Constructors: NULL and errno. */
static int from_null(void)
{
	return errno > 0 ? -errno : -ENOMEM;
}

struct rdma_event_channel *rmig_rdma_glue_create_event_channel(int *err)
{
	struct rdma_event_channel *ch;

	errno = 0;
	ch = glue->create_event_channel();
	if (!ch)
		*err = from_null();
	return ch;
}

void rmig_rdma_glue_destroy_event_channel(struct rdma_event_channel *ch)
{
	glue->destroy_event_channel(ch);
}

int rmig_rdma_glue_create_id(struct rdma_event_channel *ch, struct rdma_cm_id **id, void *ctx)
{
	errno = 0;
	return from_minus1(glue->create_id(ch, id, ctx, RDMA_PS_TCP));
}

int rmig_rdma_glue_destroy_id(struct rdma_cm_id *id)
{
	errno = 0;
	return from_minus1(glue->destroy_id(id));
}

int rmig_rdma_glue_resolve_addr(struct rdma_cm_id *id, struct sockaddr *dst, int timeout_ms)
{
	errno = 0;
	return from_minus1(glue->resolve_addr(id, NULL, dst, timeout_ms));
}

int rmig_rdma_glue_resolve_route(struct rdma_cm_id *id, int timeout_ms)
{
	errno = 0;
	return from_minus1(glue->resolve_route(id, timeout_ms));
}

int rmig_rdma_glue_bind_addr(struct rdma_cm_id *id, struct sockaddr *addr)
{
	errno = 0;
	return from_minus1(glue->bind_addr(id, addr));
}

int rmig_rdma_glue_listen(struct rdma_cm_id *id, int backlog)
{
	errno = 0;
	return from_minus1(glue->listen(id, backlog));
}

int rmig_rdma_glue_get_cm_event(struct rdma_event_channel *ch, struct rdma_cm_event **ev)
{
	errno = 0;
	return from_minus1(glue->get_cm_event(ch, ev));
}

int rmig_rdma_glue_ack_cm_event(struct rdma_cm_event *ev)
{
	errno = 0;
	return from_minus1(glue->ack_cm_event(ev));
}

int rmig_rdma_glue_connect(struct rdma_cm_id *id, struct rdma_conn_param *p)
{
	errno = 0;
	return from_minus1(glue->connect(id, p));
}

int rmig_rdma_glue_accept(struct rdma_cm_id *id, struct rdma_conn_param *p)
{
	errno = 0;
	return from_minus1(glue->accept(id, p));
}

int rmig_rdma_glue_reject(struct rdma_cm_id *id, const void *pdata, uint8_t len)
{
	errno = 0;
	return from_minus1(glue->reject(id, pdata, len));
}

int rmig_rdma_glue_disconnect(struct rdma_cm_id *id)
{
	errno = 0;
	return from_minus1(glue->disconnect(id));
}

int rmig_rdma_glue_migrate_id(struct rdma_cm_id *id, struct rdma_event_channel *ch)
{
	errno = 0;
	return from_minus1(glue->migrate_id(id, ch));
}

int rmig_rdma_glue_create_qp(struct rdma_cm_id *id, struct ibv_pd *pd, struct ibv_qp_init_attr *a)
{
	errno = 0;
	return from_minus1(glue->create_qp(id, pd, a));
}

void rmig_rdma_glue_destroy_qp(struct rdma_cm_id *id)
{
	glue->destroy_qp(id);
}

int rmig_rdma_glue_init_qp_attr(struct rdma_cm_id *id, struct ibv_qp_attr *attr, int *mask)
{
	errno = 0;
	return from_minus1(glue->init_qp_attr(id, attr, mask));
}

struct ibv_qp *rmig_rdma_glue_verbs_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *a,
					      int *err)
{
	struct ibv_qp *qp;

	errno = 0;
	qp = glue->verbs_create_qp(pd, a);
	if (!qp)
		*err = errno > 0 ? -errno : -EIO;
	return qp;
}

int rmig_rdma_glue_verbs_destroy_qp(struct ibv_qp *qp)
{
	return from_positive(glue->verbs_destroy_qp(qp));
}

int rmig_rdma_glue_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask)
{
	return from_positive(glue->modify_qp(qp, attr, mask));
}

int rmig_rdma_glue_device_count(void)
{
	struct ibv_device **list;
	int n = 0;

	errno = 0;
	list = glue->get_device_list(&n);
	if (!list)
		return from_null();
	glue->free_device_list(list);
	return n;
}

int rmig_rdma_glue_query_device(struct ibv_context *ctx, struct ibv_device_attr *attr)
{
	errno = 0;
	return from_positive(glue->query_device(ctx, attr));
}

int rmig_rdma_glue_query_port(struct ibv_context *ctx, uint8_t port, struct ibv_port_attr *attr)
{
	errno = 0;
	return from_positive(glue->query_port(ctx, port, attr));
}

struct ibv_pd *rmig_rdma_glue_alloc_pd(struct ibv_context *ctx, int *err)
{
	struct ibv_pd *pd;

	errno = 0;
	pd = glue->alloc_pd(ctx);
	if (!pd)
		*err = from_null();
	return pd;
}

int rmig_rdma_glue_dealloc_pd(struct ibv_pd *pd)
{
	errno = 0;
	return from_positive(glue->dealloc_pd(pd));
}

struct ibv_comp_channel *rmig_rdma_glue_create_comp_channel(struct ibv_context *ctx, int *err)
{
	struct ibv_comp_channel *ch;

	errno = 0;
	ch = glue->create_comp_channel(ctx);
	if (!ch)
		*err = from_null();
	return ch;
}

int rmig_rdma_glue_destroy_comp_channel(struct ibv_comp_channel *ch)
{
	errno = 0;
	return from_positive(glue->destroy_comp_channel(ch));
}

struct ibv_cq *rmig_rdma_glue_create_cq(struct ibv_context *ctx, int cqe,
					struct ibv_comp_channel *ch, int *err)
{
	struct ibv_cq *cq;

	errno = 0;
	cq = glue->create_cq(ctx, cqe, NULL, ch, 0);
	if (!cq)
		*err = from_null();
	return cq;
}

int rmig_rdma_glue_destroy_cq(struct ibv_cq *cq)
{
	errno = 0;
	return from_positive(glue->destroy_cq(cq));
}

struct ibv_mr *rmig_rdma_glue_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access,
				     int *err)
{
	struct ibv_mr *mr;

	errno = 0;
	mr = glue->reg_mr(pd, addr, len, access);
	if (!mr)
		*err = from_null();
	return mr;
}

int rmig_rdma_glue_dereg_mr(struct ibv_mr *mr)
{
	errno = 0;
	return from_positive(glue->dereg_mr(mr));
}

int rmig_rdma_glue_get_cq_event(struct ibv_comp_channel *ch, struct ibv_cq **cq)
{
	void *ctx;

	errno = 0;
	return from_minus1(glue->get_cq_event(ch, cq, &ctx));
}

void rmig_rdma_glue_ack_cq_events(struct ibv_cq *cq, unsigned n)
{
	glue->ack_cq_events(cq, n);
}

int rmig_rdma_glue_req_notify_cq(struct ibv_cq *cq)
{
	errno = 0;
	return from_positive(glue->req_notify_cq(cq, 0));
}

int rmig_rdma_glue_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	int ret = glue->poll_cq(cq, n, wc);

	/* ibv_poll_cq gives no errno; a negative value means the CQ is unusable. */
	return ret >= 0 ? ret : -EIO;
}

int rmig_rdma_glue_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr)
{
	struct ibv_send_wr *bad = NULL;

	errno = 0;
	return from_positive(glue->post_send(qp, wr, &bad));
}

int rmig_rdma_glue_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr)
{
	struct ibv_recv_wr *bad = NULL;

	errno = 0;
	return from_positive(glue->post_recv(qp, wr, &bad));
}

const char *rmig_rdma_glue_event_str(enum rdma_cm_event_type e)
{
	const char *s = glue->event_str ? glue->event_str(e) : NULL;

	return s ? s : "unknown event";
}

const char *rmig_rdma_glue_wc_status_str(enum ibv_wc_status st)
{
	const char *s = glue->wc_status_str ? glue->wc_status_str(st) : NULL;

	return s ? s : "unknown status";
}
