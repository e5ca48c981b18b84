/* SPDX-License-Identifier: MIT */
/*
 * Slots for the test modules that are meant to be refused before any slot
 * is ever called: they only need to exist.
 */
#ifndef RMIG_TEST_STUB_H
#define RMIG_TEST_STUB_H

#include <errno.h>

#include <rmig/transport.h>

const struct rmig_transport_ops *rmig_transport_init(uint32_t abi_version);

static inline int stub_connect(const char *addr, const struct rmig_conn_opts *opts,
			struct rmig_conn **out)
{
	(void)addr, (void)opts, (void)out;
	return -ENOTSUP;
}

static inline int stub_listen(const char *addr, const struct rmig_conn_opts *opts,
		       struct rmig_listener **out)
{
	(void)addr, (void)opts, (void)out;
	return -ENOTSUP;
}

static inline int stub_accept(struct rmig_listener *l, int timeout_ms, struct rmig_conn **out)
{
	(void)l, (void)timeout_ms, (void)out;
	return -ENOTSUP;
}

static inline void stub_listener_close(struct rmig_listener *l)
{
	(void)l;
}

static inline ssize_t stub_write(struct rmig_conn *c, const void *buf, size_t len)
{
	(void)c, (void)buf, (void)len;
	return -ENOTSUP;
}

static inline ssize_t stub_read(struct rmig_conn *c, void *buf, size_t len)
{
	(void)c, (void)buf, (void)len;
	return -ENOTSUP;
}

static inline void stub_conn(struct rmig_conn *c)
{
	(void)c;
}

/* Everything except .abi_version, .scheme and .read, which each module sets. */
#define STUB_SLOTS                                                                                 \
	.size = sizeof(struct rmig_transport_ops), .description = "test stub",                     \
	.connect = stub_connect, .listen = stub_listen, .accept = stub_accept,                     \
	.listener_close = stub_listener_close, .write = stub_write, .abort = stub_conn,            \
	.close = stub_conn

#endif /* RMIG_TEST_STUB_H */
