/* SPDX-License-Identifier: MIT */
/*
 * QMP requests and replies (see proto.h).  The wording of every error
 * follows QEMU's, so tools that match on it keep working.
 */
#include "tools/qmp/proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "rmig-config.h"

/* Length of the well-formed UTF-8 sequence at @p, as jansson judges it, or 0. */
static size_t utf8_len(const unsigned char *p)
{
	uint32_t cp, min;
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0)
		n = 2, cp = p[0] & 0x1f, min = 0x80;
	else if ((p[0] & 0xf0) == 0xe0)
		n = 3, cp = p[0] & 0x0f, min = 0x800;
	else if ((p[0] & 0xf8) == 0xf0)
		n = 4, cp = p[0] & 0x07, min = 0x10000;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) /* the terminating NUL stops here too */
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * A description quotes whatever the client sent, and jansson's parse
 * errors quote raw input bytes; a fixed buffer may also cut a character in
 * half.  jansson refuses to build a string that is not UTF-8, and a reply
 * that cannot be built is a command left unanswered, so every byte that
 * is not part of a well-formed character becomes '?'.
 */
static void utf8_scrub(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		size_t n = utf8_len(p);

		if (n)
			p += n;
		else
			*p++ = '?';
	}
}

void qmp_err_set(struct qmp_err *err, const char *cls, const char *fmt, ...)
{
	va_list ap;

	err->cls = cls;
	va_start(ap, fmt);
	vsnprintf(err->desc, sizeof(err->desc), fmt, ap);
	va_end(ap);
	utf8_scrub(err->desc);
}

void qmp_session_init(struct qmp_session *s, const struct qmp_cmd *cmds, size_t ncmds, void *ctx)
{
	s->cmds = cmds;
	s->ncmds = ncmds;
	s->ctx = ctx;
	s->negotiated = false;
}

/* rmig's own version where QEMU puts its own: "0.2.0" -> 0, 2, 0. */
json_t *qmp_version(void)
{
	unsigned major = 0, minor = 0, micro = 0;

	sscanf(RMIG_VERSION, "%u.%u.%u", &major, &minor, &micro);
	return json_pack("{s:{s:i,s:i,s:i},s:s}", "qemu", "major", (json_int_t)major, "minor",
			 (json_int_t)minor, "micro", (json_int_t)micro, "package", "rmig " RMIG_VERSION);
}

json_t *qmp_greeting(void)
{
	/* No capability offered: rmig has no out-of-band execution. */
	return json_pack("{s:{s:o,s:[]}}", "QMP", "version", qmp_version(), "capabilities");
}

json_t *qmp_error_reply(const char *cls, const char *desc, json_t *id)
{
	json_t *r = json_pack("{s:{s:s,s:s}}", "error", "class", cls, "desc", desc);

	if (!r) {
		char *clean = strdup(desc);

		if (clean) {
			utf8_scrub(clean);
			r = json_pack("{s:{s:s,s:s}}", "error", "class", cls, "desc", clean);
			free(clean);
		}
	}

	if (r && id)
		json_object_set(r, "id", id);
	return r;
}

int64_t qmp_now_usec(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

json_t *qmp_event_new_at(const char *name, json_t *data, int64_t usec)
{
	return json_pack("{s:s,s:o,s:{s:I,s:I}}", "event", name, "data",
			 data ? data : json_object(), "timestamp", "seconds",
			 (json_int_t)(usec / 1000000), "microseconds", (json_int_t)(usec % 1000000));
}

json_t *qmp_event_new(const char *name, json_t *data)
{
	return qmp_event_new_at(name, data, qmp_now_usec());
}

static const char *type_name(enum qmp_type t)
{
	switch (t) {
	case QMP_T_STR:
		return "string";
	case QMP_T_INT:
		return "integer";
	case QMP_T_BOOL:
		return "boolean";
	case QMP_T_ARRAY:
		return "array";
	}
	return "?";
}

static bool type_ok(json_t *v, enum qmp_type t)
{
	switch (t) {
	case QMP_T_STR:
		return json_is_string(v);
	case QMP_T_INT:
		return json_is_integer(v);
	case QMP_T_BOOL:
		return json_is_boolean(v);
	case QMP_T_ARRAY:
		return json_is_array(v);
	}
	return false;
}

int qmp_args_check(json_t *args, const struct qmp_arg *spec, size_t n, struct qmp_err *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(args, key, v) {
		size_t i;

		for (i = 0; i < n && strcmp(spec[i].name, key) != 0; i++)
			;
		if (i == n) {
			qmp_err_set(err, QMP_ERR_GENERIC, "Parameter '%s' is unexpected", key);
			return -EINVAL;
		}
		if (!type_ok(v, spec[i].type)) {
			qmp_err_set(err, QMP_ERR_GENERIC, "Invalid parameter type for '%s', expected: %s",
				    key, type_name(spec[i].type));
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (spec[i].required && !json_object_get(args, spec[i].name)) {
			qmp_err_set(err, QMP_ERR_GENERIC, "Parameter '%s' is missing", spec[i].name);
			return -EINVAL;
		}
	}
	return 0;
}

/* The request's shape, as QEMU checks it before looking at the command. */
static int check_request(json_t *req, struct qmp_err *err)
{
	const char *key;
	json_t *v;

	if (!json_is_object(req)) {
		qmp_err_set(err, QMP_ERR_GENERIC, "QMP input must be a JSON object");
		return -EINVAL;
	}
	json_object_foreach(req, key, v) {
		if (strcmp(key, "execute") == 0) {
			if (!json_is_string(v)) {
				qmp_err_set(err, QMP_ERR_GENERIC,
					    "QMP input member 'execute' must be a string");
				return -EINVAL;
			}
		} else if (strcmp(key, "arguments") == 0) {
			if (!json_is_object(v)) {
				qmp_err_set(err, QMP_ERR_GENERIC,
					    "QMP input member 'arguments' must be an object");
				return -EINVAL;
			}
		} else if (strcmp(key, "exec-oob") == 0) {
			qmp_err_set(err, QMP_ERR_GENERIC,
				    "QMP input member 'exec-oob' is unexpected: out-of-band "
				    "execution was not negotiated");
			return -EINVAL;
		} else if (strcmp(key, "id") != 0) {
			qmp_err_set(err, QMP_ERR_GENERIC, "QMP input member '%s' is unexpected", key);
			return -EINVAL;
		}
	}
	if (!json_object_get(req, "execute")) {
		qmp_err_set(err, QMP_ERR_GENERIC, "QMP input lacks member 'execute'");
		return -EINVAL;
	}
	return 0;
}

static json_t *negotiate(struct qmp_session *s, json_t *args, struct qmp_err *err)
{
	static const struct qmp_arg spec[] = { { "enable", QMP_T_ARRAY, false } };
	json_t *enable, *cap;
	size_t i;

	if (qmp_args_check(args, spec, 1, err))
		return NULL;
	enable = json_object_get(args, "enable");
	json_array_foreach(enable, i, cap) {
		qmp_err_set(err, QMP_ERR_GENERIC, "Capability '%s' not available",
			    json_is_string(cap) ? json_string_value(cap) : "?");
		return NULL;
	}
	s->negotiated = true;
	return json_object();
}

static json_t *dispatch(struct qmp_session *s, const char *name, json_t *args, struct qmp_err *err)
{
	if (strcmp(name, "qmp_capabilities") == 0) {
		if (s->negotiated) {
			qmp_err_set(err, QMP_ERR_NOT_FOUND,
				    "Capabilities negotiation is already complete, command ignored");
			return NULL;
		}
		return negotiate(s, args, err);
	}
	if (!s->negotiated) {
		qmp_err_set(err, QMP_ERR_NOT_FOUND,
			    "Expecting capabilities negotiation with 'qmp_capabilities'");
		return NULL;
	}
	for (size_t i = 0; i < s->ncmds; i++)
		if (strcmp(s->cmds[i].name, name) == 0)
			return s->cmds[i].fn(s->ctx, args, err);
	qmp_err_set(err, QMP_ERR_NOT_FOUND, "The command %s has not been found", name);
	return NULL;
}

json_t *qmp_session_handle(struct qmp_session *s, const char *text, size_t len)
{
	struct qmp_err err = { .cls = QMP_ERR_GENERIC, .desc = "" };
	json_error_t jerr;
	json_t *req, *args, *ret, *reply, *id = NULL;

	/* Depth and size were bounded by stream.c; strings may hold no NUL. */
	req = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!req) {
		qmp_err_set(&err, QMP_ERR_GENERIC, "JSON parse error, %s", jerr.text);
		return qmp_error_reply(err.cls, err.desc, NULL);
	}
	if (json_is_object(req))
		id = json_object_get(req, "id");
	if (check_request(req, &err)) {
		reply = qmp_error_reply(err.cls, err.desc, id);
		goto out_req;
	}
	args = json_object_get(req, "arguments");
	if (args)
		json_incref(args);
	else
		args = json_object();
	ret = args ? dispatch(s, json_string_value(json_object_get(req, "execute")), args, &err)
		   : NULL;
	json_decref(args);
	if (ret) {
		reply = json_pack("{s:o}", "return", ret);
		if (reply && id)
			json_object_set(reply, "id", id);
	} else {
		if (!err.desc[0])
			qmp_err_set(&err, QMP_ERR_GENERIC, "out of memory");
		reply = qmp_error_reply(err.cls, err.desc, id);
	}
out_req:
	json_decref(req);
	return reply;
}
