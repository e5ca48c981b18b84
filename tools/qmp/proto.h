/* SPDX-License-Identifier: MIT */
/*
 * The QMP protocol, as QEMU's docs/interop/qmp-spec describes it: the
 * greeting, capabilities negotiation, and turning one input value into one
 * reply, {"return": ...} or {"error": {"class", "desc"}}, with the
 * request's "id" echoed.  No I/O here: server.c moves the bytes, and the
 * fuzzer drives this directly.
 */
#ifndef RMIG_TOOLS_QMP_PROTO_H
#define RMIG_TOOLS_QMP_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* QEMU's error classes that rmig uses. */
#define QMP_ERR_GENERIC	  "GenericError"
#define QMP_ERR_NOT_FOUND "CommandNotFound"

struct qmp_err {
	const char *cls;
	char desc[512];
};

void qmp_err_set(struct qmp_err *err, const char *cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A command: @args is always an object (empty when none was given). */
typedef json_t *(*qmp_cmd_fn)(void *ctx, json_t *args, struct qmp_err *err);

struct qmp_cmd {
	const char *name;
	qmp_cmd_fn fn;
};

struct qmp_session {
	const struct qmp_cmd *cmds;
	size_t ncmds;
	void *ctx;
	bool negotiated;
};

void qmp_session_init(struct qmp_session *s, const struct qmp_cmd *cmds, size_t ncmds, void *ctx);
json_t *qmp_greeting(void);
/* query-version's answer: rmig's version where QEMU puts its own. */
json_t *qmp_version(void);
/*
 * The reply to one complete input value (stream.c found its end).  Never
 * NULL unless memory ran out.
 */
json_t *qmp_session_handle(struct qmp_session *s, const char *text, size_t len);
/* {"error": ...} for input that never became a value (stream.c's errors). */
json_t *qmp_error_reply(const char *cls, const char *desc, json_t *id);

/* An event, stamped now with the wall clock, as QEMU stamps them.  Steals @data (NULL: {}). */
json_t *qmp_event_new(const char *name, json_t *data);
/* The same, stamped @usec (microseconds since the epoch). */
json_t *qmp_event_new_at(const char *name, json_t *data, int64_t usec);
/* Now, in microseconds since the epoch, as events are stamped. */
int64_t qmp_now_usec(void);

/* ---- argument checking, for the commands ---- */

enum qmp_type { QMP_T_STR, QMP_T_INT, QMP_T_BOOL, QMP_T_ARRAY };

struct qmp_arg {
	const char *name;
	enum qmp_type type;
	bool required;
};

/* Refuse unknown, missing and mistyped arguments, with QEMU's wording.  0 or -EINVAL. */
int qmp_args_check(json_t *args, const struct qmp_arg *spec, size_t n, struct qmp_err *err);

#endif /* RMIG_TOOLS_QMP_PROTO_H */
