/* SPDX-License-Identifier: MIT */
/*
 * Registration and module loading: the test modules in RMIG_TEST_MODULE_DIR
 * (one real transport, "loop", and one module per reason for refusal), and
 * ops tables built here to probe the validation rules and the wrappers.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <rmig/log.h>

#include "common/engine/transports.h"
#include "plugin/loader.h"
#include "plugin/registry.h"
#include "rmig-config.h"
#include "tests/support/test_quiet.h"

#define MODULE(name) RMIG_TEST_MODULE_DIR "/" name ".so"

/* --- an in-test transport: records which slots the wrappers called --- */

static int calls_write, calls_hooks;

static int fake_connect(const char *addr, const struct rmig_conn_opts *opts,
			struct rmig_conn **out)
{
	struct rmig_conn *c = calloc(1, sizeof(*c));

	(void)addr;
	/* The registry always hands transports a full, current-size options struct. */
	assert_non_null(opts);
	assert_int_equal(opts->size, sizeof(*opts));
	if (!c)
		return -ENOMEM;
	*out = c;
	return 0;
}

static int fake_listen(const char *addr, const struct rmig_conn_opts *opts,
		       struct rmig_listener **out)
{
	(void)addr, (void)opts, (void)out;
	return -ENOTSUP;
}

static int fake_accept(struct rmig_listener *l, int timeout_ms, struct rmig_conn **out)
{
	(void)l, (void)timeout_ms, (void)out;
	return -ENOTSUP;
}

static void fake_listener_close(struct rmig_listener *l)
{
	(void)l;
}

/* Takes at most 3 bytes per call, to exercise partial writes in the writev fallback. */
static ssize_t fake_write(struct rmig_conn *c, const void *buf, size_t len)
{
	(void)c, (void)buf;
	calls_write++;
	return (ssize_t)(len < 3 ? len : 3);
}

static ssize_t fake_read(struct rmig_conn *c, void *buf, size_t len)
{
	(void)c, (void)buf, (void)len;
	return 0;
}

static void fake_abort(struct rmig_conn *c)
{
	(void)c;
}

static void fake_close(struct rmig_conn *c)
{
	free(c);
}

static int fake_attach(struct rmig_conn *c, struct rmig_ram *ram)
{
	(void)c, (void)ram;
	return ++calls_hooks;
}

static int fake_before(struct rmig_conn *c, enum rmig_ram_phase phase)
{
	(void)c, (void)phase;
	return ++calls_hooks;
}

static int fake_save(struct rmig_conn *c, struct rmig_ramblock *b, uint64_t page,
		     uint64_t npages, struct rmig_ram_counters *acc)
{
	(void)c, (void)b, (void)page, (void)npages, (void)acc;
	return ++calls_hooks;
}

static int fake_after(struct rmig_conn *c, enum rmig_ram_phase phase,
		      struct rmig_ram_counters *acc)
{
	(void)c, (void)phase, (void)acc;
	return ++calls_hooks;
}

static int fake_load(struct rmig_conn *c, enum rmig_ram_phase phase)
{
	(void)c, (void)phase;
	return ++calls_hooks;
}

static struct rmig_transport_ops fake_ops(const char *scheme)
{
	return (struct rmig_transport_ops){
		.size = sizeof(struct rmig_transport_ops),
		.abi_version = RMIG_TRANSPORT_ABI_VERSION,
		.scheme = scheme,
		.description = "fake",
		.connect = fake_connect,
		.listen = fake_listen,
		.accept = fake_accept,
		.listener_close = fake_listener_close,
		.write = fake_write,
		.read = fake_read,
		.abort = fake_abort,
		.close = fake_close,
	};
}

/* --- modules --- */

static void test_load_good(void **state)
{
	struct rmig_listener *l;
	struct rmig_conn *a, *b;
	char uri[64], buf[16] = { 0 };
	struct iovec iov[3] = { { "ab", 2 }, { "", 0 }, { "cdef", 5 } };

	(void)state;
	assert_ok(rmig_transport_load(MODULE("good")));
	assert_non_null(rmig_transport_find("loop"));
	assert_ok(rmig_listener_open("loop:one", NULL, &l));
	assert_ok(rmig_listener_get_uri(l, uri, sizeof(uri)));
	assert_string_equal(uri, "loop:one");
	assert_ok(rmig_conn_open("loop:one", NULL, &a));
	assert_ok(rmig_listener_accept(l, 5000, &b));
	assert_ptr_equal(a->ops, rmig_transport_find("loop"));
	assert_ptr_equal(b->ops, a->ops);
	/* "loop" has no writev: the registry's fallback writes piece by piece. */
	assert_int_equal(rmig_conn_writev(a, iov, 3), 7);
	assert_int_equal(rmig_conn_read(b, buf, 7), 7);
	assert_string_equal(buf, "abcdef");
	assert_int_equal(rmig_conn_write(b, "back", 4), 4);
	assert_int_equal(rmig_conn_read(a, buf, 4), 4);
	assert_memory_equal(buf, "back", 4);
	rmig_conn_abort(a);
	assert_int_equal(rmig_conn_read(a, buf, 1), -ECANCELED);
	rmig_conn_close(a);
	rmig_conn_close(b);
	assert_int_equal(rmig_listener_accept(l, 10, &b), -ETIMEDOUT);
	rmig_listener_close(l);

	rmig_transport_reset();
	assert_null(rmig_transport_find("loop"));
}

/* The refusal names the module's ABI and ours. */
static void assert_abi_refusal(unsigned theirs)
{
	char want[96];

	snprintf(want, sizeof(want), "built for transport ABI %u, this rmig speaks %u", theirs,
		 (unsigned)RMIG_TRANSPORT_ABI_VERSION);
	assert_error_has(want);
}

/* A bare name is the file in the working directory, not a search of the library path. */
static void test_bare_name(void **state)
{
	char cwd[4096];

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(RMIG_TEST_MODULE_DIR), 0);
	assert_ok(rmig_transport_load("good.so"));
	assert_int_equal(chdir(cwd), 0);
	assert_non_null(rmig_transport_find("loop"));
}

static void test_wrong_abi(void **state)
{
	(void)state;
	assert_int_equal(rmig_transport_load(MODULE("wrong_abi")), -EPROTO);
	assert_error_has("wrong_abi.so");
	assert_abi_refusal(999);
	assert_null(rmig_transport_find("wrongabi"));
}

static void test_no_symbol(void **state)
{
	(void)state;
	assert_int_equal(rmig_transport_load(MODULE("no_symbol")), -ENOEXEC);
	assert_error_has("no_symbol.so");
	assert_error_has("no symbol rmig_transport_init");
}

static void test_missing_slot(void **state)
{
	(void)state;
	assert_int_equal(rmig_transport_load(MODULE("missing_slot")), -EINVAL);
	assert_error_has("missing_slot.so");
	assert_error_has("'read'");
	assert_null(rmig_transport_find("missing"));
}

static void test_declines(void **state)
{
	(void)state;
	assert_int_equal(rmig_transport_load(MODULE("declines")), -ENODEV);
	assert_error_has("declines.so");
	assert_error_has("declined to initialise");
}

static void test_bad_files(void **state)
{
	char path[] = "/tmp/rmig-loader-XXXXXX.so";
	int fd;

	(void)state;
	assert_int_equal(rmig_transport_load(MODULE("does_not_exist")), -ENOENT);
	assert_error_has("does_not_exist.so");
	fd = mkstemps(path, 3);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not an ELF file\n", 16), 16);
	close(fd);
	assert_int_equal(rmig_transport_load(path), -ELIBBAD);
	assert_error_has(path);
	assert_error_has("cannot load");
	unlink(path);
}

/* A copy of good.so at @path with @mode. */
static void copy_module(const char *path, mode_t mode)
{
	char buf[65536];
	int in = open(MODULE("good"), O_RDONLY), out;
	ssize_t n;

	assert_true(in >= 0);
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
	assert_int_equal(chmod(path, mode), 0);
}

/* What every user may write is never loaded: dlopen() would run their code. */
static void test_world_writable(void **state)
{
	char dir[] = "/tmp/rmig-loader-XXXXXX", path[64];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/good.so", dir);
	copy_module(path, 0666);
	assert_int_equal(rmig_transport_load(path), -EPERM);
	assert_error_has("writable by every user");
	assert_null(rmig_transport_find("loop"));
	assert_int_equal(chmod(path, 0755), 0);
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(rmig_transport_load_dir(dir), -EPERM);
	assert_null(rmig_transport_find("loop"));
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(rmig_transport_load_dir(dir), 1);
	assert_non_null(rmig_transport_find("loop"));
	unlink(path);
	rmdir(dir);
}

static void test_duplicate(void **state)
{
	struct rmig_transport_ops ops = fake_ops("loop");

	(void)state;
	assert_ok(rmig_transport_load(MODULE("good")));
	/* A second copy of a scheme is skipped (quietly: rdma may be built in and a module). */
	rmig_error_clear();
	assert_int_equal(rmig_transport_load(MODULE("good")), -EEXIST);
	assert_string_equal(rmig_error_get_last(), "");
	assert_non_null(rmig_transport_find("loop"));
	/* An explicit registration under a taken scheme is the caller's mistake: reported. */
	assert_int_equal(rmig_transport_register(&ops), -EEXIST);
	assert_error_has("already registered");
	assert_ptr_not_equal(rmig_transport_find("loop"), &ops);
}

static void test_load_dir(void **state)
{
	(void)state;
	/* good.so loads; the four bad ones are reported and skipped. */
	assert_int_equal(rmig_transport_load_dir(RMIG_TEST_MODULE_DIR), 1);
	assert_non_null(rmig_transport_find("loop"));
	assert_null(rmig_transport_find("wrongabi"));
	assert_null(rmig_transport_find("missing"));
	assert_int_equal(rmig_transport_load_dir("/nonexistent/rmig"), 0);
}

static void test_init_all(void **state)
{
	unsigned n = 0;

	(void)state;
	setenv("RMIG_PLUGIN_DIR", "/nonexistent/rmig:" RMIG_TEST_MODULE_DIR, 1);
	assert_ok(rmig_transport_init_all());
	assert_ok(rmig_transport_init_all());
	while (rmig_transport_get(n))
		n++;
	/* -Drdma_builtin=true registers rdma right after the other built-ins. */
	assert_int_equal(n, 4 + RMIG_RDMA_BUILTIN);
	assert_string_equal(rmig_transport_get(0)->scheme, "tcp");
	assert_string_equal(rmig_transport_get(1)->scheme, "unix");
	assert_string_equal(rmig_transport_get(2)->scheme, "fd");
	if (RMIG_RDMA_BUILTIN)
		assert_string_equal(rmig_transport_get(3)->scheme, "rdma");
	assert_string_equal(rmig_transport_get(3 + RMIG_RDMA_BUILTIN)->scheme, "loop");
	assert_null(rmig_transport_get(4 + RMIG_RDMA_BUILTIN));
	setenv("RMIG_PLUGIN_DIR", "", 1);
}

/* --- validation and wrappers --- */

static void test_register_rules(void **state)
{
	static const char *bad_schemes[] = {
		"", "TCP", "1tcp", "tc p", "tcp:", "sixteen-chars-xx",
	};
	struct rmig_transport_ops ops;

	(void)state;
	assert_int_equal(rmig_transport_register(NULL), -EINVAL);
	for (size_t i = 0; i < sizeof(bad_schemes) / sizeof(bad_schemes[0]); i++) {
		ops = fake_ops(bad_schemes[i]);
		assert_int_equal(rmig_transport_register(&ops), -EINVAL);
		assert_error_has("scheme");
	}
	ops = fake_ops(NULL);
	assert_int_equal(rmig_transport_register(&ops), -EINVAL);

	ops = fake_ops("old");
	ops.abi_version = 7;
	assert_int_equal(rmig_transport_register(&ops), -EPROTO);
	assert_abi_refusal(7);

	ops = fake_ops("tiny");
	ops.size = RMIG_TRANSPORT_OPS_MIN_SIZE - 1;
	assert_int_equal(rmig_transport_register(&ops), -EPROTO);

	ops = fake_ops("noclose");
	ops.close = NULL;
	assert_int_equal(rmig_transport_register(&ops), -EINVAL);
	assert_error_has("'close'");

	ops = fake_ops("somehooks");
	ops.ram_attach = fake_attach;
	ops.ram_load = fake_load;
	assert_int_equal(rmig_transport_register(&ops), -EINVAL);
	assert_error_has("2 of the 5 RAM hooks");

	assert_null(rmig_transport_get(0));
	ops = fake_ops("a+b-c.d9");
	assert_ok(rmig_transport_register(&ops));
}

static void test_wrappers(void **state)
{
	struct rmig_transport_ops hooks = fake_ops("hooks");
	struct rmig_conn *c;
	struct iovec iov[2] = { { "abcd", 4 }, { "ef", 2 } };

	(void)state;
	hooks.ram_attach = fake_attach;
	hooks.ram_before_iterate = fake_before;
	hooks.ram_save_page = fake_save;
	hooks.ram_after_iterate = fake_after;
	hooks.ram_load = fake_load;
	assert_ok(rmig_transport_register(&hooks));
	assert_ok(rmig_conn_open("hooks:anything", NULL, &c));
	assert_ptr_equal(c->ops, &hooks);
	assert_true(rmig_conn_has_ram_hooks(c));
	calls_hooks = 0;
	assert_int_equal(rmig_conn_ram_attach(c, NULL), 1);
	assert_int_equal(rmig_conn_ram_before_iterate(c, RMIG_RAM_PHASE_SETUP), 2);
	assert_int_equal(rmig_conn_ram_save_page(c, NULL, 0, 1, NULL), 3);
	assert_int_equal(rmig_conn_ram_after_iterate(c, RMIG_RAM_PHASE_ROUND, NULL), 4);
	assert_int_equal(rmig_conn_ram_load(c, RMIG_RAM_PHASE_FINAL), 5);
	/* The fallback stops at the first short write, so the count is a prefix of the vector. */
	calls_write = 0;
	assert_int_equal(rmig_conn_writev(c, iov, 2), 3);
	assert_int_equal(calls_write, 1);
	rmig_conn_close(c);
}

static void test_old_module_table(void **state)
{
	/*
	 * A module built when the table ended at close: whatever lies past its
	 * size must never be called, even if it is not NULL.
	 */
	union {
		struct rmig_transport_ops ops;
		unsigned char bytes[sizeof(struct rmig_transport_ops)];
	} old;
	struct rmig_conn *c;
	struct rmig_listener l = { .ops = &old.ops };
	struct iovec iov = { "xy", 2 };
	char buf[8];

	(void)state;
	old.ops = fake_ops("old");
	memset(old.bytes + RMIG_TRANSPORT_OPS_MIN_SIZE, 0xa5,
	       sizeof(old.bytes) - RMIG_TRANSPORT_OPS_MIN_SIZE);
	old.ops.size = RMIG_TRANSPORT_OPS_MIN_SIZE;
	assert_ok(rmig_transport_register(&old.ops));
	assert_ok(rmig_conn_open("old:x", NULL, &c));
	assert_false(rmig_conn_has_ram_hooks(c));
	assert_int_equal(rmig_conn_ram_attach(c, NULL), -ENOTSUP);
	assert_int_equal(rmig_conn_writev(c, &iov, 1), 2);
	assert_int_equal(rmig_listener_get_uri(&l, buf, sizeof(buf)), -ENOTSUP);
	rmig_conn_close(c);
}

static void test_table_full(void **state)
{
	static char names[RMIG_TRANSPORT_MAX + 1][8];
	static struct rmig_transport_ops ops[RMIG_TRANSPORT_MAX + 1];

	(void)state;
	for (int i = 0; i <= RMIG_TRANSPORT_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "t%d", i);
		ops[i] = fake_ops(names[i]);
		if (i < RMIG_TRANSPORT_MAX)
			assert_ok(rmig_transport_register(&ops[i]));
	}
	assert_int_equal(rmig_transport_register(&ops[RMIG_TRANSPORT_MAX]), -ENOSPC);
	assert_error_has("t16");
}

static void test_resolve(void **state)
{
	struct rmig_transport_ops ops = fake_ops("zz");
	const struct rmig_transport_ops *found = NULL;
	const char *addr = NULL;

	(void)state;
	assert_ok(rmig_transport_register(&ops));
	assert_ok(rmig_transport_resolve("zz:a:b", &found, &addr));
	assert_ptr_equal(found, &ops);
	assert_string_equal(addr, "a:b");
	assert_int_equal(rmig_transport_resolve("z:a", &found, &addr), -EPROTONOSUPPORT);
	assert_error_has("'z'");
	assert_error_has("zz");
	assert_int_equal(rmig_transport_resolve("zza", &found, &addr), -EINVAL);
	assert_int_equal(rmig_transport_resolve(NULL, &found, &addr), -EINVAL);
}

static int fresh(void **state)
{
	(void)state;
	rmig_transport_reset();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_load_good, fresh),
		cmocka_unit_test_setup(test_bare_name, fresh),
		cmocka_unit_test_setup(test_world_writable, fresh),
		cmocka_unit_test_setup(test_wrong_abi, fresh),
		cmocka_unit_test_setup(test_no_symbol, fresh),
		cmocka_unit_test_setup(test_missing_slot, fresh),
		cmocka_unit_test_setup(test_declines, fresh),
		cmocka_unit_test_setup(test_bad_files, fresh),
		cmocka_unit_test_setup(test_duplicate, fresh),
		cmocka_unit_test_setup(test_load_dir, fresh),
		cmocka_unit_test_setup(test_init_all, fresh),
		cmocka_unit_test_setup(test_register_rules, fresh),
		cmocka_unit_test_setup(test_wrappers, fresh),
		cmocka_unit_test_setup(test_old_module_table, fresh),
		cmocka_unit_test_setup(test_table_full, fresh),
		cmocka_unit_test_setup(test_resolve, fresh),
	};
	int r;

	/* resolve() initialises lazily: keep installed modules out of these tests. */
	setenv("RMIG_PLUGIN_DIR", "", 1);
	rmig_log_set_sink(quiet, NULL);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	rmig_transport_reset();
	return r;
}
