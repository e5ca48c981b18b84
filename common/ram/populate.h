/* SPDX-License-Identifier: MIT */
/*
 * Faulting memory in ahead of an RDMA registration, on several CPUs.
 *
 * Registering memory pins it, and pinning a page nobody touched yet means
 * allocating and zeroing it first, one page at a time in the registering
 * thread: that is most of what pin-all costs in SETUP (measured under
 * soft-RoCE: ~2.5 ms per MiB in one thread, about 40% less split over
 * two).  The registration that follows then finds the pages present.
 */
#ifndef RMIG_POPULATE_H
#define RMIG_POPULATE_H

#include <stdint.h>

/*
 * Make [@addr, @addr + @len) resident and writable without changing a
 * byte of it (MADV_POPULATE_WRITE, Linux 5.14+), split over up to
 * @max_threads threads in page-aligned slices of at least 32 MiB.
 * @addr must be page-aligned and the range private writable anonymous
 * memory (as RAM blocks are).  0 on success; -EOPNOTSUPP when the kernel
 * lacks MADV_POPULATE_WRITE (the caller simply registers, which faults
 * the pages in itself); another negative errno (-ENOMEM, -EINVAL, ...)
 * from the first slice that failed.  Never logs.
 */
int rmig_mem_populate(void *addr, uint64_t len, unsigned max_threads);

/* Threads worth using here: the CPUs online, at most 8. */
unsigned rmig_populate_threads(void);

#endif /* RMIG_POPULATE_H */
