/* SPDX-License-Identifier: MIT */
/*
 * The QMP monitor's socket and event loop (see server.h).
 *
 * All client I/O is non-blocking and the loop wakes at least every
 * QMP_TICK_MS, so it notices new passes, queued events and a stop request
 * without any thread ever waiting on a client.
 */
#include "common/base/threadname.h"
#include "tools/qmp/server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rmig/log.h>

#include "tools/qmp/stream.h"

#define QMP_TICK_MS 50
#define QMP_READ_CHUNK 65536

struct qmp_server {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int lfd, wake_fd, epfd;
	pthread_t thread;
	bool thread_started;
	_Atomic bool stopping;
	struct qmp_ctx *ctx;
	qmp_pass_fn passes;
	void *passes_opaque;
	uint64_t passes_sent;

	pthread_mutex_t lock; /* guards queue */
	json_t *queue;	      /* [event, passes made when it was posted], not yet sent */

	/* the one client; cfd < 0 when none */
	int cfd;
	struct qmp_stream in;
	struct qmp_session session;
	char *out;
	size_t out_len, out_off, out_cap;
	bool want_out; /* EPOLLOUT armed */
};

bool qmp_server_owns_fd(const struct qmp_server *s, int fd)
{
	return s && fd >= 0 && (fd == s->lfd || fd == s->wake_fd || fd == s->epfd || fd == s->cfd);
}

/* ---- the client ------------------------------------------------------- */

static void client_drop(struct qmp_server *s, const char *why)
{
	if (s->cfd < 0)
		return;
	if (why)
		rmig_warn("QMP client disconnected: %s", why);
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->cfd, NULL);
	close(s->cfd);
	s->cfd = -1;
	qmp_stream_reset(&s->in);
	free(s->out);
	s->out = NULL;
	s->out_len = s->out_off = s->out_cap = 0;
	s->want_out = false;
}

static void client_arm(struct qmp_server *s, bool want_out)
{
	struct epoll_event ev = { .events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.fd = s->cfd };

	if (s->want_out == want_out)
		return;
	s->want_out = want_out;
	epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->cfd, &ev);
}

static void client_flush(struct qmp_server *s)
{
	while (s->cfd >= 0 && s->out_off < s->out_len) {
		ssize_t n = send(s->cfd, s->out + s->out_off, s->out_len - s->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE || errno == ECONNRESET)
				client_drop(s, NULL); /* gone: nothing to tell it */
			else if (errno != EAGAIN && errno != EWOULDBLOCK)
				client_drop(s, strerror(errno));
			break;
		}
		s->out_off += (size_t)n;
	}
	if (s->cfd < 0)
		return;
	if (s->out_off == s->out_len)
		s->out_off = s->out_len = 0;
	client_arm(s, s->out_len > 0);
}

/*
 * Room for @need more bytes at the end of the output queue.  A client that
 * reads slowly leaves a few megabytes queued; growing by a reply at a time,
 * or sliding the queue down on every reply, would copy all of it per reply
 * and make the loop quadratic (seconds per reply under ASan's realloc).  So
 * the sent head is only reclaimed once it outweighs what is still queued,
 * and the buffer grows geometrically: each byte is copied a bounded number
 * of times.
 */
static bool out_reserve(struct qmp_server *s, size_t need)
{
	size_t pending = s->out_len - s->out_off;
	size_t cap;
	char *grown;

	if (s->out_len + need <= s->out_cap)
		return true;
	if (s->out_off >= pending && pending + need <= s->out_cap) {
		memmove(s->out, s->out + s->out_off, pending);
		s->out_len = pending;
		s->out_off = 0;
		return true;
	}
	cap = s->out_cap ? s->out_cap : 4096;
	while (cap < s->out_len + need)
		cap *= 2;
	grown = realloc(s->out, cap);
	if (!grown)
		return false;
	s->out = grown;
	s->out_cap = cap;
	return true;
}

/* Queue one message (stolen), "\r\n"-terminated as QEMU's are. */
static void client_send(struct qmp_server *s, json_t *msg)
{
	char *text;
	size_t n;

	if (!msg)
		return;
	text = s->cfd >= 0 ? json_dumps(msg, JSON_COMPACT) : NULL;
	json_decref(msg);
	if (!text)
		return;
	n = strlen(text);
	if (s->out_len - s->out_off + n + 2 > QMP_SERVER_MAX_OUTPUT) {
		free(text);
		client_drop(s, "it does not read its replies (4 MiB queued)");
		return;
	}
	if (!out_reserve(s, n + 2)) {
		free(text);
		client_drop(s, "out of memory");
		return;
	}
	memcpy(s->out + s->out_len, text, n);
	memcpy(s->out + s->out_len + n, "\r\n", 2);
	s->out_len += n + 2;
	free(text);
	client_flush(s);
}

/*
 * A reply that failed drops the client in the middle of a read: the rest
 * of that read was its, and runs no command.
 */
static void on_value(void *opaque, const char *text, size_t len)
{
	struct qmp_server *s = opaque;

	if (s->cfd >= 0)
		client_send(s, qmp_session_handle(&s->session, text, len));
}

static void on_stream_error(void *opaque, const char *desc)
{
	struct qmp_server *s = opaque;

	if (s->cfd >= 0)
		client_send(s, qmp_error_reply(QMP_ERR_GENERIC, desc, NULL));
}

static const struct qmp_stream_ops stream_ops = { .value = on_value, .error = on_stream_error };

static void client_read(struct qmp_server *s)
{
	char buf[QMP_READ_CHUNK];
	ssize_t n = recv(s->cfd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n == 0) {
		client_drop(s, NULL);
		return;
	}
	if (n < 0) {
		if (errno == ECONNRESET)
			client_drop(s, NULL); /* it closed with replies unread: its choice */
		else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			client_drop(s, strerror(errno));
		return;
	}
	if (qmp_stream_feed(&s->in, buf, (size_t)n, &stream_ops, s))
		client_drop(s, "out of memory");
	/* Dropped while feeding: what the splitter kept of that read is not the next client's. */
	if (s->cfd < 0)
		qmp_stream_reset(&s->in);
}

static void accept_client(struct qmp_server *s)
{
	static const char busy[] = "{\"error\":{\"class\":\"GenericError\",\"desc\":\"another QMP "
				   "client is connected; rmig serves one at a time\"}}\r\n";
	struct epoll_event ev = { .events = EPOLLIN };
	int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (s->cfd >= 0) {
		/* Best effort: a full socket buffer just means a bare close. */
		if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			rmig_debug("QMP: could not tell a second client why it is refused");
		close(fd);
		return;
	}
	ev.data.fd = fd;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		close(fd);
		return;
	}
	s->cfd = fd;
	/* A fresh splitter too: nothing of the last client's input may run as this one's. */
	qmp_stream_reset(&s->in);
	qmp_session_init(&s->session, qmp_commands, qmp_ncommands, s->ctx);
	client_send(s, qmp_greeting());
}

/* ---- events ----------------------------------------------------------- */

static bool events_wanted(struct qmp_server *s, const char *name)
{
	/* QEMU sends MIGRATION and MIGRATION_PASS only with the "events" capability. */
	if (strncmp(name, "MIGRATION", 9) == 0 && !atomic_load(&s->ctx->events))
		return false;
	return s->cfd >= 0 && s->session.negotiated;
}

static void send_event(struct qmp_server *s, json_t *ev)
{
	if (events_wanted(s, json_string_value(json_object_get(ev, "event"))))
		client_send(s, ev);
	else
		json_decref(ev);
}

/*
 * Every pass number up to @upto, even when several happened within one
 * tick, stamped @usec: when the count was first seen to include it.
 */
static void send_passes(struct qmp_server *s, uint64_t upto, int64_t usec)
{
	while (s->passes_sent < upto) {
		s->passes_sent++;
		send_event(s, qmp_event_new_at("MIGRATION_PASS",
					       json_pack("{s:I}", "pass", (json_int_t)s->passes_sent),
					       usec));
	}
}

static int64_t stamp_of(json_t *ev)
{
	json_t *ts = json_object_get(ev, "timestamp");

	return json_integer_value(json_object_get(ts, "seconds")) * 1000000 +
	       json_integer_value(json_object_get(ts, "microseconds"));
}

/*
 * Each event carries the pass count read when it was posted, and the
 * passes up to it go out first; the count read now, before the queue is
 * taken, covers whatever happened after the last event.  So every pass is
 * sent in its place among the events, and a migration's end comes after
 * all of its passes.  A pass is stamped with the first time its number
 * was seen, so the timestamps run in the same order as the events.
 */
static void pump_events(struct qmp_server *s)
{
	uint64_t passes = s->passes ? s->passes(s->passes_opaque) : 0;
	int64_t seen_usec = qmp_now_usec();
	json_t *q, *item;
	size_t i;

	pthread_mutex_lock(&s->lock);
	q = s->queue;
	s->queue = json_array();
	pthread_mutex_unlock(&s->lock);
	json_array_foreach(q, i, item) {
		uint64_t upto = (uint64_t)json_integer_value(json_array_get(item, 1));
		int64_t usec = stamp_of(json_array_get(item, 0));

		/* Passes the tick saw too were seen at whichever came first. */
		if (upto <= passes && seen_usec < usec)
			usec = seen_usec;
		send_passes(s, upto, usec);
		send_event(s, json_incref(json_array_get(item, 0)));
	}
	json_decref(q);
	send_passes(s, passes, seen_usec);
}

void qmp_server_event(struct qmp_server *s, const char *name, json_t *data)
{
	uint64_t passes = s->passes ? s->passes(s->passes_opaque) : 0;
	json_t *item = json_pack("[o,I]", qmp_event_new(name, data), (json_int_t)passes);
	uint64_t one = 1;

	if (!item)
		return;
	pthread_mutex_lock(&s->lock);
	if (!s->queue || json_array_size(s->queue) >= QMP_SERVER_MAX_EVENTS)
		json_decref(item); /* the loop is far behind: events are not worth unbounded memory */
	else
		json_array_append_new(s->queue, item);
	pthread_mutex_unlock(&s->lock);
	if (write(s->wake_fd, &one, sizeof(one)) < 0)
		rmig_debug("QMP: wake-up lost (the loop ticks anyway)");
}

/* ---- the loop --------------------------------------------------------- */

static void *server_thread(void *opaque)
{
	struct qmp_server *s = opaque;
	struct epoll_event evs[4];

	rmig_thread_name_self("rmig-qmp");
	if (s->ctx->thread_init)
		s->ctx->thread_init();
	while (!atomic_load(&s->stopping)) {
		int n = epoll_wait(s->epfd, evs, 4, QMP_TICK_MS);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == s->lfd) {
				accept_client(s);
			} else if (fd == s->wake_fd) {
				uint64_t v;

				if (read(s->wake_fd, &v, sizeof(v)) < 0)
					continue;
			} else if (fd == s->cfd) {
				if (evs[i].events & EPOLLOUT)
					client_flush(s);
				if (s->cfd >= 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
					client_read(s);
			}
		}
		pump_events(s);
	}
	pump_events(s);
	client_flush(s);
	return NULL;
}

/* ---- setup ------------------------------------------------------------ */

/* A socket file left by a dead server is replaced; a live one is not stolen. */
static int claim_path(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		rmig_error("QMP socket %s: the path exists and is not a socket", path);
		return -EEXIST;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0) {
		rmig_error("QMP socket %s: another server is listening there", path);
		return -EADDRINUSE;
	}
	return unlink(path) < 0 ? -errno : 0;
}

static int open_listener(struct qmp_server *s, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		rmig_error("QMP socket path is too long (%zu bytes, at most %zu)", strlen(path),
			   sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	rc = claim_path(path);
	if (rc)
		return rc;
	strcpy(sa.sun_path, path);
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0)
		return -errno;
	if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	snprintf(s->path, sizeof(s->path), "%s", path);
	/* The monitor can start and stop migrations: its owner only, before anyone can connect. */
	if (chmod(path, 0600) < 0 || listen(s->lfd, 4) < 0)
		return -errno;
	return 0;
}

static int add_fd(struct qmp_server *s, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void server_free(struct qmp_server *s)
{
	client_drop(s, NULL);
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->path[0])
		unlink(s->path);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	if (s->epfd >= 0)
		close(s->epfd);
	json_decref(s->queue);
	qmp_stream_fini(&s->in);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int qmp_server_start(const char *path, struct qmp_ctx *ctx, qmp_pass_fn passes, void *opaque,
		     struct qmp_server **out)
{
	struct qmp_server *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	s->lfd = s->wake_fd = s->epfd = s->cfd = -1;
	s->ctx = ctx;
	s->passes = passes;
	s->passes_opaque = opaque;
	pthread_mutex_init(&s->lock, NULL);
	qmp_stream_init(&s->in);
	s->queue = json_array();
	if (!s->queue) {
		rc = -ENOMEM;
		goto err_free;
	}
	rc = open_listener(s, path);
	if (rc)
		goto err_report;
	s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->wake_fd < 0 || s->epfd < 0) {
		rc = -errno;
		goto err_report;
	}
	rc = add_fd(s, s->lfd);
	if (!rc)
		rc = add_fd(s, s->wake_fd);
	if (rc)
		goto err_report;
	rc = -pthread_create(&s->thread, NULL, server_thread, s);
	if (rc)
		goto err_report;
	s->thread_started = true;
	*out = s;
	return 0;

err_report:
	if (!rmig_error_get_last()[0])
		rmig_error("QMP socket %s: %s", path, strerror(-rc));
err_free:
	server_free(s);
	return rc;
}

void qmp_server_stop(struct qmp_server *s)
{
	if (!s)
		return;
	atomic_store(&s->stopping, true);
	if (s->thread_started)
		pthread_join(s->thread, NULL);
	server_free(s);
}
