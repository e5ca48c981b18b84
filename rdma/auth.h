/* SPDX-License-Identifier: MIT */
/*
 * Private to rdma/: the authentication exchange over the control channel
 * (docs/rdma.txt section 17), run by connect and accept before they hand
 * the connection to the engine, so no block list, allocation, remote key
 * or registration ever happens for a peer that did not prove the key.
 */
#ifndef RMIG_RDMA_AUTH_H
#define RMIG_RDMA_AUTH_H

#include "rdma/authkey.h"
#include "rdma/conn.h"

/*
 * The key named by @o->auth_key, read into a heap copy wiped when freed;
 * *@k NULL when none was asked for.  0 or -errno, reported.
 */
int rmig_rdma_auth_key_from_opts(const struct rmig_conn_opts *o, struct rmig_rdma_auth_key **k);
void rmig_rdma_auth_key_free(struct rmig_rdma_auth_key *k);

/*
 * Source: CHALLENGE, check the RESPONSE, send PROOF; @caps the flags both
 * sides agreed on, bound into the proofs.  0 or -EKEYREJECTED / -errno,
 * reported.
 */
int rmig_rdma_auth_source(struct rmig_rdma_conn *rc, const struct rmig_rdma_auth_key *k,
			  uint32_t caps);
/* Destination: answer the CHALLENGE, check the PROOF. */
int rmig_rdma_auth_dest(struct rmig_rdma_conn *rc, const struct rmig_rdma_auth_key *k,
			uint32_t caps);

#endif /* RMIG_RDMA_AUTH_H */
