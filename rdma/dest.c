/* SPDX-License-Identifier: MIT */
/*
 * Destination side: the registration service that runs while the source
 * is inside a RAM hook round.  Every request is validated (validate.h)
 * against our RAM before anything is registered or written; a bad one
 * ends the migration with ERROR to the peer and a precise local report.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "common/ram/zero.h"
#include "rdma/chunk.h"
#include "rdma/conn.h"
#include "rdma/validate.h"

int rmig_rdma_dest_attach(struct rmig_rdma_conn *rc, struct rmig_ram *ram)
{
	int ret;

	if (rc->dreg_ready) {
		rmig_error("rdma: RAM attached twice to one connection");
		return -EBUSY;
	}
	/* Dropped by rmig_rdma_dest_fini(), as the bases. */
	rmig_rdma_ramview_fini(&rc->view);
	ret = rmig_rdma_ramview_init(&rc->view, ram);
	if (ret < 0)
		return ret;
	free(rc->bases);
	rc->bases = calloc(rc->view.nblocks ? rc->view.nblocks : 1, sizeof(*rc->bases));
	if (!rc->bases) {
		rmig_error("rdma: out of memory");
		return -ENOMEM;
	}
	ret = rmig_rdma_layout_bases(ram, rc->bases, rc->view.nblocks);
	if (ret < 0)
		return ret;
	ret = rmig_rdma_dreg_init(&rc->dreg, &rc->view, rc->res.pd);
	if (ret < 0)
		return ret;
	rc->ram = ram;
	rc->dreg_ready = true;
	return 0;
}

void rmig_rdma_dest_fini(struct rmig_rdma_conn *rc)
{
	if (rc->dreg_ready) {
		rmig_rdma_dreg_fini(&rc->dreg);
		rc->dreg_ready = false;
	}
	free(rc->bases);
	rc->bases = NULL;
	rmig_rdma_ramview_fini(&rc->view);
}

/*
 * Pin-all will pin all of our RAM: refuse now, in setup, if the locked-
 * memory limit cannot hold it, rather than part way through the bulk
 * round (PIN_STREAM) or after populating RAM for nothing.
 */
static int check_memlock(const struct rmig_rdma_conn *rc)
{
	return rmig_rdma_memlock_fits(rmig_rdma_conn_pin_all_bytes(rc),
				      "all RAM and control buffers for pin-all");
}

static int serve_blocks(struct rmig_rdma_conn *rc)
{
	uint32_t n = rc->view.nblocks, i;
	uint8_t *out;
	int ret;

	if ((uint64_t)n * RMIG_RDMA_BLOCK_SIZE > RMIG_RDMA_PAYLOAD_MAX || n > RMIG_RDMA_MAX_REPEAT) {
		rmig_error("rdma: too many RAM blocks (%u) for one RAM_BLOCKS_RESULT", n);
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
	}
	if (rc->pin_all) {
		ret = check_memlock(rc);
		if (ret < 0)
			return rmig_rdma_ctrl_give_up(&rc->ctrl, ret);
	}
	if (rc->pin_stream) {
		/* Only the plan: each region is pinned when the source asks for it. */
		ret = rmig_rdma_dreg_plan(&rc->dreg, rc->res.max_mr_size, true);
		if (ret < 0)
			return rmig_rdma_ctrl_give_up(&rc->ctrl, ret);
	} else if (rc->pin_all) {
		/* Counted in the source's setup-time: this runs inside its SETUP hook. */
		ret = rmig_rdma_dreg_pin_all(&rc->dreg, rc->res.max_mr_size, &rc->prog);
		if (ret < 0)
			return rmig_rdma_ctrl_give_up(&rc->ctrl, ret);
		/* With PIN_SEGMENTS the other keys follow in SEGMENTS_RESULT. */
		for (i = 0; i < n && !rc->pin_segments; i++) {
			if (rc->dreg.blocks[i].nseg != 1) {
				/* One rkey per block is all the v1 message can carry. */
				rmig_error("rdma: RAM block '%s' is larger than this device's "
					   "max_mr_size; pin-all cannot describe it with one key, "
					   "use dynamic registration (rmig's PIN_SEGMENTS "
					   "extension can, but was not negotiated)",
					   rc->view.blocks[i].name);
				return rmig_rdma_ctrl_give_up(&rc->ctrl, -E2BIG);
			}
		}
	}
	out = calloc(n ? n : 1, RMIG_RDMA_BLOCK_SIZE);
	if (!out) {
		rmig_error("rdma: out of memory");
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -ENOMEM);
	}
	for (i = 0; i < n; i++) {
		const struct rmig_rdma_ramblk *b = &rc->view.blocks[i];
		struct rmig_rdma_block e = {
			.remote_host_addr = (uintptr_t)b->host,
			.offset = rc->bases[i],
			.length = b->length,
			/* PIN_STREAM: no key yet; each comes in its SEGMENTS_RESULT. */
			.rkey = rc->pin_all && !rc->pin_stream ? rc->dreg.blocks[i].seg_mr[0]->rkey : 0,
		};

		rmig_rdma_block_encode(&e, out + (size_t)i * RMIG_RDMA_BLOCK_SIZE);
	}
	/* repeat 1 as QEMU sends it: the count is len / 32, and QEMU never reads repeat here. */
	ret = rmig_rdma_ctrl_send(&rc->ctrl, RMIG_RDMA_MSG_RAM_BLOCKS_RESULT, 1, out,
				  n * RMIG_RDMA_BLOCK_SIZE, false);
	free(out);
	return ret;
}

/*
 * [PIN_SEGMENTS] Every memory region of every block, in block order and
 * increasing start, so the source can pick the key for each WRITE.
 */
static int serve_segments(struct rmig_rdma_conn *rc)
{
	uint32_t n = 0, i, s, k = 0;
	uint8_t *out;
	int ret;

	for (i = 0; rc->pin_all && i < rc->view.nblocks; i++) {
		if (rc->dreg.blocks[i].nseg == 0)
			break;
		n += rc->dreg.blocks[i].nseg;
	}
	if (n == 0 || i < rc->view.nblocks) {
		rmig_error("rdma: SEGMENTS REQUEST before the pinned RAM blocks were described "
			   "(RAM BLOCKS REQUEST under pin-all comes first)");
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
	}
	if (n > RMIG_RDMA_MAX_REPEAT) {
		rmig_error("rdma: %u pinned memory regions do not fit one SEGMENTS RESULT (at most "
			   "%d); use dynamic registration",
			   n, RMIG_RDMA_MAX_REPEAT);
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -E2BIG);
	}
	out = calloc(n, RMIG_RDMA_SEGMENT_SIZE);
	if (!out) {
		rmig_error("rdma: out of memory");
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -ENOMEM);
	}
	for (i = 0; i < rc->view.nblocks; i++) {
		for (s = 0; s < rc->dreg.blocks[i].nseg; s++) {
			struct rmig_rdma_segment e;

			/* Cannot fail: s < nseg of an existing block. */
			(void)rmig_rdma_dreg_segment(&rc->dreg, i, s, &e);
			rmig_rdma_segment_encode(&e, out + (size_t)k++ * RMIG_RDMA_SEGMENT_SIZE);
		}
	}
	ret = rmig_rdma_ctrl_send(&rc->ctrl, RMIG_RDMA_MSG_SEGMENTS_RESULT, n, out,
				  n * RMIG_RDMA_SEGMENT_SIZE, false);
	free(out);
	return ret;
}

/*
 * [PIN_STREAM] Pin the next region and describe it alone.  What a source
 * can ask for is bounded by our RAM: past the last region it is refused.
 */
static int serve_pin_next(struct rmig_rdma_conn *rc)
{
	struct rmig_rdma_segment e;
	uint8_t out[RMIG_RDMA_SEGMENT_SIZE];
	int ret;

	if (!rc->dreg.nblocks || !rc->dreg.blocks[0].seg_len ||
	    rmig_rdma_dreg_all_pinned(&rc->dreg)) {
		rmig_error("rdma: the source asked to pin %s (SEGMENTS REQUEST)",
			   rc->dreg.nblocks && !rc->dreg.blocks[0].seg_len
				   ? "before the RAM blocks were described"
				   : "more than our RAM: every block is pinned already");
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
	}
	ret = rmig_rdma_dreg_pin_next(&rc->dreg, &rc->prog, &e);
	if (ret < 0)
		return rmig_rdma_ctrl_give_up(&rc->ctrl, ret);
	rmig_rdma_segment_encode(&e, out);
	return rmig_rdma_ctrl_send(&rc->ctrl, RMIG_RDMA_MSG_SEGMENTS_RESULT, 1, out, sizeof(out),
				   false);
}

/*
 * Every element of a request is checked before any is acted on, so a
 * refused request pins, zeroes or unregisters nothing.  @check validates
 * one element; the serve_* functions then act on them all.
 */
static int check_all(struct rmig_rdma_conn *rc, const struct rmig_rdma_msg *m, size_t size,
		     int (*check)(struct rmig_rdma_conn *rc, const uint8_t *elem))
{
	for (uint32_t i = 0; i < m->hdr.repeat; i++)
		if (check(rc, m->payload + (size_t)i * size) < 0)
			return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
	return 0;
}

static int check_register(struct rmig_rdma_conn *rc, const uint8_t *elem)
{
	struct rmig_rdma_register r;
	uint64_t first, count;

	rmig_rdma_register_decode(elem, &r);
	return rmig_rdma_validate_register(rc->ram, rc->bases, &r, &first, &count);
}

static int check_compress(struct rmig_rdma_conn *rc, const uint8_t *elem)
{
	struct rmig_rdma_compress c;
	uint64_t off;

	rmig_rdma_compress_decode(elem, &c);
	return rmig_rdma_validate_compress(rc->ram, rc->bases, &c, &off);
}

static int check_unregister(struct rmig_rdma_conn *rc, const uint8_t *elem)
{
	struct rmig_rdma_register r;

	rmig_rdma_register_decode(elem, &r);
	return rmig_rdma_validate_unregister(rc->ram, &r);
}

static int serve_register(struct rmig_rdma_conn *rc, const struct rmig_rdma_msg *m)
{
	uint32_t n = m->hdr.repeat, i;
	uint8_t *out;
	int ret = check_all(rc, m, RMIG_RDMA_REGISTER_SIZE, check_register);

	if (ret < 0)
		return ret;
	out = malloc((size_t)(n ? n : 1) * RMIG_RDMA_REGISTER_RESULT_SIZE);
	if (!out) {
		rmig_error("rdma: out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		struct rmig_rdma_register r;
		struct rmig_rdma_register_result res;
		uint64_t first, count;

		rmig_rdma_register_decode(m->payload + (size_t)i * RMIG_RDMA_REGISTER_SIZE, &r);
		ret = rmig_rdma_validate_register(rc->ram, rc->bases, &r, &first, &count);
		if (ret < 0) {
			ret = rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
			break;
		}
		if (rc->pin_all) {
			ret = rmig_rdma_dreg_pin_rkey(&rc->dreg, r.block_idx,
						      rmig_rdma_chunk_start(first), &res.rkey);
			if (ret == -ENOENT) {
				/* PIN_STREAM: a region nobody asked to be pinned yet. */
				rmig_error("rdma: REGISTER REQUEST for chunk %llu of block %u under "
					   "pin-all, which is not pinned yet",
					   (unsigned long long)first, r.block_idx);
				ret = -EPROTO;
			}
		} else
			ret = rmig_rdma_dreg_chunks(&rc->dreg, r.block_idx, first, count,
						    &res.rkey);
		if (ret < 0) {
			rmig_rdma_ctrl_give_up(&rc->ctrl, ret);
			break;
		}
		res.host_addr = (uintptr_t)rc->view.blocks[r.block_idx].host;
		rmig_rdma_register_result_encode(&res, out + (size_t)i * RMIG_RDMA_REGISTER_RESULT_SIZE);
	}
	if (ret == 0)
		ret = rmig_rdma_ctrl_send(&rc->ctrl, RMIG_RDMA_MSG_REGISTER_RESULT, n, out,
					  n * RMIG_RDMA_REGISTER_RESULT_SIZE, false);
	free(out);
	return ret;
}

static int serve_compress(struct rmig_rdma_conn *rc, const struct rmig_rdma_msg *m)
{
	uint32_t i;
	int ret;

	ret = check_all(rc, m, RMIG_RDMA_COMPRESS_SIZE, check_compress);
	if (ret < 0)
		return ret;
	for (i = 0; i < m->hdr.repeat; i++) {
		struct rmig_rdma_compress c;
		uint64_t off;

		rmig_rdma_compress_decode(m->payload + (size_t)i * RMIG_RDMA_COMPRESS_SIZE, &c);
		if (rmig_rdma_validate_compress(rc->ram, rc->bases, &c, &off) < 0)
			return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
		/* value is 0 (validated); pages already zero are left unallocated */
		rmig_zero_fill(rc->view.blocks[c.block_idx].host + off, c.length);
	}
	return 0;
}

static int serve_unregister(struct rmig_rdma_conn *rc, const struct rmig_rdma_msg *m)
{
	uint32_t i;
	int ret;

	ret = check_all(rc, m, RMIG_RDMA_REGISTER_SIZE, check_unregister);
	if (ret < 0)
		return ret;
	for (i = 0; i < m->hdr.repeat; i++) {
		struct rmig_rdma_register r;

		rmig_rdma_register_decode(m->payload + (size_t)i * RMIG_RDMA_REGISTER_SIZE, &r);
		if (rmig_rdma_validate_unregister(rc->ram, &r) < 0)
			return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
		if (!rc->pin_all) {
			ret = rmig_rdma_dreg_unregister(&rc->dreg, r.block_idx, r.key);
			if (ret < 0)
				return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
		}
	}
	return rmig_rdma_ctrl_send(&rc->ctrl, RMIG_RDMA_MSG_UNREGISTER_FINISHED, 1, NULL, 0, false);
}

int rmig_rdma_dest_load(struct rmig_rdma_conn *rc, enum rmig_ram_phase phase)
{
	if (!rc->dreg_ready) {
		rmig_error("rdma: RAM hook before the destination RAM was attached");
		return -EINVAL;
	}
	for (;;) {
		struct rmig_rdma_msg m;
		bool done = false;
		uint64_t t0 = 0;
		int ret;

		ret = rmig_rdma_ctrl_recv(&rc->ctrl, &m, true, "serving a RAM round of the source");
		if (ret == -ECONNRESET) {
			rmig_error("rdma: the source disconnected in the middle of a RAM round");
			rmig_rdma_ctrl_fail(&rc->ctrl, ret);
		}
		if (ret < 0)
			return ret;
		switch (m.hdr.type) {
		case RMIG_RDMA_MSG_RAM_BLOCKS_REQUEST:
			ret = serve_blocks(rc);
			break;
		case RMIG_RDMA_MSG_SEGMENTS_REQUEST: /* decoded only under PIN_SEGMENTS */
			t0 = rmig_time_now_ns();
			ret = rc->pin_stream ? serve_pin_next(rc) : serve_segments(rc);
			break;
		case RMIG_RDMA_MSG_REGISTER_REQUEST:
			t0 = rmig_time_now_ns();
			ret = serve_register(rc, &m);
			break;
		case RMIG_RDMA_MSG_COMPRESS:
			ret = serve_compress(rc, &m);
			break;
		case RMIG_RDMA_MSG_UNREGISTER_REQUEST:
			ret = serve_unregister(rc, &m);
			break;
		case RMIG_RDMA_MSG_REGISTER_FINISHED:
			done = true;
			break;
		default:
			rmig_error("rdma: unexpected %s from the source during a RAM round",
				   rmig_rdma_msg_name(m.hdr.type));
			ret = rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
			break;
		}
		if (ret < 0)
			return ret;
		/* Registration while the source writes: apart from setup-time (x-rmig-pinned). */
		if (t0 && phase != RMIG_RAM_PHASE_SETUP)
			rc->dreg.overlap_ns += rmig_time_now_ns() - t0;
		ret = rmig_rdma_ctrl_release(&rc->ctrl, &m);
		if (ret < 0)
			return ret;
		if (done)
			return 0;
	}
}
