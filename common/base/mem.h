/* SPDX-License-Identifier: MIT */
/* Anonymous memory for RAM blocks, and how much of it the kernel can give. */
#ifndef RMIG_MEM_H
#define RMIG_MEM_H

#include <stdint.h>

/*
 * Map @length bytes of zero-filled private anonymous memory with
 * MAP_NORESERVE: pages never touched (zero pages a source never sends)
 * cost neither memory nor overcommit accounting.  On failure reports
 * "<what>: cannot map <size> of memory: <reason>" and returns NULL.
 */
void *rmig_mem_map(uint64_t length, const char *what);

/*
 * Memory the kernel says it can give us without swapping (MemAvailable),
 * in bytes; UINT64_MAX when it cannot be read.  Checked before mapping RAM
 * that will be filled, so a too-large request fails with a message instead
 * of summoning the OOM killer half-way through a migration.
 */
uint64_t rmig_mem_get_available(void);

#endif /* RMIG_MEM_H */
