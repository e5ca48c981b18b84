/* SPDX-License-Identifier: MIT */
/*
 * RAM blocks and dirty tracking: the layout behind the opaque handles of
 * <rmig/ram.h>, for rmig's own layers.
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

#include <rmig/ram.h>

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
 * Forget the blocks from index @nblocks on, as if they had never been
 * added (owned memory is unmapped).  Lets an embedder that registers
 * several blocks undo its own adds when a later step fails.
 */
void rmig_ram_truncate(struct rmig_ram *ram, uint32_t nblocks);




/* Migration side. */
void rmig_ram_bitmap_set_all(struct rmig_ram *ram);   /* bulk round: everything */
void rmig_ram_dirty_log_clear(struct rmig_ram *ram);  /* forget logged writes */
/* Move the dirty log into the bitmaps; returns the number of logged pages moved. */
uint64_t rmig_ram_sync(struct rmig_ram *ram);
/* Pages currently set in all bitmaps. */
uint64_t rmig_ram_bitmap_count(const struct rmig_ram *ram);
/* Bytes currently set in all bitmaps (pages x their page size). */
uint64_t rmig_ram_bitmap_bytes(const struct rmig_ram *ram);

void rmig_ramblock_clear_pages(struct rmig_ramblock *b, uint64_t page, uint64_t npages);
bool rmig_ramblock_test_page(const struct rmig_ramblock *b, uint64_t page);

#endif /* RMIG_RAM_H */
