/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the QMP monitor's input path, as a hostile client
 * drives it.  Bytes go through the value splitter in chunks whose size the
 * input chooses (clients split commands anywhere), each value through the
 * protocol and the commands, against a fake target in a state the input
 * also chooses.  Every reply must be a JSON object holding exactly one of
 * "return" and "error", and an error must carry a class and a description.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#include "tools/qmp/commands.h"
#include "tools/qmp/proto.h"
#include "tools/qmp/stream.h"

struct fake {
	enum qmp_role role;
	enum rmig_state state;
	struct rmig_params params;
};

static enum qmp_role f_role(void *t)
{
	return ((struct fake *)t)->role;
}

static void f_query(void *t, struct rmig_info *info)
{
	memset(info, 0, sizeof(*info));
	info->status = ((struct fake *)t)->state;
	/* An error text with every byte value, as a peer could cause. */
	if (info->status == RMIG_STATE_FAILED)
		snprintf(info->error_desc, sizeof(info->error_desc), "peer said \"\x01\xff\"");
}

static void f_get_params(void *t, struct rmig_params *p)
{
	*p = ((struct fake *)t)->params;
}

static int f_set_cap(void *t, enum rmig_capability cap, bool on)
{
	if ((unsigned)cap >= RMIG_CAP__COUNT)
		abort(); /* the commands must have refused it */
	((struct fake *)t)->params.caps[cap] = on;
	return 0;
}

static int f_set_param(void *t, const char *name, const char *value)
{
	/* Checked on a copy first, so applying can no longer fail. */
	if (rmig_params_set(&((struct fake *)t)->params, name, value))
		abort();
	return 0;
}

static int f_uri(void *t, const char *uri)
{
	(void)t;
	return uri && *uri ? 0 : -EINVAL;
}

static int f_zero(void *t)
{
	(void)t;
	return 0;
}

static int f_resolve(void *t, bool start)
{
	(void)start;
	return ((struct fake *)t)->state == RMIG_STATE_IN_DOUBT ? 0 : -EBUSY;
}

static void f_run_status(void *t, struct qmp_run_status *st)
{
	(void)t;
	st->running = false;
	st->status = "paused";
}

static void f_quit(void *t)
{
	(void)t;
}

static const struct qmp_target_ops fake_ops = {
	.role = f_role,
	.query = f_query,
	.get_params = f_get_params,
	.set_cap = f_set_cap,
	.set_param = f_set_param,
	.migrate = f_uri,
	.incoming = f_uri,
	.cancel = f_zero,
	.resolve = f_resolve,
	.run_status = f_run_status,
	.stop = f_zero,
	.cont = f_zero,
	.quit = f_quit,
};

static void check_reply(json_t *reply)
{
	json_t *ret, *err;

	if (!reply)
		abort();
	ret = json_object_get(reply, "return");
	err = json_object_get(reply, "error");
	if (!json_is_object(reply) || !!ret == !!err)
		abort();
	if (err && (!json_is_string(json_object_get(err, "class")) ||
		    !json_is_string(json_object_get(err, "desc"))))
		abort();
	json_decref(reply);
}

struct run {
	struct qmp_session session;
};

static void on_value(void *opaque, const char *text, size_t len)
{
	struct run *r = opaque;

	check_reply(qmp_session_handle(&r->session, text, len));
}

static void on_error(void *opaque, const char *desc)
{
	(void)opaque;
	check_reply(qmp_error_reply(QMP_ERR_GENERIC, desc, NULL));
}

static const struct qmp_stream_ops stream_ops = { .value = on_value, .error = on_error };

static void discard(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fake fake = { 0 };
	struct qmp_ctx ctx = { .ops = &fake_ops, .target = &fake };
	struct qmp_stream s;
	struct run r;
	size_t chunk;

	rmig_log_set_sink(discard, NULL);
	if (size < 2)
		return 0;
	/* Byte 0: role and state; byte 1: chunk size (0: all at once). */
	fake.role = data[0] & 1 ? QMP_ROLE_DEST : QMP_ROLE_SOURCE;
	fake.state = (enum rmig_state)((data[0] >> 1) % RMIG_STATE__COUNT);
	chunk = data[1] ? data[1] : size;
	rmig_params_init(&fake.params);
	atomic_store(&ctx.events, true);
	qmp_session_init(&r.session, qmp_commands, qmp_ncommands, &ctx);
	check_reply(json_pack("{s:o}", "return", qmp_greeting()));
	qmp_stream_init(&s);
	for (size_t off = 2; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (qmp_stream_feed(&s, (const char *)data + off, n, &stream_ops, &r))
			abort();
	}
	qmp_stream_fini(&s);
	return 0;
}
