/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the integration tests: a destination running in a thread or
 * in a forked child, and a source around the synthetic guest.
 */
#ifndef RMIG_TEST_HARNESS_H
#define RMIG_TEST_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <rmig/rmig.h>

#include "common/engine/incoming.h"
#include "common/engine/migration.h"
#include "common/engine/transports.h"
#include "common/ram/ram.h"
#include "tools/guest.h"

struct dest_thread {
	struct rmig_ram ram;
	struct rmig_incoming *in;
	pthread_t thread;
	int ret;
	char uri[256];
};

/* Listen on @uri (port 0 allowed) and start accept+load in a thread. */
void dest_thread_start(struct dest_thread *d, const char *uri);
/* The same, with the destination's parameter @name set to @value first. */
void dest_thread_start_param(struct dest_thread *d, const char *uri, const char *name,
			     const char *value);
int dest_thread_join(struct dest_thread *d);
void dest_thread_fini(struct dest_thread *d);

struct source {
	struct rmig_ram ram;
	struct rmig_guest *guest;
	struct rmig_migration *mig;
	struct rmig_embedder emb;
};

void source_init(struct source *s, uint64_t ram_bytes, uint64_t dirty_rate, double zero_share);
void source_fini(struct source *s);

/* Wait until the migration is in @state (or terminal); false on timeout. */
bool wait_for_state(struct rmig_migration *m, enum rmig_state state, int timeout_ms);
/* Wait until at least @bytes were transferred. */
bool wait_for_bytes(struct rmig_migration *m, uint64_t bytes, int timeout_ms);
/* True if every block of @a equals the same-index block of @b. */
bool ram_equal(const struct rmig_ram *a, const struct rmig_ram *b);
/* The guest's writers keep writing: writes grow over @ms. */
bool guest_still_writes(struct rmig_guest *g, int ms);

/*
 * Run a destination in a forked child listening on a fresh TCP port;
 * returns the child's pid and fills @uri.  The child exits 0 on a
 * verified migration, 1 otherwise.
 */
pid_t dest_child_start(char *uri, size_t len);

#endif
