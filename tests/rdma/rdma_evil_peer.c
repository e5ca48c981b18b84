/* SPDX-License-Identifier: MIT */
/*
 * A hostile RDMA migration source, for the soft-RoCE integration test.
 * Uses librdmacm / libibverbs directly (not rmig's glue, so it cannot share
 * the victim's bugs).  Connects to `rmig incoming rdma:ADDR:PORT`, speaks
 * just enough of the protocol to get the victim into its RAM hook (stream
 * header + HOOK record), then sends one malformed control message and
 * checks the victim answers with ERROR or hangs up, rather than crashing
 * or obeying.
 *
 *   rdma_evil_peer ADDR PORT CASE
 *   CASE: badlen hugerepeat badblock badoffset badchunk nocredit badready badtype
 *         badunregchunk badunregblock unregister segsunneg segsearly overlap
 *         authsilent authblocks chanmany chanbadidx chanqpn0 chanstream chanunneg
 *         streampast
 *
 * Exit 0 when the victim rejected the message, 1 otherwise, 2 on setup
 * failure.  "unregister" is the one well-formed case: register chunk 0,
 * unregister it (twice: the second finds nothing and must still be
 * answered), register it again; exit 0 when every answer was the right one.
 * The auth cases offer AUTH to a victim that requires --auth-key and never
 * prove anything: "authsilent" says nothing for 8 s after its first READY
 * (the test reads the victim's pinned memory meanwhile), "authblocks" sends
 * a stream header asking for 1 TiB where its AUTH_CHALLENGE is due.
 * The chan cases negotiate CHANNELS (but chanunneg) and then describe their
 * data lanes badly, right where the victim waits for CHANNELS_REQUEST:
 * 65 lanes, a lane out of order, queue pair 0, stream bytes instead, and
 * the request on a connection that did not negotiate it.  Nothing may be
 * built for them.  "streampast" negotiates streamed pin-all (PIN_STREAM),
 * has every region of its 4 MiB block pinned, then asks for another.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#define MSG_MAX (512 * 1024)
#define NRECV 4
#define T_ERROR 1
#define T_READY 2
#define T_QEMU_FILE 3
#define T_COMPRESS 6
#define T_REGISTER_REQUEST 7
#define T_REGISTER_RESULT 8
#define T_UNREGISTER_REQUEST 10
#define T_UNREGISTER_FINISHED 11
#define T_RAM_BLOCKS_REQUEST 4
#define T_RAM_BLOCKS_RESULT 5
#define T_SEGMENTS_REQUEST 0x100
#define T_SEGMENTS_RESULT 0x101
#define CAP_PIN_STREAM 0x00400000
#define CAP_PIN_ALL 0x01
#define CAP_PIN_SEGMENTS 0x00040000
#define CAP_AUTH 0x00100000
#define CAP_CHANNELS 0x00200000
#define T_CHANNELS_REQUEST 0x106

static struct rdma_event_channel *ch;
static struct rdma_cm_id *id;
static struct ibv_cq *cq;
static struct ibv_mr *mr;
static uint8_t *mem; /* NRECV receive buffers, then one send buffer */

static void put32(uint8_t *p, uint32_t v) { v = htonl(v); memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)(v >> 32)); put32(p + 4, (uint32_t)v); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return ntohl(v); }
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }
/* The last message received: valid until NRECV - 1 more arrive. */
static const uint8_t *last;

static void die(const char *what)
{
	fprintf(stderr, "evil: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void wait_event(enum rdma_cm_event_type want)
{
	struct rdma_cm_event *ev;

	if (rdma_get_cm_event(ch, &ev))
		die("rdma_get_cm_event");
	if (ev->event != want) {
		fprintf(stderr, "evil: got %s, wanted %s\n", rdma_event_str(ev->event),
			rdma_event_str(want));
		exit(2);
	}
	rdma_ack_cm_event(ev);
}

static void post_recv(uint32_t i)
{
	struct ibv_sge sge = { (uintptr_t)(mem + (size_t)i * MSG_MAX), MSG_MAX, mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = i, .sg_list = &sge, .num_sge = 1 }, *bad;

	if (ibv_post_recv(id->qp, &wr, &bad))
		die("ibv_post_recv");
}

/* Completions send_raw() took off the CQ before its own: the victim's answers, in order. */
static struct ibv_wc held[NRECV];
static unsigned nheld;

/* Send header + payload as given: the header fields may lie on purpose. */
static void send_raw(uint32_t len_field, uint32_t type, uint32_t repeat, const void *payload,
		     uint32_t real_len)
{
	uint8_t *b = mem + (size_t)NRECV * MSG_MAX;
	struct ibv_sge sge = { (uintptr_t)b, 16 + real_len, mr->lkey };
	struct ibv_send_wr wr = { .wr_id = 100, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED }, *bad;
	struct ibv_wc wc;
	int n;

	put32(b, len_field);
	put32(b + 4, type);
	put32(b + 8, repeat);
	put32(b + 12, 0);
	if (real_len)
		memcpy(b + 16, payload, real_len);
	if (ibv_post_send(id->qp, &wr, &bad))
		die("ibv_post_send");
	/* Wait for our send; receive completions seen meanwhile are kept for next_msg(). */
	for (;;) {
		n = ibv_poll_cq(cq, 1, &wc);
		if (n < 0)
			die("ibv_poll_cq");
		if (n == 0)
			continue;
		if (wc.wr_id == 100)
			return;
		if (nheld < NRECV)
			held[nheld++] = wc;
		else
			fprintf(stderr, "evil: unexpected completion while sending\n");
	}
}

#define MSG_GONE	-1 /* a flushed or failed completion: the victim went away */
#define MSG_SILENT	-2 /* nothing within the timeout */

#define MSG_NONE	-3 /* a completion that is no message (ours) */

/* What one completion says: a message's type, MSG_GONE or MSG_NONE. */
static int msg_of(const struct ibv_wc *wc)
{
	int type;

	if (wc->status != IBV_WC_SUCCESS)
		return MSG_GONE;
	if (!(wc->opcode & IBV_WC_RECV))
		return MSG_NONE;
	type = (int)get32(mem + (size_t)wc->wr_id * MSG_MAX + 4);
	last = mem + (size_t)wc->wr_id * MSG_MAX;
	post_recv((uint32_t)wc->wr_id);
	return type;
}

/* Next received message type, MSG_GONE or MSG_SILENT. */
static int next_msg(int timeout_s)
{
	time_t end = time(NULL) + timeout_s;
	struct ibv_wc wc;
	int t;

	while (nheld) {
		wc = held[0];
		memmove(held, held + 1, --nheld * sizeof(held[0]));
		t = msg_of(&wc);
		if (t != MSG_NONE)
			return t;
	}
	while (time(NULL) < end) {
		int n = ibv_poll_cq(cq, 1, &wc);

		if (n < 0)
			return MSG_GONE;
		if (n == 0)
			continue;
		t = msg_of(&wc);
		if (t != MSG_NONE)
			return t;
	}
	return MSG_SILENT;
}

static void wait_ready(void)
{
	int t = next_msg(30);

	if (t != T_READY) {
		fprintf(stderr, "evil: expected READY, got %d\n", t);
		exit(2);
	}
}

static void send_stream_preamble(uint64_t ram_len)
{
	uint8_t s[64];
	size_t n = 0;

	put32(s + n, 0x524d4947u); n += 4;	/* "RMIG" */
	put32(s + n, 1); n += 4;		/* version */
	put32(s + n, 0); n += 4;		/* flags */
	put32(s + n, 1); n += 4;		/* nblocks */
	s[n++] = 0; s[n++] = 4;			/* name_len */
	memcpy(s + n, "evil", 4); n += 4;
	put32(s + n, 4096); n += 4;		/* page size */
	put64(s + n, ram_len); n += 8;
	put32(s + n, 3); n += 4;		/* HOOK record */
	put32(s + n, 0); n += 4;
	put64(s + n, 0); n += 8;
	put32(s + n, 0); n += 4;
	put32(s + n, 1); n += 4;		/* phase SETUP */
	send_raw((uint32_t)n, T_QEMU_FILE, 1, s, (uint32_t)n);
}

static void reg_elem(uint8_t *p, uint64_t key, uint32_t block, uint64_t chunks)
{
	put64(p, key);
	put32(p + 8, block);
	put32(p + 12, 0);
	put64(p + 16, chunks);
}

static void compress_elem(uint8_t *p, uint32_t block, uint64_t off, uint64_t len)
{
	put32(p, 0);
	put32(p + 4, block);
	put64(p + 8, off);
	put64(p + 16, len);
}

/* Send one request and check the answer's type; v1 flow control: wait for the next READY. */
static int ask(uint32_t type, const uint8_t *elem, int want, const char *what)
{
	int t;

	send_raw(24, type, 1, elem, 24);
	t = next_msg(30);
	if (t != want) {
		printf("evil: %s answered with type %d, wanted %d\n", what, t, want);
		return 1;
	}
	wait_ready();
	return 0;
}

/* The victim must serve a valid UNREGISTER_REQUEST, and register the chunk again after it. */
static int case_unregister(void)
{
	uint8_t reg[24], unreg[24];
	int bad;

	reg_elem(reg, 0, 0, 0);	  /* destination RAM-space address 0: block 0, chunk 0 */
	reg_elem(unreg, 0, 0, 0); /* chunk index 0 of block 0 */
	bad = ask(T_REGISTER_REQUEST, reg, T_REGISTER_RESULT, "REGISTER_REQUEST");
	bad = bad || ask(T_UNREGISTER_REQUEST, unreg, T_UNREGISTER_FINISHED, "UNREGISTER_REQUEST");
	bad = bad || ask(T_UNREGISTER_REQUEST, unreg, T_UNREGISTER_FINISHED,
			 "UNREGISTER_REQUEST of an unregistered chunk");
	bad = bad || ask(T_REGISTER_REQUEST, reg, T_REGISTER_RESULT, "REGISTER_REQUEST again");
	if (!bad)
		printf("evil: case unregister: registered, unregistered twice and registered "
		       "again\n");
	rdma_disconnect(id);
	return bad;
}

/*
 * [PIN_STREAM] Every region pinned by the answers asked for, one more
 * SEGMENTS_REQUEST must be refused: the victim never pins past its RAM.
 * Returns 0 once the last request is sent; the caller waits for the ERROR.
 */
static int case_stream_past(void)
{
	const uint64_t ram = 4ull << 20;
	uint64_t covered = 0;
	unsigned n;
	int t;

	send_raw(0, T_RAM_BLOCKS_REQUEST, 1, NULL, 0);
	t = next_msg(30);
	if (t != T_RAM_BLOCKS_RESULT) {
		printf("evil: RAM_BLOCKS_REQUEST answered with type %d\n", t);
		return 1;
	}
	wait_ready();
	/* Every region of the block, however the victim cuts it: adjacent, from 0. */
	for (n = 0; covered < ram && n < 64; n++) {
		send_raw(0, T_SEGMENTS_REQUEST, 1, NULL, 0);
		t = next_msg(30);
		if (t != T_SEGMENTS_RESULT || get64(last + 16 + 8) != covered) {
			printf("evil: SEGMENTS_REQUEST %u answered with type %d (region at %llu, "
			       "wanted %llu)\n",
			       n, t, t == T_SEGMENTS_RESULT ? (unsigned long long)get64(last + 24) : 0,
			       (unsigned long long)covered);
			return 1;
		}
		covered += get64(last + 16 + 16);
		wait_ready();
	}
	if (covered != ram) {
		printf("evil: %u regions cover %llu bytes of a %llu-byte block\n", n,
		       (unsigned long long)covered, (unsigned long long)ram);
		return 1;
	}
	printf("evil: %u regions pinned the whole block; asking for one more\n", n);
	send_raw(0, T_SEGMENTS_REQUEST, 1, NULL, 0); /* a region past the RAM */
	return 0;
}

/*
 * The victim must not pin the same memory twice: chunk 1 alone, then
 * chunks 0-1, which overlaps it without fitting inside, must be refused.
 * Returns 0 once the overlap was refused; the caller waits for the ERROR.
 */
static int case_overlap(void)
{
	uint8_t one[24], two[24];

	reg_elem(one, 1 << 20, 0, 0); /* chunk 1 of block 0 */
	reg_elem(two, 0, 0, 1);	      /* chunk 0 and the one after it */
	if (ask(T_REGISTER_REQUEST, one, T_REGISTER_RESULT, "REGISTER_REQUEST of chunk 1"))
		return 1;
	send_raw(24, T_REGISTER_REQUEST, 1, two, 24);
	return 0;
}

/* A CHANNELS_REQUEST of @n lanes, lane @bad described wrongly by @c; or stream bytes. */
static int case_channels(const char *c)
{
	static uint8_t p[70 * 16];
	uint32_t n = !strcmp(c, "chanmany") ? 65 : 2;

	if (!strcmp(c, "chanstream")) {
		send_stream_preamble(4ull << 20);
		return 0;
	}
	memset(p, 0, sizeof(p));
	for (uint32_t i = 0; i < n; i++) {
		put32(p + i * 16, i);
		put32(p + i * 16 + 4, 100 + i); /* a plausible QP number */
		put32(p + i * 16 + 8, 1);
	}
	if (!strcmp(c, "chanbadidx"))
		put32(p + 16, 5);
	if (!strcmp(c, "chanqpn0"))
		put32(p + 16 + 4, 0);
	send_raw(n * 16, T_CHANNELS_REQUEST, n, p, n * 16);
	return 0;
}

int main(int argc, char **argv)
{
	struct addrinfo *res;
	struct ibv_qp_init_attr qa = { 0 };
	struct rdma_conn_param cp = { 0 };
	uint8_t pdata[8], p[64];
	const char *c;
	int t, i;

	if (argc != 4) {
		fprintf(stderr, "usage: rdma_evil_peer ADDR PORT CASE\n");
		return 2;
	}
	c = argv[3];
	if (getaddrinfo(argv[1], argv[2], NULL, &res))
		die("getaddrinfo");
	ch = rdma_create_event_channel();
	if (!ch || rdma_create_id(ch, &id, NULL, RDMA_PS_TCP))
		die("rdma_create_id");
	if (rdma_resolve_addr(id, NULL, res->ai_addr, 5000))
		die("rdma_resolve_addr");
	wait_event(RDMA_CM_EVENT_ADDR_RESOLVED);
	if (rdma_resolve_route(id, 5000))
		die("rdma_resolve_route");
	wait_event(RDMA_CM_EVENT_ROUTE_RESOLVED);
	cq = ibv_create_cq(id->verbs, 16, NULL, NULL, 0);
	if (!cq)
		die("ibv_create_cq");
	qa.send_cq = qa.recv_cq = cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = 8;
	qa.cap.max_recv_wr = NRECV;
	qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
	if (rdma_create_qp(id, NULL, &qa))
		die("rdma_create_qp");
	mem = calloc(NRECV + 1, MSG_MAX);
	mr = ibv_reg_mr(id->qp->pd, mem, (size_t)(NRECV + 1) * MSG_MAX, IBV_ACCESS_LOCAL_WRITE);
	if (!mem || !mr)
		die("ibv_reg_mr");
	for (i = 0; i < NRECV; i++)
		post_recv((uint32_t)i);
	put32(pdata, 1);
	/* Plain v1, one credit at a time; segsearly negotiates pin-all with PIN_SEGMENTS. */
	put32(pdata + 4, !strcmp(c, "segsearly")	? CAP_PIN_ALL | CAP_PIN_SEGMENTS
			 : !strcmp(c, "streampast") ? CAP_PIN_ALL | CAP_PIN_SEGMENTS | CAP_PIN_STREAM
			 : !strncmp(c, "auth", 4) ? CAP_AUTH
			 : !strncmp(c, "chan", 4) && strcmp(c, "chanunneg") ? CAP_CHANNELS
						  : 0);
	cp.private_data = pdata;
	cp.private_data_len = sizeof(pdata);
	cp.retry_count = 7;
	cp.rnr_retry_count = 7;
	cp.responder_resources = cp.initiator_depth = 1;
	if (rdma_connect(id, &cp))
		die("rdma_connect");
	wait_event(RDMA_CM_EVENT_ESTABLISHED);

	wait_ready();
	if (!strcmp(c, "authsilent")) {
		/* Offered AUTH, granted a credit, and says nothing: the victim holds a page, no more. */
		printf("evil: connected, silent\n");
		fflush(stdout);
		sleep(8);
		rdma_disconnect(id);
		return 0;
	}
	if (!strncmp(c, "chan", 4)) {
		if (case_channels(c))
			return 2;
		goto answer;
	}
	/* authblocks: a block list of 1 TiB where the CHALLENGE is due. */
	send_stream_preamble(strcmp(c, "authblocks") ? 4ull << 20 : 1ull << 40);
	if (strcmp(c, "authblocks"))
		wait_ready(); /* the victim is now in its RAM hook */

	memset(p, 0, sizeof(p));
	if (!strcmp(c, "badlen")) {
		compress_elem(p, 0, 0, 4096);
		send_raw(64, T_COMPRESS, 1, p, 24);		/* says 64, carries 24 */
	} else if (!strcmp(c, "hugerepeat")) {
		reg_elem(p, 0, 0, 0);
		send_raw(24, T_REGISTER_REQUEST, 100000, p, 24);
	} else if (!strcmp(c, "badblock")) {
		reg_elem(p, 0, 7, 0);
		send_raw(24, T_REGISTER_REQUEST, 1, p, 24);
	} else if (!strcmp(c, "badoffset")) {
		compress_elem(p, 0, (4 << 20) - 4096, 8192);	/* runs past the block */
		send_raw(24, T_COMPRESS, 1, p, 24);
	} else if (!strcmp(c, "regmixed")) {
		reg_elem(p, 0, 0, 3);				/* 4 MiB: all of block 0 */
		reg_elem(p + 24, 0, 7, 0);			/* there is one block */
		send_raw(48, T_REGISTER_REQUEST, 2, p, 48);
	} else if (!strcmp(c, "badchunk")) {
		reg_elem(p, 0, 0, 1000);			/* 1000 chunks past chunk 0 */
		send_raw(24, T_REGISTER_REQUEST, 1, p, 24);
	} else if (!strcmp(c, "nocredit")) {
		compress_elem(p, 0, 0, 4096);
		send_raw(24, T_COMPRESS, 1, p, 24);
		send_raw(24, T_COMPRESS, 1, p, 24);		/* no READY in between */
		send_raw(24, T_COMPRESS, 1, p, 24);
	} else if (!strcmp(c, "badready")) {
		send_raw(0, T_READY, 4000, NULL, 0);		/* grants absurdly many credits */
	} else if (!strcmp(c, "badtype")) {
		send_raw(0, 77, 1, NULL, 0);
	} else if (!strcmp(c, "badunregchunk")) {
		reg_elem(p, 1000, 0, 0);			/* the block has 4 chunks */
		send_raw(24, T_UNREGISTER_REQUEST, 1, p, 24);
	} else if (!strcmp(c, "badunregblock")) {
		reg_elem(p, 0, 7, 0);				/* there is one block */
		send_raw(24, T_UNREGISTER_REQUEST, 1, p, 24);
	} else if (!strcmp(c, "segsunneg")) {
		send_raw(0, T_SEGMENTS_REQUEST, 1, NULL, 0);	/* extension not negotiated */
	} else if (!strcmp(c, "segsearly")) {
		send_raw(0, T_SEGMENTS_REQUEST, 1, NULL, 0);	/* before RAM_BLOCKS_REQUEST */
	} else if (!strcmp(c, "unregister")) {
		return case_unregister();
	} else if (!strcmp(c, "overlap")) {
		if (case_overlap())
			return 1;
	} else if (!strcmp(c, "streampast")) {
		if (case_stream_past())
			return 1;
	} else if (!strcmp(c, "authblocks")) {
		/* Sent above. */
	} else {
		fprintf(stderr, "evil: unknown case %s\n", c);
		return 2;
	}
answer:
	/* Expect ERROR (skipping READYs the victim may send first) or a hang-up. */
	for (;;) {
		t = next_msg(30);
		if (t == T_READY)
			continue;
		break;
	}
	/* Silence is a victim that took the message and waits: it never refused it. */
	printf("evil: case %s: victim answered %s\n", c,
	       t == T_ERROR	 ? "ERROR"
	       : t == MSG_GONE	 ? "by disconnecting"
	       : t == MSG_SILENT ? "nothing for 30 s (it did not refuse)"
				 : "something else");
	rdma_disconnect(id);
	return t == T_ERROR || t == MSG_GONE ? 0 : 1;
}
