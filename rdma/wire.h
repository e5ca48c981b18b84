/* SPDX-License-Identifier: MIT */
/*
 * The RDMA migration wire protocol, version 1 (QEMU-compatible), and rmig's
 * capability-flag extensions.  docs/rdma.txt is the prose description.
 *
 * This file and rdma/wire.c are pure: encoding, decoding and validation of
 * bytes, no verbs.  Every decoder treats its input as hostile and checks
 * lengths and counts before it reads a field; rdma/validate.h checks
 * indexes, offsets and keys against RAM before anything acts on them.
 *
 * C structs here are host-order views.  Only the *_encode/_decode functions
 * know the wire layout, which is big-endian throughout.
 *
 * Address spaces (the part that is easy to get wrong):
 *  - Each side has a "RAM space": block i occupies [base_i, base_i + len_i).
 *    QEMU uses its ram_addr_t offsets (with gaps); rmig uses the sum of the
 *    lengths of the earlier blocks.  The destination announces its bases in
 *    RAM_BLOCKS_RESULT.offset, and the source must translate into the
 *    *destination's* space before it sends an address.
 *  - COMPRESS.offset and REGISTER_REQUEST.key are destination RAM-space
 *    addresses (base + offset in block), not block-relative offsets.
 *  - UNREGISTER_REQUEST.key is a chunk index relative to the block start.
 *  - REGISTER_RESULT.host_addr and RAM_BLOCKS_RESULT.remote_host_addr are
 *    the destination's virtual address of the *block start*; the WRITE's
 *    remote address is that plus the offset in the block.
 */
#ifndef RMIG_RDMA_WIRE_H
#define RMIG_RDMA_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- connection private data: {u32 version, u32 flags} --- */
#define RMIG_RDMA_VERSION   1
#define RMIG_RDMA_CAPS_SIZE 8

#define RMIG_RDMA_CAP_PIN_ALL 0x00000001u /* QEMU v1: register all RAM up front */
/*
 * rmig extensions live in the high half, far from any flag QEMU may add.
 * A QEMU destination answers requested & its known flags, so it never
 * grants these and the connection runs plain v1.
 */
/* More than one control message in flight; READY.repeat grants credits. */
#define RMIG_RDMA_CAP_CREDITS 0x00010000u
/*
 * REGISTER_REQUEST / COMPRESS with repeat > 1, and REGISTER_RESULT with
 * len == 16 * repeat.  Needed because a QEMU destination answers a batched
 * request with len = 16 whatever the repeat, so batching is unsafe with it.
 */
#define RMIG_RDMA_CAP_REG_BATCH 0x00020000u
/*
 * Pin-all with blocks split into several memory regions on the
 * destination: SEGMENTS_REQUEST / SEGMENTS_RESULT after RAM_BLOCKS_RESULT
 * carry every region's rkey, which v1's one rkey per block cannot.
 * Meaningless without PIN_ALL, so it is never granted or kept without it.
 */
#define RMIG_RDMA_CAP_PIN_SEGMENTS 0x00040000u
/*
 * KEEPALIVE messages: each side sends one whenever it has sent nothing
 * for a while, so that silence means a frozen, gone or unreachable peer
 * and waits can end within peer-timeout (docs/rdma.txt section 16).
 * Without it the peer may be silent for as long as it works.
 */
#define RMIG_RDMA_CAP_KEEPALIVE 0x00080000u
/*
 * AUTH_CHALLENGE / AUTH_RESPONSE / AUTH_PROOF right after the connection
 * is up and before anything else: each side proves it holds the shared
 * --auth-key (rdma/authkey.h).  Offered only by a side that has a key; a
 * side with a key refuses a peer that does not grant it.
 */
#define RMIG_RDMA_CAP_AUTH 0x00100000u
/*
 * Data lanes (the multifd capability over rdma:): after the connection is
 * up, CHANNELS_REQUEST / CHANNELS_RESULT connect extra queue pairs on the
 * same device that carry only the source's RDMA WRITEs, each chunk always
 * on the same lane (docs/rdma.txt section 18).  Offered by a source only
 * when it was asked for more than one channel.
 */
#define RMIG_RDMA_CAP_CHANNELS 0x00200000u
/*
 * Pin-all whose destination pins during the rounds, not in SETUP: its
 * RAM_BLOCKS_RESULT carries no keys, and each SEGMENTS_REQUEST asks it to
 * pin its next region (blocks in order, regions adjacent, from offset 0)
 * and answer with that one region in SEGMENTS_RESULT.  The source keeps a
 * request ahead of its writes, so pinning overlaps the bulk round instead
 * of lengthening setup (docs/rdma.txt section 19).  Meaningless without
 * PIN_ALL and PIN_SEGMENTS, so never granted or kept without both.
 */
#define RMIG_RDMA_CAP_PIN_STREAM 0x00400000u
/*
 * Reserved for rails (docs/proposals/rails.md): lanes spread over several
 * address pairs, each rail r >= 1 joined with its own connection.  Only the
 * wire layer exists (rdma/rails.h), so this flag is deliberately NOT in
 * RMIG_RDMA_CAPS_KNOWN: it is never offered, never granted (negotiate and
 * accept mask it off), and RAILS_REQUEST / RAILS_RESULT stay unknown types
 * to the header decoder until rails are built.
 */
#define RMIG_RDMA_CAP_RAILS 0x00800000u
#define RMIG_RDMA_CAPS_KNOWN                                                                       \
	(RMIG_RDMA_CAP_PIN_ALL | RMIG_RDMA_CAP_CREDITS | RMIG_RDMA_CAP_REG_BATCH |                 \
	 RMIG_RDMA_CAP_PIN_SEGMENTS | RMIG_RDMA_CAP_KEEPALIVE | RMIG_RDMA_CAP_AUTH |               \
	 RMIG_RDMA_CAP_CHANNELS | RMIG_RDMA_CAP_PIN_STREAM)

struct rmig_rdma_caps {
	uint32_t version;
	uint32_t flags;
};

void rmig_rdma_caps_encode(const struct rmig_rdma_caps *caps, uint8_t out[RMIG_RDMA_CAPS_SIZE]);
/*
 * -EPROTO on short (or NULL) private data.  Longer data is fine: the IB CM
 * pads private data to its own fixed size with zeros.  Does not judge the
 * version; see negotiate/accept.
 */
int rmig_rdma_caps_decode(const void *buf, size_t len, struct rmig_rdma_caps *caps);

/*
 * Destination side of the capability exchange: accept versions
 * 1..RMIG_RDMA_VERSION (else -EPROTONOSUPPORT), answer with the accepted
 * version and requested & supported & RMIG_RDMA_CAPS_KNOWN (as QEMU does:
 * its answer echoes the version and masks the flags), less PIN_SEGMENTS
 * when PIN_ALL is not in the answer.
 */
int rmig_rdma_caps_negotiate(const struct rmig_rdma_caps *req, uint32_t supported,
			     struct rmig_rdma_caps *answer);

/*
 * Source side: judge the destination's answer to @requested flags.
 * Version outside 1..RMIG_RDMA_VERSION is -EPROTONOSUPPORT.  *@effective
 * gets requested & answer & KNOWN (a flag the peer grants unasked is
 * ignored), less PIN_SEGMENTS when PIN_ALL is not in it.  Pin-all asked
 * for but refused is not an error: it logs a warning and the source falls
 * back to dynamic registration, as QEMU does.
 */
int rmig_rdma_caps_accept(uint32_t requested, const struct rmig_rdma_caps *answer,
			  uint32_t *effective);

/* --- control messages: 16-byte header {u32 len, u32 type, u32 repeat, u32 pad} --- */
#define RMIG_RDMA_HDR_SIZE    16
#define RMIG_RDMA_CONTROL_MAX (512 * 1024) /* whole message, header included */
#define RMIG_RDMA_PAYLOAD_MAX (RMIG_RDMA_CONTROL_MAX - RMIG_RDMA_HDR_SIZE)
#define RMIG_RDMA_MAX_REPEAT  4096
/* QEMU sends stream bytes in pieces of at most this much. */
#define RMIG_RDMA_QEMU_FILE_INCREMENT (32 * 1024)

enum rmig_rdma_msg_type {
	RMIG_RDMA_MSG_NONE = 0,
	RMIG_RDMA_MSG_ERROR = 1,
	RMIG_RDMA_MSG_READY = 2,
	RMIG_RDMA_MSG_QEMU_FILE = 3, /* stream bytes */
	RMIG_RDMA_MSG_RAM_BLOCKS_REQUEST = 4,
	RMIG_RDMA_MSG_RAM_BLOCKS_RESULT = 5, /* len / 32 x rmig_rdma_block; repeat is 1 */
	RMIG_RDMA_MSG_COMPRESS = 6,	     /* repeat x rmig_rdma_compress */
	RMIG_RDMA_MSG_REGISTER_REQUEST = 7,  /* repeat x rmig_rdma_register */
	RMIG_RDMA_MSG_REGISTER_RESULT = 8,   /* repeat x rmig_rdma_register_result */
	RMIG_RDMA_MSG_REGISTER_FINISHED = 9,
	RMIG_RDMA_MSG_UNREGISTER_REQUEST = 10, /* repeat x rmig_rdma_register */
	RMIG_RDMA_MSG_UNREGISTER_FINISHED = 11,
	RMIG_RDMA_MSG__COUNT, /* v1 types are below this */
	/*
	 * rmig extension types, numbered far from QEMU's so that a type QEMU
	 * adds later cannot collide.  Known to the decoder only when their
	 * capability flag was negotiated; unknown types otherwise.
	 */
	/* [PIN_SEGMENTS] no payload; under PIN_STREAM, "pin your next region" */
	RMIG_RDMA_MSG_SEGMENTS_REQUEST = 0x100,
	RMIG_RDMA_MSG_SEGMENTS_RESULT = 0x101,	/* [PIN_SEGMENTS] repeat x rmig_rdma_segment */
	/*
	 * [KEEPALIVE] no payload; repeat is the number of KEEPALIVEs the
	 * sender has received so far (mod 2^32), which lets the peer bound
	 * how many of its own occupy our receive buffers (ctrl.h).
	 */
	RMIG_RDMA_MSG_KEEPALIVE = 0x102,
	/* [AUTH] source -> destination: its nonce (32 bytes) */
	RMIG_RDMA_MSG_AUTH_CHALLENGE = 0x103,
	/* [AUTH] destination -> source: its nonce and its proof (32 + 32 bytes) */
	RMIG_RDMA_MSG_AUTH_RESPONSE = 0x104,
	/* [AUTH] source -> destination: its proof (32 bytes) */
	RMIG_RDMA_MSG_AUTH_PROOF = 0x105,
	/* [CHANNELS] source -> destination: repeat x rmig_rdma_lane_info, its lanes */
	RMIG_RDMA_MSG_CHANNELS_REQUEST = 0x106,
	/* [CHANNELS] destination -> source: repeat x rmig_rdma_lane_info, the same count */
	RMIG_RDMA_MSG_CHANNELS_RESULT = 0x107,
	/*
	 * [RAILS, reserved] source -> destination: repeat x rmig_rdma_rail_addr
	 * (rdma/rails.h), the destination address of each rail.  Like
	 * RAILS_RESULT, refused by the header decoder as an unknown type
	 * until rails are built: RMIG_RDMA_CAP_RAILS is not negotiable yet.
	 */
	RMIG_RDMA_MSG_RAILS_REQUEST = 0x108,
	/* [RAILS, reserved] destination -> source: repeat x rmig_rdma_rail_cookie */
	RMIG_RDMA_MSG_RAILS_RESULT = 0x109,
};

#define RMIG_RDMA_AUTH_CHALLENGE_SIZE 32
#define RMIG_RDMA_AUTH_RESPONSE_SIZE  64
#define RMIG_RDMA_AUTH_PROOF_SIZE     32

struct rmig_rdma_hdr {
	uint32_t len; /* payload bytes, header excluded */
	uint32_t type;
	/*
	 * Element count for COMPRESS, (UN)REGISTER_REQUEST, REGISTER_RESULT,
	 * SEGMENTS_RESULT.
	 * Meaningless for the other types (QEMU leaves it uninitialised in
	 * QEMU_FILE and sends 1 in RAM_BLOCKS_RESULT), except READY under
	 * RMIG_RDMA_CAP_CREDITS where it is the number of credits granted.
	 */
	uint32_t repeat;
};

/* Payload element sizes on the wire. */
#define RMIG_RDMA_BLOCK_SIZE	       32
#define RMIG_RDMA_COMPRESS_SIZE	       24
#define RMIG_RDMA_REGISTER_SIZE	       24
#define RMIG_RDMA_REGISTER_RESULT_SIZE 16
#define RMIG_RDMA_SEGMENT_SIZE	       24
#define RMIG_RDMA_LANE_INFO_SIZE       16

/*
 * Most memory regions one block may be split into under pin-all: the
 * destination refuses to register more, and the source refuses a
 * SEGMENTS_RESULT with more.
 */
#define RMIG_RDMA_MAX_SEGMENTS 64

/*
 * RAM_BLOCKS_RESULT element, destination -> source, one per block in the
 * source's block order:
 *   u64 remote_host_addr, u64 offset, u64 length, u32 rkey, u32 pad.
 */
struct rmig_rdma_block {
	uint64_t remote_host_addr; /* destination's virtual address of the block start */
	uint64_t offset;	   /* block's base in the destination's RAM space */
	uint64_t length;
	uint32_t rkey; /* whole-block rkey under pin-all, else 0 */
};

/*
 * COMPRESS element: fill [offset, offset+length) with byte @value.
 *   u32 value, u32 block_idx, u64 offset, u64 length.
 * @offset is a destination RAM-space address (block base + offset in block).
 * QEMU >= 8.2 rejects value != 0, and no sender ever sends another value.
 */
struct rmig_rdma_compress {
	uint32_t value;
	uint32_t block_idx;
	uint64_t offset;
	uint64_t length;
};

/*
 * REGISTER_REQUEST / UNREGISTER_REQUEST element:
 *   u64 key, u32 block_idx, u32 pad, u64 chunks.
 * REGISTER_REQUEST: key is the destination RAM-space address of the write
 * (the chunk is (key - base) >> 20); chunks is how many chunks *after* the
 * first to register too (QEMU: 0 for any write within one chunk).
 * UNREGISTER_REQUEST: key is the chunk index in the block; chunks unused.
 */
struct rmig_rdma_register {
	uint64_t key;
	uint32_t block_idx;
	uint64_t chunks;
};

/* REGISTER_RESULT element:  u32 rkey, u32 pad, u64 host_addr (block start). */
struct rmig_rdma_register_result {
	uint32_t rkey;
	uint64_t host_addr;
};

/*
 * SEGMENTS_RESULT element [PIN_SEGMENTS], destination -> source: one
 * memory region of a block,
 *   u32 block_idx, u32 rkey, u64 start, u64 length.
 * @start is block-relative and chunk-aligned; the elements of a block tile
 * it exactly, in increasing @start, and blocks come in the source's order.
 */
struct rmig_rdma_segment {
	uint32_t block_idx;
	uint32_t rkey;
	uint64_t start;
	uint64_t length;
};

/*
 * Most data lanes one connection may have: the multifd-channels limit.  A
 * CHANNELS_REQUEST with more is refused before anything is created.
 */
#define RMIG_RDMA_MAX_LANES 64

/*
 * CHANNELS_REQUEST / CHANNELS_RESULT element [CHANNELS]: one data lane's
 * queue pair, what the other end needs to connect its own to it,
 *   u32 index, u32 qpn, u32 psn, u32 pad.
 * Element i has index i; qpn and psn are 24-bit values (qpn never 0).
 */
struct rmig_rdma_lane_info {
	uint32_t index;
	uint32_t qpn;
	uint32_t psn;
};

/* "READY", "QEMU FILE", ...; "unknown" for anything else.  Never NULL. */
const char *rmig_rdma_msg_name(uint32_t type);

/* Element size of @type's payload, or 0 for types without elements. */
size_t rmig_rdma_msg_elem_size(uint32_t type);

/*
 * Header encode writes len/type/repeat and a zero pad.
 *
 * Decode checks, reporting each failure with rmig_error and -EPROTO:
 *  - @received >= 16 and len + 16 == @received, len <= PAYLOAD_MAX;
 *  - type is 1..11 (NONE is never sent), or an extension type whose flag
 *    is in @caps (the connection's effective capabilities);
 *  - payload shape:
 *    ERROR, READY, RAM_BLOCKS_REQUEST, REGISTER_FINISHED,
 *    UNREGISTER_FINISHED, SEGMENTS_REQUEST, KEEPALIVE: len == 0 (repeat
 *    not judged here: KEEPALIVE's is checked by the channel, ctrl.c);
 *    QEMU_FILE: any len (repeat not judged);
 *    RAM_BLOCKS_RESULT: len a multiple of 32 (repeat not judged);
 *    COMPRESS, (UN)REGISTER_REQUEST, REGISTER_RESULT, SEGMENTS_RESULT:
 *    1 <= repeat <= MAX_REPEAT and len == repeat * element size.
 * The pad is ignored (QEMU does not clear it).
 *
 * rmig_rdma_hdr_decode() is the plain v1 decoder (@caps 0).
 */
void rmig_rdma_hdr_encode(const struct rmig_rdma_hdr *h, uint8_t out[RMIG_RDMA_HDR_SIZE]);
int rmig_rdma_hdr_decode_caps(const void *buf, size_t received, uint32_t caps,
			      struct rmig_rdma_hdr *h);
int rmig_rdma_hdr_decode(const void *buf, size_t received, struct rmig_rdma_hdr *h);

/* Number of payload elements of a decoded header (0 for element-less types). */
uint32_t rmig_rdma_hdr_count(const struct rmig_rdma_hdr *h);

/*
 * Element codecs.  @in/@out point at element i's bytes; the caller has
 * validated the count with rmig_rdma_hdr_decode().  Pads are written zero.
 */
void rmig_rdma_block_encode(const struct rmig_rdma_block *b, uint8_t *out);
void rmig_rdma_block_decode(const uint8_t *in, struct rmig_rdma_block *b);
void rmig_rdma_compress_encode(const struct rmig_rdma_compress *c, uint8_t *out);
void rmig_rdma_compress_decode(const uint8_t *in, struct rmig_rdma_compress *c);
void rmig_rdma_register_encode(const struct rmig_rdma_register *r, uint8_t *out);
void rmig_rdma_register_decode(const uint8_t *in, struct rmig_rdma_register *r);
void rmig_rdma_register_result_encode(const struct rmig_rdma_register_result *r, uint8_t *out);
void rmig_rdma_register_result_decode(const uint8_t *in, struct rmig_rdma_register_result *r);
void rmig_rdma_segment_encode(const struct rmig_rdma_segment *s, uint8_t *out);
void rmig_rdma_segment_decode(const uint8_t *in, struct rmig_rdma_segment *s);
void rmig_rdma_lane_info_encode(const struct rmig_rdma_lane_info *l, uint8_t *out);
void rmig_rdma_lane_info_decode(const uint8_t *in, struct rmig_rdma_lane_info *l);

/*
 * Whole-message helper: header {@len, @type, @repeat} followed by @len
 * bytes of already-encoded @payload (may be NULL when @len is 0), into @out
 * of @cap bytes.  QEMU sends repeat 1 for element-less messages and for
 * RAM_BLOCKS_RESULT.  Returns the message size, or -EMSGSIZE (reported)
 * when it exceeds @cap or RMIG_RDMA_CONTROL_MAX.
 */
int rmig_rdma_msg_build(uint32_t type, uint32_t repeat, const void *payload, uint32_t len,
			uint8_t *out, size_t cap);

/* --- chunks (arithmetic in rdma/chunk.h) --- */
#define RMIG_RDMA_CHUNK_SHIFT 20 /* 1 MiB */
#define RMIG_RDMA_CHUNK_SIZE  (1ULL << RMIG_RDMA_CHUNK_SHIFT)

#endif /* RMIG_RDMA_WIRE_H */
