/* SPDX-License-Identifier: MIT */
/*
 * Source side of pin-all under PIN_STREAM (docs/rdma.txt section 19).
 *
 * Pinning all of a fresh destination RAM up front costs ~2 ms per MiB
 * under soft-RoCE (first-touch faults, then the pin), all of it in
 * setup-time, where the link does nothing.  Here the destination pins one
 * region per SEGMENTS_REQUEST, in order, and the source keeps one request
 * ahead of its writes: while the NIC moves one region the next is pinned.
 * One request in flight is enough because pinning a region is far faster
 * than writing it, and it keeps the rule simple: the answer is always the
 * next region the source lacks, so nothing is asked for twice and never
 * more than the destination's RAM.  Waiting for the answers is the
 * source's (source.c), with the other answers of a round (prefetch.c).
 */
#include <errno.h>

#include <rmig/log.h>

#include "rdma/conn.h"
#include "rdma/validate.h"

/* The first block without a key for all of it (@start: how far it has), or nblocks. */
static uint32_t lacking_block(const struct rmig_rdma_conn *rc, uint64_t *start)
{
	uint32_t i;

	for (i = 0; i < rc->view.nblocks; i++) {
		*start = rmig_rdma_keycache_remote_covered(rc->kc, i);
		if (*start < rc->view.blocks[i].length)
			break;
	}
	return i;
}

int rmig_rdma_pinstream_result(struct rmig_rdma_conn *rc, const struct rmig_rdma_msg *m)
{
	struct rmig_rdma_segment s;
	uint64_t start;
	uint32_t b;
	int ret;

	b = lacking_block(rc, &start);
	if (!rc->pin_asked || b == rc->view.nblocks) {
		rmig_error("rdma: the destination sent a SEGMENTS RESULT nobody asked for");
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
	}
	ret = rmig_rdma_stream_segment_validate(rc->ram, &m->hdr, m->payload, b, start,
						rmig_rdma_keycache_remote_segments(rc->kc, b), &s);
	if (ret == 0)
		ret = rmig_rdma_keycache_add_remote_segment(rc->kc, b, s.start, s.length, s.rkey);
	if (ret == -ENOMEM)
		return ret;
	if (ret < 0)
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
	rc->pin_asked = false;
	rc->pin_keyed = lacking_block(rc, &start) == rc->view.nblocks;
	return 0;
}

int rmig_rdma_pinstream_ask(struct rmig_rdma_conn *rc, bool wait)
{
	uint64_t start;
	int ret;

	if (rc->pin_asked)
		return 0;
	if (rc->pin_keyed || lacking_block(rc, &start) == rc->view.nblocks)
		return 1;
	if (!wait && !rc->ctrl.peer_credits)
		return 0;
	ret = rmig_rdma_ctrl_send(&rc->ctrl, RMIG_RDMA_MSG_SEGMENTS_REQUEST, 1, NULL, 0, true);
	if (ret == 0) {
		rc->pin_asked = true;
		rc->reg_requests++;
	}
	return ret;
}
