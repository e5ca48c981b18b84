/* SPDX-License-Identifier: MIT */
/*
 * Shared by the rails wire tests (test_rdma_rails_wire.c,
 * test_rdma_rails_checks.c): addresses spelled as text, and the refusal
 * every check makes.  Include after cmocka.h.
 */
#ifndef RMIG_RAILS_TEST_H
#define RMIG_RAILS_TEST_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "rdma/rails.h"
#include "tests/support/rdma_test_log.h"

#define PORT 4444

/* @ip (IPv4 or IPv6 by its spelling) and @port as a socket address. */
static inline struct sockaddr_storage sa(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (void *)&ss;
	struct sockaddr_in6 *in6 = (void *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
	} else {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
	}
	return ss;
}

/* Rail @index at @ip (IPv4 or IPv6 by its spelling), @port. */
static inline struct rmig_rdma_rail_addr rail(uint32_t index, const char *ip, uint16_t port)
{
	struct rmig_rdma_rail_addr r = {.index = index, .port = port};

	if (strchr(ip, ':')) {
		r.family = 6;
		assert_int_equal(inet_pton(AF_INET6, ip, r.addr), 1);
	} else {
		r.family = 4;
		assert_int_equal(inet_pton(AF_INET, ip, r.addr), 1);
	}
	return r;
}

/* @call fails with -EPROTO, and its error says @word. */
#define assert_refused(call, word)                                                                 \
	do {                                                                                       \
		assert_int_equal((call), -EPROTO);                                                 \
		assert_error_mentions(word);                                                       \
	} while (0)

#endif /* RMIG_RAILS_TEST_H */
