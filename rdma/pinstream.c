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
 * more than the destination's RAM.
 */
#include <errno.h>

#include <rmig/log.h>

#include "common/base/util.h"
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

static int ask(struct rmig_rdma_conn *rc)
{
	int ret = rmig_rdma_ctrl_send(&rc->ctrl, RMIG_RDMA_MSG_SEGMENTS_REQUEST, 1, NULL, 0, true);

	if (ret == 0) {
		rc->pin_asked = true;
		rc->reg_requests++;
	}
	return ret;
}

int rmig_rdma_pinstream_ahead(struct rmig_rdma_conn *rc)
{
	uint64_t start;
	int ret;

	/* Once everything is keyed, a WRITE costs what it costs without PIN_STREAM. */
	if (rc->pin_keyed)
		return 0;
	ret = rmig_rdma_prefetch_poll(rc, false);
	if (ret < 0 || rc->pin_asked || lacking_block(rc, &start) == rc->view.nblocks)
		return ret;
	/* Never blocks: without a credit, the next write that needs the key asks. */
	return rc->ctrl.peer_credits ? ask(rc) : 0;
}

int rmig_rdma_pinstream_need(struct rmig_rdma_conn *rc, uint32_t block, uint64_t offset,
			     uint64_t len)
{
	struct rmig_rdma_remote r;
	uint64_t t0 = 0, start;
	int ret;

	while ((ret = rmig_rdma_keycache_resolve(rc->kc, block, offset, len, &r)) == -ENOENT) {
		if (!t0) {
			t0 = rmig_time_now_ns();
			rc->reg_waits++;
		}
		if (!rc->pin_asked) {
			if (lacking_block(rc, &start) == rc->view.nblocks) {
				/* Every block keyed and still nothing: our own bug, not the peer's. */
				rmig_error("rdma: no key for offset %llu of block %u although "
					   "every region is pinned",
					   (unsigned long long)offset, block);
				return -EPROTO;
			}
			ret = ask(rc);
			if (ret < 0)
				break;
		}
		ret = rmig_rdma_prefetch_poll(rc, true);
		if (ret < 0)
			break;
	}
	if (t0)
		rc->reg_wait_ns += rmig_time_now_ns() - t0;
	return ret;
}
