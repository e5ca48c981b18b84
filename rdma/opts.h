/* SPDX-License-Identifier: MIT */
/*
 * Reading struct rmig_conn_opts as the caller built it: each field only
 * when @size says the caller's struct has it, else the default a caller
 * built before the field existed gets (include/rmig/transport.h).
 */
#ifndef RMIG_RDMA_OPTS_H
#define RMIG_RDMA_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rmig/transport.h>

/* connect and accept without a timeout_ms of their own */
#define RMIG_RDMA_DEFAULT_TIMEOUT_MS 10000

static inline int rmig_rdma_opts_get_timeout(const struct rmig_conn_opts *o)
{
	if (o && o->size >= offsetof(struct rmig_conn_opts, timeout_ms) + sizeof(int) &&
	    o->timeout_ms > 0)
		return o->timeout_ms;
	return RMIG_RDMA_DEFAULT_TIMEOUT_MS;
}

/* Callers built before the field existed set no limit. */
static inline int rmig_rdma_opts_get_peer_timeout(const struct rmig_conn_opts *o)
{
	if (o && o->size >= offsetof(struct rmig_conn_opts, peer_timeout_ms) + sizeof(int) &&
	    o->peer_timeout_ms > 0)
		return o->peer_timeout_ms;
	return 0;
}

static inline int rmig_rdma_opts_get_cancel_fd(const struct rmig_conn_opts *o)
{
	if (o && o->size >= offsetof(struct rmig_conn_opts, cancel_fd) + sizeof(int) &&
	    o->cancel_fd > 0)
		return o->cancel_fd;
	return -1;
}

static inline uint64_t rmig_rdma_opts_get_max_pinned(const struct rmig_conn_opts *o)
{
	if (o && o->size >= offsetof(struct rmig_conn_opts, rdma_max_pinned) + sizeof(uint64_t))
		return o->rdma_max_pinned;
	return 0;
}

static inline uint32_t rmig_rdma_opts_get_channels(const struct rmig_conn_opts *o)
{
	if (o && o->size >= offsetof(struct rmig_conn_opts, rdma_channels) + sizeof(uint32_t))
		return o->rdma_channels;
	return 0;
}

/* -2 (auto) for callers built before the field existed. */
static inline int rmig_rdma_opts_get_numa_node(const struct rmig_conn_opts *o)
{
	if (o && o->size >= offsetof(struct rmig_conn_opts, rdma_numa_node) + sizeof(int))
		return o->rdma_numa_node;
	return -2;
}

static inline bool rmig_rdma_opts_get_pin_all(const struct rmig_conn_opts *o)
{
	return o && o->size >= offsetof(struct rmig_conn_opts, rdma_pin_all) + sizeof(bool) &&
	       o->rdma_pin_all;
}

#endif /* RMIG_RDMA_OPTS_H */
