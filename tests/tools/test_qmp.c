/* SPDX-License-Identifier: MIT */
/*
 * The QMP monitor's logic without a socket: the value splitter, the
 * protocol (negotiation, request shape, id echo) and the commands'
 * rules, against a fake target that records what it was asked to do.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rmig/log.h>

#include "tools/qmp/commands.h"
#include "tools/qmp/proto.h"
#include "tools/qmp/stream.h"

/* ---- the splitter ----------------------------------------------------- */

struct collected {
	char values[8][256];
	unsigned nvalues;
	char errors[8][128];
	unsigned nerrors;
};

static void on_value(void *opaque, const char *text, size_t len)
{
	struct collected *c = opaque;

	assert_true(c->nvalues < 8);
	assert_true(len < sizeof(c->values[0]));
	memcpy(c->values[c->nvalues], text, len);
	c->values[c->nvalues++][len] = '\0';
}

static void on_error(void *opaque, const char *desc)
{
	struct collected *c = opaque;

	assert_true(c->nerrors < 8);
	snprintf(c->errors[c->nerrors++], sizeof(c->errors[0]), "%s", desc);
}

static const struct qmp_stream_ops ops = { .value = on_value, .error = on_error };

static void feed(struct qmp_stream *s, struct collected *c, const char *text)
{
	assert_int_equal(qmp_stream_feed(s, text, strlen(text), &ops, c), 0);
}

static void test_values_without_framing(void **state)
{
	struct qmp_stream s;
	struct collected c = { 0 };

	(void)state;
	qmp_stream_init(&s);
	/* Back to back, no newline (QEMU's Python library), then one with "\r\n" (libvirt). */
	feed(&s, &c, "{\"execute\":\"a\"}{\"execute\":\"b\"}\r\n  {\"execute\":\"c\"}\r\n");
	assert_int_equal(c.nvalues, 3);
	assert_string_equal(c.values[1], "{\"execute\":\"b\"}");
	assert_int_equal(c.nerrors, 0);
	qmp_stream_fini(&s);
}

static void test_value_split_byte_by_byte(void **state)
{
	const char *msg = "{\"execute\":\"x\",\"arguments\":{\"uri\":\"tcp:[::1]:5\"}}";
	struct qmp_stream s;
	struct collected c = { 0 };

	(void)state;
	qmp_stream_init(&s);
	for (size_t i = 0; msg[i]; i++) {
		assert_int_equal(c.nvalues, 0);
		assert_int_equal(qmp_stream_feed(&s, &msg[i], 1, &ops, &c), 0);
	}
	assert_int_equal(c.nvalues, 1);
	assert_string_equal(c.values[0], msg);
	qmp_stream_fini(&s);
}

static void test_brackets_inside_strings(void **state)
{
	struct qmp_stream s;
	struct collected c = { 0 };

	(void)state;
	qmp_stream_init(&s);
	/* A closing brace and an escaped quote inside strings must not end the value. */
	feed(&s, &c, "{\"id\":\"}]\\\"{\",\"execute\":\"q\"}");
	assert_int_equal(c.nvalues, 1);
	assert_string_equal(c.values[0], "{\"id\":\"}]\\\"{\",\"execute\":\"q\"}");
	qmp_stream_fini(&s);
}

static void test_scalars_and_stray_closers(void **state)
{
	struct qmp_stream s;
	struct collected c = { 0 };

	(void)state;
	qmp_stream_init(&s);
	feed(&s, &c, "42 \"str\" } true{}");
	assert_int_equal(c.nvalues, 4);
	assert_string_equal(c.values[0], "42");
	assert_string_equal(c.values[1], "\"str\"");
	assert_string_equal(c.values[2], "true");
	assert_string_equal(c.values[3], "{}");
	assert_int_equal(c.nerrors, 1);
	assert_non_null(strstr(c.errors[0], "stray '}'"));
	qmp_stream_fini(&s);
}

static void test_depth_limit_skips_the_value(void **state)
{
	struct qmp_stream s;
	struct collected c = { 0 };
	char deep[2 * 200 + 1];

	(void)state;
	qmp_stream_init(&s);
	memset(deep, '[', 200);
	memset(deep + 200, ']', 200);
	deep[400] = '\0';
	feed(&s, &c, deep);
	feed(&s, &c, "{\"ok\":1}");
	/* One error, said once, and the next value is whole. */
	assert_int_equal(c.nerrors, 1);
	assert_non_null(strstr(c.errors[0], "deeper than 64"));
	assert_int_equal(c.nvalues, 1);
	assert_string_equal(c.values[0], "{\"ok\":1}");
	qmp_stream_fini(&s);
}

static void test_size_limit_bounds_memory(void **state)
{
	size_t chunk = 1 << 16, total = 0;
	struct qmp_stream s;
	struct collected c = { 0 };
	char *junk = malloc(chunk);

	(void)state;
	assert_non_null(junk);
	memset(junk, 'a', chunk);
	qmp_stream_init(&s);
	feed(&s, &c, "{\"execute\":\"");
	/* 8 MiB of one string: an error once past 1 MiB, and the buffer never grows past it. */
	for (total = 0; total < (8u << 20); total += chunk)
		assert_int_equal(qmp_stream_feed(&s, junk, chunk, &ops, &c), 0);
	assert_int_equal(c.nerrors, 1);
	assert_non_null(strstr(c.errors[0], "exceeds"));
	assert_true(s.cap <= QMP_STREAM_MAX_BYTES);
	feed(&s, &c, "\"}{\"execute\":\"next\"}");
	assert_int_equal(c.nvalues, 1);
	assert_string_equal(c.values[0], "{\"execute\":\"next\"}");
	qmp_stream_fini(&s);
	free(junk);
}

/* ---- a fake target ---------------------------------------------------- */

struct fake {
	enum qmp_role role;
	enum rmig_state state;
	struct rmig_params params;
	unsigned set_param_calls, migrate_calls, incoming_calls, cancel_calls, resolve_calls;
	char last_uri[64];
	bool quit;
	int resolve_rc;
};

static enum qmp_role f_role(void *t)
{
	return ((struct fake *)t)->role;
}

static void f_query(void *t, struct rmig_info *info)
{
	memset(info, 0, sizeof(*info));
	info->status = ((struct fake *)t)->state;
}

static void f_get_params(void *t, struct rmig_params *p)
{
	*p = ((struct fake *)t)->params;
}

static int f_set_cap(void *t, enum rmig_capability cap, bool on)
{
	((struct fake *)t)->params.caps[cap] = on;
	return 0;
}

static int f_set_param(void *t, const char *name, const char *value)
{
	struct fake *f = t;

	f->set_param_calls++;
	return rmig_params_set(&f->params, name, value);
}

static int f_migrate(void *t, const char *uri)
{
	struct fake *f = t;

	f->migrate_calls++;
	snprintf(f->last_uri, sizeof(f->last_uri), "%s", uri);
	return 0;
}

static int f_incoming(void *t, const char *uri)
{
	struct fake *f = t;

	f->incoming_calls++;
	snprintf(f->last_uri, sizeof(f->last_uri), "%s", uri);
	return 0;
}

static int f_cancel(void *t)
{
	((struct fake *)t)->cancel_calls++;
	return 0;
}

static int f_resolve(void *t, bool start)
{
	struct fake *f = t;

	(void)start;
	f->resolve_calls++;
	if (f->resolve_rc)
		rmig_error("incoming: nothing to resolve");
	return f->resolve_rc;
}

static void f_run_status(void *t, struct qmp_run_status *st)
{
	(void)t;
	st->running = true;
	st->status = "running";
}

static int f_stop(void *t)
{
	(void)t;
	return 0;
}

static void f_quit(void *t)
{
	((struct fake *)t)->quit = true;
}

static const struct qmp_target_ops fake_ops = {
	.role = f_role,
	.query = f_query,
	.get_params = f_get_params,
	.set_cap = f_set_cap,
	.set_param = f_set_param,
	.migrate = f_migrate,
	.incoming = f_incoming,
	.cancel = f_cancel,
	.resolve = f_resolve,
	.run_status = f_run_status,
	.stop = f_stop,
	.cont = f_stop,
	.quit = f_quit,
};

struct rig {
	struct fake fake;
	struct qmp_ctx ctx;
	struct qmp_session session;
};

static void rig_init(struct rig *r, enum qmp_role role, bool negotiate)
{
	memset(r, 0, sizeof(*r));
	r->fake.role = role;
	rmig_params_init(&r->fake.params);
	r->ctx.ops = &fake_ops;
	r->ctx.target = &r->fake;
	atomic_store(&r->ctx.events, true);
	qmp_session_init(&r->session, qmp_commands, qmp_ncommands, &r->ctx);
	r->session.negotiated = negotiate;
}

/* Send one request, return the reply as compact JSON (caller frees). */
static char *ask(struct rig *r, const char *req)
{
	json_t *reply = qmp_session_handle(&r->session, req, strlen(req));
	char *text;

	assert_non_null(reply);
	text = json_dumps(reply, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(reply);
	assert_non_null(text);
	return text;
}

static void expect(struct rig *r, const char *req, const char *needle)
{
	char *reply = ask(r, req);

	if (!strstr(reply, needle))
		fail_msg("request %s: expected a reply containing %s, got %s", req, needle, reply);
	free(reply);
}

/* ---- the protocol ----------------------------------------------------- */

static void test_negotiation(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, QMP_ROLE_SOURCE, false);
	expect(&r, "{\"execute\":\"query-status\"}",
	       "\"class\":\"CommandNotFound\",\"desc\":\"Expecting capabilities negotiation");
	expect(&r, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]}}",
	       "Capability 'oob' not available");
	assert_false(r.session.negotiated);
	expect(&r, "{\"execute\":\"qmp_capabilities\",\"id\":7}", "{\"id\":7,\"return\":{}}");
	expect(&r, "{\"execute\":\"qmp_capabilities\"}", "already complete");
	expect(&r, "{\"execute\":\"query-status\"}", "\"status\":\"running\"");
}

static void test_request_shape(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, QMP_ROLE_SOURCE, true);
	expect(&r, "[1]", "QMP input must be a JSON object");
	expect(&r, "{\"id\":1}", "lacks member 'execute'");
	expect(&r, "{\"execute\":1}", "'execute' must be a string");
	expect(&r, "{\"execute\":\"stop\",\"arguments\":[]}", "'arguments' must be an object");
	expect(&r, "{\"execute\":\"stop\",\"x\":1}", "member 'x' is unexpected");
	expect(&r, "{\"execute\":\"nope\"}", "\"class\":\"CommandNotFound\"");
	expect(&r, "{\"execute\": }", "JSON parse error");
	expect(&r, "{\"execute\":\"stop\",\"execute\":\"cont\"}", "JSON parse error");
	/* The id comes back verbatim, whatever it is, on errors too. */
	expect(&r, "{\"execute\":\"nope\",\"id\":{\"a\":[1,\"b\"]}}", "\"id\":{\"a\":[1,\"b\"]}");
	expect(&r, "{\"execute\":\"stop\",\"id\":\"s1\"}", "{\"id\":\"s1\",\"return\":{}}");
}

/*
 * jansson will not build a string that is not UTF-8: a description that
 * quotes raw or cut bytes must still make a reply, or the client waits for
 * an answer that never comes.
 */
static void test_error_replies_from_raw_bytes(void **state)
{
	char name[1024], req[1200];
	struct rig r;
	size_t i;

	(void)state;
	rig_init(&r, QMP_ROLE_SOURCE, true);
	/* The parse error quotes the raw bytes after a bad escape. */
	expect(&r, "{\"execute\":\"a\\\xd8\x8f" "b\"}", "JSON parse error");
	expect(&r, "{\"execute\":\"\xff\xfe\"}", "JSON parse error");
	/* A valid name of two-byte characters, cut mid-character by the desc buffer. */
	for (i = 0; i + 2 < sizeof(name); i += 2)
		memcpy(name + i, "\xc3\xa9", 2);
	name[i] = '\0';
	snprintf(req, sizeof(req), "{\"execute\":\"x%s\"}", name);
	expect(&r, req, "\"class\":\"CommandNotFound\"");
	snprintf(req, sizeof(req), "{\"execute\":\"%s\"}", name);
	expect(&r, req, "\"class\":\"CommandNotFound\"");
}

static void test_arguments_checked(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, QMP_ROLE_SOURCE, true);
	expect(&r, "{\"execute\":\"migrate\"}", "Parameter 'uri' is missing");
	expect(&r, "{\"execute\":\"migrate\",\"arguments\":{\"uri\":5}}",
	       "Invalid parameter type for 'uri', expected: string");
	expect(&r, "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:h:1\",\"blk\":true}}",
	       "Parameter 'blk' is unexpected");
	expect(&r, "{\"execute\":\"query-migrate\",\"arguments\":{\"x\":1}}",
	       "Parameter 'x' is unexpected");
	assert_int_equal(r.fake.migrate_calls, 0);
	expect(&r, "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:h:1\",\"detach\":true}}",
	       "\"return\":{}");
	assert_int_equal(r.fake.migrate_calls, 1);
	assert_string_equal(r.fake.last_uri, "tcp:h:1");
}

/* ---- the commands' rules ---------------------------------------------- */

static void test_set_parameters_all_or_nothing(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, QMP_ROLE_SOURCE, true);
	/* The second is out of range: the first must not have been applied. */
	expect(&r,
	       "{\"execute\":\"migrate-set-parameters\",\"arguments\":"
	       "{\"max-bandwidth\":1000,\"downtime-limit\":0}}",
	       "downtime-limit 0 is out of range");
	assert_int_equal(r.fake.set_param_calls, 0);
	assert_int_equal(r.fake.params.max_bandwidth, 0);
	expect(&r, "{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"downtime-limit\":-5}}",
	       "0 or more");
	expect(&r, "{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"bogus\":1}}",
	       "Parameter 'bogus' is unexpected");
	expect(&r,
	       "{\"execute\":\"migrate-set-parameters\",\"arguments\":"
	       "{\"max-bandwidth\":1000,\"downtime-limit\":77}}",
	       "\"return\":{}");
	assert_int_equal(r.fake.params.max_bandwidth, 1000);
	assert_int_equal(r.fake.params.downtime_limit_ms, 77);
	expect(&r, "{\"execute\":\"query-migrate-parameters\"}",
	       "\"downtime-limit\":77");
	/* The tls-* ones are text, as QEMU's tls-creds is. */
	expect(&r, "{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"tls-creds\":5}}",
	       "Invalid parameter type for 'tls-creds', expected: string");
	expect(&r,
	       "{\"execute\":\"migrate-set-parameters\",\"arguments\":"
	       "{\"tls-creds\":\"/etc/rmig/pki\",\"tls-hostname\":\"dst.example\"}}",
	       "\"return\":{}");
	assert_string_equal(r.fake.params.tls_creds, "/etc/rmig/pki");
	expect(&r, "{\"execute\":\"query-migrate-parameters\"}",
	       "\"tls-hostname\":\"dst.example\"");
	/* A NUL inside a string never reaches a parameter: the parser refuses it. */
	expect(&r, "{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"tls-psk\":\"a\\u0000b\"}}",
	       "JSON parse error");
}

static void test_live_parameters_while_active(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, QMP_ROLE_SOURCE, true);
	r.fake.state = RMIG_STATE_ACTIVE;
	expect(&r,
	       "{\"execute\":\"migrate-set-parameters\",\"arguments\":"
	       "{\"max-bandwidth\":5000,\"peer-timeout\":2000}}",
	       "Parameter 'peer-timeout' cannot change while a migration is active");
	assert_int_equal(r.fake.set_param_calls, 0);
	expect(&r, "{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"max-bandwidth\":5000}}",
	       "\"return\":{}");
	assert_int_equal(r.fake.params.max_bandwidth, 5000);
	expect(&r,
	       "{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":"
	       "[{\"capability\":\"auto-converge\",\"state\":true}]}}",
	       "cannot change once a migration has started (state active)");
	assert_false(r.fake.params.caps[RMIG_CAP_AUTO_CONVERGE]);
}

static void test_capabilities(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, QMP_ROLE_SOURCE, true);
	/* An unknown one in the list: none of the list is applied. */
	expect(&r,
	       "{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":"
	       "[{\"capability\":\"auto-converge\",\"state\":true},"
	       "{\"capability\":\"x-bogus\",\"state\":true}]}}",
	       "Capability 'x-bogus' is unknown");
	assert_false(r.fake.params.caps[RMIG_CAP_AUTO_CONVERGE]);
	expect(&r,
	       "{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":"
	       "[{\"capability\":\"auto-converge\",\"state\":\"yes\"}]}}",
	       "Invalid parameter type for 'state', expected: boolean");
	expect(&r,
	       "{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":"
	       "[{\"capability\":\"auto-converge\",\"state\":true},"
	       "{\"capability\":\"events\",\"state\":false}]}}",
	       "\"return\":{}");
	assert_true(r.fake.params.caps[RMIG_CAP_AUTO_CONVERGE]);
	assert_false(atomic_load(&r.ctx.events));
	expect(&r, "{\"execute\":\"query-migrate-capabilities\"}",
	       "{\"capability\":\"auto-converge\",\"state\":true}");
}

static void test_roles(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, QMP_ROLE_DEST, true);
	expect(&r, "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:h:1\"}}",
	       "this is a destination");
	assert_int_equal(r.fake.migrate_calls, 0);
	expect(&r, "{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"tcp:0:0\"}}",
	       "\"return\":{}");
	assert_int_equal(r.fake.incoming_calls, 1);
	r.fake.resolve_rc = -EBUSY;
	expect(&r, "{\"execute\":\"migrate-incoming-resolve\",\"arguments\":{\"start\":true}}",
	       "nothing to resolve");
	expect(&r, "{\"execute\":\"migrate-incoming-resolve\",\"arguments\":{\"start\":1}}",
	       "expected: boolean");
	assert_int_equal(r.fake.resolve_calls, 1);

	rig_init(&r, QMP_ROLE_SOURCE, true);
	expect(&r, "{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"tcp:0:0\"}}",
	       "this is a source");
	expect(&r, "{\"execute\":\"migrate-incoming-resolve\",\"arguments\":{\"start\":true}}",
	       "only a destination can be in doubt");
	expect(&r, "{\"execute\":\"migrate_cancel\"}", "\"return\":{}");
	assert_int_equal(r.fake.cancel_calls, 1);
	expect(&r, "{\"execute\":\"quit\"}", "\"return\":{}");
	assert_true(r.fake.quit);
}

static void test_query_commands_lists_every_command(void **state)
{
	struct rig r;
	char *reply;

	(void)state;
	rig_init(&r, QMP_ROLE_SOURCE, true);
	reply = ask(&r, "{\"execute\":\"query-commands\"}");
	for (size_t i = 0; i < qmp_ncommands; i++) {
		char name[80];

		snprintf(name, sizeof(name), "{\"name\":\"%s\"}", qmp_commands[i].name);
		assert_non_null(strstr(reply, name));
	}
	free(reply);
}

static void discard(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_without_framing),
		cmocka_unit_test(test_value_split_byte_by_byte),
		cmocka_unit_test(test_brackets_inside_strings),
		cmocka_unit_test(test_scalars_and_stray_closers),
		cmocka_unit_test(test_depth_limit_skips_the_value),
		cmocka_unit_test(test_size_limit_bounds_memory),
		cmocka_unit_test(test_negotiation),
		cmocka_unit_test(test_request_shape),
		cmocka_unit_test(test_error_replies_from_raw_bytes),
		cmocka_unit_test(test_arguments_checked),
		cmocka_unit_test(test_set_parameters_all_or_nothing),
		cmocka_unit_test(test_live_parameters_while_active),
		cmocka_unit_test(test_capabilities),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_query_commands_lists_every_command),
	};

	/* Refusals are the point here; their log lines would only be noise. */
	rmig_log_set_sink(discard, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
