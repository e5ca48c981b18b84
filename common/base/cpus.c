/* SPDX-License-Identifier: MIT */
/*
 * The calling thread's CPUs; see cpus.h.
 */
#include "common/base/cpus.h"

#include <sched.h>
#include <stdbool.h>
#include <stdio.h>

void rmig_cpus_of_thread(char *buf, size_t len)
{
	cpu_set_t set;
	size_t pos = 0;
	int start = -1;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	for (int cpu = 0; cpu <= CPU_SETSIZE; cpu++) {
		bool in = cpu < CPU_SETSIZE && CPU_ISSET(cpu, &set);

		if (in && start < 0)
			start = cpu;
		if (!in && start >= 0 && pos < len) {
			pos += (size_t)snprintf(buf + pos, len - pos, "%s%d", pos ? "," : "", start);
			if (cpu - 1 > start && pos < len)
				pos += (size_t)snprintf(buf + pos, len - pos, "-%d", cpu - 1);
			start = -1;
		}
	}
}
