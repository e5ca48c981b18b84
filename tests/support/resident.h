/* SPDX-License-Identifier: MIT */
/* Tests: how much of a mapping the kernel has in memory (mincore). */
#ifndef RMIG_TESTS_RESIDENT_H
#define RMIG_TESTS_RESIDENT_H

#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static inline size_t resident_page_count(size_t len)
{
	return len / (size_t)sysconf(_SC_PAGESIZE);
}

/* Pages of [p, p + len) in memory now; (size_t)-1 when mincore fails. */
static inline size_t resident_pages(const void *p, size_t len)
{
	size_t n = resident_page_count(len), in = 0;
	unsigned char *vec = malloc(n);

	if (!vec || mincore((void *)p, len, vec) != 0) {
		free(vec);
		return (size_t)-1;
	}
	for (size_t i = 0; i < n; i++)
		in += vec[i] & 1;
	free(vec);
	return in;
}

#endif /* RMIG_TESTS_RESIDENT_H */
