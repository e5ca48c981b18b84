/* SPDX-License-Identifier: MIT */
/* Byte sizes as people write and read them. */
#ifndef RMIG_SIZE_H
#define RMIG_SIZE_H

#include <stdint.h>

/*
 * Parse a byte size: a decimal number with an optional binary suffix
 * K, M, G, T (also KiB/MiB/GiB/TiB, case-insensitive), e.g. "1G", "512M",
 * "4096", "1.5G".  Rejects empty strings, junk, negative numbers and
 * overflow.  Returns 0 or -EINVAL/-ERANGE; @out is set only on success.
 */
int rmig_size_parse(const char *s, uint64_t *out);

/* Format a size for humans: "1.00 GiB", "512.0 MiB", "4096 B". */
const char *rmig_size_format(uint64_t bytes, char *buf, unsigned len);

#endif /* RMIG_SIZE_H */
