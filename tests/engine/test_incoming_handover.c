/* SPDX-License-Identifier: MIT */
/*
 * The destination's side of the hand-over (docs/switchover.md), driven by
 * a scripted source over a socketpair: it starts the workload only on
 * COMMIT, discards on ABORT, and when the decision never comes it is in
 * doubt, keeps the memory, and a resolve ends it exactly once.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <rmig/rmig.h>

#include "common/engine/format.h"
#include "common/engine/handover.h"
#include "common/engine/incoming.h"
#include "common/engine/stream.h"
#include "common/engine/transports.h"
#include "common/ram/checksum.h"
#include "common/ram/ram.h"
#include "tests/support/memconn.h"
#include "tests/support/test_quiet.h"

#define BLOCK_LEN (16 * 4096)

static uint8_t src_mem[BLOCK_LEN];

/* The whole stream a source sends for one block of DATA pages, trailer included. */
static uint8_t *make_stream(size_t *len)
{
	struct rmig_conn *c = rmig_memconn_new(NULL, 0, 0);
	struct rmig_record data = {.type = RMIG_REC_DATA, .npages = 16};
	struct rmig_record eor = {.type = RMIG_REC_EOR, .arg = 1};
	struct rmig_record eos = {.type = RMIG_REC_EOS};
	struct rmig_ram ram;
	struct rmig_stream s;
	const uint8_t *out;
	uint64_t sum;
	uint8_t *copy;

	for (size_t i = 0; i < sizeof(src_mem); i++)
		src_mem[i] = (uint8_t)(i * 7 + 1);
	rmig_ram_init(&ram);
	assert_int_equal(rmig_ram_add(&ram, "pc.ram", src_mem, BLOCK_LEN, 4096, NULL), 0);
	assert_int_equal(rmig_stream_init(&s, c, 0), 0);
	assert_int_equal(rmig_format_write_header(&s, RMIG_STREAM_F_VERIFY, &ram), 0);
	assert_int_equal(rmig_format_write_record(&s, &data), 0);
	assert_int_equal(rmig_stream_write(&s, src_mem, BLOCK_LEN), 0);
	assert_int_equal(rmig_format_write_record(&s, &eor), 0);
	assert_int_equal(rmig_format_write_record(&s, &eos), 0);
	rmig_ram_checksums(&ram, &sum);
	assert_int_equal(rmig_format_write_trailer(&s, RMIG_STREAM_F_VERIFY, &sum, 1), 0);
	assert_int_equal(rmig_stream_flush(&s), 0);
	out = rmig_memconn_written(c, len);
	copy = malloc(*len);
	assert_non_null(copy);
	memcpy(copy, out, *len);
	rmig_stream_fini(&s);
	rmig_memconn_free(c);
	rmig_ram_fini(&ram);
	return copy;
}

struct dest {
	struct rmig_ram *ram;
	struct rmig_incoming *in;
	pthread_t thread;
	int ret;
	int starts;
};

static void on_start(void *opaque)
{
	((struct dest *)opaque)->starts++;
}

static void *dest_run(void *opaque)
{
	struct dest *d = opaque;

	d->ret = rmig_incoming_run(d->in, 5000);
	return NULL;
}

/* Start a destination on one end of a socketpair; returns the source's end. */
static int dest_start(struct dest *d)
{
	char uri[32];
	int sv[2];

	memset(d, 0, sizeof(*d));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	d->ram = rmig_ram_new();
	d->in = rmig_incoming_new(d->ram);
	assert_non_null(d->in);
	rmig_incoming_set_start(d->in, on_start, d);
	assert_int_equal(rmig_incoming_set_param(d->in, "peer-timeout", "300"), 0);
	snprintf(uri, sizeof(uri), "fd:%d", sv[1]);
	assert_int_equal(rmig_incoming_listen(d->in, uri), 0);
	assert_int_equal(pthread_create(&d->thread, NULL, dest_run, d), 0);
	return sv[0];
}

/* Send the stream and take the destination's RESULT, as a source does. */
static void source_send_all(int fd)
{
	uint8_t msg[RMIG_HANDOVER_SIZE];
	enum rmig_handover_kind kind;
	size_t len, off = 0;
	uint8_t *stream = make_stream(&len);
	int status;

	while (off < len) {
		ssize_t n = write(fd, stream + off, len - off);

		assert_true(n > 0);
		off += (size_t)n;
	}
	free(stream);
	assert_int_equal(read(fd, msg, sizeof(msg)), (ssize_t)sizeof(msg));
	assert_int_equal(rmig_handover_decode(msg, &kind, &status), 0);
	assert_int_equal(kind, RMIG_HANDOVER_RESULT);
	assert_int_equal(status, 0);
}

static void source_say(int fd, enum rmig_handover_kind kind)
{
	uint8_t msg[RMIG_HANDOVER_SIZE];

	rmig_handover_encode(msg, kind, 0);
	assert_int_equal(write(fd, msg, sizeof(msg)), (ssize_t)sizeof(msg));
}

static void dest_finish(struct dest *d)
{
	rmig_incoming_free(d->in);
	rmig_ram_free(d->ram);
}

static void test_commit_starts(void **state)
{
	struct dest d;
	int fd = dest_start(&d);

	(void)state;
	source_send_all(fd);
	source_say(fd, RMIG_HANDOVER_COMMIT);
	pthread_join(d.thread, NULL);
	assert_int_equal(d.ret, 0);
	assert_int_equal(d.starts, 1);
	assert_int_equal(rmig_incoming_get_state(d.in), RMIG_STATE_COMPLETED);
	assert_memory_equal(rmig_ramblock_get_host(rmig_ram_get_block(d.ram, 0)), src_mem,
			    BLOCK_LEN);
	close(fd);
	dest_finish(&d);
}

static void test_abort_discards(void **state)
{
	struct rmig_info info;
	struct dest d;
	int fd = dest_start(&d);

	(void)state;
	source_send_all(fd);
	source_say(fd, RMIG_HANDOVER_ABORT);
	pthread_join(d.thread, NULL);
	assert_int_equal(d.ret, -ECONNABORTED);
	assert_int_equal(d.starts, 0);
	rmig_incoming_query(d.in, &info);
	assert_int_equal(info.status, RMIG_STATE_FAILED);
	assert_non_null(strstr(info.error_desc, "source kept the workload"));
	close(fd);
	dest_finish(&d);
}

static void test_lost_commit_in_doubt(void **state)
{
	struct rmig_info info;
	struct dest d;
	int fd = dest_start(&d);

	(void)state;
	source_send_all(fd);
	/* The source goes silent: no COMMIT, no ABORT, the connection stays open. */
	pthread_join(d.thread, NULL);
	assert_int_equal(d.ret, -EINPROGRESS);
	assert_int_equal(d.starts, 0);
	rmig_incoming_query(d.in, &info);
	assert_int_equal(info.status, RMIG_STATE_IN_DOUBT);
	assert_non_null(strstr(info.error_desc, "peer-timeout passed"));
	assert_non_null(strstr(info.error_desc, "rmig_incoming_resolve"));
	/* The memory is kept for the operator's decision. */
	assert_memory_equal(rmig_ramblock_get_host(rmig_ram_get_block(d.ram, 0)), src_mem,
			    BLOCK_LEN);
	assert_int_equal(rmig_incoming_resolve(d.in, true), 0);
	assert_int_equal(d.starts, 1);
	assert_int_equal(rmig_incoming_get_state(d.in), RMIG_STATE_COMPLETED);
	/* Exactly once. */
	assert_int_equal(rmig_incoming_resolve(d.in, true), -EBUSY);
	assert_int_equal(rmig_incoming_resolve(d.in, false), -EBUSY);
	assert_int_equal(d.starts, 1);
	close(fd);
	dest_finish(&d);
}

static void test_hangup_in_doubt_then_discard(void **state)
{
	struct dest d;
	int fd = dest_start(&d);

	(void)state;
	source_send_all(fd);
	close(fd); /* a source that died after its commit looks exactly like this */
	pthread_join(d.thread, NULL);
	assert_int_equal(d.ret, -EINPROGRESS);
	assert_int_equal(rmig_incoming_get_state(d.in), RMIG_STATE_IN_DOUBT);
	assert_int_equal(rmig_incoming_resolve(d.in, false), 0);
	assert_int_equal(d.starts, 0);
	assert_int_equal(rmig_incoming_get_state(d.in), RMIG_STATE_FAILED);
	dest_finish(&d);
}

/*
 * A cancel before the run (state none, nothing to swap yet) ends the run
 * cancelled, not failed without a reason.
 */
static void test_cancel_before_run(void **state)
{
	struct rmig_ram *ram = rmig_ram_new();
	struct rmig_incoming *in = rmig_incoming_new(ram);
	struct rmig_info info;
	char uri[32];
	int sv[2];

	(void)state;
	assert_non_null(in);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	snprintf(uri, sizeof(uri), "fd:%d", sv[1]);
	assert_int_equal(rmig_incoming_listen(in, uri), 0);
	rmig_incoming_cancel(in);
	assert_int_equal(rmig_incoming_get_state(in), RMIG_STATE_NONE);
	assert_int_equal(rmig_incoming_run(in, 5000), -ECANCELED);
	rmig_incoming_query(in, &info);
	assert_int_equal(info.status, RMIG_STATE_CANCELLED);
	close(sv[0]);
	rmig_incoming_free(in);
	rmig_ram_free(ram);
}

/* A failure without a cancel says why: no "failed" with an empty reason. */
static void test_failure_has_reason(void **state)
{
	struct rmig_info info;
	struct dest d;
	int fd = dest_start(&d);

	(void)state;
	assert_int_equal(write(fd, "not a migration stream", 22), 22);
	close(fd);
	pthread_join(d.thread, NULL);
	assert_true(d.ret < 0);
	rmig_incoming_query(d.in, &info);
	assert_int_equal(info.status, RMIG_STATE_FAILED);
	assert_true(info.error_desc[0] != '\0');
	dest_finish(&d);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_quiet_transports, teardown_quiet)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_commit_starts),
	    T(test_abort_discards),
	    T(test_lost_commit_in_doubt),
	    T(test_hangup_in_doubt_then_discard),
	    T(test_cancel_before_run),
	    T(test_failure_has_reason),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
