/* SPDX-License-Identifier: MIT */
/*
 * NUMA placement of multifd channels (libnuma): each channel's thread runs
 * on the node of the device that carries it, and its stream buffer lives
 * there, so the bytes it moves cross no interconnect on their way to the
 * NIC.  The embedder's RAM is never moved: it is the embedder's.
 */
#ifndef RMIG_NUMA_H
#define RMIG_NUMA_H

#include <stddef.h>
#include <stdint.h>

struct rmig_conn;

/*
 * The node a channel carried by @conn should use under the numa-node
 * parameter @param (params.h), or -1 for no binding; *@why says how it was
 * chosen, for the report.
 */
int rmig_numa_pick(int param, struct rmig_conn *conn, const char **why);
/* In the calling thread: run on @node's CPUs only.  0, or -errno (reported). */
int rmig_numa_bind_thread(int node);
/* @len bytes whose pages will be placed on @node (-1: anywhere), or NULL. */
void *rmig_numa_alloc(size_t len, int node);
/* What rmig_numa_alloc(@len, @node) returned. */
void rmig_numa_free(void *p, size_t len, int node);
/*
 * Log at info level (-v) what took effect for channel @index of @side:
 * the CPUs the calling thread may run on, and the node that holds @buf's
 * first page, as the kernel reports them.
 */
void rmig_numa_report(const char *side, uint32_t index, int node, const char *why,
		      const void *buf);

#endif /* RMIG_NUMA_H */
