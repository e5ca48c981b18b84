/* SPDX-License-Identifier: MIT */
/*
 * multifd (common/engine/multifd.h): the channel hello, which channel owns
 * which page, pages really sent and received by the engine's channel
 * objects over socketpair()s, and channels that break the rules.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "common/engine/format.h"
#include "common/engine/multifd.h"
#include "common/engine/stats.h"
#include "common/engine/stream.h"
#include "common/ram/ram.h"
#include "plugin/registry.h"
#include "plugin/sock.h"
#include "tests/support/stream_image.h"
#include "tests/support/test_quiet.h"

#define MIB (1024ull * 1024)
/*
 * A cancel, a failed channel or a teardown must end a wait long before
 * the 30 s peer-timeouts below would: a guard against hangs, not a speed
 * goal, so it is wide enough for a loaded CI machine under ASan.
 */
#define PROMPT_S 15.0

static const uint8_t SESSION[RMIG_MULTIFD_SESSION_SIZE] = {
	0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8,
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void assert_error_mentions(const char *what)
{
	const char *msg = rmig_error_get_last();

	if (!strstr(msg, what))
		fail_msg("the error \"%s\" does not mention \"%s\"", msg, what);
}

/* ------------------------------------------------------------------ hello */

static void header_for(struct rmig_stream_header *h, uint32_t channels)
{
	memset(h, 0, sizeof(*h));
	h->version = 1;
	h->flags = RMIG_STREAM_F_MULTIFD | RMIG_STREAM_F_ZERO_PAGES;
	h->channels = channels;
	memcpy(h->session, SESSION, sizeof(h->session));
}

static void test_hello_roundtrip(void **state)
{
	struct rmig_stream_header h;
	uint8_t msg[RMIG_CHANNEL_HELLO_SIZE];

	(void)state;
	header_for(&h, 64);
	for (uint32_t i = 0; i < 64; i++) {
		struct rmig_channel_hello in = { .index = i, .count = 64 }, out;

		memcpy(in.session, SESSION, sizeof(in.session));
		memset(&out, 0xee, sizeof(out));
		rmig_channel_hello_encode(msg, &in);
		/* The wire layout of docs/stream-format.md: "RMCH", version, index, count, session. */
		assert_memory_equal(msg, "RMCH", 4);
		assert_int_equal(rmig_get_be32(msg + 4), RMIG_CHANNEL_VERSION);
		assert_int_equal(rmig_get_be32(msg + 8), i);
		assert_int_equal(rmig_get_be32(msg + 12), 64);
		assert_memory_equal(msg + 16, SESSION, sizeof(SESSION));
		assert_int_equal(rmig_channel_hello_decode(msg, &h, &out), 0);
		assert_int_equal(out.index, i);
		assert_int_equal(out.count, 64);
		assert_memory_equal(out.session, SESSION, sizeof(SESSION));
	}
}

/* A hello built from @in, with byte @at replaced by @val when @at >= 0. */
static int decode_damaged(const struct rmig_stream_header *h, uint32_t index, uint32_t count,
			  int at, uint8_t val)
{
	struct rmig_channel_hello in = { .index = index, .count = count }, out = { .index = 0xdead };
	uint8_t msg[RMIG_CHANNEL_HELLO_SIZE];
	int ret;

	memcpy(in.session, SESSION, sizeof(in.session));
	rmig_channel_hello_encode(msg, &in);
	if (at >= 0)
		msg[at] = val;
	rmig_error_clear();
	ret = rmig_channel_hello_decode(msg, h, &out);
	/* Nothing is handed back from a refused hello. */
	if (ret)
		assert_int_equal(out.index, 0xdead);
	return ret;
}

static void test_hello_rejections(void **state)
{
	struct rmig_stream_header h;

	(void)state;
	header_for(&h, 3);
	assert_int_equal(decode_damaged(&h, 2, 3, -1, 0), 0);

	/* Magic: every byte of it counts. */
	for (int at = 0; at < 4; at++) {
		assert_int_equal(decode_damaged(&h, 0, 3, at, 'x'), -EPROTO);
		assert_error_mentions("magic");
	}
	/* Version: 0, 2 and 0x01000001 (a byte-swapped reader). */
	assert_int_equal(decode_damaged(&h, 0, 3, 7, 0), -EPROTO);
	assert_error_mentions("version");
	assert_int_equal(decode_damaged(&h, 0, 3, 7, 2), -EPROTO);
	assert_error_mentions("version 2");
	assert_int_equal(decode_damaged(&h, 0, 3, 4, 1), -EPROTO);
	assert_error_mentions("version");
	/* Another session: first byte, last byte. */
	assert_int_equal(decode_damaged(&h, 1, 3, 16, 0x11), -EPROTO);
	assert_error_mentions("session");
	assert_int_equal(decode_damaged(&h, 1, 3, 31, 0x09), -EPROTO);
	assert_error_mentions("session");
	/* Index == count, index > count, and an index whose top byte is set. */
	assert_int_equal(decode_damaged(&h, 3, 3, -1, 0), -EPROTO);
	assert_error_mentions("3 of 3");
	assert_int_equal(decode_damaged(&h, 7, 3, -1, 0), -EPROTO);
	assert_int_equal(decode_damaged(&h, 0, 3, 8, 0x80), -EPROTO);
	/* A count that is not the header's, with an index valid for either. */
	assert_int_equal(decode_damaged(&h, 1, 4, -1, 0), -EPROTO);
	assert_error_mentions("announced 3 channels");
	assert_int_equal(decode_damaged(&h, 1, 2, -1, 0), -EPROTO);
	assert_int_equal(decode_damaged(&h, 0, 0, -1, 0), -EPROTO);
	/* A header of one channel takes exactly hello 0 of 1. */
	header_for(&h, 1);
	assert_int_equal(decode_damaged(&h, 0, 1, -1, 0), 0);
	assert_int_equal(decode_damaged(&h, 1, 1, -1, 0), -EPROTO);
}

/* ------------------------------------------------------------- ownership */

static struct rmig_ramblock fake_block(uint32_t index, uint32_t page_size, uint64_t length)
{
	struct rmig_ramblock b;

	memset(&b, 0, sizeof(b));
	snprintf(b.name, sizeof(b.name), "b%u", index);
	b.index = index;
	b.page_size = page_size;
	b.page_shift = (uint32_t)__builtin_ctz(page_size);
	b.length = length;
	b.npages = length >> b.page_shift;
	return b;
}

/*
 * Walk @b as rmig_mfd_send_pages() does, stripe by stripe: every page gets
 * exactly one owner, stripes never mix owners, and the stripes of one
 * block are dealt round-robin from channel (index % N).
 */
static void check_block_stripes(const struct rmig_ramblock *b, uint32_t n, uint64_t *per_channel)
{
	uint64_t stripe_pages = RMIG_MAX(1ull, (1ull << RMIG_MULTIFD_STRIPE_SHIFT) >> b->page_shift);
	uint64_t page = 0, stripe = 0, covered = 0;

	while (page < b->npages) {
		uint64_t left = rmig_multifd_stripe_left(b, page);
		uint32_t owner = rmig_multifd_owner(b, page << b->page_shift, n);

		assert_true(left >= 1 && left <= stripe_pages);
		/* The walk only ever lands on stripe starts. */
		assert_int_equal(page % stripe_pages, 0);
		assert_int_equal(left, stripe_pages);
		assert_true(owner < n);
		assert_int_equal(owner, (uint32_t)((stripe + b->index) % n));
		/* Every page inside the stripe: the same owner, and the right distance to its end. */
		for (uint64_t p = page; p < page + left && p < b->npages; p++) {
			assert_int_equal(rmig_multifd_owner(b, p << b->page_shift, n), owner);
			assert_int_equal(rmig_multifd_stripe_left(b, p), page + left - p);
			per_channel[owner]++;
			covered++;
		}
		/* The next stripe goes to the next channel. */
		if (page + left < b->npages && n > 1)
			assert_int_equal(rmig_multifd_owner(b, (page + left) << b->page_shift, n),
					 (owner + 1) % n);
		page += left;
		stripe++;
	}
	assert_int_equal(covered, b->npages);
}

static void test_owner_stripes(void **state)
{
	static const struct {
		uint32_t page_size;
		uint64_t length;
	} shapes[] = {
		{ 4096, 10 * MIB + 3 * 4096 }, /* a partial last stripe */
		{ 512, 3 * MIB },	       /* 2048 pages a stripe */
		{ 65536, 5 * MIB },
		{ 1 << 20, 7 * MIB },	       /* a page is a stripe */
		{ 2 << 20, 14 * MIB },	       /* bigger pages: one page a stripe */
		{ 1u << 30, 5ull << 30 },
	};

	(void)state;
	for (size_t s = 0; s < RMIG_ARRAY_SIZE(shapes); s++) {
		for (uint32_t n = 1; n <= 9; n++) {
			for (uint32_t idx = 0; idx < 4; idx++) {
				struct rmig_ramblock b =
				    fake_block(idx, shapes[s].page_size, shapes[s].length);
				uint64_t per[9] = { 0 }, stripes, lo = UINT64_MAX, hi = 0;

				uint64_t stripe_len = RMIG_MAX(1ull << 20, (uint64_t)b.page_size);
				uint64_t st_of[9] = { 0 };

				check_block_stripes(&b, n, per);
				/*
				 * Round-robin: no channel holds more than one stripe more
				 * than another, as rmig_multifd_owner() deals them.
				 */
				stripes = (b.length + stripe_len - 1) / stripe_len;
				for (uint64_t k = 0; k < stripes; k++)
					st_of[rmig_multifd_owner(&b, k * stripe_len, n)]++;
				for (uint32_t c = 0; c < n; c++) {
					lo = RMIG_MIN(lo, st_of[c]);
					hi = RMIG_MAX(hi, st_of[c]);
				}
				assert_true(hi - lo <= 1);
			}
		}
	}
}

static void test_owner_huge_pages(void **state)
{
	struct rmig_ramblock b = fake_block(1, 2 << 20, 16 * MIB);

	(void)state;
	/* 2 MiB pages: every page a stripe of its own, dealt page by page. */
	for (uint64_t p = 0; p < b.npages; p++) {
		assert_int_equal(rmig_multifd_stripe_left(&b, p), 1);
		assert_int_equal(rmig_multifd_owner(&b, p << b.page_shift, 3), (p + 1) % 3);
	}
}

static void test_owner_small_blocks_staggered(void **state)
{
	uint64_t per[4] = { 0 };

	(void)state;
	/* Eight blocks of 64 KiB: each lies in one stripe, block i on channel i % 4. */
	for (uint32_t i = 0; i < 8; i++) {
		struct rmig_ramblock b = fake_block(i, 4096, 64 * 1024);

		for (uint64_t p = 0; p < b.npages; p++) {
			assert_int_equal(rmig_multifd_owner(&b, p << 12, 4), i % 4);
			assert_int_equal(rmig_multifd_stripe_left(&b, p), 256 - p);
		}
		check_block_stripes(&b, 4, per);
	}
	/* So four small blocks keep four channels busy, not channel 0 alone. */
	for (uint32_t c = 0; c < 4; c++)
		assert_int_equal(per[c], 2 * 16);
}

/* ------------------------------------------------------ the real thing */

struct pair {
	int raw;		/* the test's end */
	struct rmig_conn *conn; /* the engine's end */
};

static void make_pair(struct pair *p, const char *name, int peer_timeout_ms)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(rmig_sock_conn_new(sv[0], name, peer_timeout_ms, &p->conn), 0);
	/* As the registry does after accept: the unix transport's slots drive it. */
	p->conn->ops = rmig_transport_find("unix");
	assert_non_null(p->conn->ops);
	p->raw = sv[1];
}

/* Both ends engine connections: source side @a, destination side @b. */
static void make_conn_pair(struct rmig_conn **a, struct rmig_conn **b, const char *name,
			   int peer_timeout_ms)
{
	struct pair p;

	make_pair(&p, name, peer_timeout_ms);
	*a = p.conn;
	assert_int_equal(rmig_sock_conn_new(p.raw, name, peer_timeout_ms, b), 0);
	(*b)->ops = rmig_transport_find("unix");
}

static int read_all(struct rmig_conn *c, uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = rmig_conn_read(c, p, len);

		if (n <= 0)
			return n ? (int)n : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Three blocks: 4 KiB pages over several stripes, 512-byte pages, 2 MiB pages. */
static void ram_layout(struct rmig_ram *ram, uint8_t fill)
{
	struct rmig_ramblock *b;

	rmig_ram_init(ram);
	assert_int_equal(rmig_ram_alloc(ram, "pc.ram", 5 * MIB + 3 * 4096, 4096, &b), 0);
	memset(b->host, fill, b->length);
	assert_int_equal(rmig_ram_alloc(ram, "vga.vram", 1536 * 1024, 512, &b), 0);
	memset(b->host, fill, b->length);
	assert_int_equal(rmig_ram_alloc(ram, "huge", 6 * MIB, 2 << 20, &b), 0);
	memset(b->host, fill, b->length);
}

/* Page contents: mostly data, every seventh page and a run in the middle zero. */
static void fill_source(struct rmig_ram *ram, uint32_t seed, uint64_t *zero_pages)
{
	*zero_pages = 0;
	for (uint32_t bi = 0; bi < ram->nblocks; bi++) {
		struct rmig_ramblock *b = ram->blocks[bi];

		for (uint64_t p = 0; p < b->npages; p++) {
			uint8_t *host = b->host + (p << b->page_shift);
			bool zero = (p + bi) % 7 == 3 || (p >= b->npages / 2 && p < b->npages / 2 + 5);

			if (b->page_size == (2u << 20))
				zero = p == 1;
			if (zero) {
				memset(host, 0, b->page_size);
				(*zero_pages)++;
				continue;
			}
			for (uint32_t i = 0; i < b->page_size; i += 8) {
				uint64_t v = ((uint64_t)seed << 48) ^ ((uint64_t)bi << 40) ^
					     (p << 16) ^ i ^ 0x0101010101010101ull;

				memcpy(host + i, &v, 8);
			}
		}
	}
}

static uint64_t ram_pages(const struct rmig_ram *ram)
{
	uint64_t n = 0;

	for (uint32_t bi = 0; bi < ram->nblocks; bi++)
		n += ram->blocks[bi]->npages;
	return n;
}

static void header_from_ram(struct rmig_stream_header *h, const struct rmig_ram *ram,
			    uint32_t channels)
{
	header_for(h, channels);
	h->nblocks = ram->nblocks;
	h->blocks = calloc(ram->nblocks, sizeof(*h->blocks));
	assert_non_null(h->blocks);
	for (uint32_t i = 0; i < ram->nblocks; i++) {
		snprintf(h->blocks[i].name, sizeof(h->blocks[i].name), "%s", ram->blocks[i]->name);
		h->blocks[i].page_size = ram->blocks[i]->page_size;
		h->blocks[i].length = ram->blocks[i]->length;
	}
}

struct sender {
	uint32_t channels;
	struct rmig_ram *ram;
	struct rmig_conn *conns[8]; /* conns[i] carries channel order[i] */
	uint32_t order[8];
	struct rmig_stats st;
	uint32_t rounds; /* 1: bulk only; 2: bulk, then the pages in dirty2 */
	/* Round 1: pages rewritten after round 0 (marked in the dirty log). */
	void (*between)(struct rmig_ram *ram);
	int rc;
	char err[RMIG_ERROR_MAX];
	uint64_t bytes[8];
	uint64_t total_bytes;
	uint64_t later_pages; /* pages dirtied between the rounds */
};

static int send_round(struct rmig_mfd_send *ms, struct rmig_ram *ram)
{
	for (uint32_t bi = 0; bi < ram->nblocks; bi++) {
		struct rmig_ramblock *b = ram->blocks[bi];
		uint64_t page = 0, npages;

		for (;;) {
			int ret;

			page = rmig_ramblock_find_next_run(b, page, 256, &npages);
			if (!npages)
				break;
			rmig_ramblock_clear_pages(b, page, npages);
			ret = rmig_mfd_send_pages(ms, b, page, npages);
			if (ret)
				return ret;
			page += npages;
		}
	}
	return 0;
}

static void *sender_run(void *opaque)
{
	struct sender *s = opaque;
	struct rmig_mfd_send_config cfg = {
		.channels = s->channels,
		.zero_pages = true,
		.ping_interval_ms = 200,
		.stats = &s->st,
	};
	struct rmig_mfd_send *ms = NULL;
	int ret;

	rmig_error_clear();
	ret = rmig_mfd_send_new(&cfg, &ms);
	for (uint32_t i = 0; !ret && i < s->channels; i++) {
		ret = rmig_mfd_send_add(ms, s->order[i], s->conns[i], SESSION);
		s->conns[i] = NULL; /* owned by ms now, even on failure */
	}
	for (uint32_t r = 0; !ret && r < s->rounds; r++) {
		if (r) {
			s->between(s->ram);
			s->later_pages += rmig_ram_sync(s->ram);
		} else {
			rmig_ram_bitmap_set_all(s->ram);
		}
		ret = send_round(ms, s->ram);
		if (!ret)
			ret = rmig_mfd_send_sync(ms, r);
	}
	if (!ret)
		ret = rmig_mfd_send_finish(ms);
	if (ms) {
		uint64_t by_index[8];

		s->total_bytes = rmig_mfd_send_bytes(ms);
		/* No cmocka assert off the main thread: a wrong count fails the check below. */
		if (rmig_mfd_send_channel_bytes(ms, by_index, 8) == s->channels)
			memcpy(s->bytes, by_index, sizeof(by_index));
	}
	s->rc = ret;
	snprintf(s->err, sizeof(s->err), "%s", rmig_error_get_last());
	rmig_mfd_send_free(ms);
	return NULL;
}

/* Round 1's writes: a page in every stripe of pc.ram, and the huge block's zero page. */
static void rewrite_some(struct rmig_ram *ram)
{
	struct rmig_ramblock *pc = ram->blocks[0], *huge = ram->blocks[2];

	for (uint64_t p = 5; p < pc->npages; p += 200) {
		memset(pc->host + (p << 12), (int)(0x40 + p % 100), 4096);
		rmig_ram_mark_dirty(pc, p << 12, 4096);
	}
	/* A data page that becomes zero, and the zero page that gets data. */
	memset(pc->host + 4096 * 2, 0, 4096);
	rmig_ram_mark_dirty(pc, 4096 * 2, 4096);
	memset(huge->host + (2 << 20), 0x77, 4096);
	rmig_ram_mark_dirty(huge, 2 << 20, 4096);
}

static void assert_ram_equal(const struct rmig_ram *a, const struct rmig_ram *b)
{
	assert_int_equal(a->nblocks, b->nblocks);
	for (uint32_t i = 0; i < a->nblocks; i++) {
		const struct rmig_ramblock *x = a->blocks[i], *y = b->blocks[i];

		assert_int_equal(x->length, y->length);
		if (memcmp(x->host, y->host, x->length) != 0) {
			uint64_t off = 0;

			while (x->host[off] == y->host[off])
				off++;
			fail_msg("block %s differs first at offset 0x%llx", x->name,
				 (unsigned long long)off);
		}
	}
}

static void run_send_receive(uint32_t channels, uint32_t rounds)
{
	struct rmig_ram src, dst;
	struct rmig_stream_header h;
	struct rmig_stats dst_st;
	struct rmig_conn *rconn[8], *by_index[8] = { NULL }, *main_dst;
	struct pair main_pair;
	struct rmig_mfd_recv *mr;
	struct sender s = { .channels = channels, .ram = &src, .rounds = rounds,
			    .between = rewrite_some };
	uint64_t zero_pages, dst_channel_sum = 0, src_channel_sum = 0;
	pthread_t t;
	uint8_t byte = 0;

	ram_layout(&src, 0);
	fill_source(&src, channels, &zero_pages);
	/* The destination starts dirty, so that ZERO records have to clear pages. */
	ram_layout(&dst, 0xee);
	header_from_ram(&h, &dst, channels);
	rmig_stats_init(&s.st);
	rmig_stats_init(&dst_st);
	/* Channel i travels over connection (i * 2 + 1) % n: they need not connect in order. */
	for (uint32_t i = 0; i < channels; i++) {
		s.order[i] = (i * 2 + 1) % channels;
		make_conn_pair(&s.conns[i], &rconn[i], "chan", 10000);
	}
	if (channels == 2)
		s.order[0] = 1, s.order[1] = 0;
	make_pair(&main_pair, "main", 10000);
	main_dst = main_pair.conn;
	assert_int_equal(pthread_create(&t, NULL, sender_run, &s), 0);

	/* The destination: each connection's hello names its channel. */
	for (uint32_t i = 0; i < channels; i++) {
		uint8_t msg[RMIG_CHANNEL_HELLO_SIZE];
		struct rmig_channel_hello hello;

		assert_int_equal(read_all(rconn[i], msg, sizeof(msg)), 0);
		assert_ok(rmig_channel_hello_decode(msg, &h, &hello));
		assert_int_equal(hello.index, s.order[i]);
		assert_null(by_index[hello.index]);
		by_index[hello.index] = rconn[i];
	}
	assert_ok(rmig_mfd_recv_start(by_index, &h, &dst, &dst_st, main_dst, 10000, &mr));
	for (uint32_t r = 0; r < rounds; r++)
		assert_ok(rmig_mfd_recv_wait_round(mr, r));
	assert_ok(rmig_mfd_recv_finish(mr));
	assert_int_equal(rmig_mfd_recv_error(mr), 0);
	rmig_mfd_recv_free(mr);
	pthread_join(t, NULL);
	if (s.rc)
		fail_msg("the sender failed: %d %s", s.rc, s.err);

	assert_ram_equal(&src, &dst);
	/*
	 * Stats: the bulk round sends every page once, a zero one as ZERO; the
	 * dirty round adds its pages.  Both sides count the same pages.
	 */
	if (rounds == 1) {
		assert_int_equal(atomic_load(&s.st.duplicate), zero_pages);
		assert_int_equal(atomic_load(&s.st.normal), ram_pages(&src) - zero_pages);
	}
	assert_int_equal(atomic_load(&s.st.duplicate) + atomic_load(&s.st.normal),
			 ram_pages(&src) + s.later_pages);
	if (rounds > 1)
		assert_int_equal(s.later_pages, 9);
	assert_int_equal(atomic_load(&dst_st.duplicate), atomic_load(&s.st.duplicate));
	assert_int_equal(atomic_load(&dst_st.normal), atomic_load(&s.st.normal));
	assert_int_equal(atomic_load(&dst_st.normal_bytes), atomic_load(&s.st.normal_bytes));
	assert_true(atomic_load(&s.st.normal_bytes) >= (ram_pages(&src) - zero_pages) * 512);
	/*
	 * Bytes per channel: the source counts its 32-byte hello.  The
	 * destination counts every byte its channel streams read, and the
	 * hello too or not (the test read it, not rmig_mfd_recv_start()):
	 * both sides agree to the byte, or differ by exactly that hello.
	 */
	assert_int_equal(atomic_load(&dst_st.channels), channels);
	for (uint32_t i = 0; i < channels; i++) {
		uint64_t d = atomic_load(&dst_st.channel_bytes[i]);

		assert_true(d > 1 * MIB);
		if (s.bytes[i] != d && s.bytes[i] != d + RMIG_CHANNEL_HELLO_SIZE)
			fail_msg("channel %u: the source counted %llu bytes, the destination %llu", i,
				 (unsigned long long)s.bytes[i], (unsigned long long)d);
		dst_channel_sum += d;
		src_channel_sum += s.bytes[i];
	}
	assert_int_equal(s.total_bytes, src_channel_sum);
	assert_int_equal(atomic_load(&dst_st.transferred), dst_channel_sum);
	/* The main connection was left alone: it still carries what its peer writes. */
	assert_int_equal(write(main_pair.raw, "k", 1), 1);
	assert_int_equal(rmig_conn_read(main_dst, &byte, 1), 1);
	assert_int_equal(byte, 'k');

	close(main_pair.raw);
	rmig_conn_close(main_dst);
	rmig_format_header_free(&h);
	rmig_ram_fini(&src);
	rmig_ram_fini(&dst);
}

static void test_send_receive_2(void **state)
{
	(void)state;
	run_send_receive(2, 1);
}

static void test_send_receive_3_two_rounds(void **state)
{
	(void)state;
	run_send_receive(3, 2);
}

static void test_send_receive_1(void **state)
{
	(void)state;
	run_send_receive(1, 2);
}

/* A quiet channel says PING, so that its peer can tell quiet from frozen. */
static void test_quiet_channel_pings(void **state)
{
	struct rmig_stats st;
	struct rmig_mfd_send_config cfg = { .channels = 1, .ping_interval_ms = 30, .stats = &st };
	struct rmig_mfd_send *ms;
	struct pair p;
	uint8_t buf[RMIG_CHANNEL_HELLO_SIZE + 3 * RMIG_RECORD_SIZE];
	size_t got = 0;

	(void)state;
	rmig_stats_init(&st);
	make_pair(&p, "chan", 5000);
	assert_ok(rmig_mfd_send_new(&cfg, &ms));
	assert_ok(rmig_mfd_send_add(ms, 0, p.conn, SESSION));
	while (got < sizeof(buf)) {
		struct pollfd pfd = { .fd = p.raw, .events = POLLIN };
		ssize_t n;

		/* A deadline against a hang only: three 30 ms pings come long before. */
		assert_int_equal(poll(&pfd, 1, 10000), 1);
		n = read(p.raw, buf + got, sizeof(buf) - got);

		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_memory_equal(buf, "RMCH", 4);
	for (int i = 0; i < 3; i++) {
		const uint8_t *r = buf + RMIG_CHANNEL_HELLO_SIZE + i * RMIG_RECORD_SIZE;

		assert_int_equal(rmig_get_be32(r), RMIG_REC_PING);
		for (int k = 4; k < RMIG_RECORD_SIZE; k++)
			assert_int_equal(r[k], 0);
	}
	/* A channel counts its bytes after the write returns: stop it before reading the count. */
	rmig_mfd_send_stop(ms);
	assert_true(rmig_mfd_send_bytes(ms) >= sizeof(buf));
	rmig_mfd_send_free(ms);
	close(p.raw);
}

/* --------------------------------------------------- a failing source side */

struct canceller {
	_Atomic bool *flag;
	int after_ms;
};

static void *cancel_later(void *opaque)
{
	struct canceller *c = opaque;

	usleep((useconds_t)c->after_ms * 1000);
	atomic_store(c->flag, true);
	return NULL;
}

static void count_tick(void *opaque)
{
	atomic_fetch_add((_Atomic int *)opaque, 1);
}

/* Nobody reads the channels: a cancel still ends the wait, and teardown is prompt. */
static void test_send_cancel(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b;
	struct rmig_stats st;
	_Atomic bool cancel = false;
	_Atomic int ticks = 0;
	struct rmig_mfd_send_config cfg = {
		.channels = 2, .ping_interval_ms = 40, .stats = &st, .cancel = &cancel,
		.tick = count_tick, .tick_opaque = (void *)&ticks,
	};
	struct canceller c = { .flag = &cancel, .after_ms = 300 };
	struct rmig_mfd_send *ms;
	struct pair p[2];
	pthread_t t;
	double t0;
	int ret;

	(void)state;
	rmig_stats_init(&st);
	rmig_ram_init(&ram);
	assert_int_equal(rmig_ram_alloc(&ram, "pc.ram", 64 * MIB, 4096, &b), 0);
	memset(b->host, 0x5c, b->length);
	assert_ok(rmig_mfd_send_new(&cfg, &ms));
	for (uint32_t i = 0; i < 2; i++) {
		make_pair(&p[i], "chan", 30000);
		assert_ok(rmig_mfd_send_add(ms, i, p[i].conn, SESSION));
	}
	assert_int_equal(pthread_create(&t, NULL, cancel_later, &c), 0);
	t0 = now_s();
	rmig_error_clear();
	ret = rmig_mfd_send_pages(ms, b, 0, b->npages);
	assert_int_equal(ret, -ECANCELED);
	assert_true(now_s() - t0 < PROMPT_S);
	/* While it waited, the caller's clock ran (the main stream's PING). */
	assert_true(atomic_load(&ticks) >= 2);
	pthread_join(t, NULL);
	t0 = now_s();
	rmig_mfd_send_free(ms); /* the channels are blocked writing: free aborts them */
	assert_true(now_s() - t0 < PROMPT_S);
	close(p[0].raw);
	close(p[1].raw);
	rmig_ram_fini(&ram);
}

/* The destination hangs up one channel: the source hears it, naming the channel. */
static void test_send_channel_closed(void **state)
{
	struct rmig_ram ram;
	struct rmig_ramblock *b;
	struct rmig_stats st;
	struct rmig_mfd_send_config cfg = { .channels = 2, .stats = &st, .ping_interval_ms = 100 };
	struct rmig_mfd_send *ms;
	struct pair p[2];
	uint8_t hello[RMIG_CHANNEL_HELLO_SIZE];
	double t0;
	int ret;

	(void)state;
	rmig_stats_init(&st);
	rmig_ram_init(&ram);
	assert_int_equal(rmig_ram_alloc(&ram, "pc.ram", 16 * MIB, 4096, &b), 0);
	memset(b->host, 0x3c, b->length);
	assert_ok(rmig_mfd_send_new(&cfg, &ms));
	for (uint32_t i = 0; i < 2; i++) {
		make_pair(&p[i], "chan", 30000);
		assert_ok(rmig_mfd_send_add(ms, i, p[i].conn, SESSION));
	}
	assert_int_equal(read(p[1].raw, hello, sizeof(hello)), (ssize_t)sizeof(hello));
	close(p[1].raw);
	t0 = now_s();
	rmig_error_clear();
	ret = rmig_mfd_send_pages(ms, b, 0, b->npages);
	if (!ret)
		ret = rmig_mfd_send_sync(ms, 0);
	assert_true(ret == -EPIPE || ret == -ECONNRESET);
	assert_error_mentions("multifd channel 1");
	/* Channel 0 is stuck on a peer that does not read; the failure did not wait for it. */
	assert_true(now_s() - t0 < PROMPT_S);
	/* A failed channel fails every later call too. */
	assert_int_equal(rmig_mfd_send_sync(ms, 0), ret);
	t0 = now_s();
	rmig_mfd_send_free(ms);
	assert_true(now_s() - t0 < PROMPT_S);
	close(p[0].raw);
	rmig_ram_fini(&ram);
}

/* ------------------------------------------------------- hostile channels */

#define GUARD (64 * 1024)
#define H_LEN (4 * MIB)
#define H_FILL 0x5a

struct hostile {
	uint8_t *mem; /* GUARD + the block + GUARD */
	struct rmig_ram ram;
	struct rmig_ramblock *b;
	struct rmig_stream_header h;
	struct rmig_stats st;
	struct pair main, ch[2];
	struct rmig_mfd_recv *mr;
};

/* Channels whose reads wait @peer_timeout_ms; the loader's waits for them, @wait_ms. */
static void hostile_start_waits(struct hostile *x, int peer_timeout_ms, int wait_ms)
{
	struct rmig_conn *conns[2];

	memset(x, 0, sizeof(*x));
	x->mem = malloc(H_LEN + 2 * GUARD);
	assert_non_null(x->mem);
	memset(x->mem, H_FILL, H_LEN + 2 * GUARD);
	rmig_ram_init(&x->ram);
	assert_int_equal(rmig_ram_add(&x->ram, "pc.ram", x->mem + GUARD, H_LEN, 4096, &x->b), 0);
	header_from_ram(&x->h, &x->ram, 2);
	rmig_stats_init(&x->st);
	/* A read on the main connection waits 30 s unless something wakes it sooner. */
	make_pair(&x->main, "main", 30000);
	for (int i = 0; i < 2; i++) {
		make_pair(&x->ch[i], "chan", peer_timeout_ms);
		conns[i] = x->ch[i].conn;
	}
	assert_ok(rmig_mfd_recv_start(conns, &x->h, &x->ram, &x->st, x->main.conn, wait_ms,
				      &x->mr));
}

static void hostile_start(struct hostile *x, int peer_timeout_ms)
{
	hostile_start_waits(x, peer_timeout_ms, 30000);
}

static void hostile_send(struct hostile *x, int channel, const struct wire *w)
{
	assert_int_equal(write(x->ch[channel].raw, w->d, w->n), (ssize_t)w->n);
}

/*
 * After a channel failed: the main connection was woken (a read on it ends
 * at once, not after its 30 s), and the other channel's connection was
 * aborted (its peer sees the end).
 */
static void assert_woken(struct hostile *x, int other)
{
	struct pollfd pfd = { .fd = x->ch[other].raw, .events = POLLIN };
	uint8_t c;
	double t0 = now_s();
	ssize_t n = rmig_conn_read(x->main.conn, &c, 1);

	assert_true(n < 0);
	assert_true(now_s() - t0 < PROMPT_S);
	assert_int_equal(poll(&pfd, 1, 3000), 1);
	assert_int_equal(read(x->ch[other].raw, &c, 1), 0);
}

/* Every byte outside [@from, @from + @len) of the block, and both guards, still H_FILL. */
static void assert_untouched_except(const struct hostile *x, uint64_t from, uint64_t len)
{
	for (uint64_t i = 0; i < H_LEN + 2 * GUARD; i++) {
		if (i >= GUARD + from && i < GUARD + from + len)
			continue;
		if (x->mem[i] != H_FILL)
			fail_msg("byte at %lld of the block was written",
				 (long long)i - (long long)GUARD);
	}
}

static void hostile_end(struct hostile *x)
{
	double t0 = now_s();

	rmig_mfd_recv_free(x->mr);
	assert_true(now_s() - t0 < PROMPT_S);
	/* The test's ends first: a connection's close waits a moment for its peer's. */
	close(x->main.raw);
	rmig_conn_close(x->main.conn);
	close(x->ch[0].raw);
	close(x->ch[1].raw);
	rmig_format_header_free(&x->h);
	rmig_ram_fini(&x->ram);
	free(x->mem);
}

static void data_record(struct wire *w, uint64_t offset, uint32_t npages)
{
	uint8_t page[4096];

	memset(page, 0xff, sizeof(page));
	wrec(w, RMIG_REC_DATA, 0, offset, npages, 0);
	for (uint32_t i = 0; i < npages && w->n + sizeof(page) <= sizeof(w->d); i++)
		wbytes(w, page, sizeof(page));
}

/*
 * @channel sends @w, which the receiver must refuse with @err naming
 * @channel; wait_round(0) or finish is the call that hears it.
 */
static void expect_refused(int channel, const struct wire *w, int err, const char *why,
			   bool finish, uint64_t from, uint64_t len)
{
	struct hostile x;
	char name[32];
	int ret;

	hostile_start(&x, 30000);
	hostile_send(&x, channel, w);
	rmig_error_clear();
	ret = finish ? rmig_mfd_recv_finish(x.mr) : rmig_mfd_recv_wait_round(x.mr, 0);
	if (ret != err)
		fail_msg("got %d (%s), expected %d", ret, rmig_error_get_last(), err);
	snprintf(name, sizeof(name), "multifd channel %d", channel);
	assert_error_mentions(name);
	if (why)
		assert_error_mentions(why);
	/* Asked again, it is the same failure. */
	assert_int_equal(rmig_mfd_recv_error(x.mr), err);
	assert_error_mentions(name);
	assert_woken(&x, 1 - channel);
	assert_untouched_except(&x, from, len);
	hostile_end(&x);
}

static void test_hostile_foreign_page(void **state)
{
	struct wire w = { .n = 0 };

	(void)state;
	/* Block 0, 2 channels: 0 owns [0, 1 MiB) and [2, 3 MiB), 1 owns the others. */
	data_record(&w, 1 * MIB, 1);
	expect_refused(0, &w, -EPROTO, "belong to channel 1", false, 0, 0);
	w.n = 0;
	data_record(&w, 3 * MIB + 8192, 1);
	expect_refused(0, &w, -EPROTO, "belong to channel 1", false, 0, 0);
	w.n = 0;
	data_record(&w, 0, 1);
	expect_refused(1, &w, -EPROTO, "belong to channel 0", false, 0, 0);
	/* A ZERO record is a write too. */
	w.n = 0;
	wrec(&w, RMIG_REC_ZERO, 0, 2 * MIB, 4, 0);
	expect_refused(1, &w, -EPROTO, "belong to channel 0", false, 0, 0);
}

static void test_hostile_run_past_stripe(void **state)
{
	struct wire w = { .n = 0 };

	(void)state;
	/* Starts on channel 0's last page and runs into channel 1's stripe. */
	data_record(&w, 1 * MIB - 4096, 2);
	expect_refused(0, &w, -EPROTO, "run past their stripe", false, 0, 0);
	w.n = 0;
	/* Channel 1's own stripe [1, 2 MiB), 200 pages from its third last: 197 too many. */
	wrec(&w, RMIG_REC_ZERO, 0, 2 * MIB - 4096 * 3, 200, 0);
	expect_refused(1, &w, -EPROTO, "run past their stripe", false, 0, 0);
}

static void test_hostile_past_block_end(void **state)
{
	struct wire w = { .n = 0 };

	(void)state;
	/* Owned by channel 0 by the stripe rule, but past the block's end: the guard stays. */
	data_record(&w, 4 * MIB, 1);
	expect_refused(0, &w, -EPROTO, "past its end", false, 0, 0);
	w.n = 0;
	wrec(&w, RMIG_REC_DATA, 1, 0, 1, 0);
	expect_refused(0, &w, -EPROTO, "names RAM block 1", false, 0, 0);
}

static void test_hostile_control_records(void **state)
{
	struct wire w = { .n = 0 };

	(void)state;
	wrec(&w, RMIG_REC_EOR, 0, 0, 0, 0);
	expect_refused(0, &w, -EPROTO, "control record (type 4)", false, 0, 0);
	w.n = 0;
	wrec(&w, RMIG_REC_HOOK, 0, 0, 0, 1);
	expect_refused(1, &w, -EPROTO, "control record (type 3)", false, 0, 0);
	/* Good pages first, then the control record: they landed, nothing else did. */
	w.n = 0;
	data_record(&w, 1 * MIB, 1);
	wrec(&w, RMIG_REC_SYNC, 0, 0, 0, 0);
	wrec(&w, RMIG_REC_EOR, 0, 0, 0, 0);
	expect_refused(1, &w, -EPROTO, "control record", true, 1 * MIB, 4096);
}

static void test_hostile_sync_rounds(void **state)
{
	struct wire w = { .n = 0 };

	(void)state;
	/* Round 1 before round 0. */
	wrec(&w, RMIG_REC_SYNC, 0, 0, 0, 1);
	expect_refused(0, &w, -EPROTO, "SYNC for round 1, expected round 0", false, 0, 0);
	/* Round 0 twice. */
	w.n = 0;
	wrec(&w, RMIG_REC_SYNC, 0, 0, 0, 0);
	wrec(&w, RMIG_REC_SYNC, 0, 0, 0, 0);
	expect_refused(1, &w, -EPROTO, "SYNC for round 0, expected round 1", true, 0, 0);
	/* 0, 1, then 3. */
	w.n = 0;
	wrec(&w, RMIG_REC_SYNC, 0, 0, 0, 0);
	wrec(&w, RMIG_REC_SYNC, 0, 0, 0, 1);
	wrec(&w, RMIG_REC_SYNC, 0, 0, 0, 3);
	expect_refused(0, &w, -EPROTO, "expected round 2", true, 0, 0);
}

/*
 * END_OF_STREAM before the SYNC the main stream waits for.  The waiter
 * finds it itself, so nothing is interrupted: its caller (the loader) has
 * the error in hand.
 */
static void test_hostile_eos_before_sync(void **state)
{
	struct wire w = { .n = 0 };
	struct hostile x;

	(void)state;
	hostile_start(&x, 30000);
	wrec(&w, RMIG_REC_EOS, 0, 0, 0, 0);
	hostile_send(&x, 0, &w);
	rmig_error_clear();
	assert_int_equal(rmig_mfd_recv_wait_round(x.mr, 0), -EPROTO);
	assert_error_mentions("multifd channel 0 ended before the SYNC of round 0");
	assert_untouched_except(&x, 0, 0);
	hostile_end(&x);
}

/* The test's end of @channel closes after @w. */
static void expect_cut(int channel, const struct wire *w, uint64_t from, uint64_t len)
{
	struct hostile x;
	char name[32];
	int ret;

	hostile_start(&x, 30000);
	hostile_send(&x, channel, w);
	close(x.ch[channel].raw);
	x.ch[channel].raw = -1;
	rmig_error_clear();
	ret = rmig_mfd_recv_wait_round(x.mr, 0);
	if (ret != -EPIPE)
		fail_msg("got %d (%s), expected -EPIPE", ret, rmig_error_get_last());
	snprintf(name, sizeof(name), "multifd channel %d", channel);
	assert_error_mentions(name);
	assert_error_mentions("closed");
	assert_woken(&x, 1 - channel);
	assert_untouched_except(&x, from, len);
	hostile_end(&x);
}

static void test_hostile_cut_mid_record(void **state)
{
	struct wire w = { .n = 0 };

	(void)state;
	/* Nothing at all. */
	expect_cut(0, &w, 0, 0);
	/* Half a record header. */
	wrec(&w, RMIG_REC_DATA, 0, 1 * MIB, 1, 0);
	w.n -= 12;
	expect_cut(1, &w, 0, 0);
	/* A whole header, half its page: only that page may have been written. */
	w.n = 0;
	data_record(&w, 2 * MIB + 4096, 1);
	w.n -= 2048;
	expect_cut(0, &w, 2 * MIB + 4096, 4096);
	/* A PING and a SYNC, then a cut within the next record. */
	w.n = 0;
	wrec(&w, RMIG_REC_PING, 0, 0, 0, 0);
	wrec(&w, RMIG_REC_SYNC, 0, 0, 0, 0);
	wrec(&w, RMIG_REC_ZERO, 0, 0, 1, 0);
	w.n -= 1;
	{
		struct hostile x;

		hostile_start(&x, 30000);
		hostile_send(&x, 0, &w);
		close(x.ch[0].raw);
		x.ch[0].raw = -1;
		rmig_error_clear();
		assert_int_equal(rmig_mfd_recv_finish(x.mr), -EPIPE);
		assert_error_mentions("multifd channel 0");
		assert_woken(&x, 1);
		assert_untouched_except(&x, 0, 0);
		hostile_end(&x);
	}
}

/* A channel that says nothing at all fails within its peer-timeout, not never. */
static void test_hostile_silent_channel(void **state)
{
	struct hostile x;
	struct wire w = { .n = 0 };
	double t0;
	int ret;

	(void)state;
	hostile_start(&x, 400);
	/* Channel 0 is fine and done; channel 1 never speaks. */
	wrec(&w, RMIG_REC_PING, 0, 0, 0, 0);
	wrec(&w, RMIG_REC_SYNC, 0, 0, 0, 0);
	wrec(&w, RMIG_REC_EOS, 0, 0, 0, 0);
	hostile_send(&x, 0, &w);
	t0 = now_s();
	rmig_error_clear();
	ret = rmig_mfd_recv_wait_round(x.mr, 0);
	assert_int_equal(ret, -ETIMEDOUT);
	assert_error_mentions("multifd channel 1");
	assert_true(now_s() - t0 > 0.3 && now_s() - t0 < PROMPT_S);
	assert_woken(&x, 0);
	hostile_end(&x);
}

struct pinger {
	struct hostile *x;
	_Atomic bool stop;
};

/* Channel 1 says PING every 50 ms and nothing else: alive, never getting anywhere. */
static void *ping_forever(void *opaque)
{
	struct pinger *p = opaque;
	struct wire w = { .n = 0 };

	wrec(&w, RMIG_REC_PING, 0, 0, 0, 0);
	while (!atomic_load(&p->stop)) {
		if (send(p->x->ch[1].raw, w.d, w.n, MSG_NOSIGNAL) != (ssize_t)w.n)
			break; /* aborted: the other end is gone */
		usleep(50 * 1000);
	}
	return NULL;
}

/*
 * A channel that only PINGs fails the round wait with -ETIMEDOUT, and that
 * stays the migration's error after the abort makes every channel fail
 * with -ECANCELED: a cancel would not be reported to the source.
 */
static void test_hostile_pinging_channel(void **state)
{
	struct pinger p;
	struct hostile x;
	struct wire w = { .n = 0 };
	pthread_t t;
	int ret;

	(void)state;
	/* Reads that would wait 5 s: the PINGs keep each one short anyway. */
	hostile_start_waits(&x, 5000, 400);
	p.x = &x;
	atomic_init(&p.stop, false);
	wrec(&w, RMIG_REC_SYNC, 0, 0, 0, 0);
	wrec(&w, RMIG_REC_EOS, 0, 0, 0, 0);
	hostile_send(&x, 0, &w);
	assert_int_equal(pthread_create(&t, NULL, ping_forever, &p), 0);
	rmig_error_clear();
	ret = rmig_mfd_recv_wait_round(x.mr, 0);
	assert_int_equal(ret, -ETIMEDOUT);
	assert_error_mentions("multifd channel 1: no SYNC within 400 ms");
	/* Let the aborted channel threads fail as they will. */
	usleep(200 * 1000);
	assert_int_equal(rmig_mfd_recv_error(x.mr), -ETIMEDOUT);
	assert_error_mentions("multifd channel 1: no SYNC within 400 ms");
	atomic_store(&p.stop, true);
	pthread_join(t, NULL);
	hostile_end(&x);
}

/* What a correct channel pair sends is taken: PINGs, pages, SYNC, END_OF_STREAM. */
static void test_hostile_harness_accepts_good(void **state)
{
	struct hostile x;
	struct wire w0 = { .n = 0 }, w1 = { .n = 0 };

	(void)state;
	hostile_start(&x, 30000);
	wrec(&w0, RMIG_REC_PING, 0, 0, 0, 0);
	data_record(&w0, 0, 1);
	wrec(&w0, RMIG_REC_ZERO, 0, 2 * MIB, 256, 0);
	wrec(&w0, RMIG_REC_SYNC, 0, 0, 0, 0);
	wrec(&w0, RMIG_REC_EOS, 0, 0, 0, 0);
	data_record(&w1, 3 * MIB + 4096, 1);
	wrec(&w1, RMIG_REC_SYNC, 0, 0, 0, 0);
	wrec(&w1, RMIG_REC_PING, 0, 0, 0, 0);
	wrec(&w1, RMIG_REC_EOS, 0, 0, 0, 0);
	hostile_send(&x, 0, &w0);
	hostile_send(&x, 1, &w1);
	assert_ok(rmig_mfd_recv_wait_round(x.mr, 0));
	assert_ok(rmig_mfd_recv_finish(x.mr));
	for (uint64_t i = 0; i < 4096; i++) {
		assert_int_equal(x.b->host[i], 0xff);
		assert_int_equal(x.b->host[3 * MIB + 4096 + i], 0xff);
	}
	for (uint64_t i = 2 * MIB; i < 3 * MIB; i++)
		assert_int_equal(x.b->host[i], 0);
	assert_int_equal(atomic_load(&x.st.normal), 2);
	assert_int_equal(atomic_load(&x.st.duplicate), 256);
	/* Every byte read counts; the hello (not read here) may be counted as well. */
	for (int i = 0; i < 2; i++) {
		uint64_t got = atomic_load(&x.st.channel_bytes[i]), sent = i ? w1.n : w0.n;

		if (got != sent && got != sent + RMIG_CHANNEL_HELLO_SIZE)
			fail_msg("channel %d: %llu bytes counted, %llu sent", i,
				 (unsigned long long)got, (unsigned long long)sent);
	}
	hostile_end(&x);
}

#define T(f)  cmocka_unit_test(f)
#define TQ(f) cmocka_unit_test_setup_teardown(f, setup_quiet, NULL)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_hello_roundtrip),
	    T(test_hello_rejections),
	    T(test_owner_stripes),
	    T(test_owner_huge_pages),
	    T(test_owner_small_blocks_staggered),
	    T(test_send_receive_2),
	    T(test_send_receive_3_two_rounds),
	    T(test_send_receive_1),
	    T(test_quiet_channel_pings),
	    T(test_send_cancel),
	    T(test_send_channel_closed),
	    T(test_hostile_harness_accepts_good),
	    T(test_hostile_foreign_page),
	    T(test_hostile_run_past_stripe),
	    T(test_hostile_past_block_end),
	    T(test_hostile_control_records),
	    T(test_hostile_sync_rounds),
	    T(test_hostile_eos_before_sync),
	    T(test_hostile_cut_mid_record),
	    T(test_hostile_silent_channel),
	    T(test_hostile_pinging_channel),
	};

	return cmocka_run_group_tests(tests, setup_quiet_transports, teardown_quiet);
}
