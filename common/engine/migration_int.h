/* SPDX-License-Identifier: MIT */
/*
 * Private to migration.c (the object and its API) and save.c (what the
 * migration thread does).  Not installed.
 */
#ifndef RMIG_MIGRATION_INT_H
#define RMIG_MIGRATION_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rmig/embedder.h>
#include <rmig/log.h>

#include "common/engine/migration.h"
#include "common/engine/params.h"
#include "common/engine/state.h"
#include "common/engine/stats.h"
#include "common/ram/ram.h"

struct rmig_conn;

struct rmig_migration {
	struct rmig_ram *ram;
	struct rmig_embedder emb;
	struct rmig_state_machine sm;
	struct rmig_stats stats;

	/* Protects params, uri, conn and the error fields. */
	pthread_mutex_t lock;
	struct rmig_params params;
	/*
	 * The parameters that may change while the migration runs (QEMU's and
	 * libvirt's migrate-setspeed and setmaxdowntime, the throttle), copied
	 * from params whenever they change; the migration thread reads these
	 * at every use, and the rest of params once, at SETUP.
	 */
	struct {
		_Atomic uint64_t max_bandwidth, downtime_limit_ms;
		_Atomic unsigned cpu_throttle_initial, cpu_throttle_increment, max_cpu_throttle;
	} live;
	char *uri;
	/* Under lock: a start() got past its checks; none other may, and the config is fixed. */
	bool starting;
	struct rmig_conn *conn;
	/* A multifd channel in its TLS handshake: a cancel must reach it too. */
	struct rmig_conn *setup_conn;
	int error;
	char error_desc[RMIG_ERROR_MAX];

	pthread_t thread;
	bool thread_started;
	/* Readable once cancel is asked; lets a blocking connect give up. */
	int cancel_fd;
	_Atomic bool cancel_requested;
	/*
	 * The hand-over has begun (the trailer is going out) and not ended: a
	 * cancel then only interrupts the read, so the thread can still send
	 * ABORT.  Stays set: once the thread is done, m->conn is gone.
	 */
	_Atomic bool awaiting_result;

	/* Written by the migration thread, read by query(). */
	_Atomic uint64_t start_ns;     /* entered SETUP */
	_Atomic uint64_t stop_ns;      /* guest stopped for the final round; 0 = never */
	_Atomic uint64_t end_ns;       /* reached a terminal state */
	_Atomic bool guest_stopped;
};

/* The migration thread's body (save.c). */
void *rmig_save_thread(void *opaque);

/* Record the first failure of the migration (thread-safe). */
void rmig_migration_set_error(struct rmig_migration *m, int err);
/* Forget it: a cancel overtook the failure, and a cancelled migration has no error. */
void rmig_migration_clear_error(struct rmig_migration *m);

#endif /* RMIG_MIGRATION_INT_H */
