/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: what a hostile peer can send before it is
 * authenticated.  The input is the client's side of a TLS handshake,
 * read by the destination's rmig_tls_server() (TLS-PSK, so no files of
 * certificates are needed) in pieces whose size the first byte picks;
 * the rest of the input also goes through the PSK-line and URI-host
 * parsers.  Nothing may crash, leak or hang, and without the key nothing
 * may be accepted.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rmig/log.h>

#include "plugin/registry.h"
#include "plugin/tls.h"
#include "plugin/tlscreds.h"
#include "tests/support/memconn.h"

static char psk_path[64];

static void discard(void *opaque, enum rmig_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int fd;

	(void)argc;
	(void)argv;
	rmig_log_set_sink(discard, NULL);
	snprintf(psk_path, sizeof(psk_path), "/tmp/rmig-fuzz-psk-XXXXXX");
	fd = mkstemp(psk_path);
	if (fd < 0 || dprintf(fd, "rmig:%s\n", "000102030405060708090a0b0c0d0e0f") < 0)
		abort();
	close(fd);
	return 0;
}

static void parsers(const uint8_t *data, size_t size)
{
	char line[256], host[64];
	struct rmig_tls_creds c;
	size_t n = size < sizeof(line) - 1 ? size : sizeof(line) - 1;

	memcpy(line, data, n);
	line[n] = '\0';
	memset(&c, 0, sizeof(c));
	if (rmig_tls_psk_parse(&c, line, "fuzz") == 0 && c.key.size < RMIG_TLS_PSK_MIN_BYTES)
		abort();
	rmig_tls_creds_fini(&c);
	if (rmig_tls_uri_host(line, host, sizeof(host)) == 0 && strlen(host) >= sizeof(host))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rmig_tls_config cfg = { .psk_file = psk_path };
	struct rmig_conn *mem, *tls = NULL;
	int rc;

	if (size < 1)
		return 0;
	parsers(data + 1, size - 1);
	mem = rmig_memconn_new(data + 1, size - 1, data[0]);
	if (!mem)
		return 0;
	rc = rmig_tls_server(mem, &cfg, &tls);
	/* Accepting would need the key's binder: random bytes must never get there. */
	if (rc == 0)
		abort();
	rmig_memconn_free(mem);
	return 0;
}
