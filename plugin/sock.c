/* SPDX-License-Identifier: MIT */
/*
 * Connection code shared by the tcp, unix and fd transports.
 *
 * Every fd is non-blocking.  An operation is tried first and only when it
 * would block do we poll, on the fd and on an eventfd that abort() signals.
 * That keeps the fast path at one syscall and lets abort() unblock a read on
 * a pipe, which shutdown() cannot do.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "plugin/sock.h"

static struct rmig_sock_conn *to_sock(struct rmig_conn *c)
{
	return rmig_container_of(c, struct rmig_sock_conn, base);
}

int rmig_sock_get_timeout_ms(const struct rmig_conn_opts *opts)
{
	if (!opts || opts->size < offsetof(struct rmig_conn_opts, timeout_ms) + sizeof(int) ||
	    opts->timeout_ms <= 0)
		return RMIG_SOCK_DEFAULT_TIMEOUT_MS;
	return opts->timeout_ms;
}

int rmig_sock_get_remaining_ms(uint64_t deadline_ns)
{
	uint64_t now = rmig_time_now_ns();

	if (now >= deadline_ns)
		return 0;
	/* Round up so a wait never ends a hair before the deadline and spins. */
	return (int)RMIG_MIN(RMIG_DIV_ROUND_UP(deadline_ns - now, RMIG_NSEC_PER_MSEC),
			     (uint64_t)INT_MAX);
}

void rmig_sock_addr_format(const struct sockaddr *sa, socklen_t salen, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(in->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
		break;
	}
	case AF_UNIX: {
		const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
		size_t off = offsetof(struct sockaddr_un, sun_path);
		size_t plen = salen > off ? salen - off : 0;

		if (plen == 0)
			snprintf(buf, len, "(unnamed)");
		else if (un->sun_path[0] == '\0') /* abstract: not NUL-terminated */
			snprintf(buf, len, "@%.*s", (int)(plen - 1), un->sun_path + 1);
		else
			snprintf(buf, len, "%.*s", (int)strnlen(un->sun_path, plen), un->sun_path);
		break;
	}
	default:
		snprintf(buf, len, "(address family %d)", sa->sa_family);
		break;
	}
}

int rmig_sock_get_peer_timeout_ms(const struct rmig_conn_opts *opts)
{
	if (!opts || opts->size < offsetof(struct rmig_conn_opts, peer_timeout_ms) + sizeof(int))
		return 0;
	return opts->peer_timeout_ms > 0 ? opts->peer_timeout_ms : 0;
}

int rmig_sock_conn_new(int fd, const char *name, int peer_timeout_ms, struct rmig_conn **out)
{
	struct rmig_sock_conn *sc;
	struct stat st;
	int flags, err;

	if (fstat(fd, &st) < 0) {
		err = errno;
		rmig_error("%s: fd %d is not usable: %s", name, fd, strerror(err));
		return -err;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		err = errno;
		rmig_error("%s: cannot make fd %d non-blocking: %s", name, fd, strerror(err));
		return -err;
	}
	sc = calloc(1, sizeof(*sc));
	if (!sc) {
		rmig_error("%s: out of memory for a connection", name);
		return -ENOMEM;
	}
	sc->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sc->wake_fd < 0) {
		err = errno;
		rmig_error("%s: cannot create an eventfd: %s", name, strerror(err));
		goto free_conn;
	}
	sc->fd = fd;
	sc->is_socket = S_ISSOCK(st.st_mode);
	sc->peer_timeout_ms = peer_timeout_ms;
	atomic_init(&sc->aborted, false);
	atomic_init(&sc->interrupted, false);
	snprintf(sc->name, sizeof(sc->name), "%s", name);
	*out = &sc->base;
	return 0;

free_conn:
	free(sc);
	return -err;
}

/* How long close() waits for the peer to finish, at most. */
#define SOCK_CLOSE_DRAIN_MS 200
/* A writer that leaves an interrupt to the reader looks at the abort flag this often. */
#define WRITER_ABORT_SLICE_MS 100

static int report_aborted(struct rmig_sock_conn *sc)
{
	rmig_error("%s: connection aborted", sc->name);
	return -ECANCELED;
}

/* Map a failed I/O call's errno to the return value, reporting it once. */
static ssize_t io_error(struct rmig_sock_conn *sc, const char *what, int err)
{
	if (atomic_load(&sc->aborted))
		return report_aborted(sc);
	if (err == EPIPE || err == ECONNRESET)
		rmig_error("%s: peer closed the connection (%s)", sc->name, strerror(err));
	else
		rmig_error("%s: %s failed: %s", sc->name, what, strerror(err));
	return -err;
}

/*
 * A frozen peer process keeps its socket open and its kernel ACKing, so
 * only silence tells: no byte in, or no room to write, for the whole
 * peer-timeout.
 */
static int report_silent_peer(struct rmig_sock_conn *sc, short events)
{
	rmig_error("%s: %s for %d ms (peer-timeout): the peer is frozen, gone or unreachable",
		   sc->name,
		   events == POLLIN ? "nothing arrived from the peer" : "the peer took no data",
		   sc->peer_timeout_ms);
	return -ETIMEDOUT;
}

/* Wait until @events are possible on the fd, abort() is called, or the peer-timeout passes. */
static int wait_ready(struct rmig_sock_conn *sc, short events)
{
	struct pollfd pfd[2] = {
		{ .fd = sc->fd, .events = events },
		{ .fd = sc->wake_fd, .events = POLLIN },
	};
	uint64_t deadline = sc->peer_timeout_ms > 0
				    ? rmig_time_now_ns() +
					      (uint64_t)sc->peer_timeout_ms * RMIG_NSEC_PER_MSEC
				    : 0;

	bool watch_wake = true;

	for (;;) {
		int wait_ms = deadline ? rmig_sock_get_remaining_ms(deadline) : -1;
		int n;

		/* The flags, not the count, say what happened: both are set before it is. */
		if (atomic_load(&sc->aborted))
			return report_aborted(sc);
		if ((events & POLLIN) && atomic_load(&sc->interrupted))
			return 0;
		/* Not watching the count: look at the abort flag every slice instead. */
		if (!watch_wake && (wait_ms < 0 || wait_ms > WRITER_ABORT_SLICE_MS))
			wait_ms = WRITER_ABORT_SLICE_MS;
		n = poll(pfd, watch_wake ? 2 : 1, wait_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return (int)io_error(sc, "poll", errno);
		}
		if (n == 0 && deadline && rmig_time_now_ns() >= deadline)
			return report_silent_peer(sc, events);
		if (watch_wake && pfd[1].revents) {
			eventfd_t v;

			if (atomic_load(&sc->aborted))
				return report_aborted(sc);
			if (atomic_load(&sc->interrupted)) {
				/* The read loop takes it; a writer leaves the count to it. */
				if (events & POLLIN)
					return 0;
				watch_wake = false;
				continue;
			}
			/*
			 * A count with no flag: an interrupt already taken, whose
			 * count landed after the reader drained it.  Left there, it
			 * would make every wait return at once, a spin that also
			 * never times out.
			 */
			(void)eventfd_read(sc->wake_fd, &v);
			/* An abort or interrupt that landed meanwhile: its count, back for others. */
			if (atomic_load(&sc->aborted) || atomic_load(&sc->interrupted))
				(void)eventfd_write(sc->wake_fd, 1);
			continue;
		}
		/* Errors and hang-ups too: the retried call reports them. */
		if (pfd[0].revents)
			return 0;
	}
}

/*
 * write()/writev() to a pipe whose reader is gone raises SIGPIPE, and unlike
 * send() there is no MSG_NOSIGNAL.  Block it for the call and swallow the one
 * we caused, leaving any that was already pending for the application.
 */
struct sigpipe_guard {
	sigset_t old;
	bool was_pending;
};

static void sigpipe_block(struct sigpipe_guard *g)
{
	sigset_t set, pending;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &g->old);
	sigpending(&pending);
	g->was_pending = sigismember(&pending, SIGPIPE);
}

static void sigpipe_restore(struct sigpipe_guard *g, bool raised)
{
	if (raised && !g->was_pending) {
		const struct timespec zero = { 0, 0 };
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGPIPE);
		while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

static ssize_t do_writev(struct rmig_sock_conn *sc, const struct iovec *iov, int iovcnt)
{
	struct sigpipe_guard g;
	ssize_t n;
	int err;

	if (sc->is_socket) {
		struct msghdr msg = { .msg_iov = (struct iovec *)iov };

		msg.msg_iovlen = (size_t)iovcnt;
		return sendmsg(sc->fd, &msg, MSG_NOSIGNAL);
	}
	sigpipe_block(&g);
	n = writev(sc->fd, iov, iovcnt);
	err = errno;
	sigpipe_restore(&g, n < 0 && err == EPIPE);
	errno = err;
	return n;
}

ssize_t rmig_sock_writev(struct rmig_conn *c, const struct iovec *iov, int iovcnt)
{
	struct rmig_sock_conn *sc = to_sock(c);
	ssize_t n;
	int r;

	if (iovcnt < 0) {
		rmig_error("%s: invalid iovec count %d", sc->name, iovcnt);
		return -EINVAL;
	}
	/* A partial write is allowed, so a long vector is simply cut. */
	if (iovcnt > IOV_MAX)
		iovcnt = IOV_MAX;
	for (;;) {
		if (atomic_load(&sc->aborted))
			return report_aborted(sc);
		n = do_writev(sc, iov, iovcnt);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return io_error(sc, "write", errno);
		r = wait_ready(sc, POLLOUT);
		if (r < 0)
			return r;
	}
}

ssize_t rmig_sock_write(struct rmig_conn *c, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	if (len == 0)
		return 0;
	return rmig_sock_writev(c, &iov, 1);
}

ssize_t rmig_sock_read(struct rmig_conn *c, void *buf, size_t len)
{
	struct rmig_sock_conn *sc = to_sock(c);
	ssize_t n;
	int r;

	if (len == 0)
		return 0;
	for (;;) {
		if (atomic_load(&sc->aborted))
			return report_aborted(sc);
		if (atomic_exchange(&sc->interrupted, false)) {
			eventfd_t v;

			(void)eventfd_read(sc->wake_fd, &v); /* so the next wait sleeps again */
			return -ECANCELED;
		}
		n = sc->is_socket ? recv(sc->fd, buf, len, 0) : read(sc->fd, buf, len);
		/* After abort()'s shutdown() a socket reads as EOF; that is not the peer's EOF. */
		if (n == 0 && atomic_load(&sc->aborted))
			return report_aborted(sc);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return io_error(sc, "read", errno);
		r = wait_ready(sc, POLLIN);
		if (r < 0)
			return r;
	}
}

int rmig_sock_set_peer_timeout(struct rmig_conn *c, int timeout_ms)
{
	/* The connection's own thread calls this between waits, never during one. */
	to_sock(c)->peer_timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
	return 0;
}

void rmig_sock_interrupt(struct rmig_conn *c)
{
	struct rmig_sock_conn *sc = to_sock(c);

	atomic_store(&sc->interrupted, true);
	(void)eventfd_write(sc->wake_fd, 1);
}

void rmig_sock_abort(struct rmig_conn *c)
{
	struct rmig_sock_conn *sc = to_sock(c);

	atomic_store(&sc->aborted, true);
	/* Wakes pollers; a failure can only mean the counter is already non-zero. */
	(void)eventfd_write(sc->wake_fd, 1);
	/* Lets the peer see the end too, instead of waiting on a silent socket. */
	if (sc->is_socket)
		shutdown(sc->fd, SHUT_RDWR);
}

/*
 * Closing a TCP socket with unread data sends a reset, and a reset can
 * overtake what we sent last (the hand-over's ABORT or COMMIT) at the peer.
 * So: end our direction, read and drop what the peer still sends for a
 * moment, and only then close.
 */
static void sock_close_gently(struct rmig_sock_conn *sc)
{
	uint64_t deadline = rmig_time_now_ns() + SOCK_CLOSE_DRAIN_MS * RMIG_NSEC_PER_MSEC;
	char sink[4096];

	if (!sc->is_socket || atomic_load(&sc->aborted) || shutdown(sc->fd, SHUT_WR) < 0)
		return;
	for (;;) {
		struct pollfd pfd = { .fd = sc->fd, .events = POLLIN };
		int wait_ms = rmig_sock_get_remaining_ms(deadline);

		if (wait_ms <= 0 || poll(&pfd, 1, wait_ms) <= 0)
			return;
		if (recv(sc->fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
			return; /* the peer closed too, or failed: nothing left to protect */
	}
}

int rmig_sock_describe(struct rmig_conn *c, char *buf, size_t len)
{
	return snprintf(buf, len, "%s", ((struct rmig_sock_conn *)c)->name);
}

void rmig_sock_close(struct rmig_conn *c)
{
	struct rmig_sock_conn *sc;

	if (!c)
		return;
	sc = to_sock(c);
	sock_close_gently(sc);
	close(sc->fd);
	close(sc->wake_fd);
	free(sc);
}

static struct rmig_sock_listener *to_listener(struct rmig_listener *l)
{
	return rmig_container_of(l, struct rmig_sock_listener, base);
}

int rmig_sock_listener_new(int fd, const char *uri, size_t size, const struct rmig_conn_opts *opts,
			   struct rmig_sock_listener **out)
{
	struct rmig_sock_listener *l = calloc(1, RMIG_MAX(size, sizeof(*l)));

	if (!l) {
		rmig_error("%s: out of memory for a listener", uri);
		return -ENOMEM;
	}
	l->fd = fd;
	l->peer_timeout_ms = rmig_sock_get_peer_timeout_ms(opts);
	snprintf(l->name, sizeof(l->name), "%s", uri);
	*out = l;
	return 0;
}

int rmig_sock_listener_get_uri(struct rmig_listener *l, char *buf, size_t len)
{
	struct rmig_sock_listener *sl = to_listener(l);
	int n;

	/* Built from getsockname() at listen time, so it has the real port. */
	n = snprintf(buf, len, "%s", sl->name);
	if (n < 0 || (size_t)n >= len) {
		rmig_error("%s: a %zu-byte buffer cannot hold the listener address", sl->name, len);
		return -ENOSPC;
	}
	return 0;
}

void rmig_sock_listener_close(struct rmig_listener *l)
{
	struct rmig_sock_listener *sl;

	if (!l)
		return;
	sl = to_listener(l);
	close(sl->fd);
	free(sl);
}

/* accept() errors that concern one half-open peer, not the listener (see accept(2)). */
static bool accept_error_is_transient(int err)
{
	switch (err) {
	case ECONNABORTED:
	case EPROTO:
	case ENETDOWN:
	case ENOPROTOOPT:
	case EHOSTDOWN:
	case ENONET:
	case EHOSTUNREACH:
	case ENETUNREACH:
		return true;
	default:
		return false;
	}
}

static int wait_for_peer(struct rmig_sock_listener *l, int timeout_ms, uint64_t deadline)
{
	struct pollfd pfd = { .fd = l->fd, .events = POLLIN };
	int wait_ms = timeout_ms < 0 ? -1 : rmig_sock_get_remaining_ms(deadline);
	int err;

	if (wait_ms == 0) {
		/* An expected outcome for callers that poll; they decide if it is fatal. */
		rmig_debug("%s: no peer connected within %d ms", l->name, timeout_ms);
		return -ETIMEDOUT;
	}
	if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR) {
		err = errno;
		rmig_error("%s: waiting for a peer failed: %s", l->name, strerror(err));
		return -err;
	}
	return 0;
}

int rmig_sock_accept(struct rmig_listener *listener, int timeout_ms, struct rmig_conn **out)
{
	struct rmig_sock_listener *l = to_listener(listener);
	uint64_t deadline = rmig_time_now_ns() + (uint64_t)RMIG_MAX(timeout_ms, 0) * RMIG_NSEC_PER_MSEC;
	struct sockaddr_storage ss;
	char peer[128], name[RMIG_SOCK_NAME_MAX];
	socklen_t sslen;
	int fd, r, one = 1;

	for (;;) {
		sslen = sizeof(ss);
		fd = accept4(l->fd, (struct sockaddr *)&ss, &sslen, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0)
			break;
		if (errno == EINTR || accept_error_is_transient(errno))
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			r = -errno;
			rmig_error("%s: accept failed: %s", l->name, strerror(-r));
			return r;
		}
		r = wait_for_peer(l, timeout_ms, deadline);
		if (r < 0)
			return r;
	}
	if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
		/* Stream records are small and latency-bound at round ends: no Nagle delay. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (ss.ss_family == AF_UNIX) {
		/* Unix clients are unnamed: the listener's path says it all. */
		snprintf(name, sizeof(name), "%s", l->name);
	} else {
		rmig_sock_addr_format((struct sockaddr *)&ss, sslen, peer, sizeof(peer));
		snprintf(name, sizeof(name), "%.100s (peer %.50s)", l->name, peer);
	}
	r = rmig_sock_conn_new(fd, name, l->peer_timeout_ms, out);
	if (r < 0)
		close(fd);
	return r;
}
