/* SPDX-License-Identifier: MIT */
/*
 * The destination's side of the stream: apply records to RAM until
 * END_OF_STREAM.  rmig_format_read_record() has checked every record
 * against the blocks before we act on it, so DATA payloads are read
 * straight into guest memory without an intermediate copy.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "common/engine/fault.h"
#include "common/engine/format.h"
#include "common/engine/handover.h"
#include "common/engine/multifd.h"
#include "common/ram/zero.h"
#include "plugin/registry.h"

struct load_ctx {
	struct rmig_stream *s;
	struct rmig_ram *ram;
	const struct rmig_stream_header *h;
	struct rmig_stats *st;
	bool hooks;
	struct rmig_mfd_recv *mfd; /* F_MULTIFD: the channels' receiver */
	uint64_t rounds;
	struct rmig_ram_counters cnt; /* not yet added to st */
	uint64_t counted_in;	      /* s->bytes_in already added to st */
};

/* Publish progress as it happens, so query-migrate on the destination is live. */
static void account(struct load_ctx *c)
{
	c->cnt.transferred = c->s->bytes_in - c->counted_in;
	c->counted_in = c->s->bytes_in;
	if (c->st)
		rmig_stats_add(c->st, &c->cnt);
	memset(&c->cnt, 0, sizeof(c->cnt));
}

static int apply_hook(struct load_ctx *c, uint32_t phase)
{
	const char *scheme = c->s->conn->ops->scheme;
	int ret;

	if (!c->hooks) {
		rmig_error(
		    "stream asks for transport RAM hook (phase %u) but transport %s has none",
		    phase, scheme ? scheme : "?");
		return -EPROTO;
	}
	ret = rmig_conn_ram_load(c->s->conn, (enum rmig_ram_phase)phase);
	if (c->st)
		rmig_stats_note_pinning(c->st, c->s->conn);
	return ret;
}

/*
 * After END_OF_STREAM: checksums when announced, then the end magic.  Ours
 * are computed before theirs are read: the source flushes END_OF_STREAM
 * before it computes its own, so both sides checksum at the same time and
 * verification costs the downtime once, not twice.
 */
static int read_trailer(struct load_ctx *c, bool *verified)
{
	const struct rmig_stream_header *h = c->h;
	uint64_t *theirs = NULL, *ours = NULL;
	uint32_t i, magic;
	int rc = 0;

	if (h->flags & RMIG_STREAM_F_VERIFY) {
		theirs = calloc(h->nblocks, sizeof(*theirs));
		ours = calloc(h->nblocks, sizeof(*ours));
		if (!theirs || !ours) {
			rmig_error("out of memory for %u block checksums", h->nblocks);
			rc = -ENOMEM;
			goto free_sums;
		}
		rmig_ram_checksums(c->ram, ours);
		for (i = 0; i < h->nblocks && rc == 0; i++)
			rc = rmig_stream_get_u64(c->s, &theirs[i]);
		if (rc)
			goto free_sums;
	}
	rc = rmig_stream_get_u32(c->s, &magic);
	if (rc)
		goto free_sums;
	if (magic != RMIG_STREAM_END_MAGIC) {
		rmig_error(
		    "stream trailer ends with 0x%08x instead of 0x%08x (\"RMGE\"): the stream "
		    "is corrupt",
		    magic, RMIG_STREAM_END_MAGIC);
		rc = -EPROTO;
		goto free_sums;
	}
	if (h->flags & RMIG_STREAM_F_VERIFY) {
		for (i = 0; i < h->nblocks; i++) {
			if (ours[i] != theirs[i]) {
				rmig_error(
				    "RAM block \"%s\" differs from the source after migration "
				    "(checksum 0x%016llx, source 0x%016llx)",
				    c->ram->blocks[i]->name, (unsigned long long)ours[i],
				    (unsigned long long)theirs[i]);
				rc = -EIO;
				goto free_sums;
			}
		}
	}
	*verified = (h->flags & RMIG_STREAM_F_VERIFY) != 0;

free_sums:
	free(ours);
	free(theirs);
	return rc;
}

/* Apply one checked record: 0 to go on, 1 at END_OF_STREAM, or a negative errno. */
static int apply_record(struct load_ctx *c, const struct rmig_record *r)
{
	struct rmig_ramblock *b;
	uint64_t bytes;
	int rc;

	/* With channels the main stream keeps the control records and nothing else. */
	if (c->mfd && (r->type == RMIG_REC_DATA || r->type == RMIG_REC_ZERO ||
		       r->type == RMIG_REC_SYNC)) {
		rmig_error("stream carried a %s record on its main connection; with multifd "
			   "channels, pages go over the channels",
			   r->type == RMIG_REC_SYNC ? "SYNC" : "page");
		return -EPROTO;
	}
	switch (r->type) {
	case RMIG_REC_DATA:
		b = rmig_ram_get_block(c->ram, r->block);
		bytes = (uint64_t)r->npages * b->page_size;
		rmig_fault_dest(RMIG_FAULT_BULK, NULL, NULL); /* fires once: the bulk round */
		rc = rmig_stream_read(c->s, b->host + r->offset, bytes);
		if (rc)
			return rc;
		c->cnt.normal_pages += r->npages;
		c->cnt.normal_bytes += bytes;
		return 0;
	case RMIG_REC_ZERO:
		b = rmig_ram_get_block(c->ram, r->block);
		rmig_zero_pages_apply(b->host + r->offset, b->page_size, r->npages);
		c->cnt.zero_pages += r->npages;
		return 0;
	case RMIG_REC_HOOK:
		/* rdma: pages land by WRITE, so a round's first sign here is its hook */
		if (r->arg == RMIG_RAM_PHASE_ROUND)
			rmig_fault_dest(RMIG_FAULT_BULK, NULL, NULL);
		return apply_hook(c, r->arg);
	case RMIG_REC_EOR:
		/* Not past the round before every channel has applied its part of it. */
		if (c->mfd) {
			rc = rmig_mfd_recv_wait_round(c->mfd, c->rounds);
			if (rc)
				return rc;
		}
		rmig_fault_dest(RMIG_FAULT_DIRTY, NULL, NULL);
		c->rounds++;
		/* For a query on another thread, as each round ends (load_info only at the end). */
		if (c->st)
			atomic_store(&c->st->dirty_sync_count, c->rounds);
		return 0;
	case RMIG_REC_EOS:
		rmig_fault_dest(RMIG_FAULT_FINAL, NULL, NULL);
		/* The trailer's checksums cover the channels' pages: all of them first. */
		if (c->mfd) {
			rc = rmig_mfd_recv_finish(c->mfd);
			if (rc)
				return rc;
		}
		return 1;
	case RMIG_REC_PING:
		return 0;
	case RMIG_REC_SYNC:
		break;
	}
	/* rmig_format_read_record() lets no other type through. */
	rmig_error("internal error: record type %u reached the loader", r->type);
	return -EPROTO;
}

/* F_MULTIFD: connect the channels and start their receiver. */
static int start_channels(struct load_ctx *c, const struct rmig_load_channels *ch)
{
	struct rmig_conn *conns[RMIG_MULTIFD_CHANNELS_MAX];
	int rc;

	if (!ch) {
		rmig_error("the source sends over %u multifd channels, which this destination "
			   "cannot take (its transport carries one connection)",
			   c->h->channels);
		return -EPROTO;
	}
	if (c->hooks) {
		rmig_error("the source asks for multifd channels over %s, whose pages do not "
			   "travel in the stream",
			   c->s->conn->ops->scheme);
		return -EPROTO;
	}
	rc = ch->accept(ch->opaque, c->h, conns);
	if (rc)
		return rc;
	rc = rmig_mfd_recv_start_numa(conns, c->h, c->ram, c->st, c->s->conn,
				      c->s->peer_timeout_ms, ch->numa_node, &c->mfd);
	if (!rc && ch->running)
		ch->running(ch->opaque, c->mfd);
	return rc;
}

int rmig_load(struct rmig_stream *s, struct rmig_ram *ram, struct rmig_stats *st,
	      struct rmig_load_info *info)
{
	return rmig_load_channels(s, ram, st, info, NULL);
}

int rmig_load_channels(struct rmig_stream *s, struct rmig_ram *ram, struct rmig_stats *st,
		       struct rmig_load_info *info, const struct rmig_load_channels *ch)
{
	struct rmig_stream_header h;
	struct load_ctx c = {.s = s, .ram = ram, .h = &h, .st = st, .counted_in = s->bytes_in};
	bool verified = false;
	struct rmig_record r;
	int rc;

	rc = rmig_format_read_header(s, &h);
	if (rc)
		goto count;
	if (info)
		info->header_ok = true;
	rc = rmig_format_match_blocks(&h, ram, s->max_ram);
	if (rc)
		goto free_header;
	/* A query on another thread reads this, never @ram, whose block array may move meanwhile. */
	if (st && ram->nblocks)
		atomic_store(&st->page_size, ram->blocks[0]->page_size);
	if (rmig_conn_has_ram_hooks(s->conn)) {
		rc = rmig_conn_ram_attach(s->conn, ram);
		if (rc)
			goto free_header;
		c.hooks = true;
	}
	if (h.flags & RMIG_STREAM_F_MULTIFD) {
		rc = start_channels(&c, ch);
		if (rc)
			goto free_header;
	}
	do {
		rc = rmig_format_read_record(s, &h, ram, &r);
		if (rc)
			goto free_header;
		rc = apply_record(&c, &r);
		account(&c);
	} while (rc == 0);
	if (rc < 0)
		goto free_header;
	/* The source checksums its RAM before it sends the trailer: no word from it meanwhile. */
	if ((h.flags & RMIG_STREAM_F_VERIFY) && s->peer_timeout_ms)
		(void)rmig_conn_set_peer_timeout(
		    s->conn, (int)RMIG_MIN(s->peer_timeout_ms + rmig_handover_verify_allowance_ms(
							     rmig_ram_get_total_bytes(ram)),
					   (uint64_t)INT_MAX));
	rc = read_trailer(&c, &verified);
	if ((h.flags & RMIG_STREAM_F_VERIFY) && s->peer_timeout_ms)
		(void)rmig_conn_set_peer_timeout(s->conn, (int)s->peer_timeout_ms);
	if (rc)
		goto free_header;
	if (info) {
		info->flags = h.flags;
		info->rounds = c.rounds;
		info->verified = verified;
	}

free_header:
	if (c.mfd) {
		/* A channel's failure interrupted the main stream: it, not the interrupt, is why. */
		int err = rc < 0 ? rmig_mfd_recv_error(c.mfd) : 0;

		if (err)
			rc = err;
		if (ch->running)
			ch->running(ch->opaque, NULL);
		rmig_mfd_recv_free(c.mfd);
	}
	rmig_format_header_free(&h);
count:
	/* Also on failure: the bytes did cross the wire, and stats should say so. */
	account(&c);
	return rc;
}
