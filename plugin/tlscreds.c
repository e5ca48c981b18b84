/* SPDX-License-Identifier: MIT */
/*
 * TLS credentials (see tlscreds.h).
 */
#include "plugin/tlscreds.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rmig/log.h>

/*
 * gnutls' defaults (TLS 1.3 first), with the ciphers ordered for bulk data:
 * AES-GCM runs at several GB/s where the CPU has AES instructions (every
 * x86-64 and ARMv8 server of the last decade); left to itself, PSK mode
 * chose ChaCha20, which nettle runs at a tenth of that here.
 */
#define PRIORITY_CIPHERS ":-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305"
#define PRIORITY_X509	 "NORMAL" PRIORITY_CIPHERS
/* Only the (EC)DHE key exchanges: a leaked key must not decrypt recorded sessions. */
#define PRIORITY_PSK "NORMAL:+ECDHE-PSK:+DHE-PSK" PRIORITY_CIPHERS

/*
 * Opening a FIFO (or a device) would block the thread that loads the
 * credentials, which may be the QMP monitor's, until something writes it.
 */
static int creds_regular(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		rmig_error("TLS: %s is not a regular file", path);
		return -EINVAL;
	}
	return 0;
}

static int creds_path(char *buf, size_t len, const char *dir, const char *file)
{
	if ((size_t)snprintf(buf, len, "%s/%s", dir, file) >= len) {
		rmig_error("TLS: credentials path too long: %s/%s", dir, file);
		return -ENAMETOOLONG;
	}
	if (access(buf, R_OK) < 0) {
		int err = errno;

		rmig_error("TLS: cannot read %s: %s (tls-creds is a directory laid out as QEMU's "
			   "x509 credentials)",
			   buf, strerror(err));
		return -err;
	}
	return creds_regular(buf);
}

static int load_x509(struct rmig_tls_creds *c, const char *dir, bool server)
{
	char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	int ret, gerr;

	ret = creds_path(ca, sizeof(ca), dir, "ca-cert.pem");
	if (!ret)
		ret = creds_path(cert, sizeof(cert), dir, server ? "server-cert.pem" : "client-cert.pem");
	if (!ret)
		ret = creds_path(key, sizeof(key), dir, server ? "server-key.pem" : "client-key.pem");
	if (ret)
		return ret;
	if (gnutls_certificate_allocate_credentials(&c->x509) < 0)
		return -ENOMEM;
	gerr = gnutls_certificate_set_x509_trust_file(c->x509, ca, GNUTLS_X509_FMT_PEM);
	if (gerr <= 0) {
		rmig_error("TLS: no CA certificate in %s%s%s", ca, gerr < 0 ? ": " : "",
			   gerr < 0 ? gnutls_strerror(gerr) : "");
		return -EINVAL;
	}
	gerr = gnutls_certificate_set_x509_key_file(c->x509, cert, key, GNUTLS_X509_FMT_PEM);
	if (gerr < 0) {
		rmig_error("TLS: cannot use %s with %s: %s", cert, key, gnutls_strerror(gerr));
		return -EINVAL;
	}
	return 0;
}

int rmig_tls_psk_parse(struct rmig_tls_creds *c, const char *line, const char *file)
{
	const char *colon = strchr(line, ':');
	gnutls_datum_t hex;
	size_t idlen, hexlen;

	if (!colon || colon == line) {
		rmig_error("TLS: %s: expected a line \"identity:hexkey\"", file);
		return -EINVAL;
	}
	idlen = (size_t)(colon - line);
	hexlen = strcspn(colon + 1, "\r\n");
	if (idlen >= sizeof(c->identity)) {
		rmig_error("TLS: %s: the identity is longer than %zu bytes", file,
			   sizeof(c->identity) - 1);
		return -EINVAL;
	}
	if (hexlen < 2 * RMIG_TLS_PSK_MIN_BYTES) {
		rmig_error("TLS: %s: the key has %zu hex digits; at least %d (%d bytes) are needed",
			   file, hexlen, 2 * RMIG_TLS_PSK_MIN_BYTES, RMIG_TLS_PSK_MIN_BYTES);
		return -EINVAL;
	}
	memcpy(c->identity, line, idlen);
	c->identity[idlen] = '\0';
	hex.data = (unsigned char *)(uintptr_t)(colon + 1);
	hex.size = (unsigned)hexlen;
	if (gnutls_hex_decode2(&hex, &c->key) < 0) {
		rmig_error("TLS: %s: the key is not hexadecimal", file);
		return -EINVAL;
	}
	return 0;
}

/* The server's lookup: the one identity of the file, or nothing. */
static int psk_lookup(gnutls_session_t s, const char *identity, gnutls_datum_t *key)
{
	struct rmig_tls_creds *c = gnutls_session_get_ptr(s);

	if (!c || strcmp(identity, c->identity) != 0) {
		char shown[65];
		size_t i;

		/* Unauthenticated bytes: no terminal escapes into the operator's log. */
		for (i = 0; identity[i] && i < sizeof(shown) - 1; i++)
			shown[i] = identity[i] >= 0x20 && identity[i] < 0x7f ? identity[i] : '?';
		shown[i] = '\0';
		rmig_warn("TLS: a source offered the unknown PSK identity '%s'", shown);
		return -1;
	}
	key->data = gnutls_malloc(c->key.size);
	if (!key->data)
		return -1;
	memcpy(key->data, c->key.data, c->key.size);
	key->size = c->key.size;
	return 0;
}

static int load_psk(struct rmig_tls_creds *c, const char *file, bool server)
{
	char line[1024];
	FILE *f;
	int ret;

	ret = creds_regular(file);
	if (ret)
		return ret;
	f = fopen(file, "r");
	if (!f) {
		ret = -errno;
		rmig_error("TLS: cannot read the pre-shared key file %s: %s", file, strerror(-ret));
		return ret;
	}
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	ret = rmig_tls_psk_parse(c, line, file);
	if (ret)
		return ret;
	c->psk = true;
	if (server) {
		if (gnutls_psk_allocate_server_credentials(&c->psk_server) < 0)
			return -ENOMEM;
		gnutls_psk_set_server_credentials_function(c->psk_server, psk_lookup);
		return 0;
	}
	if (gnutls_psk_allocate_client_credentials(&c->psk_client) < 0)
		return -ENOMEM;
	if (gnutls_psk_set_client_credentials(c->psk_client, c->identity, &c->key,
					      GNUTLS_PSK_KEY_RAW) < 0) {
		rmig_error("TLS: cannot use the key of %s", file);
		return -EINVAL;
	}
	return 0;
}

int rmig_tls_creds_load(struct rmig_tls_creds *c, const struct rmig_tls_config *cfg, bool server)
{
	memset(c, 0, sizeof(*c));
	if (cfg->psk_file && *cfg->psk_file) {
		if (cfg->creds_dir && *cfg->creds_dir) {
			rmig_error("TLS: give tls-creds or a pre-shared key, not both");
			return -EINVAL;
		}
		return load_psk(c, cfg->psk_file, server);
	}
	if (!server && (!cfg->hostname || !*cfg->hostname)) {
		rmig_error("TLS: no host name to check the destination's certificate against: "
			   "give --tls-hostname (a unix: or fd: URI names no host)");
		return -EINVAL;
	}
	return load_x509(c, cfg->creds_dir, server);
}

int rmig_tls_creds_apply(struct rmig_tls_creds *c, gnutls_session_t s, bool server,
			 const char *hostname)
{
	const char *err_pos = NULL;
	int gerr;

	gerr = gnutls_priority_set_direct(s, c->psk ? PRIORITY_PSK : PRIORITY_X509, &err_pos);
	if (gerr < 0)
		return gerr;
	if (c->psk) {
		gnutls_session_set_ptr(s, c);
		return gnutls_credentials_set(s, GNUTLS_CRD_PSK,
					      server ? (void *)c->psk_server : (void *)c->psk_client);
	}
	gerr = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, c->x509);
	if (gerr < 0)
		return gerr;
	/* Both sides verify: the server asks for the client's certificate and checks its chain. */
	if (server)
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
	gnutls_session_set_verify_cert(s, server ? NULL : hostname, 0);
	return 0;
}

void rmig_tls_creds_fini(struct rmig_tls_creds *c)
{
	if (c->x509)
		gnutls_certificate_free_credentials(c->x509);
	if (c->psk_client)
		gnutls_psk_free_client_credentials(c->psk_client);
	if (c->psk_server)
		gnutls_psk_free_server_credentials(c->psk_server);
	if (c->key.data) {
		gnutls_memset(c->key.data, 0, c->key.size);
		gnutls_free(c->key.data);
	}
	memset(c, 0, sizeof(*c));
}
