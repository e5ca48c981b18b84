/* SPDX-License-Identifier: MIT */
/*
 * A connection over memory, for tests and fuzzers.  Reads hand out a copy
 * of the input in pieces of at most `chunk` bytes, so a test can check that
 * the reader copes with a transport that returns one byte at a time; writes
 * may likewise be cut short to exercise the writer's partial-write path.
 * It is never registered, so no URI can reach it.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>
#include <rmig/transport.h>

#include "common/base/util.h"
#include "tests/support/memconn.h"

struct memconn {
	struct rmig_conn conn;
	uint8_t *in;
	size_t in_len, in_pos, rchunk;
	uint8_t *out;
	size_t out_len, out_cap, wchunk;
	bool wstuck;
	_Atomic bool aborted;
};

static struct memconn *to_memconn(struct rmig_conn *c)
{
	return rmig_container_of(c, struct memconn, conn);
}

static int memconn_connect(const char *addr, const struct rmig_conn_opts *opts,
			   struct rmig_conn **out)
{
	(void)addr;
	(void)opts;
	(void)out;
	rmig_error("the mem: transport only exists inside tests");
	return -ENOTSUP;
}

static int memconn_listen(const char *addr, const struct rmig_conn_opts *opts,
			  struct rmig_listener **out)
{
	(void)addr;
	(void)opts;
	(void)out;
	rmig_error("the mem: transport only exists inside tests");
	return -ENOTSUP;
}

static int memconn_accept(struct rmig_listener *l, int timeout_ms, struct rmig_conn **out)
{
	(void)l;
	(void)timeout_ms;
	(void)out;
	rmig_error("the mem: transport only exists inside tests");
	return -ENOTSUP;
}

static void memconn_listener_close(struct rmig_listener *l)
{
	(void)l;
}

static int memconn_check(struct memconn *m)
{
	if (atomic_load(&m->aborted)) {
		rmig_error("mem: connection was aborted");
		return -ECANCELED;
	}
	return 0;
}

/* Make room for @len more output bytes. */
static int memconn_reserve(struct memconn *m, size_t len)
{
	size_t cap = m->out_cap ? m->out_cap : 4096;
	uint8_t *p;

	if (len > SIZE_MAX / 2 - m->out_len) {
		rmig_error("mem: output would exceed the address space");
		return -ENOMEM;
	}
	while (cap < m->out_len + len)
		cap *= 2;
	if (cap == m->out_cap)
		return 0;
	p = realloc(m->out, cap);
	if (!p) {
		rmig_error("mem: cannot grow the output buffer to %zu bytes", cap);
		return -ENOMEM;
	}
	m->out = p;
	m->out_cap = cap;
	return 0;
}

static ssize_t memconn_writev(struct rmig_conn *c, const struct iovec *iov, int iovcnt)
{
	struct memconn *m = to_memconn(c);
	size_t budget = m->wchunk ? m->wchunk : SIZE_MAX;
	size_t done = 0;
	int i, rc;

	rc = memconn_check(m);
	if (rc)
		return rc;
	if (m->wstuck)
		return 0;
	if (iovcnt < 0) {
		rmig_error("mem: negative iovec count %d", iovcnt);
		return -EINVAL;
	}
	for (i = 0; i < iovcnt && budget > 0; i++) {
		size_t n = RMIG_MIN(iov[i].iov_len, budget);

		if (n == 0)
			continue;
		rc = memconn_reserve(m, n);
		if (rc)
			return done ? (ssize_t)done : rc;
		memcpy(m->out + m->out_len, iov[i].iov_base, n);
		m->out_len += n;
		done += n;
		budget -= n;
	}
	return (ssize_t)done;
}

static ssize_t memconn_write(struct rmig_conn *c, const void *buf, size_t len)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

	return memconn_writev(c, &iov, 1);
}

static ssize_t memconn_read(struct rmig_conn *c, void *buf, size_t len)
{
	struct memconn *m = to_memconn(c);
	size_t n = RMIG_MIN(len, m->in_len - m->in_pos);
	int rc;

	rc = memconn_check(m);
	if (rc)
		return rc;
	if (m->rchunk)
		n = RMIG_MIN(n, m->rchunk);
	if (n)
		memcpy(buf, m->in + m->in_pos, n);
	m->in_pos += n;
	return (ssize_t)n;
}

static void memconn_abort(struct rmig_conn *c)
{
	atomic_store(&to_memconn(c)->aborted, true);
}

static void memconn_close(struct rmig_conn *c)
{
	struct memconn *m;

	if (!c)
		return;
	m = to_memconn(c);
	free(m->in);
	free(m->out);
	free(m);
}

static const struct rmig_transport_ops memconn_ops = {
    .size = sizeof(struct rmig_transport_ops),
    .abi_version = RMIG_TRANSPORT_ABI_VERSION,
    .scheme = "mem",
    .description = "in-memory connection for tests (not registered)",
    .connect = memconn_connect,
    .listen = memconn_listen,
    .accept = memconn_accept,
    .listener_close = memconn_listener_close,
    .write = memconn_write,
    .read = memconn_read,
    .abort = memconn_abort,
    .close = memconn_close,
    .writev = memconn_writev,
};

struct rmig_conn *rmig_memconn_new(const void *data, size_t len, size_t chunk)
{
	struct memconn *m = calloc(1, sizeof(*m));

	if (!m) {
		rmig_error("mem: out of memory for a connection");
		return NULL;
	}
	/* A private copy: the caller's buffer may go away before the reader is done. */
	m->in = malloc(len ? len : 1);
	if (!m->in) {
		rmig_error("mem: cannot copy %zu bytes of input", len);
		goto free_conn;
	}
	if (len)
		memcpy(m->in, data, len);
	m->in_len = len;
	m->rchunk = chunk;
	m->conn.ops = &memconn_ops;
	atomic_init(&m->aborted, false);
	return &m->conn;

free_conn:
	free(m);
	return NULL;
}

void rmig_memconn_set_write_chunk(struct rmig_conn *c, size_t chunk)
{
	to_memconn(c)->wchunk = chunk;
}

void rmig_memconn_set_write_stuck(struct rmig_conn *c)
{
	to_memconn(c)->wstuck = true;
}

const uint8_t *rmig_memconn_written(struct rmig_conn *c, size_t *len)
{
	struct memconn *m = to_memconn(c);

	*len = m->out_len;
	return m->out;
}

void rmig_memconn_free(struct rmig_conn *c)
{
	memconn_close(c);
}
