/* SPDX-License-Identifier: MIT */
/*
 * RAM blocks and dirty tracking: what an embedder hands rmig.
 *
 * An embedder's memory is a set of named blocks (QEMU calls them
 * RAMBlocks: "pc.ram", "vga.vram", ...).  Block lengths are whole pages;
 * page sizes are powers of two from 512 B to 1 GiB.  Block indexes are
 * dense (0..n-1) in the order added; the stream and the RDMA protocol refer
 * to blocks by that index.
 *
 * Both handles are opaque.  A struct rmig_ram is not thread-safe while
 * blocks are added; once a migration runs only rmig_ram_mark_dirty() may
 * be called on it, from any thread.
 */
#ifndef RMIG_PUBLIC_RAM_H
#define RMIG_PUBLIC_RAM_H

#include <stdint.h>

#include <rmig/defs.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RMIG_BLOCK_NAME_MAX 256	 /* including the NUL, as QEMU's idstr */
#define RMIG_RAM_MAX_BLOCKS 1024
#define RMIG_PAGE_SIZE_MIN 512u
#define RMIG_PAGE_SIZE_MAX (1u << 30)

struct rmig_ram;
struct rmig_ramblock;

/* NULL on ENOMEM. */
RMIG_API struct rmig_ram *rmig_ram_new(void);
/* Frees every block; memory rmig mapped itself (rmig_ram_alloc) is unmapped. */
RMIG_API void rmig_ram_free(struct rmig_ram *ram);

/*
 * Register embedder memory.  Validates the name (1..255 bytes, printable,
 * unique), page size and length.  Returns 0 or -EINVAL/-EEXIST/-ENOMEM/
 * -E2BIG (too many blocks), reported with rmig_error(); @out may be NULL.
 */
RMIG_API int rmig_ram_add(struct rmig_ram *ram, const char *name, void *host, uint64_t length,
			  uint32_t page_size, struct rmig_ramblock **out);

/*
 * As rmig_ram_add(), but rmig maps zero-filled anonymous memory for the
 * block (what a destination without memory of its own uses).
 */
RMIG_API int rmig_ram_alloc(struct rmig_ram *ram, const char *name, uint64_t length,
			    uint32_t page_size, struct rmig_ramblock **out);

RMIG_API struct rmig_ramblock *rmig_ram_find(const struct rmig_ram *ram, const char *name);
RMIG_API uint32_t rmig_ram_get_nblocks(const struct rmig_ram *ram);
/* NULL past the end. */
RMIG_API struct rmig_ramblock *rmig_ram_get_block(const struct rmig_ram *ram, uint32_t index);
RMIG_API uint64_t rmig_ram_get_total_bytes(const struct rmig_ram *ram);

/*
 * Embedder side: pages overlapping [offset, offset+len) were written.
 * Lock-free, any thread.  Out-of-range parts are ignored.  Call it after
 * the write, never before: a page marked first may be sent (and its bit
 * cleared) before the data lands, and then never again.  The mark is a
 * release, so a migration that sees it also sees the data.
 */
RMIG_API void rmig_ram_mark_dirty(struct rmig_ramblock *b, uint64_t offset, uint64_t len);

RMIG_API const char *rmig_ramblock_get_name(const struct rmig_ramblock *b);
RMIG_API void *rmig_ramblock_get_host(const struct rmig_ramblock *b);
RMIG_API uint64_t rmig_ramblock_get_length(const struct rmig_ramblock *b);
RMIG_API uint32_t rmig_ramblock_get_page_size(const struct rmig_ramblock *b);
RMIG_API uint32_t rmig_ramblock_get_index(const struct rmig_ramblock *b);

/*
 * Transport side, from a RAM hook on the migration thread only: the next
 * run of pages still to send in @b at or after page @start, at most
 * @max_pages long.  Returns the run's first page and stores its length in
 * *@npages; returns the block's page count (and *npages = 0) when none.
 */
RMIG_API uint64_t rmig_ramblock_find_next_run(const struct rmig_ramblock *b, uint64_t start,
					 uint64_t max_pages, uint64_t *npages);

#ifdef __cplusplus
}
#endif

#endif /* RMIG_PUBLIC_RAM_H */
