/* SPDX-License-Identifier: MIT */
/*
 * The one table every rdma_* / ibv_* call of the transport goes through.
 *
 * Why a table (as DPDK's mlx5_glue): the data-path verbs (ibv_post_send,
 * ibv_post_recv, ibv_poll_cq, ibv_req_notify_cq) are static inline in
 * verbs.h, so linker --wrap cannot intercept them; unit tests install a
 * fake table with rmig_rdma_glue_set() and count, fail or record calls.
 *
 * The table keeps the libraries' own conventions (rdmacm: -1 + errno;
 * ibv_post_*: positive errno; ibv_reg_mr & co: NULL + errno).  The
 * wrappers below, rmig_rdma_glue_<call> for each slot, are the only callers
 * of the table and the only place those conventions are turned into rmig's
 * negative errno, so the rest of rdma/ sees one convention.  The wrappers
 * do not report: the caller knows what the operator needs to hear.
 */
#ifndef RMIG_RDMA_GLUE_H
#define RMIG_RDMA_GLUE_H

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

struct rmig_rdma_glue {
	/* rdmacm */
	struct rdma_event_channel *(*create_event_channel)(void);
	void (*destroy_event_channel)(struct rdma_event_channel *ch);
	int (*create_id)(struct rdma_event_channel *ch, struct rdma_cm_id **id, void *ctx,
			 enum rdma_port_space ps);
	int (*destroy_id)(struct rdma_cm_id *id);
	int (*resolve_addr)(struct rdma_cm_id *id, struct sockaddr *src, struct sockaddr *dst,
			    int timeout_ms);
	int (*resolve_route)(struct rdma_cm_id *id, int timeout_ms);
	int (*bind_addr)(struct rdma_cm_id *id, struct sockaddr *addr);
	int (*listen)(struct rdma_cm_id *id, int backlog);
	int (*get_cm_event)(struct rdma_event_channel *ch, struct rdma_cm_event **ev);
	int (*ack_cm_event)(struct rdma_cm_event *ev);
	int (*connect)(struct rdma_cm_id *id, struct rdma_conn_param *p);
	int (*accept)(struct rdma_cm_id *id, struct rdma_conn_param *p);
	int (*reject)(struct rdma_cm_id *id, const void *pdata, uint8_t len);
	int (*disconnect)(struct rdma_cm_id *id);
	int (*migrate_id)(struct rdma_cm_id *id, struct rdma_event_channel *ch);
	int (*create_qp)(struct rdma_cm_id *id, struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
	void (*destroy_qp)(struct rdma_cm_id *id);
	int (*init_qp_attr)(struct rdma_cm_id *id, struct ibv_qp_attr *attr, int *mask);
	/* verbs, control path */
	struct ibv_device **(*get_device_list)(int *n);
	void (*free_device_list)(struct ibv_device **list);
	int (*query_device)(struct ibv_context *ctx, struct ibv_device_attr *attr);
	int (*query_port)(struct ibv_context *ctx, uint8_t port, struct ibv_port_attr *attr);
	struct ibv_pd *(*alloc_pd)(struct ibv_context *ctx);
	int (*dealloc_pd)(struct ibv_pd *pd);
	struct ibv_comp_channel *(*create_comp_channel)(struct ibv_context *ctx);
	int (*destroy_comp_channel)(struct ibv_comp_channel *ch);
	struct ibv_cq *(*create_cq)(struct ibv_context *ctx, int cqe, void *cq_ctx,
				    struct ibv_comp_channel *ch, int vector);
	int (*destroy_cq)(struct ibv_cq *cq);
	/* queue pairs without an rdma_cm id (the data lanes) */
	struct ibv_qp *(*verbs_create_qp)(struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
	int (*verbs_destroy_qp)(struct ibv_qp *qp);
	int (*modify_qp)(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask);
	struct ibv_mr *(*reg_mr)(struct ibv_pd *pd, void *addr, size_t len, int access);
	int (*dereg_mr)(struct ibv_mr *mr);
	int (*get_cq_event)(struct ibv_comp_channel *ch, struct ibv_cq **cq, void **cq_ctx);
	void (*ack_cq_events)(struct ibv_cq *cq, unsigned n);
	/* verbs, data path (static inline in verbs.h, hence here) */
	int (*req_notify_cq)(struct ibv_cq *cq, int solicited_only);
	int (*poll_cq)(struct ibv_cq *cq, int n, struct ibv_wc *wc);
	int (*post_send)(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad);
	int (*post_recv)(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad);
	/* strings */
	const char *(*event_str)(enum rdma_cm_event_type e);
	const char *(*wc_status_str)(enum ibv_wc_status s);
};

/* The table in use; never NULL. */
const struct rmig_rdma_glue *rmig_rdma_glue_get(void);
/* The real libraries. */
const struct rmig_rdma_glue *rmig_rdma_glue_default(void);
/* Install @g (NULL restores the default).  Tests only; not while connections exist. */
void rmig_rdma_glue_set(const struct rmig_rdma_glue *g);

/*
 * Wrappers: 0 / a pointer on success, negative errno on failure (the
 * pointer-returning ones store it in *@err, which is then always < 0).
 */
struct rdma_event_channel *rmig_rdma_glue_create_event_channel(int *err);
void rmig_rdma_glue_destroy_event_channel(struct rdma_event_channel *ch);
int rmig_rdma_glue_create_id(struct rdma_event_channel *ch, struct rdma_cm_id **id, void *ctx);
int rmig_rdma_glue_destroy_id(struct rdma_cm_id *id);
int rmig_rdma_glue_resolve_addr(struct rdma_cm_id *id, struct sockaddr *dst, int timeout_ms);
int rmig_rdma_glue_resolve_route(struct rdma_cm_id *id, int timeout_ms);
int rmig_rdma_glue_bind_addr(struct rdma_cm_id *id, struct sockaddr *addr);
int rmig_rdma_glue_listen(struct rdma_cm_id *id, int backlog);
int rmig_rdma_glue_get_cm_event(struct rdma_event_channel *ch, struct rdma_cm_event **ev);
int rmig_rdma_glue_ack_cm_event(struct rdma_cm_event *ev);
int rmig_rdma_glue_connect(struct rdma_cm_id *id, struct rdma_conn_param *p);
int rmig_rdma_glue_accept(struct rdma_cm_id *id, struct rdma_conn_param *p);
int rmig_rdma_glue_reject(struct rdma_cm_id *id, const void *pdata, uint8_t len);
int rmig_rdma_glue_disconnect(struct rdma_cm_id *id);
int rmig_rdma_glue_migrate_id(struct rdma_cm_id *id, struct rdma_event_channel *ch);
int rmig_rdma_glue_create_qp(struct rdma_cm_id *id, struct ibv_pd *pd, struct ibv_qp_init_attr *a);
void rmig_rdma_glue_destroy_qp(struct rdma_cm_id *id);
/* What rdma_cm would program into @id's QP for the state in @attr->qp_state. */
int rmig_rdma_glue_init_qp_attr(struct rdma_cm_id *id, struct ibv_qp_attr *attr, int *mask);
struct ibv_qp *rmig_rdma_glue_verbs_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *a,
					      int *err);
int rmig_rdma_glue_verbs_destroy_qp(struct ibv_qp *qp);
int rmig_rdma_glue_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask);
/* Number of RDMA devices present (0 when none), or negative errno. */
int rmig_rdma_glue_device_count(void);
int rmig_rdma_glue_query_device(struct ibv_context *ctx, struct ibv_device_attr *attr);
int rmig_rdma_glue_query_port(struct ibv_context *ctx, uint8_t port, struct ibv_port_attr *attr);
struct ibv_pd *rmig_rdma_glue_alloc_pd(struct ibv_context *ctx, int *err);
int rmig_rdma_glue_dealloc_pd(struct ibv_pd *pd);
struct ibv_comp_channel *rmig_rdma_glue_create_comp_channel(struct ibv_context *ctx, int *err);
int rmig_rdma_glue_destroy_comp_channel(struct ibv_comp_channel *ch);
struct ibv_cq *rmig_rdma_glue_create_cq(struct ibv_context *ctx, int cqe,
					struct ibv_comp_channel *ch, int *err);
int rmig_rdma_glue_destroy_cq(struct ibv_cq *cq);
struct ibv_mr *rmig_rdma_glue_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access,
				     int *err);
int rmig_rdma_glue_dereg_mr(struct ibv_mr *mr);
int rmig_rdma_glue_get_cq_event(struct ibv_comp_channel *ch, struct ibv_cq **cq);
void rmig_rdma_glue_ack_cq_events(struct ibv_cq *cq, unsigned n);
int rmig_rdma_glue_req_notify_cq(struct ibv_cq *cq);
/* Completions polled (>= 0) or negative errno. */
int rmig_rdma_glue_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc);
int rmig_rdma_glue_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr);
int rmig_rdma_glue_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr);
const char *rmig_rdma_glue_event_str(enum rdma_cm_event_type e);
const char *rmig_rdma_glue_wc_status_str(enum ibv_wc_status s);

#endif /* RMIG_RDMA_GLUE_H */
