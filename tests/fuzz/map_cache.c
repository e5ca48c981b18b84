/* SPDX-License-Identifier: MIT */
/*
 * fuzz_rdma_dest's mmap and munmap, linked with -Wl,--wrap=mmap64,--wrap=munmap (the
 * build asks for 64-bit file offsets, so <sys/mman.h> turns mmap into mmap64).
 *
 * Every input is one connection, and every connection maps 11 MiB of
 * control rings (rdma/rings.c) and unmaps them at the end.  An input
 * touches a few dozen of those pages, yet the faults, page-table set-up
 * and munmap of each fresh mapping were a third of the target's time.
 * So an unmapped ring is kept here and handed out again for the next
 * mapping of the same size, with the pages the previous connection
 * touched zeroed first: the caller sees what a fresh anonymous mapping
 * would give it, all zero, and nothing of the previous input.  Anything
 * else goes straight to the real calls.
 *
 * What a real munmap would have caught still crashes: a kept ring is
 * PROT_NONE until handed out again, so a use after the unmap faults, and
 * unmapping a ring already kept aborts.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "rdma/ctrl.h"

void *__real_mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __real_munmap(void *addr, size_t len);
void *__wrap_mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __wrap_munmap(void *addr, size_t len);

#define CACHE_SLOTS 4
/* Past this many resident pages, dropping them all is cheaper than zeroing them. */
#define ZERO_MAX_PAGES 512

static struct {
	void *addr;
	size_t len;
} cache[CACHE_SLOTS];
/* The rings job (rdma/rings.c) maps from its own thread. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char residency[RMIG_RDMA_RECV_RING_BYTES / 4096 + 1];

static bool cacheable(size_t len)
{
	return len == RMIG_RDMA_RECV_RING_BYTES || len == RMIG_RDMA_SEND_RING_BYTES;
}

/* With swap, a page mincore calls absent may be swapped out, holding old data. */
static bool swap_on(void)
{
	static int on = -1; /* asked once: under the lock */
	struct sysinfo si;

	if (on < 0)
		on = sysinfo(&si) != 0 || si.totalswap != 0;
	return on;
}

/* Make [@p, @p + @len) read as a fresh anonymous mapping: all zero. */
static bool scrub(uint8_t *p, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n = len / page, i, resident = 0;

	if (mprotect(p, len, PROT_READ | PROT_WRITE) != 0)
		return false;
	if (swap_on())
		return madvise(p, len, MADV_DONTNEED) == 0;
	if (n > sizeof(residency) || mincore(p, len, residency) != 0)
		return false;
	for (i = 0; i < n; i++)
		resident += residency[i] & 1;
	if (resident > ZERO_MAX_PAGES)
		return madvise(p, len, MADV_DONTNEED) == 0;
	for (i = 0; i < n; i++)
		if (residency[i] & 1)
			memset(p + i * page, 0, page);
	return true;
}

void *__wrap_mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *got = NULL;
	unsigned i;

	if (!addr && cacheable(len) && prot == (PROT_READ | PROT_WRITE) &&
	    flags == (MAP_PRIVATE | MAP_ANONYMOUS) && fd == -1 && off == 0)
		for (i = 0; i < CACHE_SLOTS && !got; i++) {
			pthread_mutex_lock(&lock);
			if (cache[i].addr && cache[i].len == len) {
				got = cache[i].addr;
				cache[i].addr = NULL;
				if (!scrub(got, len)) {
					__real_munmap(got, len);
					got = NULL;
				}
			}
			pthread_mutex_unlock(&lock);
			if (got)
				return got;
		}
	return __real_mmap64(addr, len, prot, flags, fd, off);
}

int __wrap_munmap(void *addr, size_t len)
{
	bool kept = false;
	unsigned i;

	if (cacheable(len)) {
		pthread_mutex_lock(&lock);
		for (i = 0; i < CACHE_SLOTS; i++)
			if (cache[i].addr == addr)
				abort(); /* unmapped twice */
		for (i = 0; i < CACHE_SLOTS && !kept; i++)
			if (!cache[i].addr && mprotect(addr, len, PROT_NONE) == 0) {
				cache[i].addr = addr;
				cache[i].len = len;
				kept = true;
			}
		pthread_mutex_unlock(&lock);
	}
	return kept ? 0 : __real_munmap(addr, len);
}
