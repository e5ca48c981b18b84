/* SPDX-License-Identifier: MIT */
/*
 * Which NUMA node a socket's traffic goes through: the node of the network
 * device that owns the socket's local address, as the kernel reports it in
 * /sys/class/net/DEV/device/numa_node.  Loopback, unix sockets, pipes and
 * virtual devices have none.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/sock.h"

static bool same_addr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (!a || a->sa_family != b->ss_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)b)->sin6_addr,
			      sizeof(struct in6_addr)) == 0;
	return false;
}

/* The node in /sys/class/net/@ifname/device/numa_node; -1 when absent or unreadable. */
static int netdev_node(const char *ifname)
{
	char path[128], text[16] = "";
	long node;
	char *end;
	FILE *f;

	/* A name from getifaddrs, but still: no path tricks. */
	if (strchr(ifname, '/') || strstr(ifname, ".."))
		return -1;
	snprintf(path, sizeof(path), "/sys/class/net/%s/device/numa_node", ifname);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(text, sizeof(text), f))
		text[0] = '\0';
	fclose(f);
	node = strtol(text, &end, 10);
	if (end == text || node < 0 || node > INT_MAX)
		return -1;
	return (int)node;
}

int rmig_sock_numa_node(struct rmig_conn *c)
{
	struct rmig_sock_conn *sc = (struct rmig_sock_conn *)c;
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	struct ifaddrs *ifs, *i;
	int node = -1;

	if (!sc->is_socket || getsockname(sc->fd, (struct sockaddr *)&local, &len) < 0)
		return -1;
	if (local.ss_family != AF_INET && local.ss_family != AF_INET6)
		return -1;
	/* An IPv4 peer on a dual-stack listener: the interface holds the plain IPv4 address. */
	if (local.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&local)->sin6_addr)) {
		struct sockaddr_in v4 = { .sin_family = AF_INET };

		memcpy(&v4.sin_addr, &((struct sockaddr_in6 *)&local)->sin6_addr.s6_addr[12], 4);
		memset(&local, 0, sizeof(local));
		memcpy(&local, &v4, sizeof(v4));
	}
	if (getifaddrs(&ifs) < 0)
		return -1;
	for (i = ifs; i; i = i->ifa_next) {
		if (same_addr(i->ifa_addr, &local)) {
			node = (i->ifa_flags & IFF_LOOPBACK) ? -1 : netdev_node(i->ifa_name);
			break;
		}
	}
	freeifaddrs(ifs);
	return node;
}
