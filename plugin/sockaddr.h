/* SPDX-License-Identifier: MIT */
/*
 * Address parsing shared by the socket transports and rdma: "host:port",
 * "[v6addr]:port", and unix paths.  Pure functions, fuzzable.
 */
#ifndef RMIG_SOCKADDR_H
#define RMIG_SOCKADDR_H

#include <stddef.h>

#define RMIG_HOST_MAX 256

/*
 * Split "host:port" or "[v6]:port" into @host (brackets removed) and
 * @port (1..65535; 0 allowed only when @allow_zero_port, to let listen
 * pick one).  An empty host means "any" for listen.  Returns 0 or -EINVAL
 * (reported: "bad address 'x': port missing").
 */
int rmig_hostport_parse(const char *addr, char *host, size_t hostlen, unsigned *port,
			int allow_zero_port);

#endif /* RMIG_SOCKADDR_H */
