/* SPDX-License-Identifier: MIT */
/*
 * The two-phase hand-over that follows the stream's trailer, on the same
 * connection in the other direction (docs/switchover.md):
 *
 *   source                                  destination
 *   trailer                          --->   load, verify
 *                                    <---   RESULT(0 | errno)
 *   ACTIVE -> COMPLETED (commit point)
 *   COMMIT                           --->   start the workload, COMPLETED
 *   (or, when a cancel won the race: ABORT ---> FAILED, source resumed)
 *
 * Every message is 16 bytes, big-endian: u32 magic "RMGH", u32 kind,
 * u32 status (a positive errno, RESULT only), u32 reserved (0).  Both
 * sides treat what they read as hostile: any other magic, kind, status or
 * reserved value is a protocol error.
 */
#ifndef RMIG_HANDOVER_H
#define RMIG_HANDOVER_H

#include <stdint.h>

#include <rmig/transport.h>

#define RMIG_HANDOVER_MAGIC 0x524d4748u /* "RMGH" */
#define RMIG_HANDOVER_SIZE 16
#define RMIG_HANDOVER_STATUS_MAX 4095 /* errnos are small; anything larger is garbage */

enum rmig_handover_kind {
	RMIG_HANDOVER_RESULT = 1, /* destination: loaded and verified (0), or why not */
	RMIG_HANDOVER_COMMIT = 2, /* source: stopped for good; the destination may start */
	RMIG_HANDOVER_ABORT = 3,  /* source: the workload stays here; discard */
};

/*
 * How much longer than peer-timeout a side waits while its peer checksums
 * @ram_bytes of RAM without a word: one second per GiB, a floor far below
 * any checksum speed measured here (several GB/s), so that verifying a
 * large RAM is not taken for a frozen peer.  Still a deadline.
 */
uint64_t rmig_handover_verify_allowance_ms(uint64_t ram_bytes);

const char *rmig_handover_kind_get_name(uint32_t kind);

void rmig_handover_encode(uint8_t msg[RMIG_HANDOVER_SIZE], enum rmig_handover_kind kind,
			  int status);
/*
 * Check and decode one message.  Returns 0, or -EPROTO (reported) for a
 * bad magic, an unknown kind, a status out of range or on a kind that has
 * none, or a reserved word that is not 0.  Outputs are set only on success.
 */
int rmig_handover_decode(const uint8_t msg[RMIG_HANDOVER_SIZE], enum rmig_handover_kind *kind,
			 int *status);

/* Write one message whole.  Negative errno (reported, naming @what). */
int rmig_handover_send(struct rmig_conn *c, enum rmig_handover_kind kind, int status,
		       const char *what);

/*
 * Read one message within @timeout_ms (0: no deadline of its own, for a
 * transport whose reads end by themselves).  -ETIMEDOUT when the peer said
 * nothing in time (the connection is aborted then), -ECONNRESET when it
 * hung up, -ECANCELED when someone aborted the connection, -EPROTO for a
 * bad message; each reported naming @what ("waiting for the
 * destination's result").
 */
int rmig_handover_recv(struct rmig_conn *c, uint64_t timeout_ms, const char *what,
		       enum rmig_handover_kind *kind, int *status);

/*
 * As rmig_handover_recv(), when the first @nhave bytes of the message were
 * already read (into the stream's read-ahead buffer, behind the trailer).
 */
int rmig_handover_recv_after(struct rmig_conn *c, const void *have, size_t nhave,
			     uint64_t timeout_ms, const char *what, enum rmig_handover_kind *kind,
			     int *status);

#endif /* RMIG_HANDOVER_H */
