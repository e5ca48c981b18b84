/* SPDX-License-Identifier: MIT */
/*
 * Codecs and checks of the rails wire layer (see rails.h).  Byte offsets
 * are spelled out as in wire.c.  Every address comparison is made on the
 * normalised form: family 4 or 6, a v4-mapped IPv6 address turned into
 * the IPv4 address it maps, so that a dual-stack listener's view of a
 * connection and the source's spelling of the same address agree.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "rdma/rails.h"

/* The version word of join private data and of its answer. */
#define JOIN_VERSION 1
/* "[v6addr]:65535" */
#define ADDR_STRLEN (INET6_ADDRSTRLEN + 8)

_Static_assert(RMIG_RDMA_RAIL_ADDR_SIZE == 4 + 2 + 1 + 1 + 16, "RAILS_REQUEST element");
_Static_assert(RMIG_RDMA_RAIL_COOKIE_SIZE == 2 * 4 + RMIG_RDMA_RAIL_COOKIE, "RAILS_RESULT element");
_Static_assert(RMIG_RDMA_RAIL_JOIN_SIZE == 4 * 4 + RMIG_RDMA_RAIL_COOKIE, "join private data");
_Static_assert(RMIG_RDMA_RAIL_JOIN_SIZE <= 56,
	       "join private data must fit an IB CM connect request's 56 bytes");
_Static_assert(RMIG_RDMA_RAIL_JOIN_ANSWER_SIZE == RMIG_RDMA_CAPS_SIZE,
	       "the answer to a join has the layout of the capability answer");
_Static_assert(RMIG_RDMA_MAX_RAILS * RMIG_RDMA_RAIL_ADDR_SIZE <= RMIG_RDMA_PAYLOAD_MAX,
	       "a full RAILS_REQUEST must fit one control message");
_Static_assert(RMIG_RDMA_MAX_RAILS <= 32, "joined rails are a 32-bit mask");
_Static_assert((RMIG_RDMA_CAP_RAILS & 0xffffu) == 0,
	       "rmig extensions must not reuse QEMU flag bits");
_Static_assert((RMIG_RDMA_CAP_RAILS & RMIG_RDMA_CAPS_KNOWN) == 0,
	       "RAILS must not be negotiable before rails are built");
_Static_assert((RMIG_RDMA_RAIL_JOIN & (RMIG_RDMA_CAPS_KNOWN | RMIG_RDMA_CAP_RAILS)) == 0,
	       "the join marker is no capability");
_Static_assert(RMIG_RDMA_MSG_RAILS_REQUEST >= RMIG_RDMA_MSG__COUNT &&
		   RMIG_RDMA_MSG_RAILS_RESULT >= RMIG_RDMA_MSG__COUNT,
	       "extension types must not overlap the v1 ones");

/* --- codecs --- */

void rmig_rdma_rail_addr_encode(const struct rmig_rdma_rail_addr *a, uint8_t *out)
{
	rmig_put_be32(out, a->index);
	rmig_put_be16(out + 4, a->port);
	out[6] = a->family;
	out[7] = 0;
	memcpy(out + 8, a->addr, sizeof(a->addr));
}

void rmig_rdma_rail_addr_decode(const uint8_t *in, struct rmig_rdma_rail_addr *a)
{
	a->index = rmig_get_be32(in);
	a->port = rmig_get_be16(in + 4);
	a->family = in[6];
	memcpy(a->addr, in + 8, sizeof(a->addr));
}

void rmig_rdma_rail_cookie_encode(const struct rmig_rdma_rail_cookie *c, uint8_t *out)
{
	rmig_put_be32(out, c->index);
	rmig_put_be32(out + 4, 0);
	memcpy(out + 8, c->cookie, sizeof(c->cookie));
}

void rmig_rdma_rail_cookie_decode(const uint8_t *in, struct rmig_rdma_rail_cookie *c)
{
	c->index = rmig_get_be32(in);
	memcpy(c->cookie, in + 8, sizeof(c->cookie));
}

void rmig_rdma_rail_join_encode(uint32_t rail, const uint8_t cookie[RMIG_RDMA_RAIL_COOKIE],
				uint8_t out[RMIG_RDMA_RAIL_JOIN_SIZE])
{
	rmig_put_be32(out, JOIN_VERSION);
	rmig_put_be32(out + 4, RMIG_RDMA_RAIL_JOIN);
	rmig_put_be32(out + 8, rail);
	rmig_put_be32(out + 12, 0);
	memcpy(out + 16, cookie, RMIG_RDMA_RAIL_COOKIE);
}

void rmig_rdma_rail_join_answer_encode(uint8_t out[RMIG_RDMA_RAIL_JOIN_ANSWER_SIZE])
{
	rmig_put_be32(out, JOIN_VERSION);
	rmig_put_be32(out + 4, RMIG_RDMA_RAIL_JOIN);
}

/* --- addresses --- */

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* ::ffff:a.b.c.d -> a.b.c.d; anything else unchanged. */
static void normalise(struct rmig_rdma_rail_addr *a)
{
	if (a->family != 6 || memcmp(a->addr, v4_mapped_prefix, sizeof(v4_mapped_prefix)))
		return;
	a->family = 4;
	memmove(a->addr, a->addr + 12, 4);
	memset(a->addr + 4, 0, 12);
}

/* @sa as a normalised rail address; false for a family that is not IP. */
static bool from_sockaddr(const struct sockaddr *sa, struct rmig_rdma_rail_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		a->family = 4;
		a->port = ntohs(in->sin_port);
		memcpy(a->addr, &in->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		a->family = 6;
		a->port = ntohs(in6->sin6_port);
		memcpy(a->addr, &in6->sin6_addr, 16);
		normalise(a);
		return true;
	}
	return false;
}

static bool same_endpoint(const struct rmig_rdma_rail_addr *a, const struct rmig_rdma_rail_addr *b)
{
	return a->family == b->family && a->port == b->port && !memcmp(a->addr, b->addr, 16);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* "10.0.0.1:4444" or "[fd00::1]:4444" of a family-4/6 address, into @buf. */
static const char *addr_str(const struct rmig_rdma_rail_addr *a, char buf[ADDR_STRLEN])
{
	char host[INET6_ADDRSTRLEN];

	inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->addr, host, sizeof(host));
	snprintf(buf, ADDR_STRLEN, a->family == 4 ? "%s:%u" : "[%s]:%u", host, a->port);
	return buf;
}

/* --- joins --- */

static bool nrails_ok(uint32_t nrails, const char *what)
{
	if (nrails < 2 || nrails > RMIG_RDMA_MAX_RAILS) {
		rmig_error("rdma: %s for %u rails; a connection has 2 to %d", what, nrails,
			   RMIG_RDMA_MAX_RAILS);
		return false;
	}
	return true;
}

int rmig_rdma_rail_join_decode(const void *buf, size_t len, const struct sockaddr *local,
			       uint32_t nrails, const struct rmig_rdma_rail_addr *rails,
			       uint32_t joined, const uint8_t cookies[][RMIG_RDMA_RAIL_COOKIE],
			       uint32_t *rail)
{
	const uint8_t *p = buf;
	struct rmig_rdma_rail_join j;
	struct rmig_rdma_rail_addr at;
	char s[ADDR_STRLEN], t[ADDR_STRLEN];
	uint32_t pad;

	if (!nrails_ok(nrails, "a rail join checked"))
		return -EINVAL;
	if (!rails || !local || !from_sockaddr(local, &at)) {
		rmig_error("rdma: a rail join checked without the rails' addresses or the IPv4 or "
			   "IPv6 address it arrived at");
		return -EINVAL;
	}
	if (!buf || len < RMIG_RDMA_RAIL_JOIN_SIZE) {
		rmig_error("rdma: a connection request with %zu bytes of private data is not a "
			   "rail join, which has %d",
			   buf ? len : 0, RMIG_RDMA_RAIL_JOIN_SIZE);
		return -EPROTO;
	}
	j.version = rmig_get_be32(p);
	j.flags = rmig_get_be32(p + 4);
	j.rail = rmig_get_be32(p + 8);
	memcpy(j.cookie, p + 16, sizeof(j.cookie));
	if (j.version != JOIN_VERSION || j.flags != RMIG_RDMA_RAIL_JOIN) {
		rmig_error("rdma: join for rail %u: version %u, flags 0x%08x; a rail join has "
			   "version %d and flags exactly 0x%08x",
			   j.rail, j.version, j.flags, JOIN_VERSION, RMIG_RDMA_RAIL_JOIN);
		return -EPROTO;
	}
	/* Zero, so that a later version can give these bytes a meaning (as check_pad). */
	pad = rmig_get_be32(p + 12);
	if (pad) {
		rmig_error("rdma: join for rail %u: its pad word is 0x%08x, which must be zero",
			   j.rail, pad);
		return -EPROTO;
	}
	if (j.rail == 0 || j.rail >= nrails) {
		rmig_error("rdma: join for rail %u: this migration has rails 1..%u to join", j.rail,
			   nrails - 1);
		return -EPROTO;
	}
	if (joined & (1u << j.rail)) {
		rmig_error("rdma: join for rail %u: that rail has joined already", j.rail);
		return -EPROTO;
	}
	/*
	 * The rail is the address pair RAILS_REQUEST named: a join that
	 * arrived elsewhere (under a wildcard listener, any address at its
	 * port) would put the rail on another device than the one asked for.
	 */
	if (!same_endpoint(&at, &rails[j.rail])) {
		rmig_error("rdma: join for rail %u: it arrived at %s, but RAILS REQUEST named %s "
			   "for that rail",
			   j.rail, addr_str(&at, s), addr_str(&rails[j.rail], t));
		return -EPROTO;
	}
	/* Constant time: how much of a guess matched must not show in when it is refused. */
	if (gnutls_memcmp(j.cookie, cookies[j.rail], RMIG_RDMA_RAIL_COOKIE) != 0) {
		rmig_error("rdma: join for rail %u: its cookie is not the one this destination "
			   "gave that rail",
			   j.rail);
		return -EPROTO;
	}
	*rail = j.rail;
	return 0;
}

int rmig_rdma_rail_join_answer_check(const void *buf, size_t len, uint32_t rail)
{
	const uint8_t *p = buf;
	uint32_t version, flags;

	if (!buf || len < RMIG_RDMA_RAIL_JOIN_ANSWER_SIZE) {
		rmig_error("rdma: rail %u: the destination answered the join with %zu bytes of "
			   "private data, need %d",
			   rail, buf ? len : 0, RMIG_RDMA_RAIL_JOIN_ANSWER_SIZE);
		return -EPROTO;
	}
	version = rmig_get_be32(p);
	flags = rmig_get_be32(p + 4);
	if (version != JOIN_VERSION || flags != RMIG_RDMA_RAIL_JOIN) {
		rmig_error("rdma: rail %u: the destination answered the join with version %u, "
			   "flags 0x%08x (expected %d, 0x%08x)",
			   rail, version, flags, JOIN_VERSION, RMIG_RDMA_RAIL_JOIN);
		return -EPROTO;
	}
	return 0;
}

/* --- RAILS_REQUEST and RAILS_RESULT --- */

/*
 * Does the wildcard @w take connections to addresses of @family?  An
 * IPv4 socket sees no IPv6 connection; an IPv6 one sees IPv4 connections
 * (v4-mapped) only when it is dual-stack.
 */
static bool wildcard_takes(const struct rmig_rdma_rails_local *l,
			   const struct rmig_rdma_rail_addr *w, uint8_t family)
{
	return family == w->family || (family == 4 && w->family == 6 && !l->v6only);
}

/*
 * Is @a one of @l's bound addresses (under a wildcard, any address of a
 * family it takes, at its port)?  If not, *@wild is a wildcard entry at
 * @a's port that does not take @a's family, or has port 0 if none is.
 */
static bool is_bound(const struct rmig_rdma_rails_local *l, const struct rmig_rdma_rail_addr *a,
		     struct rmig_rdma_rail_addr *wild)
{
	struct rmig_rdma_rail_addr b;

	wild->port = 0;
	for (uint32_t i = 0; i < l->nbound; i++) {
		if (!from_sockaddr((const struct sockaddr *)&l->bound[i], &b))
			continue;
		if (!l->wildcard) {
			if (same_endpoint(a, &b))
				return true;
			continue;
		}
		if (a->port != b.port)
			continue;
		if (wildcard_takes(l, &b, a->family))
			return true;
		*wild = b;
	}
	return false;
}

/*
 * Why no rail's connection can arrive at @a (normalised), or NULL if one
 * can.  IPv4 link-local (169.254/16) can: the soft-RoCE harness's rails
 * are there (ci/softroce --rails), and an IPv4 route needs no scope id.
 * Loopback cannot: lo is no RDMA device's netdev (rxe on lo does not
 * work with rdma_cm, see ci/softroce), so no rail's device is there.
 */
static const char *not_unicast(const struct rmig_rdma_rail_addr *a)
{
	static const uint8_t v6_loopback[16] = {[15] = 1};
	const uint8_t *b = a->addr;

	if (a->family == 4) {
		if (b[0] == 127)
			return "a loopback address, which no other host reaches and no RDMA "
			       "device owns";
		if ((b[0] & 0xf0) == 0xe0)
			return "a multicast address, which no connection can be made to";
		if (b[0] == 0xff && b[1] == 0xff && b[2] == 0xff && b[3] == 0xff)
			return "the broadcast address, which no connection can be made to";
		return NULL;
	}
	if (!memcmp(b, v6_loopback, sizeof(v6_loopback)))
		return "a loopback address, which no other host reaches and no RDMA device "
		       "owns";
	if (b[0] == 0xff)
		return "a multicast address, which no connection can be made to";
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return "a link-local address, which names no interface without the scope id "
		       "that the request does not carry";
	return NULL;
}

/*
 * A pad the peer sent is zero.  Refused otherwise, so that a later
 * version can give those bytes a meaning: a peer of this version sends
 * nothing but zero there, and takes nothing else for padding, ignoring
 * what it would mean.
 */
static int check_pad(uint32_t pad, const char *msg, uint32_t i, const char *what)
{
	if (pad) {
		rmig_error("rdma: %s: rail %u has 0x%x in its %s, which must be zero", msg, i, pad,
			   what);
		return -EPROTO;
	}
	return 0;
}

/*
 * Element @i of a RAILS_REQUEST, normalised in place; @a[0..i-1] are the
 * rails before it, already checked.
 */
static int check_rail_addr(struct rmig_rdma_rail_addr *a, uint32_t i, uint8_t pad,
			   const struct rmig_rdma_rails_local *l,
			   const struct rmig_rdma_rail_addr *control)
{
	struct rmig_rdma_rail_addr *r = &a[i], wild;
	char s[ADDR_STRLEN], t[ADDR_STRLEN];
	const char *why;

	if (r->index != i) {
		rmig_error("rdma: RAILS REQUEST: rail %u is described as index %u", i, r->index);
		return -EPROTO;
	}
	if (check_pad(pad, "RAILS REQUEST", i, "pad byte"))
		return -EPROTO;
	if (r->family != 4 && r->family != 6) {
		rmig_error("rdma: rail %u: the source names an address of family %u, expected 4 "
			   "(IPv4) or 6 (IPv6)",
			   i, r->family);
		return -EPROTO;
	}
	if (r->family == 4 && !all_zero(r->addr + 4, 12)) {
		rmig_error("rdma: rail %u: the source names an IPv4 address whose bytes 4..15 "
			   "are not zero",
			   i);
		return -EPROTO;
	}
	normalise(r);
	if (r->port == 0) {
		rmig_error("rdma: rail %u: the source wants %s, port 0", i, addr_str(r, s));
		return -EPROTO;
	}
	/* A wildcard names no device: nothing could be joined "there". */
	if (all_zero(r->addr, 16)) {
		rmig_error("rdma: rail %u: the source wants %s, which is no address to connect to",
			   i, addr_str(r, s));
		return -EPROTO;
	}
	/*
	 * Rails 1.. are joined by a connection to the address alone.  Rail 0
	 * is where the control connection did arrive (at a link-local
	 * address, say, with a scope id the element does not need).
	 */
	why = i > 0 ? not_unicast(r) : NULL;
	if (why) {
		rmig_error("rdma: rail %u: the source wants %s, %s", i, addr_str(r, s), why);
		return -EPROTO;
	}
	for (uint32_t k = 0; k < i; k++) {
		if (same_endpoint(r, &a[k])) {
			rmig_error("rdma: rail %u: the source wants %s, which rail %u has already",
				   i, addr_str(r, s), k);
			return -EPROTO;
		}
	}
	if (i == 0 && !same_endpoint(r, control)) {
		rmig_error("rdma: rail 0: the source names %s, but its control connection "
			   "arrived at %s",
			   addr_str(r, s), addr_str(control, t));
		return -EPROTO;
	}
	if (i > 0 && !is_bound(l, r, &wild)) {
		if (wild.port)
			rmig_error("rdma: rail %u: the source wants %s, but this destination "
				   "listens on the wildcard %s, which takes IPv%u only",
				   i, addr_str(r, s), addr_str(&wild, t), wild.family);
		else
			rmig_error("rdma: rail %u: the source wants %s, which this destination "
				   "does not listen on",
				   i, addr_str(r, s));
		return -EPROTO;
	}
	return 0;
}

/*
 * The message is the @want type: an ERROR is the peer giving up
 * (-ECONNABORTED), anything else a protocol error.
 */
static int check_type(const struct rmig_rdma_hdr *h, uint32_t want, const char *name)
{
	if (h->type == RMIG_RDMA_MSG_ERROR) {
		rmig_error("rdma: peer reported an error while this side waited for %s and is "
			   "aborting the migration; see the peer's log",
			   name);
		return -ECONNABORTED;
	}
	if (h->type != want) {
		rmig_error("rdma: protocol error: expected a %s message, got %s (type %u)", name,
			   rmig_rdma_msg_name(h->type), h->type);
		return -EPROTO;
	}
	return 0;
}

int rmig_rdma_rails_request_validate(const struct rmig_rdma_hdr *h, const uint8_t *payload,
				     const struct rmig_rdma_rails_local *local, uint32_t *nrails,
				     struct rmig_rdma_rail_addr *out)
{
	struct rmig_rdma_rail_addr a[RMIG_RDMA_MAX_RAILS], control;
	uint32_t n = h->repeat;
	int ret;

	if (!local || !local->control ||
	    !from_sockaddr((const struct sockaddr *)local->control, &control) ||
	    (local->nbound && !local->bound) || (local->wildcard && !local->nbound)) {
		rmig_error("rdma: RAILS REQUEST checked without this side's addresses: the control "
			   "connection's (IPv4 or IPv6) and, for a wildcard listener, its own");
		return -EINVAL;
	}
	ret = check_type(h, RMIG_RDMA_MSG_RAILS_REQUEST, "RAILS REQUEST");
	if (ret)
		return ret;
	if (n < 2 || n > RMIG_RDMA_MAX_RAILS || (uint64_t)n * RMIG_RDMA_RAIL_ADDR_SIZE != h->len) {
		rmig_error("rdma: RAILS REQUEST describes %u rails in %u bytes; expected 2 to %d "
			   "rails of %d bytes",
			   n, h->len, RMIG_RDMA_MAX_RAILS, RMIG_RDMA_RAIL_ADDR_SIZE);
		return -EPROTO;
	}
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = payload + (size_t)i * RMIG_RDMA_RAIL_ADDR_SIZE;

		rmig_rdma_rail_addr_decode(e, &a[i]);
		ret = check_rail_addr(a, i, e[7], local, &control);
		if (ret)
			return ret;
	}
	memcpy(out, a, (size_t)n * sizeof(*a));
	*nrails = n;
	return 0;
}

int rmig_rdma_rails_result_validate(const struct rmig_rdma_hdr *h, const uint8_t *payload,
				    uint32_t nrails, struct rmig_rdma_rail_cookie *out)
{
	struct rmig_rdma_rail_cookie c[RMIG_RDMA_MAX_RAILS];
	int ret;

	if (!nrails_ok(nrails, "RAILS RESULT checked"))
		return -EINVAL;
	ret = check_type(h, RMIG_RDMA_MSG_RAILS_RESULT, "RAILS RESULT");
	if (ret)
		return ret;
	if (h->repeat != nrails || (uint64_t)h->repeat * RMIG_RDMA_RAIL_COOKIE_SIZE != h->len) {
		rmig_error("rdma: RAILS RESULT describes %u rails in %u bytes; this side asked for "
			   "%u rails of %d bytes",
			   h->repeat, h->len, nrails, RMIG_RDMA_RAIL_COOKIE_SIZE);
		return -EPROTO;
	}
	for (uint32_t i = 0; i < nrails; i++) {
		const uint8_t *e = payload + (size_t)i * RMIG_RDMA_RAIL_COOKIE_SIZE;
		bool zero;

		rmig_rdma_rail_cookie_decode(e, &c[i]);
		if (c[i].index != i) {
			rmig_error("rdma: RAILS RESULT: rail %u is described as index %u", i,
				   c[i].index);
			return -EPROTO;
		}
		if (check_pad(rmig_get_be32(e + 4), "RAILS RESULT", i, "pad word"))
			return -EPROTO;
		zero = all_zero(c[i].cookie, sizeof(c[i].cookie));
		if (i == 0 && !zero) {
			rmig_error("rdma: RAILS RESULT: rail 0 has a cookie, but the control "
				   "connection joins nothing and its cookie is all zero");
			return -EPROTO;
		}
		if (i > 0 && zero) {
			rmig_error("rdma: RAILS RESULT: rail %u has an all-zero cookie, which any "
				   "connection could join with",
				   i);
			return -EPROTO;
		}
	}
	memcpy(out, c, (size_t)nrails * sizeof(*c));
	return 0;
}
