/* SPDX-License-Identifier: MIT */
/*
 * A buffered byte stream over a transport connection.
 *
 * Small writes (record headers) are gathered in a buffer; page contents are
 * passed by reference with rmig_stream_write_ref() and go out with writev
 * straight from guest memory, so the TCP path copies page data once (into
 * the kernel), exactly as a raw socket benchmark would.
 *
 * Errors are sticky: after the first failure every call returns the same
 * -errno, so callers may check once per record rather than per field.
 * The byte count includes everything handed to the connection and is what
 * the stats call "transferred" for stream traffic.
 */
#ifndef RMIG_STREAM_H
#define RMIG_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct rmig_conn;

#define RMIG_STREAM_BUF_DEFAULT (256 * 1024)
#define RMIG_STREAM_MAX_IOV 512
/* Bytes a small read pulls in ahead of what it asked for. */
#define RMIG_STREAM_READAHEAD 4096

struct rmig_stream {
	struct rmig_conn *conn;
	uint8_t *buf;
	size_t cap;
	/* write side: buf[0..wlen) pending, plus referenced payloads in iov */
	size_t wlen;
	struct iovec iov[RMIG_STREAM_MAX_IOV];
	int iovcnt;
	size_t iov_bytes;
	/* read side: buf[rpos..rlen) unread */
	size_t rpos, rlen;
	uint64_t bytes_out; /* bytes handed to the connection */
	uint64_t bytes_in;  /* bytes consumed by the reader */
	int error;	    /* sticky -errno, 0 while healthy */
	/*
	 * The migration's peer-timeout, for the loader to lengthen while the
	 * source checksums (load.c); 0 = the loader leaves the connection alone.
	 */
	uint64_t peer_timeout_ms;
	/* Reading: the most RAM the stream's header may ask for; 0 = rmig_load_set_max_ram(). */
	uint64_t max_ram;
	bool buf_borrowed; /* the caller's buffer (rmig_stream_init_buf): not freed here */
};

/* @bufsize 0 means RMIG_STREAM_BUF_DEFAULT.  -ENOMEM. */
int rmig_stream_init(struct rmig_stream *s, struct rmig_conn *conn, size_t bufsize);
/* As rmig_stream_init(), with the caller's @cap-byte @buf, which stays the caller's. */
void rmig_stream_init_buf(struct rmig_stream *s, struct rmig_conn *conn, uint8_t *buf,
			  size_t cap);
/* Frees the buffer; does not close the connection. */
void rmig_stream_fini(struct rmig_stream *s);

/* Copy @len bytes into the stream. */
int rmig_stream_write(struct rmig_stream *s, const void *p, size_t len);
/*
 * Queue @len bytes by reference: @p must stay valid and unchanged until the
 * next flush (which happens at the latest on rmig_stream_flush(), or when
 * the buffer or iovec fills).
 */
int rmig_stream_write_ref(struct rmig_stream *s, const void *p, size_t len);
int rmig_stream_put_u32(struct rmig_stream *s, uint32_t v); /* big-endian */
int rmig_stream_put_u64(struct rmig_stream *s, uint64_t v);
/* Push everything pending to the connection. */
int rmig_stream_flush(struct rmig_stream *s);

/*
 * Read exactly @len bytes.  -EPIPE with "stream truncated" reported when
 * the peer ends the stream first; -ECANCELED after an abort.
 */
int rmig_stream_read(struct rmig_stream *s, void *p, size_t len);
int rmig_stream_get_u32(struct rmig_stream *s, uint32_t *v);
int rmig_stream_get_u64(struct rmig_stream *s, uint64_t *v);

#endif /* RMIG_STREAM_H */
