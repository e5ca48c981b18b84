/* SPDX-License-Identifier: MIT */
/*
 * Writes valid multifd sources (tests/fuzz/corpus-multifd/) for fuzz_multifd
 * to start from, packed as multifd_input.h says: channels that own their
 * stripes, SYNC per round, PINGs, END_OF_STREAM, and a main stream with
 * its rounds and trailer.  Every record type a multifd source sends
 * appears.  Usage: gen_multifd_seeds DIR
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>
#include <rmig/transport.h>

#include "common/base/util.h"
#include "common/engine/format.h"
#include "common/engine/multifd.h"
#include "common/engine/stream.h"
#include "common/ram/zero.h"
#include "tests/fuzz/multifd_input.h"
#include "tests/support/memconn.h"

struct seed {
	const char *name;
	uint32_t flags;
	uint32_t channels;
	unsigned rounds;
	bool pings;
	bool stray; /* a connection of another session offered first */
};

static const struct seed seeds[] = {
	{ "two-channels", RMIG_STREAM_F_VERIFY | RMIG_STREAM_F_ZERO_PAGES, 2, 2, false, false },
	{ "one-channel", RMIG_STREAM_F_ZERO_PAGES, 1, 1, false, false },
	{ "three-pings", RMIG_STREAM_F_VERIFY | RMIG_STREAM_F_ZERO_PAGES, 3, 2, true, false },
	{ "stray-first", RMIG_STREAM_F_VERIFY | RMIG_STREAM_F_ZERO_PAGES, 2, 1, false, true },
};

static const uint8_t session[RMIG_MULTIFD_SESSION_SIZE] = { 0x5e, 0x55, 0x10, 0x4e };

/* Mostly zero, a few data pages in every stripe, so seeds stay small. */
static void fill(struct rmig_ramblock *b)
{
	for (uint64_t pg = 0; pg < b->npages; pg++)
		if (pg % 257 == 3 || pg == b->npages - 1)
			memset(b->host + pg * b->page_size, (int)(pg * 7 + b->index + 1),
			       b->page_size);
}

static bool page_is_zero(const struct rmig_ramblock *b, uint64_t pg, uint32_t flags)
{
	return (flags & RMIG_STREAM_F_ZERO_PAGES) &&
	       rmig_buffer_is_zero(b->host + pg * b->page_size, b->page_size);
}

/* Runs of one kind through their owner, cut at stripe ends as the source cuts them. */
static int send_block(struct rmig_stream *chs, uint32_t n, struct rmig_ramblock *b,
		      uint32_t flags)
{
	uint64_t pg = 0;
	int rc = 0;

	while (pg < b->npages && !rc) {
		bool zero = page_is_zero(b, pg, flags);
		uint64_t max = RMIG_MIN(rmig_multifd_stripe_left(b, pg), b->npages - pg);
		struct rmig_record r = { .type = zero ? RMIG_REC_ZERO : RMIG_REC_DATA,
					 .block = b->index,
					 .offset = pg * b->page_size,
					 .npages = 1 };
		struct rmig_stream *s = &chs[rmig_multifd_owner(b, r.offset, n)];

		max = RMIG_MIN(max, (uint64_t)RMIG_RECORD_MAX_PAGES);
		while (r.npages < max && page_is_zero(b, pg + r.npages, flags) == zero)
			r.npages++;
		rc = rmig_format_write_record(s, &r);
		if (!rc && !zero)
			rc = rmig_stream_write(s, b->host + pg * b->page_size,
					       (size_t)r.npages * b->page_size);
		pg += r.npages;
	}
	return rc;
}

static int put_record(struct rmig_stream *s, uint32_t type, uint32_t arg)
{
	struct rmig_record r = { .type = type, .arg = arg };

	return rmig_format_write_record(s, &r);
}

static int gen(const struct seed *sd, struct rmig_ram *ram, struct rmig_stream *main_s,
	       struct rmig_stream *chs)
{
	uint64_t sums[2];
	int rc;

	rc = rmig_format_write_header(main_s, sd->flags | RMIG_STREAM_F_MULTIFD, ram);
	if (!rc)
		rc = rmig_format_write_channels(main_s, sd->channels, session);
	for (uint32_t i = 0; i < sd->channels && !rc; i++) {
		struct rmig_channel_hello hello = { .index = i, .count = sd->channels };
		uint8_t msg[RMIG_CHANNEL_HELLO_SIZE];

		memcpy(hello.session, session, sizeof(session));
		rmig_channel_hello_encode(msg, &hello);
		rc = rmig_stream_write(&chs[i], msg, sizeof(msg));
	}
	for (unsigned round = 0; round < sd->rounds && !rc; round++) {
		for (uint32_t i = 0; i < ram->nblocks && !rc; i++)
			rc = send_block(chs, sd->channels, ram->blocks[i], sd->flags);
		for (uint32_t i = 0; i < sd->channels && !rc; i++) {
			if (sd->pings)
				rc = put_record(&chs[i], RMIG_REC_PING, 0);
			if (!rc)
				rc = put_record(&chs[i], RMIG_REC_SYNC, round);
		}
		if (!rc && sd->pings)
			rc = put_record(main_s, RMIG_REC_PING, 0);
		if (!rc)
			rc = put_record(main_s, RMIG_REC_EOR, round);
	}
	for (uint32_t i = 0; i < sd->channels && !rc; i++)
		rc = put_record(&chs[i], RMIG_REC_EOS, 0);
	if (!rc)
		rc = put_record(main_s, RMIG_REC_EOS, 0);
	rmig_ram_checksums(ram, sums);
	if (!rc)
		rc = rmig_format_write_trailer(main_s, sd->flags, sums, ram->nblocks);
	for (uint32_t i = 0; i < sd->channels && !rc; i++)
		rc = rmig_stream_flush(&chs[i]);
	return rc ? rc : rmig_stream_flush(main_s);
}

static void put_be32(FILE *f, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	fwrite(b, 1, 4, f);
}

/* The packed input: segment table, the channels (a stray one first if asked), the main stream. */
static int write_seed(const char *dir, const struct seed *sd, struct rmig_conn *main_c,
		      struct rmig_conn **ch_c)
{
	uint8_t stray[RMIG_CHANNEL_HELLO_SIZE + 24] = { 0 };
	struct rmig_channel_hello other = { .index = 0, .count = sd->channels };
	unsigned nseg = sd->channels + (sd->stray ? 1 : 0);
	const uint8_t *out;
	char path[4096];
	size_t len;
	FILE *f;

	memset(other.session, 0xee, sizeof(other.session));
	rmig_channel_hello_encode(stray, &other);
	snprintf(path, sizeof(path), "%s/%s.bin", dir, sd->name);
	f = fopen(path, "wb");
	if (!f)
		goto err;
	fputc((int)nseg, f);
	if (sd->stray)
		put_be32(f, sizeof(stray));
	for (uint32_t i = 0; i < sd->channels; i++) {
		rmig_memconn_written(ch_c[i], &len);
		put_be32(f, (uint32_t)len);
	}
	if (sd->stray)
		fwrite(stray, 1, sizeof(stray), f);
	for (uint32_t i = 0; i < sd->channels; i++) {
		out = rmig_memconn_written(ch_c[i], &len);
		fwrite(out, 1, len, f);
	}
	out = rmig_memconn_written(main_c, &len);
	if (fwrite(out, 1, len, f) != len || fclose(f))
		goto err;
	return 0;
err:
	fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
	return -EIO;
}

static int make(const char *dir, const struct seed *sd)
{
	struct rmig_stream main_s, chs[FUZZ_MULTIFD_MAX_SEGMENTS];
	struct rmig_conn *main_c, *ch_c[FUZZ_MULTIFD_MAX_SEGMENTS];
	struct rmig_ramblock *b0, *b1;
	struct rmig_ram ram;
	int rc;

	rmig_ram_init(&ram);
	/* Three stripes of 4 KiB pages, and a small block of 512-byte pages. */
	if (rmig_ram_alloc(&ram, "pc.ram", 3u << 20, 4096, &b0) ||
	    rmig_ram_alloc(&ram, "vga", 16u << 10, 512, &b1))
		return 1;
	fill(b0);
	fill(b1);
	main_c = rmig_memconn_new(NULL, 0, 0);
	if (!main_c || rmig_stream_init(&main_s, main_c, 0))
		return 1;
	for (uint32_t i = 0; i < sd->channels; i++) {
		ch_c[i] = rmig_memconn_new(NULL, 0, 0);
		if (!ch_c[i] || rmig_stream_init(&chs[i], ch_c[i], 0))
			return 1;
	}
	rc = gen(sd, &ram, &main_s, chs);
	if (!rc)
		rc = write_seed(dir, sd, main_c, ch_c);
	for (uint32_t i = 0; i < sd->channels; i++) {
		rmig_stream_fini(&chs[i]);
		rmig_memconn_free(ch_c[i]);
	}
	rmig_stream_fini(&main_s);
	rmig_memconn_free(main_c);
	rmig_ram_fini(&ram);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	for (size_t i = 0; i < RMIG_ARRAY_SIZE(seeds); i++)
		if (make(argv[1], &seeds[i]))
			return 1;
	return 0;
}
