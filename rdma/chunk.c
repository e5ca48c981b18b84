/* SPDX-License-Identifier: MIT */
/*
 * Chunk arithmetic and WRITE merging (see chunk.h).  Every function is
 * total and overflow-safe, because block lengths and offsets can come from
 * a peer before or after validation and the fast path must not trap.
 */
#include "rdma/chunk.h"

uint64_t rmig_rdma_chunk_count(uint64_t block_len)
{
	/* DIV_ROUND_UP without the overflow of len + size - 1 near UINT64_MAX. */
	return (block_len >> RMIG_RDMA_CHUNK_SHIFT) +
	       ((block_len & (RMIG_RDMA_CHUNK_SIZE - 1)) != 0);
}

uint64_t rmig_rdma_chunk_index(uint64_t offset)
{
	return offset >> RMIG_RDMA_CHUNK_SHIFT;
}

uint64_t rmig_rdma_chunk_start(uint64_t chunk)
{
	if (chunk > (UINT64_MAX >> RMIG_RDMA_CHUNK_SHIFT))
		return UINT64_MAX;
	return chunk << RMIG_RDMA_CHUNK_SHIFT;
}

uint64_t rmig_rdma_chunk_end(uint64_t block_len, uint64_t chunk)
{
	uint64_t start;

	if (chunk >= rmig_rdma_chunk_count(block_len))
		return 0;
	start = chunk << RMIG_RDMA_CHUNK_SHIFT; /* < block_len, cannot overflow */
	if (block_len - start < RMIG_RDMA_CHUNK_SIZE)
		return block_len;
	return start + RMIG_RDMA_CHUNK_SIZE;
}

uint64_t rmig_rdma_chunk_len(uint64_t block_len, uint64_t chunk)
{
	uint64_t end = rmig_rdma_chunk_end(block_len, chunk);

	return end ? end - (chunk << RMIG_RDMA_CHUNK_SHIFT) : 0;
}

bool rmig_rdma_range_in_block(uint64_t block_len, uint64_t offset, uint64_t len)
{
	return offset <= block_len && len <= block_len - offset;
}

uint64_t rmig_rdma_chunk_piece(uint64_t block_len, uint64_t offset, uint64_t len)
{
	uint64_t end;

	if (len == 0 || offset >= block_len)
		return 0;
	end = rmig_rdma_chunk_end(block_len, rmig_rdma_chunk_index(offset));
	return end - offset < len ? end - offset : len;
}

uint64_t rmig_rdma_chunk_span(uint64_t block_len, uint64_t offset, uint64_t len)
{
	if (len == 0 || !rmig_rdma_range_in_block(block_len, offset, len))
		return 0;
	return rmig_rdma_chunk_index(offset + len - 1) - rmig_rdma_chunk_index(offset) + 1;
}

bool rmig_rdma_pending_empty(const struct rmig_rdma_pending *p)
{
	return p->len == 0;
}

bool rmig_rdma_pending_can_merge(const struct rmig_rdma_pending *p, uint64_t block_len,
				 uint32_t block, uint64_t offset, uint64_t len)
{
	uint64_t end;

	if (p->len == 0 || len == 0 || block != p->block)
		return false;
	if (offset != p->offset + p->len)
		return false;
	end = rmig_rdma_chunk_end(block_len, p->chunk);
	/* end == 0: p's chunk is not in this block at all; never merge. */
	return end != 0 && offset <= end && len <= end - offset;
}

bool rmig_rdma_pending_merge(struct rmig_rdma_pending *p, uint64_t block_len, uint32_t block,
			     uint64_t offset, uint64_t len)
{
	if (!rmig_rdma_pending_can_merge(p, block_len, block, offset, len))
		return false;
	p->len += len;
	return true;
}

uint64_t rmig_rdma_pending_start(struct rmig_rdma_pending *p, uint64_t block_len, uint32_t block,
				 uint64_t offset, uint64_t len)
{
	uint64_t n = rmig_rdma_chunk_piece(block_len, offset, len);

	if (!n) {
		rmig_rdma_pending_clear(p);
		return 0;
	}
	p->block = block;
	p->offset = offset;
	p->len = n;
	p->chunk = rmig_rdma_chunk_index(offset);
	return n;
}

void rmig_rdma_pending_clear(struct rmig_rdma_pending *p)
{
	p->block = 0;
	p->offset = 0;
	p->len = 0;
	p->chunk = 0;
}
