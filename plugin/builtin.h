/* SPDX-License-Identifier: MIT */
/*
 * Private to plugin/ (and the rdma sources when built in): the ops tables
 * of the built-in transports, and the registry entry points the module
 * loader needs beyond registry.h.
 */
#ifndef RMIG_BUILTIN_H
#define RMIG_BUILTIN_H

#include <stddef.h>

#include "transport.h"

const struct rmig_transport_ops *rmig_tcp_ops(void);
const struct rmig_transport_ops *rmig_unix_ops(void);
const struct rmig_transport_ops *rmig_fd_ops(void);
/* Implemented by rdma/ when RMIG_RDMA_BUILTIN is 1. */
const struct rmig_transport_ops *rmig_rdma_builtin_ops(void);

/*
 * Validate @ops without registering or reporting anything: returns 0, or a
 * negative errno with the reason written to @why, so the loader can name
 * the module file in its own report.
 */
int rmig_transport_check(const struct rmig_transport_ops *ops, char *why, size_t whylen);

/*
 * Register an already-checked table, taking ownership of @dl_handle (may be
 * NULL), which rmig_transport_reset() dlcloses.  Quietly returns -EEXIST if
 * the scheme is taken (the caller then still owns @dl_handle), -ENOSPC
 * (reported) when the table is full.
 */
int rmig_transport_add(const struct rmig_transport_ops *ops, void *dl_handle);

#endif /* RMIG_BUILTIN_H */
