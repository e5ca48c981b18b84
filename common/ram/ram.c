/* SPDX-License-Identifier: MIT */
/*
 * RAM blocks and their two bitmaps.  The dirty log is shared with the
 * embedder's writer threads; everything else belongs to the migration
 * thread, so only the log is atomic.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <rmig/log.h>

#include "common/base/mem.h"
#include "common/base/util.h"
#include "common/ram/ram.h"

#define BPL RMIG_BITS_PER_LONG

static inline uint64_t bitmap_words(uint64_t npages)
{
	return RMIG_DIV_ROUND_UP(npages, BPL);
}

/* Bits [lo, hi) of one word, 0 <= lo < hi <= BPL. */
static inline unsigned long word_mask(unsigned lo, unsigned hi)
{
	unsigned long m = ~0UL << lo;

	if (hi < BPL)
		m &= ~(~0UL << hi);
	return m;
}

void rmig_ram_init(struct rmig_ram *ram)
{
	ram->blocks = NULL;
	ram->nblocks = 0;
	ram->cap = 0;
}

static void block_free(struct rmig_ramblock *b)
{
	if (b->owned && b->host)
		munmap(b->host, b->length);
	free((void *)b->dirty_log);
	free(b->bitmap);
	free(b);
}

void rmig_ram_fini(struct rmig_ram *ram)
{
	rmig_ram_truncate(ram, 0);
	free(ram->blocks);
	rmig_ram_init(ram);
}

void rmig_ram_truncate(struct rmig_ram *ram, uint32_t nblocks)
{
	while (ram->nblocks > nblocks)
		block_free(ram->blocks[--ram->nblocks]);
}

struct rmig_ram *rmig_ram_new(void)
{
	struct rmig_ram *ram = malloc(sizeof(*ram));

	if (ram)
		rmig_ram_init(ram);
	return ram;
}

void rmig_ram_free(struct rmig_ram *ram)
{
	if (!ram)
		return;
	rmig_ram_fini(ram);
	free(ram);
}

uint32_t rmig_ram_get_nblocks(const struct rmig_ram *ram)
{
	return ram->nblocks;
}

struct rmig_ramblock *rmig_ram_get_block(const struct rmig_ram *ram, uint32_t index)
{
	return index < ram->nblocks ? ram->blocks[index] : NULL;
}

const char *rmig_ramblock_get_name(const struct rmig_ramblock *b)
{
	return b->name;
}

void *rmig_ramblock_get_host(const struct rmig_ramblock *b)
{
	return b->host;
}

uint64_t rmig_ramblock_get_length(const struct rmig_ramblock *b)
{
	return b->length;
}

uint32_t rmig_ramblock_get_page_size(const struct rmig_ramblock *b)
{
	return b->page_size;
}

uint32_t rmig_ramblock_get_index(const struct rmig_ramblock *b)
{
	return b->index;
}

struct rmig_ramblock *rmig_ram_find(const struct rmig_ram *ram, const char *name)
{
	for (uint32_t i = 0; i < ram->nblocks; i++)
		if (strcmp(ram->blocks[i]->name, name) == 0)
			return ram->blocks[i];
	return NULL;
}

/*
 * Everything that can be checked before memory is committed, so that
 * rmig_ram_alloc() does not map a GiB only to reject the name.
 */
static int ram_validate(const struct rmig_ram *ram, const char *name, uint64_t length,
			uint32_t page_size)
{
	size_t len;

	if (!name) {
		rmig_error("RAM block without a name");
		return -EINVAL;
	}
	len = strnlen(name, RMIG_BLOCK_NAME_MAX);
	if (len == 0) {
		rmig_error("RAM block name is empty");
		return -EINVAL;
	}
	if (len >= RMIG_BLOCK_NAME_MAX) {
		rmig_error("RAM block name '%.40s...' is longer than %d bytes", name,
			   RMIG_BLOCK_NAME_MAX - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		/* The name travels in the stream and in logs: keep it printable ASCII. */
		if (c < 0x20 || c > 0x7e) {
			rmig_error("RAM block name has a non-printable byte 0x%02x at position %zu",
				   c, i);
			return -EINVAL;
		}
	}
	if (rmig_ram_find(ram, name)) {
		rmig_error("RAM block '%s' is already registered", name);
		return -EEXIST;
	}
	if (ram->nblocks >= RMIG_RAM_MAX_BLOCKS) {
		rmig_error("RAM block '%s': too many blocks (at most %d)", name,
			   RMIG_RAM_MAX_BLOCKS);
		return -E2BIG;
	}
	if (!RMIG_IS_POW2(page_size) || page_size < RMIG_PAGE_SIZE_MIN ||
	    page_size > RMIG_PAGE_SIZE_MAX) {
		rmig_error("RAM block '%s': page size %" PRIu32
			   " is not a power of two between %d and %u bytes",
			   name, page_size, RMIG_PAGE_SIZE_MIN, RMIG_PAGE_SIZE_MAX);
		return -EINVAL;
	}
	if (length == 0 || length % page_size != 0) {
		rmig_error("RAM block '%s': length %" PRIu64
			   " is not a multiple of the %" PRIu32 "-byte page size",
			   name, length, page_size);
		return -EINVAL;
	}
	if (length > SIZE_MAX / 2) {
		rmig_error("RAM block '%s': length %" PRIu64 " is larger than this host can map",
			   name, length);
		return -EINVAL;
	}
	return 0;
}

/* Grows the block array so that one more block fits. */
static int ram_reserve(struct rmig_ram *ram)
{
	struct rmig_ramblock **nb;
	uint32_t ncap;

	if (ram->nblocks < ram->cap)
		return 0;
	ncap = ram->cap ? ram->cap * 2 : 8;
	if (ncap > RMIG_RAM_MAX_BLOCKS)
		ncap = RMIG_RAM_MAX_BLOCKS;
	nb = realloc(ram->blocks, ncap * sizeof(*nb));
	if (!nb) {
		rmig_error("out of memory growing the RAM block table to %" PRIu32 " entries",
			   ncap);
		return -ENOMEM;
	}
	ram->blocks = nb;
	ram->cap = ncap;
	return 0;
}

/* Called after ram_validate(); only allocation can fail here. */
static int ram_insert(struct rmig_ram *ram, const char *name, void *host, uint64_t length,
		      uint32_t page_size, bool owned, struct rmig_ramblock **out)
{
	struct rmig_ramblock *b;
	uint64_t nwords;
	int ret;

	ret = ram_reserve(ram);
	if (ret < 0)
		return ret;
	b = calloc(1, sizeof(*b));
	if (!b)
		goto report_oom;
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->host = host;
	b->length = length;
	b->page_size = page_size;
	b->page_shift = (uint32_t)__builtin_ctz(page_size);
	b->npages = length >> b->page_shift;
	b->index = ram->nblocks;
	nwords = bitmap_words(b->npages);
	b->dirty_log = calloc(nwords, sizeof(*b->dirty_log));
	if (!b->dirty_log)
		goto err_free_block;
	b->bitmap = calloc(nwords, sizeof(*b->bitmap));
	if (!b->bitmap)
		goto err_free_log;
	/* Set last: a failed add must not leave an owned mapping for the caller to unmap twice. */
	b->owned = owned;
	ram->blocks[ram->nblocks++] = b;
	if (out)
		*out = b;
	return 0;

err_free_log:
	free((void *)b->dirty_log);
err_free_block:
	free(b);
report_oom:
	rmig_error("RAM block '%s': out of memory for its dirty bitmaps", name);
	return -ENOMEM;
}

int rmig_ram_add(struct rmig_ram *ram, const char *name, void *host, uint64_t length,
		 uint32_t page_size, struct rmig_ramblock **out)
{
	int ret;

	ret = ram_validate(ram, name, length, page_size);
	if (ret < 0)
		return ret;
	if (!host) {
		rmig_error("RAM block '%s': no memory given (host address is NULL)", name);
		return -EINVAL;
	}
	return ram_insert(ram, name, host, length, page_size, false, out);
}

int rmig_ram_alloc(struct rmig_ram *ram, const char *name, uint64_t length, uint32_t page_size,
		   struct rmig_ramblock **out)
{
	char what[RMIG_BLOCK_NAME_MAX + 16];
	void *host;
	int ret;

	ret = ram_validate(ram, name, length, page_size);
	if (ret < 0)
		return ret;
	snprintf(what, sizeof(what), "RAM block '%s'", name);
	host = rmig_mem_map(length, what);
	if (!host)
		return -ENOMEM;
	/*
	 * No MADV_HUGEPAGE: measured on the development hosts, first-touch of
	 * 1 GiB took 1.6-2.5 s with 4 KiB pages and 3-7 s with THP (zeroing
	 * and compaction of 2 MiB pages); revisit with numbers from real hosts.
	 */
	ret = ram_insert(ram, name, host, length, page_size, true, out);
	if (ret < 0)
		goto err_unmap;
	return 0;

err_unmap:
	munmap(host, length);
	return ret;
}

uint64_t rmig_ram_get_total_bytes(const struct rmig_ram *ram)
{
	uint64_t total = 0;

	for (uint32_t i = 0; i < ram->nblocks; i++)
		total += ram->blocks[i]->length;
	return total;
}

/*
 * Release ordering pairs with the acquire exchange in rmig_ram_sync(): a
 * migration thread that sees the bit also sees the page contents written
 * before it was set.  On x86 this is the same locked OR as relaxed; on
 * weakly ordered CPUs relaxed could let the sender copy stale data and then
 * forget the page.
 */
void rmig_ram_mark_dirty(struct rmig_ramblock *b, uint64_t offset, uint64_t len)
{
	uint64_t end, first, last, w, lw;

	if (len == 0 || offset >= b->length)
		return;
	end = len > b->length - offset ? b->length : offset + len;
	first = offset >> b->page_shift;
	last = (end - 1) >> b->page_shift;
	w = first / BPL;
	lw = last / BPL;
	if (w == lw) {
		atomic_fetch_or_explicit(&b->dirty_log[w],
					 word_mask(first % BPL, (unsigned)(last % BPL) + 1),
					 memory_order_release);
		return;
	}
	atomic_fetch_or_explicit(&b->dirty_log[w], word_mask(first % BPL, BPL),
				 memory_order_release);
	/*
	 * A read-modify-write, not a store: a store would break the release
	 * sequence of another writer's fetch_or on the same word, and sync's
	 * acquire would no longer make that writer's data visible.
	 */
	for (w++; w < lw; w++)
		atomic_fetch_or_explicit(&b->dirty_log[w], ~0UL, memory_order_release);
	atomic_fetch_or_explicit(&b->dirty_log[lw], word_mask(0, (unsigned)(last % BPL) + 1),
				 memory_order_release);
}

/* Keeps the bits past npages clear: next_run and the counts rely on it. */
static void block_bitmap_set_all(struct rmig_ramblock *b)
{
	uint64_t nwords = bitmap_words(b->npages);
	unsigned tail = (unsigned)(b->npages % BPL);

	for (uint64_t i = 0; i < nwords; i++)
		b->bitmap[i] = ~0UL;
	if (tail)
		b->bitmap[nwords - 1] = word_mask(0, tail);
}

void rmig_ram_bitmap_set_all(struct rmig_ram *ram)
{
	for (uint32_t i = 0; i < ram->nblocks; i++)
		block_bitmap_set_all(ram->blocks[i]);
}

void rmig_ram_dirty_log_clear(struct rmig_ram *ram)
{
	for (uint32_t i = 0; i < ram->nblocks; i++) {
		struct rmig_ramblock *b = ram->blocks[i];
		uint64_t nwords = bitmap_words(b->npages);

		/*
		 * Acquire, as sync's exchange: the bulk round's reads of the pages
		 * must not move before the clear, or a write landing between them
		 * and the clear would lose its bit and never be sent again.
		 */
		for (uint64_t w = 0; w < nwords; w++)
			atomic_exchange_explicit(&b->dirty_log[w], 0, memory_order_acquire);
	}
}

uint64_t rmig_ram_sync(struct rmig_ram *ram)
{
	uint64_t moved = 0;

	for (uint32_t i = 0; i < ram->nblocks; i++) {
		struct rmig_ramblock *b = ram->blocks[i];
		uint64_t nwords = bitmap_words(b->npages);

		for (uint64_t w = 0; w < nwords; w++) {
			unsigned long v;

			/*
			 * Peek first: most words are clean, and a plain load does
			 * not steal the cache line from writers the way a locked
			 * exchange does.  A bit set just after the peek is taken by
			 * the next sync.
			 */
			if (!atomic_load_explicit(&b->dirty_log[w], memory_order_relaxed))
				continue;
			v = atomic_exchange_explicit(&b->dirty_log[w], 0, memory_order_acquire);
			b->bitmap[w] |= v;
			moved += (uint64_t)__builtin_popcountl(v);
		}
	}
	return moved;
}

static uint64_t block_bitmap_count(const struct rmig_ramblock *b)
{
	uint64_t nwords = bitmap_words(b->npages);
	uint64_t n = 0;

	for (uint64_t w = 0; w < nwords; w++)
		n += (uint64_t)__builtin_popcountl(b->bitmap[w]);
	return n;
}

uint64_t rmig_ram_bitmap_count(const struct rmig_ram *ram)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < ram->nblocks; i++)
		n += block_bitmap_count(ram->blocks[i]);
	return n;
}

uint64_t rmig_ram_bitmap_bytes(const struct rmig_ram *ram)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < ram->nblocks; i++)
		n += block_bitmap_count(ram->blocks[i]) << ram->blocks[i]->page_shift;
	return n;
}

/*
 * Word at a time in both phases: skip clean words to find the first set
 * bit, then skip full words to find the first clear one.  A sparse 1 GiB
 * bitmap of 4 KiB pages is 4096 words, not 262144 bit tests.
 * max_pages == 0 means no limit.
 */
uint64_t rmig_ramblock_find_next_run(const struct rmig_ramblock *b, uint64_t start, uint64_t max_pages,
				uint64_t *npages)
{
	uint64_t nwords = bitmap_words(b->npages);
	uint64_t w, first, limit, end;
	unsigned long word;

	if (start >= b->npages)
		goto none;
	w = start / BPL;
	word = b->bitmap[w] & (~0UL << (start % BPL));
	while (!word) {
		if (++w >= nwords)
			goto none;
		word = b->bitmap[w];
	}
	first = w * BPL + (uint64_t)__builtin_ctzl(word);
	if (first >= b->npages)
		goto none;

	limit = (max_pages == 0 || max_pages > b->npages - first) ? b->npages : first + max_pages;
	word = ~b->bitmap[w] & (~0UL << (first % BPL));
	while (!word && (w + 1) * BPL < limit)
		word = ~b->bitmap[++w];
	end = word ? w * BPL + (uint64_t)__builtin_ctzl(word) : (w + 1) * BPL;
	if (end > limit)
		end = limit;
	*npages = end - first;
	return first;

none:
	*npages = 0;
	return b->npages;
}

void rmig_ramblock_clear_pages(struct rmig_ramblock *b, uint64_t page, uint64_t npages)
{
	uint64_t end, w, lw;

	if (page >= b->npages || npages == 0)
		return;
	end = npages > b->npages - page ? b->npages : page + npages;
	w = page / BPL;
	lw = (end - 1) / BPL;
	if (w == lw) {
		b->bitmap[w] &= ~word_mask(page % BPL, (unsigned)((end - 1) % BPL) + 1);
		return;
	}
	b->bitmap[w] &= ~word_mask(page % BPL, BPL);
	for (w++; w < lw; w++)
		b->bitmap[w] = 0;
	b->bitmap[lw] &= ~word_mask(0, (unsigned)((end - 1) % BPL) + 1);
}

bool rmig_ramblock_test_page(const struct rmig_ramblock *b, uint64_t page)
{
	if (page >= b->npages)
		return false;
	return (b->bitmap[page / BPL] >> (page % BPL)) & 1;
}
