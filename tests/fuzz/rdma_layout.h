/* SPDX-License-Identifier: MIT */
/*
 * The small fixed RAM that fuzz_rdma_control validates control messages
 * against, shared with gen_seeds so that its seeds name real blocks,
 * addresses and chunks (and pass validation) for as long as both agree.
 * Block i's RAM-space base is the sum of the earlier lengths, as
 * rmig_rdma_layout_bases() computes it.  Also the addresses and cookies
 * its rails checks are made against.
 */
#ifndef RMIG_FUZZ_RDMA_LAYOUT_H
#define RMIG_FUZZ_RDMA_LAYOUT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "rdma/rails.h"

#define FUZZ_RDMA_MiB	    (1024ull * 1024)
#define FUZZ_RDMA_NBLOCKS   3
#define FUZZ_RDMA_PAGE_SIZE 4096
/* The rkey fuzz_rdma_control's RAM_BLOCKS_RESULT stand-in gives every block. */
#define FUZZ_RDMA_DEST_RKEY 1

/* Several chunks; one chunk and a ragged tail; less than a chunk. */
static const uint64_t fuzz_rdma_block_len[FUZZ_RDMA_NBLOCKS] = {
    4 * FUZZ_RDMA_MiB,
    FUZZ_RDMA_MiB + 12 * 1024,
    64 * 1024,
};

/*
 * [RAILS] The destination fuzz_rdma_control judges a RAILS_REQUEST for:
 * its control connection arrived at the first of these addresses, and its
 * listener is bound at all of them, each at port FUZZ_RDMA_RAIL_PORT.
 */
#define FUZZ_RDMA_RAIL_PORT 4444
#define FUZZ_RDMA_NBOUND    3
static const char *const fuzz_rdma_rail_bound[FUZZ_RDMA_NBOUND] = {"10.0.0.1", "10.0.1.1",
								   "fd00::1"};
/* The rails of the migration its joins belong to: one per bound address. */
#define FUZZ_RDMA_NRAILS FUZZ_RDMA_NBOUND

/* That destination's addresses into @ss, and @l pointing at them (no wildcard). */
static inline void fuzz_rdma_rails_local(struct sockaddr_storage ss[FUZZ_RDMA_NBOUND],
					 struct rmig_rdma_rails_local *l)
{
	for (int i = 0; i < FUZZ_RDMA_NBOUND; i++) {
		struct sockaddr_in *in = (void *)&ss[i];
		struct sockaddr_in6 *in6 = (void *)&ss[i];

		memset(&ss[i], 0, sizeof(ss[i]));
		if (inet_pton(AF_INET, fuzz_rdma_rail_bound[i], &in->sin_addr) == 1) {
			in->sin_family = AF_INET;
			in->sin_port = htons(FUZZ_RDMA_RAIL_PORT);
		} else if (inet_pton(AF_INET6, fuzz_rdma_rail_bound[i], &in6->sin6_addr) == 1) {
			in6->sin6_family = AF_INET6;
			in6->sin6_port = htons(FUZZ_RDMA_RAIL_PORT);
		}
	}
	*l = (struct rmig_rdma_rails_local){
	    .control = &ss[0], .bound = ss, .nbound = FUZZ_RDMA_NBOUND, .wildcard = false};
}

/* The cookie it gave rail @rail in RAILS_RESULT (rail 0's all zero), which joins must bring. */
static inline void fuzz_rdma_rail_cookie(uint32_t rail, uint8_t cookie[RMIG_RDMA_RAIL_COOKIE])
{
	for (int i = 0; i < RMIG_RDMA_RAIL_COOKIE; i++)
		cookie[i] = rail ? (uint8_t)(0xa0 + rail * 16 + i) : 0;
}

#endif /* RMIG_FUZZ_RDMA_LAYOUT_H */
