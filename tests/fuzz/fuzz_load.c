/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: feed arbitrary bytes to rmig_load() as if a source had
 * sent them, into an empty RAM set (so the header decides what gets
 * allocated).  It must never crash, never touch memory outside the blocks,
 * and never report success for a stream that is not complete.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <rmig/log.h>

#include "common/engine/format.h"
#include "common/engine/stream.h"
#include "tests/support/memconn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Enough for several blocks, small enough that checksumming them stays fast. */
#define FUZZ_MAX_RAM (4u << 20)
/* Small, so DATA payloads exercise both the buffered and the direct read path. */
#define FUZZ_STREAM_BUF 512

static void quiet(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct rmig_load_info info = {0};
	struct rmig_stream s;
	struct rmig_conn *c;
	struct rmig_ram ram;
	int rc;

	if (!ready) {
		rmig_log_set_sink(quiet, NULL);
		rmig_load_set_max_ram(FUZZ_MAX_RAM);
		ready = true;
	}
	/* Vary how the transport splits reads, from the input itself. */
	c = rmig_memconn_new(data, size, size % 3 == 0 ? 0 : size % 61);
	if (!c)
		return 0;
	if (rmig_stream_init(&s, c, FUZZ_STREAM_BUF))
		goto free_conn;
	rmig_ram_init(&ram);
	rc = rmig_load(&s, &ram, NULL, &info);
	if (rc == 0) {
		/* Success needs a header, blocks, and at least the end magic. */
		if (ram.nblocks == 0 || s.bytes_in < 16 + 14 + 24 + 4 || s.bytes_in > size)
			abort();
		if (info.verified != ((info.flags & RMIG_STREAM_F_VERIFY) != 0))
			abort();
	} else if (rc > 0 || info.verified || info.flags) {
		abort();
	}
	rmig_ram_fini(&ram);
	rmig_stream_fini(&s);
free_conn:
	rmig_memconn_free(c);
	return 0;
}
