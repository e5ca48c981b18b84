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

#include <cmocka.h>

#include "rdma_test_log.h"
#include "validate.h"

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

static void test_blocks_result_parse(void **state)
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
	assert_int_equal(rmig_rdma_blocks_result_parse(&ram, &h, msg + 16, true, out), 0);
	assert_int_equal(out[2].offset, 2 * 0x40000000ull);
	assert_int_equal(out[1].rkey, 0x101);

	/* One block too many: refused before anything is written to out. */
	memset(out, 0, sizeof(out));
	rmig_rdma_block_encode(&d[0], msg + 16 + 3 * 32);
	h.len = 128;
	assert_int_equal(rmig_rdma_blocks_result_parse(&ram, &h, msg + 16, true, out), -EPROTO);
	assert_int_equal(out[0].length, 0);
	/* A bad last block leaves out untouched too. */
	h.len = 96;
	d[2].length = 1;
	rmig_rdma_block_encode(&d[2], msg + 16 + 2 * 32);
	assert_int_equal(rmig_rdma_blocks_result_parse(&ram, &h, msg + 16, true, out), -EPROTO);
	assert_int_equal(out[0].length, 0);
	h.type = RMIG_RDMA_MSG_READY;
	assert_int_equal(rmig_rdma_blocks_result_parse(&ram, &h, msg + 16, true, out), -EPROTO);
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

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, rdma_test_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_layout_bases),    T(test_type),	    T(test_compress_ok),
	    T(test_compress_bad),    T(test_register_ok),   T(test_register_bad),
	    T(test_unregister),	     T(test_blocks_result), T(test_blocks_result_parse),
	    T(test_register_result),
	};
#undef T

	return cmocka_run_group_tests_name("rdma_validate", tests, NULL, NULL);
}
