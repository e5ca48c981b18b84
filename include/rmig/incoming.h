/* SPDX-License-Identifier: MIT */
/*
 * The destination side: listen, accept one source, load its stream into
 * RAM (allocating blocks to match, or checking the embedder's), verify, and
 * report.  The state machine is the same as the source's: setup from
 * rmig_incoming_run() until a source is accepted, active while its stream
 * is loaded.
 */
#ifndef RMIG_PUBLIC_INCOMING_H
#define RMIG_PUBLIC_INCOMING_H

#include <stdbool.h>
#include <stddef.h>

#include <rmig/defs.h>
#include <rmig/info.h>
#include <rmig/params.h>
#include <rmig/ram.h>
#include <rmig/state.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rmig_incoming;

RMIG_API struct rmig_incoming *rmig_incoming_new(struct rmig_ram *ram);
RMIG_API void rmig_incoming_free(struct rmig_incoming *in);

RMIG_API int rmig_incoming_add_listener(struct rmig_incoming *in, rmig_state_listener_fn fn, void *opaque);
/* Must be set before listen; only rdma-pin-all matters here (what we accept). */
RMIG_API int rmig_incoming_set_capability(struct rmig_incoming *in, enum rmig_capability cap, bool on);

/*
 * Bind to @uri.  After this, rmig_incoming_get_uri() gives the bound address
 * (useful with port 0).
 */
RMIG_API int rmig_incoming_listen(struct rmig_incoming *in, const char *uri);
RMIG_API int rmig_incoming_get_uri(struct rmig_incoming *in, char *buf, size_t len);
/*
 * Accept one source within @accept_timeout_ms (< 0: forever), load it, and
 * take part in the hand-over (docs/switchover.md).  Returns 0 when the
 * source committed (the start callback has run), -EINPROGRESS when the
 * hand-over is in doubt (see rmig_incoming_resolve()), another -errno when
 * it failed (the source keeps the workload).
 */
RMIG_API int rmig_incoming_run(struct rmig_incoming *in, int accept_timeout_ms);
/* Any thread: make run() return -ECANCELED promptly. */
RMIG_API void rmig_incoming_cancel(struct rmig_incoming *in);

/*
 * The moment the workload may run here: called once, from the thread in
 * rmig_incoming_run() (or rmig_incoming_resolve()), after the source has
 * committed the hand-over and will never resume it.  Optional; set before
 * run.
 */
typedef void (*rmig_incoming_start_fn)(void *opaque);
RMIG_API void rmig_incoming_set_start(struct rmig_incoming *in, rmig_incoming_start_fn fn,
				      void *opaque);

/* A parameter by its name ("peer-timeout"), before run.  As rmig_migration_set_param(). */
RMIG_API int rmig_incoming_set_param(struct rmig_incoming *in, const char *name,
				     const char *value);

/*
 * End an in-doubt hand-over (run() returned -EINPROGRESS, the state is
 * "in-doubt"): @start true when the source reports completed, so the
 * state becomes completed and then the start callback runs, here, on the
 * caller's thread; false when it does not, and the state becomes failed.
 * Of racing calls exactly one acts; the others, and any call when not in
 * doubt, get -EBUSY.
 */
RMIG_API int rmig_incoming_resolve(struct rmig_incoming *in, bool start);

/* The current state, any thread. */
RMIG_API enum rmig_state rmig_incoming_get_state(struct rmig_incoming *in);

/* The -errno that failed the load, 0 if none. */
RMIG_API int rmig_incoming_get_error(struct rmig_incoming *in);
RMIG_API void rmig_incoming_query(struct rmig_incoming *in, struct rmig_info *info);

#ifdef __cplusplus
}
#endif

#endif /* RMIG_PUBLIC_INCOMING_H */
