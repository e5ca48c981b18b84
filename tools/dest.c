/* SPDX-License-Identifier: MIT */
/*
 * The destination end, for `rmig incoming` and `rmig loopback`.
 *
 * rmig_incoming_run() blocks until the stream is loaded, so it runs in a
 * thread of its own: the main thread stays free to draw progress, to see
 * Ctrl-C and, in loopback, to drive the source at the same time.  RAM
 * starts empty: the library allocates blocks to match the source's header,
 * unless loopback's --prealloc laid them out and faulted them in first.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rmig/log.h>

#include "common/base/threadname.h"
#include "common/base/mem.h"
#include "common/base/util.h"
#include "common/ram/populate.h"
#include "tools/cli.h"

/* The hand-over's start callback, on the incoming's thread. */
static void dest_on_start(void *opaque)
{
	struct cli_dest *d = opaque;

	atomic_store(&d->started, true);
}

static int set_number(struct rmig_incoming *in, const char *name, uint64_t v)
{
	char text[24];

	snprintf(text, sizeof(text), "%" PRIu64, v);
	return rmig_incoming_set_param(in, name, text);
}

int cli_dest_open(struct cli_dest *d, const struct rmig_params *p)
{
	char numa_text[16];
	int rc;

	snprintf(numa_text, sizeof(numa_text), "%d", p->numa_node);
	memset(d, 0, sizeof(*d));
	rmig_ram_init(&d->ram);
	d->in = rmig_incoming_new(&d->ram);
	if (!d->in) {
		rmig_error("out of memory for the incoming migration");
		rc = -ENOMEM;
		goto err_ram;
	}
	rc = rmig_incoming_set_capability(d->in, RMIG_CAP_RDMA_PIN_ALL,
					  p->caps[RMIG_CAP_RDMA_PIN_ALL]);
	if (!rc)
		rc = set_number(d->in, "peer-timeout", p->peer_timeout_ms);
	if (!rc)
		rc = set_number(d->in, "max-ram", p->max_ram);
	if (!rc)
		rc = rmig_incoming_set_param(d->in, "numa-node",
					     p->numa_node == RMIG_NUMA_NODE_AUTO   ? "auto"
					     : p->numa_node == RMIG_NUMA_NODE_NONE ? "none"
										   : numa_text);
	if (!rc)
		rc = rmig_incoming_set_param(d->in, "tls-creds", p->tls_creds);
	if (!rc)
		rc = rmig_incoming_set_param(d->in, "tls-psk", p->tls_psk);
	if (!rc)
		rc = rmig_incoming_set_param(d->in, "tls-authz", p->tls_authz);
	if (!rc)
		rc = rmig_incoming_set_param(d->in, "auth-key", p->auth_key);
	if (rc)
		goto err_incoming;
	rmig_incoming_set_start(d->in, dest_on_start, d);
	return 0;

err_incoming:
	rmig_incoming_free(d->in);
	d->in = NULL;
err_ram:
	rmig_ram_fini(&d->ram);
	return rc;
}

int cli_dest_bind(struct cli_dest *d, const char *uri)
{
	sigset_t saved;
	int rc;

	/* A transport may start a helper thread here (rdma_cm events): keep signals off it. */
	cli_signals_block(&saved);
	rc = rmig_incoming_listen(d->in, uri);
	cli_signals_restore(&saved);
	if (rc)
		return rc;
	/* With port 0 only the listener knows the real address; fall back to what we asked for. */
	if (rmig_incoming_get_uri(d->in, d->uri, sizeof(d->uri)) < 0)
		snprintf(d->uri, sizeof(d->uri), "%s", uri);
	return 0;
}

int cli_dest_listen(struct cli_dest *d, const char *uri, const struct rmig_params *p)
{
	int rc = cli_dest_open(d, p);

	if (rc)
		return rc;
	rc = cli_dest_bind(d, uri);
	if (rc)
		cli_dest_fini(d);
	return rc;
}

static void *dest_thread(void *opaque)
{
	struct cli_dest *d = opaque;

	rmig_thread_name_self("rmig-incoming");
	d->rc = rmig_incoming_run(d->in, d->accept_timeout_ms);
	atomic_store(&d->done, true);
	return NULL;
}

int cli_dest_start(struct cli_dest *d, int accept_timeout_ms)
{
	sigset_t saved;
	int rc;

	d->accept_timeout_ms = accept_timeout_ms;
	atomic_store(&d->done, false);
	cli_signals_block(&saved);
	rc = pthread_create(&d->thread, NULL, dest_thread, d);
	cli_signals_restore(&saved);
	if (rc) {
		rmig_error("cannot start the incoming migration thread: %s", strerror(rc));
		return -rc;
	}
	d->thread_started = true;
	return 0;
}

int cli_mem_prefault(void *addr, uint64_t len, unsigned threads)
{
	volatile uint8_t *p = addr;
	int rc = rmig_mem_populate(addr, len, threads);

	if (rc != -EOPNOTSUPP)
		return rc;
	/* An older kernel: a store per page faults it in; the memory is zero already. */
	for (uint64_t off = 0; off < len; off += (uint64_t)sysconf(_SC_PAGESIZE))
		p[off] = 0;
	return 0;
}

int cli_dest_prealloc(struct cli_dest *d, const struct rmig_ram *like, uint64_t *ns)
{
	uint64_t t0 = rmig_time_now_ns(), want = rmig_ram_get_total_bytes(like);
	uint64_t avail = rmig_mem_get_available();

	/* Faulting in more than the kernel can give would summon the OOM killer, not fail. */
	if (want > avail) {
		rmig_error("cannot preallocate the destination's %" PRIu64 " MiB: the kernel can "
			   "give %" PRIu64 " MiB now (MemAvailable)",
			   want >> 20, avail >> 20);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < rmig_ram_get_nblocks(like); i++) {
		const struct rmig_ramblock *src = rmig_ram_get_block(like, i);
		struct rmig_ramblock *b;
		int rc;

		rc = rmig_ram_alloc(&d->ram, src->name, src->length, src->page_size, &b);
		if (rc)
			return rc;
		rc = cli_mem_prefault(b->host, b->length, rmig_populate_threads());
		if (rc) {
			rmig_error("cannot preallocate RAM block '%s' (%" PRIu64 " bytes): %s",
				   src->name, src->length, strerror(-rc));
			return rc;
		}
	}
	*ns = rmig_time_now_ns() - t0;
	return 0;
}

bool cli_dest_done(struct cli_dest *d)
{
	return atomic_load(&d->done);
}

void cli_dest_cancel(struct cli_dest *d)
{
	if (d->in)
		rmig_incoming_cancel(d->in);
}

int cli_dest_join(struct cli_dest *d)
{
	if (d->thread_started) {
		pthread_join(d->thread, NULL);
		d->thread_started = false;
	}
	return d->rc;
}

void cli_dest_fini(struct cli_dest *d)
{
	if (d->thread_started) {
		cli_dest_cancel(d);
		cli_dest_join(d);
	}
	rmig_incoming_free(d->in);
	d->in = NULL;
	rmig_ram_fini(&d->ram);
}
