/* SPDX-License-Identifier: MIT */
/*
 * The numa-node parameter turned into the node a channel's thread binds
 * to: one rule for tcp channels (common/engine/numa.c) and rdma lanes
 * (rdma/lane.c).
 */
#ifndef RMIG_NUMAPICK_H
#define RMIG_NUMAPICK_H

/*
 * @param: -2 auto (the node of the device carrying the channel,
 * @device_node, -1 when it has none), -1 none, or a node.  Returns the
 * node, or -1 for no binding; *@why says how it was chosen, for the -v
 * report.  A node this host lacks is warned about and not bound.
 */
int rmig_numa_choose(int param, int device_node, const char **why);

#endif /* RMIG_NUMAPICK_H */
