/* SPDX-License-Identifier: MIT */
/*
 * The destination's registration table under a hostile source (fake glue,
 * no device): a repeated or contained request reuses its region, an
 * overlapping one is refused, and what is registered never exceeds the
 * RAM nor drifts from the regions actually held.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rdma/chunk.h"
#include "rdma/glue.h"
#include "rdma/reg.h"
#include "tests/support/fake_glue.h"
#include "tests/support/rdma_test_log.h"

#define MIB (1ULL << 20)
/* Eight and a half chunks: the last one short, as RAM block ends can be. */
#define BLOCK_LEN (8 * MIB + MIB / 2)
#define NCHUNKS 9

struct fixture {
	struct rmig_rdma_ramblk blk;
	struct rmig_rdma_ramview view;
	struct ibv_pd *pd;
	struct rmig_rdma_dest_reg d;
	uint8_t *ram;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int err = 0;

	rmig_fake_install();
	rdma_test_setup(state);
	f->ram = aligned_alloc(4096, BLOCK_LEN);
	assert_non_null(f->ram);
	f->blk = (struct rmig_rdma_ramblk){ .host = f->ram, .length = BLOCK_LEN,
					    .npages = BLOCK_LEN / 4096, .page_size = 4096,
					    .page_shift = 12, .name = "pc.ram" };
	f->view = (struct rmig_rdma_ramview){ .nblocks = 1, .blocks = &f->blk };
	f->pd = rmig_rdma_glue_alloc_pd(&rmig_fake.verbs, &err);
	assert_non_null(f->pd);
	assert_int_equal(rmig_rdma_dreg_init(&f->d, &f->view, f->pd), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rmig_rdma_dreg_fini(&f->d);
	rmig_rdma_glue_dealloc_pd(f->pd);
	assert_int_equal(rmig_fake.live, 0);
	free(f->ram);
	free(f);
	rmig_fake_remove();
	return rdma_test_teardown(state);
}

static unsigned mrs_held(void)
{
	return rmig_fake_journal_count(0, "+mr") - rmig_fake_journal_count(0, "-mr");
}

static void test_repeat_and_contained_reuse(void **state)
{
	struct fixture *f = *state;
	uint32_t k1, k2, k3;

	assert_int_equal(rmig_rdma_dreg_chunks(&f->d, 0, 2, 3, &k1), 0);
	assert_int_equal(f->d.registered_bytes, 3 * MIB);
	assert_int_equal(rmig_rdma_dreg_chunks(&f->d, 0, 2, 3, &k2), 0);
	assert_int_equal(k2, k1);
	/* a run inside it, not at its start */
	assert_int_equal(rmig_rdma_dreg_chunks(&f->d, 0, 3, 2, &k3), 0);
	assert_int_equal(k3, k1);
	assert_int_equal(f->d.registered_bytes, 3 * MIB);
	assert_int_equal(mrs_held(), 1);
}

static void test_overlap_refused(void **state)
{
	struct fixture *f = *state;
	uint32_t k;

	assert_int_equal(rmig_rdma_dreg_chunks(&f->d, 0, 2, 3, &k), 0);
	/* grows it at the same first chunk */
	assert_int_equal(rmig_rdma_dreg_chunks(&f->d, 0, 2, 4, &k), -EPROTO);
	assert_error_mentions("chunks 2-5 of RAM block 'pc.ram', but chunk 2 is already in a region");
	/* starts before it and runs into it */
	assert_int_equal(rmig_rdma_dreg_chunks(&f->d, 0, 0, 3, &k), -EPROTO);
	/* starts inside it and runs past its end */
	assert_int_equal(rmig_rdma_dreg_chunks(&f->d, 0, 4, 2, &k), -EPROTO);
	assert_int_equal(f->d.registered_bytes, 3 * MIB);
	assert_int_equal(mrs_held(), 1);
	/* the chunks around it are still free to take */
	assert_int_equal(rmig_rdma_dreg_chunks(&f->d, 0, 0, 2, &k), 0);
	assert_int_equal(rmig_rdma_dreg_chunks(&f->d, 0, 5, 4, &k), 0);
	assert_int_equal(f->d.registered_bytes, BLOCK_LEN);
}

/* The attack of issue 12: every chunk asks for itself to the end of the block. */
static void test_staircase_never_exceeds_ram(void **state)
{
	struct fixture *f = *state;
	uint64_t first;
	uint32_t k;
	int ok = 0;

	for (first = 0; first < NCHUNKS; first++) {
		if (rmig_rdma_dreg_chunks(&f->d, 0, first, NCHUNKS - first, &k) == 0)
			ok++;
		assert_true(f->d.registered_bytes <= BLOCK_LEN);
	}
	/* the first takes the block; all the others are inside it and reuse it */
	assert_int_equal(ok, NCHUNKS);
	assert_int_equal(mrs_held(), 1);
	assert_int_equal(f->d.registered_bytes, BLOCK_LEN);
}

static void test_unregister_accounting(void **state)
{
	struct fixture *f = *state;
	uint32_t k;

	assert_int_equal(rmig_rdma_dreg_chunks(&f->d, 0, 7, 2, &k), 0);
	assert_int_equal(f->d.registered_bytes, MIB + MIB / 2);
	/* not the first chunk of a region: nothing to drop */
	assert_int_equal(rmig_rdma_dreg_unregister(&f->d, 0, 8), 0);
	assert_int_equal(f->d.registered_bytes, MIB + MIB / 2);
	assert_int_equal(rmig_rdma_dreg_unregister(&f->d, 0, 7), 0);
	assert_int_equal(f->d.registered_bytes, 0);
	assert_int_equal(mrs_held(), 0);
	/* freed chunks can be taken again, in another shape */
	assert_int_equal(rmig_rdma_dreg_chunks(&f->d, 0, 6, 3, &k), 0);
	assert_int_equal(f->d.registered_bytes, 2 * MIB + MIB / 2);
	assert_int_equal(rmig_rdma_dreg_unregister(&f->d, 0, NCHUNKS), -EPROTO);
	assert_int_equal(rmig_rdma_dreg_unregister(&f->d, 1, 0), -EPROTO);
}

/*
 * [PIN_STREAM] Regions of 8 MiB once ramped up from one chunk, in order,
 * each once, never past the RAM.
 */
static void test_stream_regions(void **state)
{
	static const uint64_t want[][2] = {
	    {0, MIB}, {MIB, 2 * MIB}, {3 * MIB, 4 * MIB}, {7 * MIB, MIB + MIB / 2}};
	struct fixture *f = *state;
	struct rmig_rdma_segment s;

	/* Before the plan there is nothing to pin. */
	assert_int_equal(rmig_rdma_dreg_pin_next(&f->d, NULL, &s), -ENOENT);
	assert_int_equal(rmig_rdma_dreg_plan(&f->d, UINT64_MAX, true), 0);
	assert_int_equal(f->d.blocks[0].seg_len, 8 * MIB);
	assert_int_equal(mrs_held(), 0); /* planned, nothing pinned */
	for (unsigned i = 0; i < 4; i++) {
		assert_false(rmig_rdma_dreg_all_pinned(&f->d));
		assert_int_equal(rmig_rdma_dreg_pin_next(&f->d, NULL, &s), 0);
		assert_true(s.block_idx == 0 && s.rkey);
		assert_int_equal(s.start, want[i][0]);
		assert_int_equal(s.length, want[i][1]);
	}
	assert_true(rmig_rdma_dreg_all_pinned(&f->d));
	assert_int_equal(f->d.registered_bytes, BLOCK_LEN);
	assert_int_equal(f->d.peak_bytes, BLOCK_LEN);
	/* One more is past the RAM: nothing registered for it. */
	assert_int_equal(rmig_rdma_dreg_pin_next(&f->d, NULL, &s), -ENOSPC);
	assert_int_equal(mrs_held(), 4);
	/* A second plan (a repeated RAM_BLOCKS_REQUEST) changes nothing. */
	assert_int_equal(rmig_rdma_dreg_plan(&f->d, 2 * MIB, true), 0);
	assert_int_equal(f->d.blocks[0].seg_len, 8 * MIB);
	assert_int_equal(rmig_rdma_dreg_pin_rkey(&f->d, 0, 8 * MIB + 4096, &s.rkey), 0);
	assert_int_equal(s.rkey, f->d.blocks[0].seg_mr[3]->rkey);
	assert_int_equal(rmig_rdma_dreg_pin_rkey(&f->d, 0, 3 * MIB - 1, &s.rkey), 0);
	assert_int_equal(s.rkey, f->d.blocks[0].seg_mr[1]->rkey);
}

/* Regions never larger than max_mr_size, and never more than 64 of them. */
static void test_stream_plan_bounds(void **state)
{
	struct fixture *f = *state;
	struct rmig_rdma_segment s;
	unsigned n = 0;

	static const uint64_t starts[] = {0, MIB, 3 * MIB, 6 * MIB};

	assert_int_equal(rmig_rdma_dreg_plan(&f->d, 3 * MIB + 5, true), 0);
	assert_int_equal(f->d.blocks[0].seg_len, 3 * MIB);
	while (rmig_rdma_dreg_pin_next(&f->d, NULL, &s) == 0) {
		assert_true(n < 4);
		assert_int_equal(s.start, starts[n]);
		assert_true(s.length <= 3 * MIB);
		n++;
	}
	assert_int_equal(n, 4);
	assert_int_equal(f->d.registered_bytes, BLOCK_LEN);
	/* 1 MiB at most per region on a 65 MiB block: 65 regions, refused. */
	f->blk.length = 65 * MIB;
	f->d.blocks[0].seg_len = 0;
	assert_int_equal(rmig_rdma_dreg_plan(&f->d, MIB, true), -E2BIG);
	f->blk.length = BLOCK_LEN;
}

static void test_outside_refused(void **state)
{
	struct fixture *f = *state;
	uint32_t k;

	assert_int_equal(rmig_rdma_dreg_chunks(&f->d, 1, 0, 1, &k), -EPROTO);
	assert_int_equal(rmig_rdma_dreg_chunks(&f->d, 0, NCHUNKS, 1, &k), -EPROTO);
	assert_int_equal(rmig_rdma_dreg_chunks(&f->d, 0, 8, 2, &k), -EPROTO);
	assert_int_equal(rmig_rdma_dreg_chunks(&f->d, 0, 0, 0, &k), -EPROTO);
	assert_int_equal(rmig_rdma_dreg_chunks(&f->d, 0, 1, UINT64_MAX, &k), -EPROTO);
	assert_int_equal(f->d.registered_bytes, 0);
	assert_int_equal(mrs_held(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_repeat_and_contained_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlap_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_staircase_never_exceeds_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unregister_accounting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outside_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_regions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_plan_bounds, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
