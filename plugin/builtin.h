/* SPDX-License-Identifier: MIT */
/*
 * The list of transports rmig knows at build time, in one place (as
 * libfabric's ofi_prov.h lists its providers).  Each transport is in one of
 * three modes:
 *
 *   built in   its ops function is linked into librmig and listed here;
 *   module     it is built as a .so that exports RMIG_TRANSPORT_INIT_SYMBOL
 *              and is found by the loader at run time; listed as NULL;
 *   absent     not built at all; listed as NULL.
 *
 * A transport's source opens its entry point with its RMIG_<NAME>_INI
 * macro, so the same file builds in either of the first two modes.  The
 * engine (common/engine/transports.c) walks RMIG_BUILTIN_TRANSPORTS; the
 * registry below it never calls a transport by name.
 */
#ifndef RMIG_BUILTIN_H
#define RMIG_BUILTIN_H

#include <stddef.h>
#include <stdint.h>

#include <rmig/transport.h>

#include "rmig-config.h"

typedef const struct rmig_transport_ops *(*rmig_builtin_ops_fn)(void);

/* The socket transports are always built in. */
const struct rmig_transport_ops *rmig_tcp_get_ops(void);
const struct rmig_transport_ops *rmig_unix_get_ops(void);
const struct rmig_transport_ops *rmig_fd_get_ops(void);

#if RMIG_HAVE_RDMA && RMIG_RDMA_BUILTIN
const struct rmig_transport_ops *rmig_rdma_get_ops(void);
#define RMIG_RDMA_OPS rmig_rdma_get_ops
#elif RMIG_HAVE_RDMA
#define RMIG_RDMA_INI const struct rmig_transport_ops *rmig_transport_init(uint32_t abi_version)
#define RMIG_RDMA_OPS NULL
#else
#define RMIG_RDMA_OPS NULL
#endif

/* NULL entries are transports that are modules or absent in this build. */
#define RMIG_BUILTIN_TRANSPORTS                                                                    \
	{                                                                                          \
		rmig_tcp_get_ops, rmig_unix_get_ops, rmig_fd_get_ops, RMIG_RDMA_OPS,                           \
	}

#endif /* RMIG_BUILTIN_H */
