/* SPDX-License-Identifier: MIT */
/*
 * Writes a few small valid streams (tests/fuzz/corpus/) that the fuzzer
 * starts from, so it spends its time past the header checks.  Usage:
 * gen_corpus DIR
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>
#include <rmig/transport.h>

#include "common/engine/format.h"
#include "common/engine/stream.h"
#include "common/ram/zero.h"
#include "tests/support/memconn.h"

struct seed {
	const char *name;
	uint32_t flags;
	uint32_t nblocks;
	uint32_t page_size[3];
	uint32_t npages[3];
	uint32_t max_run;
	unsigned rounds;
	bool hook;
};

static const struct seed seeds[] = {
    {"minimal", 0, 1, {512}, {1}, 1, 1, false},
    {"verify-zero",
     RMIG_STREAM_F_VERIFY | RMIG_STREAM_F_ZERO_PAGES,
     2,
     {512, 1024},
     {8, 4},
     3,
     2,
     false},
    {"runs",
     RMIG_STREAM_F_VERIFY | RMIG_STREAM_F_ZERO_PAGES,
     3,
     {512, 4096, 512},
     {16, 4, 2},
     256,
     1,
     false},
    {"no-verify", RMIG_STREAM_F_ZERO_PAGES, 2, {512, 512}, {4, 4}, 2, 3, false},
    {"hook", RMIG_STREAM_F_VERIFY, 1, {512}, {4}, 4, 1, true},
};

/* Deterministic contents with some all-zero pages. */
static void fill(struct rmig_ramblock *b)
{
	uint64_t i;

	for (i = 0; i < b->length; i++) {
		uint64_t pg = i / b->page_size;

		b->host[i] = pg % 3 == 1 ? 0 : (uint8_t)(i * 31 + b->index);
	}
}

static int send_pages(struct rmig_stream *s, struct rmig_ramblock *b, uint32_t flags,
		      uint32_t max_run)
{
	uint64_t pg = 0;
	int rc = 0;

	while (pg < b->npages && rc == 0) {
		const uint8_t *p = b->host + pg * b->page_size;
		bool zero =
		    (flags & RMIG_STREAM_F_ZERO_PAGES) && rmig_buffer_is_zero(p, b->page_size);
		struct rmig_record r = {.type = zero ? RMIG_REC_ZERO : RMIG_REC_DATA,
					.block = b->index,
					.offset = pg * b->page_size,
					.npages = 1};

		while (r.npages < max_run && pg + r.npages < b->npages &&
		       zero == ((flags & RMIG_STREAM_F_ZERO_PAGES) &&
				rmig_buffer_is_zero(p + (uint64_t)r.npages * b->page_size,
						    b->page_size)))
			r.npages++;
		rc = rmig_format_write_record(s, &r);
		if (!rc && !zero)
			rc = rmig_stream_write(s, p, (size_t)r.npages * b->page_size);
		pg += r.npages;
	}
	return rc;
}

static int gen(const struct seed *sd, struct rmig_stream *s)
{
	struct rmig_record eos = {.type = RMIG_REC_EOS};
	uint64_t sums[3];
	struct rmig_ram ram;
	unsigned round;
	uint32_t i;
	int rc;

	rmig_ram_init(&ram);
	for (i = 0; i < sd->nblocks; i++) {
		char name[16];
		struct rmig_ramblock *b;

		snprintf(name, sizeof(name), "blk%u", i);
		rc = rmig_ram_alloc(&ram, name, (uint64_t)sd->npages[i] * sd->page_size[i],
				    sd->page_size[i], &b);
		if (rc)
			goto fini_ram;
		fill(b);
	}
	rc = rmig_format_write_header(s, sd->flags, &ram);
	for (round = 1; round <= sd->rounds && rc == 0; round++) {
		struct rmig_record eor = {.type = RMIG_REC_EOR, .arg = round};

		if (sd->hook) {
			struct rmig_record hook = {.type = RMIG_REC_HOOK,
						   .arg = RMIG_RAM_PHASE_ROUND};

			rc = rmig_format_write_record(s, &hook);
		}
		for (i = 0; i < ram.nblocks && rc == 0; i++)
			rc = send_pages(s, ram.blocks[i], sd->flags, sd->max_run);
		if (!rc)
			rc = rmig_format_write_record(s, &eor);
	}
	if (!rc)
		rc = rmig_format_write_record(s, &eos);
	rmig_ram_checksums(&ram, sums);
	if (!rc)
		rc = rmig_format_write_trailer(s, sd->flags, sums, ram.nblocks);
	if (!rc)
		rc = rmig_stream_flush(s);
fini_ram:
	rmig_ram_fini(&ram);
	return rc;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		struct rmig_conn *c = rmig_memconn_new(NULL, 0, 0);
		struct rmig_stream s;
		const uint8_t *out;
		char path[4096];
		size_t len;
		FILE *f;

		if (!c || rmig_stream_init(&s, c, 0))
			return 1;
		if (gen(&seeds[i], &s))
			return 1;
		out = rmig_memconn_written(c, &len);
		snprintf(path, sizeof(path), "%s/%s.rmig", argv[1], seeds[i].name);
		f = fopen(path, "wb");
		if (!f || fwrite(out, 1, len, f) != len || fclose(f)) {
			fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
			return 1;
		}
		rmig_stream_fini(&s);
		rmig_memconn_free(c);
	}
	return 0;
}
