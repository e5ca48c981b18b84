/* SPDX-License-Identifier: MIT */
/*
 * RAM blocks and dirty tracking.
 *
 * An embedder hands rmig its memory as named blocks (QEMU calls them
 * RAMBlocks: "pc.ram", "vga.vram", ...).  Each block carries two bitmaps of
 * one bit per page:
 *
 *  - dirty_log: written by the embedder, from any thread, through
 *    rmig_ram_mark_dirty().  Atomic OR, so writers never take a lock.
 *  - bitmap: the migration thread's own "still to send" set.  Only the
 *    migration thread touches it.
 *
 * rmig_ram_sync() moves the log into the bitmap word by word with an
 * atomic exchange, which is the single point where a write the guest made
 * becomes work for the next round.  A page dirtied after its word was
 * exchanged lands in the next sync, never nowhere.
 *
 * Block lengths are whole pages; page sizes are powers of two from 512 B to
 * 1 GiB.  Block indexes are dense (0..nblocks-1) in the order added, and the
 * stream and the RDMA protocol refer to blocks by that index.
 */
#ifndef RMIG_RAM_H
#define RMIG_RAM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RMIG_BLOCK_NAME_MAX 256	 /* including the NUL, as QEMU's idstr */
#define RMIG_RAM_MAX_BLOCKS 1024
#define RMIG_PAGE_SIZE_MIN 512u
#define RMIG_PAGE_SIZE_MAX (1u << 30)
#define RMIG_BITS_PER_LONG (8 * sizeof(unsigned long))

struct rmig_ramblock {
	char name[RMIG_BLOCK_NAME_MAX];
	uint8_t *host;
	uint64_t length; /* bytes, a multiple of page_size */
	uint32_t page_size;
	uint32_t page_shift;
	uint64_t npages;
	uint32_t index;
	bool owned; /* host was mmap'd by rmig_ram_alloc() and is unmapped at fini */
	_Atomic unsigned long *dirty_log;
	unsigned long *bitmap;
};

struct rmig_ram {
	struct rmig_ramblock **blocks;
	uint32_t nblocks;
	uint32_t cap;
};

void rmig_ram_init(struct rmig_ram *ram);
/* Frees bitmaps and block structs, and unmaps owned memory. */
void rmig_ram_fini(struct rmig_ram *ram);

/*
 * Register embedder memory.  Validates the name (1..255 bytes, printable,
 * unique), page size and length.  Returns 0 or -EINVAL/-EEXIST/-ENOMEM/
 * -E2BIG (too many blocks), reported with rmig_error(); @out may be NULL.
 */
int rmig_ram_add(struct rmig_ram *ram, const char *name, void *host, uint64_t length,
		 uint32_t page_size, struct rmig_ramblock **out);

/*
 * As rmig_ram_add(), but rmig maps zero-filled anonymous memory for the
 * block (used by the destination).  -ENOMEM is reported with the size that
 * could not be mapped.
 */
int rmig_ram_alloc(struct rmig_ram *ram, const char *name, uint64_t length, uint32_t page_size,
		   struct rmig_ramblock **out);

/*
 * Forget the blocks from index @nblocks on, as if they had never been
 * added (owned memory is unmapped).  Lets an embedder that registers
 * several blocks undo its own adds when a later step fails.
 */
void rmig_ram_truncate(struct rmig_ram *ram, uint32_t nblocks);

struct rmig_ramblock *rmig_ram_find(const struct rmig_ram *ram, const char *name);
static inline struct rmig_ramblock *rmig_ram_block(const struct rmig_ram *ram, uint32_t index)
{
	return index < ram->nblocks ? ram->blocks[index] : NULL;
}

uint64_t rmig_ram_total_bytes(const struct rmig_ram *ram);

/*
 * Memory the kernel says it can give us without swapping (MemAvailable),
 * in bytes; UINT64_MAX when it cannot be read.  Checked before mapping RAM
 * that will be filled, so a too-large request fails with a message instead
 * of summoning the OOM killer half-way through a migration.
 */
uint64_t rmig_mem_available(void);

/*
 * Embedder side: pages overlapping [offset, offset+len) were written.
 * Lock-free, any thread.  Out-of-range parts are ignored.
 */
void rmig_ram_mark_dirty(struct rmig_ramblock *b, uint64_t offset, uint64_t len);

/* Migration side. */
void rmig_ram_bitmap_set_all(struct rmig_ram *ram);   /* bulk round: everything */
void rmig_ram_dirty_log_clear(struct rmig_ram *ram);  /* forget logged writes */
/* Move the dirty log into the bitmaps; returns the number of logged pages moved. */
uint64_t rmig_ram_sync(struct rmig_ram *ram);
/* Pages currently set in all bitmaps. */
uint64_t rmig_ram_bitmap_count(const struct rmig_ram *ram);
/* Bytes currently set in all bitmaps (pages x their page size). */
uint64_t rmig_ram_bitmap_bytes(const struct rmig_ram *ram);

/*
 * Find the next run of set pages in @b's bitmap at or after @start, at most
 * @max_pages long.  Returns the run's first page and stores its length in
 * *@npages; returns b->npages (and *npages = 0) when there is none.
 */
uint64_t rmig_ramblock_next_run(const struct rmig_ramblock *b, uint64_t start, uint64_t max_pages,
				uint64_t *npages);
void rmig_ramblock_clear_pages(struct rmig_ramblock *b, uint64_t page, uint64_t npages);
bool rmig_ramblock_test_page(const struct rmig_ramblock *b, uint64_t page);

#endif /* RMIG_RAM_H */
