/* SPDX-License-Identifier: MIT */
/* A transport connection over memory, for tests of the stream and its format. */
#ifndef RMIG_TEST_MEMCONN_H
#define RMIG_TEST_MEMCONN_H

#include <stddef.h>
#include <stdint.h>

#include <rmig/transport.h>

/*
 * A connection over a memory buffer, for tests and fuzzers: reads return
 * @data in pieces of at most @chunk bytes (0 = all at once), writes append
 * to an internal buffer.  Not registered with the registry.
 */
struct rmig_conn *rmig_memconn_new(const void *data, size_t len, size_t chunk);
const uint8_t *rmig_memconn_written(struct rmig_conn *c, size_t *len);
void rmig_memconn_free(struct rmig_conn *c);
/* Accept at most @chunk bytes per write/writev call (0 = no limit), to test partial writes. */
void rmig_memconn_set_write_chunk(struct rmig_conn *c, size_t chunk);
/* Every write/writev returns 0, as a broken out-of-tree transport might. */
void rmig_memconn_set_write_stuck(struct rmig_conn *c);

#endif /* RMIG_TEST_MEMCONN_H */
