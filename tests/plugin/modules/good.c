/* SPDX-License-Identifier: MIT */
/*
 * "loop": a real, minimal transport module for the loader tests.  A listener
 * is a name in this process; connect makes a socketpair and queues one end
 * for accept().  It has no writev slot on purpose, so the registry's
 * write-loop fallback gets exercised.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rmig/log.h>
#include <rmig/transport.h>

#define LOOP_PENDING_MAX 8
#define LOOP_NAME_MAX 64

const struct rmig_transport_ops *rmig_transport_init(uint32_t abi_version);

struct loop_conn {
	struct rmig_conn base;
	int fd;
	atomic_bool aborted;
};

struct loop_listener {
	struct rmig_listener base;
	char name[LOOP_NAME_MAX];
	int pending[LOOP_PENDING_MAX];
	unsigned npending;
	struct loop_listener *next;
};

/* One lock for all listeners: this is a test double, not a fast path. */
static pthread_mutex_t loop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t loop_cond = PTHREAD_COND_INITIALIZER;
static struct loop_listener *listeners;

static struct loop_listener *find_locked(const char *name)
{
	for (struct loop_listener *l = listeners; l; l = l->next) {
		if (!strcmp(l->name, name))
			return l;
	}
	return NULL;
}

static int conn_new(int fd, struct rmig_conn **out)
{
	struct loop_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		rmig_error("loop: out of memory");
		return -ENOMEM;
	}
	c->fd = fd;
	atomic_init(&c->aborted, false);
	*out = &c->base;
	return 0;
}

static int loop_connect(const char *addr, const struct rmig_conn_opts *opts,
			struct rmig_conn **out)
{
	struct loop_listener *l;
	int fds[2], r;

	(void)opts;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
		r = -errno;
		rmig_error("loop: socketpair: %s", strerror(-r));
		return r;
	}
	pthread_mutex_lock(&loop_lock);
	l = find_locked(addr);
	if (!l || l->npending == LOOP_PENDING_MAX) {
		pthread_mutex_unlock(&loop_lock);
		rmig_error("loop: cannot connect to %s: %s", addr,
			   l ? "backlog full" : "nobody listens there");
		r = -ECONNREFUSED;
		goto close_fds;
	}
	r = conn_new(fds[0], out);
	if (r < 0) {
		pthread_mutex_unlock(&loop_lock);
		goto close_fds;
	}
	l->pending[l->npending++] = fds[1];
	pthread_cond_broadcast(&loop_cond);
	pthread_mutex_unlock(&loop_lock);
	return 0;

close_fds:
	close(fds[0]);
	close(fds[1]);
	return r;
}

static int loop_listen(const char *addr, const struct rmig_conn_opts *opts,
		       struct rmig_listener **out)
{
	struct loop_listener *l;

	(void)opts;
	if (!*addr || strlen(addr) >= LOOP_NAME_MAX) {
		rmig_error("loop: bad listener name '%s'", addr);
		return -EINVAL;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		rmig_error("loop: out of memory");
		return -ENOMEM;
	}
	snprintf(l->name, sizeof(l->name), "%s", addr);
	pthread_mutex_lock(&loop_lock);
	if (find_locked(addr)) {
		pthread_mutex_unlock(&loop_lock);
		free(l);
		rmig_error("loop: cannot listen on %s: already in use", addr);
		return -EADDRINUSE;
	}
	l->next = listeners;
	listeners = l;
	pthread_mutex_unlock(&loop_lock);
	*out = &l->base;
	return 0;
}

static int loop_accept(struct rmig_listener *listener, int timeout_ms, struct rmig_conn **out)
{
	struct loop_listener *l = (struct loop_listener *)listener;
	struct timespec deadline;
	int fd, r = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&loop_lock);
	while (!l->npending && r == 0) {
		if (timeout_ms < 0)
			pthread_cond_wait(&loop_cond, &loop_lock);
		else
			r = pthread_cond_timedwait(&loop_cond, &loop_lock, &deadline);
	}
	if (!l->npending) {
		pthread_mutex_unlock(&loop_lock);
		return -ETIMEDOUT;
	}
	fd = l->pending[0];
	memmove(l->pending, l->pending + 1, --l->npending * sizeof(int));
	pthread_mutex_unlock(&loop_lock);
	r = conn_new(fd, out);
	if (r < 0)
		close(fd);
	return r;
}

static void loop_listener_close(struct rmig_listener *listener)
{
	struct loop_listener *l = (struct loop_listener *)listener, **p;

	pthread_mutex_lock(&loop_lock);
	for (p = &listeners; *p; p = &(*p)->next) {
		if (*p == l) {
			*p = l->next;
			break;
		}
	}
	pthread_mutex_unlock(&loop_lock);
	while (l->npending)
		close(l->pending[--l->npending]);
	free(l);
}

static ssize_t loop_write(struct rmig_conn *conn, const void *buf, size_t len)
{
	struct loop_conn *c = (struct loop_conn *)conn;
	ssize_t n;

	do {
		if (atomic_load(&c->aborted))
			return -ECANCELED;
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		rmig_error("loop: write: %s", strerror(errno));
		return -errno;
	}
	return n;
}

static ssize_t loop_read(struct rmig_conn *conn, void *buf, size_t len)
{
	struct loop_conn *c = (struct loop_conn *)conn;
	ssize_t n;

	do {
		if (atomic_load(&c->aborted))
			return -ECANCELED;
		n = recv(c->fd, buf, len, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		rmig_error("loop: read: %s", strerror(errno));
		return -errno;
	}
	return n;
}

static void loop_abort(struct rmig_conn *conn)
{
	struct loop_conn *c = (struct loop_conn *)conn;

	atomic_store(&c->aborted, true);
	shutdown(c->fd, SHUT_RDWR);
}

static void loop_close(struct rmig_conn *conn)
{
	struct loop_conn *c = (struct loop_conn *)conn;

	close(c->fd);
	free(c);
}

static int loop_listener_uri(struct rmig_listener *listener, char *buf, size_t len)
{
	struct loop_listener *l = (struct loop_listener *)listener;
	int n = snprintf(buf, len, "loop:%s", l->name);

	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

static const struct rmig_transport_ops loop_ops = {
	.size = sizeof(struct rmig_transport_ops),
	.abi_version = RMIG_TRANSPORT_ABI_VERSION,
	.scheme = "loop",
	.description = "in-process loopback (test module)",
	.connect = loop_connect,
	.listen = loop_listen,
	.accept = loop_accept,
	.listener_close = loop_listener_close,
	.write = loop_write,
	.read = loop_read,
	.abort = loop_abort,
	.close = loop_close,
	.listener_uri = loop_listener_uri,
};

const struct rmig_transport_ops *rmig_transport_init(uint32_t abi_version)
{
	/* Slots are only appended, so any rmig of our major version can use this table. */
	if (abi_version != RMIG_TRANSPORT_ABI_VERSION)
		return NULL;
	return &loop_ops;
}
