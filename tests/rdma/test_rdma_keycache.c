/* SPDX-License-Identifier: MIT */
/* The source's registration key cache: states, lookups, regions, teardown. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rdma/keycache.h"
#include "tests/support/rdma_test_log.h"

#define MiB (1024ull * 1024)

/* Fake MR handles: the cache must store and return them, never look inside. */
static int mr_a, mr_b, mr_c, mr_d;

static struct rmig_rdma_keycache *make(bool pin_all)
{
	const uint64_t lens[] = {3 * MiB + 4096, MiB};
	struct rmig_rdma_keycache *kc = NULL;

	assert_int_equal(rmig_rdma_keycache_create(2, lens, pin_all, &kc), 0);
	assert_non_null(kc);
	return kc;
}

static void test_create_bad_args(void **state)
{
	(void)state;
	const uint64_t lens[] = {MiB, 0};
	struct rmig_rdma_keycache *kc = (void *)&mr_a;

	assert_int_equal(rmig_rdma_keycache_create(2, lens, false, &kc), -EINVAL);
	assert_ptr_equal(kc, &mr_a);
	assert_error_mentions("length 0");
	assert_int_equal(rmig_rdma_keycache_create(1, NULL, false, &kc), -EINVAL);
	assert_int_equal(rmig_rdma_keycache_create(0, NULL, false, &kc), 0);
	assert_int_equal(rmig_rdma_keycache_nblocks(kc), 0);
	rmig_rdma_keycache_destroy(kc);
	rmig_rdma_keycache_destroy(NULL);
}

static void test_geometry(void **state)
{
	(void)state;
	struct rmig_rdma_keycache *kc = make(false);

	assert_int_equal(rmig_rdma_keycache_nblocks(kc), 2);
	assert_int_equal(rmig_rdma_keycache_nchunks(kc, 0), 4);
	assert_int_equal(rmig_rdma_keycache_nchunks(kc, 1), 1);
	assert_int_equal(rmig_rdma_keycache_nchunks(kc, 2), 0);
	assert_false(rmig_rdma_keycache_pin_all(kc));
	rmig_rdma_keycache_destroy(kc);
}

static void test_dynamic_lifecycle(void **state)
{
	(void)state;
	struct rmig_rdma_keycache *kc = make(false);
	struct rmig_rdma_remote r = {.rkey = 1, .addr = 2};

	assert_int_equal(rmig_rdma_keycache_state(kc, 0, 3), RMIG_RDMA_CHUNK_UNREGISTERED);
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 0, 3 * MiB, 4096, &r), -ENOENT);
	assert_int_equal(r.rkey, 1);

	assert_int_equal(rmig_rdma_keycache_mark_in_flight(kc, 0, 3), 0);
	assert_int_equal(rmig_rdma_keycache_state(kc, 0, 3), RMIG_RDMA_CHUNK_IN_FLIGHT);
	/* A second write to the chunk must not ask again. */
	assert_int_equal(rmig_rdma_keycache_mark_in_flight(kc, 0, 3), -EALREADY);
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 0, 3 * MiB, 4096, &r), -ENOENT);

	assert_int_equal(rmig_rdma_keycache_set_registered(kc, 0, 3, 0xabcd, 0x7f0000000000ull), 0);
	assert_int_equal(rmig_rdma_keycache_state(kc, 0, 3), RMIG_RDMA_CHUNK_REGISTERED);
	assert_int_equal(rmig_rdma_keycache_mark_in_flight(kc, 0, 3), -EALREADY);
	assert_int_equal(rmig_rdma_keycache_registered_count(kc), 1);

	/* host_addr is the block start: the WRITE goes to start + offset. */
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 0, 3 * MiB + 512, 1024, &r), 0);
	assert_int_equal(r.rkey, 0xabcd);
	assert_int_equal(r.addr, 0x7f0000000000ull + 3 * MiB + 512);

	/* Other chunks are still unknown. */
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 0, 2 * MiB, 4096, &r), -ENOENT);
	rmig_rdma_keycache_destroy(kc);
}

static void test_unsolicited_result(void **state)
{
	(void)state;
	struct rmig_rdma_keycache *kc = make(false);

	assert_int_equal(rmig_rdma_keycache_set_registered(kc, 0, 1, 5, 0x1000), -EPROTO);
	assert_error_mentions("did not ask");
	assert_int_equal(rmig_rdma_keycache_set_registered(kc, 7, 0, 5, 0x1000), -EPROTO);
	assert_int_equal(rmig_rdma_keycache_set_registered(kc, 0, 4, 5, 0x1000), -EPROTO);
	assert_int_equal(rmig_rdma_keycache_state(kc, 0, 1), RMIG_RDMA_CHUNK_UNREGISTERED);
	rmig_rdma_keycache_destroy(kc);
}

static void test_resolve_bounds(void **state)
{
	(void)state;
	struct rmig_rdma_keycache *kc = make(false);
	struct rmig_rdma_remote r;

	assert_int_equal(rmig_rdma_keycache_mark_in_flight(kc, 0, 0), 0);
	assert_int_equal(rmig_rdma_keycache_set_registered(kc, 0, 0, 9, 0x10000), 0);
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 0, MiB - 4096, 8192, &r), -EINVAL);
	assert_error_mentions("crosses");
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 0, 0, 0, &r), -EINVAL);
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 2, 0, 4096, &r), -EINVAL);
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 0, UINT64_MAX - 10, 4096, &r), -EINVAL);
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 0, 3 * MiB, 8192, &r), -EINVAL);
	assert_int_equal(rmig_rdma_keycache_mark_in_flight(kc, 0, 4), -EINVAL);
	assert_int_equal(rmig_rdma_keycache_mark_in_flight(kc, 2, 0), -EINVAL);
	assert_int_equal(rmig_rdma_keycache_state(kc, 9, 9), RMIG_RDMA_CHUNK_UNREGISTERED);
	rmig_rdma_keycache_destroy(kc);
}

static void test_pin_all_resolve(void **state)
{
	(void)state;
	struct rmig_rdma_keycache *kc = make(true);
	struct rmig_rdma_remote r;

	assert_true(rmig_rdma_keycache_pin_all(kc));
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 1, 0, 4096, &r), -ENOENT);
	assert_int_equal(rmig_rdma_keycache_set_remote_block(kc, 1, 0x5000000, 0x200000000ull, 77),
			 0);
	/* Pin-all WRITEs may span chunks: one key covers the whole block. */
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 1, 4096, MiB - 4096, &r), 0);
	assert_int_equal(r.rkey, 77);
	assert_int_equal(r.addr, 0x5000000 + 4096);
	assert_int_equal(rmig_rdma_keycache_remote_space_addr(kc, 1, 8192), 0x200000000ull + 8192);
	assert_int_equal(rmig_rdma_keycache_remote_space_addr(kc, 5, 0), UINT64_MAX);
	assert_int_equal(rmig_rdma_keycache_set_remote_block(kc, 2, 0, 0, 0), -EINVAL);
	rmig_rdma_keycache_destroy(kc);
}

/* Block 0 is 3 MiB + 4 KiB: destination segments [0, 2M) [2M, 3M) [3M, 3M + 4K). */
static void add_three_segments(struct rmig_rdma_keycache *kc)
{
	assert_int_equal(rmig_rdma_keycache_set_remote_block(kc, 0, 0x7f0000000000ull, 0, 10), 0);
	assert_int_equal(rmig_rdma_keycache_add_remote_segment(kc, 0, 0, 2 * MiB, 10), 0);
	assert_int_equal(rmig_rdma_keycache_add_remote_segment(kc, 0, 2 * MiB, MiB, 11), 0);
	assert_int_equal(rmig_rdma_keycache_add_remote_segment(kc, 0, 3 * MiB, 4096, 12), 0);
	assert_int_equal(rmig_rdma_keycache_remote_segments(kc, 0), 3);
}

static void test_pin_all_segments_resolve(void **state)
{
	(void)state;
	struct rmig_rdma_keycache *kc = make(true);
	struct rmig_rdma_remote r;

	add_three_segments(kc);
	/* Each write gets the key of the segment holding it; the address is block start + offset.
	 */
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 0, 0, MiB, &r), 0);
	assert_int_equal(r.rkey, 10);
	assert_int_equal(r.addr, 0x7f0000000000ull);
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 0, 2 * MiB - 4096, 4096, &r), 0);
	assert_int_equal(r.rkey, 10);
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 0, 2 * MiB, 4096, &r), 0);
	assert_int_equal(r.rkey, 11);
	assert_int_equal(r.addr, 0x7f0000000000ull + 2 * MiB);
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 0, 3 * MiB - 8192, 8192, &r), 0);
	assert_int_equal(r.rkey, 11);
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 0, 3 * MiB, 4096, &r), 0);
	assert_int_equal(r.rkey, 12);
	assert_int_equal(r.addr, 0x7f0000000000ull + 3 * MiB);

	/* A write over a segment end is refused, not split or sent with one key. */
	r.rkey = 99;
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 0, 2 * MiB - 4096, 8192, &r), -EPROTO);
	assert_error_mentions("crosses the end");
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 0, 0, 3 * MiB + 4096, &r), -EPROTO);
	assert_int_equal(r.rkey, 99);
	/* Past the block: outside, as before. */
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 0, 3 * MiB, 8192, &r), -EINVAL);

	/* Block 1 has no segments: its block rkey serves, as in plain v1 pin-all. */
	assert_int_equal(rmig_rdma_keycache_set_remote_block(kc, 1, 0x5000000, 0, 77), 0);
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 1, 4096, 4096, &r), 0);
	assert_int_equal(r.rkey, 77);
	rmig_rdma_keycache_destroy(kc);
}

static void test_pin_all_segments_gap(void **state)
{
	(void)state;
	struct rmig_rdma_keycache *kc = make(true);
	struct rmig_rdma_remote r;

	/* Nothing stored for [MiB, 2 MiB) and from 3 MiB on: no key for writes there. */
	assert_int_equal(rmig_rdma_keycache_set_remote_block(kc, 0, 0x1000000, 0, 10), 0);
	assert_int_equal(rmig_rdma_keycache_add_remote_segment(kc, 0, 0, MiB, 10), 0);
	assert_int_equal(rmig_rdma_keycache_add_remote_segment(kc, 0, 2 * MiB, MiB, 11), 0);
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 0, MiB, 4096, &r), -ENOENT);
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 0, 3 * MiB, 4096, &r), -ENOENT);
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 0, 2 * MiB + 4096, 4096, &r), 0);
	assert_int_equal(r.rkey, 11);
	rmig_rdma_keycache_destroy(kc);
}

static void test_remote_segments_bad(void **state)
{
	(void)state;
	struct rmig_rdma_keycache *kc = make(true), *dyn = make(false);
	const uint64_t lens[] = {(RMIG_RDMA_KEYCACHE_MAX_REGIONS + 1) * MiB};
	struct rmig_rdma_keycache *big;
	unsigned i;

	assert_int_equal(rmig_rdma_keycache_add_remote_segment(kc, 0, 0, 2 * MiB, 1), 0);
	/* Overlapping, or out of order. */
	assert_int_equal(rmig_rdma_keycache_add_remote_segment(kc, 0, MiB, 2 * MiB, 2), -EINVAL);
	assert_error_mentions("overlaps");
	assert_int_equal(rmig_rdma_keycache_add_remote_segment(kc, 0, 0, MiB, 2), -EINVAL);
	/* Empty, past the end, wrapping, bad block. */
	assert_int_equal(rmig_rdma_keycache_add_remote_segment(kc, 0, 2 * MiB, 0, 2), -EINVAL);
	assert_int_equal(rmig_rdma_keycache_add_remote_segment(kc, 0, 2 * MiB, 2 * MiB, 2),
			 -EINVAL);
	assert_int_equal(rmig_rdma_keycache_add_remote_segment(kc, 0, 2 * MiB, UINT64_MAX - MiB, 2),
			 -EINVAL);
	assert_int_equal(rmig_rdma_keycache_add_remote_segment(kc, 2, 0, MiB, 2), -EINVAL);
	assert_int_equal(rmig_rdma_keycache_remote_segments(kc, 0), 1);
	assert_int_equal(rmig_rdma_keycache_remote_segments(kc, 2), 0);
	/* Dynamic mode has no segments. */
	assert_int_equal(rmig_rdma_keycache_add_remote_segment(dyn, 0, 0, MiB, 1), -EINVAL);
	assert_error_mentions("not in pin-all mode");

	/* At most RMIG_RDMA_KEYCACHE_MAX_REGIONS per block. */
	assert_int_equal(rmig_rdma_keycache_create(1, lens, true, &big), 0);
	for (i = 0; i < RMIG_RDMA_KEYCACHE_MAX_REGIONS; i++)
		assert_int_equal(rmig_rdma_keycache_add_remote_segment(big, 0, i * MiB, MiB, 1 + i),
				 0);
	assert_int_equal(rmig_rdma_keycache_add_remote_segment(big, 0, i * MiB, MiB, 1 + i),
			 -E2BIG);
	rmig_rdma_keycache_destroy(big);
	rmig_rdma_keycache_destroy(dyn);
	rmig_rdma_keycache_destroy(kc);
}

static void test_invalidate_returns_mr(void **state)
{
	(void)state;
	struct rmig_rdma_keycache *kc = make(false);
	struct rmig_rdma_remote r;
	void *mr = &mr_d;

	assert_int_equal(rmig_rdma_keycache_set_local_mr(kc, 0, 2, &mr_a), 0);
	assert_int_equal(rmig_rdma_keycache_set_local_mr(kc, 0, 2, &mr_b), -EEXIST);
	assert_ptr_equal(rmig_rdma_keycache_local_mr(kc, 0, 2), &mr_a);
	assert_int_equal(rmig_rdma_keycache_mark_in_flight(kc, 0, 2), 0);
	assert_int_equal(rmig_rdma_keycache_set_registered(kc, 0, 2, 3, 0x1000), 0);

	assert_int_equal(rmig_rdma_keycache_invalidate(kc, 0, 2, &mr), 0);
	assert_ptr_equal(mr, &mr_a);
	assert_null(rmig_rdma_keycache_local_mr(kc, 0, 2));
	assert_int_equal(rmig_rdma_keycache_state(kc, 0, 2), RMIG_RDMA_CHUNK_UNREGISTERED);
	assert_int_equal(rmig_rdma_keycache_resolve(kc, 0, 2 * MiB, 4096, &r), -ENOENT);
	/* Re-registration after invalidation works. */
	assert_int_equal(rmig_rdma_keycache_mark_in_flight(kc, 0, 2), 0);

	assert_int_equal(rmig_rdma_keycache_invalidate(kc, 0, 1, &mr), 0);
	assert_null(mr);
	assert_int_equal(rmig_rdma_keycache_invalidate(kc, 0, 4, &mr), -EINVAL);
	rmig_rdma_keycache_destroy(kc);
}

static void test_regions(void **state)
{
	(void)state;
	struct rmig_rdma_keycache *kc = make(true);
	struct rmig_rdma_region a = {.start = 0, .len = 2 * MiB, .local_mr = &mr_a};
	struct rmig_rdma_region b = {.start = 2 * MiB, .len = MiB + 4096, .local_mr = &mr_b};
	struct rmig_rdma_region bad = {.start = MiB, .len = 2 * MiB, .local_mr = &mr_c};
	const struct rmig_rdma_region *f;

	/* Added out of order, kept sorted, no overlap allowed. */
	assert_int_equal(rmig_rdma_keycache_add_region(kc, 0, &b), 0);
	assert_int_equal(rmig_rdma_keycache_add_region(kc, 0, &a), 0);
	assert_int_equal(rmig_rdma_keycache_add_region(kc, 0, &bad), -EINVAL);
	assert_error_mentions("overlaps");
	bad.start = 3 * MiB;
	bad.len = 8192; /* past the block end */
	assert_int_equal(rmig_rdma_keycache_add_region(kc, 0, &bad), -EINVAL);
	bad.len = 0;
	assert_int_equal(rmig_rdma_keycache_add_region(kc, 0, &bad), -EINVAL);
	bad.len = 4096;
	bad.local_mr = NULL;
	assert_int_equal(rmig_rdma_keycache_add_region(kc, 0, &bad), -EINVAL);
	assert_int_equal(rmig_rdma_keycache_add_region(kc, 5, &a), -EINVAL);

	f = rmig_rdma_keycache_find_region(kc, 0, MiB, MiB);
	assert_non_null(f);
	assert_ptr_equal(f->local_mr, &mr_a);
	assert_ptr_equal(rmig_rdma_keycache_local_for(kc, 0, 3 * MiB, 4096), &mr_b);
	/* A range spanning two MRs cannot be one WRITE's source. */
	assert_null(rmig_rdma_keycache_find_region(kc, 0, 2 * MiB - 4096, 8192));
	assert_null(rmig_rdma_keycache_find_region(kc, 0, UINT64_MAX, 2));
	assert_null(rmig_rdma_keycache_find_region(kc, 1, 0, 4096));
	/* A per-chunk MR wins over a region. */
	assert_int_equal(rmig_rdma_keycache_set_local_mr(kc, 0, 0, &mr_c), 0);
	assert_ptr_equal(rmig_rdma_keycache_local_for(kc, 0, 4096, 4096), &mr_c);
	rmig_rdma_keycache_destroy(kc);
}

static void test_region_limit(void **state)
{
	(void)state;
	const uint64_t lens[] = {RMIG_RDMA_KEYCACHE_MAX_REGIONS * 4096ull + 4096};
	struct rmig_rdma_keycache *kc;
	struct rmig_rdma_region r = {.len = 4096, .local_mr = &mr_a};
	unsigned i;

	assert_int_equal(rmig_rdma_keycache_create(1, lens, true, &kc), 0);
	for (i = 0; i < RMIG_RDMA_KEYCACHE_MAX_REGIONS; i++) {
		r.start = (uint64_t)i * 4096;
		assert_int_equal(rmig_rdma_keycache_add_region(kc, 0, &r), 0);
	}
	r.start = (uint64_t)i * 4096;
	assert_int_equal(rmig_rdma_keycache_add_region(kc, 0, &r), -E2BIG);
	assert_error_mentions("max");
	rmig_rdma_keycache_destroy(kc);
}

struct released {
	unsigned n;
	void *mrs[8];
	uint64_t chunks[8];
};

static void release_cb(void *opaque, uint32_t block, uint64_t chunk, void *mr)
{
	struct released *r = opaque;

	(void)block;
	assert_true(r->n < 8);
	r->mrs[r->n] = mr;
	r->chunks[r->n] = chunk;
	r->n++;
}

static void test_release_all(void **state)
{
	(void)state;
	struct rmig_rdma_keycache *kc = make(false);
	struct rmig_rdma_region reg = {.start = 0, .len = MiB, .local_mr = &mr_d};
	struct released rel = {0};

	assert_int_equal(rmig_rdma_keycache_set_local_mr(kc, 0, 1, &mr_a), 0);
	assert_int_equal(rmig_rdma_keycache_set_local_mr(kc, 0, 3, &mr_b), 0);
	assert_int_equal(rmig_rdma_keycache_set_local_mr(kc, 1, 0, &mr_c), 0);
	assert_int_equal(rmig_rdma_keycache_add_region(kc, 1, &reg), 0);
	assert_int_equal(rmig_rdma_keycache_mark_in_flight(kc, 0, 1), 0);
	assert_int_equal(rmig_rdma_keycache_set_registered(kc, 0, 1, 1, 0), 0);

	assert_int_equal(rmig_rdma_keycache_release_all(kc, release_cb, &rel), 4);
	assert_int_equal(rel.n, 4);
	assert_ptr_equal(rel.mrs[0], &mr_a);
	assert_int_equal(rel.chunks[0], 1);
	assert_ptr_equal(rel.mrs[1], &mr_b);
	assert_ptr_equal(rel.mrs[2], &mr_c);
	assert_ptr_equal(rel.mrs[3], &mr_d);
	assert_int_equal(rel.chunks[3], UINT64_MAX);
	assert_int_equal(rmig_rdma_keycache_registered_count(kc), 0);
	/* Nothing is handed back twice. */
	rel.n = 0;
	assert_int_equal(rmig_rdma_keycache_release_all(kc, release_cb, &rel), 0);
	assert_int_equal(rel.n, 0);
	rmig_rdma_keycache_destroy(kc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    RDMA_TEST(test_create_bad_args),
	    RDMA_TEST(test_geometry),
	    RDMA_TEST(test_dynamic_lifecycle),
	    RDMA_TEST(test_unsolicited_result),
	    RDMA_TEST(test_resolve_bounds),
	    RDMA_TEST(test_pin_all_resolve),
	    RDMA_TEST(test_pin_all_segments_resolve),
	    RDMA_TEST(test_pin_all_segments_gap),
	    RDMA_TEST(test_remote_segments_bad),
	    RDMA_TEST(test_invalidate_returns_mr),
	    RDMA_TEST(test_regions),
	    RDMA_TEST(test_region_limit),
	    RDMA_TEST(test_release_all),
	};

	return cmocka_run_group_tests_name("rdma_keycache", tests, NULL, NULL);
}
