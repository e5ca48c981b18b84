/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "common/engine/handover.h"
#include "common/engine/watchdog.h"
#include "plugin/registry.h"

uint64_t rmig_handover_verify_allowance_ms(uint64_t ram_bytes)
{
	return RMIG_DIV_ROUND_UP(ram_bytes, 1ULL << 30) * 1000;
}

const char *rmig_handover_kind_get_name(uint32_t kind)
{
	switch (kind) {
	case RMIG_HANDOVER_RESULT:
		return "RESULT";
	case RMIG_HANDOVER_COMMIT:
		return "COMMIT";
	case RMIG_HANDOVER_ABORT:
		return "ABORT";
	default:
		return "unknown";
	}
}

void rmig_handover_encode(uint8_t msg[RMIG_HANDOVER_SIZE], enum rmig_handover_kind kind,
			  int status)
{
	rmig_put_be32(msg, RMIG_HANDOVER_MAGIC);
	rmig_put_be32(msg + 4, (uint32_t)kind);
	rmig_put_be32(msg + 8, (uint32_t)(status < 0 ? -status : status));
	rmig_put_be32(msg + 12, 0);
}

int rmig_handover_decode(const uint8_t msg[RMIG_HANDOVER_SIZE], enum rmig_handover_kind *kind,
			 int *status)
{
	uint32_t magic = rmig_get_be32(msg), k = rmig_get_be32(msg + 4);
	uint32_t st = rmig_get_be32(msg + 8), reserved = rmig_get_be32(msg + 12);

	if (magic != RMIG_HANDOVER_MAGIC) {
		rmig_error("hand-over: message starts with 0x%08" PRIx32 " instead of 0x%08x "
			   "(\"RMGH\"): the peer is not an rmig of this protocol, or the "
			   "stream is corrupt", magic, RMIG_HANDOVER_MAGIC);
		return -EPROTO;
	}
	if (k < RMIG_HANDOVER_RESULT || k > RMIG_HANDOVER_ABORT) {
		rmig_error("hand-over: unknown message kind %" PRIu32, k);
		return -EPROTO;
	}
	if (st > RMIG_HANDOVER_STATUS_MAX || (st && k != RMIG_HANDOVER_RESULT)) {
		rmig_error("hand-over: %s carries status %" PRIu32 ", expected %s",
			   rmig_handover_kind_get_name(k), st,
			   k == RMIG_HANDOVER_RESULT ? "an errno up to 4095" : "0");
		return -EPROTO;
	}
	if (reserved) {
		rmig_error("hand-over: %s has 0x%08" PRIx32 " in its reserved word",
			   rmig_handover_kind_get_name(k), reserved);
		return -EPROTO;
	}
	*kind = (enum rmig_handover_kind)k;
	*status = (int)st;
	return 0;
}

int rmig_handover_send(struct rmig_conn *c, enum rmig_handover_kind kind, int status,
		       const char *what)
{
	uint8_t msg[RMIG_HANDOVER_SIZE];
	size_t done = 0;

	rmig_handover_encode(msg, kind, status);
	while (done < sizeof(msg)) {
		ssize_t n = rmig_conn_write(c, msg + done, sizeof(msg) - done);

		if (n < 0) {
			rmig_error("hand-over: cannot send %s while %s: %s",
				   rmig_handover_kind_get_name(kind), what, strerror((int)-n));
			return (int)n;
		}
		/* As the stream does (stream.c): a transport that wrote nothing would loop forever. */
		if (n == 0 || (size_t)n > sizeof(msg) - done) {
			rmig_error("hand-over: transport %s wrote %zd bytes of %zu while sending %s",
				   c->ops && c->ops->scheme ? c->ops->scheme : "?", n,
				   sizeof(msg) - done, rmig_handover_kind_get_name(kind));
			return -EIO;
		}
		done += (size_t)n;
	}
	return 0;
}

int rmig_handover_recv(struct rmig_conn *c, uint64_t timeout_ms, const char *what,
		       enum rmig_handover_kind *kind, int *status)
{
	return rmig_handover_recv_after(c, NULL, 0, timeout_ms, what, kind, status);
}

int rmig_handover_recv_after(struct rmig_conn *c, const void *have, size_t nhave,
			     uint64_t timeout_ms, const char *what, enum rmig_handover_kind *kind,
			     int *status)
{
	uint8_t msg[RMIG_HANDOVER_SIZE];
	struct rmig_watchdog w;
	size_t got = RMIG_MIN(nhave, sizeof(msg));
	ssize_t n = 1;
	int ret;

	if (got)
		memcpy(msg, have, got);
	if (got == sizeof(msg))
		return rmig_handover_decode(msg, kind, status);
	ret = rmig_watchdog_arm(&w, c, timeout_ms);
	if (ret)
		return ret;
	while (got < sizeof(msg)) {
		n = rmig_conn_read(c, msg + got, sizeof(msg) - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (rmig_watchdog_disarm(&w)) {
		rmig_error("hand-over: no answer from the peer within %" PRIu64 " ms (peer-timeout) "
			   "while %s", timeout_ms, what);
		return -ETIMEDOUT;
	}
	if (n == 0 && got < sizeof(msg)) {
		rmig_error("hand-over: the peer closed the connection while %s", what);
		return -ECONNRESET;
	}
	if (n < 0) {
		if (n != -ECANCELED)
			rmig_error("hand-over: connection failed while %s: %s", what,
				   strerror((int)-n));
		return (int)n;
	}
	return rmig_handover_decode(msg, kind, status);
}
