/* SPDX-License-Identifier: MIT */
#include "common/base/threadname.h"
#include "common/ram/populate.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/base/util.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* uapi value; glibc 2.36 headers lack it */
#endif

#define POPULATE_MAX_THREADS 8
#define POPULATE_MIN_SLICE   (32ULL << 20)

struct slice {
	uint8_t *addr;
	uint64_t len;
	int err;
};

static int populate_one(uint8_t *addr, uint64_t len)
{
	if (madvise(addr, len, MADV_POPULATE_WRITE) == 0)
		return 0;
	/* EINVAL on a kernel without the advice (we passed a valid range). */
	return errno == EINVAL ? -EOPNOTSUPP : -errno;
}

static void *slice_run(void *arg)
{
	struct slice *s = arg;

	rmig_thread_name_self("rmig-populate");
	s->err = populate_one(s->addr, s->len);
	return NULL;
}

unsigned rmig_populate_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : (unsigned)RMIG_MIN(n, POPULATE_MAX_THREADS);
}

int rmig_mem_populate(void *addr, uint64_t len, unsigned max_threads)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), per, off = 0;
	struct slice s[POPULATE_MAX_THREADS];
	pthread_t th[POPULATE_MAX_THREADS];
	sigset_t all, saved;
	unsigned n, i, started = 0;
	int ret = 0;

	if (!addr || (uintptr_t)addr % page)
		return -EINVAL;
	if (len == 0)
		return 0;
	n = RMIG_MAX(1u, RMIG_MIN(max_threads, POPULATE_MAX_THREADS));
	n = (unsigned)RMIG_MIN((uint64_t)n, RMIG_MAX(1, len / POPULATE_MIN_SLICE));
	if (n == 1)
		return populate_one(addr, len);
	per = RMIG_DIV_ROUND_UP(len / n, page) * page;
	/* Helpers take no signals: the caller's handlers expect its own threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	for (i = 0; i < n && off < len; i++) {
		s[i] =
		    (struct slice){.addr = (uint8_t *)addr + off, .len = RMIG_MIN(per, len - off)};
		off += s[i].len;
		if (i == 0)
			continue; /* slice 0 is ours, below */
		if (pthread_create(&th[i], NULL, slice_run, &s[i]) != 0)
			s[i].err = populate_one(s[i].addr, s[i].len);
		else
			started |= 1u << i;
	}
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	n = i;
	s[0].err = populate_one(s[0].addr, s[0].len);
	for (i = 1; i < n; i++)
		if (started & (1u << i))
			pthread_join(th[i], NULL);
	for (i = 0; i < n && !ret; i++)
		ret = s[i].err;
	return ret;
}
