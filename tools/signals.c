/* SPDX-License-Identifier: MIT */
/*
 * Ctrl-C.  The handler only counts (async-signal-safe); the main loop sees
 * the count and cancels the migration through the API, which is the only
 * way the guest is guaranteed to be left running.  A second signal means
 * "now": the handler _exit()s with 130, for when a cancel itself hangs.
 *
 * Library and tool threads are created with SIGINT/SIGTERM blocked, so the
 * signal always lands on the main thread: a worker blocked in send() or
 * poll() is never interrupted by it, and the main thread's sleep is.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/cli.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	static const char msg[] = "\nrmig: interrupted twice, exiting without cleanup\n";

	(void)sig;
	if (interrupted) {
		/* write() and _exit() are on the async-signal-safe list; stdio is not. */
		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
			/* nothing left to report to */
		}
		_exit(CLI_EXIT_CANCELLED);
	}
	interrupted = 1;
}

int cli_signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the main loop's sleep must wake up to act on the flag. */
	sa.sa_flags = 0;
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
		return -errno;
	return 0;
}

bool cli_interrupted(void)
{
	return interrupted != 0;
}

void cli_signals_block(sigset_t *saved)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, saved);
}

void cli_signals_restore(const sigset_t *saved)
{
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}

void cli_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	/* EINTR is the point: a signal cuts the sleep short.  Not resumed on purpose. */
	nanosleep(&ts, NULL);
}
