/* SPDX-License-Identifier: MIT */
/*
 * TLS over a stream connection (tcp, unix, fd on a socket), with GnuTLS,
 * as QEMU secures its migration stream: x509 credentials laid out as
 * QEMU's (a directory with ca-cert.pem, server-cert.pem, server-key.pem,
 * client-cert.pem, client-key.pem), or a pre-shared key.
 *
 * The wrapper is itself a connection: the engine reads and writes it as
 * it would the plain one, and never sees a byte of the peer before the
 * peer proved who it is.  Both sides verify: the source checks the
 * destination's chain and name; the destination checks the source's
 * chain and, when given, its distinguished name against tls-authz.  After
 * its checks the destination sends one confirmation byte, so a source it
 * refuses hears why (a TLS alert) before it sends any memory.
 *
 * Every refusal is -EKEYREJECTED, reported with its cause: unknown CA,
 * expired, wrong host name, DN not allowed, wrong key, peer without TLS.
 */
#ifndef RMIG_TLS_H
#define RMIG_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <rmig/transport.h>

struct rmig_tls_config {
	const char *creds_dir;	/* x509 credentials directory, or NULL / "" */
	const char *psk_file;	/* "identity:hexkey" lines, or NULL / "" */
	const char *hostname;	/* source: the name the destination's certificate must carry */
	const char *authz;	/* destination: accepted client DNs, one per line; "" any */
	int handshake_timeout_ms; /* the whole handshake, however the peer paces it; 0 none */
};

/* Is TLS asked for at all? */
bool rmig_tls_wanted(const struct rmig_tls_config *cfg);
/*
 * Read the credentials now and let them go: a bad path or key is said
 * when the migration starts or the destination listens, not when a peer
 * comes.  0 or -errno, reported.
 */
int rmig_tls_check(const struct rmig_tls_config *cfg, bool server);

/*
 * The host name a source checks by default: the URI's host ("tcp:HOST:PORT",
 * brackets dropped).  -ENOENT for a URI without one (unix:, fd:).
 */
int rmig_tls_uri_host(const char *uri, char *buf, size_t len);

/*
 * Run the handshake over @inner as the source (client) or the destination
 * (server) and return the TLS connection, which owns @inner from then on.
 * On failure @inner is still the caller's to close.  The handshake's reads
 * are @inner's, so its peer-timeout bounds them.
 */
int rmig_tls_client(struct rmig_conn *inner, const struct rmig_tls_config *cfg,
		    struct rmig_conn **out);
int rmig_tls_server(struct rmig_conn *inner, const struct rmig_tls_config *cfg,
		    struct rmig_conn **out);

/*
 * The first bytes of a plain rmig stream that came where a TLS handshake
 * was due, or of a TLS handshake where a plain stream was due: for the
 * message that says which side lacks TLS.
 */
bool rmig_tls_looks_like_handshake(const unsigned char *buf, size_t len);

#endif /* RMIG_TLS_H */
