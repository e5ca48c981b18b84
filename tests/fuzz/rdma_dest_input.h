/* SPDX-License-Identifier: MIT */
/*
 * The input of fuzz_rdma_dest, shared with gen_seeds so that its seeds
 * name real blocks, addresses and chunks for as long as both agree.
 *
 * An input is one connection, as a source would drive it:
 *
 *   byte 0   what the source offers at connect (FUZZ_DEST_OFFER_*)
 *   byte 1   bits 0-2: the device's max_mr_size (fuzz_dest_max_mr);
 *            bits 3-4: how many of the RAM blocks exist (fuzz_dest_nblocks);
 *            bit 5 (FUZZ_DEST_KEYED): the destination requires --auth-key,
 *            and the source offers AUTH; it cannot know the key, so the
 *            run stays in the untrusted exchange (rdma/ctrl.h);
 *            bit 6 (FUZZ_DEST_STREAM): the source offers PIN_STREAM too
 *   byte 2   the n-th registration of RAM fails with ENOMEM (0: none)
 *   then     records, each one control message the source sends:
 *              ctl (FUZZ_DEST_*), length (16 bits, big-endian), the bytes;
 *            a record cut short by the end of the input is sent as it is.
 *
 * The destination gets the next record whenever it waits for the peer, so
 * a run of well-formed records follows its flow control; FUZZ_DEST_NOWAIT
 * sends a record at once, behind the previous one.  When the records run
 * out the source disconnects.
 */
#ifndef RMIG_FUZZ_RDMA_DEST_INPUT_H
#define RMIG_FUZZ_RDMA_DEST_INPUT_H

#include <stdint.h>

#define FUZZ_DEST_MiB	    (1024ull * 1024)
#define FUZZ_DEST_HDR	    3
#define FUZZ_DEST_REC_HDR   3
#define FUZZ_DEST_PAGE_SIZE 4096

/* Byte 0.  The flags map onto the wire's, so every combination is reachable. */
#define FUZZ_DEST_OFFER_PIN_ALL	     0x01
#define FUZZ_DEST_OFFER_CREDITS	     0x02
#define FUZZ_DEST_OFFER_REG_BATCH    0x04
#define FUZZ_DEST_OFFER_PIN_SEGMENTS 0x08
#define FUZZ_DEST_OFFER_KEEPALIVE    0x10
#define FUZZ_DEST_OFFER_UNKNOWN	     0x20 /* flags nobody knows, to be masked off */
#define FUZZ_DEST_OFFER_BAD_VERSION  0x40 /* version 2: refused */
#define FUZZ_DEST_OFFER_NO_PDATA     0x80 /* no private data: refused */

/* Byte 1. */
#define FUZZ_DEST_KEYED	 0x20
#define FUZZ_DEST_STREAM 0x40 /* offer PIN_STREAM too (byte 0 has no bit left) */

/* Record ctl. */
#define FUZZ_DEST_FIX_LEN 0x01 /* header len := the bytes after the header */
/* The bytes after the header, repeated up to the header's len (at most one message). */
#define FUZZ_DEST_CYCLE	 0x02
#define FUZZ_DEST_NOWAIT 0x04 /* with the previous record, not when the destination waits */
/*
 * Not a message: the oldest RECV completes with an error, the status in
 * the record's first byte (a flush when it would say success).
 */
#define FUZZ_DEST_WC_ERROR 0x08

#define FUZZ_DEST_NBLOCKS 3

/* Odd sizes: a ragged last chunk, a half chunk, less than a chunk. */
static const uint64_t fuzz_dest_block_len[FUZZ_DEST_NBLOCKS] = {
    3 * FUZZ_DEST_MiB + 4096,
    FUZZ_DEST_MiB + 512 * 1024,
    12 * 1024,
};

/* Byte 1, bits 3-4: blocks 0..n-1 exist; none at all is a case too. */
static const uint32_t fuzz_dest_nblocks[4] = {3, 1, 2, 0};

/*
 * Byte 1, bits 0-2: what the device says its max_mr_size is (0: the
 * verbs default, no limit).  Below a chunk, odd, and several segments
 * per block, so pin-all splits its blocks in every way.
 */
static const uint64_t fuzz_dest_max_mr[8] = {
    0,
    FUZZ_DEST_MiB,
    2 * FUZZ_DEST_MiB,
    3 * FUZZ_DEST_MiB,
    4096,
    FUZZ_DEST_MiB + 1,
    2 * FUZZ_DEST_MiB - 1,
    UINT64_MAX,
};

#endif /* RMIG_FUZZ_RDMA_DEST_INPUT_H */
