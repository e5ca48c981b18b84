/* SPDX-License-Identifier: MIT */
/*
 * Hand-built stream images, for streams the writer would never produce:
 * shared by the stream-format tests (tests/engine/test_format*.c).
 */
#ifndef RMIG_TEST_STREAM_IMAGE_H
#define RMIG_TEST_STREAM_IMAGE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/base/util.h"
#include "common/engine/format.h"
#include "common/engine/stream.h"
#include "tests/support/memconn.h"

/* A hand-built wire image, for streams the writer would never produce. */
struct wire {
	uint8_t d[8192];
	size_t n;
};

static inline void w16(struct wire *w, uint16_t v)
{
	rmig_put_be16(w->d + w->n, v);
	w->n += 2;
}

static inline void w32(struct wire *w, uint32_t v)
{
	rmig_put_be32(w->d + w->n, v);
	w->n += 4;
}

static inline void w64(struct wire *w, uint64_t v)
{
	rmig_put_be64(w->d + w->n, v);
	w->n += 8;
}

static inline void wbytes(struct wire *w, const void *p, size_t len)
{
	memcpy(w->d + w->n, p, len);
	w->n += len;
}

static inline void whdr(struct wire *w, uint32_t magic, uint32_t version, uint32_t flags, uint32_t nblocks)
{
	w32(w, magic);
	w32(w, version);
	w32(w, flags);
	w32(w, nblocks);
}

static inline void wblock(struct wire *w, const char *name, uint32_t page_size, uint64_t length)
{
	w16(w, (uint16_t)strlen(name));
	wbytes(w, name, strlen(name));
	w32(w, page_size);
	w64(w, length);
}

static inline void wrec(struct wire *w, uint32_t type, uint32_t block, uint64_t offset, uint32_t npages,
		 uint32_t arg)
{
	w32(w, type);
	w32(w, block);
	w64(w, offset);
	w32(w, npages);
	w32(w, arg);
}

/* The standard two-block header most record tests use. */
#define PC_LEN	(64 * 1024)
#define VGA_LEN (8 * 1024)
#define STD_CHANNELS 2 /* with F_MULTIFD */
static inline void wstd(struct wire *w, uint32_t flags)
{
	whdr(w, RMIG_STREAM_MAGIC, 1, flags, 2);
	wblock(w, "pc.ram", 4096, PC_LEN);
	wblock(w, "vga.vram", 512, VGA_LEN);
	if (flags & RMIG_STREAM_F_MULTIFD) {
		static const uint8_t session[RMIG_MULTIFD_SESSION_SIZE] = { 0xab };

		w32(w, STD_CHANNELS);
		wbytes(w, session, sizeof(session));
	}
}

/* Parse a header from @w; returns the reader's result. */
static inline int parse_header(const struct wire *w, struct rmig_stream_header *h)
{
	struct rmig_conn *c = rmig_memconn_new(w->d, w->n, 0);
	struct rmig_stream s;
	int rc;

	assert_non_null(c);
	assert_int_equal(rmig_stream_init(&s, c, 0), 0);
	rc = rmig_format_read_header(&s, h);
	rmig_stream_fini(&s);
	rmig_memconn_free(c);
	return rc;
}

#endif /* RMIG_TEST_STREAM_IMAGE_H */
