/* SPDX-License-Identifier: MIT */
/*
 * `rmig bench` internals: bench_run.c makes one measured run (a migration,
 * or the raw-socket baseline), bench.c repeats them and reports.
 */
#ifndef RMIG_TOOLS_BENCH_H
#define RMIG_TOOLS_BENCH_H

#include <stdint.h>

#include "tools/cli.h"

#define BENCH_CHUNK (1u << 20) /* the stream's largest run: 256 pages of 4 KiB */

struct bench_run {
	uint64_t active_ns; /* ACTIVE -> completed */
	uint64_t total_ns;  /* total-time, setup included */
};

/* Destination memory for every run of an invocation, faulted in; NULL (reported). */
uint8_t *bench_dest_map(uint64_t len);

/*
 * One migration of @ram (one block) over TCP loopback to a fresh
 * destination whose block is @dst, from bench_dest_map(), as the raw
 * baseline's is (bench_run.c says why).  0 or -errno (reported).
 */
int bench_migrate_once(struct rmig_ram *ram, const struct rmig_embedder *emb,
		       const struct rmig_params *params, uint8_t *dst, struct bench_run *run);

/*
 * Move @len bytes of @src into @dst over @nsockets TCP loopback
 * connections at once, each writing its share in 1 MiB writes; returns the
 * ns from the first write to the last byte read, or -errno (reported).
 */
int64_t bench_raw_once(const uint8_t *src, uint8_t *dst, uint64_t len, unsigned nsockets);

#endif /* RMIG_TOOLS_BENCH_H */
