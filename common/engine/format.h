/* SPDX-License-Identifier: MIT */
/*
 * The rmig migration stream, version 1 (docs/stream-format.md is the
 * normative description; keep the two in step).
 *
 *   header   u32 magic "RMIG", u32 version, u32 flags, u32 nblocks,
 *            nblocks x { u16 name_len, name, u32 page_size, u64 length }
 *   records  24 bytes each: u32 type, u32 block, u64 offset, u32 npages, u32 arg
 *            DATA is followed by npages x page_size bytes of contents
 *   trailer  after END_OF_STREAM: nblocks x u64 checksum when F_VERIFY,
 *            then u32 magic "RMGE"
 *
 * All integers big-endian.  The reader trusts nothing: every field is
 * checked against the header and the RAM it is about to write before a
 * single byte of guest memory is touched.
 */
#ifndef RMIG_FORMAT_H
#define RMIG_FORMAT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/engine/stats.h"
#include "common/engine/stream.h"
#include "common/ram/ram.h"

#define RMIG_STREAM_MAGIC 0x524d4947u	  /* "RMIG" */
#define RMIG_STREAM_END_MAGIC 0x524d4745u /* "RMGE" */
#define RMIG_STREAM_VERSION 1

/* Header flags. */
#define RMIG_STREAM_F_VERIFY 0x1u     /* trailer carries per-block checksums */
#define RMIG_STREAM_F_ZERO_PAGES 0x2u /* ZERO records may appear */
#define RMIG_STREAM_F_MULTIFD 0x4u    /* pages go over channels (common/engine/multifd.h) */
#define RMIG_STREAM_F_KNOWN (RMIG_STREAM_F_VERIFY | RMIG_STREAM_F_ZERO_PAGES | RMIG_STREAM_F_MULTIFD)

/* multifd: how many channels a header may announce, and the session id that ties them to it. */
#define RMIG_MULTIFD_CHANNELS_MAX 64
#define RMIG_MULTIFD_SESSION_SIZE 16

/* Record types. */
enum rmig_record_type {
	RMIG_REC_DATA = 1, /* npages pages of contents follow */
	RMIG_REC_ZERO = 2, /* npages pages are all zero */
	RMIG_REC_HOOK = 3, /* the transport's RAM hook runs now; arg = enum rmig_ram_phase */
	RMIG_REC_EOR = 4,  /* end of round; arg = round number (low 32 bits) */
	RMIG_REC_EOS = 5,  /* end of stream; the trailer follows */
	/* Only with F_MULTIFD: */
	RMIG_REC_SYNC = 6, /* channel: every page of round arg went before this */
	RMIG_REC_PING = 7, /* nothing: keeps a quiet stream inside the peer-timeout */
};

#define RMIG_RECORD_SIZE 24
#define RMIG_RECORD_MAX_PAGES 256
/* Largest block length a header may announce (256 TiB). */
#define RMIG_STREAM_MAX_BLOCK_LENGTH (1ULL << 48)

struct rmig_record {
	uint32_t type;
	uint32_t block;
	uint64_t offset; /* bytes into the block, page-aligned */
	uint32_t npages;
	uint32_t arg;
};

struct rmig_block_desc {
	char name[RMIG_BLOCK_NAME_MAX];
	uint32_t page_size;
	uint64_t length;
};

struct rmig_stream_header {
	uint32_t version;
	uint32_t flags;
	uint32_t nblocks;
	struct rmig_block_desc *blocks; /* nblocks entries, owned */
	/* F_MULTIFD: the channel count (1 .. RMIG_MULTIFD_CHANNELS_MAX) and their session. */
	uint32_t channels;
	uint8_t session[RMIG_MULTIFD_SESSION_SIZE];
};

/* --- writer (source) --- */
int rmig_format_write_header(struct rmig_stream *s, uint32_t flags, const struct rmig_ram *ram);
/*
 * A run of @npages pages of @b from @page: ZERO records for all-zero pages
 * when @zero_pages, DATA records with the contents by reference for the
 * rest (rmig_stream_write_ref: the pages must stay mapped until the next
 * flush).  Adds the pages to @cnt.
 */
int rmig_format_write_pages(struct rmig_stream *s, struct rmig_ramblock *b, uint64_t page,
			    uint64_t npages, bool zero_pages, struct rmig_ram_counters *cnt);
/*
 * The same, calling @pace(@opaque) after each RMIG_FORMAT_PACE_BYTES of a
 * DATA payload that has more to come, so that a rate-limited sender can
 * sleep between pieces of one large page instead of after all of it (a
 * 1 GiB page at 100 MB/s would leave the stream silent for 10 s, past
 * the destination's peer-timeout).  A non-zero return stops the write
 * and is returned.
 */
#define RMIG_FORMAT_PACE_BYTES (64u * 1024)
int rmig_format_write_pages_paced(struct rmig_stream *s, struct rmig_ramblock *b, uint64_t page,
				  uint64_t npages, bool zero_pages, struct rmig_ram_counters *cnt,
				  int (*pace)(void *opaque), void *opaque);
/* Right after the header when F_MULTIFD is in its flags. */
int rmig_format_write_channels(struct rmig_stream *s, uint32_t channels,
			       const uint8_t session[RMIG_MULTIFD_SESSION_SIZE]);
int rmig_format_write_record(struct rmig_stream *s, const struct rmig_record *r);
/* @sums: one per block, only when F_VERIFY is in @flags. */
int rmig_format_write_trailer(struct rmig_stream *s, uint32_t flags, const uint64_t *sums,
			      uint32_t nblocks);

/* --- reader (destination); every failure is reported with a precise reason --- */
int rmig_format_read_header(struct rmig_stream *s, struct rmig_stream_header *h);
void rmig_format_header_free(struct rmig_stream_header *h);
/*
 * Validates type, and for DATA/ZERO the block index, alignment and range
 * against @ram.  Which stream may carry which type (main or channel) is
 * the loader's to check.
 */
int rmig_format_read_record(struct rmig_stream *s, const struct rmig_stream_header *h,
			    const struct rmig_ram *ram, struct rmig_record *r);

/*
 * Make @ram match the header: allocate every block when @ram is empty;
 * otherwise require the same blocks (name, length, page size, order) and
 * report the first difference.  -EINVAL / -ENOMEM.
 */
int rmig_format_match_blocks(const struct rmig_stream_header *h, struct rmig_ram *ram,
			     uint64_t max_ram);

/*
 * Refuse (-ENOMEM, reported) headers whose blocks add up to more than
 * @bytes when rmig_format_match_blocks() would allocate them.  0 restores
 * the default, the host's physical memory: a header is hostile input, and
 * without a bound it could have the destination map (and later checksum)
 * terabytes.  UINT64_MAX disables the check.  Process-wide.
 */
void rmig_load_set_max_ram(uint64_t bytes);

/* Per-block checksums of @ram, as the trailer carries them. */
void rmig_ram_checksums(const struct rmig_ram *ram, uint64_t *sums);

/* What the destination learnt from a complete load. */
struct rmig_load_info {
	uint32_t flags;	 /* header flags */
	uint64_t rounds; /* END_OF_ROUND records seen */
	bool verified;	 /* F_VERIFY was set and every checksum matched */
	bool header_ok;	 /* the header was rmig's: the source expects a hand-over reply */
};

/*
 * The destination's whole job after accept: read the header, match or
 * allocate @ram, apply records until END_OF_STREAM, run the transport's
 * RAM hooks (attach once the blocks exist, ram_load on each HOOK record)
 * when s->conn has them, and check the trailer.  Counts pages and bytes
 * into @st (may be NULL).  Returns 0 only if the stream was complete and,
 * with F_VERIFY, every block's checksum matched.
 */
int rmig_load(struct rmig_stream *s, struct rmig_ram *ram, struct rmig_stats *st,
	      struct rmig_load_info *info);

struct rmig_mfd_recv;

/* How the loader reaches a multifd source's channels (the listener is its caller's). */
struct rmig_load_channels {
	/*
	 * Connect h->channels channels whose hellos match @h: @conns[i] carried
	 * hello i and nothing past it.  0, or a negative errno (reported).
	 */
	int (*accept)(void *opaque, const struct rmig_stream_header *h, struct rmig_conn **conns);
	/* The channels' receiver runs (@mr), or is about to stop (NULL): for cancel to reach it. */
	void (*running)(void *opaque, struct rmig_mfd_recv *mr);
	void *opaque;
	int numa_node; /* the numa-node parameter (params.h) */
};

/* rmig_load(), taking a source's multifd channels through @ch (NULL: refuse them). */
int rmig_load_channels(struct rmig_stream *s, struct rmig_ram *ram, struct rmig_stats *st,
		       struct rmig_load_info *info, const struct rmig_load_channels *ch);

#endif /* RMIG_FORMAT_H */
