/* SPDX-License-Identifier: MIT */
/*
 * Semantic validation of COMPRESS / REGISTER / UNREGISTER on the
 * destination and RAM_BLOCKS_RESULT / REGISTER_RESULT on the source, with
 * every field pushed out of range, including overflow near UINT64_MAX.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/ram/ram.h"
#include "rdma/validate.h"
#include "tests/support/rdma_test_log.h"

#define MiB (1024ull * 1024)
#define KiB 1024ull

/* A fixed RAM built by hand: validation reads only names and lengths. */
static struct rmig_ramblock blk[3];
static struct rmig_ramblock *blk_ptrs[3];
static struct rmig_ram ram;
static uint64_t bases[3];

static int setup(void **state)
{
	static const struct {
		const char *name;
		uint64_t len;
	} def[3] = {{"pc.ram", 4 * MiB}, {"vga.vram", MiB + 12 * KiB}, {"pc.rom", 64 * KiB}};

	for (int i = 0; i < 3; i++) {
		snprintf(blk[i].name, sizeof(blk[i].name), "%s", def[i].name);
		blk[i].length = def[i].len;
		blk[i].page_size = 4096;
		blk[i].page_shift = 12;
		blk[i].npages = def[i].len / 4096;
		blk[i].index = (uint32_t)i;
		blk_ptrs[i] = &blk[i];
	}
	ram.blocks = blk_ptrs;
	ram.nblocks = 3;
	ram.cap = 3;
	assert_int_equal(rmig_rdma_layout_bases(&ram, bases, 3), 0);
	return rdma_test_setup(state);
}

static void test_layout_bases(void **state)
{
	(void)state;
	uint64_t b[2];

	assert_int_equal(bases[0], 0);
	assert_int_equal(bases[1], 4 * MiB);
	assert_int_equal(bases[2], 5 * MiB + 12 * KiB);
	assert_int_equal(rmig_rdma_layout_bases(&ram, b, 2), -EINVAL);

	blk[1].length = UINT64_MAX - 1;
	assert_int_equal(rmig_rdma_layout_bases(&ram, bases, 3), -EINVAL);
	assert_error_mentions("vga.vram");
}

static void test_type(void **state)
{
	(void)state;
	struct rmig_rdma_hdr h = {.type = RMIG_RDMA_MSG_READY};

	assert_int_equal(rmig_rdma_validate_type(&h, RMIG_RDMA_MSG_READY), 0);
	assert_int_equal(rmig_rdma_validate_type(&h, RMIG_RDMA_MSG_NONE), 0);
	assert_int_equal(rmig_rdma_validate_type(&h, RMIG_RDMA_MSG_REGISTER_RESULT), -EPROTO);
	assert_error_mentions("expected a REGISTER RESULT message, got READY");
	h.type = RMIG_RDMA_MSG_ERROR;
	assert_int_equal(rmig_rdma_validate_type(&h, RMIG_RDMA_MSG_NONE), -ECONNABORTED);
	assert_int_equal(rmig_rdma_validate_type(&h, RMIG_RDMA_MSG_READY), -ECONNABORTED);
	assert_error_mentions("peer reported an error");
}

static void test_compress_ok(void **state)
{
	(void)state;
	struct rmig_rdma_compress c = {.block_idx = 1, .offset = 4 * MiB + MiB, .length = 12 * KiB};
	uint64_t off = 7;

	assert_int_equal(rmig_rdma_validate_compress(&ram, bases, &c, &off), 0);
	assert_int_equal(off, MiB); /* the short last chunk of vga.vram, exactly filled */
	c.offset = 4 * MiB;
	c.length = MiB + 12 * KiB; /* the whole block */
	assert_int_equal(rmig_rdma_validate_compress(&ram, bases, &c, &off), 0);
	assert_int_equal(off, 0);
}

static void test_compress_bad(void **state)
{
	(void)state;
	const struct rmig_rdma_compress good = {.block_idx = 1, .offset = 4 * MiB, .length = 4096};
	struct rmig_rdma_compress c;
	uint64_t off = 7;

	c = good;
	c.block_idx = 3;
	assert_int_equal(rmig_rdma_validate_compress(&ram, bases, &c, &off), -EPROTO);
	assert_error_mentions("block 3");
	c.block_idx = UINT32_MAX;
	assert_int_equal(rmig_rdma_validate_compress(&ram, bases, &c, &off), -EPROTO);

	c = good;
	c.value = 1;
	assert_int_equal(rmig_rdma_validate_compress(&ram, bases, &c, &off), -EPROTO);
	c.value = 256;
	assert_int_equal(rmig_rdma_validate_compress(&ram, bases, &c, &off), -EPROTO);

	c = good;
	c.length = 0;
	assert_int_equal(rmig_rdma_validate_compress(&ram, bases, &c, &off), -EPROTO);

	c = good;
	c.offset = 4 * MiB - 4096; /* below the block's base: inside pc.ram instead */
	assert_int_equal(rmig_rdma_validate_compress(&ram, bases, &c, &off), -EPROTO);
	assert_error_mentions("vga.vram");

	c = good;
	c.offset = 5 * MiB + 12 * KiB; /* one past the end */
	assert_int_equal(rmig_rdma_validate_compress(&ram, bases, &c, &off), -EPROTO);

	c = good;
	c.offset = 5 * MiB + 8 * KiB;
	c.length = 8192; /* runs 4 KiB past the end */
	assert_int_equal(rmig_rdma_validate_compress(&ram, bases, &c, &off), -EPROTO);

	c = good;
	c.length = UINT64_MAX; /* offset + length wraps */
	assert_int_equal(rmig_rdma_validate_compress(&ram, bases, &c, &off), -EPROTO);
	c.offset = UINT64_MAX;
	c.length = 2;
	assert_int_equal(rmig_rdma_validate_compress(&ram, bases, &c, &off), -EPROTO);
	c.offset = UINT64_MAX - 4095;
	c.length = 4096;
	assert_int_equal(rmig_rdma_validate_compress(&ram, bases, &c, &off), -EPROTO);
	assert_int_equal(off, 7);
}

static void test_register_ok(void **state)
{
	(void)state;
	/* QEMU: key is the RAM-space address, chunks 0 for one chunk. */
	struct rmig_rdma_register r = {.key = 2 * MiB + 4096, .block_idx = 0, .chunks = 0};
	uint64_t first = 9, n = 9;

	assert_int_equal(rmig_rdma_validate_register(&ram, bases, &r, &first, &n), 0);
	assert_int_equal(first, 2);
	assert_int_equal(n, 1);
	r.chunks = 1; /* chunks 2 and 3: the last two */
	assert_int_equal(rmig_rdma_validate_register(&ram, bases, &r, &first, &n), 0);
	assert_int_equal(n, 2);
	/* Short last chunk of an odd-sized block. */
	r.key = 5 * MiB + 8 * KiB;
	r.block_idx = 1;
	r.chunks = 0;
	assert_int_equal(rmig_rdma_validate_register(&ram, bases, &r, &first, &n), 0);
	assert_int_equal(first, 1);
}

static void test_register_bad(void **state)
{
	(void)state;
	struct rmig_rdma_register r;
	uint64_t first = 9, n = 9;

	r = (struct rmig_rdma_register){.key = 0, .block_idx = 3, .chunks = 0};
	assert_int_equal(rmig_rdma_validate_register(&ram, bases, &r, &first, &n), -EPROTO);
	assert_error_mentions("only 3 blocks");

	/* Chunk beyond the end (vga.vram has 2 chunks). */
	r = (struct rmig_rdma_register){.key = 4 * MiB + MiB, .block_idx = 1, .chunks = 1};
	assert_int_equal(rmig_rdma_validate_register(&ram, bases, &r, &first, &n), -EPROTO);
	assert_error_mentions("last chunk 1");
	r.chunks = UINT64_MAX; /* chunk + chunks wraps */
	assert_int_equal(rmig_rdma_validate_register(&ram, bases, &r, &first, &n), -EPROTO);
	r.key = 4 * MiB;
	r.chunks = 2;
	assert_int_equal(rmig_rdma_validate_register(&ram, bases, &r, &first, &n), -EPROTO);

	/* Address outside the block: below, at the end, far away. */
	r = (struct rmig_rdma_register){.key = 4 * MiB - 1, .block_idx = 1, .chunks = 0};
	assert_int_equal(rmig_rdma_validate_register(&ram, bases, &r, &first, &n), -EPROTO);
	r.key = 5 * MiB + 12 * KiB;
	assert_int_equal(rmig_rdma_validate_register(&ram, bases, &r, &first, &n), -EPROTO);
	r.key = UINT64_MAX;
	assert_int_equal(rmig_rdma_validate_register(&ram, bases, &r, &first, &n), -EPROTO);
	/* A chunk index where an address belongs (pc.rom at base 5 MiB + 12 KiB). */
	r = (struct rmig_rdma_register){.key = 0, .block_idx = 2, .chunks = 0};
	assert_int_equal(rmig_rdma_validate_register(&ram, bases, &r, &first, &n), -EPROTO);
	assert_int_equal(first, 9);
	assert_int_equal(n, 9);
}

static void test_unregister(void **state)
{
	(void)state;
	struct rmig_rdma_register r = {.key = 3, .block_idx = 0};

	assert_int_equal(rmig_rdma_validate_unregister(&ram, &r), 0);
	r.key = 4;
	assert_int_equal(rmig_rdma_validate_unregister(&ram, &r), -EPROTO);
	assert_error_mentions("4 chunks");
	r.key = UINT64_MAX;
	assert_int_equal(rmig_rdma_validate_unregister(&ram, &r), -EPROTO);
	r.key = 0;
	r.block_idx = 3;
	assert_int_equal(rmig_rdma_validate_unregister(&ram, &r), -EPROTO);
}

static void fill_dest(struct rmig_rdma_block *d)
{
	/* A QEMU destination: its own ram_addr_t bases with gaps. */
	for (int i = 0; i < 3; i++) {
		d[i].remote_host_addr = 0x7f0000000000ull + (uint64_t)i * 0x10000000ull;
		d[i].offset = (uint64_t)i * 0x40000000ull;
		d[i].length = blk[i].length;
		d[i].rkey = 0x100u + (uint32_t)i;
	}
}

static void test_blocks_result(void **state)
{
	(void)state;
	struct rmig_rdma_block d[3];

	fill_dest(d);
	assert_int_equal(rmig_rdma_validate_blocks_result(&ram, d, 3, true), 0);
	assert_int_equal(rmig_rdma_validate_blocks_result(&ram, d, 2, false), -EPROTO);
	assert_error_mentions("destination has 2 RAM blocks, this side has 3");

	d[2].length += 4096;
	assert_int_equal(rmig_rdma_validate_blocks_result(&ram, d, 3, false), -EPROTO);
	assert_error_mentions("block 2 'pc.rom'");

	fill_dest(d);
	d[1].offset = UINT64_MAX - 4096;
	assert_int_equal(rmig_rdma_validate_blocks_result(&ram, d, 3, false), -EPROTO);
	assert_error_mentions("vga.vram");
	fill_dest(d);
	d[0].remote_host_addr = UINT64_MAX - MiB;
	assert_int_equal(rmig_rdma_validate_blocks_result(&ram, d, 3, false), -EPROTO);

	fill_dest(d);
	d[0].rkey = 0;
	assert_int_equal(rmig_rdma_validate_blocks_result(&ram, d, 3, false), 0);
	assert_int_equal(rmig_rdma_validate_blocks_result(&ram, d, 3, true), -EPROTO);
	assert_error_mentions("no key");
}

static void test_blocks_result_validate(void **state)
{
	(void)state;
	struct rmig_rdma_block d[3], out[3];
	uint8_t msg[16 + 4 * 32];
	struct rmig_rdma_hdr h;
	int i;

	fill_dest(d);
	for (i = 0; i < 3; i++)
		rmig_rdma_block_encode(&d[i], msg + 16 + i * 32);
	assert_int_equal(
	    rmig_rdma_msg_build(RMIG_RDMA_MSG_RAM_BLOCKS_RESULT, 1, msg + 16, 96, msg, sizeof(msg)),
	    16 + 96);
	assert_int_equal(rmig_rdma_hdr_decode(msg, 16 + 96, &h), 0);
	assert_int_equal(rmig_rdma_blocks_result_validate(&ram, &h, msg + 16, true, out), 0);
	assert_int_equal(out[2].offset, 2 * 0x40000000ull);
	assert_int_equal(out[1].rkey, 0x101);

	/* One block too many: refused before anything is written to out. */
	memset(out, 0, sizeof(out));
	rmig_rdma_block_encode(&d[0], msg + 16 + 3 * 32);
	h.len = 128;
	assert_int_equal(rmig_rdma_blocks_result_validate(&ram, &h, msg + 16, true, out), -EPROTO);
	assert_int_equal(out[0].length, 0);
	/* A bad last block leaves out untouched too. */
	h.len = 96;
	d[2].length = 1;
	rmig_rdma_block_encode(&d[2], msg + 16 + 2 * 32);
	assert_int_equal(rmig_rdma_blocks_result_validate(&ram, &h, msg + 16, true, out), -EPROTO);
	assert_int_equal(out[0].length, 0);
	h.type = RMIG_RDMA_MSG_READY;
	assert_int_equal(rmig_rdma_blocks_result_validate(&ram, &h, msg + 16, true, out), -EPROTO);
}

static void test_register_result(void **state)
{
	(void)state;
	struct rmig_rdma_hdr h = {.len = 16, .type = RMIG_RDMA_MSG_REGISTER_RESULT, .repeat = 1};

	assert_int_equal(rmig_rdma_validate_register_result(&h, 1), 0);
	assert_int_equal(rmig_rdma_validate_register_result(&h, 2), -EPROTO);
	assert_error_mentions("2 registrations with 1 results");
	h.type = RMIG_RDMA_MSG_ERROR;
	assert_int_equal(rmig_rdma_validate_register_result(&h, 1), -ECONNABORTED);
}

/* ---- SEGMENTS_RESULT ---- */

#define NSEG_GOOD 5

/*
 * pc.ram (4 MiB) in three segments of 2 + 1 + 1 MiB, vga.vram (1 MiB + 12 KiB)
 * in two (the second short), pc.rom (64 KiB) in one.
 */
static void fill_segments(struct rmig_rdma_segment *s)
{
	const struct rmig_rdma_segment good[NSEG_GOOD + 1] = {
	    {.block_idx = 0, .rkey = 0x100, .start = 0, .length = 2 * MiB},
	    {.block_idx = 0, .rkey = 0x200, .start = 2 * MiB, .length = MiB},
	    {.block_idx = 0, .rkey = 0x201, .start = 3 * MiB, .length = MiB},
	    {.block_idx = 1, .rkey = 0x101, .start = 0, .length = MiB},
	    {.block_idx = 1, .rkey = 0x202, .start = MiB, .length = 12 * KiB},
	    {.block_idx = 2, .rkey = 0x102, .start = 0, .length = 64 * KiB},
	};

	memcpy(s, good, sizeof(good));
}

#define NSEG (NSEG_GOOD + 1)

static void assert_segments_refused(const struct rmig_rdma_segment *s, uint32_t n, const char *why)
{
	struct rmig_rdma_block d[3];

	fill_dest(d);
	assert_int_equal(rmig_rdma_validate_segments(&ram, d, s, n), -EPROTO);
	assert_error_mentions(why);
}

static void test_segments_ok(void **state)
{
	(void)state;
	struct rmig_rdma_block d[3];
	struct rmig_rdma_segment s[NSEG];

	fill_dest(d);
	fill_segments(s);
	assert_int_equal(rmig_rdma_validate_segments(&ram, d, s, NSEG), 0);
	/* One segment per block, as for blocks that fit one memory region. */
	s[0].length = blk[0].length;
	s[1] = s[3];
	s[1].length = blk[1].length;
	s[2] = s[5];
	assert_int_equal(rmig_rdma_validate_segments(&ram, d, s, 3), 0);
}

static void test_segments_block_order(void **state)
{
	(void)state;
	struct rmig_rdma_segment s[NSEG];

	/* Index out of range. */
	fill_segments(s);
	s[5].block_idx = 3;
	assert_segments_refused(s, NSEG, "only 3 blocks");
	s[5].block_idx = UINT32_MAX;
	assert_segments_refused(s, NSEG, "only 3 blocks");

	/* Back to a block after the next one's segments. */
	fill_segments(s);
	s[5] = s[0];
	assert_segments_refused(s, NSEG, "out of order");

	/* Block 1 skipped. */
	fill_segments(s);
	assert_segments_refused((const struct rmig_rdma_segment[]){s[0], s[1], s[2], s[5]}, 4,
				"block 1 'vga.vram' has no segments");
	/* Block 2 missing at the end. */
	assert_segments_refused(s, 5, "block 2 'pc.rom' has no segments");
	/* Nothing at all. */
	assert_segments_refused(s, 0, "only up to 0x0");
	/* Block 0 not finished before block 1 starts. */
	assert_segments_refused((const struct rmig_rdma_segment[]){s[0], s[1], s[3], s[4], s[5]}, 5,
				"block 0 'pc.ram' only up to 0x300000");
	/* The last block not finished. */
	s[5].length = 60 * KiB;
	assert_segments_refused(s, NSEG, "block 2 'pc.rom' only up to 0xf000");
	/* The first segment of a block not at 0. */
	fill_segments(s);
	s[3].start = MiB;
	assert_segments_refused(s, NSEG, "starts at 0x100000, not 0");
}

static void test_segments_tiling(void **state)
{
	(void)state;
	struct rmig_rdma_segment s[NSEG];

	/* Gap. */
	fill_segments(s);
	s[1].length = MiB / 2;
	s[2].start = 3 * MiB;
	assert_segments_refused(s, NSEG, "leaves a gap");
	/* Overlap. */
	fill_segments(s);
	s[1].length = 2 * MiB;
	assert_segments_refused(s, NSEG, "overlaps");
	/* A repeated segment overlaps itself. */
	fill_segments(s);
	assert_segments_refused((const struct rmig_rdma_segment[]){s[0], s[0], s[1]}, 3,
				"overlaps");
	/* Misaligned start, even where it would tile. */
	fill_segments(s);
	s[3].length = MiB - 4 * KiB;
	s[4].start = MiB - 4 * KiB;
	s[4].length = 16 * KiB;
	assert_segments_refused(s, NSEG, "chunk boundary");
	/* Empty. */
	fill_segments(s);
	s[2].length = 0;
	assert_segments_refused(s, NSEG, "empty");
	/* Past the block end. */
	fill_segments(s);
	s[2].length = MiB + 4 * KiB;
	assert_segments_refused(s, NSEG, "runs past its end");
	/* start + length wrapping around. */
	fill_segments(s);
	s[2].length = UINT64_MAX - 3 * MiB + 1;
	assert_segments_refused(s, NSEG, "runs past its end");
	s[2].length = UINT64_MAX;
	assert_segments_refused(s, NSEG, "runs past its end");
	fill_segments(s);
	s[1].start = UINT64_MAX & ~(MiB - 1);
	s[1].length = 2 * MiB;
	assert_segments_refused(s, NSEG, "leaves a gap");
}

static void test_segments_keys(void **state)
{
	(void)state;
	struct rmig_rdma_segment s[NSEG];

	fill_segments(s);
	s[1].rkey = 0;
	assert_segments_refused(s, NSEG, "has key 0x0");
	fill_segments(s);
	s[3].rkey = 0x999; /* RAM_BLOCKS_RESULT said 0x101 */
	assert_segments_refused(s, NSEG, "not the block's key");
}

static void test_segments_too_many(void **state)
{
	(void)state;
	static struct rmig_ramblock big;
	static struct rmig_ramblock *big_ptr = &big;
	struct rmig_ram one = {.blocks = &big_ptr, .nblocks = 1, .cap = 1};
	struct rmig_rdma_block d = {.length = (RMIG_RDMA_MAX_SEGMENTS + 1) * MiB, .rkey = 1};
	struct rmig_rdma_segment s[RMIG_RDMA_MAX_SEGMENTS + 1];
	uint32_t i;

	snprintf(big.name, sizeof(big.name), "big");
	big.length = RMIG_RDMA_MAX_SEGMENTS * MiB;
	for (i = 0; i <= RMIG_RDMA_MAX_SEGMENTS; i++)
		s[i] = (struct rmig_rdma_segment){
		    .block_idx = 0, .rkey = 1 + i, .start = i * MiB, .length = MiB};
	assert_int_equal(rmig_rdma_validate_segments(&one, &d, s, RMIG_RDMA_MAX_SEGMENTS), 0);
	big.length += MiB;
	assert_int_equal(rmig_rdma_validate_segments(&one, &d, s, RMIG_RDMA_MAX_SEGMENTS + 1),
			 -EPROTO);
	assert_error_mentions("more than 64 segments");
	/* No blocks at all: nothing to tile, and no block 0 to read. */
	one.nblocks = 0;
	assert_int_equal(rmig_rdma_validate_segments(&one, &d, s, 0), -EPROTO);
}

static void test_segments_result_validate(void **state)
{
	(void)state;
	struct rmig_rdma_block d[3];
	struct rmig_rdma_segment s[NSEG], out[NSEG];
	uint8_t msg[16 + (NSEG + 1) * 24];
	struct rmig_rdma_hdr h;
	uint32_t len = NSEG * 24, i;

	fill_dest(d);
	fill_segments(s);
	for (i = 0; i < NSEG; i++)
		rmig_rdma_segment_encode(&s[i], msg + 16 + i * 24);
	assert_int_equal(rmig_rdma_msg_build(RMIG_RDMA_MSG_SEGMENTS_RESULT, NSEG, msg + 16, len,
					     msg, sizeof(msg)),
			 16 + len);
	assert_int_equal(rmig_rdma_hdr_decode_caps(msg, 16 + len, RMIG_RDMA_CAP_PIN_SEGMENTS, &h),
			 0);
	memset(out, 0, sizeof(out));
	assert_int_equal(rmig_rdma_segments_result_validate(&ram, d, &h, msg + 16, out), 0);
	assert_int_equal(out[2].start, 3 * MiB);
	assert_int_equal(out[2].rkey, 0x201);
	assert_int_equal(out[4].length, 12 * KiB);
	assert_int_equal(out[5].block_idx, 2);

	/* Short and long payloads for the count: refused even if the header said so. */
	memset(out, 0, sizeof(out));
	h.len = len - 1;
	assert_int_equal(rmig_rdma_segments_result_validate(&ram, d, &h, msg + 16, out), -EPROTO);
	assert_error_mentions("payload bytes");
	h.len = len + 24;
	assert_int_equal(rmig_rdma_segments_result_validate(&ram, d, &h, msg + 16, out), -EPROTO);
	/* One segment too few (the count says 5, pc.rom is left out). */
	h.len = len - 24;
	h.repeat = NSEG - 1;
	assert_int_equal(rmig_rdma_segments_result_validate(&ram, d, &h, msg + 16, out), -EPROTO);
	assert_error_mentions("pc.rom");
	/* A bad last element leaves out untouched. */
	h.len = len;
	h.repeat = NSEG;
	s[5].length = 128 * KiB;
	rmig_rdma_segment_encode(&s[5], msg + 16 + 5 * 24);
	assert_int_equal(rmig_rdma_segments_result_validate(&ram, d, &h, msg + 16, out), -EPROTO);
	assert_int_equal(out[0].length, 0);
	/* Wrong type; ERROR from the peer. */
	h.type = RMIG_RDMA_MSG_RAM_BLOCKS_RESULT;
	assert_int_equal(rmig_rdma_segments_result_validate(&ram, d, &h, msg + 16, out), -EPROTO);
	h.type = RMIG_RDMA_MSG_ERROR;
	assert_int_equal(rmig_rdma_segments_result_validate(&ram, d, &h, msg + 16, out),
			 -ECONNABORTED);
	assert_int_equal(out[0].length, 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, rdma_test_teardown)
	const struct CMUnitTest tests[] = {
		T(test_layout_bases),
		T(test_type),
		T(test_compress_ok),
		T(test_compress_bad),
		T(test_register_ok),
		T(test_register_bad),
		T(test_unregister),
		T(test_blocks_result),
		T(test_blocks_result_validate),
		T(test_register_result),
		T(test_segments_ok),
		T(test_segments_block_order),
		T(test_segments_tiling),
		T(test_segments_keys),
		T(test_segments_too_many),
		T(test_segments_result_validate),
	};
#undef T

	return cmocka_run_group_tests_name("rdma_validate", tests, NULL, NULL);
}
