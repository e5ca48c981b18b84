/* SPDX-License-Identifier: MIT */
/* rmig_load(): whole streams, damaged streams, and the transport RAM hooks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "common/engine/format.h"
#include "common/ram/zero.h"
#include "plugin/registry.h"
#include "tests/support/memconn.h"
#include "tests/support/test_quiet.h"

/*
 * The source: two small blocks with a mix of zero and non-zero pages, so
 * every record type appears while the stream stays small enough to damage
 * at every byte.
 */
#define A_PAGE	512
#define A_PAGES 8
#define B_PAGE	1024
#define B_PAGES 4

struct source {
	struct rmig_ram ram;
	uint64_t zero_pages, data_pages, data_bytes;
};

static void source_init(struct source *src)
{
	struct rmig_ramblock *a, *b;
	size_t i;

	memset(src, 0, sizeof(*src));
	rmig_ram_init(&src->ram);
	assert_int_equal(rmig_ram_alloc(&src->ram, "pc.ram", A_PAGE * A_PAGES, A_PAGE, &a), 0);
	assert_int_equal(rmig_ram_alloc(&src->ram, "vga.vram", B_PAGE * B_PAGES, B_PAGE, &b), 0);
	/* pc.ram: pages 0, 1, 4, 5, 6 hold data; 2, 3, 7 are zero. */
	for (i = 0; i < A_PAGE * A_PAGES; i++) {
		size_t pg = i / A_PAGE;

		if (pg != 2 && pg != 3 && pg != 7)
			a->host[i] = (uint8_t)(i * 7 + 1);
	}
	/* vga.vram: page 1 zero, others data. */
	for (i = 0; i < B_PAGE * B_PAGES; i++) {
		if (i / B_PAGE != 1)
			b->host[i] = (uint8_t)(i * 13 + 5);
	}
}

enum gen_opts {
	GEN_HOOKS = 1,	/* HOOK records as an RDMA source would send them */
	GEN_NO_EOS = 2, /* stop after the last round */
	GEN_RESEND = 4, /* a second round re-sends pages with the same contents */
};

/* Send the pages of @b as DATA/ZERO records, runs of at most @max pages. */
static void gen_block(struct rmig_stream *s, struct source *src, const struct rmig_ramblock *b,
		      uint32_t flags, uint32_t max)
{
	uint64_t pg = 0;

	while (pg < b->npages) {
		const uint8_t *p = b->host + pg * b->page_size;
		bool zero =
		    (flags & RMIG_STREAM_F_ZERO_PAGES) && rmig_buffer_is_zero(p, b->page_size);
		struct rmig_record r = {.type = zero ? RMIG_REC_ZERO : RMIG_REC_DATA,
					.block = b->index,
					.offset = pg * b->page_size,
					.npages = 1};

		/* Extend the run while the next page is of the same kind. */
		while (r.npages < max && pg + r.npages < b->npages) {
			const uint8_t *q = p + (uint64_t)r.npages * b->page_size;
			bool qzero = (flags & RMIG_STREAM_F_ZERO_PAGES) &&
				     rmig_buffer_is_zero(q, b->page_size);

			if (qzero != zero)
				break;
			r.npages++;
		}
		assert_int_equal(rmig_format_write_record(s, &r), 0);
		if (zero) {
			src->zero_pages += r.npages;
		} else {
			uint64_t bytes = (uint64_t)r.npages * b->page_size;

			assert_int_equal(rmig_stream_write_ref(s, p, bytes), 0);
			src->data_pages += r.npages;
			src->data_bytes += bytes;
		}
		pg += r.npages;
	}
}

static void gen_hook(struct rmig_stream *s, enum rmig_ram_phase phase)
{
	struct rmig_record r = {.type = RMIG_REC_HOOK, .arg = phase};

	assert_int_equal(rmig_format_write_record(s, &r), 0);
}

static void gen_eor(struct rmig_stream *s, uint32_t round)
{
	struct rmig_record r = {.type = RMIG_REC_EOR, .arg = round};

	assert_int_equal(rmig_format_write_record(s, &r), 0);
}

/* Encode @src's RAM as a complete stream; returns a malloc'd copy. */
static uint8_t *gen_stream(struct source *src, uint32_t flags, unsigned opts, size_t *len)
{
	struct rmig_conn *c = rmig_memconn_new(NULL, 0, 0);
	struct rmig_record eos = {.type = RMIG_REC_EOS};
	struct rmig_stream s;
	uint64_t sums[2];
	const uint8_t *out;
	uint8_t *copy;
	uint32_t i;

	src->zero_pages = src->data_pages = src->data_bytes = 0;
	assert_int_equal(rmig_stream_init(&s, c, 0), 0);
	assert_int_equal(rmig_format_write_header(&s, flags, &src->ram), 0);
	if (opts & GEN_HOOKS)
		gen_hook(&s, RMIG_RAM_PHASE_SETUP);
	if (opts & GEN_HOOKS)
		gen_hook(&s, RMIG_RAM_PHASE_ROUND);
	for (i = 0; i < src->ram.nblocks; i++)
		gen_block(&s, src, src->ram.blocks[i], flags, 3);
	gen_eor(&s, 1);
	if (opts & GEN_RESEND) {
		if (opts & GEN_HOOKS)
			gen_hook(&s, RMIG_RAM_PHASE_FINAL);
		gen_block(&s, src, src->ram.blocks[1], flags, RMIG_RECORD_MAX_PAGES);
		gen_eor(&s, 2);
	}
	if (!(opts & GEN_NO_EOS)) {
		assert_int_equal(rmig_format_write_record(&s, &eos), 0);
		rmig_ram_checksums(&src->ram, sums);
		assert_int_equal(rmig_format_write_trailer(&s, flags, sums, src->ram.nblocks), 0);
	}
	assert_int_equal(rmig_stream_flush(&s), 0);
	out = rmig_memconn_written(c, len);
	copy = malloc(*len);
	assert_non_null(copy);
	memcpy(copy, out, *len);
	rmig_stream_fini(&s);
	rmig_memconn_free(c);
	return copy;
}

/* Load @data into @ram through a memconn handing out @chunk bytes per read. */
static int load_bytes(const uint8_t *data, size_t len, size_t chunk, size_t bufsize,
		      struct rmig_ram *ram, struct rmig_stats *st, struct rmig_load_info *info)
{
	struct rmig_conn *c = rmig_memconn_new(data, len, chunk);
	struct rmig_stream s;
	int rc;

	assert_non_null(c);
	assert_int_equal(rmig_stream_init(&s, c, bufsize), 0);
	rmig_error_clear();
	rc = rmig_load(&s, ram, st, info);
	rmig_stream_fini(&s);
	rmig_memconn_free(c);
	return rc;
}

static bool same_ram(const struct rmig_ram *a, const struct rmig_ram *b)
{
	uint32_t i;

	if (a->nblocks != b->nblocks)
		return false;
	for (i = 0; i < a->nblocks; i++) {
		if (a->blocks[i]->length != b->blocks[i]->length ||
		    memcmp(a->blocks[i]->host, b->blocks[i]->host, a->blocks[i]->length) != 0)
			return false;
	}
	return true;
}

static void expect_error_words(const char *words)
{
	if (!strstr(rmig_error_get_last(), words))
		fail_msg("error \"%s\" lacks \"%s\"", rmig_error_get_last(), words);
}

/* --- complete streams --- */

static void check_roundtrip(uint32_t flags, unsigned opts, size_t chunk, size_t bufsize)
{
	struct source src;
	struct rmig_ram dst;
	struct rmig_stats st;
	struct rmig_load_info info = {0};
	uint8_t *data;
	size_t len;

	source_init(&src);
	data = gen_stream(&src, flags, opts, &len);
	rmig_ram_init(&dst);
	rmig_stats_init(&st);
	assert_int_equal(load_bytes(data, len, chunk, bufsize, &dst, &st, &info), 0);
	assert_true(same_ram(&src.ram, &dst));
	assert_int_equal(info.flags, flags);
	assert_int_equal(info.rounds, (opts & GEN_RESEND) ? 2 : 1);
	assert_int_equal(info.verified, (flags & RMIG_STREAM_F_VERIFY) != 0);
	assert_int_equal(atomic_load(&st.transferred), len);
	assert_int_equal(atomic_load(&st.duplicate), src.zero_pages);
	assert_int_equal(atomic_load(&st.normal), src.data_pages);
	assert_int_equal(atomic_load(&st.normal_bytes), src.data_bytes);
	rmig_ram_fini(&dst);
	rmig_ram_fini(&src.ram);
	free(data);
}

static void test_roundtrip_allocates(void **state)
{
	(void)state;
	check_roundtrip(RMIG_STREAM_F_VERIFY | RMIG_STREAM_F_ZERO_PAGES, 0, 0, 0);
	check_roundtrip(RMIG_STREAM_F_VERIFY | RMIG_STREAM_F_ZERO_PAGES, GEN_RESEND, 0, 0);
	check_roundtrip(RMIG_STREAM_F_VERIFY, GEN_RESEND, 0, 0);
}

static void test_roundtrip_without_verify(void **state)
{
	(void)state;
	check_roundtrip(RMIG_STREAM_F_ZERO_PAGES, 0, 0, 0);
	check_roundtrip(0, GEN_RESEND, 0, 0);
}

/* A transport that hands out one byte per read changes nothing. */
static void test_roundtrip_tiny_chunks(void **state)
{
	(void)state;
	check_roundtrip(RMIG_STREAM_F_VERIFY | RMIG_STREAM_F_ZERO_PAGES, GEN_RESEND, 1, 0);
	check_roundtrip(RMIG_STREAM_F_VERIFY | RMIG_STREAM_F_ZERO_PAGES, GEN_RESEND, 1, 1);
	check_roundtrip(RMIG_STREAM_F_VERIFY | RMIG_STREAM_F_ZERO_PAGES, 0, 7, 100);
	check_roundtrip(RMIG_STREAM_F_VERIFY, GEN_RESEND, 3, 24);
}

/* Into memory the embedder registered, holding garbage: zero pages must be cleared. */
static void test_load_into_registered_ram(void **state)
{
	static uint8_t a[A_PAGE * A_PAGES], b[B_PAGE * B_PAGES];
	struct rmig_load_info info = {0};
	struct source src;
	struct rmig_ram dst;
	uint8_t *data;
	size_t len;

	(void)state;
	source_init(&src);
	data = gen_stream(&src, RMIG_STREAM_F_VERIFY | RMIG_STREAM_F_ZERO_PAGES, GEN_RESEND, &len);
	memset(a, 0xcc, sizeof(a));
	memset(b, 0x33, sizeof(b));
	rmig_ram_init(&dst);
	assert_int_equal(rmig_ram_add(&dst, "pc.ram", a, sizeof(a), A_PAGE, NULL), 0);
	assert_int_equal(rmig_ram_add(&dst, "vga.vram", b, sizeof(b), B_PAGE, NULL), 0);
	assert_int_equal(load_bytes(data, len, 0, 0, &dst, NULL, &info), 0);
	assert_true(info.verified);
	assert_int_equal(dst.nblocks, 2);
	assert_ptr_equal(dst.blocks[0]->host, a);
	assert_memory_equal(a, src.ram.blocks[0]->host, sizeof(a));
	assert_memory_equal(b, src.ram.blocks[1]->host, sizeof(b));
	assert_int_equal(a[2 * A_PAGE], 0);
	rmig_ram_fini(&dst);
	rmig_ram_fini(&src.ram);
	free(data);
}

static void test_registered_ram_mismatch(void **state)
{
	static uint8_t a[A_PAGE * A_PAGES * 2];
	struct rmig_load_info info = {.rounds = 99};
	struct source src;
	struct rmig_ram dst;
	uint8_t *data;
	size_t len;

	(void)state;
	source_init(&src);
	data = gen_stream(&src, RMIG_STREAM_F_VERIFY, 0, &len);
	rmig_ram_init(&dst);
	assert_int_equal(rmig_ram_add(&dst, "pc.ram", a, sizeof(a), A_PAGE, NULL), 0);
	assert_int_equal(load_bytes(data, len, 0, 0, &dst, NULL, &info), -EINVAL);
	expect_error_words("pc.ram");
	assert_int_equal(info.rounds, 99);
	rmig_ram_fini(&dst);
	rmig_ram_fini(&src.ram);
	free(data);
}

/* --- damaged streams --- */

static void test_checksum_mismatch(void **state)
{
	uint32_t flags = RMIG_STREAM_F_VERIFY | RMIG_STREAM_F_ZERO_PAGES;
	struct rmig_load_info info = {0};
	struct source src;
	struct rmig_ram dst;
	uint8_t *data;
	size_t len, hdr_len = 16 + (2 + 6 + 12) + (2 + 8 + 12);

	(void)state;
	source_init(&src);
	data = gen_stream(&src, flags, 0, &len);
	/* The first record is DATA for pc.ram pages 0-1; damage its payload. */
	assert_int_equal(rmig_get_be32(data + hdr_len), RMIG_REC_DATA);
	data[hdr_len + RMIG_RECORD_SIZE + 100] ^= 0x40;
	rmig_ram_init(&dst);
	assert_int_equal(load_bytes(data, len, 0, 0, &dst, NULL, &info), -EIO);
	expect_error_words("\"pc.ram\" differs from the source");
	assert_false(info.verified);
	rmig_ram_fini(&dst);

	/* Damage the checksum itself, in the trailer: the last 4 bytes are the magic. */
	data[hdr_len + RMIG_RECORD_SIZE + 100] ^= 0x40;
	data[len - 4 - 1] ^= 0x01;
	rmig_ram_init(&dst);
	assert_int_equal(load_bytes(data, len, 0, 0, &dst, NULL, &info), -EIO);
	expect_error_words("\"vga.vram\" differs");
	assert_false(info.verified);
	rmig_ram_fini(&dst);
	rmig_ram_fini(&src.ram);
	free(data);
}

static void test_bad_end_magic(void **state)
{
	struct rmig_load_info info = {0};
	struct source src;
	struct rmig_ram dst;
	uint8_t *data;
	size_t len;

	(void)state;
	source_init(&src);
	data = gen_stream(&src, 0, 0, &len);
	data[len - 1] ^= 0xff;
	rmig_ram_init(&dst);
	assert_int_equal(load_bytes(data, len, 0, 0, &dst, NULL, &info), -EPROTO);
	expect_error_words("RMGE");
	rmig_ram_fini(&dst);
	rmig_ram_fini(&src.ram);
	free(data);
}

static void test_missing_end_of_stream(void **state)
{
	struct rmig_load_info info = {0};
	struct source src;
	struct rmig_ram dst;
	uint8_t *data;
	size_t len;

	(void)state;
	source_init(&src);
	data = gen_stream(&src, RMIG_STREAM_F_ZERO_PAGES, GEN_NO_EOS | GEN_RESEND, &len);
	rmig_ram_init(&dst);
	assert_int_equal(load_bytes(data, len, 0, 0, &dst, NULL, &info), -EPIPE);
	expect_error_words("truncated");
	assert_int_equal(info.rounds, 0);
	rmig_ram_fini(&dst);
	rmig_ram_fini(&src.ram);
	free(data);
}

/* Every proper prefix of a valid stream must fail, whatever the read pattern. */
static void test_truncated_everywhere(void **state)
{
	static const size_t chunks[] = {0, 1, 5};
	struct source src;
	uint8_t *data;
	size_t len, cut, k;

	(void)state;
	source_init(&src);
	data = gen_stream(&src, RMIG_STREAM_F_VERIFY | RMIG_STREAM_F_ZERO_PAGES, GEN_RESEND, &len);
	for (k = 0; k < RMIG_ARRAY_SIZE(chunks); k++) {
		for (cut = 0; cut < len; cut++) {
			struct rmig_load_info info = {0};
			struct rmig_ram dst;
			int rc;

			rmig_ram_init(&dst);
			rc = load_bytes(data, cut, chunks[k], 0, &dst, NULL, &info);
			if (rc >= 0)
				fail_msg("prefix of %zu of %zu bytes loaded (rc %d)", cut, len, rc);
			assert_false(info.verified);
			rmig_ram_fini(&dst);
		}
	}
	rmig_ram_fini(&src.ram);
	free(data);
}

/*
 * Flip bits all over a verified stream: the load may fail, or succeed only
 * with memory identical to the source (a flipped round number is harmless).
 */
static void test_bit_flips(void **state)
{
	uint32_t flags = RMIG_STREAM_F_VERIFY | RMIG_STREAM_F_ZERO_PAGES;
	struct source src;
	uint8_t *data;
	size_t len, pos;
	unsigned bit, failed = 0, tried = 0;

	(void)state;
	source_init(&src);
	data = gen_stream(&src, flags, GEN_RESEND, &len);
	/* A flipped length may announce terabytes; keep allocation and checksums small. */
	rmig_load_set_max_ram(1 << 20);
	for (pos = 0; pos < len; pos++) {
		for (bit = 0; bit < 8; bit++) {
			struct rmig_load_info info = {0};
			struct rmig_ram dst;
			int rc;

			/* Inside big payloads one bit per byte is enough; elsewhere all. */
			if (bit != pos % 8 && pos > 200 && pos < len - 100)
				continue;
			data[pos] ^= (uint8_t)(1u << bit);
			rmig_ram_init(&dst);
			rc = load_bytes(data, len, 0, 0, &dst, NULL, &info);
			tried++;
			if (rc == 0 && !same_ram(&src.ram, &dst))
				fail_msg("flip of bit %u at %zu: success with wrong memory", bit,
					 pos);
			if (rc == 0)
				assert_true(info.verified);
			else
				failed++;
			/* Header fixed fields, checksums and end magic: no flip is harmless. */
			if (rc == 0 && (pos < 16 || pos >= len - 4 - 2 * 8))
				fail_msg("flip of bit %u at %zu of %zu went unnoticed", bit, pos,
					 len);
			rmig_ram_fini(&dst);
			data[pos] ^= (uint8_t)(1u << bit);
		}
	}
	/*
	 * Some flips are harmless (block names when allocating, round numbers,
	 * round-1 pages that round 2 re-sends), but most must be caught.
	 */
	assert_true(failed > tried / 2);
	rmig_ram_fini(&src.ram);
	free(data);
}

/* --- transport RAM hooks --- */

static struct {
	int attached;
	struct rmig_ram *ram;
	int phases[8];
	int nphases;
	int fail_load;
} hk;

static int hk_attach(struct rmig_conn *c, struct rmig_ram *ram)
{
	(void)c;
	hk.attached++;
	hk.ram = ram;
	/* The blocks must exist by now: the transport registers them. */
	assert_int_equal(ram->nblocks, 2);
	return 0;
}

static int hk_before(struct rmig_conn *c, enum rmig_ram_phase phase)
{
	(void)c;
	(void)phase;
	return 0;
}

static int hk_save(struct rmig_conn *c, struct rmig_ramblock *b, uint64_t page, uint64_t npages,
		   struct rmig_ram_counters *acc)
{
	(void)c;
	(void)b;
	(void)page;
	(void)npages;
	(void)acc;
	return RMIG_SAVE_PAGE_DECLINED;
}

static int hk_after(struct rmig_conn *c, enum rmig_ram_phase phase, struct rmig_ram_counters *acc)
{
	(void)c;
	(void)phase;
	(void)acc;
	return 0;
}

static int hk_load(struct rmig_conn *c, enum rmig_ram_phase phase)
{
	(void)c;
	if (hk.fail_load) {
		rmig_error("test transport: RAM load failed");
		return -EIO;
	}
	if (hk.nphases < (int)RMIG_ARRAY_SIZE(hk.phases))
		hk.phases[hk.nphases++] = phase;
	return 0;
}

/* Load through a memconn whose ops are extended with the RAM hooks. */
static int load_with_hooks(const uint8_t *data, size_t len, struct rmig_ram *dst,
			   struct rmig_load_info *info)
{
	struct rmig_conn *c = rmig_memconn_new(data, len, 0);
	const struct rmig_transport_ops *orig = c->ops;
	struct rmig_transport_ops ops = *orig;
	struct rmig_stream s;
	int rc;

	ops.ram_attach = hk_attach;
	ops.ram_before_iterate = hk_before;
	ops.ram_save_page = hk_save;
	ops.ram_after_iterate = hk_after;
	ops.ram_load = hk_load;
	c->ops = &ops;
	assert_true(rmig_conn_has_ram_hooks(c));
	assert_int_equal(rmig_stream_init(&s, c, 0), 0);
	rc = rmig_load(&s, dst, NULL, info);
	rmig_stream_fini(&s);
	c->ops = orig;
	rmig_memconn_free(c);
	return rc;
}

static void test_hooks_run_in_order(void **state)
{
	struct rmig_load_info info = {0};
	struct source src;
	struct rmig_ram dst;
	uint8_t *data;
	size_t len;

	(void)state;
	memset(&hk, 0, sizeof(hk));
	source_init(&src);
	data = gen_stream(&src, RMIG_STREAM_F_VERIFY | RMIG_STREAM_F_ZERO_PAGES,
			  GEN_HOOKS | GEN_RESEND, &len);
	rmig_ram_init(&dst);
	assert_int_equal(load_with_hooks(data, len, &dst, &info), 0);
	assert_int_equal(hk.attached, 1);
	assert_ptr_equal(hk.ram, &dst);
	assert_int_equal(hk.nphases, 3);
	assert_int_equal(hk.phases[0], RMIG_RAM_PHASE_SETUP);
	assert_int_equal(hk.phases[1], RMIG_RAM_PHASE_ROUND);
	assert_int_equal(hk.phases[2], RMIG_RAM_PHASE_FINAL);
	assert_true(info.verified);
	assert_true(same_ram(&src.ram, &dst));
	rmig_ram_fini(&dst);

	/* A failing hook fails the load with the hook's errno. */
	memset(&hk, 0, sizeof(hk));
	hk.fail_load = 1;
	rmig_ram_init(&dst);
	assert_int_equal(load_with_hooks(data, len, &dst, &info), -EIO);
	rmig_ram_fini(&dst);
	rmig_ram_fini(&src.ram);
	free(data);
}

static void test_hook_without_transport_hooks(void **state)
{
	struct rmig_load_info info = {0};
	struct source src;
	struct rmig_ram dst;
	uint8_t *data;
	size_t len;

	(void)state;
	source_init(&src);
	data = gen_stream(&src, RMIG_STREAM_F_ZERO_PAGES, GEN_HOOKS, &len);
	rmig_ram_init(&dst);
	assert_int_equal(load_bytes(data, len, 0, 0, &dst, NULL, &info), -EPROTO);
	expect_error_words("transport mem has none");
	rmig_ram_fini(&dst);
	rmig_ram_fini(&src.ram);
	free(data);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_quiet, teardown_quiet)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_roundtrip_allocates),     T(test_roundtrip_without_verify),
	    T(test_roundtrip_tiny_chunks),   T(test_load_into_registered_ram),
	    T(test_registered_ram_mismatch), T(test_checksum_mismatch),
	    T(test_bad_end_magic),	     T(test_missing_end_of_stream),
	    T(test_truncated_everywhere),    T(test_bit_flips),
	    T(test_hooks_run_in_order),	     T(test_hook_without_transport_hooks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
