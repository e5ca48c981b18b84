/* SPDX-License-Identifier: MIT */
/*
 * TLS over a stream connection (see tls.h).  GnuTLS does the cryptography
 * and the verification; this file moves its records over the inner
 * connection, turns its verdicts into messages an operator can act on,
 * and adds the one rmig rule on top: the destination confirms with a byte
 * once it accepted the source, so a refused source learns it at once.
 */
#include "plugin/tls.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "plugin/registry.h"
#include "plugin/tlscreds.h"

#define TLS_ACCEPTED 0x01 /* the destination's confirmation byte */
#define TLS_RECORD   16384 /* the most plaintext one TLS record carries */

struct tls_conn {
	struct rmig_conn base; /* first: the registry sees only this */
	struct rmig_conn *inner;
	gnutls_session_t session;
	struct rmig_tls_creds creds;
	int inner_err;		 /* the inner connection's -errno behind a GnuTLS error */
	/*
	 * A read that ended without breaking the session (interrupt, or the
	 * peer-timeout while waiting for the hand-over's answer): handed to
	 * GnuTLS as EAGAIN, which keeps the session, and to the caller as is.
	 */
	int soft_err;
	bool server;
	uint64_t handshake_deadline_ns; /* 0 once the handshake is over */
	uint8_t stage[TLS_RECORD]; /* writev gathers small pieces into one record here */
	size_t staged;
	unsigned char first[4];	 /* the peer's first bytes, to tell a plain peer */
	size_t nfirst;
};

static struct tls_conn *tls_of(struct rmig_conn *c)
{
	return (struct tls_conn *)c;
}

bool rmig_tls_wanted(const struct rmig_tls_config *cfg)
{
	return cfg && ((cfg->creds_dir && *cfg->creds_dir) || (cfg->psk_file && *cfg->psk_file));
}

int rmig_tls_check(const struct rmig_tls_config *cfg, bool server)
{
	struct rmig_tls_creds creds;
	int ret;

	if (!rmig_tls_wanted(cfg))
		return 0;
	ret = rmig_tls_creds_load(&creds, cfg, server);
	rmig_tls_creds_fini(&creds);
	/* A missing or bad file is the configuration's fault, not the network's. */
	return ret == -ENOMEM || ret == 0 ? ret : -EINVAL;
}

bool rmig_tls_looks_like_handshake(const unsigned char *buf, size_t len)
{
	/* A TLS record of type handshake (22), protocol major version 3. */
	return len >= 2 && buf[0] == 0x16 && buf[1] == 0x03;
}

int rmig_tls_uri_host(const char *uri, char *buf, size_t len)
{
	const char *host, *end;

	if (strncmp(uri, "tcp:", 4) != 0)
		return -ENOENT;
	host = uri + 4;
	if (*host == '[') {
		end = strchr(++host, ']');
	} else {
		end = strrchr(host, ':');
	}
	if (!end || end == host || (size_t)(end - host) >= len)
		return -ENOENT;
	memcpy(buf, host, (size_t)(end - host));
	buf[end - host] = '\0';
	return 0;
}

/* ---- records over the inner connection -------------------------------- */

static ssize_t tls_push(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
	struct tls_conn *t = p;
	ssize_t n = rmig_conn_write(t->inner, buf, len);

	if (n < 0) {
		t->inner_err = (int)n;
		gnutls_transport_set_errno(t->session, (int)-n);
		return -1;
	}
	return n;
}

static ssize_t tls_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct tls_conn *t = p;
	ssize_t n;

	/* A peer that sends its handshake a byte at a time must not hold us past the deadline. */
	if (t->handshake_deadline_ns && rmig_time_now_ns() > t->handshake_deadline_ns) {
		rmig_error("TLS: the peer did not finish the handshake in time");
		t->inner_err = -ETIMEDOUT;
		gnutls_transport_set_errno(t->session, ETIMEDOUT);
		return -1;
	}
	n = rmig_conn_read(t->inner, buf, len);
	if (n < 0 && !t->handshake_deadline_ns && (n == -ECANCELED || n == -ETIMEDOUT)) {
		/* Not fatal to the session: a cancel may still have an ABORT to send through it. */
		t->soft_err = (int)n;
		gnutls_transport_set_errno(t->session, EAGAIN);
		return -1;
	}
	if (n < 0) {
		t->inner_err = (int)n;
		gnutls_transport_set_errno(t->session, (int)-n);
		return -1;
	}
	/* Keep the first bytes: a plain rmig stream here means the peer lacks TLS. */
	for (ssize_t i = 0; i < n && t->nfirst < sizeof(t->first); i++)
		t->first[t->nfirst++] = ((const unsigned char *)buf)[i];
	return n;
}

/* ---- verdicts ----------------------------------------------------------- */

/* Why a certificate failed, in the operator's words. */
static const char *cert_problem(unsigned status)
{
	if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA))
		return "it is not signed by the CA in ca-cert.pem (unknown CA)";
	if (status & GNUTLS_CERT_EXPIRED)
		return "it has expired";
	if (status & GNUTLS_CERT_NOT_ACTIVATED)
		return "it is not valid yet";
	if (status & GNUTLS_CERT_UNEXPECTED_OWNER)
		return "it is not issued to that host name";
	if (status & GNUTLS_CERT_REVOKED)
		return "it was revoked";
	if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
		return "it uses an insecure algorithm";
	return "it did not verify";
}

/* A failed handshake or confirmation: name the cause, and say -EKEYREJECTED when it was trust. */
static int tls_failed(struct tls_conn *t, int gerr, bool server, const char *hostname)
{
	const char *peer = server ? "source" : "destination";

	if (t->nfirst >= 4 && memcmp(t->first, "RMIG", 4) == 0) {
		rmig_error("TLS: the %s does not use TLS (it sent a plain rmig stream): give it "
			   "the same --tls-creds or --tls-psk",
			   peer);
		return -EKEYREJECTED;
	}
	switch (gerr) {
	case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR: {
		unsigned status = gnutls_session_get_verify_cert_status(t->session);

		if (!server && (status & GNUTLS_CERT_UNEXPECTED_OWNER))
			rmig_error("TLS: the destination's certificate is not issued to '%s' "
				   "(tls-hostname)",
				   hostname);
		else
			rmig_error("TLS: the %s's certificate was refused: %s", peer,
				   cert_problem(status));
		return -EKEYREJECTED;
	}
	case GNUTLS_E_NO_CERTIFICATE_FOUND:
	case GNUTLS_E_CERTIFICATE_REQUIRED:
		rmig_error("TLS: the %s sent no certificate", peer);
		return -EKEYREJECTED;
	case GNUTLS_E_FATAL_ALERT_RECEIVED: {
		gnutls_alert_description_t a = gnutls_alert_get(t->session);

		if (a == GNUTLS_A_ACCESS_DENIED)
			rmig_error("TLS: the %s refused us: our certificate's name is not in its "
				   "tls-authz",
				   peer);
		else if (a == GNUTLS_A_UNKNOWN_CA || a == GNUTLS_A_BAD_CERTIFICATE ||
			 a == GNUTLS_A_CERTIFICATE_EXPIRED || a == GNUTLS_A_CERTIFICATE_UNKNOWN)
			rmig_error("TLS: the %s refused our certificate (%s)", peer,
				   gnutls_alert_get_name(a));
		else if (a == GNUTLS_A_DECRYPT_ERROR || a == GNUTLS_A_UNKNOWN_PSK_IDENTITY ||
			 (t->creds.psk && (a == GNUTLS_A_ILLEGAL_PARAMETER ||
					   a == GNUTLS_A_BAD_RECORD_MAC)))
			rmig_error("TLS: the %s refused our pre-shared key (%s): the keys or "
				   "identities differ",
				   peer, gnutls_alert_get_name(a));
		else
			rmig_error("TLS: the %s ended the handshake: %s", peer,
				   gnutls_alert_get_name(a));
		return -EKEYREJECTED;
	}
	case GNUTLS_E_RECEIVED_ILLEGAL_PARAMETER:
		/* TLS 1.3: the PSK binder did not verify, so the keys differ. */
		if (t->creds.psk) {
			rmig_error("TLS: the pre-shared keys differ (the %s's binder did not verify)",
				   peer);
			return -EKEYREJECTED;
		}
		rmig_error("TLS handshake with the %s failed: %s", peer, gnutls_strerror(gerr));
		return -EPROTO;
	case GNUTLS_E_DECRYPTION_FAILED:
	case GNUTLS_E_KEYFILE_ERROR:
		rmig_error("TLS: the pre-shared keys differ, or the identity is unknown to the %s",
			   peer);
		return -EKEYREJECTED;
	case GNUTLS_E_UNEXPECTED_PACKET_LENGTH:
	case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
	case GNUTLS_E_UNEXPECTED_PACKET:
		rmig_error("TLS: the %s does not speak TLS (%s)", peer, gnutls_strerror(gerr));
		return -EKEYREJECTED;
	case GNUTLS_E_PREMATURE_TERMINATION:
		rmig_error("TLS: the %s closed the connection during the handshake: it does not "
			   "use TLS, or it refused us (see its log)",
			   peer);
		return -EKEYREJECTED;
	case GNUTLS_E_PUSH_ERROR:
	case GNUTLS_E_PULL_ERROR:
		/* The inner connection said why (timeout, reset, cancel). */
		return t->inner_err ? t->inner_err : -EIO;
	default:
		rmig_error("TLS handshake with the %s failed: %s", peer, gnutls_strerror(gerr));
		return -EPROTO;
	}
}

/* The source's DN against tls-authz: one exact DN per line, as gnutls writes it (RFC 4514). */
static int check_authz(struct tls_conn *t, const char *authz)
{
	const gnutls_datum_t *certs;
	gnutls_x509_crt_t crt;
	gnutls_datum_t dn = { 0 };
	unsigned n = 0;
	int ret = -EKEYREJECTED;

	if (!authz || !*authz)
		return 0;
	certs = gnutls_certificate_get_peers(t->session, &n);
	if (!certs || n == 0 || gnutls_x509_crt_init(&crt) < 0) {
		rmig_error("TLS: the source sent no certificate to check against tls-authz");
		return -EKEYREJECTED;
	}
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_x509_crt_get_dn3(crt, &dn, 0) < 0) {
		rmig_error("TLS: cannot read the source's certificate name");
		goto out_crt;
	}
	for (const char *p = authz; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		/* An empty line names nobody, not a certificate with an empty subject. */
		if (len && len == dn.size && memcmp(p, dn.data, len) == 0) {
			ret = 0;
			break;
		}
		p += len + (nl ? 1 : 0);
	}
	if (ret)
		rmig_error("TLS: the source's certificate name '%.*s' is not in tls-authz",
			   (int)dn.size, (const char *)dn.data);
	gnutls_free(dn.data);
out_crt:
	gnutls_x509_crt_deinit(crt);
	return ret;
}

/* ---- the connection's slots ------------------------------------------- */

static ssize_t tls_write(struct rmig_conn *c, const void *buf, size_t len)
{
	struct tls_conn *t = tls_of(c);
	ssize_t n;

	do {
		n = gnutls_record_send(t->session, buf, len);
	} while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
	if (n >= 0)
		return n;
	if (t->inner_err)
		return t->inner_err;
	rmig_error("TLS: sending failed: %s", gnutls_strerror((int)n));
	return -EIO;
}

/*
 * The stream hands over runs of 4 KiB pages and small headers.  One record
 * each would cost a record's overhead per page; gnutls' cork would grow
 * (and, past malloc's mmap threshold, fault in) a buffer as large as the
 * whole vector on every call.  So small pieces are gathered into one
 * reusable record-sized buffer, and pieces that fill a record on their
 * own go out straight from the caller's memory.
 */
static int stage_flush(struct tls_conn *t)
{
	ssize_t n;

	while (t->staged > 0) {
		n = gnutls_record_send(t->session, t->stage, t->staged);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n < 0) {
			if (t->inner_err)
				return t->inner_err;
			rmig_error("TLS: sending failed: %s", gnutls_strerror((int)n));
			return -EIO;
		}
		memmove(t->stage, t->stage + n, t->staged - (size_t)n);
		t->staged -= (size_t)n;
	}
	return 0;
}

static ssize_t tls_writev(struct rmig_conn *c, const struct iovec *iov, int iovcnt)
{
	struct tls_conn *t = tls_of(c);
	ssize_t total = 0, n;
	int ret;

	for (int i = 0; i < iovcnt; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;

		while (left > 0) {
			if (t->staged == 0 && left >= TLS_RECORD) {
				n = tls_write(c, p, TLS_RECORD);
				if (n < 0)
					return n;
			} else {
				n = (ssize_t)(left < TLS_RECORD - t->staged ? left : TLS_RECORD - t->staged);
				memcpy(t->stage + t->staged, p, (size_t)n);
				t->staged += (size_t)n;
				if (t->staged == TLS_RECORD && (ret = stage_flush(t)) < 0)
					return ret;
			}
			p += n;
			left -= (size_t)n;
			total += n;
		}
	}
	ret = stage_flush(t);
	return ret < 0 ? ret : total;
}

static ssize_t tls_read(struct rmig_conn *c, void *buf, size_t len)
{
	struct tls_conn *t = tls_of(c);
	ssize_t n;

	do {
		n = gnutls_record_recv(t->session, buf, len);
		if (n == GNUTLS_E_AGAIN && t->soft_err) {
			int err = t->soft_err;

			t->soft_err = 0;
			return err;
		}
	} while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
	if (n >= 0)
		return n;
	/* The peer closed without close_notify: to the stream, the end it already handles. */
	if (n == GNUTLS_E_PREMATURE_TERMINATION)
		return 0;
	if (t->inner_err)
		return t->inner_err;
	if (n == GNUTLS_E_FATAL_ALERT_RECEIVED)
		return tls_failed(t, (int)n, t->server, NULL);
	rmig_error("TLS: receiving failed: %s", gnutls_strerror((int)n));
	return -EIO;
}

static void tls_abort(struct rmig_conn *c)
{
	rmig_conn_abort(tls_of(c)->inner);
}

static void tls_interrupt(struct rmig_conn *c)
{
	if (!rmig_conn_interrupt(tls_of(c)->inner))
		rmig_conn_abort(tls_of(c)->inner);
}

static int tls_set_peer_timeout(struct rmig_conn *c, int timeout_ms)
{
	return rmig_conn_set_peer_timeout(tls_of(c)->inner, timeout_ms);
}

static void tls_free(struct tls_conn *t, bool close_inner)
{
	if (t->session)
		gnutls_deinit(t->session);
	rmig_tls_creds_fini(&t->creds);
	if (close_inner)
		rmig_conn_close(t->inner);
	free(t);
}

static void tls_close(struct rmig_conn *c)
{
	struct tls_conn *t = tls_of(c);

	/*
	 * Best effort: the stream's own end already said everything.  Not after
	 * a failed write, whose unsent rest gnutls_bye would first try to flush
	 * into the same stuck socket for another peer-timeout.
	 */
	if (!t->inner_err)
		gnutls_bye(t->session, GNUTLS_SHUT_WR);
	tls_free(t, true);
}

static int tls_describe(struct rmig_conn *c, char *buf, size_t len)
{
	char inner[160];

	return snprintf(buf, len, "%s over TLS",
			rmig_conn_describe(tls_of(c)->inner, inner, sizeof(inner)));
}

/* TLS adds no device: the one under it carries the bytes. */
static int tls_numa_node(struct rmig_conn *c)
{
	return rmig_conn_numa_node(tls_of(c)->inner);
}

static const struct rmig_transport_ops tls_ops = {
	.size = sizeof(struct rmig_transport_ops),
	.abi_version = RMIG_TRANSPORT_ABI_VERSION,
	.scheme = "tls",
	.description = "TLS (GnuTLS) over a stream connection",
	.write = tls_write,
	.writev = tls_writev,
	.read = tls_read,
	.abort = tls_abort,
	.close = tls_close,
	.set_peer_timeout = tls_set_peer_timeout,
	.interrupt = tls_interrupt,
	.describe = tls_describe,
	.numa_node = tls_numa_node,
};

/* ---- the handshake ---------------------------------------------------- */

static int tls_open(struct rmig_conn *inner, const struct rmig_tls_config *cfg, bool server,
		    const char *hostname, struct rmig_conn **out)
{
	struct tls_conn *t;
	int gerr, ret;

	if (rmig_conn_has_ram_hooks(inner)) {
		rmig_error("TLS protects stream transports (tcp, unix, fd); over rdma the pages "
			   "bypass any stream: use --auth-key to authenticate the peer instead");
		return -EPROTONOSUPPORT;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->base.ops = &tls_ops;
	t->inner = inner;
	t->server = server;
	if (cfg->handshake_timeout_ms > 0)
		t->handshake_deadline_ns =
			rmig_time_now_ns() + (uint64_t)cfg->handshake_timeout_ms * RMIG_NSEC_PER_MSEC;
	ret = rmig_tls_creds_load(&t->creds, cfg, server);
	if (ret)
		goto err_free;
	gerr = gnutls_init(&t->session, server ? GNUTLS_SERVER : GNUTLS_CLIENT);
	if (gerr >= 0)
		gerr = rmig_tls_creds_apply(&t->creds, t->session, server, hostname);
	if (gerr < 0) {
		/* Ours, not the peer's: the destination must not blame (and wait on) sources for it. */
		rmig_error("TLS: cannot set up the session: %s", gnutls_strerror(gerr));
		ret = -EINVAL;
		goto err_free;
	}
	gnutls_transport_set_ptr(t->session, t);
	gnutls_transport_set_push_function(t->session, tls_push);
	gnutls_transport_set_pull_function(t->session, tls_pull);
	do {
		gerr = gnutls_handshake(t->session);
	} while (gerr < 0 && !gnutls_error_is_fatal(gerr) && !t->soft_err);
	if (gerr < 0 && t->soft_err) {
		ret = t->soft_err; /* cancelled, or the peer went quiet (no deadline given) */
		goto err_free;
	}
	if (gerr < 0) {
		ret = tls_failed(t, gerr, server, hostname);
		/* Tell the peer why, so its message can name the cause too.  Best effort. */
		if (!t->inner_err)
			gnutls_alert_send_appropriate(t->session, gerr);
		goto err_free;
	}
	/* tls-authz names certificates: PSK has none (rmig_params_validate refuses the mix). */
	ret = server && !t->creds.psk ? check_authz(t, cfg->authz) : 0;
	if (server) {
		unsigned char ok = TLS_ACCEPTED;

		if (ret) {
			gnutls_alert_send(t->session, GNUTLS_AL_FATAL, GNUTLS_A_ACCESS_DENIED);
			goto err_free;
		}
		ret = (int)tls_write(&t->base, &ok, 1);
	} else {
		unsigned char ok = 0;

		ret = (int)tls_read(&t->base, &ok, 1);
		if (ret == 0) {
			rmig_error("TLS: the destination closed the connection instead of accepting "
				   "us (see its log)");
			ret = -EKEYREJECTED;
		} else if (ret == 1 && ok != TLS_ACCEPTED) {
			rmig_error("TLS: the destination answered 0x%02x, not its acceptance", ok);
			ret = -EPROTO;
		}
	}
	if (ret < 0)
		goto err_free;
	t->handshake_deadline_ns = 0;
	rmig_debug("TLS: %s, %s", gnutls_protocol_get_name(gnutls_protocol_get_version(t->session)),
		   gnutls_cipher_get_name(gnutls_cipher_get(t->session)));
	*out = &t->base;
	return 0;

err_free:
	tls_free(t, false);
	return ret;
}

int rmig_tls_client(struct rmig_conn *inner, const struct rmig_tls_config *cfg,
		    struct rmig_conn **out)
{
	return tls_open(inner, cfg, false, cfg->hostname, out);
}

int rmig_tls_server(struct rmig_conn *inner, const struct rmig_tls_config *cfg,
		    struct rmig_conn **out)
{
	return tls_open(inner, cfg, true, NULL, out);
}
