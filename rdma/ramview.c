/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include <rmig/log.h>

#include "rdma/ramview.h"

int rmig_rdma_ramview_init(struct rmig_rdma_ramview *v, struct rmig_ram *ram)
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

void rmig_rdma_ramview_fini(struct rmig_rdma_ramview *v)
{
	free(v->blocks);
	v->blocks = NULL;
	v->nblocks = 0;
}
