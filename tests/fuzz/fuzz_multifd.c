/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a multifd source, all of it hostile.  One input holds a
 * main stream and the connections offered as its channels
 * (multifd_input.h); rmig_load_channels() reads the main stream, and an
 * accept slot like the destination's (incoming.c) takes each offered
 * connection's hello and hands the matching ones over.  The channel
 * threads then apply their records while the main stream goes on.  It
 * must never crash, never write outside the blocks (ASan), never hang, and
 * never report success without a whole stream from every channel.
 *
 * The destination has its RAM already, as an embedder's does, laid out as
 * gen_multifd_seeds' guest ("pc.ram" 3 MiB of 4 KiB pages, "vga" 16 KiB of
 * 512-byte pages), zeroed before every input so each runs alike.  Letting
 * the loader map fresh blocks for every input spent most of the time
 * faulting them in; what a hostile block list does to the allocation is
 * fuzz_load's to explore, channels are this target's.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <rmig/log.h>
#include <rmig/transport.h>

#include "common/base/util.h"
#include "common/engine/format.h"
#include "common/engine/multifd.h"
#include "common/engine/params.h"
#include "common/engine/stream.h"
#include "plugin/registry.h"
#include "tests/fuzz/multifd_input.h"
#include "tests/support/memconn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the last input's load returned, for the replay driver below. */
static int last_rc;

#define FUZZ_MAX_RAM (4u << 20)
#define FUZZ_PC_RAM (3u << 20)
#define FUZZ_VGA (16u << 10)

struct offered {
	const uint8_t *seg[FUZZ_MULTIFD_MAX_SEGMENTS];
	size_t len[FUZZ_MULTIFD_MAX_SEGMENTS];
	unsigned n;
	unsigned accepted; /* channels handed over: every one must reach EOS for success */
};

static void quiet(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

/* The accept slot: offered connections in order, as a listener would give them. */
static int accept_channels(void *opaque, const struct rmig_stream_header *h,
			   struct rmig_conn **conns)
{
	struct offered *o = opaque;
	uint32_t have = 0;
	int ret = 0;

	memset(conns, 0, h->channels * sizeof(*conns));
	for (unsigned i = 0; i < o->n && have < h->channels; i++) {
		struct rmig_channel_hello hello;
		struct rmig_conn *c;

		if (o->len[i] < RMIG_CHANNEL_HELLO_SIZE ||
		    rmig_channel_hello_decode(o->seg[i], h, &hello) || conns[hello.index])
			continue; /* dropped, as incoming.c drops it */
		/* Vary how the transport splits reads, from the input itself. */
		c = rmig_memconn_new(o->seg[i] + RMIG_CHANNEL_HELLO_SIZE,
				     o->len[i] - RMIG_CHANNEL_HELLO_SIZE, o->len[i] % 7 ? o->len[i] % 97 : 0);
		if (!c) {
			ret = -ENOMEM;
			break;
		}
		conns[hello.index] = c;
		have++;
	}
	if (!ret && have < h->channels)
		ret = -ETIMEDOUT;
	if (ret) {
		for (uint32_t i = 0; i < h->channels; i++)
			if (conns[i])
				rmig_conn_close(conns[i]);
		return ret;
	}
	o->accepted = have;
	return 0;
}

/* Cut @data as multifd_input.h says; false when it is too short for its own table. */
static bool split(const uint8_t *data, size_t size, struct offered *o, const uint8_t **main_p,
		  size_t *main_len)
{
	size_t pos = 1;

	if (size < 1)
		return false;
	o->n = RMIG_MIN(data[0], FUZZ_MULTIFD_MAX_SEGMENTS);
	if (size < 1 + 4 * (size_t)o->n)
		return false;
	pos += 4 * (size_t)o->n;
	for (unsigned i = 0; i < o->n; i++) {
		size_t want = ((size_t)data[1 + 4 * i] << 24) | ((size_t)data[2 + 4 * i] << 16) |
			      ((size_t)data[3 + 4 * i] << 8) | data[4 + 4 * i];

		o->seg[i] = data + pos;
		o->len[i] = RMIG_MIN(want, size - pos);
		pos += o->len[i];
	}
	*main_p = data + pos;
	*main_len = size - pos;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct offered o = { .n = 0 };
	const struct rmig_load_channels ch = { .accept = accept_channels,
					       .opaque = &o,
					       .numa_node = RMIG_NUMA_NODE_NONE };
	struct rmig_load_info info = { 0 };
	const uint8_t *main_p;
	size_t main_len;
	struct rmig_stream s;
	struct rmig_conn *c;
	struct rmig_ram ram;
	int rc;

	static uint8_t *arena;

	if (!ready) {
		rmig_log_set_sink(quiet, NULL);
		rmig_load_set_max_ram(FUZZ_MAX_RAM);
		arena = mmap(NULL, FUZZ_PC_RAM + FUZZ_VGA, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (arena == MAP_FAILED)
			abort();
		ready = true;
	}
	last_rc = -EINVAL;
	if (!split(data, size, &o, &main_p, &main_len))
		return 0;
	c = rmig_memconn_new(main_p, main_len, main_len % 5 ? main_len % 53 : 0);
	if (!c)
		return 0;
	if (rmig_stream_init(&s, c, 512))
		goto free_conn;
	memset(arena, 0, FUZZ_PC_RAM + FUZZ_VGA);
	rmig_ram_init(&ram);
	if (rmig_ram_add(&ram, "pc.ram", arena, FUZZ_PC_RAM, 4096, NULL) ||
	    rmig_ram_add(&ram, "vga", arena + FUZZ_PC_RAM, FUZZ_VGA, 512, NULL))
		abort();
	rc = rmig_load_channels(&s, &ram, NULL, &info, &ch);
	last_rc = rc;
	if (rc == 0) {
		/* Success needs the header, blocks, the end magic, and channels when announced. */
		if (ram.nblocks != 2 || s.bytes_in > main_len)
			abort();
		if ((info.flags & RMIG_STREAM_F_MULTIFD) && !o.accepted)
			abort();
		if (info.verified != ((info.flags & RMIG_STREAM_F_VERIFY) != 0))
			abort();
	} else if (rc > 0 || info.verified) {
		abort();
	}
	rmig_ram_fini(&ram);
	rmig_stream_fini(&s);
free_conn:
	rmig_memconn_free(c);
	return 0;
}

#ifdef FUZZ_REPLAY
#include <dirent.h>
#include <stdio.h>

/*
 * replay_multifd_seeds DIR, this target built without libFuzzer (not named
 * fuzz_*: ci/test and ci/fuzz run every fuzz_* as a libFuzzer target):
 * every seed in DIR must load completely.
 */
int main(int argc, char **argv)
{
	struct dirent *e;
	unsigned n = 0, bad = 0;
	DIR *d;

	if (argc != 2 || !(d = opendir(argv[1]))) {
		fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
		return 2;
	}
	while ((e = readdir(d))) {
		char path[4096];
		static uint8_t buf[8u << 20];
		size_t len;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", argv[1], e->d_name);
		f = fopen(path, "rb");
		if (!f)
			return 1;
		len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, len);
		printf("%s: %s\n", e->d_name, last_rc ? "FAILED to load" : "loaded");
		bad += last_rc != 0;
		n++;
	}
	closedir(d);
	if (!n)
		fprintf(stderr, "no seeds in %s\n", argv[1]);
	return n && !bad ? 0 : 1;
}
#endif
