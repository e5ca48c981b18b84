/* SPDX-License-Identifier: MIT */
/*
 * Buffered stream over a transport connection.
 *
 * Write side: the pending bytes are described by s->iov in stream order.
 * Copied bytes live in s->buf and are referenced from iov entries like any
 * payload, so small header writes and by-reference page payloads interleave
 * without ever copying a page: one writev sends headers and pages together.
 *
 * Read side: s->buf[rpos..rlen) holds bytes read ahead.  Reads at least one
 * buffer long bypass the buffer and land directly in the caller's memory
 * (guest RAM, for DATA records), so the destination copies each page once.
 *
 * A stream is used in one direction at a time; the two sides share s->buf.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "common/engine/stream.h"
#include "plugin/registry.h"

/*
 * Payloads shorter than this are copied rather than referenced: an iovec
 * costs the kernel more than copying a few dozen bytes.
 */
#define STREAM_REF_MIN 128

int rmig_stream_init(struct rmig_stream *s, struct rmig_conn *conn, size_t bufsize)
{
	uint8_t *buf;

	if (bufsize == 0)
		bufsize = RMIG_STREAM_BUF_DEFAULT;
	buf = malloc(bufsize);
	if (!buf) {
		rmig_error("cannot allocate a %zu-byte stream buffer", bufsize);
		return -ENOMEM;
	}
	memset(s, 0, sizeof(*s));
	s->conn = conn;
	s->buf = buf;
	s->cap = bufsize;
	return 0;
}

void rmig_stream_init_buf(struct rmig_stream *s, struct rmig_conn *conn, uint8_t *buf,
			  size_t cap)
{
	memset(s, 0, sizeof(*s));
	s->conn = conn;
	s->buf = buf;
	s->cap = cap;
	s->buf_borrowed = true;
}

void rmig_stream_fini(struct rmig_stream *s)
{
	if (!s->buf_borrowed)
		free(s->buf);
	s->buf = NULL;
	s->cap = 0;
	s->wlen = 0;
	s->iovcnt = 0;
	s->iov_bytes = 0;
	s->rpos = s->rlen = 0;
}

/* Make @err the stream's sticky error (the first one wins) and return it. */
static int stream_fail(struct rmig_stream *s, int err)
{
	if (!s->error)
		s->error = err;
	return s->error;
}

static const char *stream_scheme(const struct rmig_stream *s)
{
	return s->conn && s->conn->ops && s->conn->ops->scheme ? s->conn->ops->scheme : "?";
}

int rmig_stream_flush(struct rmig_stream *s)
{
	struct iovec *iov = s->iov;
	int cnt = s->iovcnt;
	size_t left = s->iov_bytes;

	if (s->error)
		return s->error;
	while (cnt > 0) {
		ssize_t n;
		size_t done;

		if (iov->iov_len == 0) {
			iov++;
			cnt--;
			continue;
		}
		/* The wrapper falls back to write() for transports without writev. */
		n = rmig_conn_writev(s->conn, iov, cnt);
		if (n < 0)
			return stream_fail(s, (int)n);
		if (n == 0 || (size_t)n > left) {
			/* Either would loop forever or corrupt our accounting. */
			rmig_error(
			    "transport %s reported writing %zd bytes of %zu; giving up on the "
			    "migration stream",
			    stream_scheme(s), n, left);
			return stream_fail(s, -EIO);
		}
		s->bytes_out += (uint64_t)n;
		left -= (size_t)n;
		/* Partial write: drop what went out, resume mid-entry if need be. */
		done = (size_t)n;
		while (done > 0) {
			if (done >= iov->iov_len) {
				done -= iov->iov_len;
				iov++;
				cnt--;
			} else {
				iov->iov_base = (uint8_t *)iov->iov_base + done;
				iov->iov_len -= done;
				done = 0;
			}
		}
	}
	s->iovcnt = 0;
	s->iov_bytes = 0;
	s->wlen = 0;
	return 0;
}

/* Append [p, p+len) to the iovec list, merging with the last entry when contiguous. */
static void stream_add_iov(struct rmig_stream *s, const void *p, size_t len)
{
	struct iovec *last = s->iovcnt ? &s->iov[s->iovcnt - 1] : NULL;

	if (last && (const uint8_t *)last->iov_base + last->iov_len == (const uint8_t *)p) {
		last->iov_len += len;
	} else {
		s->iov[s->iovcnt].iov_base = (void *)p;
		s->iov[s->iovcnt].iov_len = len;
		s->iovcnt++;
	}
	s->iov_bytes += len;
}

/* Would appending at buf + wlen need a new iovec entry? */
static bool stream_tail_needs_iov(const struct rmig_stream *s)
{
	const struct iovec *last;

	if (!s->iovcnt)
		return true;
	last = &s->iov[s->iovcnt - 1];
	return (const uint8_t *)last->iov_base + last->iov_len != s->buf + s->wlen;
}

int rmig_stream_write(struct rmig_stream *s, const void *p, size_t len)
{
	const uint8_t *src = p;
	int rc;

	if (s->error)
		return s->error;
	while (len > 0) {
		size_t n;

		if (s->wlen == s->cap ||
		    (s->iovcnt == RMIG_STREAM_MAX_IOV && stream_tail_needs_iov(s))) {
			rc = rmig_stream_flush(s);
			if (rc)
				return rc;
		}
		n = RMIG_MIN(len, s->cap - s->wlen);
		memcpy(s->buf + s->wlen, src, n);
		stream_add_iov(s, s->buf + s->wlen, n);
		s->wlen += n;
		src += n;
		len -= n;
	}
	return 0;
}

int rmig_stream_write_ref(struct rmig_stream *s, const void *p, size_t len)
{
	struct iovec *last;
	int rc;

	if (s->error)
		return s->error;
	if (len < STREAM_REF_MIN)
		return rmig_stream_write(s, p, len);
	last = s->iovcnt ? &s->iov[s->iovcnt - 1] : NULL;
	if (s->iovcnt == RMIG_STREAM_MAX_IOV &&
	    (const uint8_t *)last->iov_base + last->iov_len != (const uint8_t *)p) {
		rc = rmig_stream_flush(s);
		if (rc)
			return rc;
	}
	stream_add_iov(s, p, len);
	return 0;
}

int rmig_stream_put_u32(struct rmig_stream *s, uint32_t v)
{
	uint8_t b[4];

	rmig_put_be32(b, v);
	return rmig_stream_write(s, b, sizeof(b));
}

int rmig_stream_put_u64(struct rmig_stream *s, uint64_t v)
{
	uint8_t b[8];

	rmig_put_be64(b, v);
	return rmig_stream_write(s, b, sizeof(b));
}

/* One read from the connection into @p; 0 is never returned (EOF is an error here). */
static ssize_t stream_fill(struct rmig_stream *s, void *p, size_t len)
{
	ssize_t n = rmig_conn_read(s->conn, p, len);

	if (n < 0)
		return stream_fail(s, (int)n);
	if (n == 0) {
		rmig_error("migration stream truncated: peer closed the connection after %llu "
			   "bytes",
			   (unsigned long long)s->bytes_in);
		return stream_fail(s, -EPIPE);
	}
	if ((size_t)n > len) {
		rmig_error("transport %s returned %zd bytes for a %zu-byte read", stream_scheme(s),
			   n, len);
		return stream_fail(s, -EIO);
	}
	return n;
}

int rmig_stream_read(struct rmig_stream *s, void *p, size_t len)
{
	uint8_t *dst = p;

	if (s->error)
		return s->error;
	while (len > 0) {
		size_t avail = s->rlen - s->rpos;
		ssize_t n;

		if (avail > 0) {
			size_t take = RMIG_MIN(avail, len);

			memcpy(dst, s->buf + s->rpos, take);
			s->rpos += take;
			s->bytes_in += take;
			dst += take;
			len -= take;
			continue;
		}
		if (len >= s->cap) {
			/* Big payloads go straight to their destination, never via buf. */
			n = stream_fill(s, dst, len);
			if (n < 0)
				return (int)n;
			s->bytes_in += (uint64_t)n;
			dst += n;
			len -= (size_t)n;
			continue;
		}
		/*
		 * Read ahead only a little: what follows a record header is
		 * usually its payload, which should land in RAM directly rather
		 * than through buf and a copy (a full buffer's worth was a
		 * quarter of every MiB, copied twice).  Runs of small records
		 * still come in one read.
		 */
		s->rpos = s->rlen = 0;
		n = stream_fill(s, s->buf, RMIG_MIN(s->cap, RMIG_MAX(len, RMIG_STREAM_READAHEAD)));
		if (n < 0)
			return (int)n;
		s->rlen = (size_t)n;
	}
	return 0;
}

int rmig_stream_get_u32(struct rmig_stream *s, uint32_t *v)
{
	uint8_t b[4];
	int rc = rmig_stream_read(s, b, sizeof(b));

	if (rc)
		return rc;
	*v = rmig_get_be32(b);
	return 0;
}

int rmig_stream_get_u64(struct rmig_stream *s, uint64_t *v)
{
	uint8_t b[8];
	int rc = rmig_stream_read(s, b, sizeof(b));

	if (rc)
		return rc;
	*v = rmig_get_be64(b);
	return 0;
}
