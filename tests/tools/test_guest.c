/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "common/ram/checksum.h"
#include "common/ram/zero.h"
#include "tools/guest.h"

#define PS 4096u

static int nerrors;

static void count_sink(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque;
	(void)msg;
	if (level == RMIG_LOG_ERROR)
		nerrors++;
}

static int setup_quiet(void **state)
{
	(void)state;
	rmig_log_set_sink(count_sink, NULL);
	return 0;
}

static int teardown_quiet(void **state)
{
	(void)state;
	rmig_log_set_sink(NULL, NULL);
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Waits (generously) until the guest has written at least @n pages. */
static void wait_writes(const struct rmig_guest *g, uint64_t n)
{
	for (int i = 0; i < 10000 && rmig_guest_writes(g) < n; i++)
		sleep_ms(1);
	assert_true(rmig_guest_writes(g) >= n);
}

static void small_config(struct rmig_guest_config *cfg, uint64_t bytes)
{
	rmig_guest_config_init(cfg);
	cfg->block_size[0] = bytes;
	cfg->seed = 7;
}

static void expect_create_fails(struct rmig_guest_config *cfg, struct rmig_ram *ram, int ret)
{
	struct rmig_guest *g = (struct rmig_guest *)(uintptr_t)0x1;
	uint32_t n = ram->nblocks;
	int before = nerrors;

	assert_int_equal(rmig_guest_create(cfg, ram, &g), ret);
	assert_ptr_equal(g, (struct rmig_guest *)(uintptr_t)0x1);
	assert_int_equal(ram->nblocks, n);
	assert_int_equal(nerrors, before + 1);
}

static void test_defaults_and_validation(void **state)
{
	struct rmig_guest_config cfg;
	struct rmig_ram ram;
	struct rmig_guest *g;

	(void)state;
	rmig_guest_config_init(&cfg);
	assert_int_equal(cfg.nblocks, 1);
	assert_int_equal(cfg.block_size[0], 64ULL << 20);
	assert_int_equal(cfg.page_size, 4096);
	assert_true(cfg.zero_share == 0.25);
	assert_int_equal(cfg.dirty_rate, 0);
	assert_int_equal(cfg.pattern, RMIG_GUEST_UNIFORM);
	assert_int_equal(cfg.writers, 1);

	rmig_ram_init(&ram);
	small_config(&cfg, 1 << 20);
	cfg.nblocks = 0;
	expect_create_fails(&cfg, &ram, -EINVAL);
	cfg.nblocks = RMIG_GUEST_MAX_BLOCKS + 1;
	expect_create_fails(&cfg, &ram, -EINVAL);
	small_config(&cfg, 1 << 20);
	cfg.page_size = 3000;
	expect_create_fails(&cfg, &ram, -EINVAL);
	small_config(&cfg, 0);
	expect_create_fails(&cfg, &ram, -EINVAL);
	small_config(&cfg, 1 << 20);
	cfg.zero_share = 1.5;
	expect_create_fails(&cfg, &ram, -EINVAL);
	small_config(&cfg, 1 << 20);
	cfg.pattern = RMIG_GUEST_HOTSET;
	cfg.hot_fraction = 0;
	expect_create_fails(&cfg, &ram, -EINVAL);
	small_config(&cfg, 1 << 20);
	cfg.writers = 100000;
	expect_create_fails(&cfg, &ram, -EINVAL);

	/* A second guest on the same RAM set would clash on the names. */
	small_config(&cfg, 1 << 20);
	assert_int_equal(rmig_guest_create(&cfg, &ram, &g), 0);
	expect_create_fails(&cfg, &ram, -EEXIST);
	rmig_guest_destroy(g);
	rmig_guest_destroy(NULL);
	rmig_ram_fini(&ram);
}

static uint64_t count_zero_pages(const struct rmig_ramblock *b)
{
	uint64_t n = 0;

	for (uint64_t p = 0; p < b->npages; p++)
		n += rmig_buffer_is_zero(b->host + p * b->page_size, b->page_size);
	return n;
}

static void test_layout_and_zero_share(void **state)
{
	struct rmig_guest_config cfg;
	struct rmig_ram ram, ram2;
	struct rmig_guest *g, *g2;
	struct rmig_ramblock *b0, *b1;
	double share;

	(void)state;
	rmig_ram_init(&ram);
	small_config(&cfg, 8 << 20);
	cfg.nblocks = 2;
	cfg.block_size[1] = (4 << 20) + 1; /* rounded up to a whole page */
	cfg.zero_share = 0.3;
	assert_int_equal(rmig_guest_create(&cfg, &ram, &g), 0);
	assert_int_equal(ram.nblocks, 2);
	b0 = rmig_ram_find(&ram, "guest.ram0");
	b1 = rmig_ram_find(&ram, "guest.ram1");
	assert_non_null(b0);
	assert_non_null(b1);
	assert_int_equal(b0->length, 8 << 20);
	assert_int_equal(b1->length, (4 << 20) + PS);
	assert_false(b0->owned); /* the guest, not rmig_ram_fini, unmaps it */
	assert_false(rmig_guest_is_running(g));
	assert_int_equal(rmig_guest_writes(g), 0);

	share = (double)(count_zero_pages(b0) + count_zero_pages(b1)) /
		(double)(b0->npages + b1->npages);
	print_message("zero share asked 0.30, got %.3f\n", share);
	assert_true(share > 0.27 && share < 0.33);

	/* Same seed, same bytes; another seed, other bytes. */
	rmig_ram_init(&ram2);
	assert_int_equal(rmig_guest_create(&cfg, &ram2, &g2), 0);
	assert_int_equal(rmig_checksum(b0->host, b0->length, 0),
			 rmig_checksum(ram2.blocks[0]->host, b0->length, 0));
	rmig_guest_destroy(g2);
	rmig_ram_fini(&ram2);
	rmig_ram_init(&ram2);
	cfg.seed = 8;
	assert_int_equal(rmig_guest_create(&cfg, &ram2, &g2), 0);
	assert_true(rmig_checksum(b0->host, b0->length, 0) !=
		    rmig_checksum(ram2.blocks[0]->host, b0->length, 0));
	rmig_guest_destroy(g2);
	rmig_ram_fini(&ram2);
	rmig_guest_destroy(g);
	rmig_ram_fini(&ram);

	/* The extremes. */
	for (int k = 0; k <= 1; k++) {
		rmig_ram_init(&ram);
		small_config(&cfg, 1 << 20);
		cfg.zero_share = k;
		assert_int_equal(rmig_guest_create(&cfg, &ram, &g), 0);
		assert_int_equal(count_zero_pages(ram.blocks[0]), k ? 256 : 0);
		rmig_guest_destroy(g);
		rmig_ram_fini(&ram);
	}
}

static uint8_t *snapshot(const struct rmig_ramblock *b)
{
	uint8_t *copy = malloc(b->length);

	assert_non_null(copy);
	memcpy(copy, b->host, b->length);
	return copy;
}

static void test_writes_are_marked_and_stop_stops(void **state)
{
	struct rmig_guest_config cfg;
	struct rmig_ram ram;
	struct rmig_guest *g;
	struct rmig_ramblock *b;
	uint64_t changed = 0, dirty, writes;
	uint8_t *before, *after;

	(void)state;
	rmig_ram_init(&ram);
	small_config(&cfg, 4 << 20);
	cfg.writers = 3;
	cfg.dirty_rate = 32 << 20; /* ~8k pages/s: a few hundred in the window below */
	assert_int_equal(rmig_guest_create(&cfg, &ram, &g), 0);
	b = ram.blocks[0];
	before = snapshot(b);

	assert_int_equal(rmig_guest_start(g), 0);
	assert_int_equal(rmig_guest_start(g), -EALREADY);
	assert_true(rmig_guest_is_running(g));
	wait_writes(g, 200);
	rmig_guest_stop(g);
	assert_false(rmig_guest_is_running(g));
	writes = rmig_guest_writes(g);

	rmig_ram_sync(&ram);
	for (uint64_t p = 0; p < b->npages; p++) {
		bool diff = memcmp(before + p * PS, b->host + p * PS, PS) != 0;

		/* Every write changes its page, so dirty and changed must agree exactly. */
		assert_int_equal(diff, rmig_ramblock_test_page(b, p));
		changed += diff;
	}
	dirty = rmig_ram_bitmap_count(&ram);
	print_message("%" PRIu64 " writes dirtied %" PRIu64 " pages\n", writes, dirty);
	assert_true(dirty > 0 && dirty <= writes);

	/* Stopped means stopped: nothing changes, nothing is logged. */
	after = snapshot(b);
	sleep_ms(30);
	assert_int_equal(memcmp(after, b->host, b->length), 0);
	assert_int_equal(rmig_ram_sync(&ram), 0);
	assert_int_equal(rmig_guest_writes(g), writes);
	rmig_guest_stop(g); /* idempotent */

	rmig_guest_cont(g);
	assert_true(rmig_guest_is_running(g));
	wait_writes(g, writes + 50);
	rmig_guest_stop(g);
	assert_true(rmig_ram_sync(&ram) > 0);
	free(after);
	free(before);
	rmig_guest_destroy(g);
	rmig_ram_fini(&ram);
}

/* Many quick stop/cont cycles: after every stop the memory must hold still. */
static void test_stop_cont_cycles(void **state)
{
	struct rmig_guest_config cfg;
	struct rmig_ram ram;
	struct rmig_guest *g;
	struct rmig_ramblock *b;

	(void)state;
	rmig_ram_init(&ram);
	small_config(&cfg, 1 << 20);
	cfg.writers = 4;
	cfg.dirty_rate = UINT64_MAX / 4; /* as fast as they can */
	assert_int_equal(rmig_guest_create(&cfg, &ram, &g), 0);
	b = ram.blocks[0];
	assert_int_equal(rmig_guest_start(g), 0);
	for (int i = 0; i < 20; i++) {
		uint64_t sum, w;

		rmig_guest_stop(g);
		w = rmig_guest_writes(g);
		sum = rmig_checksum(b->host, b->length, 0);
		rmig_ram_sync(&ram);
		sleep_ms(2);
		assert_int_equal(rmig_checksum(b->host, b->length, 0), sum);
		assert_int_equal(rmig_ram_sync(&ram), 0);
		assert_int_equal(rmig_guest_writes(g), w);
		rmig_guest_cont(g);
		sleep_ms(1);
	}
	/* Destroy while running: writers are stopped and joined. */
	rmig_guest_destroy(g);
	rmig_ram_fini(&ram);
}

static void test_rate_pacing(void **state)
{
	struct rmig_guest_config cfg;
	struct rmig_ram ram;
	struct rmig_guest *g;
	uint64_t t0, t1, writes;
	double expect;

	(void)state;
	rmig_ram_init(&ram);
	small_config(&cfg, 4 << 20);
	cfg.writers = 2;
	cfg.dirty_rate = 4 << 20; /* 1024 pages/s */
	assert_int_equal(rmig_guest_create(&cfg, &ram, &g), 0);
	t0 = rmig_time_now_ns();
	assert_int_equal(rmig_guest_start(g), 0);
	sleep_ms(300);
	rmig_guest_stop(g);
	t1 = rmig_time_now_ns();
	writes = rmig_guest_writes(g);
	expect = (double)cfg.dirty_rate / PS * (double)(t1 - t0) / 1e9;
	print_message("paced: %" PRIu64 " writes, %.0f expected\n", writes, expect);
	/* The bucket can never run ahead of the rate, plus one 20 ms burst per writer. */
	assert_true((double)writes <= expect + 2 * (512.0 * 0.020 + 1) + 2);
	/* Lower bound kept loose: a loaded machine only makes it slower. */
	assert_true((double)writes >= expect * 0.1);
	rmig_guest_destroy(g);
	rmig_ram_fini(&ram);
}

static uint64_t writes_during(struct rmig_guest *g, unsigned ms)
{
	uint64_t w0, w1;

	rmig_guest_cont(g);
	w0 = rmig_guest_writes(g);
	sleep_ms(ms);
	rmig_guest_stop(g);
	w1 = rmig_guest_writes(g);
	return w1 - w0;
}

static void check_throttle(uint64_t rate, unsigned pct)
{
	struct rmig_guest_config cfg;
	struct rmig_ram ram;
	struct rmig_guest *g;
	uint64_t full = 0, slow = 0;

	rmig_ram_init(&ram);
	small_config(&cfg, 4 << 20);
	cfg.dirty_rate = rate;
	assert_int_equal(rmig_guest_create(&cfg, &ram, &g), 0);
	rmig_guest_stop(g); /* writers park at once; writes_during() lets them run */
	assert_int_equal(rmig_guest_start(g), 0);
	/*
	 * Alternating short windows, so that other load on the machine slows
	 * both sides alike; the bound leaves a wide margin for the rest.
	 */
	for (int i = 0; i < 6; i++) {
		rmig_guest_throttle(g, 0);
		full += writes_during(g, 40);
		rmig_guest_throttle(g, pct);
		slow += writes_during(g, 40);
	}
	print_message("rate %" PRIu64 " throttle %u%%: %" PRIu64 " -> %" PRIu64 " writes\n", rate,
		      pct, full, slow);
	assert_true(full > 0);
	assert_true((double)slow < 0.8 * (double)full);
	rmig_guest_destroy(g);
	rmig_ram_fini(&ram);
}

static void test_throttle(void **state)
{
	(void)state;
	check_throttle(UINT64_MAX / 4, 90); /* CPU-bound writer: far apart, as CPU speed varies */
	check_throttle(16 << 20, 75);	    /* rate-bound writer */
	check_throttle(16 << 20, 200);	    /* clamped to 99 */
}

static void test_hotset(void **state)
{
	struct rmig_guest_config cfg;
	struct rmig_ram ram;
	struct rmig_guest *g;
	struct rmig_ramblock *b;
	uint64_t hot = 0, cold = 0, nhot;

	(void)state;
	rmig_ram_init(&ram);
	small_config(&cfg, 16 << 20); /* 4096 pages, 409 of them hot */
	cfg.pattern = RMIG_GUEST_HOTSET;
	cfg.hot_fraction = 0.1;
	cfg.hot_share = 0.9;
	cfg.dirty_rate = 16 << 20; /* slow enough that stopping late cannot flood the cold set */
	assert_int_equal(rmig_guest_create(&cfg, &ram, &g), 0);
	b = ram.blocks[0];
	nhot = 409;
	assert_int_equal(rmig_guest_start(g), 0);
	wait_writes(g, 3000);
	rmig_guest_stop(g);
	rmig_ram_sync(&ram);
	for (uint64_t p = 0; p < b->npages; p++) {
		if (p < nhot)
			hot += rmig_ramblock_test_page(b, p);
		else
			cold += rmig_ramblock_test_page(b, p);
	}
	print_message("hot set %" PRIu64 "/%" PRIu64 " dirty, cold %" PRIu64 "/%" PRIu64 "\n",
		      hot, nhot, cold, b->npages - nhot);
	/* ~2700 writes over 409 hot pages cover nearly all; ~300 over 3687 cold ones few. */
	assert_true(hot >= nhot * 9 / 10);
	assert_true(cold < (b->npages - nhot) / 4);
	rmig_guest_destroy(g);
	rmig_ram_fini(&ram);
}

static void test_embedder(void **state)
{
	struct rmig_guest_config cfg;
	struct rmig_ram ram;
	struct rmig_guest *g;
	struct rmig_embedder e;
	uint64_t w;

	(void)state;
	rmig_ram_init(&ram);
	small_config(&cfg, 1 << 20);
	cfg.dirty_rate = 8 << 20;
	assert_int_equal(rmig_guest_create(&cfg, &ram, &g), 0);
	e = rmig_guest_embedder(g);
	assert_ptr_equal(e.opaque, g);
	assert_non_null(e.stop);
	assert_non_null(e.cont);
	assert_non_null(e.throttle);
	assert_int_equal(rmig_guest_start(g), 0);
	e.throttle(e.opaque, 30);
	e.stop(e.opaque);
	assert_false(rmig_guest_is_running(g));
	w = rmig_guest_writes(g);
	sleep_ms(5);
	assert_int_equal(rmig_guest_writes(g), w);
	e.cont(e.opaque);
	assert_true(rmig_guest_is_running(g));
	wait_writes(g, w + 10);
	rmig_guest_destroy(g); /* while running */
	rmig_ram_fini(&ram);
}

/* An idle guest (rate 0) never writes, and its writers still stop and quit. */
static void test_idle(void **state)
{
	struct rmig_guest_config cfg;
	struct rmig_ram ram;
	struct rmig_guest *g;

	(void)state;
	rmig_ram_init(&ram);
	small_config(&cfg, 1 << 20);
	cfg.writers = 2;
	assert_int_equal(rmig_guest_create(&cfg, &ram, &g), 0);
	assert_int_equal(rmig_guest_start(g), 0);
	sleep_ms(20);
	rmig_guest_stop(g);
	rmig_guest_cont(g);
	rmig_guest_throttle(g, 10);
	assert_int_equal(rmig_guest_writes(g), 0);
	assert_int_equal(rmig_ram_sync(&ram), 0);
	rmig_guest_destroy(g);
	rmig_ram_fini(&ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_validation),
		cmocka_unit_test(test_layout_and_zero_share),
		cmocka_unit_test(test_writes_are_marked_and_stop_stops),
		cmocka_unit_test(test_stop_cont_cycles),
		cmocka_unit_test(test_rate_pacing),
		cmocka_unit_test(test_throttle),
		cmocka_unit_test(test_hotset),
		cmocka_unit_test(test_embedder),
		cmocka_unit_test(test_idle),
	};

	return cmocka_run_group_tests(tests, setup_quiet, teardown_quiet);
}
