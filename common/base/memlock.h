/* SPDX-License-Identifier: MIT */
/*
 * The locked-memory limit as it applies to this process: what RDMA
 * registration may pin.
 */
#ifndef RMIG_MEMLOCK_H
#define RMIG_MEMLOCK_H

#include <stdint.h>

/*
 * RLIMIT_MEMLOCK in bytes, or 0 when nothing limits pinning: the limit is
 * unlimited, or the process holds CAP_IPC_LOCK, which lifts it.
 */
uint64_t rmig_memlock_get_limit(void);

#endif /* RMIG_MEMLOCK_H */
