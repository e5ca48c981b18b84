/* SPDX-License-Identifier: MIT */
/*
 * Checksums for the "verify" capability: one 64-bit value per RAM block,
 * computed by both sides once the guest is stopped, compared at the end of
 * the stream.  Not cryptographic: it catches a page lost, misplaced or
 * corrupted by rmig or the fabric, not a malicious peer (which controls the
 * data anyway).  Fast enough to hash a GiB in a fraction of the downtime.
 */
#ifndef RMIG_CHECKSUM_H
#define RMIG_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* Same result for the same bytes on every host; @seed 0 is fine. */
uint64_t rmig_checksum(const void *buf, size_t len, uint64_t seed);

#endif /* RMIG_CHECKSUM_H */
