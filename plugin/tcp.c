/* SPDX-License-Identifier: MIT */
/*
 * tcp:host:port and tcp:[v6]:port.  Connection I/O lives in sock.c.
 *
 * Socket buffer sizes are left to the kernel: Linux autotunes them up to
 * tcp_rmem/tcp_wmem, and a fixed SO_SNDBUF/SO_RCVBUF turns that off.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "plugin/builtin.h"
#include "plugin/sock.h"
#include "plugin/sockaddr.h"

#define TCP_BACKLOG 16

static int tcp_resolve(const char *addr, bool passive, struct addrinfo **res)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0),
	};
	char host[RMIG_HOST_MAX], port_str[8];
	unsigned port;
	int r;

	r = rmig_hostport_parse(addr, host, sizeof(host), &port, passive);
	if (r < 0)
		return r;
	snprintf(port_str, sizeof(port_str), "%u", port);
	r = getaddrinfo(host[0] ? host : NULL, port_str, &hints, res);
	switch (r) {
	case 0:
		return 0;
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
	case EAI_FAIL:
		rmig_error("tcp: no such host '%s' (%s)", host, gai_strerror(r));
		return -EHOSTUNREACH;
	case EAI_AGAIN:
		rmig_error("tcp: cannot resolve '%s' right now (%s); check DNS", host,
			   gai_strerror(r));
		/* The peer cannot be reached for now (exit 3), not a shortage here (-EAGAIN: 4). */
		return -EHOSTUNREACH;
	case EAI_MEMORY:
		rmig_error("tcp: out of memory resolving '%s'", host);
		return -ENOMEM;
	case EAI_SYSTEM:
		r = errno;
		rmig_error("tcp: cannot resolve '%s': %s", host, strerror(r));
		return -r;
	default:
		rmig_error("tcp: cannot resolve '%s': %s", host, gai_strerror(r));
		return -EINVAL;
	}
}

/*
 * One non-blocking connect attempt.  Returns the fd or -errno, unreported;
 * -ECANCELED when @cancel_fd (if > 0) becomes readable first.
 */
static int connect_one(const struct addrinfo *ai, uint64_t deadline, int cancel_fd)
{
	struct pollfd pfd[2];
	socklen_t len;
	int fd, err, n, one = 1;

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	/* EINTR leaves the connect running in the background, like EINPROGRESS. */
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS &&
	    errno != EINTR) {
		err = errno;
		goto close_fd;
	}
	pfd[0] = (struct pollfd){ .fd = fd, .events = POLLOUT };
	pfd[1] = (struct pollfd){ .fd = cancel_fd, .events = POLLIN };
	for (;;) {
		n = poll(pfd, cancel_fd > 0 ? 2 : 1, rmig_sock_get_remaining_ms(deadline));
		if (n > 0 && (pfd[1].revents & POLLIN) && cancel_fd > 0) {
			err = ECANCELED;
			goto close_fd;
		}
		if (n > 0)
			break;
		if (n == 0) {
			err = ETIMEDOUT;
			goto close_fd;
		}
		if (errno != EINTR) {
			err = errno;
			goto close_fd;
		}
	}
	len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err)
		goto close_fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;

close_fd:
	close(fd);
	return -err;
}

static int tcp_connect(const char *addr, const struct rmig_conn_opts *opts, struct rmig_conn **out)
{
	int timeout_ms = rmig_sock_get_timeout_ms(opts);
	uint64_t deadline = rmig_time_now_ns() + (uint64_t)timeout_ms * RMIG_NSEC_PER_MSEC;
	char where[RMIG_SOCK_NAME_MAX - 8], name[RMIG_SOCK_NAME_MAX];
	struct addrinfo *res, *ai;
	int fd = -ETIMEDOUT, r;

	r = tcp_resolve(addr, false, &res);
	if (r < 0)
		return r;
	/* Try every address (::1 and 127.0.0.1 for "localhost"), within one deadline. */
	for (ai = res; ai; ai = ai->ai_next) {
		rmig_sock_addr_format(ai->ai_addr, ai->ai_addrlen, where, sizeof(where));
		fd = connect_one(ai, deadline, opts ? opts->cancel_fd : -1);
		if (fd >= 0 || fd == -ETIMEDOUT || fd == -ECANCELED)
			break;
		rmig_debug("tcp: connecting to %s: %s", where, strerror(-fd));
	}
	if (fd == -ECANCELED) {
		/* The caller asked for this; it is not a failure worth an error line. */
		rmig_debug("tcp: connect to %s cancelled", addr);
		r = fd;
		goto free_res;
	}
	if (fd == -ETIMEDOUT) {
		rmig_error("tcp: cannot connect to %s: timed out after %d ms", addr, timeout_ms);
		r = fd;
		goto free_res;
	}
	if (fd < 0) {
		rmig_error("tcp: cannot connect to %s: %s", addr, strerror(-fd));
		r = fd;
		goto free_res;
	}
	snprintf(name, sizeof(name), "tcp:%s", where);
	r = rmig_sock_conn_new(fd, name, rmig_sock_get_peer_timeout_ms(opts), out);
	if (r < 0)
		close(fd);
free_res:
	freeaddrinfo(res);
	return r;
}

static int listen_one(const struct addrinfo *ai)
{
	int fd, err, one = 1, zero = 0;

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	/* "::" then takes IPv4 peers too, whatever net.ipv6.bindv6only says; best effort. */
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	/* A restarted destination must be able to rebind while old peers sit in TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, TCP_BACKLOG) < 0) {
		err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

static int tcp_listen(const char *addr, const struct rmig_conn_opts *opts,
		      struct rmig_listener **out)
{
	char where[RMIG_SOCK_NAME_MAX - 8], name[RMIG_SOCK_NAME_MAX];
	struct rmig_sock_listener *l;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct addrinfo *res, *ai;
	int fd = -EADDRNOTAVAIL, r;
	bool wildcard = addr[0] == ':'; /* "[...]" is never empty, so this is the only form */

	(void)opts;
	r = tcp_resolve(addr, true, &res);
	if (r < 0)
		return r;
	/*
	 * For the wildcard ("tcp::4444") glibc lists 0.0.0.0 before ::, but only
	 * a dual-stack :: serves both kinds of peer; 0.0.0.0 is the fallback on
	 * hosts without IPv6.  For a named host the resolver's order stands.
	 */
	for (int pass = wildcard ? 0 : 1; pass < 2 && fd < 0; pass++) {
		for (ai = res; ai && fd < 0; ai = ai->ai_next) {
			if (wildcard && (pass == 0) != (ai->ai_family == AF_INET6))
				continue;
			fd = listen_one(ai);
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		rmig_error("tcp: cannot listen on %s: %s", addr, strerror(-fd));
		return fd;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0) {
		r = -errno;
		rmig_error("tcp: cannot read the address bound for %s: %s", addr, strerror(-r));
		goto close_fd;
	}
	rmig_sock_addr_format((struct sockaddr *)&ss, sslen, where, sizeof(where));
	snprintf(name, sizeof(name), "tcp:%s", where);
	r = rmig_sock_listener_new(fd, name, sizeof(*l), opts, &l);
	if (r < 0)
		goto close_fd;
	*out = &l->base;
	return 0;

close_fd:
	close(fd);
	return r;
}

static const struct rmig_transport_ops tcp_ops = {
	RMIG_SOCK_CONN_SLOTS,
	.scheme = "tcp",
	.description = "TCP stream (tcp:host:port, tcp:[v6addr]:port)",
	.connect = tcp_connect,
	.listen = tcp_listen,
	.accept = rmig_sock_accept,
	.listener_close = rmig_sock_listener_close,
	.listener_uri = rmig_sock_listener_get_uri,
};

const struct rmig_transport_ops *rmig_tcp_get_ops(void)
{
	return &tcp_ops;
}
