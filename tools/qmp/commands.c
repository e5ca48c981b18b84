/* SPDX-License-Identifier: MIT */
/*
 * The QMP commands (see commands.h).  Each checks its arguments with
 * QEMU's wording, validates everything before changing anything (a
 * migrate-set-parameters that fails leaves every parameter as it was, as
 * QEMU's does), then calls the target.
 */
#include "tools/qmp/commands.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static struct qmp_ctx *ctx_of(void *c)
{
	return c;
}

/* A refused operation: its reason as the library or the target recorded it. */
static json_t *op_failed(struct qmp_err *err, int rc, const char *what)
{
	const char *why = rmig_error_get_last();

	if (why && *why)
		qmp_err_set(err, QMP_ERR_GENERIC, "%s", why);
	else
		qmp_err_set(err, QMP_ERR_GENERIC, "%s: %s", what, strerror(-rc));
	return NULL;
}

/* {} when the operation succeeded, its reason otherwise. */
static json_t *op_result(struct qmp_err *err, int rc, const char *what)
{
	return rc ? op_failed(err, rc, what) : json_object();
}

/* Commands for one side only: the other is told what it is instead. */
static bool role_is(struct qmp_ctx *ctx, enum qmp_role want, const char *refusal,
		    struct qmp_err *err)
{
	if (ctx->ops->role(ctx->target) == want)
		return true;
	qmp_err_set(err, QMP_ERR_GENERIC, "%s", refusal);
	return false;
}

static enum rmig_state state_of(struct qmp_ctx *c)
{
	struct rmig_info info;

	c->ops->query(c->target, &info);
	return info.status;
}

static bool is_running(enum rmig_state s)
{
	return s == RMIG_STATE_SETUP || s == RMIG_STATE_ACTIVE || s == RMIG_STATE_CANCELLING;
}

static bool no_args(json_t *args, struct qmp_err *err)
{
	return qmp_args_check(args, NULL, 0, err) == 0;
}

/* ---- query-migrate ---------------------------------------------------- */

static json_t *cmd_query_migrate(void *c, json_t *args, struct qmp_err *err)
{
	struct qmp_ctx *ctx = ctx_of(c);
	struct rmig_info info;
	char buf[2048];
	json_error_t jerr;
	json_t *ret;
	int n;

	if (!no_args(args, err))
		return NULL;
	ctx->ops->query(ctx->target, &info);
	/* The very object --json prints: one writer, so the two can never disagree. */
	n = rmig_info_to_json(&info, buf, sizeof(buf));
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		qmp_err_set(err, QMP_ERR_GENERIC, "query-migrate: the report does not fit");
		return NULL;
	}
	ret = json_loads(buf, 0, &jerr);
	if (!ret)
		qmp_err_set(err, QMP_ERR_GENERIC, "query-migrate: %s", jerr.text);
	return ret;
}

/* ---- capabilities ----------------------------------------------------- */

#define QMP_CAP_EVENTS "events" /* QEMU's: whether MIGRATION events are sent */

static json_t *cmd_query_caps(void *c, json_t *args, struct qmp_err *err)
{
	struct qmp_ctx *ctx = ctx_of(c);
	struct rmig_params p;
	json_t *list;

	if (!no_args(args, err))
		return NULL;
	ctx->ops->get_params(ctx->target, &p);
	list = json_array();
	for (int i = 0; list && i < RMIG_CAP__COUNT; i++)
		json_array_append_new(list, json_pack("{s:s,s:b}", "capability",
						      rmig_capability_get_name(i), "state",
						      p.caps[i]));
	if (list)
		json_array_append_new(list, json_pack("{s:s,s:b}", "capability", QMP_CAP_EVENTS,
						      "state", atomic_load(&ctx->events)));
	return list;
}

/* One {"capability", "state"} entry: -1 for "events", the capability, or -EINVAL. */
static int parse_cap_entry(json_t *e, bool *on, struct qmp_err *err)
{
	static const struct qmp_arg spec[] = {
		{ "capability", QMP_T_STR, true },
		{ "state", QMP_T_BOOL, true },
	};
	const char *name;
	int cap;

	if (!json_is_object(e)) {
		qmp_err_set(err, QMP_ERR_GENERIC,
			    "Invalid parameter type for 'capabilities[]', expected: object");
		return -EINVAL;
	}
	if (qmp_args_check(e, spec, ARRAY_LEN(spec), err))
		return -EINVAL;
	name = json_string_value(json_object_get(e, "capability"));
	*on = json_is_true(json_object_get(e, "state"));
	if (strcmp(name, QMP_CAP_EVENTS) == 0)
		return -1;
	cap = rmig_capability_parse(name);
	if (cap < 0) {
		qmp_err_set(err, QMP_ERR_GENERIC, "Capability '%.64s' is unknown", name);
		return -EINVAL;
	}
	return cap;
}

static json_t *cmd_set_caps(void *c, json_t *args, struct qmp_err *err)
{
	static const struct qmp_arg spec[] = { { "capabilities", QMP_T_ARRAY, true } };
	struct qmp_ctx *ctx = ctx_of(c);
	json_t *list = json_object_get(args, "capabilities"), *e;
	bool on, events = false, set_events = false;
	enum rmig_state st;
	size_t i;
	int rc;

	if (qmp_args_check(args, spec, ARRAY_LEN(spec), err))
		return NULL;
	json_array_foreach(list, i, e)
		if (parse_cap_entry(e, &on, err) < -1)
			return NULL;
	st = state_of(ctx);
	if (st != RMIG_STATE_NONE) {
		qmp_err_set(err, QMP_ERR_GENERIC,
			    "capabilities cannot change once a migration has started (state %s)",
			    rmig_state_get_name(st));
		return NULL;
	}
	json_array_foreach(list, i, e) {
		int cap = parse_cap_entry(e, &on, err);

		if (cap == -1) {
			set_events = true;
			events = on;
			continue;
		}
		rmig_error_clear();
		rc = ctx->ops->set_cap(ctx->target, (enum rmig_capability)cap, on);
		if (rc)
			return op_failed(err, rc, "migrate-set-capabilities");
	}
	/* Last: it cannot fail, so a refusal above leaves it as it was too. */
	if (set_events)
		atomic_store(&ctx->events, events);
	return json_object();
}

/* ---- parameters ------------------------------------------------------- */

/*
 * Every parameter as QMP shows it: numbers as QEMU's integers, and the
 * tls-* ones as strings (QEMU's tls-creds names an object; rmig's, the
 * directory itself).
 */
struct param_desc {
	const char *name;
	enum qmp_type type;
	size_t offset; /* of the member in struct rmig_params */
	size_t size;   /* of that member: which integer width, or the text buffer's */
};

#define PARAM(n, t, m) { n, t, offsetof(struct rmig_params, m), sizeof(((struct rmig_params *)0)->m) }

static const struct param_desc params[] = {
	PARAM("max-bandwidth", QMP_T_INT, max_bandwidth),
	PARAM("downtime-limit", QMP_T_INT, downtime_limit_ms),
	PARAM("cpu-throttle-initial", QMP_T_INT, cpu_throttle_initial),
	PARAM("cpu-throttle-increment", QMP_T_INT, cpu_throttle_increment),
	PARAM("max-cpu-throttle", QMP_T_INT, max_cpu_throttle),
	PARAM("peer-timeout", QMP_T_INT, peer_timeout_ms),
	PARAM("rdma-max-pinned", QMP_T_INT, rdma_max_pinned),
	PARAM("multifd-channels", QMP_T_INT, multifd_channels),
	PARAM("max-ram", QMP_T_INT, max_ram),
	PARAM("tls-creds", QMP_T_STR, tls_creds),
	PARAM("tls-psk", QMP_T_STR, tls_psk),
	PARAM("tls-hostname", QMP_T_STR, tls_hostname),
	PARAM("tls-authz", QMP_T_STR, tls_authz),
	PARAM("auth-key", QMP_T_STR, auth_key),
};

static json_t *param_json(const struct rmig_params *p, const struct param_desc *d)
{
	const char *base = (const char *)p + d->offset;

	if (d->type == QMP_T_STR)
		return json_string(base);
	if (d->size == sizeof(unsigned))
		return json_integer((json_int_t) * (const unsigned *)base);
	return json_integer((json_int_t) * (const uint64_t *)base);
}

static json_t *cmd_query_params(void *c, json_t *args, struct qmp_err *err)
{
	struct qmp_ctx *ctx = ctx_of(c);
	struct rmig_params p;
	json_t *obj;

	if (!no_args(args, err))
		return NULL;
	ctx->ops->get_params(ctx->target, &p);
	obj = json_object();
	for (size_t i = 0; obj && i < ARRAY_LEN(params); i++)
		json_object_set_new(obj, params[i].name, param_json(&p, &params[i]));
	return obj;
}

/* A parameter's value as the library's text; false (with @err) when it cannot be one. */
static bool param_text(const char *key, json_t *v, char *buf, size_t len, struct qmp_err *err)
{
	if (json_is_string(v)) {
		/* No NUL inside: the parser runs without JSON_ALLOW_NUL. */
		snprintf(buf, len, "%s", json_string_value(v));
		if (strlen(json_string_value(v)) >= len) {
			qmp_err_set(err, QMP_ERR_GENERIC, "Parameter '%s' is too long", key);
			return false;
		}
		return true;
	}
	if (json_integer_value(v) < 0) {
		qmp_err_set(err, QMP_ERR_GENERIC, "Parameter '%s' expects a value of 0 or more", key);
		return false;
	}
	snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	return true;
}

/* Check every parameter against a copy, so a refusal leaves them all unchanged. */
static int check_params(struct qmp_ctx *ctx, json_t *args, struct qmp_err *err)
{
	struct qmp_arg spec[ARRAY_LEN(params)];
	enum rmig_state st = state_of(ctx);
	char value[RMIG_PARAM_AUTHZ_MAX];
	struct rmig_params p;
	const char *key;
	json_t *v;

	for (size_t i = 0; i < ARRAY_LEN(params); i++)
		spec[i] = (struct qmp_arg){ params[i].name, params[i].type, false };
	if (qmp_args_check(args, spec, ARRAY_LEN(spec), err))
		return -EINVAL;
	ctx->ops->get_params(ctx->target, &p);
	json_object_foreach(args, key, v) {
		if (!param_text(key, v, value, sizeof(value), err))
			return -EINVAL;
		if (is_running(st) && ctx->ops->role(ctx->target) == QMP_ROLE_DEST) {
			qmp_err_set(err, QMP_ERR_GENERIC,
				    "Parameter '%s' cannot change on a destination once it listens",
				    key);
			return -EBUSY;
		}
		if (is_running(st) && !rmig_params_is_live(key)) {
			qmp_err_set(err, QMP_ERR_GENERIC,
				    "Parameter '%s' cannot change while a migration is %s; only "
				    RMIG_PARAMS_LIVE_NAMES " can",
				    key, rmig_state_get_name(st));
			return -EBUSY;
		}
		rmig_error_clear();
		if (rmig_params_set(&p, key, value)) {
			op_failed(err, -EINVAL, key);
			return -EINVAL;
		}
	}
	return 0;
}

static json_t *cmd_set_params(void *c, json_t *args, struct qmp_err *err)
{
	struct qmp_ctx *ctx = ctx_of(c);
	char value[RMIG_PARAM_AUTHZ_MAX];
	const char *key;
	json_t *v;
	int rc;

	if (check_params(ctx, args, err))
		return NULL;
	json_object_foreach(args, key, v) {
		param_text(key, v, value, sizeof(value), err);
		rmig_error_clear();
		rc = ctx->ops->set_param(ctx->target, key, value);
		if (rc)
			return op_failed(err, rc, "migrate-set-parameters");
	}
	return json_object();
}

/* ---- migrate, migrate-incoming, cancel, resolve ------------------------ */

static json_t *cmd_migrate(void *c, json_t *args, struct qmp_err *err)
{
	static const struct qmp_arg spec[] = {
		{ "uri", QMP_T_STR, true },
		{ "detach", QMP_T_BOOL, false }, /* QEMU ignores it too: migrate never blocks */
	};
	struct qmp_ctx *ctx = ctx_of(c);
	int rc;

	if (qmp_args_check(args, spec, ARRAY_LEN(spec), err) ||
	    !role_is(ctx, QMP_ROLE_SOURCE,
		     "this is a destination (rmig incoming): use migrate-incoming", err))
		return NULL;
	rmig_error_clear();
	rc = ctx->ops->migrate(ctx->target, json_string_value(json_object_get(args, "uri")));
	return op_result(err, rc, "migrate");
}

static json_t *cmd_migrate_incoming(void *c, json_t *args, struct qmp_err *err)
{
	static const struct qmp_arg spec[] = { { "uri", QMP_T_STR, true } };
	struct qmp_ctx *ctx = ctx_of(c);
	int rc;

	if (qmp_args_check(args, spec, ARRAY_LEN(spec), err) ||
	    !role_is(ctx, QMP_ROLE_DEST,
		     "this is a source (rmig migrate): migrate-incoming is for a destination "
		     "started with 'rmig incoming defer'",
		     err))
		return NULL;
	rmig_error_clear();
	rc = ctx->ops->incoming(ctx->target, json_string_value(json_object_get(args, "uri")));
	return op_result(err, rc, "migrate-incoming");
}

static json_t *cmd_cancel(void *c, json_t *args, struct qmp_err *err)
{
	struct qmp_ctx *ctx = ctx_of(c);

	if (!no_args(args, err))
		return NULL;
	/* As QEMU: nothing to cancel is not an error. */
	ctx->ops->cancel(ctx->target);
	return json_object();
}

static json_t *cmd_resolve(void *c, json_t *args, struct qmp_err *err)
{
	static const struct qmp_arg spec[] = { { "start", QMP_T_BOOL, true } };
	struct qmp_ctx *ctx = ctx_of(c);
	int rc;

	if (qmp_args_check(args, spec, ARRAY_LEN(spec), err) ||
	    !role_is(ctx, QMP_ROLE_DEST, "only a destination can be in doubt; this is a source",
		     err))
		return NULL;
	rmig_error_clear();
	rc = ctx->ops->resolve(ctx->target, json_is_true(json_object_get(args, "start")));
	return op_result(err, rc, "migrate-incoming-resolve");
}

/* ---- the guest -------------------------------------------------------- */

static json_t *cmd_query_status(void *c, json_t *args, struct qmp_err *err)
{
	struct qmp_ctx *ctx = ctx_of(c);
	struct qmp_run_status st;

	if (!no_args(args, err))
		return NULL;
	ctx->ops->run_status(ctx->target, &st);
	return json_pack("{s:b,s:b,s:s}", "running", st.running, "singlestep", 0, "status",
			 st.status);
}

/* stop and cont: no arguments, one operation of the target. */
static json_t *guest_op(void *c, json_t *args, struct qmp_err *err, bool cont)
{
	struct qmp_ctx *ctx = ctx_of(c);
	int rc;

	if (!no_args(args, err))
		return NULL;
	rmig_error_clear();
	rc = cont ? ctx->ops->cont(ctx->target) : ctx->ops->stop(ctx->target);
	return op_result(err, rc, cont ? "cont" : "stop");
}

static json_t *cmd_stop(void *c, json_t *args, struct qmp_err *err)
{
	return guest_op(c, args, err, false);
}

static json_t *cmd_cont(void *c, json_t *args, struct qmp_err *err)
{
	return guest_op(c, args, err, true);
}

static json_t *cmd_quit(void *c, json_t *args, struct qmp_err *err)
{
	struct qmp_ctx *ctx = ctx_of(c);

	if (!no_args(args, err))
		return NULL;
	ctx->ops->quit(ctx->target);
	return json_object();
}

/* ---- introspection ---------------------------------------------------- */

static json_t *cmd_query_version(void *c, json_t *args, struct qmp_err *err)
{
	(void)c;
	if (!no_args(args, err))
		return NULL;
	return qmp_version();
}

static json_t *cmd_query_commands(void *c, json_t *args, struct qmp_err *err)
{
	json_t *list;

	(void)c;
	if (!no_args(args, err))
		return NULL;
	list = json_array();
	json_array_append_new(list, json_pack("{s:s}", "name", "qmp_capabilities"));
	for (size_t i = 0; list && i < qmp_ncommands; i++)
		json_array_append_new(list, json_pack("{s:s}", "name", qmp_commands[i].name));
	return list;
}

const struct qmp_cmd qmp_commands[] = {
	{ "query-migrate", cmd_query_migrate },
	{ "query-migrate-capabilities", cmd_query_caps },
	{ "migrate-set-capabilities", cmd_set_caps },
	{ "query-migrate-parameters", cmd_query_params },
	{ "migrate-set-parameters", cmd_set_params },
	{ "migrate", cmd_migrate },
	{ "migrate-incoming", cmd_migrate_incoming },
	{ "migrate_cancel", cmd_cancel },
	{ "migrate-incoming-resolve", cmd_resolve },
	{ "query-status", cmd_query_status },
	{ "stop", cmd_stop },
	{ "cont", cmd_cont },
	{ "quit", cmd_quit },
	{ "query-version", cmd_query_version },
	{ "query-commands", cmd_query_commands },
};
const size_t qmp_ncommands = ARRAY_LEN(qmp_commands);
