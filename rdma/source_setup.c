/* SPDX-License-Identifier: MIT */
/*
 * Source side, SETUP: the RAM block exchange that tells the source where
 * each block lives on the destination (and, under pin-all, its keys), with
 * the source's own pin-all registration overlapping the destination's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "rdma/chunk.h"
#include "rdma/conn.h"
#include "rdma/glue.h"
#include "rdma/validate.h"

/* Pin-all: every block, in regions no larger than the device can register. */
static int pin_all_local(struct rmig_rdma_conn *rc)
{
	uint64_t seg = rmig_rdma_segment_len(rc->res.max_mr_size);
	uint32_t i;
	int ret;

	for (i = 0; i < rc->view.nblocks; i++) {
		const struct rmig_rdma_ramblk *b = &rc->view.blocks[i];
		uint64_t off;

		/* As the destination does (rdma/reg.c): advisory, with keepalives between pieces. */
		ret = rmig_rdma_progress_populate(&rc->prog, b->host, b->length,
						  "pinning our RAM for pin-all");
		if (ret < 0)
			return ret;
		for (off = 0; off < b->length; off += seg) {
			struct rmig_rdma_region r = { .start = off,
						      .len = RMIG_MIN(seg, b->length - off) };
			struct ibv_mr *mr;

			ret = rmig_rdma_mr_register(rc->res.pd, b->host + off, r.len,
						    RMIG_RDMA_SOURCE_ACCESS, b->name, &mr);
			if (ret < 0)
				return ret;
			r.local_mr = mr;
			ret = rmig_rdma_keycache_add_region(rc->kc, i, &r);
			if (ret < 0) {
				rmig_rdma_glue_dereg_mr(mr);
				return ret;
			}
		}
	}
	return 0;
}

/*
 * [PIN_STREAM] Our side is pinned during the rounds (source.c,
 * local_region): refuse now, not part way through the bulk round, if our
 * device cuts a block into more regions than the key cache holds, or the
 * locked-memory limit cannot hold all of it.
 */
static int check_local_stream(const struct rmig_rdma_conn *rc)
{
	for (uint32_t i = 0; i < rc->view.nblocks; i++) {
		const struct rmig_rdma_ramblk *b = &rc->view.blocks[i];
		uint64_t len = rmig_rdma_stream_region_len(b->length, rc->res.max_mr_size);

		if (RMIG_DIV_ROUND_UP(b->length, len) > RMIG_RDMA_KEYCACHE_MAX_REGIONS) {
			rmig_error("rdma: RAM block '%s' needs more than %d registrations at this "
				   "device's max_mr_size; use dynamic registration (no pin-all)",
				   b->name, RMIG_RDMA_KEYCACHE_MAX_REGIONS);
			return -E2BIG;
		}
	}
	return rmig_rdma_memlock_fits(rmig_rdma_conn_pin_all_bytes(rc),
				      "all RAM and control buffers for pin-all");
}

_Static_assert(RMIG_RDMA_MAX_SEGMENTS <= RMIG_RDMA_KEYCACHE_MAX_REGIONS,
	       "the key cache must hold every segment a block may have");

/* The answer @resp to a set-up request, in @m. */
static int answer_recv(struct rmig_rdma_conn *rc, uint32_t resp, const char *during,
		       struct rmig_rdma_msg *m)
{
	char what[96];
	int ret;

	snprintf(what, sizeof(what), "waiting for its answer in %s", during);
	ret = rmig_rdma_ctrl_recv(&rc->ctrl, m, false, what);

	if (ret == -ECONNRESET)
		rmig_error("rdma: the destination disconnected during %s", during);
	if (ret < 0)
		return ret;
	ret = rmig_rdma_validate_type(&m->hdr, resp);
	if (ret == -EPROTO)
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
	return ret;
}

/* One set-up exchange: @req (empty, needs a credit), then its answer @resp in @m. */
static int request_answer(struct rmig_rdma_conn *rc, uint32_t req, uint32_t resp,
			  const char *during, struct rmig_rdma_msg *m)
{
	int ret = rmig_rdma_ctrl_send(&rc->ctrl, req, 1, NULL, 0, true);

	return ret < 0 ? ret : answer_recv(rc, resp, during, m);
}

/*
 * [PIN_SEGMENTS] A block the destination registered as several memory
 * regions has a key per region; RAM_BLOCKS_RESULT (@blocks) carried only
 * the first.  Fetch them all, so each WRITE uses the key of its region.
 */
static int exchange_segments(struct rmig_rdma_conn *rc, const struct rmig_rdma_block *blocks)
{
	struct rmig_rdma_segment *segs;
	struct rmig_rdma_msg m;
	uint32_t n, i;
	int ret;

	ret = request_answer(rc, RMIG_RDMA_MSG_SEGMENTS_REQUEST, RMIG_RDMA_MSG_SEGMENTS_RESULT,
			     "the segment exchange", &m);
	if (ret < 0)
		return ret;
	n = rmig_rdma_hdr_count(&m.hdr);
	segs = calloc(n ? n : 1, sizeof(*segs));
	if (!segs) {
		rmig_error("rdma: out of memory");
		return -ENOMEM;
	}
	ret = rmig_rdma_segments_result_validate(rc->ram, blocks, &m.hdr, m.payload, segs);
	for (i = 0; i < n && ret == 0; i++)
		ret = rmig_rdma_keycache_add_remote_segment(
		    rc->kc, segs[i].block_idx, segs[i].start, segs[i].length, segs[i].rkey);
	free(segs);
	if (ret == -ENOMEM)
		return ret;
	if (ret < 0)
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
	return rmig_rdma_ctrl_release(&rc->ctrl, &m);
}

int rmig_rdma_source_setup(struct rmig_rdma_conn *rc)
{
	struct rmig_rdma_block *blocks;
	struct rmig_rdma_msg m;
	bool keyed;
	uint32_t i;
	int ret;

	/* Streamed, both sides register during the rounds: can we, at all? */
	ret = rc->pin_stream ? check_local_stream(rc) : 0;
	if (ret == 0)
		ret = rmig_rdma_ctrl_send(&rc->ctrl, RMIG_RDMA_MSG_RAM_BLOCKS_REQUEST, 1, NULL, 0,
					  true);
	/*
	 * Under pin-all in set-up the destination now registers all its RAM;
	 * register ours meanwhile rather than after its answer.
	 */
	if (ret == 0 && rc->pin_all && !rc->pin_stream)
		ret = pin_all_local(rc);
	if (ret == 0)
		ret = answer_recv(rc, RMIG_RDMA_MSG_RAM_BLOCKS_RESULT, "the RAM block exchange", &m);
	if (ret < 0)
		return ret;
	blocks = calloc(rc->view.nblocks, sizeof(*blocks));
	if (!blocks) {
		rmig_error("rdma: out of memory");
		return -ENOMEM;
	}
	/* PIN_STREAM: the keys come later, one region at a time (pinstream.c). */
	keyed = rc->pin_all && !rc->pin_stream;
	ret = rmig_rdma_blocks_result_validate(rc->ram, &m.hdr, m.payload, keyed, blocks);
	if (ret < 0) {
		free(blocks);
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
	}
	for (i = 0; i < rc->view.nblocks && ret == 0; i++)
		ret = rmig_rdma_keycache_set_remote_block(rc->kc, i, blocks[i].remote_host_addr,
							  blocks[i].offset,
							  keyed ? blocks[i].rkey : 0);
	if (ret < 0) {
		free(blocks);
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
	}
	ret = rmig_rdma_ctrl_release(&rc->ctrl, &m);
	if (ret == 0 && keyed && rc->pin_segments)
		ret = exchange_segments(rc, blocks);
	free(blocks);
	return ret;
}
