/* SPDX-License-Identifier: MIT */
/*
 * The wire layer of rails (docs/proposals/rails.md, section 2): the
 * RAILS_REQUEST / RAILS_RESULT elements, the private data a rail's
 * connection joins with, and the checks each side makes of what its peer
 * sent.  Pure like rdma/wire.h: bytes and addresses in, verdicts out, no
 * sockets and no verbs.  Nothing uses it yet: RMIG_RDMA_CAP_RAILS is not
 * negotiable, so no peer can reach these messages today.
 *
 * A rail is one address pair.  Rail 0 is the control connection; each
 * rail r >= 1 is joined by its own connection to the address RAILS_REQUEST
 * named for it, whose private data carries the cookie RAILS_RESULT gave
 * rail r.  The cookie ties the join to this migration: a stray connection
 * or a second source cannot take a rail's place.
 *
 * Every check reports its first failure with rmig_error, naming the rail,
 * and returns -EPROTO (the peer's fault) or -EINVAL (the caller's).
 * Out-parameters are written only on success.
 */
#ifndef RMIG_RDMA_RAILS_H
#define RMIG_RDMA_RAILS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "rdma/wire.h"

/* Most address pairs one connection may use (as ci/softroce --rails). */
#define RMIG_RDMA_MAX_RAILS 4

/*
 * The flags word of a rail's join private data.  Only a marker: it is
 * never offered or granted as a capability, and a fresh connection request
 * that carries it is not a migration.
 */
#define RMIG_RDMA_RAIL_JOIN 0x80000000u

/* Bytes of a rail's cookie (random; rail 0's is all zero). */
#define RMIG_RDMA_RAIL_COOKIE 16

/* Sizes on the wire. */
#define RMIG_RDMA_RAIL_ADDR_SIZE	24 /* RAILS_REQUEST element */
#define RMIG_RDMA_RAIL_COOKIE_SIZE	24 /* RAILS_RESULT element */
#define RMIG_RDMA_RAIL_JOIN_SIZE	32 /* a join's private data */
#define RMIG_RDMA_RAIL_JOIN_ANSWER_SIZE 8  /* the destination's answer to a join */

/*
 * RAILS_REQUEST element, source -> destination: the destination address
 * of rail @index,
 *   u32 index, u16 port, u8 family (4 or 6), u8 pad, u8 addr[16].
 * An IPv4 address is in addr[0..3], the other twelve bytes zero.
 */
struct rmig_rdma_rail_addr {
	uint32_t index;
	uint16_t port;
	uint8_t family;
	uint8_t addr[16];
};

/*
 * RAILS_RESULT element, destination -> source: what rail @index joins
 * with,
 *   u32 index, u32 pad, u8 cookie[16].
 */
struct rmig_rdma_rail_cookie {
	uint32_t index;
	uint8_t cookie[RMIG_RDMA_RAIL_COOKIE];
};

/*
 * Join private data, source -> destination, on the connection of rail
 * @rail (1..R-1),
 *   u32 version (1), u32 flags (RAIL_JOIN), u32 rail, u32 pad, u8 cookie[16].
 * 32 bytes: within the 56 that an IB CM connect request carries.
 */
struct rmig_rdma_rail_join {
	uint32_t version;
	uint32_t flags;
	uint32_t rail;
	uint8_t cookie[RMIG_RDMA_RAIL_COOKIE];
};

/*
 * Element codecs.  Pads are written zero and skipped when decoding; the
 * checks below read them from the bytes and refuse any that is not zero.
 */
void rmig_rdma_rail_addr_encode(const struct rmig_rdma_rail_addr *a, uint8_t *out);
void rmig_rdma_rail_addr_decode(const uint8_t *in, struct rmig_rdma_rail_addr *a);
void rmig_rdma_rail_cookie_encode(const struct rmig_rdma_rail_cookie *c, uint8_t *out);
void rmig_rdma_rail_cookie_decode(const uint8_t *in, struct rmig_rdma_rail_cookie *c);

/* Join private data for @rail with @cookie: version 1, flags RAIL_JOIN. */
void rmig_rdma_rail_join_encode(uint32_t rail, const uint8_t cookie[RMIG_RDMA_RAIL_COOKIE],
				uint8_t out[RMIG_RDMA_RAIL_JOIN_SIZE]);

/*
 * The destination listener's check of a connect request's private data
 * (@buf, @len bytes) as the join of one of its @nrails rails, the request
 * having arrived at @local (its id's rdma_get_local_addr: AF_INET or
 * AF_INET6, v4-mapped taken as IPv4, scope id not compared).  @rails are
 * the rails as rmig_rdma_rails_request_validate returned them, rails
 * whose bit is set in @joined have joined already, and @cookies are what
 * RAILS_RESULT gave them (@cookies[r] is rail r's):
 *  - @len >= 32 (longer is IB CM padding), version 1, flags exactly
 *    RAIL_JOIN, pad zero;
 *  - 1 <= rail < @nrails, and not in @joined;
 *  - @local is @rails[rail], address and port;
 *  - the cookie equals @cookies[rail], compared in constant time.
 * *@rail on success.  -EPROTO for a request that is not a valid join;
 * -EINVAL when @nrails is not 2..RMIG_RDMA_MAX_RAILS, @rails is NULL, or
 * @local is not an IPv4 or IPv6 address.
 */
int rmig_rdma_rail_join_decode(const void *buf, size_t len, const struct sockaddr *local,
			       uint32_t nrails, const struct rmig_rdma_rail_addr *rails,
			       uint32_t joined, const uint8_t cookies[][RMIG_RDMA_RAIL_COOKIE],
			       uint32_t *rail);

/* The destination's answer to a valid join: {1, RAIL_JOIN}, as connection private data. */
void rmig_rdma_rail_join_answer_encode(uint8_t out[RMIG_RDMA_RAIL_JOIN_ANSWER_SIZE]);
/*
 * The source's check of the answer to rail @rail's join: at least 8 bytes,
 * version 1, flags exactly RAIL_JOIN.  -EPROTO otherwise.
 */
int rmig_rdma_rail_join_answer_check(const void *buf, size_t len, uint32_t rail);

/*
 * What the destination knows of its own addresses, for judging a
 * RAILS_REQUEST.  Addresses are AF_INET or AF_INET6 (v4-mapped IPv6 is
 * taken as the IPv4 address it maps; scope ids are not compared).
 */
struct rmig_rdma_rails_local {
	/* Where the control connection arrived: rail 0 must name exactly this. */
	const struct sockaddr_storage *control;
	/* The listener's bound addresses, with their ports (entries not IP never match). */
	const struct sockaddr_storage *bound;
	uint32_t nbound;
	/*
	 * The listener is bound to a wildcard address: any address of this
	 * host is bound, at the port of any entry of @bound (which then holds
	 * the wildcard itself, so at least one entry), in the families that
	 * entry takes: 0.0.0.0 IPv4 only, :: IPv6 and, unless @v6only, IPv4.
	 */
	bool wildcard;
	/*
	 * A :: wildcard takes IPv6 only (IPV6_V6ONLY, rdma_cm's
	 * RDMA_OPTION_ID_AFONLY).  False is a dual-stack socket, Linux's
	 * default (net.ipv6.bindv6only = 0), whose IPv4 connections arrive
	 * v4-mapped.  Only a :: wildcard entry looks at it.
	 */
	bool v6only;
};

/*
 * RAILS_REQUEST on the destination (@h a header of that type, @payload its
 * h->len bytes):
 *  - 2 <= repeat <= RMIG_RDMA_MAX_RAILS and len == repeat x 24 (checked
 *    here too, so that a hand-made header cannot lie);
 *  - element i has index i, pad zero, family 4 (addr bytes 4..15 zero) or
 *    6, port 1..65535, an address other than 0.0.0.0 / ::, and no two
 *    elements name the same address and port;
 *  - rail 0 is @local->control; every other rail is bound (@local), of a
 *    family the listener takes, and an address a rail's connection can
 *    arrive at: not loopback (127/8, ::1), multicast (224/4, ff00::/8),
 *    255.255.255.255, or IPv6 link-local (fe80::/10; the element has no
 *    scope id).  IPv4 link-local (169.254/16) is a rail's address.
 * On success *@nrails is the count and @out (room for
 * RMIG_RDMA_MAX_RAILS) the elements, v4-mapped ones as IPv4.  -EPROTO
 * (reported) otherwise, -ECONNABORTED for an ERROR, -EINVAL for a @local
 * without an IPv4 or IPv6 control address, with entries but no array, or
 * a wildcard without its entry.
 */
int rmig_rdma_rails_request_validate(const struct rmig_rdma_hdr *h, const uint8_t *payload,
				     const struct rmig_rdma_rails_local *local, uint32_t *nrails,
				     struct rmig_rdma_rail_addr *out);

/*
 * RAILS_RESULT on the source, answering a RAILS_REQUEST of @nrails rails:
 * repeat == @nrails and len == repeat x 24, element i has index i and pad
 * zero, rail 0's cookie is all zero and every other rail's is not.  @out
 * (room for @nrails) only on success.  -EPROTO (reported) otherwise,
 * -ECONNABORTED for an ERROR, -EINVAL when @nrails is not
 * 2..RMIG_RDMA_MAX_RAILS.
 */
int rmig_rdma_rails_result_validate(const struct rmig_rdma_hdr *h, const uint8_t *payload,
				    uint32_t nrails, struct rmig_rdma_rail_cookie *out);

#endif /* RMIG_RDMA_RAILS_H */
