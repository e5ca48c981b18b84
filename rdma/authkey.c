/* SPDX-License-Identifier: MIT */
/*
 * The authentication key and proofs (see authkey.h).
 */
#include "rdma/authkey.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/util.h"

#define LABEL_DEST   "rmig rdma auth v1 destination"
#define LABEL_SOURCE "rmig rdma auth v1 source"

int rmig_rdma_auth_key_load(const char *path, struct rmig_rdma_auth_key *k)
{
	FILE *f = fopen(path, "rb");
	size_t n;
	int err;

	memset(k, 0, sizeof(*k));
	if (!f) {
		err = errno;
		rmig_error("rdma: cannot read the authentication key %s: %s", path, strerror(err));
		return -err;
	}
	n = fread(k->bytes, 1, sizeof(k->bytes), f);
	/* One byte more than the buffer: a key file that long is not what we think it is. */
	if (n == sizeof(k->bytes) && fgetc(f) != EOF) {
		fclose(f);
		rmig_error("rdma: the authentication key %s is longer than %d bytes", path,
			   RMIG_RDMA_AUTH_KEY_MAX);
		rmig_rdma_auth_key_wipe(k);
		return -EINVAL;
	}
	fclose(f);
	while (n > 0 && (k->bytes[n - 1] == '\n' || k->bytes[n - 1] == '\r' ||
			 k->bytes[n - 1] == ' '))
		n--;
	if (n < RMIG_RDMA_AUTH_KEY_MIN) {
		rmig_error("rdma: the authentication key %s has %zu bytes; at least %d are needed "
			   "(e.g. head -c 32 /dev/urandom | base64 > %s)",
			   path, n, RMIG_RDMA_AUTH_KEY_MIN, path);
		rmig_rdma_auth_key_wipe(k);
		return -EINVAL;
	}
	k->len = n;
	return 0;
}

void rmig_rdma_auth_key_wipe(struct rmig_rdma_auth_key *k)
{
	gnutls_memset(k->bytes, 0, sizeof(k->bytes));
	k->len = 0;
}

int rmig_rdma_auth_nonce(uint8_t nonce[RMIG_RDMA_AUTH_NONCE])
{
	if (gnutls_rnd(GNUTLS_RND_NONCE, nonce, RMIG_RDMA_AUTH_NONCE) < 0) {
		rmig_error("rdma: no random nonce for the authentication");
		return -EIO;
	}
	return 0;
}

int rmig_rdma_auth_prove(const struct rmig_rdma_auth_key *k, bool dest_proves, uint32_t caps,
			 const uint8_t ns[RMIG_RDMA_AUTH_NONCE], const uint8_t nd[RMIG_RDMA_AUTH_NONCE],
			 uint8_t mac[RMIG_RDMA_AUTH_MAC])
{
	const char *label = dest_proves ? LABEL_DEST : LABEL_SOURCE;
	uint8_t msg[sizeof(LABEL_DEST) + 4 + 2 * RMIG_RDMA_AUTH_NONCE];
	size_t len = strlen(label);

	memcpy(msg, label, len);
	rmig_put_be32(msg + len, caps);
	len += 4;
	memcpy(msg + len, ns, RMIG_RDMA_AUTH_NONCE);
	memcpy(msg + len + RMIG_RDMA_AUTH_NONCE, nd, RMIG_RDMA_AUTH_NONCE);
	len += 2 * RMIG_RDMA_AUTH_NONCE;
	if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, k->bytes, k->len, msg, len, mac) < 0) {
		rmig_error("rdma: cannot compute the authentication proof");
		return -EIO;
	}
	return 0;
}

bool rmig_rdma_auth_check(const struct rmig_rdma_auth_key *k, bool dest_proves, uint32_t caps,
			  const uint8_t ns[RMIG_RDMA_AUTH_NONCE],
			  const uint8_t nd[RMIG_RDMA_AUTH_NONCE], const uint8_t mac[RMIG_RDMA_AUTH_MAC])
{
	uint8_t want[RMIG_RDMA_AUTH_MAC];
	bool ok;

	if (rmig_rdma_auth_prove(k, dest_proves, caps, ns, nd, want))
		return false;
	ok = gnutls_memcmp(want, mac, sizeof(want)) == 0;
	gnutls_memset(want, 0, sizeof(want));
	return ok;
}
