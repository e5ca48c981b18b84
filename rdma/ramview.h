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
 */
#ifndef RMIG_RDMA_RAMVIEW_H
#define RMIG_RDMA_RAMVIEW_H

#include <stdint.h>

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
int rmig_rdma_ramview_init(struct rmig_rdma_ramview *v, struct rmig_ram *ram);
void rmig_rdma_ramview_fini(struct rmig_rdma_ramview *v);

/* Per WRITE and per run, hence inline. */
/* Block @index, or NULL past the end. */
static inline const struct rmig_rdma_ramblk *
rmig_rdma_ramview_block(const struct rmig_rdma_ramview *v, uint32_t index)
{
	return index < v->nblocks ? &v->blocks[index] : NULL;
}

#endif /* RMIG_RDMA_RAMVIEW_H */
