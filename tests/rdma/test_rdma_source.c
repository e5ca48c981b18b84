/* SPDX-License-Identifier: MIT */
/*
 * The source's dynamic-registration pipeline (rdma/prefetch.c behind
 * rdma/source.c) against a scripted destination on the fake glue:
 * REGISTER_REQUEST sizes ramp up from one chunk at the start of every
 * round, at most RMIG_RDMA_REQ_INFLIGHT requests are unanswered, every
 * chunk is asked for once, every WRITE carries the key the destination
 * returned for its chunk, all-zero chunks go as COMPRESS and are never
 * asked for, a QEMU peer only ever gets single-chunk requests, and a
 * REGISTER_RESULT that does not match its request fails the round with
 * -EPROTO before any WRITE uses its keys.
 *
 * The destination is lazy on purpose: it holds its REGISTER_RESULTs until
 * the engine has nothing left to do but wait, so the engine's own limits,
 * not the peer's speed, decide how much is in flight.  It also keeps a
 * copy of the block, so each test ends by comparing memory.
 */
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
#include "tests/support/rdma_test_log.h"

#define MiB	    (1024ull * 1024)
#define CHUNK	    RMIG_RDMA_CHUNK_SIZE
#define MAX_CHUNKS  64
#define MAX_REQS    256
#define REMOTE_HOST 0x7f0000000000ull /* the destination's address of the block */
#define REMOTE_BASE 0x40000000ull     /* the block's base in the destination's RAM space */
#define BOGUS_RKEY  0xbad00000u	      /* keys of lying answers; no WRITE may carry one */
#define IDLE_MAX    10000	      /* waits in a row with nothing to answer: a hang */

/* A REGISTER_RESULT, one element longer than any honest one (for LIE_EXTRA_RESULT). */
#define ANSWER_MAX (RMIG_RDMA_HDR_SIZE + (RMIG_RDMA_REQ_BATCH + 1) * RMIG_RDMA_REGISTER_RESULT_SIZE)

#define CAPS_RMIG (RMIG_RDMA_CAP_CREDITS | RMIG_RDMA_CAP_REG_BATCH)
#define CAPS_QEMU 0u

enum peer_lie {
	LIE_NONE,
	LIE_EXTRA_RESULT,  /* one result more than asked for */
	LIE_FEWER_RESULTS, /* one result less */
	LIE_QEMU_LEN,	   /* len 16 whatever the repeat, as QEMU answers a batch */
	LIE_TRUNCATED,	   /* fewer bytes arrive than the header says */
};

/* A REGISTER_RESULT not sent yet. */
struct peer_answer {
	uint8_t msg[ANSWER_MAX];
	uint32_t len;
	bool honest;
	uint32_t n;
	uint64_t chunk[RMIG_RDMA_REQ_BATCH], count[RMIG_RDMA_REQ_BATCH];
	uint32_t rkey[RMIG_RDMA_REQ_BATCH];
};

static struct peer {
	struct rmig_rdma_conn *rc; /* NULL once the test closes the connection */
	uint32_t caps;		   /* negotiated: which message types decode */
	struct rmig_ramblock *b;
	uint8_t *mem; /* the destination's copy of the block */
	uint64_t nchunks;
	/* REGISTER_REQUESTs this round, in arrival order */
	unsigned nreq;
	uint64_t req_chunks[MAX_REQS]; /* sum over elements of (chunks + 1) */
	uint32_t req_elems[MAX_REQS];
	uint64_t req_first[MAX_REQS]; /* chunk of the first element */
	uint64_t req_max_extra;	      /* largest element .chunks seen */
	unsigned requested[MAX_CHUNKS];
	/* answers held back until the engine waits */
	struct peer_answer held[RMIG_RDMA_REQ_INFLIGHT + 1];
	unsigned held_head, nheld, max_unanswered;
	uint32_t next_rkey;
	/* registrations outlive rounds, as on a real destination */
	bool answered[MAX_CHUNKS];
	uint32_t rkey[MAX_CHUNKS];
	enum peer_lie lie;
	unsigned lie_at; /* index of the request to lie about */
	/* what arrived this round */
	uint64_t written[MAX_CHUNKS];
	unsigned nwrites, bogus_writes, errors, compress_max_elems;
	unsigned idle;
	bool hung;
	unsigned violations;
	char violation[256];
} peer;

/* The guest, writing while a round runs: called before each run is handed over. */
static void (*guest_write)(struct rmig_ramblock *b, uint64_t page);

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
			peer.answered[a->chunk[i] + k] = true;
			peer.rkey[a->chunk[i] + k] = a->rkey[i];
		}
	}
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
static int peer_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	int ret = rmig_fake_post_send(qp, wr, bad);

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
		atomic_store(&peer.rc->ctrl.aborted, true);
	}
	errno = saved;
	return ret;
}

/* A fresh destination: nothing registered, honest. */
static void peer_reset(void)
{
	free(peer.mem);
	memset(&peer, 0, sizeof(peer));
	peer.lie_at = UINT32_MAX;
	peer.next_rkey = 0x1000;
}

static int peer_setup(void **state)
{
	rmig_fake_install();
	rmig_fake.glue.post_send = peer_post_send;
	rmig_fake.glue.get_cm_event = peer_get_cm_event;
	peer_reset();
	guest_write = NULL;
	return rdma_test_setup(state);
}

static int peer_teardown(void **state)
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

static void peer_assert_clean(void)
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
static int round_run(struct rmig_conn *c, struct rmig_ram *ram, enum rmig_ram_phase phase)
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
			page = rmig_ramblock_find_next_run(b, page, RMIG_RECORD_MAX_PAGES, &n);
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
static struct rmig_conn *peer_connect(uint32_t flags, struct rmig_ram *ram)
{
	struct rmig_conn_opts opts = {.size = sizeof(opts), .timeout_ms = 1000};
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
	assert_false(peer.rc->pin_all);
	assert_int_equal(peer.rc->reg_batch, (flags & RMIG_RDMA_CAP_REG_BATCH) != 0);
	/* The destination's first READY grants its whole window. */
	peer_ready(peer.rc->res.qp, peer.rc->ctrl.window);
	assert_int_equal(rmig_rdma_get_ops()->ram_attach(c, ram), 0);
	assert_int_equal(round_run(c, ram, RMIG_RAM_PHASE_SETUP), 0);
	peer_assert_clean();
	return c;
}

static void peer_close(struct rmig_conn *c)
{
	peer.rc = NULL;
	rmig_rdma_get_ops()->close(c);
	rmig_fake_assert_reverse_teardown();
}

static struct rmig_ramblock *ram_make(struct rmig_ram *ram, uint64_t len)
{
	struct rmig_ramblock *b;

	rmig_ram_init(ram);
	assert_int_equal(rmig_ram_alloc(ram, "ram", len, 4096, &b), 0);
	return b;
}

static void assert_same_memory(void)
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
static void assert_ramp(unsigned exact)
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

/* ---------------- REG_BATCH: ramp, in-flight bound, one request per chunk ---------------- */

static void test_reg_batch_ramp(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b = ram_make(&ram, 64 * MiB);
	struct rmig_conn *c;
	uint64_t i;

	(void)state;
	memset(b->host, 0x5a, b->length);
	c = peer_connect(CAPS_RMIG, &ram);
	rmig_ram_bitmap_set_all(&ram);
	assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), 0);
	peer_assert_clean();
	assert_ramp(5);
	/*
	 * In order, none skipped: the chunk the writer holds back while it
	 * resolves the one before (its dirty bits already cleared) is in the
	 * first prefetch, not left to a blocking request of its own.
	 */
	for (i = 1; i < peer.nreq; i++)
		assert_int_equal(peer.req_first[i], peer.req_first[i - 1] + peer.req_chunks[i - 1]);
	/* The pipeline is used, and never deeper than the engine's bound. */
	assert_int_equal(peer.max_unanswered, RMIG_RDMA_REQ_INFLIGHT);
	for (i = 0; i < peer.nchunks; i++) {
		assert_int_equal(peer.requested[i], 1);
		assert_int_equal(peer.written[i], CHUNK);
	}
	assert_same_memory();
	peer_close(c);
	rmig_ram_fini(&ram);
}

/* ---------------- the ramp starts over each round ---------------- */

static void test_ramp_restarts_next_round(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b = ram_make(&ram, 64 * MiB);
	const uint64_t half = 32;
	struct rmig_conn *c;
	uint64_t i;

	(void)state;
	/* Round 1: the upper half is zero, so it goes as COMPRESS and stays unregistered. */
	memset(b->host, 0x5a, half * CHUNK);
	c = peer_connect(CAPS_RMIG, &ram);
	rmig_ram_bitmap_set_all(&ram);
	assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), 0);
	peer_assert_clean();
	assert_ramp(5);
	for (i = 0; i < peer.nchunks; i++)
		assert_int_equal(peer.requested[i], i < half);
	assert_same_memory();

	/* Round 2: the guest filled the upper half; everything is dirty again. */
	memset(b->host + half * CHUNK, 0x77, b->length - half * CHUNK);
	rmig_ram_mark_dirty(b, 0, b->length);
	assert_int_equal(rmig_ram_sync(&ram), b->npages);
	assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), 0);
	peer_assert_clean();
	/* Only the new chunks are asked for, starting again from one. */
	assert_ramp(5);
	for (i = 0; i < peer.nchunks; i++) {
		assert_int_equal(peer.requested[i], i >= half);
		assert_int_equal(peer.written[i], CHUNK); /* the lower half with its old keys */
	}
	assert_same_memory();
	peer_close(c);
	rmig_ram_fini(&ram);
}

/* ---------------- a request that must wait for a free slot ---------------- */

static void guest_fills_chunk_2(struct rmig_ramblock *b, uint64_t page)
{
	if (page << b->page_shift == 2 * CHUNK)
		memset(b->host + 2 * CHUNK, 0x42, CHUNK);
}

/*
 * Chunk 2 is zero when the prefetches pass it and the guest fills it just
 * before it is handed over, so the writer needs a key nobody asked for
 * while both request slots are taken by prefetches (of chunk 3, then 4-5).
 * The engine must collect an answer before it may ask.
 */
static void test_request_waits_for_a_slot(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b = ram_make(&ram, 16 * MiB);
	struct rmig_conn *c;
	uint64_t i;

	(void)state;
	/* Round 1 registers chunks 0 and 1, so round 2 starts with prefetches only. */
	memset(b->host, 0x5a, 2 * CHUNK);
	c = peer_connect(CAPS_RMIG, &ram);
	rmig_ram_bitmap_set_all(&ram);
	assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), 0);
	peer_assert_clean();

	memset(b->host + 3 * CHUNK, 0x77, b->length - 3 * CHUNK);
	rmig_ram_bitmap_set_all(&ram);
	guest_write = guest_fills_chunk_2;
	assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), 0);
	peer_assert_clean();
	assert_true(peer.nreq >= 3);
	assert_int_equal(peer.req_first[0], 3);
	assert_int_equal(peer.req_chunks[0], 1);
	assert_int_equal(peer.req_first[1], 4);
	assert_int_equal(peer.req_chunks[1], 2);
	/* Chunk 2 first (what the writer waits for), then the ramp's next chunks. */
	assert_int_equal(peer.req_first[2], 2);
	assert_int_equal(peer.req_chunks[2], 4);
	assert_int_equal(peer.max_unanswered, RMIG_RDMA_REQ_INFLIGHT);
	for (i = 0; i < peer.nchunks; i++) {
		assert_int_equal(peer.requested[i], i >= 2);
		assert_int_equal(peer.written[i], CHUNK);
	}
	assert_same_memory();
	peer_close(c);
	rmig_ram_fini(&ram);
}

/* ---------------- zero chunks ---------------- */

/*
 * A 16 MiB block: chunks 0, 5, 9, 10, 11 all zero; chunk 3 zero in its
 * first half; chunk 7 one non-zero page in the middle; the rest full.
 */
static const bool zero_chunk[16] = {[0] = true, [5] = true, [9] = true, [10] = true, [11] = true};

static void fill_zero_pattern(struct rmig_ramblock *b)
{
	uint64_t i;

	for (i = 0; i < 16; i++)
		if (!zero_chunk[i] && i != 3 && i != 7)
			memset(b->host + i * CHUNK, 0x5a, CHUNK);
	memset(b->host + 3 * CHUNK + CHUNK / 2, 0x33, CHUNK / 2);
	memset(b->host + 7 * CHUNK + 64 * 4096, 0x77, 4096);
}

/* REG_BATCH: zero pages anywhere go as COMPRESS; only the non-zero ones are written. */
static void test_zero_chunks_never_requested(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b = ram_make(&ram, 16 * MiB);
	struct rmig_conn *c;
	uint64_t i;

	(void)state;
	fill_zero_pattern(b);
	c = peer_connect(CAPS_RMIG, &ram);
	rmig_ram_bitmap_set_all(&ram);
	assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), 0);
	peer_assert_clean();
	for (i = 0; i < 16; i++) {
		uint64_t want = zero_chunk[i] ? 0 : i == 3 ? CHUNK / 2 : i == 7 ? 4096 : CHUNK;

		assert_int_equal(peer.requested[i], !zero_chunk[i]);
		assert_int_equal(peer.written[i], want);
	}
	assert_true(peer.compress_max_elems > 1); /* batched: REG_BATCH allows it */
	assert_same_memory();
	peer_close(c);
	rmig_ram_fini(&ram);
}

/* ---------------- QEMU peer: single-chunk requests ---------------- */

static void test_qemu_peer_single_chunk_requests(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b = ram_make(&ram, 16 * MiB);
	struct rmig_conn *c;
	uint64_t i;

	(void)state;
	fill_zero_pattern(b);
	c = peer_connect(CAPS_QEMU, &ram);
	assert_false(peer.rc->credits);
	rmig_ram_bitmap_set_all(&ram);
	assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), 0);
	peer_assert_clean();
	assert_true(peer.nreq > 0);
	for (i = 0; i < peer.nreq; i++) {
		assert_int_equal(peer.req_elems[i], 1);
		assert_int_equal(peer.req_chunks[i], 1);
	}
	assert_int_equal(peer.req_max_extra, 0);
	/* QEMU serves only the first COMPRESS element. */
	assert_int_equal(peer.compress_max_elems, 1);
	/* One credit: a request's comes back with its answer, so one is ever unanswered. */
	assert_int_equal(peer.max_unanswered, 1);
	for (i = 0; i < 16; i++) {
		assert_int_equal(peer.requested[i], !zero_chunk[i]);
		/* Pages go whole-chunk to the writer: zero pages of a non-zero chunk too. */
		assert_int_equal(peer.written[i], zero_chunk[i] ? 0 : CHUNK);
	}
	assert_same_memory();
	peer_close(c);
	rmig_ram_fini(&ram);
}

/* ---------------- a REGISTER_RESULT that does not match its request ---------------- */

static void hostile_case(enum peer_lie lie, unsigned at, uint32_t elems)
{
	const struct rmig_transport_ops *ops = rmig_rdma_get_ops();
	struct rmig_ram_counters acc = {0};
	struct rmig_ram ram;
	struct rmig_ramblock *b = ram_make(&ram, 16 * MiB);
	struct rmig_conn *c;
	uint32_t i;

	memset(b->host, 0x5a, b->length);
	/* A zero chunk 4 splits request 2 into two elements (see below). */
	memset(b->host + 4 * CHUNK, 0, CHUNK);
	c = peer_connect(CAPS_RMIG, &ram);
	peer.lie = lie;
	peer.lie_at = at;
	rmig_ram_bitmap_set_all(&ram);
	assert_int_equal(round_run(c, &ram, RMIG_RAM_PHASE_ROUND), -EPROTO);
	/* The lie went to the request meant: the case tests what it says. */
	assert_true(peer.nreq > at);
	assert_int_equal(peer.req_elems[at], elems);
	assert_int_equal(peer.violations, 0); /* no WRITE to a chunk without a good key */
	assert_false(peer.hung);
	assert_int_equal(peer.bogus_writes, 0);
	assert_true(peer.nwrites > 0); /* chunks answered honestly were written */
	assert_true(peer.errors >= 1); /* the destination was told */
	/* Nothing of the lied-about request (or after it) was written. */
	for (i = 0; i < peer.nchunks; i++)
		if (!peer.answered[i])
			assert_int_equal(peer.written[i], 0);
	/* The failure sticks. */
	assert_int_equal(ops->ram_save_page(c, b, 0, 1, &acc), -EPROTO);
	peer_close(c);
	/* Once, although the close after a failure would send it again. */
	assert_int_equal(peer.errors, 1);
	rmig_ram_fini(&ram);
	peer_reset();
}

static void test_hostile_register_result(void **state)
{
	(void)state;
	/*
	 * Request 0 is chunk 0, request 1 one element (chunks 1-2), request 2
	 * two ({3}, {5-7}): chunk 4 is zero and goes as COMPRESS.
	 */
	hostile_case(LIE_EXTRA_RESULT, 1, 1);
	hostile_case(LIE_TRUNCATED, 1, 1);
	hostile_case(LIE_FEWER_RESULTS, 2, 2);
	hostile_case(LIE_QEMU_LEN, 2, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reg_batch_ramp, peer_setup, peer_teardown),
	    cmocka_unit_test_setup_teardown(test_ramp_restarts_next_round, peer_setup,
					    peer_teardown),
	    cmocka_unit_test_setup_teardown(test_request_waits_for_a_slot, peer_setup,
					    peer_teardown),
	    cmocka_unit_test_setup_teardown(test_zero_chunks_never_requested, peer_setup,
					    peer_teardown),
	    cmocka_unit_test_setup_teardown(test_qemu_peer_single_chunk_requests, peer_setup,
					    peer_teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_register_result, peer_setup,
					    peer_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
