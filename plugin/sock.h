/* SPDX-License-Identifier: MIT */
/*
 * Private to plugin/: the connection code shared by the tcp, unix and fd
 * transports, and the listener code shared by tcp and unix.  Every fd here
 * is non-blocking; a call that would block polls the fd together with an
 * eventfd that abort() signals, so abort unblocks readers and writers even
 * on pipes, where shutdown() does not apply.
 */
#ifndef RMIG_SOCK_H
#define RMIG_SOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <rmig/transport.h>

#define RMIG_SOCK_NAME_MAX 160
#define RMIG_SOCK_DEFAULT_TIMEOUT_MS 10000

struct rmig_sock_conn {
	struct rmig_conn base; /* first: the registry sees only this */
	int fd;
	int wake_fd;	/* eventfd, readable once abort() was called */
	bool is_socket; /* else a pipe or tty: read()/write(), no shutdown() */
	atomic_bool aborted;
	atomic_bool interrupted; /* interrupt(): the next read ends with -ECANCELED */
	int peer_timeout_ms; /* a wait with no progress this long fails; <= 0: none */
	char name[RMIG_SOCK_NAME_MAX]; /* "tcp:10.0.0.2:4444", for messages */
};

/* A transport that keeps more per listener embeds this first. */
struct rmig_sock_listener {
	struct rmig_listener base; /* first */
	int fd;
	int peer_timeout_ms; /* handed to every accepted connection */
	char name[RMIG_SOCK_NAME_MAX]; /* the full bound URI: "tcp:127.0.0.1:40123" */
};

/* opts->peer_timeout_ms where the caller's struct has it, else 0 (none). */
int rmig_sock_get_peer_timeout_ms(const struct rmig_conn_opts *opts);

/*
 * Wrap @fd (which the new connection owns only on success) as a
 * connection named @name.  Makes it non-blocking and close-on-exec.  A
 * read or write that can make no progress for @peer_timeout_ms (> 0)
 * fails with -ETIMEDOUT.
 */
int rmig_sock_conn_new(int fd, const char *name, int peer_timeout_ms, struct rmig_conn **out);

ssize_t rmig_sock_write(struct rmig_conn *c, const void *buf, size_t len);
ssize_t rmig_sock_writev(struct rmig_conn *c, const struct iovec *iov, int iovcnt);
ssize_t rmig_sock_read(struct rmig_conn *c, void *buf, size_t len);
void rmig_sock_abort(struct rmig_conn *c);
int rmig_sock_set_peer_timeout(struct rmig_conn *c, int timeout_ms);
void rmig_sock_interrupt(struct rmig_conn *c);
void rmig_sock_close(struct rmig_conn *c);
int rmig_sock_describe(struct rmig_conn *c, char *buf, size_t len);
/* The NUMA node of the netdev carrying the socket (sock_numa.c); -1: none. */
int rmig_sock_numa_node(struct rmig_conn *c);

/*
 * Allocate a zeroed listener of @size bytes (at least the struct's, larger
 * for a transport's own listener that embeds it first) around a bound,
 * listening, non-blocking @fd (owned on success) whose full URI is @uri.
 */
int rmig_sock_listener_new(int fd, const char *uri, size_t size, const struct rmig_conn_opts *opts,
			   struct rmig_sock_listener **out);
/*
 * The accept slot: wait up to @timeout_ms (< 0: forever) for a peer and wrap
 * it as a connection; TCP peers get TCP_NODELAY.  -ETIMEDOUT when none came
 * (logged at debug level only: callers that poll in slices expect it).
 */
int rmig_sock_accept(struct rmig_listener *l, int timeout_ms, struct rmig_conn **out);
int rmig_sock_listener_get_uri(struct rmig_listener *l, char *buf, size_t len);
/* Frees the whole allocation, so a transport's own listener_close ends with it. */
void rmig_sock_listener_close(struct rmig_listener *l);

/*
 * The ops slots every socket transport fills alike, for the start of its
 * ops table's initialiser; the transport adds scheme, description, connect,
 * listen and the listener slots.
 */
#define RMIG_SOCK_CONN_SLOTS                                                                       \
	.size = sizeof(struct rmig_transport_ops), .abi_version = RMIG_TRANSPORT_ABI_VERSION,      \
	.write = rmig_sock_write, .read = rmig_sock_read, .abort = rmig_sock_abort,                \
	.close = rmig_sock_close, .writev = rmig_sock_writev,                                      \
	.set_peer_timeout = rmig_sock_set_peer_timeout, .interrupt = rmig_sock_interrupt,          \
	.describe = rmig_sock_describe, .numa_node = rmig_sock_numa_node

/* opts->timeout_ms, or the 10 s default for a missing or non-positive value. */
int rmig_sock_get_timeout_ms(const struct rmig_conn_opts *opts);
/* Milliseconds left until @deadline_ns (CLOCK_MONOTONIC), at least 0. */
int rmig_sock_get_remaining_ms(uint64_t deadline_ns);
/* Format a socket address as "host:port", "[v6]:port", a unix path or "@abstract". */
void rmig_sock_addr_format(const struct sockaddr *sa, socklen_t salen, char *buf, size_t len);

#endif /* RMIG_SOCK_H */
