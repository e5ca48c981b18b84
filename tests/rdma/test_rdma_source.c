/* SPDX-License-Identifier: MIT */
/*
 * The source's dynamic-registration pipeline (rdma/prefetch.c behind
 * rdma/source.c) against a scripted destination on the fake glue:
 * REGISTER_REQUEST sizes ramp up from one chunk at the start of every
 * round, at most RMIG_RDMA_REQ_INFLIGHT requests are unanswered, every
 * chunk is asked for once, every WRITE carries the key the destination
 * returned for its chunk, all-zero chunks go as COMPRESS and are never
 * asked for, a QEMU peer only ever gets single-chunk requests, and a
 * REGISTER_RESULT that does not match its request fails the round with
 * -EPROTO before any WRITE uses its keys.
 *
 * The destination (tests/support/rdma_peer.c) is lazy on purpose: it holds
 * its REGISTER_RESULTs until the engine has nothing left to do but wait, so
 * the engine's own limits, not the peer's speed, decide how much is in
 * flight.  It also keeps a copy of the block, so each test ends by
 * comparing memory.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/base/util.h"
#include "common/engine/format.h"
#include "common/ram/ram.h"
#include "rdma/conn.h"
#include "rdma/wire.h"
#include "tests/support/fake_glue.h"
#include "tests/support/rdma_peer.h"
#include "tests/support/resident.h"

/* ---------------- REG_BATCH: ramp, in-flight bound, one request per chunk ---------------- */

static void test_reg_batch_ramp(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b = ram_make(&ram, 64 * MiB);
	struct rmig_conn *c;
	uint64_t i;

	(void)state;
	memset(b->host, 0x5a, b->length);
	c = peer_connect(CAPS_RMIG, &ram);
	rmig_ram_bitmap_set_all(&ram);
	assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), 0);
	peer_assert_clean();
	assert_ramp(5);
	/*
	 * In order, none skipped: the chunk the writer holds back while it
	 * resolves the one before (its dirty bits already cleared) is in the
	 * first prefetch, not left to a blocking request of its own.
	 */
	for (i = 1; i < peer.nreq; i++)
		assert_int_equal(peer.req_first[i], peer.req_first[i - 1] + peer.req_chunks[i - 1]);
	/* The pipeline is used, and never deeper than the engine's bound. */
	assert_int_equal(peer.max_unanswered, RMIG_RDMA_REQ_INFLIGHT);
	for (i = 0; i < peer.nchunks; i++) {
		assert_int_equal(peer.requested[i], 1);
		assert_int_equal(peer.written[i], CHUNK);
	}
	assert_same_memory();
	peer_close(c);
	rmig_ram_fini(&ram);
}

/*
 * The same with 2 MiB pages, each spanning two chunks: look-ahead still
 * asks for every chunk, in order and ramping, where it used to see no
 * dirty page inside a chunk that starts mid-page and leave every such
 * chunk to a blocking request of its own.
 */
static void test_reg_batch_ramp_large_pages(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b;
	struct rmig_conn *c;
	uint64_t i;

	(void)state;
	rmig_ram_init(&ram);
	assert_int_equal(rmig_ram_alloc(&ram, "ram", 64 * MiB, 2 * MiB, &b), 0);
	memset(b->host, 0x5a, b->length);
	c = peer_connect(CAPS_RMIG, &ram);
	rmig_ram_bitmap_set_all(&ram);
	/* A page per run, so look-ahead meets chunks still dirty in the bitmap, not queued. */
	peer.run_pages = 1;
	assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), 0);
	peer_assert_clean();
	assert_ramp(5);
	for (i = 1; i < peer.nreq; i++)
		assert_int_equal(peer.req_first[i], peer.req_first[i - 1] + peer.req_chunks[i - 1]);
	for (i = 0; i < peer.nchunks; i++) {
		assert_int_equal(peer.requested[i], 1);
		assert_int_equal(peer.written[i], CHUNK);
	}
	assert_same_memory();
	peer_close(c);
	rmig_ram_fini(&ram);
}

/* ---------------- the ramp starts over each round ---------------- */

static void test_ramp_restarts_next_round(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b = ram_make(&ram, 64 * MiB);
	const uint64_t half = 32;
	struct rmig_conn *c;
	uint64_t i;

	(void)state;
	/* Round 1: the upper half is zero, so it goes as COMPRESS and stays unregistered. */
	memset(b->host, 0x5a, half * CHUNK);
	c = peer_connect(CAPS_RMIG, &ram);
	rmig_ram_bitmap_set_all(&ram);
	assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), 0);
	peer_assert_clean();
	assert_ramp(5);
	for (i = 0; i < peer.nchunks; i++)
		assert_int_equal(peer.requested[i], i < half);
	assert_same_memory();

	/* Round 2: the guest filled the upper half; everything is dirty again. */
	memset(b->host + half * CHUNK, 0x77, b->length - half * CHUNK);
	rmig_ram_mark_dirty(b, 0, b->length);
	assert_int_equal(rmig_ram_sync(&ram), b->npages);
	assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), 0);
	peer_assert_clean();
	/* Only the new chunks are asked for, starting again from one. */
	assert_ramp(5);
	for (i = 0; i < peer.nchunks; i++) {
		assert_int_equal(peer.requested[i], i >= half);
		assert_int_equal(peer.written[i], CHUNK); /* the lower half with its old keys */
	}
	assert_same_memory();
	peer_close(c);
	rmig_ram_fini(&ram);
}

/* ---------------- a request that must wait for a free slot ---------------- */

static void guest_fills_chunk_2(struct rmig_ramblock *b, uint64_t page)
{
	if (page << b->page_shift == 2 * CHUNK)
		memset(b->host + 2 * CHUNK, 0x42, CHUNK);
}

/*
 * Chunk 2 is zero when the prefetches pass it and the guest fills it just
 * before it is handed over, so the writer needs a key nobody asked for
 * while both request slots are taken by prefetches (of chunk 3, then 4-5).
 * The engine must collect an answer before it may ask.
 */
static void test_request_waits_for_a_slot(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b = ram_make(&ram, 16 * MiB);
	struct rmig_conn *c;
	uint64_t i;

	(void)state;
	/* Round 1 registers chunks 0 and 1, so round 2 starts with prefetches only. */
	memset(b->host, 0x5a, 2 * CHUNK);
	c = peer_connect(CAPS_RMIG, &ram);
	rmig_ram_bitmap_set_all(&ram);
	assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), 0);
	peer_assert_clean();

	memset(b->host + 3 * CHUNK, 0x77, b->length - 3 * CHUNK);
	rmig_ram_bitmap_set_all(&ram);
	guest_write = guest_fills_chunk_2;
	assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), 0);
	peer_assert_clean();
	assert_true(peer.nreq >= 3);
	assert_int_equal(peer.req_first[0], 3);
	assert_int_equal(peer.req_chunks[0], 1);
	assert_int_equal(peer.req_first[1], 4);
	assert_int_equal(peer.req_chunks[1], 2);
	/* Chunk 2 first (what the writer waits for), then the ramp's next chunks. */
	assert_int_equal(peer.req_first[2], 2);
	assert_int_equal(peer.req_chunks[2], 4);
	assert_int_equal(peer.max_unanswered, RMIG_RDMA_REQ_INFLIGHT);
	for (i = 0; i < peer.nchunks; i++) {
		assert_int_equal(peer.requested[i], i >= 2);
		assert_int_equal(peer.written[i], CHUNK);
	}
	assert_same_memory();
	peer_close(c);
	rmig_ram_fini(&ram);
}

/* ---------------- zero chunks ---------------- */

/*
 * A 16 MiB block: chunks 0, 5, 9, 10, 11 all zero; chunk 3 zero in its
 * first half; chunk 7 one non-zero page in the middle; the rest full.
 */
static const bool zero_chunk[16] = {[0] = true, [5] = true, [9] = true, [10] = true, [11] = true};

static void fill_zero_pattern(struct rmig_ramblock *b)
{
	uint64_t i;

	for (i = 0; i < 16; i++)
		if (!zero_chunk[i] && i != 3 && i != 7)
			memset(b->host + i * CHUNK, 0x5a, CHUNK);
	memset(b->host + 3 * CHUNK + CHUNK / 2, 0x33, CHUNK / 2);
	memset(b->host + 7 * CHUNK + 64 * 4096, 0x77, 4096);
}

/* REG_BATCH: zero pages anywhere go as COMPRESS; only the non-zero ones are written. */
static void test_zero_chunks_never_requested(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b = ram_make(&ram, 16 * MiB);
	struct rmig_conn *c;
	uint64_t i;

	(void)state;
	fill_zero_pattern(b);
	c = peer_connect(CAPS_RMIG, &ram);
	rmig_ram_bitmap_set_all(&ram);
	assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), 0);
	peer_assert_clean();
	for (i = 0; i < 16; i++) {
		uint64_t want = zero_chunk[i] ? 0 : i == 3 ? CHUNK / 2 : i == 7 ? 4096 : CHUNK;

		assert_int_equal(peer.requested[i], !zero_chunk[i]);
		assert_int_equal(peer.written[i], want);
	}
	assert_true(peer.compress_max_elems > 1); /* batched: REG_BATCH allows it */
	assert_same_memory();
	peer_close(c);
	rmig_ram_fini(&ram);
}

/* ---------------- QEMU peer: single-chunk requests ---------------- */

static void test_qemu_peer_single_chunk_requests(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b = ram_make(&ram, 16 * MiB);
	struct rmig_conn *c;
	uint64_t i;

	(void)state;
	fill_zero_pattern(b);
	c = peer_connect(CAPS_QEMU, &ram);
	assert_false(peer.rc->credits);
	rmig_ram_bitmap_set_all(&ram);
	assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), 0);
	peer_assert_clean();
	assert_true(peer.nreq > 0);
	for (i = 0; i < peer.nreq; i++) {
		assert_int_equal(peer.req_elems[i], 1);
		assert_int_equal(peer.req_chunks[i], 1);
	}
	assert_int_equal(peer.req_max_extra, 0);
	/* QEMU serves only the first COMPRESS element. */
	assert_int_equal(peer.compress_max_elems, 1);
	/* One credit: a request's comes back with its answer, so one is ever unanswered. */
	assert_int_equal(peer.max_unanswered, 1);
	for (i = 0; i < 16; i++) {
		assert_int_equal(peer.requested[i], !zero_chunk[i]);
		/* Pages go whole-chunk to the writer: zero pages of a non-zero chunk too. */
		assert_int_equal(peer.written[i], zero_chunk[i] ? 0 : CHUNK);
	}
	assert_same_memory();
	peer_close(c);
	rmig_ram_fini(&ram);
}

/* ---------------- a REGISTER_RESULT that does not match its request ---------------- */

static void hostile_case(enum peer_lie lie, unsigned at, uint32_t elems)
{
	const struct rmig_transport_ops *ops = rmig_rdma_get_ops();
	struct rmig_ram_counters acc = {0};
	struct rmig_ram ram;
	struct rmig_ramblock *b = ram_make(&ram, 16 * MiB);
	struct rmig_conn *c;
	uint32_t i;

	memset(b->host, 0x5a, b->length);
	/* A zero chunk 4 splits request 2 into two elements (see below). */
	memset(b->host + 4 * CHUNK, 0, CHUNK);
	c = peer_connect(CAPS_RMIG, &ram);
	peer.lie = lie;
	peer.lie_at = at;
	rmig_ram_bitmap_set_all(&ram);
	assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), -EPROTO);
	/* The lie went to the request meant: the case tests what it says. */
	assert_true(peer.nreq > at);
	assert_int_equal(peer.req_elems[at], elems);
	assert_int_equal(peer.violations, 0); /* no WRITE to a chunk without a good key */
	assert_false(peer.hung);
	assert_int_equal(peer.bogus_writes, 0);
	assert_true(peer.nwrites > 0); /* chunks answered honestly were written */
	assert_true(peer.errors >= 1); /* the destination was told */
	/* Nothing of the lied-about request (or after it) was written. */
	for (i = 0; i < peer.nchunks; i++)
		if (!peer.answered[i])
			assert_int_equal(peer.written[i], 0);
	/* The failure sticks. */
	assert_int_equal(ops->ram_save_page(c, b, 0, 1, &acc), -EPROTO);
	peer_close(c);
	/* Once, although the close after a failure would send it again. */
	assert_int_equal(peer.errors, 1);
	rmig_ram_fini(&ram);
	peer_reset();
}

static void test_hostile_register_result(void **state)
{
	(void)state;
	/*
	 * Request 0 is chunk 0, request 1 one element (chunks 1-2), request 2
	 * two ({3}, {5-7}): chunk 4 is zero and goes as COMPRESS.
	 */
	hostile_case(LIE_EXTRA_RESULT, 1, 1);
	hostile_case(LIE_TRUNCATED, 1, 1);
	hostile_case(LIE_FEWER_RESULTS, 2, 2);
	hostile_case(LIE_QEMU_LEN, 2, 2);
}

/* ---------------- bounded pinning: rdma-max-pinned ---------------- */

/*
 * 64 chunks under an 8 MiB bound, two full rounds: never more than 8
 * chunks registered at the destination, least recently used regions
 * unregistered (one element per message for a QEMU peer), every chunk
 * written exactly once per round with a live key, memory equal after each.
 */
static void bounded_case(uint32_t caps)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b = ram_make(&ram, 64 * MiB);
	struct rmig_conn *c;
	unsigned round, i, evicted_before = 0;

	memset(b->host, 0x5a, b->length);
	peer.max_pinned_opt = 8 * MiB;
	c = peer_connect(caps, &ram);
	assert_int_equal(peer.rc->pins.max_bytes, 8 * MiB);
	for (round = 0; round < 2; round++) {
		memset(b->host, 0x30 + (int)round, b->length);
		rmig_ram_bitmap_set_all(&ram);
		assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), 0);
		peer_assert_clean();
		assert_true(peer.max_pinned_chunks <= 8);
		assert_true(peer.rc->pins.peak_bytes <= 8 * MiB);
		/* the whole block went through, so most of it was evicted on the way */
		assert_true(peer.unregistered > evicted_before);
		evicted_before = peer.unregistered;
		for (i = 0; i < peer.nchunks; i++)
			assert_int_equal(peer.written[i], CHUNK);
		assert_same_memory();
	}
	assert_int_equal(peer.rc->pins.evicted_runs, peer.unregistered);
	if (!(caps & RMIG_RDMA_CAP_REG_BATCH))
		assert_int_equal(peer.unreg_max_elems, 1);
	peer_close(c);
	rmig_ram_fini(&ram);
}

static void test_bounded_pinning(void **state)
{
	(void)state;
	bounded_case(CAPS_RMIG);
}

static void test_bounded_pinning_qemu_peer(void **state)
{
	(void)state;
	bounded_case(CAPS_QEMU);
}

/*
 * The destination refuses the first UNREGISTER_REQUEST: the round fails,
 * and nothing is reported evicted, nor taken off what is held, since
 * every region is still registered on both sides.
 */
static void test_bounded_pinning_unregister_refused(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b = ram_make(&ram, 64 * MiB);
	struct rmig_conn *c;

	(void)state;
	memset(b->host, 0x5a, b->length);
	peer.max_pinned_opt = 8 * MiB;
	peer.unreg_error = true;
	c = peer_connect(CAPS_RMIG, &ram);
	rmig_ram_bitmap_set_all(&ram);
	assert_true(round_run(c, &ram, RMIG_RAM_PHASE_ROUND) < 0);
	assert_int_equal(peer.unregistered, 0);
	assert_int_equal(peer.rc->pins.evicted_runs, 0);
	assert_int_equal(peer.rc->pins.evicted_bytes, 0);
	assert_true(peer.rc->pins.held_bytes > 0);
	assert_int_equal(peer.rc->pins.held_bytes,
			 rmig_rdma_keycache_registered_count(peer.rc->kc) * CHUNK);
	peer_close(c);
	rmig_ram_fini(&ram);
}

/*
 * A REGISTER_REQUEST that cannot be sent registered nothing anywhere: it
 * leaves nothing reserved, and the peak reported as pinned stays 0.
 */
static void test_register_request_send_fails(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b = ram_make(&ram, 16 * MiB);
	struct rmig_conn *c;

	(void)state;
	memset(b->host, 0x5a, b->length);
	peer.max_pinned_opt = 8 * MiB;
	peer.fail_register_send = true;
	c = peer_connect(CAPS_RMIG, &ram);
	rmig_ram_bitmap_set_all(&ram);
	assert_true(round_run(c, &ram, RMIG_RAM_PHASE_ROUND) < 0);
	assert_int_equal(peer.pinned_chunks, 0);
	assert_int_equal(peer.rc->pins.reserved_bytes, 0);
	assert_int_equal(peer.rc->pins.held_bytes, 0);
	assert_int_equal(peer.rc->pins.peak_bytes, 0);
	peer_close(c);
	rmig_ram_fini(&ram);
}

/* ---------------- control rings faulted in while resolving ---------------- */

#define RECV_RING RMIG_RDMA_RECV_RING_BYTES
#define SEND_RING RMIG_RDMA_SEND_RING_BYTES

/* With the knob the registration alone would fault them in: the fake's touches a few pages. */
static void rings_case(bool prepared)
{
	struct rmig_ram ram;
	struct rmig_conn *c;
	size_t recv_in, send_in;

	ram_make(&ram, 4 * MiB);
	if (!prepared)
		setenv("RMIG_RDMA_NO_RING_PREPARE", "1", 1);
	c = peer_connect(CAPS_RMIG, &ram);
	unsetenv("RMIG_RDMA_NO_RING_PREPARE");
	recv_in = resident_pages(peer.rc->ctrl.recv_mem, RECV_RING);
	send_in = resident_pages(peer.rc->ctrl.send_mem, SEND_RING);
	assert_null(peer.rc->ring_mem.recv); /* taken over by the rings */
	if (prepared) {
		assert_int_equal(recv_in, resident_page_count(RECV_RING));
		assert_int_equal(send_in, resident_page_count(SEND_RING));
	} else {
		/* Not all: a touch may fault in a whole huge page where THP is on. */
		assert_true(recv_in < resident_page_count(RECV_RING));
		assert_true(send_in < resident_page_count(SEND_RING));
	}
	peer_close(c);
	rmig_ram_fini(&ram);
}

static void test_source_rings_prepared(void **state)
{
	(void)state;
	rings_case(true);
}

static void test_source_rings_knob(void **state)
{
	(void)state;
	rings_case(false);
}

/* ---------------- streamed pin-all: PIN_STREAM ---------------- */

#define CAPS_STREAM                                                                                \
	(CAPS_RMIG | RMIG_RDMA_CAP_PIN_ALL | RMIG_RDMA_CAP_PIN_SEGMENTS | RMIG_RDMA_CAP_PIN_STREAM)

/*
 * 18.5 MiB in regions of 4 chunks: nothing asked for in set-up, one
 * request in flight at most, five in all during the first round and none
 * in the second, every chunk written once per round with its region's key.
 */
static void test_pin_stream(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b = ram_make(&ram, 18 * MiB + MiB / 2);
	struct rmig_conn *c;
	unsigned round, i;

	(void)state;
	peer.seg_chunks = 4;
	c = peer_connect(CAPS_STREAM, &ram);
	assert_int_equal(peer.seg_requests, 0);
	/* Our own side is not registered in set-up either. */
	assert_null(rmig_rdma_keycache_find_region(peer.rc->kc, 0, 0, 1));
	assert_int_equal(peer.rc->local_reg_ns, 0);
	assert_int_equal(peer.rc->local_stream_bytes, 0);
	for (round = 0; round < 2; round++) {
		memset(b->host, 0x30 + (int)round, b->length);
		rmig_ram_bitmap_set_all(&ram);
		assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), 0);
		peer_assert_clean();
		assert_int_equal(peer.seg_requests, 5);
		assert_true(peer.max_unanswered <= 1);
		assert_int_equal(peer.nheld, 0); /* nothing left unanswered past the round */
		for (i = 0; i < peer.nchunks; i++)
			assert_int_equal(peer.written[i], rmig_rdma_chunk_len(b->length, i));
		assert_same_memory();
	}
	/*
	 * Asked ahead: region 0 before the first WRITE, each next one while
	 * the one before was still being written (this lazy peer answers
	 * only when the source waits, so every key is waited for here).
	 */
	assert_int_equal(peer.seg_asked_at[0], 0);
	for (i = 1; i < 5; i++)
		assert_true(peer.seg_asked_at[i] < i * 4 * CHUNK);
	/* ... and registered during the first round, in 8 MiB regions: 8, 8 and 2.5 MiB. */
	for (i = 0; i < 3; i++) {
		const struct rmig_rdma_region *r =
		    rmig_rdma_keycache_find_region(peer.rc->kc, 0, i * 8 * MiB, 1);

		assert_non_null(r);
		assert_int_equal(r->start, i * 8 * MiB);
		assert_int_equal(r->len, i < 2 ? 8 * MiB : 2 * MiB + MiB / 2);
	}
	assert_true(peer.rc->local_reg_ns > 0);
	assert_int_equal(peer.rc->local_stream_bytes, b->length); /* x-rmig-pinned peak */
	peer_close(c);
	rmig_ram_fini(&ram);
}

/*
 * A round that writes only chunk 0 still asked for the next region (the
 * look-ahead); its answer is taken before REGISTER_FINISHED, so none is
 * left for a later exchange to trip over.
 */
static void test_pin_stream_round_end_drains(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b = ram_make(&ram, 12 * MiB);
	struct rmig_conn *c;

	(void)state;
	memset(b->host, 0x77, b->length);
	peer.seg_chunks = 4;
	c = peer_connect(CAPS_STREAM, &ram);
	rmig_ram_bitmap_set_all(&ram);
	rmig_ramblock_clear_pages(b, CHUNK / 4096, b->npages - CHUNK / 4096);
	assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), 0);
	peer_assert_clean();
	assert_int_equal(peer.written[0], CHUNK);
	assert_int_equal(peer.written[4], 0);
	assert_int_equal(peer.seg_requests, 2);
	assert_int_equal(peer.nheld, 0);
	assert_false(peer.rc->pin_asked);
	/* The rest in the next round: one more region, and region 1's key is used as given. */
	rmig_ram_bitmap_set_all(&ram);
	assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), 0);
	peer_assert_clean();
	assert_int_equal(peer.seg_requests, 3);
	assert_true(peer.rc->pin_keyed);
	assert_same_memory();
	peer_close(c);
	rmig_ram_fini(&ram);
}

/* A region other than the one asked for fails the round; nothing goes there. */
static void stream_lie_case(enum peer_lie lie)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b = ram_make(&ram, 12 * MiB);
	struct rmig_conn *c;
	uint32_t i;

	memset(b->host, 0x5a, b->length);
	peer.seg_chunks = 4;
	c = peer_connect(CAPS_STREAM, &ram);
	peer.lie = lie;
	peer.lie_at = 1;
	rmig_ram_bitmap_set_all(&ram);
	assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), -EPROTO);
	assert_int_equal(peer.violations, 0);
	assert_false(peer.hung);
	for (i = 0; i < 4; i++)
		assert_int_equal(peer.written[i], CHUNK);
	for (i = 4; i < peer.nchunks; i++)
		assert_int_equal(peer.written[i], 0);
	peer_close(c);
	assert_int_equal(peer.errors, 1);
	rmig_ram_fini(&ram);
	peer_reset();
}

static void test_pin_stream_hostile(void **state)
{
	(void)state;
	stream_lie_case(LIE_SEG_GAP);
	stream_lie_case(LIE_SEG_PAST_END);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reg_batch_ramp, peer_setup, peer_teardown),
	    cmocka_unit_test_setup_teardown(test_reg_batch_ramp_large_pages, peer_setup, peer_teardown),
	    cmocka_unit_test_setup_teardown(test_ramp_restarts_next_round, peer_setup,
					    peer_teardown),
	    cmocka_unit_test_setup_teardown(test_request_waits_for_a_slot, peer_setup,
					    peer_teardown),
	    cmocka_unit_test_setup_teardown(test_zero_chunks_never_requested, peer_setup,
					    peer_teardown),
	    cmocka_unit_test_setup_teardown(test_qemu_peer_single_chunk_requests, peer_setup,
					    peer_teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_register_result, peer_setup,
					    peer_teardown),
	    cmocka_unit_test_setup_teardown(test_bounded_pinning, peer_setup, peer_teardown),
	    cmocka_unit_test_setup_teardown(test_bounded_pinning_qemu_peer, peer_setup,
					    peer_teardown),
	    cmocka_unit_test_setup_teardown(test_bounded_pinning_unregister_refused, peer_setup,
					    peer_teardown),
	    cmocka_unit_test_setup_teardown(test_register_request_send_fails, peer_setup,
					    peer_teardown),
	    cmocka_unit_test_setup_teardown(test_source_rings_prepared, peer_setup, peer_teardown),
	    cmocka_unit_test_setup_teardown(test_source_rings_knob, peer_setup, peer_teardown),
	    cmocka_unit_test_setup_teardown(test_pin_stream, peer_setup, peer_teardown),
	    cmocka_unit_test_setup_teardown(test_pin_stream_round_end_drains, peer_setup,
					    peer_teardown),
	    cmocka_unit_test_setup_teardown(test_pin_stream_hostile, peer_setup, peer_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
