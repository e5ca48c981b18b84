/* SPDX-License-Identifier: MIT */
/*
 * The source's pinned-run account (rdma/pinlru.c): reservations and held
 * runs count against the bound, the least recently used run is the one
 * offered for eviction, a touch anywhere in a run renews all of it, and
 * dropping gives the bytes back.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rdma/chunk.h"
#include "rdma/pinlru.h"

#define MIB (1ULL << 20)

static void assert_oldest(const struct rmig_rdma_pinlru *l, uint32_t block, uint64_t first,
			  uint64_t count)
{
	uint32_t b;
	uint64_t f, n;

	assert_true(rmig_rdma_pinlru_oldest(l, &b, &f, &n));
	assert_int_equal(b, block);
	assert_int_equal(f, first);
	assert_int_equal(n, count);
}

static void test_account_and_order(void **state)
{
	/* 4 chunks, then 2.5 chunks: the last run of block 1 is short */
	const uint64_t lens[] = { 4 * MIB, 2 * MIB + MIB / 2 };
	struct rmig_rdma_pinlru l;

	(void)state;
	assert_int_equal(rmig_rdma_pinlru_init(&l, 2, lens, 5 * MIB), 0);
	assert_int_equal(rmig_rdma_pinlru_room(&l), 5 * MIB);
	assert_int_equal(rmig_rdma_pinlru_bytes(&l, 1, 1, 2), MIB + MIB / 2);
	assert_int_equal(rmig_rdma_pinlru_bytes(&l, 1, 2, 2), 0); /* past the block */
	assert_false(rmig_rdma_pinlru_oldest(&l, &(uint32_t){ 0 }, &(uint64_t){ 0 },
					     &(uint64_t){ 0 }));

	rmig_rdma_pinlru_reserve(&l, 0, 0, 2);
	rmig_rdma_pinlru_reserve(&l, 1, 1, 2);
	assert_int_equal(rmig_rdma_pinlru_room(&l), 5 * MIB - 2 * MIB - (MIB + MIB / 2));
	/* reserved is not offered for eviction: the result has not come */
	assert_false(rmig_rdma_pinlru_oldest(&l, &(uint32_t){ 0 }, &(uint64_t){ 0 },
					     &(uint64_t){ 0 }));
	rmig_rdma_pinlru_hold(&l, 0, 0, 2);
	rmig_rdma_pinlru_hold(&l, 1, 1, 2);
	assert_int_equal(l.held_bytes, 3 * MIB + MIB / 2);
	assert_int_equal(l.reserved_bytes, 0);
	assert_oldest(&l, 0, 0, 2);

	/* a write to the second chunk of the oldest run renews the run */
	rmig_rdma_pinlru_touch(&l, 0, 1);
	assert_oldest(&l, 1, 1, 2);
	rmig_rdma_pinlru_touch(&l, 0, 3); /* not held: no effect */
	assert_oldest(&l, 1, 1, 2);

	assert_int_equal(rmig_rdma_pinlru_drop(&l, 1, 1), MIB + MIB / 2);
	assert_oldest(&l, 0, 0, 2);
	assert_int_equal(l.held_bytes, 2 * MIB);
	/* dropped is not evicted: that is counted once both sides unregistered */
	assert_int_equal(l.evicted_runs, 0);
	rmig_rdma_pinlru_evicted(&l, MIB + MIB / 2);
	assert_int_equal(l.evicted_runs, 1);
	assert_int_equal(l.evicted_bytes, MIB + MIB / 2);
	assert_int_equal(l.peak_bytes, 3 * MIB + MIB / 2);
	assert_int_equal(rmig_rdma_pinlru_drop(&l, 1, 1), 0); /* twice: nothing more */
	/* not a run's first chunk: nothing */
	assert_int_equal(rmig_rdma_pinlru_drop(&l, 0, 1), 0);
	assert_int_equal(l.held_bytes, 2 * MIB);

	rmig_rdma_pinlru_drop(&l, 0, 0);
	assert_int_equal(l.held_bytes, 0);
	assert_false(rmig_rdma_pinlru_oldest(&l, &(uint32_t){ 0 }, &(uint64_t){ 0 },
					     &(uint64_t){ 0 }));
	/* a dropped chunk can be held again, in another shape */
	rmig_rdma_pinlru_reserve(&l, 0, 1, 3);
	rmig_rdma_pinlru_hold(&l, 0, 1, 3);
	assert_oldest(&l, 0, 1, 3);
	rmig_rdma_pinlru_fini(&l);
}

static void test_full_and_unbounded(void **state)
{
	const uint64_t lens[] = { 8 * MIB };
	struct rmig_rdma_pinlru l;
	uint64_t c;

	(void)state;
	assert_int_equal(rmig_rdma_pinlru_init(&l, 1, lens, 4 * MIB), 0);
	for (c = 0; c < 6; c++) {
		rmig_rdma_pinlru_reserve(&l, 0, c, 1);
		rmig_rdma_pinlru_hold(&l, 0, c, 1);
	}
	/* over the bound (the account says so; the engine evicts): no room, never negative */
	assert_int_equal(rmig_rdma_pinlru_room(&l), 0);
	assert_int_equal(l.peak_bytes, 6 * MIB);
	/* in the order they were held, with nothing touched */
	for (c = 0; c < 6; c++) {
		assert_oldest(&l, 0, c, 1);
		rmig_rdma_pinlru_drop(&l, 0, c);
	}
	rmig_rdma_pinlru_fini(&l);

	assert_int_equal(rmig_rdma_pinlru_init(&l, 1, lens, 0), 0);
	rmig_rdma_pinlru_reserve(&l, 0, 0, 8);
	assert_int_equal(rmig_rdma_pinlru_room(&l), UINT64_MAX);
	rmig_rdma_pinlru_fini(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_account_and_order),
		cmocka_unit_test(test_full_and_unbounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
