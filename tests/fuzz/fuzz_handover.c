/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the two-phase hand-over messages (common/engine/
 * handover.h) as a hostile peer could send them.  The input is a byte
 * stream of 16-byte messages and a short tail.
 *
 * Properties, each an abort() when broken:
 *  - rmig_handover_decode() accepts exactly the messages the header
 *    describes (magic "RMGH", kind 1..3, status <= 4095 and only on RESULT,
 *    reserved 0), checked against a predicate written here from the spec;
 *  - whatever it accepts re-encodes with rmig_handover_encode() to the very
 *    same 16 bytes, so the decoder loses and invents nothing;
 *  - it leaves its outputs alone when it refuses;
 *  - rmig_handover_recv() over a connection that splits reads arbitrarily
 *    agrees with decode() on every whole message, and a stream that ends
 *    (mid-message or on a boundary) is -ECONNRESET, never a message.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#include "common/engine/handover.h"
#include "tests/support/memconn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Through recv() too: only the last few messages, as a real exchange has one. */
#define FUZZ_RECV_MAX 8
/*
 * None: memconn reads never block, and a deadline starts a watchdog thread
 * per message, which made thread set-up and teardown most of the run.
 */
#define FUZZ_RECV_TIMEOUT_MS 0

#define SENTINEL_KIND	((enum rmig_handover_kind)0x5a5a)
#define SENTINEL_STATUS (-0x5a5a)

static void quiet(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static void check(bool cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "invariant broken: %s\n", what);
		abort();
	}
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The header's description of a valid message, independent of handover.c. */
static bool spec_valid(const uint8_t *m)
{
	uint32_t magic = be32(m), kind = be32(m + 4), status = be32(m + 8);

	if (memcmp(m, "RMGH", 4) != 0 || magic != RMIG_HANDOVER_MAGIC)
		return false;
	if (kind != RMIG_HANDOVER_RESULT && kind != RMIG_HANDOVER_COMMIT &&
	    kind != RMIG_HANDOVER_ABORT)
		return false;
	if (status > RMIG_HANDOVER_STATUS_MAX || (status && kind != RMIG_HANDOVER_RESULT))
		return false;
	return be32(m + 12) == 0;
}

/*
 * Decode one 16-byte message from an exact-size heap copy (so ASan sees a
 * read past it) and check it.  Returns decode's result.
 */
static int one(const uint8_t *bytes, enum rmig_handover_kind *kind, int *status)
{
	uint8_t *m = malloc(RMIG_HANDOVER_SIZE);
	uint8_t again[RMIG_HANDOVER_SIZE];
	int rc;

	check(m != NULL, "malloc");
	memcpy(m, bytes, RMIG_HANDOVER_SIZE);
	*kind = SENTINEL_KIND;
	*status = SENTINEL_STATUS;
	rc = rmig_handover_decode(m, kind, status);
	check(rc == 0 || rc == -EPROTO, "decode returns 0 or -EPROTO");
	check((rc == 0) == spec_valid(bytes), "decode accepts exactly the valid messages");
	check(memcmp(m, bytes, RMIG_HANDOVER_SIZE) == 0, "decode leaves its input alone");
	if (rc) {
		check(*kind == SENTINEL_KIND && *status == SENTINEL_STATUS,
		      "outputs untouched on failure");
	} else {
		check(*kind >= RMIG_HANDOVER_RESULT && *kind <= RMIG_HANDOVER_ABORT, "kind range");
		check(*status >= 0 && *status <= RMIG_HANDOVER_STATUS_MAX, "status range");
		check(strcmp(rmig_handover_kind_get_name(*kind), "unknown") != 0,
		      "kind has a name");
		rmig_handover_encode(again, *kind, *status);
		check(memcmp(again, bytes, RMIG_HANDOVER_SIZE) == 0, "decode/encode round trip");
	}
	free(m);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	size_t nfull = size / RMIG_HANDOVER_SIZE, tail = size % RMIG_HANDOVER_SIZE;
	size_t first, m, i;
	enum rmig_handover_kind kind, rkind;
	int status, rstatus, rc, rrc;
	struct rmig_conn *c;

	if (!ready) {
		rmig_log_set_sink(quiet, NULL);
		ready = true;
	}
	for (i = 0; i < nfull; i++)
		one(data + i * RMIG_HANDOVER_SIZE, &kind, &status);
	if (tail) {
		/* A short read padded out, as a careless reader would see it. */
		uint8_t pad[RMIG_HANDOVER_SIZE] = {0};

		memcpy(pad, data + nfull * RMIG_HANDOVER_SIZE, tail);
		one(pad, &kind, &status);
	}

	/*
	 * The same messages through recv(), the last few whole ones and the
	 * tail, with reads split by an amount the input picks.
	 */
	m = nfull < FUZZ_RECV_MAX ? nfull : FUZZ_RECV_MAX;
	first = nfull - m;
	c = rmig_memconn_new(data + first * RMIG_HANDOVER_SIZE, m * RMIG_HANDOVER_SIZE + tail,
			     size ? data[0] % 20 : 0);
	if (!c)
		return 0;
	for (i = first; i < nfull; i++) {
		rc = one(data + i * RMIG_HANDOVER_SIZE, &kind, &status);
		rkind = SENTINEL_KIND;
		rstatus = SENTINEL_STATUS;
		rrc = rmig_handover_recv(c, FUZZ_RECV_TIMEOUT_MS, "fuzzing", &rkind, &rstatus);
		check(rrc == rc, "recv agrees with decode");
		if (!rc)
			check(rkind == kind && rstatus == status, "recv decodes the same");
	}
	rrc = rmig_handover_recv(c, FUZZ_RECV_TIMEOUT_MS, "fuzzing", &rkind, &rstatus);
	check(rrc == -ECONNRESET, "a stream that ends is -ECONNRESET");
	rmig_memconn_free(c);
	return 0;
}
