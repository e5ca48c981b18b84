/* SPDX-License-Identifier: MIT */
/*
 * rdma's own copy of the RAM layout, read once through the accessors of
 * <rmig/ram.h> when RAM is attached to a connection.
 *
 * The transport is normally a module built apart from librmig, so
 * struct rmig_ram and struct rmig_ramblock are opaque to it: reading their
 * fields would tie the module to one build's private layout.  Calling an
 * accessor per page or per WRITE would cost a cross-module call on the hot
 * path instead, so what the RAM hooks need of each block (host address,
 * length, page size and shift, index, name) is copied here at attach time.
 * The copy stays right because an embedder may add no block once a
 * migration runs (<rmig/ram.h>).
 *
 * Static inline so every rdma source that needs it can use it without a
 * file of its own in the build lists.
 */
#ifndef RMIG_RDMA_RAMVIEW_H
#define RMIG_RDMA_RAMVIEW_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <rmig/log.h>
#include <rmig/ram.h>

struct rmig_rdma_ramblk {
	struct rmig_ramblock *rb; /* the handle: rmig_ramblock_find_next_run() */
	uint8_t *host;
	uint64_t length;     /* bytes, a multiple of page_size */
	uint64_t npages;
	uint32_t page_size;
	uint32_t page_shift; /* log2(page_size) */
	uint32_t index;	     /* == its position in the view */
	const char *name;    /* librmig's, valid as long as the block */
};

struct rmig_rdma_ramview {
	uint32_t nblocks;
	struct rmig_rdma_ramblk *blocks;
};

/* Fill @v from @ram.  -ENOMEM (reported); @v is left empty then. */
static inline int rmig_rdma_ramview_init(struct rmig_rdma_ramview *v, struct rmig_ram *ram)
{
	uint32_t n = rmig_ram_get_nblocks(ram), i;

	v->nblocks = 0;
	v->blocks = calloc(n ? n : 1, sizeof(*v->blocks));
	if (!v->blocks) {
		rmig_error("rdma: out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		struct rmig_ramblock *rb = rmig_ram_get_block(ram, i);
		struct rmig_rdma_ramblk *b = &v->blocks[i];

		b->rb = rb;
		b->host = rmig_ramblock_get_host(rb);
		b->length = rmig_ramblock_get_length(rb);
		b->page_size = rmig_ramblock_get_page_size(rb);
		/* A power of two from RMIG_PAGE_SIZE_MIN up (0 only in a broken handle). */
		b->page_shift = b->page_size ? (uint32_t)__builtin_ctz(b->page_size) : 0;
		b->npages = b->page_size ? b->length / b->page_size : 0;
		b->index = rmig_ramblock_get_index(rb);
		b->name = rmig_ramblock_get_name(rb);
	}
	v->nblocks = n;
	return 0;
}

static inline void rmig_rdma_ramview_fini(struct rmig_rdma_ramview *v)
{
	free(v->blocks);
	v->blocks = NULL;
	v->nblocks = 0;
}

/* Block @index, or NULL past the end. */
static inline const struct rmig_rdma_ramblk *
rmig_rdma_ramview_block(const struct rmig_rdma_ramview *v, uint32_t index)
{
	return index < v->nblocks ? &v->blocks[index] : NULL;
}

#endif /* RMIG_RDMA_RAMVIEW_H */
