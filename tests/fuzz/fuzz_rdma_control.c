/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: an arbitrary received control message goes through
 * everything a receiver does with one before acting on it — header decode,
 * element decode, validation against a small fixed RAM, and the chunk
 * arithmetic the engine applies to validated values.  Findings are crashes,
 * sanitizer reports, and the invariants asserted below (a validated range
 * must really lie inside its block).
 *
 * [RAILS] is not negotiable yet, so the header decoder must refuse
 * RAILS_REQUEST / RAILS_RESULT whatever the capabilities; their validators
 * run on the header read by hand.  Every input is also judged as a rail's
 * join private data and as the answer to one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "common/ram/ram.h"
#include "rdma/authkey.h"
#include "rdma/chunk.h"
#include "rdma/keycache.h"
#include "rdma/rails.h"
#include "rdma/validate.h"
#include "rdma/wire.h"
#include "tests/fuzz/rdma_layout.h"

static struct rmig_ramblock blk[FUZZ_RDMA_NBLOCKS];
static struct rmig_ramblock *blk_ptrs[FUZZ_RDMA_NBLOCKS];
static struct rmig_ram ram;
static uint64_t bases[FUZZ_RDMA_NBLOCKS];
static struct rmig_rdma_keycache *kc;
/* What RAM_BLOCKS_RESULT said, for SEGMENTS_RESULT's first-key check. */
static struct rmig_rdma_block dest_blocks[FUZZ_RDMA_NBLOCKS];
/*
 * [RAILS] the destination's addresses: as bound, and as a wildcard
 * listener at the same port, 0.0.0.0 or ::.  The bound ones also as a
 * dual-stack listener sees IPv4 (v4-mapped), for joins to arrive at.
 */
static struct sockaddr_storage rails_ss[FUZZ_RDMA_NBOUND], rails_mapped[FUZZ_RDMA_NBOUND];
static struct sockaddr_storage rails_any[2];
static struct rmig_rdma_rails_local rails_local;
static struct rmig_rdma_rail_addr rails_bound[FUZZ_RDMA_NBOUND];
static uint8_t rail_cookies[RMIG_RDMA_MAX_RAILS][RMIG_RDMA_RAIL_COOKIE];
static const uint8_t zeros[16];
static const uint8_t v4_mapped[12] = {[10] = 0xff, [11] = 0xff};

static void silent(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "invariant broken: %s\n", what);
		abort();
	}
}

static void init_once(void)
{
	const uint64_t *lens = fuzz_rdma_block_len;

	if (ram.blocks)
		return;
	for (int i = 0; i < FUZZ_RDMA_NBLOCKS; i++) {
		snprintf(blk[i].name, sizeof(blk[i].name), "block%d", i);
		blk[i].length = lens[i];
		blk[i].page_size = FUZZ_RDMA_PAGE_SIZE;
		blk_ptrs[i] = &blk[i];
		dest_blocks[i].length = lens[i];
		dest_blocks[i].rkey = FUZZ_RDMA_DEST_RKEY;
	}
	fuzz_rdma_rails_local(rails_ss, &rails_local);
	rails_any[0].ss_family = AF_INET;
	((struct sockaddr_in *)(void *)&rails_any[0])->sin_port = htons(FUZZ_RDMA_RAIL_PORT);
	rails_any[1].ss_family = AF_INET6;
	((struct sockaddr_in6 *)(void *)&rails_any[1])->sin6_port = htons(FUZZ_RDMA_RAIL_PORT);
	for (int i = 0; i < FUZZ_RDMA_NBOUND; i++) {
		struct rmig_rdma_rail_addr *b = &rails_bound[i];
		struct sockaddr_in6 *m = (void *)&rails_mapped[i];

		b->index = (uint32_t)i;
		b->family = strchr(fuzz_rdma_rail_bound[i], ':') ? 6 : 4;
		b->port = FUZZ_RDMA_RAIL_PORT;
		inet_pton(b->family == 4 ? AF_INET : AF_INET6, fuzz_rdma_rail_bound[i], b->addr);
		rails_mapped[i] = rails_ss[i];
		if (b->family == 4) {
			memset(m, 0, sizeof(*m));
			m->sin6_family = AF_INET6;
			m->sin6_port = htons(FUZZ_RDMA_RAIL_PORT);
			m->sin6_addr.s6_addr[10] = 0xff;
			m->sin6_addr.s6_addr[11] = 0xff;
			memcpy(&m->sin6_addr.s6_addr[12], b->addr, 4);
		}
	}
	for (uint32_t r = 0; r < RMIG_RDMA_MAX_RAILS; r++)
		fuzz_rdma_rail_cookie(r, rail_cookies[r]);
	ram.blocks = blk_ptrs;
	ram.nblocks = FUZZ_RDMA_NBLOCKS;
	ram.cap = FUZZ_RDMA_NBLOCKS;
	if (rmig_rdma_layout_bases(&ram, bases, FUZZ_RDMA_NBLOCKS) ||
	    rmig_rdma_keycache_create(FUZZ_RDMA_NBLOCKS, lens, false, &kc))
		abort();
	rmig_log_set_sink(silent, NULL);
}

static uint64_t lens_of(uint32_t block)
{
	return blk[block].length;
}

static void one_register(const uint8_t *p, uint32_t type)
{
	struct rmig_rdma_register r;
	uint64_t first, n;

	rmig_rdma_register_decode(p, &r);
	if (type == RMIG_RDMA_MSG_UNREGISTER_REQUEST) {
		if (!rmig_rdma_validate_unregister(&ram, &r)) {
			check(r.key < rmig_rdma_chunk_count(blk[r.block_idx].length),
			      "unreg chunk");
			rmig_rdma_keycache_invalidate(kc, r.block_idx, r.key, NULL);
		}
		return;
	}
	if (rmig_rdma_validate_register(&ram, bases, &r, &first, &n))
		return;
	check(n >= 1 && first + n <= rmig_rdma_chunk_count(blk[r.block_idx].length), "reg range");
	check(rmig_rdma_chunk_end(blk[r.block_idx].length, first + n - 1) != 0, "reg end");
	/* Exercise the source cache with the same numbers. */
	if (!rmig_rdma_keycache_mark_in_flight(kc, r.block_idx, first))
		rmig_rdma_keycache_set_registered(kc, r.block_idx, first, (uint32_t)r.key,
						  r.chunks);
}

static void one_compress(const uint8_t *p)
{
	struct rmig_rdma_compress c;
	struct rmig_rdma_remote rem;
	uint64_t off, len, piece;

	rmig_rdma_compress_decode(p, &c);
	if (rmig_rdma_validate_compress(&ram, bases, &c, &off))
		return;
	len = blk[c.block_idx].length;
	check(c.length > 0 && off < len && c.length <= len - off, "compress range");
	/* Split it like the engine splits a run. */
	while (c.length) {
		piece = rmig_rdma_chunk_piece(len, off, c.length);
		check(piece > 0 && piece <= c.length, "piece");
		check(rmig_rdma_chunk_span(len, off, piece) == 1, "piece in one chunk");
		rmig_rdma_keycache_resolve(kc, c.block_idx, off, piece, &rem);
		off += piece;
		c.length -= piece;
	}
}

static bool same_rail_addr(const struct rmig_rdma_rail_addr *a,
			   const struct rmig_rdma_rail_addr *b)
{
	return a->family == b->family && a->port == b->port && !memcmp(a->addr, b->addr, 16);
}

/* Could a rail's connection arrive at @a: not loopback, multicast, broadcast, IPv6 link-local? */
static bool unicast(const struct rmig_rdma_rail_addr *a)
{
	static const uint8_t v4_broadcast[4] = {0xff, 0xff, 0xff, 0xff};
	static const uint8_t v6_loopback[16] = {[15] = 1};
	const uint8_t *b = a->addr;

	if (a->family == 4)
		return b[0] != 127 && (b[0] & 0xf0) != 0xe0 && memcmp(b, v4_broadcast, 4);
	return memcmp(b, v6_loopback, 16) && b[0] != 0xff &&
	       !(b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
}

/*
 * RAILS_REQUEST on the destination.  The header's pad picks the listener:
 * bit 0 a wildcard, bit 1 :: rather than 0.0.0.0, bit 2 IPv6 only.
 */
static void rails_request(const struct rmig_rdma_hdr *h, const uint8_t *payload, uint8_t pick)
{
	struct rmig_rdma_rail_addr out[RMIG_RDMA_MAX_RAILS];
	struct rmig_rdma_rails_local l = rails_local;
	bool wild = pick & 1, any6 = pick & 2, v6only = pick & 4;
	uint32_t n, i, k;

	if (wild)
		l = (struct rmig_rdma_rails_local){.control = &rails_ss[0],
						   .bound = &rails_any[any6],
						   .nbound = 1,
						   .wildcard = true,
						   .v6only = v6only};
	if (rmig_rdma_rails_request_validate(h, payload, &l, &n, out))
		return;
	check(n >= 2 && n <= RMIG_RDMA_MAX_RAILS && n == h->repeat, "an accepted rails count");
	check(same_rail_addr(&out[0], &rails_bound[0]), "rail 0 is the control connection's");
	for (i = 0; i < n; i++) {
		bool bound = false;

		check(out[i].index == i && out[i].port != 0 &&
			  (out[i].family == 6 ||
			   (out[i].family == 4 && !memcmp(out[i].addr + 4, zeros, 12))),
		      "an accepted rail is well described");
		check(payload[(size_t)i * RMIG_RDMA_RAIL_ADDR_SIZE + 7] == 0,
		      "an accepted rail has a zero pad");
		for (k = 0; k < FUZZ_RDMA_NBOUND; k++)
			bound |= same_rail_addr(&out[i], &rails_bound[k]);
		check(bound || (wild && out[i].port == FUZZ_RDMA_RAIL_PORT),
		      "an accepted rail is bound");
		/* 0.0.0.0 takes IPv4, :: IPv6 and, dual-stack, IPv4 too. */
		check(i == 0 || !wild ||
			  (any6 ? out[i].family == 6 || !v6only : out[i].family == 4),
		      "an accepted rail of a family the wildcard does not take");
		check(i == 0 || unicast(&out[i]), "an accepted rail no connection can arrive at");
		for (k = 0; k < i; k++)
			check(!same_rail_addr(&out[i], &out[k]), "two rails at one address");
		/* Normalised: joins arrive at addresses where IPv4 has one spelling. */
		check(out[i].family != 6 || memcmp(out[i].addr, v4_mapped, sizeof(v4_mapped)),
		      "an accepted IPv6 rail is v4-mapped");
	}
}

/* RAILS_RESULT on the source; the header's pad picks the count it asked for. */
static void rails_result(const struct rmig_rdma_hdr *h, const uint8_t *payload, uint32_t pad)
{
	struct rmig_rdma_rail_cookie out[RMIG_RDMA_MAX_RAILS];
	uint32_t n = pad ? 2 + pad % (RMIG_RDMA_MAX_RAILS - 1) : FUZZ_RDMA_NRAILS;

	if (rmig_rdma_rails_result_validate(h, payload, n, out))
		return;
	check(h->repeat == n, "an accepted RAILS_RESULT has the count asked for");
	for (uint32_t i = 0; i < n; i++) {
		bool zero = !memcmp(out[i].cookie, zeros, RMIG_RDMA_RAIL_COOKIE);

		check(out[i].index == i && zero == (i == 0), "rail 0 alone has the zero cookie");
		check(!memcmp(payload + (size_t)i * RMIG_RDMA_RAIL_COOKIE_SIZE + 4, zeros, 4),
		      "an accepted rail cookie has a zero pad");
	}
}

/* A message the header decoder refused: RAILS types go to their validators. */
static void one_rails(const uint8_t *msg, size_t size)
{
	struct rmig_rdma_hdr h, any;

	if (size < RMIG_RDMA_HDR_SIZE)
		return;
	h.len = rmig_get_be32(msg);
	h.type = rmig_get_be32(msg + 4);
	h.repeat = rmig_get_be32(msg + 8);
	if (h.type != RMIG_RDMA_MSG_RAILS_REQUEST && h.type != RMIG_RDMA_MSG_RAILS_RESULT)
		return;
	check(rmig_rdma_hdr_decode_caps(msg, size, 0xffffffffu, &any) != 0,
	      "a RAILS message decoded before rails are built");
	if ((size_t)h.len + RMIG_RDMA_HDR_SIZE != size)
		return;
	if (h.type == RMIG_RDMA_MSG_RAILS_REQUEST)
		rails_request(&h, msg + RMIG_RDMA_HDR_SIZE, msg[15]);
	else
		rails_result(&h, msg + RMIG_RDMA_HDR_SIZE, rmig_get_be32(msg + 12));
}

/*
 * The input as a rail join to a destination of FUZZ_RDMA_NRAILS rails,
 * one per bound address, and as its answer.
 */
static void one_join(const uint8_t *msg, size_t size)
{
	/* Byte 32, past the join, says which rails joined before (IB CM pads with zeros). */
	uint32_t joined = size > RMIG_RDMA_RAIL_JOIN_SIZE ? msg[RMIG_RDMA_RAIL_JOIN_SIZE] & 0xe : 0;
	/*
	 * Byte 33 says where the join arrived: bits 0-1 which bound address,
	 * bit 2 as a dual-stack listener sees it.  Without it, at the address
	 * of the rail the join names, so that a valid join is taken.
	 */
	uint32_t at = 0, rail;
	const struct sockaddr_storage *local;

	if (size > RMIG_RDMA_RAIL_JOIN_SIZE + 1)
		at = msg[RMIG_RDMA_RAIL_JOIN_SIZE + 1];
	else if (size >= 12)
		at = rmig_get_be32(msg + 8);
	local = (at & 4 ? rails_mapped : rails_ss) + (at & 3) % FUZZ_RDMA_NBOUND;
	if (!rmig_rdma_rail_join_decode(msg, size, (const struct sockaddr *)local, FUZZ_RDMA_NRAILS,
					rails_bound, joined, rail_cookies, &rail))
		check(rail >= 1 && rail < FUZZ_RDMA_NRAILS && !(joined & (1u << rail)) &&
			  !memcmp(msg + 12, zeros, 4) && (at & 3) % FUZZ_RDMA_NBOUND == rail &&
			  !memcmp(msg + 16, rail_cookies[rail], RMIG_RDMA_RAIL_COOKIE),
		      "a join for a rail that is not waiting, at another address, or with another "
		      "pad or cookie");
	if (!rmig_rdma_rail_join_answer_check(msg, size, 1))
		check(rmig_get_be32(msg) == 1 && rmig_get_be32(msg + 4) == RMIG_RDMA_RAIL_JOIN,
		      "a join answer that is not {1, RAIL_JOIN}");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rmig_rdma_hdr h;
	struct rmig_rdma_caps caps, ans;
	struct rmig_rdma_block out[FUZZ_RDMA_NBLOCKS];
	struct rmig_rdma_segment *segs;
	uint32_t eff, count, i;
	uint8_t *msg;

	init_once();
	if (!rmig_rdma_caps_decode(data, size, &caps) &&
	    !rmig_rdma_caps_negotiate(&caps, RMIG_RDMA_CAPS_KNOWN, &ans)) {
		check((ans.flags & ~caps.flags) == 0, "answer grants unasked flags");
		rmig_rdma_caps_accept(caps.flags, &ans, &eff);
	}

	/* Exact-size heap copy so ASan sees any read past the message. */
	msg = malloc(size ? size : 1);
	if (!msg)
		return 0;
	memcpy(msg, data, size);
	one_join(msg, size);
	/* Every extension on: its types are reachable too. */
	if (rmig_rdma_hdr_decode_caps(msg, size, RMIG_RDMA_CAPS_KNOWN, &h)) {
		one_rails(msg, size);
		goto out;
	}
	check(h.type != RMIG_RDMA_MSG_RAILS_REQUEST && h.type != RMIG_RDMA_MSG_RAILS_RESULT,
	      "a RAILS message decoded before rails are built");
	count = rmig_rdma_hdr_count(&h);
	check((size_t)count * rmig_rdma_msg_elem_size(h.type) <= h.len, "count fits payload");
	rmig_rdma_validate_type(&h, RMIG_RDMA_MSG_NONE);
	for (i = 0; i < count; i++) {
		const uint8_t *p =
		    msg + RMIG_RDMA_HDR_SIZE + (size_t)i * rmig_rdma_msg_elem_size(h.type);
		struct rmig_rdma_register_result rr;

		switch (h.type) {
		case RMIG_RDMA_MSG_COMPRESS:
			one_compress(p);
			break;
		case RMIG_RDMA_MSG_REGISTER_REQUEST:
		case RMIG_RDMA_MSG_UNREGISTER_REQUEST:
			one_register(p, h.type);
			break;
		case RMIG_RDMA_MSG_REGISTER_RESULT:
			rmig_rdma_register_result_decode(p, &rr);
			break;
		default:
			break;
		}
	}
	if (h.type == RMIG_RDMA_MSG_KEEPALIVE)
		check(h.len == 0, "KEEPALIVE carries no payload");
	if (h.type == RMIG_RDMA_MSG_AUTH_RESPONSE) {
		/* A forged proof must not verify against a key it was not made with. */
		static const struct rmig_rdma_auth_key key = { .bytes = "fuzz key 0123456789", .len = 19 };
		static const uint8_t ns[RMIG_RDMA_AUTH_NONCE];

		check(h.len == RMIG_RDMA_AUTH_RESPONSE_SIZE, "AUTH_RESPONSE is 64 bytes");
		check(!rmig_rdma_auth_check(&key, true, h.repeat, ns, msg + RMIG_RDMA_HDR_SIZE,
					    msg + RMIG_RDMA_HDR_SIZE + RMIG_RDMA_AUTH_NONCE),
		      "a random proof verified");
	}
	if (h.type == RMIG_RDMA_MSG_AUTH_CHALLENGE || h.type == RMIG_RDMA_MSG_AUTH_PROOF)
		check(h.len == 32, "AUTH_CHALLENGE and AUTH_PROOF are 32 bytes");
	if (h.type == RMIG_RDMA_MSG_RAM_BLOCKS_RESULT)
		rmig_rdma_blocks_result_validate(&ram, &h, msg + RMIG_RDMA_HDR_SIZE, size & 1, out);
	if (h.type == RMIG_RDMA_MSG_REGISTER_RESULT)
		rmig_rdma_validate_register_result(&h, 1);
	if (h.type == RMIG_RDMA_MSG_CHANNELS_REQUEST || h.type == RMIG_RDMA_MSG_CHANNELS_RESULT) {
		struct rmig_rdma_lane_info li[RMIG_RDMA_MAX_LANES];
		/* As the destination asks (any count) or the source (the count it sent). */
		uint32_t want = size & 1 ? 0 : count, n = want;

		if (!rmig_rdma_channels_validate(&h, msg + RMIG_RDMA_HDR_SIZE, h.type, &n, li)) {
			check(want ? n == want : n >= 2 && n <= RMIG_RDMA_MAX_LANES,
			      "an accepted description has the count asked for");
			for (i = 0; i < n; i++)
				check(li[i].index == i && li[i].qpn && li[i].qpn <= 0xffffff &&
					  li[i].psn <= 0xffffff,
				      "an accepted channel is well described");
		}
	}
	if (h.type == RMIG_RDMA_MSG_SEGMENTS_RESULT) {
		/* Exact size, so ASan catches a write past the count. */
		segs = malloc((size_t)count * sizeof(*segs));
		if (segs && !rmig_rdma_segments_result_validate(&ram, dest_blocks, &h,
								msg + RMIG_RDMA_HDR_SIZE, segs)) {
			for (i = 0; i < count; i++)
				check(segs[i].block_idx < FUZZ_RDMA_NBLOCKS &&
					  segs[i].start < lens_of(segs[i].block_idx) &&
					  segs[i].length > 0 &&
					  segs[i].length <=
					      lens_of(segs[i].block_idx) - segs[i].start,
				      "segment inside its block");
		}
		free(segs);
		/* [PIN_STREAM] one region, the next one lacking: block 0 from the msg's own start */
		{
			struct rmig_rdma_segment one;
			uint64_t want = h.len >= 16 ? rmig_get_be64(msg + RMIG_RDMA_HDR_SIZE + 8) : 0;

			want &= ~(RMIG_RDMA_CHUNK_SIZE - 1);
			if (want < lens_of(0) &&
			    !rmig_rdma_stream_segment_validate(&ram, &h, msg + RMIG_RDMA_HDR_SIZE,
							       0, want, h.repeat & 63, &one))
				check(one.block_idx == 0 && one.start == want && one.length > 0 &&
					  one.length <= lens_of(0) - want && one.rkey != 0,
				      "a streamed region is the one asked for, inside its block");
		}
	}
out:
	free(msg);
	return 0;
}
