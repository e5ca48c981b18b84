/* SPDX-License-Identifier: MIT */
/*
 * The source's pinned-run account; see pinlru.h.
 */
#include "rdma/pinlru.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "rdma/chunk.h"

#define NONE UINT32_MAX

int rmig_rdma_pinlru_init(struct rmig_rdma_pinlru *l, uint32_t nblocks, const uint64_t *block_lens,
			  uint64_t max_bytes)
{
	uint64_t total = 0;
	uint32_t i;

	memset(l, 0, sizeof(*l));
	l->lru = l->mru = NONE;
	l->max_bytes = max_bytes;
	l->base = calloc(nblocks ? nblocks : 1, sizeof(*l->base));
	l->block_len = calloc(nblocks ? nblocks : 1, sizeof(*l->block_len));
	if (!l->base || !l->block_len)
		goto nomem;
	l->nblocks = nblocks;
	for (i = 0; i < nblocks; i++) {
		l->base[i] = total;
		l->block_len[i] = block_lens[i];
		total += rmig_rdma_chunk_count(block_lens[i]);
	}
	/* NONE must never be a chunk index. */
	if (total >= NONE) {
		rmig_error("rdma: %llu chunks of RAM are more than the pinned-run account can track",
			   (unsigned long long)total);
		rmig_rdma_pinlru_fini(l);
		return -EINVAL;
	}
	l->nchunks = total;
	l->run = calloc(total ? total : 1, sizeof(*l->run));
	l->prev = malloc((total ? total : 1) * sizeof(*l->prev));
	l->next = malloc((total ? total : 1) * sizeof(*l->next));
	l->head_of = malloc((total ? total : 1) * sizeof(*l->head_of));
	if (!l->run || !l->prev || !l->next || !l->head_of)
		goto nomem;
	memset(l->head_of, 0xff, (total ? total : 1) * sizeof(*l->head_of));
	return 0;

nomem:
	rmig_error("rdma: out of memory for the pinned-run account");
	rmig_rdma_pinlru_fini(l);
	return -ENOMEM;
}

void rmig_rdma_pinlru_fini(struct rmig_rdma_pinlru *l)
{
	free(l->base);
	free(l->block_len);
	free(l->run);
	free(l->prev);
	free(l->next);
	free(l->head_of);
	l->base = l->block_len = NULL;
	l->run = l->prev = l->next = l->head_of = NULL;
	l->nblocks = 0;
	l->nchunks = 0;
}

uint64_t rmig_rdma_pinlru_bytes(const struct rmig_rdma_pinlru *l, uint32_t block, uint64_t first,
				uint64_t count)
{
	uint64_t n, start, end;

	if (block >= l->nblocks || count == 0)
		return 0;
	n = rmig_rdma_chunk_count(l->block_len[block]);
	if (first >= n || count > n - first)
		return 0;
	start = rmig_rdma_chunk_start(first);
	end = rmig_rdma_chunk_end(l->block_len[block], first + count - 1);
	return end - start;
}

uint64_t rmig_rdma_pinlru_room(const struct rmig_rdma_pinlru *l)
{
	uint64_t used = l->held_bytes + l->reserved_bytes;

	if (!l->max_bytes)
		return UINT64_MAX;
	return used >= l->max_bytes ? 0 : l->max_bytes - used;
}

static void note_peak(struct rmig_rdma_pinlru *l)
{
	l->peak_bytes = RMIG_MAX(l->peak_bytes, l->held_bytes + l->reserved_bytes);
}

void rmig_rdma_pinlru_reserve(struct rmig_rdma_pinlru *l, uint32_t block, uint64_t first,
			      uint64_t count)
{
	l->reserved_bytes += rmig_rdma_pinlru_bytes(l, block, first, count);
	note_peak(l);
}

static void unlink_head(struct rmig_rdma_pinlru *l, uint32_t h)
{
	if (l->prev[h] != NONE)
		l->next[l->prev[h]] = l->next[h];
	else
		l->lru = l->next[h];
	if (l->next[h] != NONE)
		l->prev[l->next[h]] = l->prev[h];
	else
		l->mru = l->prev[h];
}

static void link_mru(struct rmig_rdma_pinlru *l, uint32_t h)
{
	l->prev[h] = l->mru;
	l->next[h] = NONE;
	if (l->mru != NONE)
		l->next[l->mru] = h;
	else
		l->lru = h;
	l->mru = h;
}

void rmig_rdma_pinlru_hold(struct rmig_rdma_pinlru *l, uint32_t block, uint64_t first,
			   uint64_t count)
{
	uint64_t bytes = rmig_rdma_pinlru_bytes(l, block, first, count), k;
	uint32_t h;

	if (!bytes)
		return;
	l->reserved_bytes -= RMIG_MIN(bytes, l->reserved_bytes);
	h = (uint32_t)(l->base[block] + first);
	if (l->run[h])
		return; /* already held: the caller asked twice */
	l->run[h] = (uint32_t)count;
	for (k = 0; k < count; k++)
		l->head_of[h + k] = h;
	link_mru(l, h);
	l->held_bytes += bytes;
	note_peak(l);
}

void rmig_rdma_pinlru_touch(struct rmig_rdma_pinlru *l, uint32_t block, uint64_t chunk)
{
	uint32_t h;

	if (block >= l->nblocks || chunk >= rmig_rdma_chunk_count(l->block_len[block]))
		return;
	h = l->head_of[l->base[block] + chunk];
	if (h == NONE || h == l->mru)
		return;
	unlink_head(l, h);
	link_mru(l, h);
}

bool rmig_rdma_pinlru_oldest(const struct rmig_rdma_pinlru *l, uint32_t *block, uint64_t *first,
			     uint64_t *count)
{
	uint32_t b;

	if (l->lru == NONE)
		return false;
	/* Few blocks: a linear search for the one holding the head is cheap. */
	for (b = l->nblocks; b-- > 0;) {
		if (l->base[b] <= l->lru)
			break;
	}
	*block = b;
	*first = l->lru - l->base[b];
	*count = l->run[l->lru];
	return true;
}

uint64_t rmig_rdma_pinlru_drop(struct rmig_rdma_pinlru *l, uint32_t block, uint64_t first)
{
	uint64_t bytes;
	uint32_t h, k;

	if (block >= l->nblocks || first >= rmig_rdma_chunk_count(l->block_len[block]))
		return 0;
	h = (uint32_t)(l->base[block] + first);
	if (!l->run[h])
		return 0;
	unlink_head(l, h);
	for (k = 0; k < l->run[h]; k++)
		l->head_of[h + k] = NONE;
	bytes = rmig_rdma_pinlru_bytes(l, block, first, l->run[h]);
	l->held_bytes -= bytes;
	l->run[h] = 0;
	return bytes;
}

void rmig_rdma_pinlru_evicted(struct rmig_rdma_pinlru *l, uint64_t bytes)
{
	l->evicted_runs++;
	l->evicted_bytes += bytes;
}
