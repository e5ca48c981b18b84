/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <rmig/log.h>

#include "common/base/mem.h"
#include "common/base/size.h"

void *rmig_mem_map(uint64_t length, const char *what)
{
	char size[32];
	void *host;

	host = mmap(NULL, length, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (host == MAP_FAILED) {
		rmig_error("%s: cannot map %s of memory: %s", what,
			   rmig_size_format(length, size, sizeof(size)), strerror(errno));
		return NULL;
	}
	return host;
}

uint64_t rmig_mem_get_available(void)
{
	unsigned long long kib;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "re");
	uint64_t avail = UINT64_MAX;

	if (!f)
		return avail;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) {
			avail = (uint64_t)kib * 1024;
			break;
		}
	}
	fclose(f);
	return avail;
}
