/* SPDX-License-Identifier: MIT */
/*
 * "host:port" and "[v6]:port" parsing.  Strict on purpose: an address typed
 * by an operator that we only half understand is better refused here, with
 * the reason, than passed to getaddrinfo() or rdma_resolve_addr() and
 * turned into a confusing failure later.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <rmig/log.h>

#include "plugin/sockaddr.h"

static bool is_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* Host names and IPv4 literals. */
static bool is_host_char(char ch)
{
	return is_alnum(ch) || ch == '-' || ch == '.' || ch == '_';
}

/* IPv6 literals, with an optional "%zone" (an interface name). */
static bool is_v6_char(char ch)
{
	return is_host_char(ch) || ch == ':' || ch == '%';
}

static int bad(const char *addr, const char *why)
{
	rmig_error("bad address '%s': %s", addr, why);
	return -EINVAL;
}

static int parse_port(const char *addr, const char *s, int allow_zero_port, unsigned *port)
{
	unsigned long v = 0;
	const char *p;

	if (*s == '\0')
		return bad(addr, "port missing");
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return bad(addr, "port is not a number");
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return bad(addr, "port out of range (1-65535)");
	}
	if (v == 0 && !allow_zero_port)
		return bad(addr, "port 0 is only valid when listening");
	*port = (unsigned)v;
	return 0;
}

int rmig_hostport_parse(const char *addr, char *host, size_t hostlen, unsigned *port,
			int allow_zero_port)
{
	const char *h, *end, *colon;
	size_t hlen;
	unsigned p;
	int r;

	if (!addr) {
		rmig_error("bad address: none given");
		return -EINVAL;
	}
	/* Before the ':' checks, which would blame the second address's colon. */
	if (strchr(addr, ','))
		return bad(addr, "one address only: lists (',') are not supported");
	if (addr[0] == '[') {
		h = addr + 1;
		end = strchr(h, ']');
		if (!end)
			return bad(addr, "missing ']' after the IPv6 address");
		if (end == h)
			return bad(addr, "empty IPv6 address in brackets");
		for (const char *q = h; q < end; q++) {
			if (!is_v6_char(*q))
				return bad(addr, "invalid character in the IPv6 address");
		}
		if (!memchr(h, ':', (size_t)(end - h)))
			return bad(addr, "brackets are for IPv6 addresses only");
		if (end[1] != ':')
			return bad(addr, end[1] ? "expected ':' after ']'" : "port missing");
		colon = end + 1;
	} else {
		h = addr;
		colon = strchr(addr, ':');
		if (!colon)
			return bad(addr, "port missing (expected host:port)");
		end = colon;
		if (strchr(colon + 1, ':'))
			return bad(addr, "too many ':' (write IPv6 addresses as [addr]:port)");
		for (const char *q = h; q < end; q++) {
			if (!is_host_char(*q))
				return bad(addr, "invalid character in the host name");
		}
	}
	hlen = (size_t)(end - h);
	if (hlen >= RMIG_HOST_MAX || hlen >= hostlen)
		return bad(addr, "host name too long");
	r = parse_port(addr, colon + 1, allow_zero_port, &p);
	if (r < 0)
		return r;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = p;
	return 0;
}
