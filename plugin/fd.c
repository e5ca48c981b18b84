/* SPDX-License-Identifier: MIT */
/*
 * fd:N - an already-open file descriptor (a socket, or a pipe) handed over by
 * whoever started us, as in QEMU's "fd:" migration URI.  rmig owns the fd
 * from a successful connect/listen on and closes it.  A listener on fd:N
 * yields exactly one connection: the fd itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "plugin/builtin.h"
#include "plugin/sock.h"

struct fd_listener {
	struct rmig_listener base; /* first */
	int fd;			   /* -1 once accept() handed it out */
	int peer_timeout_ms;	   /* for the connection it becomes */
	int number;		   /* as given, for messages after the hand-out */
};

/* A socket must be a connected stream: datagrams would cut records short, silently. */
static int fd_check_kind(int fd, int *out)
{
	int type = 0, listening = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0) {
		if (type != SOCK_STREAM) {
			rmig_error("fd: %d is a socket, but not a stream socket", fd);
			return -EINVAL;
		}
		len = sizeof(listening);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening) {
			rmig_error("fd: %d is a listening socket, not a connection", fd);
			return -EINVAL;
		}
	}
	*out = fd;
	return 0;
}

static int fd_parse(const char *addr, int *out)
{
	long v = 0;
	const char *p;

	if (!*addr) {
		rmig_error("fd: no descriptor number given; use fd:N");
		return -EINVAL;
	}
	for (p = addr; *p; p++) {
		if (*p < '0' || *p > '9') {
			rmig_error("fd: '%s' is not a descriptor number; use fd:N", addr);
			return -EINVAL;
		}
		v = v * 10 + (*p - '0');
		if (v > INT_MAX) {
			rmig_error("fd: descriptor number '%s' is out of range", addr);
			return -EINVAL;
		}
	}
	if (fcntl((int)v, F_GETFD) < 0) {
		rmig_error("fd: %ld is not an open file descriptor in this process", v);
		return -EBADF;
	}
	/* Made non-blocking and closed at the end: the process's own would break its tty. */
	if (v <= 2) {
		rmig_error("fd: %ld is the process's standard %s, not a migration stream", v,
			   v == 0 ? "input" : v == 1 ? "output" : "error");
		return -EINVAL;
	}
	return fd_check_kind((int)v, out);
}

/* A pipe carries one direction; a migration needs the destination's answer back. */
static int fd_check_duplex(int fd, const struct rmig_conn_opts *opts)
{
	struct stat st;

	if (!opts || !opts->duplex || fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode))
		return 0;
	rmig_error("fd:%d is a pipe, which carries one direction only; a migration needs the "
		   "destination's answer back (the hand-over): pass a socket instead, such as "
		   "one end of socketpair()", fd);
	return -EPIPE;
}

static int fd_connect(const char *addr, const struct rmig_conn_opts *opts, struct rmig_conn **out)
{
	char name[32];
	int fd, r;

	r = fd_parse(addr, &fd);
	if (r < 0)
		return r;
	r = fd_check_duplex(fd, opts);
	if (r < 0)
		return r;
	snprintf(name, sizeof(name), "fd:%d", fd);
	return rmig_sock_conn_new(fd, name, rmig_sock_get_peer_timeout_ms(opts), out);
}

static int fd_listen(const char *addr, const struct rmig_conn_opts *opts,
		     struct rmig_listener **out)
{
	struct fd_listener *l;
	int fd, r;

	r = fd_parse(addr, &fd);
	if (r < 0)
		return r;
	r = fd_check_duplex(fd, opts);
	if (r < 0)
		return r;
	l = calloc(1, sizeof(*l));
	if (!l) {
		rmig_error("fd:%d: out of memory for a listener", fd);
		return -ENOMEM;
	}
	l->fd = fd;
	l->number = fd;
	l->peer_timeout_ms = rmig_sock_get_peer_timeout_ms(opts);
	*out = &l->base;
	return 0;
}

static struct fd_listener *to_fd_listener(struct rmig_listener *l)
{
	return rmig_container_of(l, struct fd_listener, base);
}

static int fd_accept(struct rmig_listener *listener, int timeout_ms, struct rmig_conn **out)
{
	struct fd_listener *l = to_fd_listener(listener);
	char name[32];
	int r;

	/* The peer is already there, so there is nothing to wait for. */
	(void)timeout_ms;
	if (l->fd < 0) {
		rmig_error("fd:%d: its one connection was already accepted", l->number);
		return -EALREADY;
	}
	snprintf(name, sizeof(name), "fd:%d", l->fd);
	r = rmig_sock_conn_new(l->fd, name, l->peer_timeout_ms, out);
	if (r < 0)
		return r;
	l->fd = -1;
	return 0;
}

static void fd_listener_close(struct rmig_listener *listener)
{
	struct fd_listener *l;

	if (!listener)
		return;
	l = to_fd_listener(listener);
	if (l->fd >= 0)
		close(l->fd);
	free(l);
}

static int fd_listener_uri(struct rmig_listener *listener, char *buf, size_t len)
{
	struct fd_listener *l = to_fd_listener(listener);
	int n = snprintf(buf, len, "fd:%d", l->number);

	if (n < 0 || (size_t)n >= len) {
		rmig_error("fd:%d: a %zu-byte buffer cannot hold the listener address", l->number,
			   len);
		return -ENOSPC;
	}
	return 0;
}

static const struct rmig_transport_ops fd_ops = {
	RMIG_SOCK_CONN_SLOTS,
	.scheme = "fd",
	.description = "an inherited, already-open socket (fd:N; a pipe only outside a migration)",
	.connect = fd_connect,
	.listen = fd_listen,
	.accept = fd_accept,
	.listener_close = fd_listener_close,
	.listener_uri = fd_listener_uri,
};

const struct rmig_transport_ops *rmig_fd_get_ops(void)
{
	return &fd_ops;
}
