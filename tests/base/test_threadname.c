/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/base/threadname.h"

struct named {
	bool long_name; /* the format is a literal, as in rmig: -Wformat=2 checks it */
	unsigned arg;
	char comm[64]; /* what the kernel shows for the thread */
};

/* The thread's name as ps and top read it, not as pthread remembers it. */
static void read_comm(char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/comm", (long)syscall(SYS_gettid));
	buf[0] = '\0';
	f = fopen(path, "r");
	if (!f)
		return;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

static void *name_and_read(void *opaque)
{
	struct named *n = opaque;

	if (n->long_name)
		rmig_thread_name_self("rmig-a-very-long-name-%u", n->arg);
	else
		rmig_thread_name_self("rmig-mfd-tx%u", n->arg);
	read_comm(n->comm, sizeof(n->comm));
	return NULL;
}

static void run_named(struct named *n)
{
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, name_and_read, n), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
}

static void test_names_the_calling_thread(void **state)
{
	struct named n = { .long_name = false, .arg = 3 };
	char mine[64], after[64];
	(void)state;

	read_comm(mine, sizeof(mine));
	run_named(&n);
	assert_string_equal(n.comm, "rmig-mfd-tx3");
	/* Only the thread that asked is renamed. */
	read_comm(after, sizeof(after));
	assert_string_equal(after, mine);
}

static void test_long_names_are_cut_to_15_bytes(void **state)
{
	struct named n = { .long_name = true, .arg = 12345 };
	(void)state;

	run_named(&n);
	assert_int_equal(strlen(n.comm), RMIG_THREAD_NAME_MAX - 1);
	assert_memory_equal(n.comm, "rmig-a-very-lon", RMIG_THREAD_NAME_MAX - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_the_calling_thread),
		cmocka_unit_test(test_long_names_are_cut_to_15_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
