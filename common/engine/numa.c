/* SPDX-License-Identifier: MIT */
/*
 * NUMA placement of multifd channels (numa.h).  Without libnuma every
 * channel is left where the scheduler puts it, and an explicit node is
 * reported as not honoured.
 */
#include "common/engine/numa.h"

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/cpus.h"
#include "common/base/numapick.h"
#include "common/engine/params.h"
#include "plugin/registry.h"
#include "rmig-config.h"

#if RMIG_HAVE_NUMA
#include <numa.h>
#include <numaif.h>
#endif

int rmig_numa_pick(int param, struct rmig_conn *conn, const char **why)
{
	/* The device is asked only when it decides. */
	return rmig_numa_choose(param, param == RMIG_NUMA_NODE_AUTO ? rmig_conn_numa_node(conn) : -1,
				why);
}

int rmig_numa_bind_thread(int node)
{
#if RMIG_HAVE_NUMA
	if (numa_run_on_node(node) < 0) {
		int err = errno ? errno : EINVAL;

		rmig_error("cannot run on NUMA node %d: %s", node, strerror(err));
		return -err;
	}
	return 0;
#else
	(void)node;
	return -ENOTSUP;
#endif
}

void *rmig_numa_alloc(size_t len, int node)
{
#if RMIG_HAVE_NUMA
	if (node >= 0) {
		void *p = numa_alloc_onnode(len, node);

		/* Fault it in now, under its policy: placed, not just promised. */
		if (p)
			memset(p, 0, len);
		return p;
	}
#else
	(void)node;
#endif
	return malloc(len);
}

void rmig_numa_free(void *p, size_t len, int node)
{
#if RMIG_HAVE_NUMA
	if (p && node >= 0) {
		numa_free(p, len);
		return;
	}
#else
	(void)len;
	(void)node;
#endif
	free(p);
}

void rmig_numa_report(const char *side, uint32_t index, int node, const char *why,
		      const void *buf)
{
	char cpus[256];
	int where = -1;

	rmig_cpus_of_thread(cpus, sizeof(cpus));
#if RMIG_HAVE_NUMA
	if (buf && get_mempolicy(&where, NULL, 0, (void *)buf, MPOL_F_NODE | MPOL_F_ADDR) < 0)
		where = -1;
#else
	(void)buf;
#endif
	if (node >= 0)
		rmig_info("%s multifd channel %u: NUMA node %d (%s): runs on CPUs %s, buffer on "
			  "node %d",
			  side, index, node, why, cpus, where);
	else
		rmig_info("%s multifd channel %u: no NUMA binding (%s): runs on CPUs %s", side,
			  index, why, cpus);
}
