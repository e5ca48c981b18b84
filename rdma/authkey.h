/* SPDX-License-Identifier: MIT */
/*
 * Private to rdma/: the shared key and the proofs of the mutual
 * challenge-response that authenticates an RDMA migration peer before
 * any memory is exposed to it (docs/rdma.txt section 17).  Verbs-free, so
 * the unit tests and the fuzzers compile it straight in.
 *
 * Each side sends a fresh random nonce; each proves it holds the key with
 * HMAC-SHA256 over a label naming its role and both nonces:
 *
 *   destination: HMAC(key, "rmig rdma auth v1 destination" || F || Ns || Nd)
 *   source:      HMAC(key, "rmig rdma auth v1 source"      || F || Ns || Nd)
 *
 * F is the capability flags both sides agreed on (32 bits, big-endian).
 * The labels differ so that neither proof can be reflected back as the
 * other; both nonces are in both so neither can be replayed into another
 * connection; F is in both so a tampered negotiation fails the proof.  GnuTLS supplies the HMAC, the random nonces and
 * the constant-time comparison: no cryptography is written here.
 */
#ifndef RMIG_RDMA_AUTHKEY_H
#define RMIG_RDMA_AUTHKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RMIG_RDMA_AUTH_NONCE	32
#define RMIG_RDMA_AUTH_MAC	32 /* SHA-256 */
#define RMIG_RDMA_AUTH_KEY_MIN	16
#define RMIG_RDMA_AUTH_KEY_MAX	1024

struct rmig_rdma_auth_key {
	uint8_t bytes[RMIG_RDMA_AUTH_KEY_MAX];
	size_t len;
};

/*
 * The key is the file's bytes, trailing newlines and spaces dropped (so
 * `head -c 32 /dev/urandom | base64 > key` works); at least 16 bytes.
 * 0 or -errno, reported with the file's name.
 */
int rmig_rdma_auth_key_load(const char *path, struct rmig_rdma_auth_key *k);
/* Forget the key (zeroed in place). */
void rmig_rdma_auth_key_wipe(struct rmig_rdma_auth_key *k);

/* A fresh nonce.  0 or -EIO, reported. */
int rmig_rdma_auth_nonce(uint8_t nonce[RMIG_RDMA_AUTH_NONCE]);

/*
 * The proof of @dest_proves' side (destination: true) for the agreed flags
 * @caps and nonces @ns (source's), @nd.
 */
int rmig_rdma_auth_prove(const struct rmig_rdma_auth_key *k, bool dest_proves, uint32_t caps,
			 const uint8_t ns[RMIG_RDMA_AUTH_NONCE], const uint8_t nd[RMIG_RDMA_AUTH_NONCE],
			 uint8_t mac[RMIG_RDMA_AUTH_MAC]);
/* Does @mac prove that side's key?  Compared in constant time. */
bool rmig_rdma_auth_check(const struct rmig_rdma_auth_key *k, bool dest_proves, uint32_t caps,
			  const uint8_t ns[RMIG_RDMA_AUTH_NONCE],
			  const uint8_t nd[RMIG_RDMA_AUTH_NONCE], const uint8_t mac[RMIG_RDMA_AUTH_MAC]);

#endif /* RMIG_RDMA_AUTHKEY_H */
