/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpora of the message fuzzers with the real encoders,
 * so that the seeds follow the wire format wherever it goes:
 *
 *   gen_seeds rdma DIR       one valid control message per type that
 *                            rdma/wire.h knows (v1 and rmig's extensions),
 *                            with payloads that name fuzz_rdma_control's
 *                            RAM (tests/fuzz/rdma_layout.h), and the
 *                            rails exchange and join for its addresses
 *                            and cookies                -> corpus-rdma/
 *   gen_seeds handover DIR   one valid hand-over message per kind, a RESULT
 *                            with an errno, and a whole exchange
 *                                                      -> corpus-handover/
 *   gen_seeds rdma-dest DIR  whole connections for fuzz_rdma_dest
 *                            (tests/fuzz/rdma_dest_input.h) that between
 *                            them send every message the destination
 *                            serves, in every registration mode
 *                                                      -> corpus-rdma-dest/
 *
 * Every message is decoded again before it is written: a seed the decoder
 * would refuse is an error here, not a silently useless seed.
 *
 * With --check first, nothing is written: DIR must hold exactly these
 * files with exactly these bytes (a test runs this against the committed
 * corpora, so a format change that forgets to regenerate them fails).
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/logmute.h"
#include "common/base/util.h"
#include "common/engine/handover.h"
#include "rdma/rails.h"
#include "rdma/wire.h"
#include "tests/fuzz/rdma_dest_input.h"
#include "tests/fuzz/rdma_layout.h"

#define MiB FUZZ_RDMA_MiB
/* Where a plausible destination mapped its blocks. */
#define HOST_BASE 0x7f3a40000000ull

#define MAX_SEEDS 32

static const char *dir;
static bool checking;
static int failures;
static const char *written[MAX_SEEDS];
static size_t nwritten;

/* --check: is @path's content exactly @buf? */
static void compare(const char *path, const uint8_t *buf, size_t len)
{
	static uint8_t old[RMIG_RDMA_HDR_SIZE + 64 * 1024 + 1];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		fprintf(stderr, "%s: missing (%s); run gen_seeds to write it\n", path,
			strerror(errno));
		failures++;
		return;
	}
	n = fread(old, 1, sizeof(old), f);
	fclose(f);
	if (n != len || memcmp(old, buf, len)) {
		fprintf(stderr, "%s: stale, not what the encoders write now; run gen_seeds\n",
			path);
		failures++;
	}
}

static void put(const char *name, const uint8_t *buf, size_t len)
{
	char path[4096];
	FILE *f;

	if (nwritten == MAX_SEEDS) {
		fprintf(stderr, "more than %d seeds: raise MAX_SEEDS\n", MAX_SEEDS);
		exit(1);
	}
	written[nwritten++] = name;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (checking) {
		compare(path, buf, len);
		return;
	}
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* RAM-space base of block @i, as rmig_rdma_layout_bases() computes it. */
static uint64_t base_of(uint32_t i)
{
	uint64_t sum = 0;

	for (uint32_t j = 0; j < i; j++)
		sum += fuzz_rdma_block_len[j];
	return sum;
}

/*
 * Build {@type, @repeat} around @len bytes of @payload, check that the
 * decoder takes it whole under every capability, and write it as @name.
 */
static void rdma_msg(const char *name, uint32_t type, uint32_t repeat, const uint8_t *payload,
		     uint32_t len)
{
	static uint8_t msg[RMIG_RDMA_HDR_SIZE + 64 * 1024];
	struct rmig_rdma_hdr h;
	int n;

	n = rmig_rdma_msg_build(type, repeat, payload, len, msg, sizeof(msg));
	if (n < 0 || rmig_rdma_hdr_decode_caps(msg, (size_t)n, RMIG_RDMA_CAPS_KNOWN, &h) ||
	    h.type != type || h.len != len || h.repeat != repeat) {
		fprintf(stderr, "seed %s: %s message does not decode as built\n", name,
			rmig_rdma_msg_name(type));
		failures++;
		return;
	}
	put(name, msg, (size_t)n);
}

/*
 * [RAILS] {@type, @n} around @payload: refused by the header decoder under
 * any capabilities (RAILS is not negotiable yet), accepted by its own
 * validator for fuzz_rdma_control's destination, and written as @name.
 */
static void rails_msg(const char *name, uint32_t type, uint32_t n, const uint8_t *payload)
{
	uint8_t msg[RMIG_RDMA_HDR_SIZE + RMIG_RDMA_MAX_RAILS * RMIG_RDMA_RAIL_ADDR_SIZE];
	const uint32_t esz = type == RMIG_RDMA_MSG_RAILS_REQUEST ? RMIG_RDMA_RAIL_ADDR_SIZE
								  : RMIG_RDMA_RAIL_COOKIE_SIZE;
	struct rmig_rdma_hdr h = {.len = n * esz, .type = type, .repeat = n};
	struct rmig_rdma_rail_addr addrs[RMIG_RDMA_MAX_RAILS];
	struct rmig_rdma_rail_cookie cookies[RMIG_RDMA_MAX_RAILS];
	struct sockaddr_storage ss[FUZZ_RDMA_NBOUND];
	struct rmig_rdma_rails_local local;
	struct rmig_rdma_hdr any;
	uint32_t got;
	bool refused;
	int len;

	fuzz_rdma_rails_local(ss, &local);
	len = rmig_rdma_msg_build(type, n, payload, h.len, msg, sizeof(msg));
	/* Refused as expected: not worth a line on stderr. */
	rmig_log_mute(true);
	refused = len > 0 && rmig_rdma_hdr_decode_caps(msg, (size_t)len, 0xffffffffu, &any);
	rmig_log_mute(false);
	if (!refused ||
	    (type == RMIG_RDMA_MSG_RAILS_REQUEST
		 ? rmig_rdma_rails_request_validate(&h, payload, &local, &got, addrs)
		 : rmig_rdma_rails_result_validate(&h, payload, n, cookies))) {
		fprintf(stderr, "seed %s: not a RAILS message that only its validator takes\n",
			name);
		failures++;
		return;
	}
	put(name, msg, (size_t)len);
}

/*
 * One rail per address the fuzzer's destination is bound at; the cookies
 * it gave; a join for rail 1, arriving at rail 1's address.
 */
static void gen_rails(void)
{
	uint8_t p[RMIG_RDMA_MAX_RAILS * RMIG_RDMA_RAIL_ADDR_SIZE], pd[RMIG_RDMA_RAIL_JOIN_SIZE];
	uint8_t cookies[FUZZ_RDMA_NRAILS][RMIG_RDMA_RAIL_COOKIE];
	struct rmig_rdma_rail_addr rails[FUZZ_RDMA_NBOUND];
	struct sockaddr_storage ss[FUZZ_RDMA_NBOUND];
	struct rmig_rdma_rails_local local;
	uint32_t i, rail;

	for (i = 0; i < FUZZ_RDMA_NBOUND; i++) {
		struct rmig_rdma_rail_addr *a = &rails[i];
		const char *ip = fuzz_rdma_rail_bound[i];

		*a = (struct rmig_rdma_rail_addr){.index = i, .port = FUZZ_RDMA_RAIL_PORT};
		a->family = strchr(ip, ':') ? 6 : 4;
		inet_pton(a->family == 4 ? AF_INET : AF_INET6, ip, a->addr);
		rmig_rdma_rail_addr_encode(a, p + i * RMIG_RDMA_RAIL_ADDR_SIZE);
	}
	rails_msg("rails-request.msg", RMIG_RDMA_MSG_RAILS_REQUEST, FUZZ_RDMA_NBOUND, p);
	for (i = 0; i < FUZZ_RDMA_NRAILS; i++) {
		struct rmig_rdma_rail_cookie c = {.index = i};

		fuzz_rdma_rail_cookie(i, c.cookie);
		memcpy(cookies[i], c.cookie, sizeof(c.cookie));
		rmig_rdma_rail_cookie_encode(&c, p + i * RMIG_RDMA_RAIL_COOKIE_SIZE);
	}
	rails_msg("rails-result.msg", RMIG_RDMA_MSG_RAILS_RESULT, FUZZ_RDMA_NRAILS, p);
	fuzz_rdma_rails_local(ss, &local);
	rmig_rdma_rail_join_encode(1, cookies[1], pd);
	if (rmig_rdma_rail_join_decode(pd, sizeof(pd), (const struct sockaddr *)&ss[1],
				       FUZZ_RDMA_NRAILS, rails, 0, cookies, &rail) ||
	    rail != 1) {
		fprintf(stderr, "seed rail-join.pdata: not a join for rail 1 that its check "
				"takes\n");
		failures++;
	}
	put("rail-join.pdata", pd, sizeof(pd));
	rmig_rdma_rail_join_answer_encode(pd);
	if (rmig_rdma_rail_join_answer_check(pd, RMIG_RDMA_RAIL_JOIN_ANSWER_SIZE, 1)) {
		fprintf(stderr, "seed rail-join-answer.pdata: not an answer its check takes\n");
		failures++;
	}
	put("rail-join-answer.pdata", pd, RMIG_RDMA_RAIL_JOIN_ANSWER_SIZE);
}

static void gen_rdma(void)
{
	uint8_t p[64 * 1024];
	uint32_t i, n;

	/* Element-less messages; READY's repeat grants credits under CREDITS. */
	rdma_msg("error.msg", RMIG_RDMA_MSG_ERROR, 1, NULL, 0);
	rdma_msg("ready.msg", RMIG_RDMA_MSG_READY, 8, NULL, 0);
	rdma_msg("ram-blocks-request.msg", RMIG_RDMA_MSG_RAM_BLOCKS_REQUEST, 1, NULL, 0);
	rdma_msg("register-finished.msg", RMIG_RDMA_MSG_REGISTER_FINISHED, 1, NULL, 0);
	rdma_msg("unregister-finished.msg", RMIG_RDMA_MSG_UNREGISTER_FINISHED, 1, NULL, 0);
	rdma_msg("segments-request.msg", RMIG_RDMA_MSG_SEGMENTS_REQUEST, 1, NULL, 0);

	/* The authentication exchange (AUTH): nonces and proofs of fixed sizes. */
	for (i = 0; i < RMIG_RDMA_AUTH_RESPONSE_SIZE; i++)
		p[i] = (uint8_t)(i * 13 + 1);
	rdma_msg("auth-challenge.msg", RMIG_RDMA_MSG_AUTH_CHALLENGE, 1, p,
		 RMIG_RDMA_AUTH_CHALLENGE_SIZE);
	rdma_msg("auth-response.msg", RMIG_RDMA_MSG_AUTH_RESPONSE, 1, p,
		 RMIG_RDMA_AUTH_RESPONSE_SIZE);
	rdma_msg("auth-proof.msg", RMIG_RDMA_MSG_AUTH_PROOF, 1, p, RMIG_RDMA_AUTH_PROOF_SIZE);

	/* The CHANNELS exchange: two lanes each way. */
	for (i = 0; i < 2; i++) {
		struct rmig_rdma_lane_info li = { .index = i, .qpn = 0x11 + i, .psn = 0x1234 + i };

		rmig_rdma_lane_info_encode(&li, p + (size_t)i * RMIG_RDMA_LANE_INFO_SIZE);
	}
	rdma_msg("channels-request.msg", RMIG_RDMA_MSG_CHANNELS_REQUEST, 2, p,
		 2 * RMIG_RDMA_LANE_INFO_SIZE);
	rdma_msg("channels-result.msg", RMIG_RDMA_MSG_CHANNELS_RESULT, 2, p,
		 2 * RMIG_RDMA_LANE_INFO_SIZE);

	/* Stream bytes: the start of an rmig stream ("RMIG", version 1, ...). */
	memset(p, 0, 64);
	rmig_put_be32(p, 0x524d4947u);
	rmig_put_be32(p + 4, 1);
	rmig_put_be32(p + 8, FUZZ_RDMA_NBLOCKS);
	for (i = 12; i < 64; i++)
		p[i] = (uint8_t)(i * 7);
	rdma_msg("qemu-file.msg", RMIG_RDMA_MSG_QEMU_FILE, 1, p, 64);

	/* The destination's blocks, in the source's order, pinned (rkeys set). */
	for (i = 0; i < FUZZ_RDMA_NBLOCKS; i++) {
		struct rmig_rdma_block b = {
		    .remote_host_addr = HOST_BASE + base_of(i),
		    .offset = base_of(i),
		    .length = fuzz_rdma_block_len[i],
		    .rkey = FUZZ_RDMA_DEST_RKEY,
		};

		rmig_rdma_block_encode(&b, p + i * RMIG_RDMA_BLOCK_SIZE);
	}
	rdma_msg("ram-blocks-result.msg", RMIG_RDMA_MSG_RAM_BLOCKS_RESULT, 1, p,
		 FUZZ_RDMA_NBLOCKS * RMIG_RDMA_BLOCK_SIZE);

	/* Zero runs: inside a chunk, across a chunk boundary, a block's ragged tail. */
	{
		const struct rmig_rdma_compress c[] = {
		    {0, 0, base_of(0) + 16 * 4096, 4 * 4096},
		    {0, 0, base_of(0) + MiB - 2 * 4096, 4 * 4096},
		    {0, 1, base_of(1) + MiB, 12 * 1024},
		    {0, 2, base_of(2), 64 * 1024},
		};

		n = sizeof(c) / sizeof(c[0]);
		for (i = 0; i < n; i++)
			rmig_rdma_compress_encode(&c[i], p + i * RMIG_RDMA_COMPRESS_SIZE);
		rdma_msg("compress.msg", RMIG_RDMA_MSG_COMPRESS, n, p, n * RMIG_RDMA_COMPRESS_SIZE);
	}

	/* A batch: one chunk, a chunk plus two more, the last chunk of a block. */
	{
		const struct rmig_rdma_register r[] = {
		    {base_of(0) + 4096, 0, 0},
		    {base_of(0) + MiB + 8192, 0, 2},
		    {base_of(1) + MiB + 4096, 1, 0},
		    {base_of(2), 2, 0},
		};

		n = sizeof(r) / sizeof(r[0]);
		for (i = 0; i < n; i++)
			rmig_rdma_register_encode(&r[i], p + i * RMIG_RDMA_REGISTER_SIZE);
		rdma_msg("register-request.msg", RMIG_RDMA_MSG_REGISTER_REQUEST, n, p,
			 n * RMIG_RDMA_REGISTER_SIZE);
	}

	/* The answer to a one-element request (the fuzzer expects one). */
	{
		const struct rmig_rdma_register_result rr = {0x1234, HOST_BASE};

		rmig_rdma_register_result_encode(&rr, p);
		rdma_msg("register-result.msg", RMIG_RDMA_MSG_REGISTER_RESULT, 1, p,
			 RMIG_RDMA_REGISTER_RESULT_SIZE);
	}

	/* Chunk indexes relative to each block. */
	{
		const struct rmig_rdma_register u[] = {
		    {3, 0, 0},
		    {1, 1, 0},
		    {0, 2, 0},
		};

		n = sizeof(u) / sizeof(u[0]);
		for (i = 0; i < n; i++)
			rmig_rdma_register_encode(&u[i], p + i * RMIG_RDMA_REGISTER_SIZE);
		rdma_msg("unregister-request.msg", RMIG_RDMA_MSG_UNREGISTER_REQUEST, n, p,
			 n * RMIG_RDMA_REGISTER_SIZE);
	}

	/*
	 * Every block tiled by its regions: block 0 in two, the others whole;
	 * each block's first region has the rkey RAM_BLOCKS_RESULT gave it.
	 */
	{
		const struct rmig_rdma_segment s[] = {
		    {0, FUZZ_RDMA_DEST_RKEY, 0, 2 * MiB},
		    {0, 0x77, 2 * MiB, fuzz_rdma_block_len[0] - 2 * MiB},
		    {1, FUZZ_RDMA_DEST_RKEY, 0, fuzz_rdma_block_len[1]},
		    {2, FUZZ_RDMA_DEST_RKEY, 0, fuzz_rdma_block_len[2]},
		};

		n = sizeof(s) / sizeof(s[0]);
		for (i = 0; i < n; i++)
			rmig_rdma_segment_encode(&s[i], p + i * RMIG_RDMA_SEGMENT_SIZE);
		rdma_msg("segments-result.msg", RMIG_RDMA_MSG_SEGMENTS_RESULT, n, p,
			 n * RMIG_RDMA_SEGMENT_SIZE);
	}
	gen_rails();
}

/* Encode @n messages back to back, check each decodes to itself, write them. */
static void handover_msgs(const char *name, const enum rmig_handover_kind *kinds, const int *status,
			  size_t n)
{
	uint8_t buf[4 * RMIG_HANDOVER_SIZE];
	enum rmig_handover_kind k;
	int st;
	size_t i;

	for (i = 0; i < n; i++) {
		rmig_handover_encode(buf + i * RMIG_HANDOVER_SIZE, kinds[i], status[i]);
		if (rmig_handover_decode(buf + i * RMIG_HANDOVER_SIZE, &k, &st) || k != kinds[i] ||
		    st != status[i]) {
			fprintf(stderr, "seed %s: %s message does not decode as built\n", name,
				rmig_handover_kind_get_name(kinds[i]));
			failures++;
			return;
		}
	}
	put(name, buf, n * RMIG_HANDOVER_SIZE);
}

static void gen_handover(void)
{
	static const enum rmig_handover_kind result = RMIG_HANDOVER_RESULT,
					     commit = RMIG_HANDOVER_COMMIT,
					     abort_ = RMIG_HANDOVER_ABORT;
	static const enum rmig_handover_kind talk[] = {RMIG_HANDOVER_RESULT, RMIG_HANDOVER_COMMIT};
	static const int zero = 0, eio = EIO, zeros[] = {0, 0};

	handover_msgs("result.msg", &result, &zero, 1);
	handover_msgs("result-eio.msg", &result, &eio, 1);
	handover_msgs("commit.msg", &commit, &zero, 1);
	handover_msgs("abort.msg", &abort_, &zero, 1);
	/* What one connection carries: the destination's RESULT, the source's COMMIT. */
	handover_msgs("result-commit.msg", talk, zeros, 2);
}

/* ---- fuzz_rdma_dest: one connection per seed ---- */

static uint8_t conn[64 * 1024];
static size_t conn_len;

static void conn_begin(uint8_t offer, uint8_t max_mr, uint8_t fail_reg)
{
	conn[0] = offer;
	conn[1] = max_mr; /* all blocks: bits 3-4 clear; FUZZ_DEST_KEYED may be or-ed in */
	conn[2] = fail_reg;
	conn_len = FUZZ_DEST_HDR;
}

static void conn_record(uint8_t ctl, const uint8_t *m, size_t n)
{
	if (conn_len + FUZZ_DEST_REC_HDR + n > sizeof(conn) || n > 0xffff) {
		fprintf(stderr, "rdma-dest seed: more than fits a record or a seed\n");
		exit(1);
	}
	conn[conn_len] = ctl;
	conn[conn_len + 1] = (uint8_t)(n >> 8);
	conn[conn_len + 2] = (uint8_t)n;
	memcpy(conn + conn_len + FUZZ_DEST_REC_HDR, m, n);
	conn_len += FUZZ_DEST_REC_HDR + n;
}

/* One record: the message {@type, @repeat, @len bytes of @payload} sent with @ctl. */
static void conn_msg(uint8_t ctl, uint32_t type, uint32_t repeat, const void *payload, uint32_t len)
{
	static uint8_t m[RMIG_RDMA_HDR_SIZE + 64 * 1024];
	struct rmig_rdma_hdr h;
	int n;

	n = rmig_rdma_msg_build(type, repeat, payload, len, m, sizeof(m));
	if (n < 0 || rmig_rdma_hdr_decode_caps(m, (size_t)n, RMIG_RDMA_CAPS_KNOWN, &h) ||
	    h.type != type || h.repeat != repeat) {
		fprintf(stderr, "rdma-dest seed: %s message does not decode as built\n",
			rmig_rdma_msg_name(type));
		failures++;
		return;
	}
	conn_record(ctl, m, (size_t)n);
}

/*
 * A CYCLE record: the header says {@len, @type, @repeat} and only @plen
 * bytes follow, which the fuzzer repeats up to @len.
 */
static void conn_cycle(uint32_t type, uint32_t repeat, const void *payload, uint32_t plen,
		       uint32_t len)
{
	const struct rmig_rdma_hdr h = {.len = len, .type = type, .repeat = repeat};
	uint8_t m[RMIG_RDMA_HDR_SIZE + 64];

	rmig_rdma_hdr_encode(&h, m);
	memcpy(m + RMIG_RDMA_HDR_SIZE, payload, plen);
	conn_record(FUZZ_DEST_CYCLE, m, RMIG_RDMA_HDR_SIZE + plen);
}

static void conn_plain(uint32_t type)
{
	conn_msg(0, type, 1, NULL, 0);
}

/* The stream between rounds: one round's END-OF-ROUND and the next HOOK, say. */
static void conn_stream(void)
{
	static const uint8_t bytes[] = {0x00, 0x00, 0x00, 0x05, 0x00, 0x00,
					0x00, 0x04, 0x00, 0x00, 0x00, 0x02};

	conn_msg(0, RMIG_RDMA_MSG_QEMU_FILE, 1, bytes, sizeof(bytes));
}

/* The SETUP round: the block exchange, then the stream up to the next round's HOOK. */
static void conn_setup_round(void)
{
	conn_plain(RMIG_RDMA_MSG_RAM_BLOCKS_REQUEST);
	conn_plain(RMIG_RDMA_MSG_REGISTER_FINISHED);
	conn_stream();
}

static uint64_t dest_base(uint32_t i)
{
	uint64_t sum = 0;

	for (uint32_t j = 0; j < i; j++)
		sum += fuzz_dest_block_len[j];
	return sum;
}

static void conn_register(uint8_t ctl, uint32_t type, const struct rmig_rdma_register *r,
			  uint32_t n)
{
	uint8_t p[16 * RMIG_RDMA_REGISTER_SIZE];

	for (uint32_t i = 0; i < n; i++)
		rmig_rdma_register_encode(&r[i], p + i * RMIG_RDMA_REGISTER_SIZE);
	conn_msg(ctl, type, n, p, n * RMIG_RDMA_REGISTER_SIZE);
}

static void conn_compress(uint8_t ctl, const struct rmig_rdma_compress *c, uint32_t n)
{
	uint8_t p[16 * RMIG_RDMA_COMPRESS_SIZE];

	for (uint32_t i = 0; i < n; i++)
		rmig_rdma_compress_encode(&c[i], p + i * RMIG_RDMA_COMPRESS_SIZE);
	conn_msg(ctl, RMIG_RDMA_MSG_COMPRESS, n, p, n * RMIG_RDMA_COMPRESS_SIZE);
}

static void gen_rdma_dest(void)
{
	const uint8_t rmig =
	    FUZZ_DEST_OFFER_CREDITS | FUZZ_DEST_OFFER_REG_BATCH | FUZZ_DEST_OFFER_KEEPALIVE;
	/* One chunk; a run of three; a block's ragged last chunk; a block smaller than a chunk. */
	const struct rmig_rdma_register one = {dest_base(0) + FUZZ_DEST_MiB + 4096, 0, 0};
	const struct rmig_rdma_register batch[] = {
	    {dest_base(0), 0, 0},
	    {dest_base(0) + FUZZ_DEST_MiB, 0, 2},
	    {dest_base(1) + FUZZ_DEST_MiB + 8192, 1, 0},
	    {dest_base(2), 2, 0},
	};
	/* A run of two, then its first chunk dropped and its second asked for alone. */
	const struct rmig_rdma_register run = {dest_base(1), 1, 1};
	const struct rmig_rdma_register unreg = {0, 1, 0};
	const struct rmig_rdma_register second = {dest_base(1) + FUZZ_DEST_MiB, 1, 0};
	/* Zero runs: inside a chunk, across a chunk end, a ragged tail, a whole block. */
	const struct rmig_rdma_compress zero[] = {
	    {0, 0, dest_base(0) + 16 * 4096, 4 * 4096},
	    {0, 0, dest_base(0) + FUZZ_DEST_MiB - 8192, 4 * 4096},
	    {0, 1, dest_base(1) + FUZZ_DEST_MiB, 512 * 1024},
	    {0, 2, dest_base(2), 12 * 1024},
	};
	uint8_t elem[RMIG_RDMA_REGISTER_SIZE];
	uint8_t nonce[RMIG_RDMA_AUTH_CHALLENGE_SIZE];

	/*
	 * A destination that requires a key: the exchange's messages, a
	 * proof that cannot be right, and a block list where the challenge
	 * is due.  Both end in the untrusted exchange.
	 */
	memset(nonce, 0x6e, sizeof(nonce));
	conn_begin(rmig, FUZZ_DEST_KEYED, 0);
	conn_msg(0, RMIG_RDMA_MSG_AUTH_CHALLENGE, 1, nonce, RMIG_RDMA_AUTH_CHALLENGE_SIZE);
	conn_msg(0, RMIG_RDMA_MSG_AUTH_PROOF, 1, nonce, RMIG_RDMA_AUTH_PROOF_SIZE);
	conn_setup_round();
	put("auth-exchange.conn", conn, conn_len);

	conn_begin(rmig, FUZZ_DEST_KEYED, 0);
	conn_setup_round();
	put("auth-skipped.conn", conn, conn_len);

	/* QEMU's v1: one READY per message, one element per request. */
	conn_begin(0, 0, 0);
	conn_setup_round();
	conn_register(0, RMIG_RDMA_MSG_REGISTER_REQUEST, &one, 1);
	conn_compress(0, zero, 1);
	conn_plain(RMIG_RDMA_MSG_REGISTER_FINISHED);
	conn_stream();
	put("dynamic-v1.conn", conn, conn_len);

	/* rmig's flow: a batch, the same again (served from what it holds), COMPRESS ranges. */
	conn_begin(rmig, 0, 0);
	conn_setup_round();
	conn_register(0, RMIG_RDMA_MSG_REGISTER_REQUEST, batch, 4);
	conn_register(0, RMIG_RDMA_MSG_REGISTER_REQUEST, batch, 4);
	conn_compress(0, zero, 4);
	conn_plain(RMIG_RDMA_MSG_REGISTER_FINISHED);
	conn_stream();
	put("register-batch.conn", conn, conn_len);

	conn_begin(rmig, 0, 0);
	conn_setup_round();
	conn_register(0, RMIG_RDMA_MSG_REGISTER_REQUEST, &run, 1);
	conn_register(0, RMIG_RDMA_MSG_UNREGISTER_REQUEST, &unreg, 1);
	conn_register(0, RMIG_RDMA_MSG_REGISTER_REQUEST, &second, 1);
	conn_plain(RMIG_RDMA_MSG_REGISTER_FINISHED);
	put("unregister.conn", conn, conn_len);

	/* 4096 elements, all one chunk: registered once, answered 4096 times. */
	conn_begin(rmig, 0, 0);
	conn_setup_round();
	rmig_rdma_register_encode(&one, elem);
	conn_cycle(RMIG_RDMA_MSG_REGISTER_REQUEST, RMIG_RDMA_MAX_REPEAT, elem,
		   RMIG_RDMA_REGISTER_SIZE, RMIG_RDMA_MAX_REPEAT * RMIG_RDMA_REGISTER_SIZE);
	rmig_rdma_compress_encode(&zero[0], elem);
	conn_cycle(RMIG_RDMA_MSG_COMPRESS, RMIG_RDMA_MAX_REPEAT, elem, RMIG_RDMA_COMPRESS_SIZE,
		   RMIG_RDMA_MAX_REPEAT * RMIG_RDMA_COMPRESS_SIZE);
	conn_plain(RMIG_RDMA_MSG_REGISTER_FINISHED);
	put("register-max-batch.conn", conn, conn_len);

	/* Credits: the four the destination granted, spent at once. */
	conn_begin(rmig, 0, 0);
	conn_setup_round();
	conn_compress(0, zero, 1);
	conn_compress(FUZZ_DEST_NOWAIT, zero + 1, 1);
	conn_compress(FUZZ_DEST_NOWAIT, zero + 2, 2);
	conn_msg(FUZZ_DEST_NOWAIT, RMIG_RDMA_MSG_REGISTER_FINISHED, 1, NULL, 0);
	conn_stream();
	put("credits-burst.conn", conn, conn_len);

	/* Pin-all in v1: every block one region; a REGISTER_REQUEST answered from them. */
	conn_begin(FUZZ_DEST_OFFER_PIN_ALL, 0, 0);
	conn_setup_round();
	conn_register(0, RMIG_RDMA_MSG_REGISTER_REQUEST, batch, 4);
	conn_plain(RMIG_RDMA_MSG_REGISTER_FINISHED);
	put("pin-all.conn", conn, conn_len);

	/* Pin-all at a 1 MiB max_mr_size: blocks in segments, described by SEGMENTS_RESULT. */
	conn_begin(FUZZ_DEST_OFFER_PIN_ALL | FUZZ_DEST_OFFER_PIN_SEGMENTS | rmig, 1, 0);
	conn_plain(RMIG_RDMA_MSG_RAM_BLOCKS_REQUEST);
	conn_plain(RMIG_RDMA_MSG_SEGMENTS_REQUEST);
	conn_plain(RMIG_RDMA_MSG_REGISTER_FINISHED);
	conn_stream();
	conn_register(0, RMIG_RDMA_MSG_REGISTER_REQUEST, batch, 4);
	conn_plain(RMIG_RDMA_MSG_REGISTER_FINISHED);
	put("pin-segments.conn", conn, conn_len);

	/*
	 * PIN_STREAM at a 1 MiB max_mr_size: nothing pinned in set-up, then one
	 * region per SEGMENTS_REQUEST; one request more than there are regions
	 * (three blocks of at most a few chunks) is refused.
	 */
	conn_begin(FUZZ_DEST_OFFER_PIN_ALL | FUZZ_DEST_OFFER_PIN_SEGMENTS | rmig, 1 | FUZZ_DEST_STREAM,
		   0);
	conn_plain(RMIG_RDMA_MSG_RAM_BLOCKS_REQUEST);
	conn_plain(RMIG_RDMA_MSG_REGISTER_FINISHED);
	conn_stream();
	conn_plain(RMIG_RDMA_MSG_SEGMENTS_REQUEST);
	conn_plain(RMIG_RDMA_MSG_SEGMENTS_REQUEST);
	conn_register(0, RMIG_RDMA_MSG_REGISTER_REQUEST, batch, 4);
	conn_plain(RMIG_RDMA_MSG_REGISTER_FINISHED);
	put("pin-stream.conn", conn, conn_len);

	conn_begin(FUZZ_DEST_OFFER_PIN_ALL | FUZZ_DEST_OFFER_PIN_SEGMENTS | rmig, 1 | FUZZ_DEST_STREAM,
		   0);
	conn_plain(RMIG_RDMA_MSG_RAM_BLOCKS_REQUEST);
	conn_plain(RMIG_RDMA_MSG_REGISTER_FINISHED);
	conn_stream();
	for (int k = 0; k < 40; k++)
		conn_plain(RMIG_RDMA_MSG_SEGMENTS_REQUEST);
	put("pin-stream-past-ram.conn", conn, conn_len);

	/* The same without PIN_SEGMENTS: v1 has one key per block, so the destination gives up. */
	conn_begin(FUZZ_DEST_OFFER_PIN_ALL, 1, 0);
	conn_plain(RMIG_RDMA_MSG_RAM_BLOCKS_REQUEST);
	put("pin-all-split.conn", conn, conn_len);

	/* The source's KEEPALIVEs, acknowledging none of ours (we are quick). */
	conn_begin(rmig, 0, 0);
	conn_plain(RMIG_RDMA_MSG_RAM_BLOCKS_REQUEST);
	conn_msg(0, RMIG_RDMA_MSG_KEEPALIVE, 0, NULL, 0);
	conn_plain(RMIG_RDMA_MSG_REGISTER_FINISHED);
	conn_msg(0, RMIG_RDMA_MSG_KEEPALIVE, 0, NULL, 0);
	conn_stream();
	put("keepalive.conn", conn, conn_len);

	/* A READY from the source: a credit for a destination that sends no requests. */
	conn_begin(0, 0, 0);
	conn_plain(RMIG_RDMA_MSG_READY);
	conn_setup_round();
	put("ready.conn", conn, conn_len);

	/* Stream bytes: empty, then more than one read takes, then a round. */
	conn_begin(rmig, 0, 0);
	conn_plain(RMIG_RDMA_MSG_REGISTER_FINISHED);
	conn_msg(0, RMIG_RDMA_MSG_QEMU_FILE, 1, NULL, 0);
	conn_cycle(RMIG_RDMA_MSG_QEMU_FILE, 1, "stream", 6, 100 * 1024);
	conn_register(0, RMIG_RDMA_MSG_REGISTER_REQUEST, &one, 1);
	conn_plain(RMIG_RDMA_MSG_REGISTER_FINISHED);
	conn_stream();
	put("qemu-file.conn", conn, conn_len);

	/* The source gives up in the middle of the set-up round. */
	conn_begin(0, 0, 0);
	conn_plain(RMIG_RDMA_MSG_RAM_BLOCKS_REQUEST);
	conn_plain(RMIG_RDMA_MSG_ERROR);
	put("error.conn", conn, conn_len);

	/* The queue pair breaks under a receive: the peer stopped answering. */
	conn_begin(rmig, 0, 0);
	conn_plain(RMIG_RDMA_MSG_RAM_BLOCKS_REQUEST);
	{
		const uint8_t status = 12; /* IBV_WC_RETRY_EXC_ERR: no verbs.h here */

		conn_record(FUZZ_DEST_WC_ERROR, &status, 1);
	}
	put("recv-fails.conn", conn, conn_len);

	/* The first registration of RAM fails (a memlock limit, say). */
	conn_begin(rmig, 0, 1);
	conn_setup_round();
	conn_register(0, RMIG_RDMA_MSG_REGISTER_REQUEST, batch, 4);
	put("register-fails.conn", conn, conn_len);
}

/* --check: every file in the directory must be one this program writes. */
static void check_no_strays(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t i;

	if (!d) {
		fprintf(stderr, "cannot read %s: %s\n", dir, strerror(errno));
		failures++;
		return;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		for (i = 0; i < nwritten && strcmp(written[i], e->d_name); i++)
			;
		if (i == nwritten) {
			fprintf(stderr, "%s/%s: not a seed gen_seeds writes; remove it\n", dir,
				e->d_name);
			failures++;
		}
	}
	closedir(d);
}

static void to_stderr(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	fprintf(stderr, "%s\n", msg);
}

int main(int argc, char **argv)
{
	const char *prog = argv[0];

	if (argc > 1 && !strcmp(argv[1], "--check")) {
		checking = true;
		argc--;
		argv++;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: %s [--check] rdma|handover|rdma-dest DIR\n", prog);
		return 2;
	}
	rmig_log_set_sink(to_stderr, NULL);
	dir = argv[2];
	if (!strcmp(argv[1], "rdma")) {
		gen_rdma();
	} else if (!strcmp(argv[1], "handover")) {
		gen_handover();
	} else if (!strcmp(argv[1], "rdma-dest")) {
		gen_rdma_dest();
	} else {
		fprintf(stderr, "%s: unknown corpus '%s' (rdma, handover, rdma-dest)\n", prog,
			argv[1]);
		return 2;
	}
	if (checking)
		check_no_strays();
	return failures ? 1 : 0;
}
