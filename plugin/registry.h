/* SPDX-License-Identifier: MIT */
/*
 * The transport registry: maps URI schemes to transports, loads transport
 * modules, and provides the thin wrappers that are the only callers of the
 * ops slots (so the size/NULL checks for optional slots live in one place).
 */
#ifndef RMIG_REGISTRY_H
#define RMIG_REGISTRY_H

#include "transport.h"

#define RMIG_TRANSPORT_MAX 16

/*
 * Validate and add @ops: ABI version, size, scheme (lower-case letters,
 * digits, '+', '-', '.', at most 15 chars), the mandatory slots, and that
 * the RAM hooks are all-or-none.  -EEXIST if the scheme is taken,
 * -EPROTO/-EINVAL for a bad table (reported with the reason).
 */
int rmig_transport_register(const struct rmig_transport_ops *ops);

/*
 * Load one module: dlopen, find RMIG_TRANSPORT_INIT_SYMBOL, call it,
 * register the result.  On any rejection the module is dlclosed and the
 * reason reported, naming the file ("wrong ABI version 7, this rmig speaks
 * 1", "no symbol rmig_transport_init", ...).
 */
int rmig_transport_load(const char *path);

/*
 * Load every "*.so" in @dir.  A missing directory is not an error; a bad
 * module is reported and skipped.  Returns how many were loaded.
 */
int rmig_transport_load_dir(const char *dir);

/*
 * Register the built-in transports (tcp, unix, fd, and rdma when built in)
 * and load modules from $RMIG_PLUGIN_DIR, else the install's plugin dir.
 * Idempotent.
 */
int rmig_transport_init_all(void);

/* Look up by scheme; NULL if none. */
const struct rmig_transport_ops *rmig_transport_find(const char *scheme);
/* For --help: the i-th registered transport, NULL past the end. */
const struct rmig_transport_ops *rmig_transport_at(unsigned i);
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
int rmig_connect(const char *uri, const struct rmig_conn_opts *opts, struct rmig_conn **out);
int rmig_listen(const char *uri, const struct rmig_conn_opts *opts, struct rmig_listener **out);
int rmig_accept(struct rmig_listener *l, int timeout_ms, struct rmig_conn **out);
void rmig_listener_close(struct rmig_listener *l);
/* -ENOTSUP when the transport cannot tell. */
int rmig_listener_uri(struct rmig_listener *l, char *buf, size_t len);

ssize_t rmig_conn_write(struct rmig_conn *c, const void *buf, size_t len);
ssize_t rmig_conn_writev(struct rmig_conn *c, const struct iovec *iov, int iovcnt);
ssize_t rmig_conn_read(struct rmig_conn *c, void *buf, size_t len);
void rmig_conn_abort(struct rmig_conn *c);
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

#endif /* RMIG_REGISTRY_H */
