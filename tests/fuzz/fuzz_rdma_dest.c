/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the RDMA destination, driven by a hostile source.
 *
 * Each input is one connection (tests/fuzz/rdma_dest_input.h): the source
 * offers capabilities, the destination accepts through the fake glue table
 * (tests/support/fake_glue.h), attaches RAM blocks of odd sizes, and serves
 * RAM rounds (rmig_rdma_dest_load, the transport's ram_load) and stream
 * reads between them as the engine does, while the records of the input
 * arrive one by one as control messages.  Nothing is assumed of them:
 * every byte of every message is the fuzzer's.
 *
 * Besides sanitizer reports, these abort():
 *  - a RAM registration outside the blocks, one that pins memory already
 *    pinned, or more bytes registered at once than the RAM has;
 *  - an answer that lies: a key that is no live region, or one that does
 *    not hold what was asked for, blocks described wrongly, segments the
 *    source's own checks refuse;
 *  - the destination still waiting after the source disconnected (it
 *    would hang), or anything left registered or allocated at the end.
 *
 * With FUZZ_DEST_KEYED the destination requires a key the input cannot
 * know, and these abort too: more registered before the proof than the
 * one page of an untrusted source, and a source accepted at all.
 *
 * No peer-timeout: waits end because the source disconnects once the
 * input is used up, which keeps runs independent of the clock.
 * FUZZ_RDMA_DEST_VERBOSE=1 in the environment shows rmig's log and every
 * message either side sends.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rmig/log.h>
#include <rmig/transport.h>

#include "common/base/util.h"
#include "common/ram/ram.h"
#include "rdma/chunk.h"
#include "rdma/conn.h"
#include "rdma/validate.h"
#include "rdma/wire.h"
#include "tests/fuzz/rdma_dest_input.h"
#include "tests/support/fake_glue.h"

/* Live RAM regions tracked; without overlap there can be no more than chunks. */
#define MAX_MRS 64
/* Waits after the source left: the destination should have noticed at the first. */
#define HANG_WAITS 100
/* REGISTER_REQUESTs delivered and not answered yet: at most the receive ring. */
#define MAX_PENDING (RMIG_RDMA_RECV_BUFS + 2)

struct pending_req {
	uint32_t n;
	bool valid; /* every element passed validation: the destination must answer it */
	uint32_t block[RMIG_RDMA_MAX_REPEAT];
	uint64_t first[RMIG_RDMA_MAX_REPEAT], count[RMIG_RDMA_MAX_REPEAT];
};

static struct rmig_ramblock blk[FUZZ_DEST_NBLOCKS];
static struct rmig_ramblock *blk_ptrs[FUZZ_DEST_NBLOCKS];
static struct rmig_ram ram;
static uint64_t ram_bytes; /* of the blocks that exist in this run */
static uint64_t base[FUZZ_DEST_NBLOCKS];

/* The fake's own slots, which the wrappers below call. */
static struct rmig_rdma_glue fake;

static struct {
	const uint8_t *in;
	size_t len, pos;
	struct rmig_rdma_conn *rc;
	uint32_t caps; /* negotiated */
	bool serving;  /* the connection is up and the input plays the source */
	bool keyed;    /* the destination requires a key (FUZZ_DEST_KEYED) */
	bool stream;   /* the source offers PIN_STREAM (FUZZ_DEST_STREAM) */
	/* PIN_STREAM: what the regions answered so far cover, per block */
	uint64_t covered[FUZZ_DEST_NBLOCKS];
	uint32_t nseg[FUZZ_DEST_NBLOCKS];
	unsigned ctrl_regs; /* registrations of message buffers, at accept */
	bool gone;     /* the source disconnected */
	unsigned waits_after_gone;
	/* registrations of RAM, once attached */
	bool armed;
	unsigned reg_calls, fail_reg;
	uint64_t max_mr;
	struct ibv_mr *mrs[MAX_MRS];
	unsigned nmrs;
	uint64_t mr_bytes;
	/* what the destination has said */
	bool error_sent;
	bool have_blocks;
	struct rmig_rdma_block blocks[FUZZ_DEST_NBLOCKS];
	unsigned pend_head, npend; /* in pend[] */
} fz;

/* Apart from fz, which is cleared for each input: these are large. */
static struct pending_req pend[MAX_PENDING];

static uint8_t msg[RMIG_RDMA_CONTROL_MAX];
static bool verbose;
static char key_path[64]; /* a memfd: nothing is left behind */

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_rdma_dest: invariant broken: %s\n", what);
	abort();
}

static void check(bool cond, const char *what)
{
	if (!cond)
		fail(what);
}

static void quiet(void *opaque, enum rmig_log_level level, const char *m)
{
	(void)opaque, (void)level, (void)m;
}

static void init_once(void)
{
	const char *v = getenv("FUZZ_RDMA_DEST_VERBOSE");
	uint32_t i;
	int key_fd;

	if (ram.cap)
		return;
	/* The fake port never goes down: a failed request need not wait for it to (progress.c). */
	setenv("RMIG_RDMA_PORT_SETTLE_MS", "0", 0);
	/* Faulting in 11 MiB of rings per input would be most of the run; inputs touch a few pages. */
	setenv("RMIG_RDMA_NO_RING_PREPARE", "1", 0);
	for (i = 0; i < FUZZ_DEST_NBLOCKS; i++) {
		struct rmig_ramblock *b = &blk[i];

		snprintf(b->name, sizeof(b->name), "block%u", i);
		b->length = fuzz_dest_block_len[i];
		/* The heap, not mmap: ASan guards both ends of each block. */
		b->host = aligned_alloc(FUZZ_DEST_PAGE_SIZE, b->length);
		if (!b->host)
			abort();
		b->page_size = FUZZ_DEST_PAGE_SIZE;
		b->page_shift = 12;
		b->npages = b->length / FUZZ_DEST_PAGE_SIZE;
		b->index = i;
		blk_ptrs[i] = b;
	}
	ram.blocks = blk_ptrs;
	ram.cap = FUZZ_DEST_NBLOCKS;
	key_fd = memfd_create("fuzz-rdma-dest-key", 0);
	if (key_fd < 0 || write(key_fd, "a key the fuzzer cannot know, 32b", 33) != 33)
		abort();
	snprintf(key_path, sizeof(key_path), "/proc/self/fd/%d", key_fd);
	verbose = v && *v && strcmp(v, "0");
	if (!verbose)
		rmig_log_set_sink(quiet, NULL);
}

/* ---- registrations ---- */

static int live_mr(uint32_t rkey)
{
	for (unsigned i = 0; i < fz.nmrs; i++)
		if (fz.mrs[i]->rkey == rkey)
			return (int)i;
	return -1;
}

/* Does [@b, @b + @blen) hold [@a, @a + @alen)?  Addresses as integers: they span allocations. */
static bool holds(uintptr_t b, uint64_t blen, uintptr_t a, uint64_t alen)
{
	return b <= a && a - b <= blen && alen <= blen - (a - b);
}

/* Does live region @i (-1: none) hold [@addr, @addr + @len)? */
static bool mr_holds(int i, const uint8_t *addr, uint64_t len)
{
	return i >= 0 && holds((uintptr_t)fz.mrs[i]->addr, fz.mrs[i]->length, (uintptr_t)addr, len);
}

static struct ibv_mr *fz_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	uintptr_t a = (uintptr_t)addr;
	struct ibv_mr *mr;
	uint32_t i;

	if (!fz.armed) { /* the control buffers, at accept */
		check(!fz.keyed || (len <= RMIG_RDMA_PREAUTH_PAGE && fz.ctrl_regs == 0),
		      "more than one page registered for an unauthenticated source");
		fz.ctrl_regs++;
		return fake.reg_mr(pd, addr, len, access);
	}
	if (++fz.reg_calls == fz.fail_reg) {
		errno = ENOMEM;
		return NULL;
	}
	check(len > 0, "an empty registration");
	for (i = 0; i < ram.nblocks && !holds((uintptr_t)blk[i].host, blk[i].length, a, len); i++)
		;
	check(i < ram.nblocks, "a registration outside every RAM block");
	for (i = 0; i < fz.nmrs; i++) {
		uintptr_t b = (uintptr_t)fz.mrs[i]->addr;

		check(a + len <= b || b + fz.mrs[i]->length <= a, "memory pinned twice");
	}
	fz.mr_bytes += len;
	check(fz.mr_bytes <= ram_bytes, "more bytes registered than the RAM has");
	check(fz.nmrs < MAX_MRS, "more regions than chunks");
	mr = fake.reg_mr(pd, addr, len, access);
	fz.mrs[fz.nmrs++] = mr;
	return mr;
}

static int fz_dereg_mr(struct ibv_mr *mr)
{
	for (unsigned i = 0; i < fz.nmrs; i++) {
		if (fz.mrs[i] == mr) {
			fz.mr_bytes -= mr->length;
			fz.mrs[i] = fz.mrs[--fz.nmrs];
			break;
		}
	}
	return fake.dereg_mr(mr);
}

static int fz_query_device(struct ibv_context *c, struct ibv_device_attr *a)
{
	int ret = fake.query_device(c, a);

	a->max_mr_size = fz.max_mr;
	return ret;
}

/* ---- what the destination says ---- */

static void check_blocks_result(const struct rmig_rdma_hdr *h, const uint8_t *p)
{
	bool pin_all = fz.caps & RMIG_RDMA_CAP_PIN_ALL;

	check(h->len == ram.nblocks * RMIG_RDMA_BLOCK_SIZE, "RAM_BLOCKS_RESULT: one per block");
	for (uint32_t i = 0; i < ram.nblocks; i++) {
		struct rmig_rdma_block *b = &fz.blocks[i];
		int m;

		rmig_rdma_block_decode(p + (size_t)i * RMIG_RDMA_BLOCK_SIZE, b);
		check(b->remote_host_addr == (uintptr_t)blk[i].host && b->offset == base[i] &&
			  b->length == blk[i].length,
		      "RAM_BLOCKS_RESULT describes a block wrongly");
		m = live_mr(b->rkey);
		/* PIN_STREAM: no key yet, each comes with its region. */
		check(pin_all && !(fz.caps & RMIG_RDMA_CAP_PIN_STREAM)
			  ? m >= 0 && fz.mrs[m]->addr == blk[i].host
			  : b->rkey == 0,
		      "RAM_BLOCKS_RESULT: the key is not the block's first region");
	}
	fz.have_blocks = true;
}

/* [PIN_STREAM] The one region answered must be the next one, as the source checks it. */
static void check_stream_segment(const struct rmig_rdma_hdr *h, const uint8_t *p)
{
	struct rmig_rdma_segment s;
	uint32_t b = 0;
	int m;

	while (b < ram.nblocks && fz.covered[b] == blk[b].length)
		b++;
	check(b < ram.nblocks, "a region pinned past the RAM");
	check(!rmig_rdma_stream_segment_validate(&ram, h, p, b, fz.covered[b], fz.nseg[b], &s),
	      "a pinned region the source would refuse");
	m = live_mr(s.rkey);
	check(m >= 0 && fz.mrs[m]->addr == blk[b].host + s.start && fz.mrs[m]->length == s.length,
	      "a pinned region's key that is not its region");
	fz.covered[b] += s.length;
	fz.nseg[b]++;
}

static void check_segments_result(const struct rmig_rdma_hdr *h, const uint8_t *p)
{
	static struct rmig_rdma_segment seg[RMIG_RDMA_MAX_REPEAT];
	uint32_t n = rmig_rdma_hdr_count(h), i;

	check(fz.have_blocks, "SEGMENTS_RESULT before RAM_BLOCKS_RESULT");
	if (fz.caps & RMIG_RDMA_CAP_PIN_STREAM) {
		check_stream_segment(h, p);
		return;
	}
	check(!rmig_rdma_segments_result_validate(&ram, fz.blocks, h, p, seg),
	      "SEGMENTS_RESULT the source would refuse");
	for (i = 0; i < n; i++) {
		int m = live_mr(seg[i].rkey);

		check(m >= 0 && fz.mrs[m]->addr == blk[seg[i].block_idx].host + seg[i].start &&
			  fz.mrs[m]->length == seg[i].length,
		      "SEGMENTS_RESULT: a key that is not that segment's region");
	}
}

static void check_register_result(const struct rmig_rdma_hdr *h, const uint8_t *p)
{
	struct pending_req *q = &pend[fz.pend_head];

	check(fz.npend > 0, "REGISTER_RESULT that nobody asked for");
	fz.pend_head = (fz.pend_head + 1) % MAX_PENDING;
	fz.npend--;
	check(q->valid, "REGISTER_RESULT to a request with an invalid element");
	check(h->repeat == q->n && h->len == q->n * RMIG_RDMA_REGISTER_RESULT_SIZE,
	      "REGISTER_RESULT: not one result per element");
	for (uint32_t i = 0; i < q->n; i++) {
		const struct rmig_ramblock *b = &blk[q->block[i]];
		struct rmig_rdma_register_result r;
		uint64_t start = rmig_rdma_chunk_start(q->first[i]), end;

		rmig_rdma_register_result_decode(p + (size_t)i * RMIG_RDMA_REGISTER_RESULT_SIZE,
						 &r);
		check(r.host_addr == (uintptr_t)b->host,
		      "REGISTER_RESULT: not the block's address");
		/* Under pin-all the key is the segment's that holds the first chunk. */
		end = rmig_rdma_chunk_end(b->length, (fz.caps & RMIG_RDMA_CAP_PIN_ALL)
							 ? q->first[i]
							 : q->first[i] + q->count[i] - 1);
		check(mr_holds(live_mr(r.rkey), b->host + start, end - start),
		      "REGISTER_RESULT: the key does not hold the chunks asked for");
	}
}

static void check_sent(const struct ibv_send_wr *wr)
{
	const uint8_t *buf = (const uint8_t *)(uintptr_t)wr->sg_list[0].addr;
	struct rmig_rdma_hdr h;

	check(wr->opcode == IBV_WR_SEND, "the destination posted an RDMA WRITE");
	check(!rmig_rdma_hdr_decode_caps(buf, wr->sg_list[0].length, fz.caps, &h),
	      "the destination sent a message that does not decode");
	if (verbose)
		fprintf(stderr, "destination: %s repeat %u len %u\n", rmig_rdma_msg_name(h.type),
			h.repeat, h.len);
	if (fz.error_sent)
		return; /* given up: what it still had queued is no answer */
	switch (h.type) {
	case RMIG_RDMA_MSG_ERROR:
		fz.error_sent = true;
		break;
	case RMIG_RDMA_MSG_READY:
		/* Before accept returns, only an untrusted source is granted anything: one credit. */
		check(h.repeat >= 1 && h.repeat <= (fz.rc ? fz.rc->ctrl.window : 1),
		      "READY grants more than the window");
		break;
	case RMIG_RDMA_MSG_AUTH_RESPONSE:
		check(fz.keyed && !fz.rc, "AUTH_RESPONSE outside the exchange");
		break;
	case RMIG_RDMA_MSG_KEEPALIVE:
	case RMIG_RDMA_MSG_UNREGISTER_FINISHED:
		break;
	case RMIG_RDMA_MSG_RAM_BLOCKS_RESULT:
		check_blocks_result(&h, buf + RMIG_RDMA_HDR_SIZE);
		break;
	case RMIG_RDMA_MSG_SEGMENTS_RESULT:
		check_segments_result(&h, buf + RMIG_RDMA_HDR_SIZE);
		break;
	case RMIG_RDMA_MSG_REGISTER_RESULT:
		check_register_result(&h, buf + RMIG_RDMA_HDR_SIZE);
		break;
	default:
		fail("the destination sent a source's message");
	}
}

/* The NIC: every SEND goes out and completes at once. */
static int fz_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	int ret = rmig_fake_post_send(qp, wr, bad);

	if (ret)
		return ret;
	for (; wr; wr = wr->next) {
		check_sent(wr);
		if (wr->send_flags & IBV_SEND_SIGNALED) {
			struct ibv_wc wc = {
			    .wr_id = wr->wr_id, .status = IBV_WC_SUCCESS, .opcode = IBV_WC_SEND};

			rmig_fake_cq_push(qp->send_cq, &wc);
		}
	}
	return 0;
}

/* ---- the source ---- */

/* A REGISTER_REQUEST the destination will answer: remember what it must hold. */
static void note_request(const uint8_t *m, uint32_t n)
{
	struct rmig_rdma_hdr h;
	struct pending_req *q;

	if (rmig_rdma_hdr_decode_caps(m, n, fz.caps, &h) ||
	    h.type != RMIG_RDMA_MSG_REGISTER_REQUEST)
		return;
	if (fz.npend == MAX_PENDING) {
		/* More than the receive ring holds: it cannot all be served in order anyway. */
		fz.error_sent = true;
		return;
	}
	q = &pend[(fz.pend_head + fz.npend++) % MAX_PENDING];
	q->n = h.repeat;
	q->valid = true;
	for (uint32_t i = 0; i < h.repeat && q->valid; i++) {
		struct rmig_rdma_register r;

		rmig_rdma_register_decode(
		    m + RMIG_RDMA_HDR_SIZE + (size_t)i * RMIG_RDMA_REGISTER_SIZE, &r);
		q->valid = !rmig_rdma_validate_register(&ram, base, &r, &q->first[i], &q->count[i]);
		q->block[i] = r.block_idx;
	}
}

/* The next record as the message to send, in msg; false when none is left. */
static bool next_record(uint8_t *ctlp, uint32_t *n)
{
	uint8_t ctl;
	size_t len;

	if (fz.pos >= fz.len)
		return false;
	ctl = *ctlp = fz.in[fz.pos++];
	if (fz.len - fz.pos < 2) {
		len = fz.len - fz.pos;
	} else {
		len = rmig_get_be16(fz.in + fz.pos);
		fz.pos += 2;
		len = RMIG_MIN(len, fz.len - fz.pos);
	}
	memcpy(msg, fz.in + fz.pos, len);
	fz.pos += len;
	*n = (uint32_t)len;
	if (len < RMIG_RDMA_HDR_SIZE)
		return true;
	if (ctl & FUZZ_DEST_CYCLE) {
		uint64_t want =
		    RMIG_MIN((uint64_t)rmig_get_be32(msg) + RMIG_RDMA_HDR_SIZE, sizeof(msg));
		size_t have = len - RMIG_RDMA_HDR_SIZE, i;

		/* Doubling copies of the pattern: byte by byte was a quarter of the run time. */
		if (!have)
			memset(msg + len, 0, want - len);
		for (i = len; have && i < want; i += RMIG_MIN(i - RMIG_RDMA_HDR_SIZE, want - i))
			memcpy(msg + i, msg + RMIG_RDMA_HDR_SIZE, RMIG_MIN(i - RMIG_RDMA_HDR_SIZE, want - i));
		*n = (uint32_t)want;
	} else if (ctl & FUZZ_DEST_FIX_LEN) {
		rmig_put_be32(msg, (uint32_t)(len - RMIG_RDMA_HDR_SIZE));
	}
	return true;
}

/* The connection's QP, while accept still holds it too. */
static struct ibv_qp *source_qp(void)
{
	return rmig_fake.req_id ? rmig_fake.req_id->qp : NULL;
}

static void source_leaves(void)
{
	rmig_fake_cm_push(RDMA_CM_EVENT_DISCONNECTED);
	fz.gone = true;
}

/* The QP fails a RECV, as the device reports a broken or flushed queue pair. */
static void recv_fails(uint32_t n)
{
	struct ibv_wc wc = {.status = IBV_WC_WR_FLUSH_ERR, .opcode = IBV_WC_RECV};

	if (n && msg[0] % (IBV_WC_GENERAL_ERR + 1) != IBV_WC_SUCCESS)
		wc.status = (enum ibv_wc_status)(msg[0] % (IBV_WC_GENERAL_ERR + 1));
	if (verbose)
		fprintf(stderr, "source's QP: a receive fails (%d)\n", wc.status);
	if (rmig_fake.rq_n) {
		wc.wr_id = rmig_fake.rq[rmig_fake.rq_head].wr_id;
		rmig_fake.rq_head = (rmig_fake.rq_head + 1) % RMIG_FAKE_RQ_MAX;
		rmig_fake.rq_n--;
	}
	rmig_fake_cq_push(source_qp()->recv_cq, &wc);
}

/* The destination waits: the source sends its next record, and those sent along with it. */
static void source_sends(void)
{
	do {
		uint8_t ctl;
		uint32_t n;

		if (!next_record(&ctl, &n)) {
			source_leaves();
			return;
		}
		if (ctl & FUZZ_DEST_WC_ERROR) {
			recv_fails(n);
			continue;
		}
		if (verbose)
			fprintf(stderr, "source: %s repeat %u len %u (%u bytes)\n",
				n >= 8 ? rmig_rdma_msg_name(rmig_get_be32(msg + 4)) : "?",
				n >= 12 ? rmig_get_be32(msg + 8) : 0,
				n >= 4 ? rmig_get_be32(msg) : 0, n);
		/* No RECV posted: a real source sees RNR retries run out, and gives up. */
		if (rmig_fake_deliver(source_qp(), msg, n) < 0) {
			source_leaves();
			return;
		}
		note_request(msg, n);
	} while (fz.pos < fz.len && (fz.in[fz.pos] & FUZZ_DEST_NOWAIT));
}

/*
 * The engine reads the CM channel (always readable in the fake) only when
 * its CQs are empty and it must wait: the moment the source acts.
 */
static int fz_get_cm_event(struct rdma_event_channel *ch, struct rdma_cm_event **ev)
{
	int ret = rmig_fake_get_cm_event(ch, ev);

	if (ret == 0 || !fz.serving || !source_qp())
		return ret;
	if (fz.gone) {
		check(++fz.waits_after_gone < HANG_WAITS,
		      "the destination keeps waiting after the source left: it would hang");
		errno = EAGAIN;
		return -1;
	}
	source_sends();
	return rmig_fake_get_cm_event(ch, ev);
}

/* ---- the engine ---- */

/* Byte 0's bits 0-4, in order. */
static const uint32_t offer_flag[5] = {
    RMIG_RDMA_CAP_PIN_ALL,
    RMIG_RDMA_CAP_CREDITS,
    RMIG_RDMA_CAP_REG_BATCH,
    RMIG_RDMA_CAP_PIN_SEGMENTS,
    RMIG_RDMA_CAP_KEEPALIVE,
};

/* The source connects with @offer; the destination accepts, or refuses (NULL). */
static struct rmig_conn *accept_source(struct rmig_listener *l, uint8_t offer)
{
	struct rmig_rdma_caps caps = {.version = offer & FUZZ_DEST_OFFER_BAD_VERSION ? 2 : 1};
	uint8_t pdata[RMIG_RDMA_CAPS_SIZE];
	struct rmig_conn *c = NULL;

	for (unsigned i = 0; i < RMIG_ARRAY_SIZE(offer_flag); i++)
		if (offer & (1u << i))
			caps.flags |= offer_flag[i];
	if (offer & FUZZ_DEST_OFFER_UNKNOWN)
		caps.flags |= 0x80000000u | 0x2u;
	if (fz.stream)
		caps.flags |= RMIG_RDMA_CAP_PIN_STREAM;
	if (fz.keyed)
		caps.flags |= RMIG_RDMA_CAP_AUTH;
	rmig_rdma_caps_encode(&caps, pdata);
	rmig_fake_connect_request(pdata, offer & FUZZ_DEST_OFFER_NO_PDATA ? 0 : sizeof(pdata));
	if (rmig_rdma_get_ops()->accept(l, 1000, &c) < 0)
		return NULL;
	check(!(offer & (FUZZ_DEST_OFFER_BAD_VERSION | FUZZ_DEST_OFFER_NO_PDATA)),
	      "accepted a source that is none");
	check(!fz.keyed, "accepted a source that cannot know the key");
	return c;
}

/*
 * As the engine's load: a RAM round at each HOOK record, and between
 * rounds the stream, whose bytes come as the source flushed them: a round's
 * END-OF-ROUND and the next HOOK in one QEMU_FILE message.
 */
static void serve(struct rmig_conn *c)
{
	const struct rmig_transport_ops *ops = rmig_rdma_get_ops();
	enum rmig_ram_phase phase = RMIG_RAM_PHASE_SETUP;
	static uint8_t stream[64 * 1024];

	for (;;) {
		if (ops->ram_load(c, phase) < 0)
			return;
		phase = RMIG_RAM_PHASE_ROUND;
		do {
			if (ops->read(c, stream, sizeof(stream)) <= 0)
				return;
		} while (fz.rc->rd_have);
	}
}

static void glue_install(void)
{
	rmig_fake_install();
	fake = rmig_fake.glue;
	rmig_fake.glue.reg_mr = fz_reg_mr;
	rmig_fake.glue.dereg_mr = fz_dereg_mr;
	rmig_fake.glue.query_device = fz_query_device;
	rmig_fake.glue.post_send = fz_post_send;
	rmig_fake.glue.get_cm_event = fz_get_cm_event;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct rmig_transport_ops *ops = rmig_rdma_get_ops();
	struct rmig_conn_opts opts = {.size = sizeof(opts), .timeout_ms = 1000};
	struct rmig_listener *l = NULL;
	struct rmig_conn *c;
	uint32_t i;

	if (size < FUZZ_DEST_HDR)
		return 0;
	init_once();
	memset(&fz, 0, sizeof(fz));
	fz.in = data + FUZZ_DEST_HDR;
	fz.len = size - FUZZ_DEST_HDR;
	fz.max_mr = fuzz_dest_max_mr[data[1] & 7];
	fz.keyed = (data[1] & FUZZ_DEST_KEYED) != 0;
	fz.stream = (data[1] & FUZZ_DEST_STREAM) != 0;
	if (fz.keyed) {
		/* The exchange's messages decode only under AUTH; it plays out inside accept. */
		fz.caps = RMIG_RDMA_CAP_AUTH;
		opts.auth_key = key_path;
	}
	fz.fail_reg = data[2];
	ram.nblocks = fuzz_dest_nblocks[(data[1] >> 3) & 3];
	ram_bytes = 0;
	for (i = 0; i < ram.nblocks; i++) {
		base[i] = ram_bytes;
		ram_bytes += blk[i].length;
	}
	glue_install();
	if (ops->listen("127.0.0.1:4444", &opts, &l) < 0)
		fail("listen on the fake glue");
	/* A keyed destination waits for the exchange inside accept: the input plays it. */
	fz.serving = fz.keyed;
	c = accept_source(l, data[0]);
	fz.serving = false;
	if (c) {
		fz.rc = rmig_rdma_conn_of(c);
		fz.caps = fz.rc->ctrl.caps;
		fz.armed = true;
		if (ops->ram_attach(c, &ram) == 0) {
			fz.serving = true;
			serve(c);
			fz.serving = false;
		}
		ops->close(c);
	}
	ops->listener_close(l);
	check(fz.nmrs == 0 && fz.mr_bytes == 0, "RAM still registered after close");
	check(rmig_fake.live == 0, "verbs or CM objects left after close");
	rmig_fake_remove();
	return 0;
}
