/* SPDX-License-Identifier: MIT */
/*
 * The locked-memory limit; see memlock.h.
 */
#include "common/base/memlock.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/resource.h>

#define CAP_IPC_LOCK_BIT 14

/* /proc rather than libcap: one bit of one line is all we need. */
static bool can_lock_unlimited(void)
{
	char line[256];
	bool yes = false;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		uint64_t eff;

		if (sscanf(line, "CapEff: %" SCNx64, &eff) == 1) {
			yes = (eff >> CAP_IPC_LOCK_BIT) & 1;
			break;
		}
	}
	fclose(f);
	return yes;
}

uint64_t rmig_memlock_get_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) || rl.rlim_cur == RLIM_INFINITY || can_lock_unlimited())
		return 0;
	return rl.rlim_cur;
}
