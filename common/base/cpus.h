/* SPDX-License-Identifier: MIT */
/*
 * The CPUs the calling thread may run on, as the kernel says
 * (sched_getaffinity): what -v reports for a channel's thread.
 */
#ifndef RMIG_CPUS_H
#define RMIG_CPUS_H

#include <stddef.h>

/* "0-3,8" into @buf (empty when the mask cannot be read or @len is 0). */
void rmig_cpus_of_thread(char *buf, size_t len);

#endif /* RMIG_CPUS_H */
