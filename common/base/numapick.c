/* SPDX-License-Identifier: MIT */
/*
 * The numa-node rule; see numapick.h.
 */
#include "common/base/numapick.h"

#include <rmig/log.h>

#include "rmig-config.h"

#if RMIG_HAVE_NUMA
#include <numa.h>
#endif

int rmig_numa_choose(int param, int device_node, const char **why)
{
	if (param == -1) {
		*why = "numa-node none";
		return -1;
	}
#if RMIG_HAVE_NUMA
	if (numa_available() < 0) {
		*why = "the kernel has no NUMA support";
		return -1;
	}
	if (param >= 0) {
		if (param > numa_max_node()) {
			*why = "numa-node names a node this host does not have";
			rmig_warn("numa-node %d: this host's nodes are 0 to %d; channels run unbound",
				  param, numa_max_node());
			return -1;
		}
		*why = "numa-node";
		return param;
	}
	*why = device_node >= 0 ? "the node of the device carrying it" : "its device has no node";
	return device_node >= 0 ? device_node : -1;
#else
	(void)device_node;
	*why = param >= 0 ? "rmig was built without libnuma: numa-node not honoured"
			  : "rmig was built without libnuma";
	return -1;
#endif
}
