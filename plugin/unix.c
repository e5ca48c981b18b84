/* SPDX-License-Identifier: MIT */
/*
 * unix:/path and unix:@name (Linux abstract namespace: no file, gone when
 * the listener closes).  Connection I/O lives in sock.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "plugin/builtin.h"
#include "plugin/sock.h"

#define UNIX_BACKLOG 16

struct unix_listener {
	struct rmig_sock_listener sock; /* first */
	/* The socket file to remove on close, if it is still the one we bound. */
	char *unlink_path;
	dev_t dev;
	ino_t ino;
};

static int unix_addr(const char *addr, struct sockaddr_un *sun, socklen_t *len)
{
	size_t n = strlen(addr);

	if (n == 0 || (addr[0] == '@' && n == 1)) {
		rmig_error("unix: empty socket path; use unix:/path/to/socket or unix:@name");
		return -EINVAL;
	}
	/* Filesystem paths need room for the NUL; abstract names do not, but keep it simple. */
	if (n >= sizeof(sun->sun_path)) {
		rmig_error("unix: socket path '%s' is %zu bytes, the limit is %zu", addr, n,
			   sizeof(sun->sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, addr, n);
	if (addr[0] == '@') {
		/* The kernel takes the name's exact length: no trailing NUL in the address. */
		sun->sun_path[0] = '\0';
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	return 0;
}

/*
 * Connect a blocking socket: on a unix socket connect() only waits when the
 * listener's backlog is full, and SO_SNDTIMEO bounds that wait.  Returns the
 * fd or -errno, unreported.
 */
static int connect_timed(const struct sockaddr_un *sun, socklen_t len, int timeout_ms)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	int fd, err;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		goto fail;
	while (connect(fd, (const struct sockaddr *)sun, len) < 0) {
		if (errno != EINTR)
			goto fail;
	}
	/* sock.c makes the fd non-blocking, so the send timeout would never matter again. */
	return fd;

fail:
	err = errno == EAGAIN || errno == EINPROGRESS ? ETIMEDOUT : errno;
	close(fd);
	return -err;
}

static int unix_connect(const char *addr, const struct rmig_conn_opts *opts,
			struct rmig_conn **out)
{
	int timeout_ms = rmig_sock_get_timeout_ms(opts);
	char name[RMIG_SOCK_NAME_MAX];
	struct sockaddr_un sun;
	socklen_t len;
	int fd, r;

	r = unix_addr(addr, &sun, &len);
	if (r < 0)
		return r;
	fd = connect_timed(&sun, len, timeout_ms);
	if (fd == -ETIMEDOUT) {
		rmig_error("unix: cannot connect to %s: timed out after %d ms", addr, timeout_ms);
		return fd;
	}
	if (fd == -ENOENT || fd == -ECONNREFUSED) {
		rmig_error("unix: cannot connect to %s: %s (is the destination listening?)", addr,
			   strerror(-fd));
		return fd;
	}
	if (fd < 0) {
		rmig_error("unix: cannot connect to %s: %s", addr, strerror(-fd));
		return fd;
	}
	snprintf(name, sizeof(name), "unix:%s", addr);
	r = rmig_sock_conn_new(fd, name, rmig_sock_get_peer_timeout_ms(opts), out);
	if (r < 0)
		close(fd);
	return r;
}

/*
 * A socket file left by a listener that died is removed, so a restarted
 * destination can listen again; anything else at the path is kept, and so is
 * a socket someone still listens on.
 */
static int remove_stale(const char *path, const struct sockaddr_un *sun, socklen_t len)
{
	struct stat st;
	int fd;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		rmig_error("unix: cannot listen on %s: the path exists and is not a socket", path);
		return -EEXIST;
	}
	fd = connect_timed(sun, len, 1000);
	if (fd >= 0 || fd == -ETIMEDOUT) {
		if (fd >= 0)
			close(fd);
		rmig_error("unix: cannot listen on %s: another process is listening there", path);
		return -EADDRINUSE;
	}
	/*
	 * Only a refusal says nobody listens.  Not allowed to connect (another
	 * user's socket), or out of descriptors: a live socket, maybe.
	 */
	if (fd != -ECONNREFUSED && fd != -ENOENT) { /* ENOENT: removed meanwhile */
		rmig_error("unix: cannot listen on %s: a socket is there, and whether anyone "
			   "listens on it is unknown (connecting to it failed: %s)",
			   path, strerror(-fd));
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		fd = -errno;
		rmig_error("unix: cannot remove the stale socket %s: %s", path, strerror(-fd));
		return fd;
	}
	rmig_debug("unix: removed stale socket %s", path);
	return 0;
}

static int unix_listen(const char *addr, const struct rmig_conn_opts *opts,
		       struct rmig_listener **out)
{
	bool abstract = addr[0] == '@';
	char name[RMIG_SOCK_NAME_MAX];
	struct rmig_sock_listener *sl;
	struct unix_listener *l;
	struct sockaddr_un sun;
	struct stat st;
	socklen_t len;
	int fd, r;

	(void)opts;
	r = unix_addr(addr, &sun, &len);
	if (r < 0)
		return r;
	if (!abstract) {
		r = remove_stale(addr, &sun, len);
		if (r < 0)
			return r;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		rmig_error("unix: cannot create a socket: %s", strerror(-r));
		return r;
	}
	if (bind(fd, (struct sockaddr *)&sun, len) < 0) {
		r = -errno;
		rmig_error("unix: cannot listen on %s: %s", addr, strerror(-r));
		goto close_fd;
	}
	if (listen(fd, UNIX_BACKLOG) < 0) {
		r = -errno;
		rmig_error("unix: cannot listen on %s: %s", addr, strerror(-r));
		goto unlink_path;
	}
	snprintf(name, sizeof(name), "unix:%s", addr);
	r = rmig_sock_listener_new(fd, name, sizeof(*l), opts, &sl);
	if (r < 0)
		goto unlink_path;
	l = rmig_container_of(sl, struct unix_listener, sock);
	if (!abstract && stat(addr, &st) == 0) {
		l->unlink_path = strdup(addr);
		l->dev = st.st_dev;
		l->ino = st.st_ino;
		/* Without the copy the file merely outlives us; not worth failing listen for. */
	}
	*out = &sl->base;
	return 0;

unlink_path:
	if (!abstract)
		unlink(addr);
close_fd:
	close(fd);
	return r;
}

static void unix_listener_close(struct rmig_listener *listener)
{
	struct unix_listener *l;
	struct stat st;

	if (!listener)
		return;
	l = rmig_container_of(listener, struct unix_listener, sock.base);
	/* Someone may have replaced the file since (a newer listener): leave theirs alone. */
	if (l->unlink_path && stat(l->unlink_path, &st) == 0 && st.st_dev == l->dev &&
	    st.st_ino == l->ino)
		unlink(l->unlink_path);
	free(l->unlink_path);
	rmig_sock_listener_close(listener);
}

static const struct rmig_transport_ops unix_ops = {
	RMIG_SOCK_CONN_SLOTS,
	.scheme = "unix",
	.description = "Unix domain stream socket (unix:/path, unix:@abstract-name)",
	.connect = unix_connect,
	.listen = unix_listen,
	.accept = rmig_sock_accept,
	.listener_close = unix_listener_close,
	.listener_uri = rmig_sock_listener_get_uri,
};

const struct rmig_transport_ops *rmig_unix_get_ops(void)
{
	return &unix_ops;
}
