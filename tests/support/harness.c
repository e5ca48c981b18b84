/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/base/util.h"
#include "tests/support/harness.h"

static void *dest_thread_main(void *opaque)
{
	struct dest_thread *d = opaque;

	d->ret = rmig_incoming_run(d->in, 30000);
	return NULL;
}

void dest_thread_start(struct dest_thread *d, const char *uri)
{
	dest_thread_start_param(d, uri, NULL, NULL);
}

void dest_thread_start_param(struct dest_thread *d, const char *uri, const char *name,
			     const char *value)
{
	memset(d, 0, sizeof(*d));
	rmig_ram_init(&d->ram);
	d->in = rmig_incoming_new(&d->ram);
	assert_non_null(d->in);
	if (name)
		assert_int_equal(rmig_incoming_set_param(d->in, name, value), 0);
	assert_int_equal(rmig_incoming_listen(d->in, uri), 0);
	assert_true(rmig_incoming_get_uri(d->in, d->uri, sizeof(d->uri)) >= 0);
	assert_int_equal(pthread_create(&d->thread, NULL, dest_thread_main, d), 0);
}

int dest_thread_join(struct dest_thread *d)
{
	pthread_join(d->thread, NULL);
	return d->ret;
}

void dest_thread_fini(struct dest_thread *d)
{
	rmig_incoming_free(d->in);
	rmig_ram_fini(&d->ram);
}

void source_init(struct source *s, uint64_t ram_bytes, uint64_t dirty_rate, double zero_share)
{
	struct rmig_guest_config cfg;

	memset(s, 0, sizeof(*s));
	rmig_ram_init(&s->ram);
	rmig_guest_config_init(&cfg);
	cfg.nblocks = 1;
	cfg.block_size[0] = ram_bytes;
	cfg.dirty_rate = dirty_rate;
	cfg.zero_share = zero_share;
	cfg.seed = 42;
	assert_int_equal(rmig_guest_create(&cfg, &s->ram, &s->guest), 0);
	assert_int_equal(rmig_guest_start(s->guest), 0);
	s->emb = rmig_guest_embedder(s->guest);
	s->mig = rmig_migration_new(&s->ram, &s->emb);
	assert_non_null(s->mig);
}

void source_fini(struct source *s)
{
	rmig_migration_free(s->mig);
	rmig_guest_destroy(s->guest);
	rmig_ram_fini(&s->ram);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

bool wait_for_state(struct rmig_migration *m, enum rmig_state state, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 5) {
		enum rmig_state s = rmig_migration_get_state(m);

		if (s == state)
			return true;
		if (rmig_state_is_terminal(s))
			return false;
		sleep_ms(5);
	}
	return false;
}

bool wait_for_bytes(struct rmig_migration *m, uint64_t bytes, int timeout_ms)
{
	struct rmig_info info;

	for (int waited = 0; waited <= timeout_ms; waited += 5) {
		rmig_migration_query(m, &info);
		if (info.ram.transferred >= bytes)
			return true;
		if (rmig_state_is_terminal(info.status))
			return false;
		sleep_ms(5);
	}
	return false;
}

bool ram_equal(const struct rmig_ram *a, const struct rmig_ram *b)
{
	if (a->nblocks != b->nblocks)
		return false;
	for (uint32_t i = 0; i < a->nblocks; i++) {
		const struct rmig_ramblock *x = a->blocks[i], *y = b->blocks[i];

		if (x->length != y->length || strcmp(x->name, y->name) != 0)
			return false;
		if (memcmp(x->host, y->host, x->length) != 0)
			return false;
	}
	return true;
}

bool guest_still_writes(struct rmig_guest *g, int ms)
{
	uint64_t before = rmig_guest_writes(g);

	if (!rmig_guest_is_running(g))
		return false;
	sleep_ms(ms);
	return rmig_guest_writes(g) > before;
}

pid_t dest_child_start(char *uri, size_t len)
{
	int pipefd[2];
	pid_t pid;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rmig_ram ram;
		struct rmig_incoming *in;
		char buf[256] = "";
		int ret;

		close(pipefd[0]);
		rmig_ram_init(&ram);
		in = rmig_incoming_new(&ram);
		if (!in || rmig_incoming_listen(in, "tcp:127.0.0.1:0") ||
		    rmig_incoming_get_uri(in, buf, sizeof(buf)) < 0)
			_exit(2);
		if (write(pipefd[1], buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			_exit(2);
		close(pipefd[1]);
		ret = rmig_incoming_run(in, 30000);
		_exit(ret == 0 && rmig_incoming_load_info(in)->verified ? 0 : 1);
	}
	close(pipefd[1]);
	assert_int_equal(read(pipefd[0], uri, len), (ssize_t)len);
	close(pipefd[0]);
	return pid;
}
