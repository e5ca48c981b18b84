/* SPDX-License-Identifier: MIT */
/*
 * Zero-page detection.  Called on every page the source sends, so it is
 * vectorised (SSE2 baseline, AVX2 when the CPU has it, picked once at
 * start-up) and bails out at the first non-zero vector: random pages cost a
 * few instructions, zero pages cost one pass at memory bandwidth.
 */
#ifndef RMIG_ZERO_H
#define RMIG_ZERO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True if all @len bytes at @buf are zero.  Any alignment, any length. */
bool rmig_buffer_is_zero(const void *buf, size_t len);

/* The portable byte-wise reference, for tests and the benchmark. */
bool rmig_buffer_is_zero_scalar(const void *buf, size_t len);

/* Name of the implementation picked at start-up ("avx2", "sse2"). */
const char *rmig_buffer_is_zero_impl(void);

/*
 * How many of the @npages pages of @page_size bytes at @pages, from the
 * first, are of the first one's kind (all zero, or not); *@zero tells which
 * kind.  Returns 0 only when @npages is 0.  Senders cut a dirty run with it
 * so zero pages travel as a range and only the others as data.
 */
uint64_t rmig_zero_run_split(const void *pages, size_t page_size, uint64_t npages, bool *zero);

/*
 * The destination's side of a ZERO record: clear only the pages that are
 * not zero already.  Reading untouched anonymous memory maps the kernel's
 * shared zero page, so a fresh destination allocates nothing for the zero
 * pages of a mostly-empty guest, where a memset would allocate them all.
 */
void rmig_zero_pages_apply(uint8_t *pages, size_t page_size, uint64_t npages);

/*
 * The same for a byte range of any alignment and length (rdma: COMPRESS
 * with value 0): every piece up to a 4 KiB address boundary is cleared
 * only if it is not zero already.
 */
void rmig_zero_fill(void *buf, size_t len);

#endif /* RMIG_ZERO_H */
