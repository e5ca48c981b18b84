/* SPDX-License-Identifier: MIT */
/*
 * The QMP monitor: a unix socket served by an epoll loop in a thread of
 * its own, so that no client, however slow or hostile, can block the
 * migration.  It serves one client at a time (QEMU's monitor does too);
 * one that connects meanwhile is told so and closed.
 *
 * Events may be posted from any thread (state listeners, the embedder's
 * stop/cont): they are queued and sent from the monitor's thread, in the
 * order they were posted.
 */
#ifndef RMIG_TOOLS_QMP_SERVER_H
#define RMIG_TOOLS_QMP_SERVER_H

#include <jansson.h>
#include <stdint.h>

#include "tools/qmp/commands.h"

/* Output queued for a client that does not read; past it the client is dropped. */
#define QMP_SERVER_MAX_OUTPUT (4u << 20)
/* Events queued for the loop; past it, new ones are dropped (the loop is stuck). */
#define QMP_SERVER_MAX_EVENTS 4096

struct qmp_server;

/*
 * Optional: how many dirty-bitmap passes the source has made, to send
 * MIGRATION_PASS events.  Read on every tick, and when an event is posted
 * so the passes go out in their place among the events: it must be
 * lock-free, callable from a state listener.
 */
typedef uint64_t (*qmp_pass_fn)(void *opaque);

/*
 * Bind @path (replacing a stale socket file, refusing one that a live
 * server answers on) and start the thread.  0 or -errno, reported.
 */
int qmp_server_start(const char *path, struct qmp_ctx *ctx, qmp_pass_fn passes, void *opaque,
		     struct qmp_server **out);
/* Any thread.  Steals @data (NULL: {}).  Dropped when no negotiated client is connected. */
void qmp_server_event(struct qmp_server *s, const char *name, json_t *data);
/* Stop the thread, close every socket and remove the socket file. */
void qmp_server_stop(struct qmp_server *s);

/*
 * Whether @fd is one of the server's own descriptors (its socket, epoll,
 * wake-up or client), which no fd: URI may name.  On the server's thread
 * (a command's), where they cannot change meanwhile.
 */
bool qmp_server_owns_fd(const struct qmp_server *s, int fd);

#endif /* RMIG_TOOLS_QMP_SERVER_H */
