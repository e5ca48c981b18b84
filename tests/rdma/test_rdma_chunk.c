/* SPDX-License-Identifier: MIT */
/* Chunk arithmetic and WRITE merging: odd-sized blocks, never crossing a chunk end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rdma/chunk.h"
#include "tests/support/rdma_test_log.h"

#define MiB (1024ull * 1024)
#define KiB 1024ull

static void test_chunk_count(void **state)
{
	(void)state;
	assert_int_equal(rmig_rdma_chunk_count(0), 0);
	assert_int_equal(rmig_rdma_chunk_count(1), 1);
	assert_int_equal(rmig_rdma_chunk_count(4 * KiB), 1);
	assert_int_equal(rmig_rdma_chunk_count(MiB - 1), 1);
	assert_int_equal(rmig_rdma_chunk_count(MiB), 1);
	assert_int_equal(rmig_rdma_chunk_count(MiB + 4 * KiB), 2);
	assert_int_equal(rmig_rdma_chunk_count(3 * MiB), 3);
	/* No overflow near the top of the range. */
	assert_int_equal(rmig_rdma_chunk_count(UINT64_MAX), (UINT64_MAX >> 20) + 1);
}

static void test_chunk_index_start_end(void **state)
{
	(void)state;
	const uint64_t len = 2 * MiB + 12 * KiB; /* odd-sized: short third chunk */

	assert_int_equal(rmig_rdma_chunk_index(0), 0);
	assert_int_equal(rmig_rdma_chunk_index(MiB - 1), 0);
	assert_int_equal(rmig_rdma_chunk_index(MiB), 1);
	assert_int_equal(rmig_rdma_chunk_start(2), 2 * MiB);
	assert_int_equal(rmig_rdma_chunk_start(UINT64_MAX), UINT64_MAX);

	assert_int_equal(rmig_rdma_chunk_end(len, 0), MiB);
	assert_int_equal(rmig_rdma_chunk_end(len, 1), 2 * MiB);
	assert_int_equal(rmig_rdma_chunk_end(len, 2), len);
	assert_int_equal(rmig_rdma_chunk_end(len, 3), 0);
	assert_int_equal(rmig_rdma_chunk_len(len, 0), MiB);
	assert_int_equal(rmig_rdma_chunk_len(len, 2), 12 * KiB);
	assert_int_equal(rmig_rdma_chunk_len(len, 3), 0);
	assert_int_equal(rmig_rdma_chunk_len(len, UINT64_MAX), 0);
	/* An exact multiple has no extra chunk (QEMU's own count has one). */
	assert_int_equal(rmig_rdma_chunk_end(2 * MiB, 1), 2 * MiB);
	assert_int_equal(rmig_rdma_chunk_end(2 * MiB, 2), 0);
	/* Huge block: last chunk ends at the block end without overflow. */
	assert_int_equal(rmig_rdma_chunk_end(UINT64_MAX, UINT64_MAX >> 20), UINT64_MAX);
}

static void test_range_in_block(void **state)
{
	(void)state;
	assert_true(rmig_rdma_range_in_block(MiB, 0, MiB));
	assert_true(rmig_rdma_range_in_block(MiB, MiB, 0));
	assert_false(rmig_rdma_range_in_block(MiB, MiB, 1));
	assert_false(rmig_rdma_range_in_block(MiB, 4096, MiB));
	assert_false(rmig_rdma_range_in_block(MiB, UINT64_MAX, 2));
	assert_false(rmig_rdma_range_in_block(MiB, 4096, UINT64_MAX - 100));
}

static void test_piece_and_span(void **state)
{
	(void)state;
	const uint64_t len = 3 * MiB + 8 * KiB;
	uint64_t off = MiB - 8 * KiB, left = 2 * MiB + 12 * KiB, n, pieces = 0, total = 0;

	assert_int_equal(rmig_rdma_chunk_piece(len, 0, 0), 0);
	assert_int_equal(rmig_rdma_chunk_piece(len, len, 4096), 0);
	assert_int_equal(rmig_rdma_chunk_piece(len, 4096, 4096), 4096);
	assert_int_equal(rmig_rdma_chunk_piece(len, MiB - 4096, 8192), 4096);
	/* Clipped to the block's end too. */
	assert_int_equal(rmig_rdma_chunk_piece(len, 3 * MiB, MiB), 8 * KiB);

	/* Split a run across chunks: pieces end exactly at chunk ends. */
	while (left) {
		n = rmig_rdma_chunk_piece(len, off, left);
		assert_true(n > 0);
		assert_int_equal(rmig_rdma_chunk_index(off), rmig_rdma_chunk_index(off + n - 1));
		total += n;
		off += n;
		left -= n;
		pieces++;
	}
	assert_int_equal(pieces, 4); /* 8 KiB, 1 MiB, 1 MiB, 4 KiB */
	assert_int_equal(total, 2 * MiB + 12 * KiB);

	assert_int_equal(rmig_rdma_chunk_span(len, 0, 4096), 1);
	assert_int_equal(rmig_rdma_chunk_span(len, 0, MiB), 1);
	assert_int_equal(rmig_rdma_chunk_span(len, 0, MiB + 1), 2);
	assert_int_equal(rmig_rdma_chunk_span(len, MiB - 1, 2), 2);
	assert_int_equal(rmig_rdma_chunk_span(len, 0, len), 4);
	assert_int_equal(rmig_rdma_chunk_span(len, 0, len + 1), 0);
	assert_int_equal(rmig_rdma_chunk_span(len, 5, 0), 0);
}

static void test_merge_contiguous(void **state)
{
	(void)state;
	const uint64_t len = 4 * MiB;
	struct rmig_rdma_pending p;

	rmig_rdma_pending_clear(&p);
	assert_true(rmig_rdma_pending_empty(&p));
	/* Nothing merges into an empty pending write. */
	assert_false(rmig_rdma_pending_merge(&p, len, 0, 0, 4096));

	assert_int_equal(rmig_rdma_pending_start(&p, len, 2, MiB + 4096, 4096), 4096);
	assert_int_equal(p.chunk, 1);
	assert_true(rmig_rdma_pending_merge(&p, len, 2, MiB + 8192, 8192));
	assert_int_equal(p.len, 3 * 4096);
	/* Gap, overlap, going backwards, other block: all refused, p unchanged. */
	assert_false(rmig_rdma_pending_merge(&p, len, 2, MiB + 5 * 4096, 4096));
	assert_false(rmig_rdma_pending_merge(&p, len, 2, MiB + 2 * 4096, 4096));
	assert_false(rmig_rdma_pending_merge(&p, len, 2, MiB, 4096));
	assert_false(rmig_rdma_pending_merge(&p, len, 3, MiB + 4 * 4096, 4096));
	assert_false(rmig_rdma_pending_merge(&p, len, 2, MiB + 4 * 4096, 0));
	assert_int_equal(p.offset, MiB + 4096);
	assert_int_equal(p.len, 3 * 4096);
}

static void test_merge_never_crosses_chunk_end(void **state)
{
	(void)state;
	const uint64_t len = 4 * MiB;
	struct rmig_rdma_pending p;

	assert_int_equal(rmig_rdma_pending_start(&p, len, 0, MiB - 8192, 4096), 4096);
	/* Fills the chunk exactly: fine. */
	assert_true(rmig_rdma_pending_merge(&p, len, 0, MiB - 4096, 4096));
	assert_int_equal(p.offset + p.len, MiB);
	/* The next page starts the next chunk: a new WRITE. */
	assert_false(rmig_rdma_pending_merge(&p, len, 0, MiB, 4096));

	/* A run straddling the end is refused whole, not partly absorbed. */
	assert_int_equal(rmig_rdma_pending_start(&p, len, 0, MiB - 8192, 4096), 4096);
	assert_false(rmig_rdma_pending_merge(&p, len, 0, MiB - 4096, 8192));
	assert_int_equal(p.len, 4096);

	/* start() itself cuts a long run at the chunk end. */
	assert_int_equal(rmig_rdma_pending_start(&p, len, 0, MiB - 4096, 3 * MiB), 4096);
	assert_int_equal(p.len, 4096);
}

static void test_merge_odd_sized_last_chunk(void **state)
{
	(void)state;
	const uint64_t len = MiB + 12 * KiB;
	struct rmig_rdma_pending p;

	assert_int_equal(rmig_rdma_pending_start(&p, len, 1, MiB, 4096), 4096);
	assert_true(rmig_rdma_pending_merge(&p, len, 1, MiB + 4096, 8192));
	/* Past the block's end: refused even though the 1 MiB chunk would allow it. */
	assert_false(rmig_rdma_pending_merge(&p, len, 1, MiB + 12 * KiB, 4096));
	assert_int_equal(p.len, 12 * KiB);
	/* Starting outside the block gives nothing. */
	assert_int_equal(rmig_rdma_pending_start(&p, len, 1, len, 4096), 0);
	assert_true(rmig_rdma_pending_empty(&p));
}

static void test_merge_loop_covers_run(void **state)
{
	(void)state;
	/* Feeding a 5 MiB run page by page gives one pending write per chunk. */
	const uint64_t len = 5 * MiB + 4096;
	struct rmig_rdma_pending p;
	uint64_t off, writes = 0, bytes = 0;

	rmig_rdma_pending_clear(&p);
	for (off = 0; off < len; off += 4096) {
		if (rmig_rdma_pending_merge(&p, len, 0, off, 4096))
			continue;
		if (!rmig_rdma_pending_empty(&p)) {
			assert_true(p.len <= RMIG_RDMA_CHUNK_SIZE);
			assert_int_equal(rmig_rdma_chunk_span(len, p.offset, p.len), 1);
			writes++;
			bytes += p.len;
		}
		assert_int_equal(rmig_rdma_pending_start(&p, len, 0, off, 4096), 4096);
	}
	writes++;
	bytes += p.len;
	assert_int_equal(writes, 6);
	assert_int_equal(bytes, len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    RDMA_TEST(test_chunk_count),
	    RDMA_TEST(test_chunk_index_start_end),
	    RDMA_TEST(test_range_in_block),
	    RDMA_TEST(test_piece_and_span),
	    RDMA_TEST(test_merge_contiguous),
	    RDMA_TEST(test_merge_never_crosses_chunk_end),
	    RDMA_TEST(test_merge_odd_sized_last_chunk),
	    RDMA_TEST(test_merge_loop_covers_run),
	};

	return cmocka_run_group_tests_name("rdma_chunk", tests, NULL, NULL);
}
