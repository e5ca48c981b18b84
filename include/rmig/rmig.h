/* SPDX-License-Identifier: MIT */
/*
 * librmig's public API, in one include.  docs/embedding.md walks through it.
 *
 *   <rmig/ram.h>        the embedder's memory and its dirty log
 *   <rmig/embedder.h>   stop / continue / throttle callbacks
 *   <rmig/migration.h>  the source: start, query, cancel, wait
 *   <rmig/incoming.h>   the destination: listen, run, query
 *   <rmig/params.h>     capabilities and parameters, by QEMU's names
 *   <rmig/state.h>      the shared state machine's states
 *   <rmig/info.h>       query-migrate snapshots and their JSON
 *   <rmig/log.h>        log level, log sink, last error
 *   <rmig/transport.h>  the transport plugin ABI, for transport authors
 */
#ifndef RMIG_H
#define RMIG_H

#include <rmig/embedder.h>
#include <rmig/incoming.h>
#include <rmig/info.h>
#include <rmig/log.h>
#include <rmig/migration.h>
#include <rmig/params.h>
#include <rmig/ram.h>
#include <rmig/state.h>
#include <rmig/transport.h>

#endif /* RMIG_H */
