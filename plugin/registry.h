/* SPDX-License-Identifier: MIT */
/*
 * The transport registry: maps URI schemes to transports, and provides the
 * thin wrappers that are the only callers of the ops slots (so the
 * size/NULL checks for optional slots live in one place).
 *
 * rmig_transport_register() and rmig_transport_load() are public, in
 * <rmig/transport.h>.
 */
#ifndef RMIG_REGISTRY_H
#define RMIG_REGISTRY_H

#include <rmig/transport.h>

#define RMIG_TRANSPORT_MAX 16

/*
 * Validate @ops without registering or reporting anything: returns 0, or a
 * negative errno with the reason written to @why, so the loader can name
 * the module file in its own report.
 */
int rmig_transport_check(const struct rmig_transport_ops *ops, char *why, size_t whylen);

/*
 * Register an already-checked table, taking ownership of @dl_handle (may be
 * NULL), which rmig_transport_reset() dlcloses.  Quietly returns -EEXIST if
 * the scheme is taken (the caller then still owns @dl_handle), -ENOSPC
 * (reported) when the table is full.
 */
int rmig_transport_add(const struct rmig_transport_ops *ops, void *dl_handle);

/*
 * Run @init once, under the registry's init lock, unless an earlier call
 * succeeded since the last reset.  The layer above uses it to register the
 * built-in transports and load modules (common/engine/transports.c).
 */
int rmig_transport_init_once(int (*init)(void));

/* Look up by scheme; NULL if none. */
const struct rmig_transport_ops *rmig_transport_find(const char *scheme);
/* For --help: the i-th registered transport, NULL past the end. */
const struct rmig_transport_ops *rmig_transport_get(unsigned i);
/* Forget everything and dlclose modules (tests, exit). */
void rmig_transport_reset(void);

/*
 * Split "scheme:rest" and find the transport.  -EINVAL for a URI without a
 * scheme, -EPROTONOSUPPORT for an unknown scheme (reported, listing the
 * known ones).  @addr points into @uri.
 */
int rmig_transport_resolve(const char *uri, const struct rmig_transport_ops **ops,
			   const char **addr);

/* Wrappers: resolve + call, setting conn->ops / listener->ops. */
int rmig_conn_open(const char *uri, const struct rmig_conn_opts *opts, struct rmig_conn **out);
int rmig_listener_open(const char *uri, const struct rmig_conn_opts *opts,
		       struct rmig_listener **out);
int rmig_listener_accept(struct rmig_listener *l, int timeout_ms, struct rmig_conn **out);
void rmig_listener_close(struct rmig_listener *l);
/* -ENOTSUP when the transport cannot tell. */
int rmig_listener_get_uri(struct rmig_listener *l, char *buf, size_t len);

ssize_t rmig_conn_write(struct rmig_conn *c, const void *buf, size_t len);
ssize_t rmig_conn_writev(struct rmig_conn *c, const struct iovec *iov, int iovcnt);
ssize_t rmig_conn_read(struct rmig_conn *c, void *buf, size_t len);
void rmig_conn_abort(struct rmig_conn *c);
/*
 * End a waiting read with -ECANCELED and keep the connection for writing
 * (the transport's interrupt slot); false when the transport has none.
 */
bool rmig_conn_interrupt(struct rmig_conn *c);
void rmig_conn_close(struct rmig_conn *c);
bool rmig_conn_has_ram_hooks(const struct rmig_conn *c);

/* RAM hook wrappers; -ENOTSUP when the transport has no hooks. */
int rmig_conn_ram_attach(struct rmig_conn *c, struct rmig_ram *ram);
int rmig_conn_ram_before_iterate(struct rmig_conn *c, enum rmig_ram_phase phase);
int rmig_conn_ram_save_page(struct rmig_conn *c, struct rmig_ramblock *b, uint64_t page,
			    uint64_t npages, struct rmig_ram_counters *acc);
int rmig_conn_ram_after_iterate(struct rmig_conn *c, enum rmig_ram_phase phase,
				struct rmig_ram_counters *acc);
int rmig_conn_ram_load(struct rmig_conn *c, enum rmig_ram_phase phase);

/* -ENOTSUP (quietly) when the transport cannot change it. */
int rmig_conn_set_peer_timeout(struct rmig_conn *c, int timeout_ms);
/* Who is at the other end, or "a peer" when the transport cannot tell; always a string. */
const char *rmig_conn_describe(struct rmig_conn *c, char *buf, size_t len);
/* The NUMA node of the device carrying @c; -1 when none or the transport cannot tell. */
int rmig_conn_numa_node(struct rmig_conn *c);
/* -ENOTSUP (quietly) when the transport pins nothing it can tell of. */
int rmig_conn_ram_stats(struct rmig_conn *c, struct rmig_transport_stats *st);

#endif /* RMIG_REGISTRY_H */
