/* SPDX-License-Identifier: MIT */
/*
 * Names for the threads rmig starts, so top -H, perf, gdb and
 * /proc/PID/task/TID/comm tell a migration's threads apart: "rmig-migrate",
 * "rmig-mfd-tx0", "rmig-lane1" and so on.  Header-only, so a transport
 * module needs no source of ours to use it.
 */
#ifndef RMIG_THREADNAME_H
#define RMIG_THREADNAME_H

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

/* The kernel keeps 15 bytes of a name and the NUL. */
#define RMIG_THREAD_NAME_MAX 16

/*
 * Name the calling thread from @fmt, cut to 15 bytes.  Best effort: a
 * name is for people, so a failure changes nothing else.
 */
static inline __attribute__((format(printf, 1, 2))) void rmig_thread_name_self(const char *fmt,
									     ...)
{
	char name[RMIG_THREAD_NAME_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	(void)pthread_setname_np(pthread_self(), name);
}

#endif /* RMIG_THREADNAME_H */
