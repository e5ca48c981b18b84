/* SPDX-License-Identifier: MIT */
/*
 * The QMP commands rmig serves, by QEMU's names, and the target they act
 * on.  The target is the program's side of the migration behind a table of
 * operations, so that the commands (argument checking, the all-or-nothing
 * rules, the wording of refusals) are one piece of code, driven by the
 * rmig tool in production and by a fake target in the fuzzer.
 *
 * Operations run on the monitor's thread and must not block: they start
 * or cancel work, they never wait for it.  They return 0 or -errno, and
 * leave their reason in rmig_error_get_last().
 */
#ifndef RMIG_TOOLS_QMP_COMMANDS_H
#define RMIG_TOOLS_QMP_COMMANDS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rmig/info.h>
#include <rmig/params.h>

#include "common/engine/params.h"
#include "tools/qmp/proto.h"

enum qmp_role { QMP_ROLE_SOURCE = 0, QMP_ROLE_DEST };

struct qmp_run_status {
	bool running;
	const char *status; /* QEMU's RunState name: "running", "paused", "postmigrate", ... */
};

struct qmp_target_ops {
	enum qmp_role (*role)(void *t);
	void (*query)(void *t, struct rmig_info *info);
	/* Current parameters and capabilities. */
	void (*get_params)(void *t, struct rmig_params *p);
	int (*set_cap)(void *t, enum rmig_capability cap, bool on);
	int (*set_param)(void *t, const char *name, const char *value);
	/* Start the source towards @uri / start listening on @uri. */
	int (*migrate)(void *t, const char *uri);
	int (*incoming)(void *t, const char *uri);
	int (*cancel)(void *t);
	int (*resolve)(void *t, bool start);
	void (*run_status)(void *t, struct qmp_run_status *st);
	int (*stop)(void *t);
	int (*cont)(void *t);
	/* The reply to quit is sent, then the program ends. */
	void (*quit)(void *t);
};

struct qmp_ctx {
	const struct qmp_target_ops *ops;
	void *target;
	_Atomic bool events; /* the "events" capability: send MIGRATION events */
	/* Optional: run first on the monitor's thread (the tool mutes its log there). */
	void (*thread_init)(void);
};

extern const struct qmp_cmd qmp_commands[];
extern const size_t qmp_ncommands;

#endif /* RMIG_TOOLS_QMP_COMMANDS_H */
