/* SPDX-License-Identifier: MIT */
/*
 * The migration object beyond <rmig/migration.h>: whole-parameter-set
 * access for rmig's own front ends (the CLI, the benchmark).
 */
#ifndef RMIG_MIGRATION_H
#define RMIG_MIGRATION_H

#include <rmig/migration.h>

#include "common/engine/params.h"
#include "common/engine/stats.h"
#include "common/ram/ram.h"

int rmig_migration_set_params(struct rmig_migration *m, const struct rmig_params *p);
void rmig_migration_get_params(struct rmig_migration *m, struct rmig_params *p);
/*
 * What rmig_migration_start() checks of @p and @uri before it connects:
 * the parameters, their fit with the transport, TLS's host name and
 * credential files.  A front end calls it before it allocates a guest.
 * 0 or a negative errno (reported).
 */
int rmig_migration_check_config(const struct rmig_params *p, const char *uri);
/*
 * Dirty-bitmap syncs so far (query-migrate's dirty-sync-count), lock-free:
 * callable from a state listener or an embedder callback, to place an
 * event among the passes.
 */
uint64_t rmig_migration_get_sync_count(struct rmig_migration *m);

#endif /* RMIG_MIGRATION_H */
