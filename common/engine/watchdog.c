/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <rmig/log.h>

#include "common/base/threadname.h"
#include "common/base/util.h"
#include "common/engine/watchdog.h"
#include "plugin/registry.h"

static void *watchdog_main(void *opaque)
{
	struct rmig_watchdog *w = opaque;
	struct timespec ts = {
		.tv_sec = (time_t)(w->deadline_ns / RMIG_NSEC_PER_SEC),
		.tv_nsec = (long)(w->deadline_ns % RMIG_NSEC_PER_SEC),
	};

	rmig_thread_name_self("rmig-watchdog");
	pthread_mutex_lock(&w->lock);
	while (!w->disarmed && rmig_time_now_ns() < w->deadline_ns)
		if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) == ETIMEDOUT)
			break;
	if (!w->disarmed) {
		w->fired = true;
		/* Under the lock, so disarm() cannot return while the abort is under way. */
		rmig_conn_abort(w->conn);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int rmig_watchdog_arm(struct rmig_watchdog *w, struct rmig_conn *c, uint64_t timeout_ms)
{
	pthread_condattr_t attr;
	int rc;

	memset(w, 0, sizeof(*w));
	if (!timeout_ms)
		return 0;
	w->conn = c;
	w->deadline_ns = rmig_time_now_ns() + timeout_ms * RMIG_NSEC_PER_MSEC;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &attr);
	pthread_condattr_destroy(&attr);
	rc = pthread_create(&w->thread, NULL, watchdog_main, w);
	if (rc) {
		rmig_error("cannot start a timer thread: %s", strerror(rc));
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		return -rc;
	}
	w->started = true;
	return 0;
}

bool rmig_watchdog_disarm(struct rmig_watchdog *w)
{
	bool fired;

	if (!w->started)
		return false;
	pthread_mutex_lock(&w->lock);
	w->disarmed = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	fired = w->fired;
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	return fired;
}
