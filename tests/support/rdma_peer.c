/* SPDX-License-Identifier: MIT */
/* The scripted destination of tests/support/rdma_peer.h. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/base/util.h"
#include "common/engine/format.h"
#include "common/ram/ram.h"
#include "rdma/conn.h"
#include "rdma/wire.h"
#include "tests/support/fake_glue.h"
#include "tests/support/rdma_peer.h"
#include "tests/support/rdma_test_log.h"

struct peer peer;


void (*guest_write)(struct rmig_ramblock *b, uint64_t page);

static void peer_violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void peer_violation(const char *fmt, ...)
{
	va_list ap;

	if (peer.violations++)
		return;
	va_start(ap, fmt);
	vsnprintf(peer.violation, sizeof(peer.violation), fmt, ap);
	va_end(ap);
}

static void peer_deliver(struct ibv_qp *qp, const uint8_t *msg, uint32_t len)
{
	int ret = rmig_fake_deliver(qp, msg, len);

	if (ret < 0)
		peer_violation("destination could not send (%s): no RECV posted?", strerror(-ret));
}

static void peer_send(struct ibv_qp *qp, uint32_t type, uint32_t repeat, const void *payload,
		      uint32_t len)
{
	uint8_t msg[RMIG_RDMA_HDR_SIZE + 256];
	int n = rmig_rdma_msg_build(type, repeat, payload, len, msg, sizeof(msg));

	assert_true(n > 0);
	peer_deliver(qp, msg, (uint32_t)n);
}

/* A credit back: the message that used it has been processed. */
static void peer_ready(struct ibv_qp *qp, uint32_t n)
{
	peer_send(qp, RMIG_RDMA_MSG_READY, n, NULL, 0);
}

static void peer_answer_oldest(struct ibv_qp *qp)
{
	struct peer_answer *a = &peer.held[peer.held_head];
	uint32_t i;
	uint64_t k;

	peer.held_head = (peer.held_head + 1) % RMIG_ARRAY_SIZE(peer.held);
	peer.nheld--;
	for (i = 0; a->honest && i < a->n; i++) {
		for (k = 0; k < a->count[i]; k++) {
			peer.pinned_chunks += !peer.answered[a->chunk[i] + k];
			peer.answered[a->chunk[i] + k] = true;
			peer.rkey[a->chunk[i] + k] = a->rkey[i];
		}
	}
	peer.max_pinned_chunks = RMIG_MAX(peer.max_pinned_chunks, peer.pinned_chunks);
	peer_deliver(qp, a->msg, a->len);
	peer_ready(qp, 1);
}

/* Encode the answer to @a's request, honest or as peer.lie says. */
static void peer_answer_encode(struct peer_answer *a, enum peer_lie lie)
{
	struct rmig_rdma_hdr h = {.type = RMIG_RDMA_MSG_REGISTER_RESULT, .repeat = a->n};
	uint32_t i, n = a->n;

	a->honest = lie == LIE_NONE;
	if (lie == LIE_EXTRA_RESULT)
		n = h.repeat = a->n + 1;
	else if (lie == LIE_FEWER_RESULTS)
		n = h.repeat = a->n - 1;
	for (i = 0; i < n; i++) {
		struct rmig_rdma_register_result r = {
		    .rkey = a->honest ? a->rkey[i] : BOGUS_RKEY + i,
		    .host_addr = REMOTE_HOST,
		};

		rmig_rdma_register_result_encode(&r, a->msg + RMIG_RDMA_HDR_SIZE +
							 i * RMIG_RDMA_REGISTER_RESULT_SIZE);
	}
	h.len = n * RMIG_RDMA_REGISTER_RESULT_SIZE;
	if (lie == LIE_QEMU_LEN)
		h.len = RMIG_RDMA_REGISTER_RESULT_SIZE;
	rmig_rdma_hdr_encode(&h, a->msg);
	a->len = RMIG_RDMA_HDR_SIZE + h.len;
	if (lie == LIE_TRUNCATED)
		a->len -= 8;
}

static void peer_on_register_request(const struct rmig_rdma_hdr *h, const uint8_t *p)
{
	struct peer_answer *a;
	uint64_t total = 0, k;
	uint32_t i;

	if (peer.nheld == RMIG_ARRAY_SIZE(peer.held)) {
		peer_violation("REGISTER_REQUEST with %u already unanswered", peer.nheld);
		return;
	}
	a = &peer.held[(peer.held_head + peer.nheld) % RMIG_ARRAY_SIZE(peer.held)];
	a->n = h->repeat;
	for (i = 0; i < h->repeat; i++) {
		struct rmig_rdma_register r;
		uint64_t off, c;

		rmig_rdma_register_decode(p + (size_t)i * RMIG_RDMA_REGISTER_SIZE, &r);
		off = r.key - REMOTE_BASE;
		c = off / CHUNK;
		if (r.key < REMOTE_BASE || r.block_idx != 0 || off % CHUNK || c >= peer.nchunks ||
		    r.chunks >= peer.nchunks - c) {
			peer_violation("REGISTER_REQUEST element key 0x%llx block %u chunks %llu "
				       "is not a run of chunks of the block",
				       (unsigned long long)r.key, r.block_idx,
				       (unsigned long long)r.chunks);
			return;
		}
		for (k = 0; k <= r.chunks; k++)
			peer.requested[c + k]++;
		a->chunk[i] = c;
		a->count[i] = r.chunks + 1;
		a->rkey[i] = peer.next_rkey++; /* one region, one key per element */
		total += r.chunks + 1;
		peer.req_max_extra = RMIG_MAX(peer.req_max_extra, r.chunks);
	}
	if (peer.nreq < MAX_REQS) {
		peer.req_chunks[peer.nreq] = total;
		peer.req_elems[peer.nreq] = h->repeat;
		peer.req_first[peer.nreq] = a->chunk[0];
	}
	peer_answer_encode(a, peer.nreq == peer.lie_at ? peer.lie : LIE_NONE);
	peer.nreq++;
	peer.nheld++;
	peer.max_unanswered = RMIG_MAX(peer.max_unanswered, peer.nheld);
}

/* [PIN_STREAM] Pin the next region; its SEGMENTS_RESULT waits, as a REGISTER_RESULT does. */
static void peer_on_segments_request(void)
{
	struct rmig_rdma_hdr h = {.type = RMIG_RDMA_MSG_SEGMENTS_RESULT, .repeat = 1,
				  .len = RMIG_RDMA_SEGMENT_SIZE};
	struct rmig_rdma_segment s;
	struct peer_answer *a;
	uint64_t n;
	bool lie = peer.seg_requests == peer.lie_at;
	uint64_t i, done = 0;

	for (i = 0; i < peer.nchunks; i++)
		done += peer.written[i];
	if (peer.seg_requests < MAX_CHUNKS)
		peer.seg_asked_at[peer.seg_requests] = done;
	peer.seg_requests++;

	if (!(peer.caps & RMIG_RDMA_CAP_PIN_STREAM) || peer.seg_next >= peer.nchunks ||
	    peer.nheld == RMIG_ARRAY_SIZE(peer.held)) {
		peer_violation("SEGMENTS_REQUEST %u: not streaming, past the RAM, or too many "
			       "unanswered (%u)", peer.seg_requests, peer.nheld);
		return;
	}
	a = &peer.held[(peer.held_head + peer.nheld) % RMIG_ARRAY_SIZE(peer.held)];
	n = RMIG_MIN(peer.seg_chunks, peer.nchunks - peer.seg_next);
	*a = (struct peer_answer){.n = 1, .honest = !lie, .chunk = {peer.seg_next},
				  .count = {n}, .rkey = {peer.next_rkey++}};
	s = (struct rmig_rdma_segment){.block_idx = 0, .rkey = a->rkey[0],
				       .start = peer.seg_next * CHUNK};
	s.length = RMIG_MIN(n * CHUNK, peer.b->length - s.start);
	if (lie && peer.lie == LIE_SEG_GAP)
		s.start += CHUNK;
	if (lie && peer.lie == LIE_SEG_PAST_END)
		s.length = peer.b->length;
	rmig_rdma_hdr_encode(&h, a->msg);
	rmig_rdma_segment_encode(&s, a->msg + RMIG_RDMA_HDR_SIZE);
	a->len = RMIG_RDMA_HDR_SIZE + RMIG_RDMA_SEGMENT_SIZE;
	peer.seg_next += n;
	peer.nheld++;
	peer.max_unanswered = RMIG_MAX(peer.max_unanswered, peer.nheld);
}

/* Drop the region that starts at each element's chunk, as rdma/reg.c does. */
static void peer_on_unregister(const struct rmig_rdma_hdr *h, const uint8_t *p)
{
	uint32_t i;

	peer.unreg_max_elems = RMIG_MAX(peer.unreg_max_elems, h->repeat);
	for (i = 0; i < h->repeat; i++) {
		struct rmig_rdma_register r;
		uint64_t c, k;

		rmig_rdma_register_decode(p + (size_t)i * RMIG_RDMA_REGISTER_SIZE, &r);
		c = r.key;
		if (r.block_idx != 0 || c >= peer.nchunks || !peer.answered[c] ||
		    (c > 0 && peer.answered[c - 1] && peer.rkey[c - 1] == peer.rkey[c])) {
			peer_violation("UNREGISTER_REQUEST of chunk %llu, which heads no region",
				       (unsigned long long)c);
			return;
		}
		for (k = c; k < peer.nchunks && peer.answered[k] && peer.rkey[k] == peer.rkey[c];
		     k++) {
			peer.answered[k] = false;
			peer.pinned_chunks--;
		}
		peer.unregistered++;
	}
}

static void peer_on_compress(const struct rmig_rdma_hdr *h, const uint8_t *p)
{
	uint32_t i;

	peer.compress_max_elems = RMIG_MAX(peer.compress_max_elems, h->repeat);
	for (i = 0; i < h->repeat; i++) {
		struct rmig_rdma_compress c;
		uint64_t off;

		rmig_rdma_compress_decode(p + (size_t)i * RMIG_RDMA_COMPRESS_SIZE, &c);
		off = c.offset - REMOTE_BASE;
		if (c.offset < REMOTE_BASE || c.block_idx != 0 || c.value != 0 ||
		    off > peer.b->length || c.length > peer.b->length - off) {
			peer_violation("COMPRESS outside the block");
			return;
		}
		memset(peer.mem + off, 0, c.length);
	}
}

static void peer_on_send(struct ibv_qp *qp, const struct ibv_send_wr *wr)
{
	const uint8_t *buf = (const uint8_t *)(uintptr_t)wr->sg_list[0].addr;
	struct rmig_rdma_block blk = {
	    .remote_host_addr = REMOTE_HOST, .offset = REMOTE_BASE, .length = peer.b->length};
	uint8_t enc[RMIG_RDMA_BLOCK_SIZE];
	struct rmig_rdma_hdr h;

	if (rmig_rdma_hdr_decode_caps(buf, wr->sg_list[0].length, peer.caps, &h) < 0) {
		peer_violation("the source sent a message that does not decode");
		return;
	}
	switch (h.type) {
	case RMIG_RDMA_MSG_RAM_BLOCKS_REQUEST:
		rmig_rdma_block_encode(&blk, enc);
		peer_send(qp, RMIG_RDMA_MSG_RAM_BLOCKS_RESULT, 1, enc, sizeof(enc));
		peer_ready(qp, 1);
		break;
	case RMIG_RDMA_MSG_REGISTER_REQUEST:
		/* Its credit comes back with the answer, as from a peer that processes in order. */
		peer_on_register_request(&h, buf + RMIG_RDMA_HDR_SIZE);
		break;
	case RMIG_RDMA_MSG_COMPRESS:
		peer_on_compress(&h, buf + RMIG_RDMA_HDR_SIZE);
		peer_ready(qp, 1);
		break;
	case RMIG_RDMA_MSG_REGISTER_FINISHED:
		peer_ready(qp, 1);
		break;
	case RMIG_RDMA_MSG_SEGMENTS_REQUEST:
		peer_on_segments_request(); /* its credit comes back with the answer */
		break;
	case RMIG_RDMA_MSG_UNREGISTER_REQUEST:
		if (peer.unreg_error) {
			peer_send(qp, RMIG_RDMA_MSG_ERROR, 1, NULL, 0);
			break;
		}
		peer_on_unregister(&h, buf + RMIG_RDMA_HDR_SIZE);
		peer_send(qp, RMIG_RDMA_MSG_UNREGISTER_FINISHED, 1, NULL, 0);
		peer_ready(qp, 1);
		break;
	case RMIG_RDMA_MSG_ERROR:
		peer.errors++;
		break;
	default:
		peer_violation("unexpected %s from the source", rmig_rdma_msg_name(h.type));
	}
}

static void peer_on_write(const struct ibv_send_wr *wr)
{
	uint64_t raddr = wr->wr.rdma.remote_addr, len = wr->sg_list[0].length;
	uint64_t off = raddr - REMOTE_HOST, c = off / CHUNK;
	uint32_t rkey = wr->wr.rdma.rkey;

	peer.nwrites++;
	if ((rkey & 0xfff00000u) == BOGUS_RKEY)
		peer.bogus_writes++;
	if (raddr < REMOTE_HOST || off >= peer.b->length || len == 0 ||
	    len > peer.b->length - off || (off + len - 1) / CHUNK != c)
		peer_violation("WRITE of %llu bytes at 0x%llx is not inside one chunk of the block",
			       (unsigned long long)len, (unsigned long long)raddr);
	else if (!peer.answered[c])
		peer_violation("WRITE to chunk %llu before its REGISTER_RESULT",
			       (unsigned long long)c);
	else if (rkey != peer.rkey[c])
		peer_violation("WRITE to chunk %llu with rkey 0x%x; the destination gave 0x%x",
			       (unsigned long long)c, rkey, peer.rkey[c]);
	else if (wr->sg_list[0].addr != (uintptr_t)(peer.b->host + off))
		peer_violation("WRITE to offset %llu reads another local address",
			       (unsigned long long)off);
	else {
		memcpy(peer.mem + off, peer.b->host + off, len);
		peer.written[c] += len;
	}
}

/* The QP: records (fake glue), lets the destination react, completes what is signalled. */
/* Is @wr the SEND of a REGISTER_REQUEST? */
static bool is_register_request(const struct ibv_send_wr *wr)
{
	struct rmig_rdma_hdr h;

	return wr->opcode == IBV_WR_SEND && wr->num_sge == 1 &&
	       rmig_rdma_hdr_decode_caps((const uint8_t *)(uintptr_t)wr->sg_list[0].addr,
					 wr->sg_list[0].length, peer.caps, &h) == 0 &&
	       h.type == RMIG_RDMA_MSG_REGISTER_REQUEST;
}

static int peer_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	int ret;

	if (peer.fail_register_send && is_register_request(wr)) {
		*bad = wr;
		return EIO;
	}
	ret = rmig_fake_post_send(qp, wr, bad);

	if (ret)
		return ret;
	peer.idle = 0;
	for (; wr; wr = wr->next) {
		if (wr->opcode == IBV_WR_SEND)
			peer_on_send(qp, wr);
		else
			peer_on_write(wr);
		if (wr->send_flags & IBV_SEND_SIGNALED) {
			struct ibv_wc wc = {
			    .wr_id = wr->wr_id,
			    .status = IBV_WC_SUCCESS,
			    .opcode = wr->opcode == IBV_WR_SEND ? IBV_WC_SEND : IBV_WC_RDMA_WRITE};

			rmig_fake_cq_push(qp->send_cq, &wc);
		}
	}
	return 0;
}

/*
 * The engine polls the CM channel (always readable in the fake) only when
 * its CQs were empty and it must wait: the moment the lazy destination
 * answers.  Nothing to answer means the engine would wait forever.
 */
static int peer_get_cm_event(struct rdma_event_channel *ch, struct rdma_cm_event **ev)
{
	int ret = rmig_fake_get_cm_event(ch, ev), saved = errno;

	if (ret == 0 || !peer.rc)
		return ret;
	if (peer.nheld) {
		peer_answer_oldest(peer.rc->res.qp);
		peer.idle = 0;
	} else if (++peer.idle == IDLE_MAX) {
		peer.hung = true;
		atomic_store(&peer.rc->prog.aborted, true);
	}
	errno = saved;
	return ret;
}

/* A fresh destination: nothing registered, honest. */
void peer_reset(void)
{
	free(peer.mem);
	memset(&peer, 0, sizeof(peer));
	peer.lie_at = UINT32_MAX;
	peer.next_rkey = 0x1000;
}

int peer_setup(void **state)
{
	rmig_fake_install();
	rmig_fake.glue.post_send = peer_post_send;
	rmig_fake.glue.get_cm_event = peer_get_cm_event;
	peer_reset();
	guest_write = NULL;
	return rdma_test_setup(state);
}

int peer_teardown(void **state)
{
	peer_reset();
	rmig_fake_remove();
	return rdma_test_teardown(state);
}

static void peer_round_reset(void)
{
	peer.nreq = 0;
	peer.req_max_extra = 0;
	memset(peer.requested, 0, sizeof(peer.requested));
	memset(peer.written, 0, sizeof(peer.written));
	peer.max_unanswered = 0;
	peer.nwrites = peer.bogus_writes = peer.errors = peer.compress_max_elems = 0;
}

void peer_assert_clean(void)
{
	if (peer.violations)
		fail_msg("%u protocol violations at the destination, the first: %s",
			 peer.violations, peer.violation);
	if (peer.hung)
		fail_msg("the engine waited with nothing outstanding: it would hang");
	assert_int_equal(peer.errors, 0);
	assert_int_equal(peer.bogus_writes, 0);
}

/* One round as the migration thread runs it (common/engine/save.c): clear a run, hand it over. */
int round_run(struct rmig_conn *c, struct rmig_ram *ram, enum rmig_ram_phase phase)
{
	const struct rmig_transport_ops *ops = rmig_rdma_get_ops();
	struct rmig_ram_counters acc = {0};
	uint32_t bi;
	int ret;

	peer_round_reset();
	ret = ops->ram_before_iterate(c, phase);
	for (bi = 0; ret == 0 && bi < ram->nblocks; bi++) {
		struct rmig_ramblock *b = ram->blocks[bi];
		uint64_t page = 0, n;

		while (ret == 0) {
			page = rmig_ramblock_find_next_run(
			    b, page, peer.run_pages ? peer.run_pages : RMIG_RECORD_MAX_PAGES, &n);
			if (!n)
				break;
			if (guest_write)
				guest_write(b, page);
			rmig_ramblock_clear_pages(b, page, n);
			ret = ops->ram_save_page(c, b, page, n, &acc);
			page += n;
		}
	}
	return ret ? ret : ops->ram_after_iterate(c, phase, &acc);
}

/* Connect to the scripted destination answering @flags; attach @ram and run SETUP. */
struct rmig_conn *peer_connect(uint32_t flags, struct rmig_ram *ram)
{
	struct rmig_conn_opts opts = {.size = sizeof(opts), .timeout_ms = 1000,
				      .rdma_max_pinned = peer.max_pinned_opt,
				      .rdma_pin_all = (flags & RMIG_RDMA_CAP_PIN_ALL) != 0};
	struct rmig_rdma_caps answer = {.version = 1, .flags = flags};
	struct rmig_conn *c = NULL;

	assert_int_equal(ram->nblocks, 1);
	peer.b = ram->blocks[0];
	peer.nchunks = rmig_rdma_chunk_count(peer.b->length);
	assert_true(peer.nchunks <= MAX_CHUNKS);
	peer.mem = malloc(peer.b->length);
	assert_non_null(peer.mem);
	memset(peer.mem, 0xee, peer.b->length); /* so a missed COMPRESS shows */
	rmig_rdma_caps_encode(&answer, rmig_fake.est_pdata);
	rmig_fake.est_pdata_set = true;
	assert_int_equal(rmig_rdma_get_ops()->connect("127.0.0.1:4444", &opts, &c), 0);
	peer.rc = rmig_rdma_conn_of(c);
	peer.caps = peer.rc->ctrl.caps;
	/* Pin-all only streamed: this destination has no key for a whole block. */
	assert_int_equal(peer.rc->pin_all, (flags & RMIG_RDMA_CAP_PIN_ALL) != 0);
	assert_int_equal(peer.rc->pin_stream, peer.rc->pin_all);
	assert_int_equal(peer.rc->reg_batch, (flags & RMIG_RDMA_CAP_REG_BATCH) != 0);
	/* The destination's first READY grants its whole window. */
	peer_ready(peer.rc->res.qp, peer.rc->ctrl.window);
	assert_int_equal(rmig_rdma_get_ops()->ram_attach(c, ram), 0);
	assert_int_equal(round_run(c, ram, RMIG_RAM_PHASE_SETUP), 0);
	peer_assert_clean();
	return c;
}

void peer_close(struct rmig_conn *c)
{
	peer.rc = NULL;
	rmig_rdma_get_ops()->close(c);
	rmig_fake_assert_reverse_teardown();
}

struct rmig_ramblock *ram_make(struct rmig_ram *ram, uint64_t len)
{
	struct rmig_ramblock *b;

	rmig_ram_init(ram);
	assert_int_equal(rmig_ram_alloc(ram, "ram", len, 4096, &b), 0);
	return b;
}

void assert_same_memory(void)
{
	uint64_t off;

	for (off = 0; off < peer.b->length; off += 4096)
		if (memcmp(peer.mem + off, peer.b->host + off, 4096))
			fail_msg("destination differs from the source at offset %llu (chunk %llu)",
				 (unsigned long long)off, (unsigned long long)(off / CHUNK));
}

/*
 * Request sizes this round: 1, 2, 4, ... doubling up to the lookahead.
 * Exactly so for the first @exact requests (the tests make sure enough
 * wanted chunks lie ahead to fill them), at most so after that.  The cap
 * itself does not show in these rounds: a prefetch starts once the writer
 * is within LOOKAHEAD/2 chunks of the last chunk asked for and looks at
 * most LOOKAHEAD chunks ahead, so a request gets about LOOKAHEAD/2 + 1.
 */
void assert_ramp(unsigned exact)
{
	char sizes[512];
	uint64_t budget = 1;
	unsigned k;
	int n = 0;

	for (k = 0; k < peer.nreq && n < (int)sizeof(sizes) - 24; k++)
		n += snprintf(sizes + n, sizeof(sizes) - n, "%llu ",
			      (unsigned long long)peer.req_chunks[k]);
	if (peer.nreq < exact)
		fail_msg("only %u REGISTER_REQUESTs (sizes %s)", peer.nreq, sizes);
	for (k = 0; k < peer.nreq; k++) {
		if (k < exact ? peer.req_chunks[k] != budget : peer.req_chunks[k] > budget)
			fail_msg("REGISTER_REQUEST %u asks for %llu chunks, ramp allows %llu "
				 "(sizes %s)",
				 k, (unsigned long long)peer.req_chunks[k],
				 (unsigned long long)budget, sizes);
		budget = RMIG_MIN(budget * 2, RMIG_RDMA_REQ_MAX_CHUNKS);
	}
}
