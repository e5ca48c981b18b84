/* SPDX-License-Identifier: MIT */
/*
 * Private to plugin/tls.c: TLS credentials from QEMU's x509 directory
 * layout or from a pre-shared-key file, and putting them on a session.
 *
 * The PSK file holds "identity:hexkey" lines, as QEMU's keys.psk does; the
 * first line is used, and the key must be at least 16 bytes (32 hex digits).
 */
#ifndef RMIG_TLSCREDS_H
#define RMIG_TLSCREDS_H

#include <gnutls/gnutls.h>
#include <stdbool.h>

#include "plugin/tls.h"

#define RMIG_TLS_PSK_MIN_BYTES 16

struct rmig_tls_creds {
	bool psk;
	gnutls_certificate_credentials_t x509;
	gnutls_psk_client_credentials_t psk_client;
	gnutls_psk_server_credentials_t psk_server;
	char identity[128];
	gnutls_datum_t key; /* PSK, gnutls-allocated */
};

/* Read the files (each failure names its file).  0 or -errno, reported. */
int rmig_tls_creds_load(struct rmig_tls_creds *c, const struct rmig_tls_config *cfg, bool server);
/*
 * Priorities, credentials and verification on @s: the peer's chain always,
 * and on the source @hostname when given.  A GnuTLS error code (< 0) or 0.
 */
int rmig_tls_creds_apply(struct rmig_tls_creds *c, gnutls_session_t s, bool server,
			 const char *hostname);
void rmig_tls_creds_fini(struct rmig_tls_creds *c);

/* Parse one "identity:hexkey" line into @c (exposed for the unit test).  0 or -EINVAL. */
int rmig_tls_psk_parse(struct rmig_tls_creds *c, const char *line, const char *file);

#endif /* RMIG_TLSCREDS_H */
