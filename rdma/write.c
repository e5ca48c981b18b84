/* SPDX-License-Identifier: MIT */
/*
 * The write engine; see write.h.
 */
#include "rdma/write.h"

#include <errno.h>
#include <string.h>

#include <rmig/log.h>

#include "rdma/glue.h"
#include "rdma/progress.h"

void rmig_rdma_writer_init(struct rmig_rdma_writer *w, struct ibv_qp *qp,
			   rmig_rdma_resolve_fn resolve, rmig_rdma_wait_fn wait, void *opaque)
{
	memset(w, 0, sizeof(*w));
	w->qp = qp;
	w->max_outstanding = RMIG_RDMA_MAX_OUTSTANDING;
	w->signal_every = RMIG_RDMA_SIGNAL_EVERY;
	w->resolve = resolve;
	w->wait = wait;
	w->opaque = opaque;
	rmig_rdma_pending_clear(&w->pending);
	rmig_rdma_pending_clear(&w->rest);
}

void rmig_rdma_writer_complete(struct rmig_rdma_writer *w, uint64_t seq)
{
	if (seq > w->completed && seq <= w->posted)
		w->completed = seq;
}

int rmig_rdma_writer_post(struct rmig_rdma_writer *w, const struct rmig_rdma_wtarget *t,
			  uint32_t len, bool force_signal)
{
	struct ibv_sge sge = { .addr = t->laddr, .length = len, .lkey = t->lkey };
	struct ibv_send_wr wr = {
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = IBV_WR_RDMA_WRITE,
	};
	bool sig;
	int ret;

	/* Bounded in flight: a full window always holds a signalled WRITE to wait for. */
	while (w->posted - w->completed >= w->max_outstanding) {
		ret = w->wait(w->opaque);
		if (ret < 0)
			return ret;
	}
	sig = force_signal || w->unsignalled + 1 >= w->signal_every ||
	      w->unsignalled_bytes + len >= RMIG_RDMA_SIGNAL_BYTES ||
	      w->posted - w->completed + 1 >= w->max_outstanding;
	wr.wr_id = RMIG_RDMA_WRID_WRITE | (w->posted + 1);
	wr.send_flags = sig ? IBV_SEND_SIGNALED : 0;
	wr.wr.rdma.remote_addr = t->raddr;
	wr.wr.rdma.rkey = t->rkey;
	ret = rmig_rdma_glue_post_send(w->qp, &wr);
	if (ret < 0) {
		rmig_error("rdma: cannot post an RDMA write: %s", strerror(-ret));
		return ret;
	}
	w->posted++;
	w->bytes_written += len;
	w->last = *t;
	if (sig) {
		w->unsignalled = 0;
		w->unsignalled_bytes = 0;
		w->signalled++;
	} else {
		w->unsignalled++;
		w->unsignalled_bytes += len;
	}
	return 0;
}

int rmig_rdma_writer_flush(struct rmig_rdma_writer *w, bool last)
{
	struct rmig_rdma_wtarget t;
	struct rmig_rdma_pending p = w->pending;
	int ret;

	if (rmig_rdma_pending_empty(&p))
		return 0;
	rmig_rdma_pending_clear(&w->pending);
	ret = w->resolve(w->opaque, &p, &t);
	if (ret < 0)
		return ret;
	if (ret == RMIG_RDMA_RESOLVED_TAKEN)
		return 0;
	return rmig_rdma_writer_post(w, &t, (uint32_t)p.len, last);
}

int rmig_rdma_writer_queue(struct rmig_rdma_writer *w, uint32_t block, uint64_t block_len,
			   uint64_t offset, uint64_t len)
{
	while (len) {
		uint64_t n;
		int ret;

		if (rmig_rdma_pending_merge(&w->pending, w->pending_block_len, block, offset,
					    len)) {
			return 0;
		}
		/* Part of the run may still merge up to the chunk end. */
		n = rmig_rdma_chunk_piece(block_len, offset, len);
		if (n == 0) {
			rmig_error("rdma: page run outside block %u (offset %llu, %llu bytes)",
				   block, (unsigned long long)offset, (unsigned long long)len);
			return -EINVAL;
		}
		if (n < len &&
		    rmig_rdma_pending_merge(&w->pending, w->pending_block_len, block, offset, n)) {
			offset += n;
			len -= n;
			continue;
		}
		w->rest = (struct rmig_rdma_pending){ .block = block, .offset = offset, .len = len,
						      .chunk = rmig_rdma_chunk_index(offset) };
		ret = rmig_rdma_writer_flush(w, false);
		rmig_rdma_pending_clear(&w->rest);
		if (ret < 0)
			return ret;
		n = rmig_rdma_pending_start(&w->pending, block_len, block, offset, len);
		w->pending_block_len = block_len;
		offset += n;
		len -= n;
	}
	return 0;
}

int rmig_rdma_writer_wait_all(struct rmig_rdma_writer *w)
{
	while (w->completed < w->posted) {
		int ret = w->wait(w->opaque);

		if (ret < 0)
			return ret;
	}
	return 0;
}

int rmig_rdma_writer_fence(struct rmig_rdma_writer *w, bool always)
{
	int ret = rmig_rdma_writer_fence_post(w, always);

	return ret < 0 ? ret : rmig_rdma_writer_wait_all(w);
}

int rmig_rdma_writer_fence_post(struct rmig_rdma_writer *w, bool always)
{
	struct ibv_send_wr wr = {
		.num_sge = 0, /* zero length: nothing is read or written, only acknowledged */
		.opcode = IBV_WR_RDMA_WRITE,
		.send_flags = IBV_SEND_SIGNALED,
	};
	int ret;

	if (always || (w->unsignalled && w->completed < w->posted)) {
		while (w->posted - w->completed >= w->max_outstanding) {
			ret = w->wait(w->opaque);
			if (ret < 0)
				return ret;
		}
		wr.wr_id = RMIG_RDMA_WRID_WRITE | (w->posted + 1);
		wr.wr.rdma.remote_addr = w->last.raddr;
		wr.wr.rdma.rkey = w->last.rkey;
		ret = rmig_rdma_glue_post_send(w->qp, &wr);
		if (ret < 0) {
			rmig_error("rdma: cannot post an RDMA write: %s", strerror(-ret));
			return ret;
		}
		w->posted++;
		w->unsignalled = 0;
		w->unsignalled_bytes = 0;
		w->signalled++;
	}
	return 0;
}
