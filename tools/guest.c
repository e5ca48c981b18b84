/* SPDX-License-Identifier: MIT */
/*
 * The synthetic guest.  Memory content is a deterministic function of the
 * seed, so two runs with the same configuration migrate the same bytes.
 *
 * This file holds the configuration and the memory; the writers that dirty
 * it are in guest_writers.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <rmig/log.h>

#include "common/base/mem.h"
#include "common/base/size.h"
#include "common/base/util.h"
#include "common/engine/params.h"
#include "tools/guest_int.h"

#define GUEST_MAX_WRITERS 256
#define GUEST_DEFAULT_BLOCK (64ULL << 20)

void rmig_guest_config_init(struct rmig_guest_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->nblocks = 1;
	cfg->block_size[0] = GUEST_DEFAULT_BLOCK;
	cfg->page_size = 4096;
	cfg->zero_share = 0.25;
	cfg->dirty_rate = 0;
	cfg->pattern = RMIG_GUEST_UNIFORM;
	cfg->hot_fraction = 0.1;
	cfg->hot_share = 0.9;
	cfg->writers = 1;
	cfg->seed = 1;
}

static bool in_unit(double x, bool zero_ok)
{
	return zero_ok ? (x >= 0.0 && x <= 1.0) : (x > 0.0 && x <= 1.0);
}

/* Checks and normalises the configuration (0 page size / writers mean the defaults). */
static int config_check(struct rmig_guest_config *cfg, const struct rmig_ram *ram)
{
	char name[32];

	if (cfg->nblocks < 1 || cfg->nblocks > RMIG_GUEST_MAX_BLOCKS) {
		rmig_error("guest: %u memory blocks requested; between 1 and %d are supported",
			   cfg->nblocks, RMIG_GUEST_MAX_BLOCKS);
		return -EINVAL;
	}
	if (cfg->page_size == 0)
		cfg->page_size = 4096;
	if (!RMIG_IS_POW2(cfg->page_size) || cfg->page_size < RMIG_PAGE_SIZE_MIN ||
	    cfg->page_size > RMIG_PAGE_SIZE_MAX) {
		rmig_error("guest: page size %" PRIu32
			   " is not a power of two between %d and %u bytes",
			   cfg->page_size, RMIG_PAGE_SIZE_MIN, RMIG_PAGE_SIZE_MAX);
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->nblocks; i++) {
		if (cfg->block_size[i] == 0 || cfg->block_size[i] > (SIZE_MAX >> 2)) {
			rmig_error("guest: block %u has size %" PRIu64
				   "; it must be between 1 byte and %zu bytes",
				   i, cfg->block_size[i], SIZE_MAX >> 2);
			return -EINVAL;
		}
		cfg->block_size[i] = RMIG_ALIGN_UP(cfg->block_size[i], (uint64_t)cfg->page_size);
		/* Checked now so that a clash cannot fail after gigabytes are filled. */
		snprintf(name, sizeof(name), "guest.ram%u", i);
		if (rmig_ram_find(ram, name)) {
			rmig_error("guest: RAM block '%s' is already registered "
				   "(one guest per RAM set)", name);
			return -EEXIST;
		}
	}
	if (ram->nblocks + cfg->nblocks > RMIG_RAM_MAX_BLOCKS) {
		rmig_error("guest: %u more blocks would exceed the limit of %d RAM blocks",
			   cfg->nblocks, RMIG_RAM_MAX_BLOCKS);
		return -E2BIG;
	}
	if (!in_unit(cfg->zero_share, true)) {
		rmig_error("guest: zero share %g is not between 0 and 1", cfg->zero_share);
		return -EINVAL;
	}
	if (cfg->pattern != RMIG_GUEST_UNIFORM && cfg->pattern != RMIG_GUEST_HOTSET) {
		rmig_error("guest: unknown write pattern %d", (int)cfg->pattern);
		return -EINVAL;
	}
	if (cfg->pattern == RMIG_GUEST_HOTSET &&
	    (!in_unit(cfg->hot_fraction, false) || !in_unit(cfg->hot_share, true))) {
		rmig_error("guest: hot set fraction %g must be in (0, 1] "
			   "and hot share %g in [0, 1]", cfg->hot_fraction, cfg->hot_share);
		return -EINVAL;
	}
	if (cfg->writers == 0)
		cfg->writers = 1;
	if (cfg->writers > GUEST_MAX_WRITERS) {
		rmig_error("guest: %u writer threads requested; at most %d are supported",
			   cfg->writers, GUEST_MAX_WRITERS);
		return -EINVAL;
	}
	return 0;
}

/*
 * Leaves a zero_share of the pages untouched (still the kernel's zero
 * page, costing no memory) and fills the others with random words.
 */
static void block_fill(struct guest_block *gb, const struct rmig_guest_config *cfg, unsigned idx)
{
	uint64_t rng = cfg->seed ^ (0x6a09e667f3bcc909ULL * (idx + 1));
	size_t words = cfg->page_size / sizeof(uint64_t);

	for (uint64_t p = 0; p < gb->npages; p++) {
		uint64_t *page;

		if (rng_unit(&rng) < cfg->zero_share)
			continue;
		page = (uint64_t *)(void *)(gb->host + (p * cfg->page_size));
		for (size_t w = 0; w < words; w++)
			page[w] = rng_next(&rng);
	}
}

static int block_map(struct guest_block *gb, uint64_t length, unsigned idx)
{
	char what[48];
	void *host;

	snprintf(what, sizeof(what), "guest memory block %u", idx);
	host = rmig_mem_map(length, what);
	if (!host)
		return -ENOMEM;
	/*
	 * No MADV_HUGEPAGE here: on the development hosts it made filling
	 * slower (compaction stalls) without making writes faster, and the
	 * untouched zero pages should stay free.
	 */
	gb->host = host;
	gb->length = length;
	return 0;
}

static void guest_unmap(struct rmig_guest *g)
{
	if (g->adopted)
		return;
	for (unsigned i = 0; i < g->cfg.nblocks; i++)
		if (g->blocks[i].host)
			munmap(g->blocks[i].host, g->blocks[i].length);
}

/* The guest fills every page it maps, so it must fit in what the machine has free. */
static int guest_check_memory(const struct rmig_guest_config *cfg)
{
	uint64_t want = 0, avail = rmig_mem_get_available();
	char w[32], a[32];

	for (unsigned i = 0; i < cfg->nblocks; i++)
		want += cfg->block_size[i];
	if (avail == UINT64_MAX || want <= avail)
		return 0;
	rmig_error("guest: %s of RAM requested but only %s of memory is available; "
		   "use a smaller --ram",
		   rmig_size_format(want, w, sizeof(w)), rmig_size_format(avail, a, sizeof(a)));
	return -ENOMEM;
}

int rmig_guest_create(const struct rmig_guest_config *cfg, struct rmig_ram *ram,
		      struct rmig_guest **out)
{
	struct rmig_guest *g;
	uint32_t ram_base = ram->nblocks;
	char name[32];
	int ret;

	g = calloc(1, sizeof(*g));
	if (!g) {
		rmig_error("guest: out of memory");
		return -ENOMEM;
	}
	g->cfg = *cfg;
	ret = config_check(&g->cfg, ram);
	if (ret < 0)
		goto err_free;
	ret = guest_check_memory(&g->cfg);
	if (ret < 0)
		goto err_free;
	g->page_shift = (uint32_t)__builtin_ctz(g->cfg.page_size);
	ret = rmig_guest_writers_init(g);
	if (ret < 0)
		goto err_free;

	for (unsigned i = 0; i < g->cfg.nblocks; i++) {
		struct guest_block *gb = &g->blocks[i];
		uint64_t hot;

		ret = block_map(gb, g->cfg.block_size[i], i);
		if (ret < 0)
			goto err_unmap;
		gb->npages = gb->length >> g->page_shift;
		hot = (uint64_t)((double)gb->npages * g->cfg.hot_fraction);
		gb->hot_pages = RMIG_MIN(RMIG_MAX(hot, 1), gb->npages);
		g->total_pages += gb->npages;
		g->hot_total += gb->hot_pages;
		g->cold_total += gb->npages - gb->hot_pages;
		block_fill(gb, &g->cfg, i);
	}
	/* Registered last, so a failure above leaves @ram as it was. */
	for (unsigned i = 0; i < g->cfg.nblocks; i++) {
		snprintf(name, sizeof(name), "guest.ram%u", i);
		ret = rmig_ram_add(ram, name, g->blocks[i].host, g->blocks[i].length,
				   g->cfg.page_size, &g->blocks[i].rb);
		if (ret < 0)
			goto err_remove_blocks;
	}
	*out = g;
	return 0;

err_remove_blocks:
	rmig_ram_truncate(ram, ram_base);
err_unmap:
	guest_unmap(g);
	rmig_guest_writers_fini(g);
err_free:
	free(g);
	return ret;
}

int rmig_guest_adopt(const struct rmig_guest_config *cfg, struct rmig_ram *ram,
		     struct rmig_guest **out)
{
	uint32_t n = rmig_ram_get_nblocks(ram);
	struct rmig_guest *g;
	int ret;

	if (n == 0 || n > RMIG_GUEST_MAX_BLOCKS) {
		rmig_error("guest: %u received memory blocks; between 1 and %d can run", n,
			   RMIG_GUEST_MAX_BLOCKS);
		return -EINVAL;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		rmig_error("guest: out of memory");
		return -ENOMEM;
	}
	g->cfg = *cfg;
	g->adopted = true;
	g->cfg.nblocks = n;
	g->cfg.page_size = rmig_ramblock_get_page_size(rmig_ram_get_block(ram, 0));
	g->page_shift = (uint32_t)__builtin_ctz(g->cfg.page_size);
	ret = rmig_guest_writers_init(g);
	if (ret < 0)
		goto err_free;
	for (uint32_t i = 0; i < n; i++) {
		struct rmig_ramblock *rb = rmig_ram_get_block(ram, i);
		struct guest_block *gb = &g->blocks[i];
		uint64_t hot;

		if (rmig_ramblock_get_page_size(rb) != g->cfg.page_size) {
			rmig_error("guest: block \"%s\" has another page size than block 0",
				   rmig_ramblock_get_name(rb));
			ret = -EINVAL;
			goto err_writers;
		}
		gb->rb = rb;
		gb->host = rmig_ramblock_get_host(rb);
		gb->length = rmig_ramblock_get_length(rb);
		g->cfg.block_size[i] = gb->length;
		gb->npages = gb->length >> g->page_shift;
		hot = (uint64_t)((double)gb->npages * g->cfg.hot_fraction);
		gb->hot_pages = RMIG_MIN(RMIG_MAX(hot, 1), gb->npages);
		g->total_pages += gb->npages;
		g->hot_total += gb->hot_pages;
		g->cold_total += gb->npages - gb->hot_pages;
	}
	*out = g;
	return 0;

err_writers:
	rmig_guest_writers_fini(g);
err_free:
	free(g);
	return ret;
}

void rmig_guest_destroy(struct rmig_guest *g)
{
	if (!g)
		return;
	/* Before the unmap: a writer may be mid-store. */
	rmig_guest_writers_quit(g);
	guest_unmap(g);
	rmig_guest_writers_fini(g);
	free(g);
}
