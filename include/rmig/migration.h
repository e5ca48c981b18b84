/* SPDX-License-Identifier: MIT */
/*
 * The source side of a migration: the object an embedder drives.
 *
 *   m = rmig_migration_new(ram, &embedder);
 *   rmig_migration_set_capability(m, RMIG_CAP_RDMA_PIN_ALL, true);
 *   rmig_migration_set_param(m, "downtime-limit", "100");
 *   rmig_migration_start(m, "rdma:10.0.0.2:4444");  -> SETUP, thread runs
 *   ... rmig_migration_query(m, &info) from any thread ...
 *   rmig_migration_wait(m);                         -> completed/failed/cancelled
 *   rmig_migration_free(m);
 *
 * The migration thread connects (in SETUP, so setup-time includes it),
 * writes the stream header, runs the transport's SETUP hook, then moves to
 * ACTIVE and runs a bulk round followed by dirty rounds until the remaining
 * dirty bytes fit in bandwidth x downtime-limit; then it stops the guest,
 * sends the rest, the trailer, and completes.  On failure or cancel the
 * guest is continued, so the workload never stays stopped on the source
 * unless the migration completed.
 */
#ifndef RMIG_PUBLIC_MIGRATION_H
#define RMIG_PUBLIC_MIGRATION_H

#include <stdbool.h>

#include <rmig/defs.h>
#include <rmig/embedder.h>
#include <rmig/info.h>
#include <rmig/params.h>
#include <rmig/ram.h>
#include <rmig/state.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rmig_migration;

/*
 * @ram and @emb must outlive the migration.  Returns NULL, with the reason
 * in rmig_error_get_last(), when @ram, @emb or its stop/cont callbacks are
 * missing or memory runs out.
 */
RMIG_API struct rmig_migration *rmig_migration_new(struct rmig_ram *ram, const struct rmig_embedder *emb);
RMIG_API void rmig_migration_free(struct rmig_migration *m);

/*
 * -EBUSY (reported) while setup/active/cancelling; -EINVAL / -ERANGE for
 * bad values.  Parameters by QEMU's names; max-bandwidth, downtime-limit,
 * cpu-throttle-initial, cpu-throttle-increment and max-cpu-throttle may
 * also change while the migration is in setup or active, and take effect
 * at once (docs/embedding.md).
 */
RMIG_API int rmig_migration_set_capability(struct rmig_migration *m, enum rmig_capability cap, bool on);
RMIG_API int rmig_migration_set_param(struct rmig_migration *m, const char *name, const char *value);

/* Listeners see SETUP before the migration thread starts. */
RMIG_API int rmig_migration_add_listener(struct rmig_migration *m, rmig_state_listener_fn fn, void *opaque);

/* none -> setup and start the thread.  -EBUSY if already started. */
RMIG_API int rmig_migration_start(struct rmig_migration *m, const char *uri);
/* Ask to cancel; returns at once.  -EBUSY when already terminal. Any thread. */
RMIG_API int rmig_migration_cancel(struct rmig_migration *m);
/* Join the thread; returns the terminal state. */
RMIG_API enum rmig_state rmig_migration_wait(struct rmig_migration *m);
RMIG_API enum rmig_state rmig_migration_get_state(struct rmig_migration *m);

/*
 * The -errno that failed the migration (0 when it did not fail), so a
 * front end can tell "peer refused" from "out of memory" without parsing
 * error-desc.
 */
RMIG_API int rmig_migration_get_error(struct rmig_migration *m);

/* Consistent snapshot, any thread, any moment. */
RMIG_API void rmig_migration_query(struct rmig_migration *m, struct rmig_info *info);

#ifdef __cplusplus
}
#endif

#endif /* RMIG_PUBLIC_MIGRATION_H */
