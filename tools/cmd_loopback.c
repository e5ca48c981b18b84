/* SPDX-License-Identifier: MIT */
/*
 * `rmig loopback`: both ends in one process, over a real transport.
 *
 * The destination listens first (so the source can never race it), then
 * loads in its own thread while the main thread drives the source.  Since
 * both RAMs live in this process, a completed migration is checked twice:
 * by the stream's own per-block checksums (the destination's verdict) and
 * by comparing the two memories byte for byte, which trusts nothing in
 * rmig at all.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rmig/log.h>

#include "common/base/memlock.h"
#include "common/base/util.h"
#include "plugin/registry.h"
#include "tools/cli.h"
#include "tools/monitor.h"

#define CLI_DEST_GRACE_MS 30000 /* a completed source's destination has only the trailer left */
/* A failed source closed its connection or sent ABORT: its destination sees that at once. */
#define CLI_DEST_FAIL_GRACE_MS 5000
/* What one rdma side pins besides RAM: message buffers (11 MiB) and a margin. */
#define LOOPBACK_SIDE_OVERHEAD (15ULL << 20)

/* The first RDMA device's name, or false when the kernel shows none. */
static bool rdma_device(char *name, size_t len)
{
	DIR *dir = opendir("/sys/class/infiniband");
	struct dirent *de;
	bool found = false;

	if (!dir)
		return false;
	while (!found && (de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(name, len, "%s", de->d_name);
		found = true;
	}
	closedir(dir);
	return found;
}

/* "HOST:PORT", bracketing a bare IPv6 literal. */
static void host_port(char *buf, size_t len, const char *scheme, const char *host)
{
	bool v6 = strchr(host, ':') && host[0] != '[';

	snprintf(buf, len, "%s:%s%s%s:0", scheme, v6 ? "[" : "", host, v6 ? "]" : "");
}

/*
 * Pick the listen URI.  Auto means RDMA only when it can actually work:
 * a device, the transport loaded, and an address on the device's netdev
 * (rdma_cm binds by IP; there is no useful default).  Otherwise TCP, and
 * the user is told which of the three was missing.
 */
static int choose_uri(const struct cli_options *o, char *uri, size_t len, char *sock_path,
		      size_t plen)
{
	const char *rdma_addr = o->addr ? o->addr : getenv("RMIG_RDMA_ADDR");
	char dev[256], why[384] = "";

	sock_path[0] = '\0';
	switch (o->transport) {
	case CLI_TRANSPORT_AUTO:
		if (!rdma_device(dev, sizeof(dev)))
			snprintf(why, sizeof(why), "no RDMA device in /sys/class/infiniband");
		else if (!rmig_transport_find("rdma"))
			snprintf(why, sizeof(why),
				 "RDMA device %s found, but the rdma transport is not loaded", dev);
		else if (!rdma_addr || !*rdma_addr)
			snprintf(why, sizeof(why),
				 "RDMA device %s found, but no address: give --addr or set "
				 "RMIG_RDMA_ADDR to the IP of its netdev",
				 dev);
		if (!why[0]) {
			host_port(uri, len, "rdma", rdma_addr);
			if (!o->quiet)
				cli_msg("transport auto: using rdma (device %s, address %s)", dev,
					rdma_addr);
			break;
		}
		host_port(uri, len, "tcp", o->addr ? o->addr : "127.0.0.1");
		if (!o->quiet)
			cli_msg("transport auto: using tcp (%s)", why);
		break;
	case CLI_TRANSPORT_TCP:
		host_port(uri, len, "tcp", o->addr ? o->addr : "127.0.0.1");
		break;
	case CLI_TRANSPORT_RDMA:
		if (!rdma_addr || !*rdma_addr) {
			cli_msg("loopback: --transport rdma needs the IP of the RDMA netdev: give "
				"--addr or set RMIG_RDMA_ADDR");
			return -EINVAL;
		}
		host_port(uri, len, "rdma", rdma_addr);
		break;
	case CLI_TRANSPORT_UNIX:
		if (o->addr)
			snprintf(sock_path, plen, "%s", o->addr);
		else
			snprintf(sock_path, plen, "%s/rmig-loopback-%ld.sock",
				 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
		snprintf(uri, len, "unix:%s", sock_path);
		break;
	}
	return 0;
}

/* The first page where @a and @b differ, or b->npages. */
static uint64_t first_diff_page(const struct rmig_ramblock *a, const struct rmig_ramblock *b)
{
	const uint64_t step = 1u << 20; /* memcmp in big strides; narrow down only on a miss */

	for (uint64_t off = 0; off < a->length; off += step) {
		uint64_t n = RMIG_MIN(step, a->length - off);

		if (memcmp(a->host + off, b->host + off, n) == 0)
			continue;
		for (uint64_t p = off; p < off + n; p += a->page_size)
			if (memcmp(a->host + p, b->host + p, a->page_size))
				return p >> a->page_shift;
	}
	return a->npages;
}

/* The independent check: the two RAMs, block by block.  0 or -EIO (reported). */
static int compare_ram(const struct rmig_ram *src, const struct rmig_ram *dst, bool quiet)
{
	uint64_t bytes = 0, page;
	char size[32];

	if (src->nblocks != dst->nblocks) {
		cli_msg("memory check FAILED: the source has %u RAM blocks, the destination %u",
			src->nblocks, dst->nblocks);
		return -EIO;
	}
	for (uint32_t i = 0; i < src->nblocks; i++) {
		const struct rmig_ramblock *a = rmig_ram_get_block(src, i);
		const struct rmig_ramblock *b = rmig_ram_get_block(dst, i);

		if (strcmp(a->name, b->name) || a->length != b->length ||
		    a->page_size != b->page_size) {
			cli_msg("memory check FAILED: block %u is \"%s\" (%" PRIu64
				" bytes) on the "
				"source but \"%s\" (%" PRIu64 " bytes) on the destination",
				i, a->name, a->length, b->name, b->length);
			return -EIO;
		}
		page = first_diff_page(a, b);
		if (page < a->npages) {
			cli_msg("memory check FAILED: block \"%s\" differs at page %" PRIu64
				" (offset 0x%" PRIx64 ")",
				a->name, page, page << a->page_shift);
			return -EIO;
		}
		bytes += a->length;
	}
	if (!quiet)
		printf("memory verified: %u block%s, %s identical\n", src->nblocks,
		       src->nblocks == 1 ? "" : "s", rmig_size_format(bytes, size, sizeof(size)));
	return 0;
}

/*
 * After the source ends, give the destination a bounded time to finish
 * too.  Not cancelled at once when the source failed: an ABORT may still
 * be in its socket, and a cancel then would leave it in doubt about a
 * workload the source kept.  One in doubt anyway (a COMMIT lost) is
 * resolved here, where the source's outcome is known.
 */
static void finish_dest(struct cli_dest *d, bool source_completed)
{
	uint64_t grace = source_completed ? CLI_DEST_GRACE_MS : CLI_DEST_FAIL_GRACE_MS;
	uint64_t deadline = rmig_time_now_ns() + grace * RMIG_NSEC_PER_MSEC;
	enum rmig_state s = rmig_incoming_get_state(d->in);

	/* Not active yet: nothing it could answer RESULT(0) to, so nothing to wait for. */
	if (!source_completed && (s == RMIG_STATE_NONE || s == RMIG_STATE_SETUP))
		cli_dest_cancel(d);
	while (!cli_dest_done(d) && rmig_time_now_ns() < deadline && !cli_interrupted())
		cli_sleep_ms(50);
	if (!cli_dest_done(d)) {
		cli_msg("the destination did not finish: cancelling it");
		cli_dest_cancel(d);
	}
	cli_dest_join(d);
	if (rmig_incoming_get_state(d->in) == RMIG_STATE_IN_DOUBT &&
	    rmig_incoming_resolve(d->in, source_completed) == 0) {
		cli_msg("loopback: the destination was in doubt; the source %s, so it %s",
			source_completed ? "completed" : "kept the workload",
			source_completed ? "starts" : "discards its copy");
		d->resolved = true;
		if (source_completed)
			d->rc = 0;
	}
}

static void report_dest(const struct cli_options *o, struct cli_dest *d)
{
	const struct rmig_load_info *li = rmig_incoming_load_info(d->in);
	const char *verdict;

	if (d->rc != 0)
		verdict = "no (the destination failed)";
	else if (li && li->verified)
		verdict = "yes (every RAM block's checksum matched)";
	else if (!o->params.caps[RMIG_CAP_VERIFY])
		verdict = "no (--no-verify: no checksums were sent)";
	else
		verdict = "no";
	if (!o->quiet && !o->json)
		printf("dest verified: %s\n", verdict);
}

/*
 * Loopback cancels one side when the other fails, so a "cancelled" from
 * either side without Ctrl-C only echoes the other side's failure: the
 * verdict is the side that failed first.
 */
static enum cli_exit loopback_exit_code(struct cli_source *s, struct cli_dest *d,
					const struct rmig_info *info)
{
	enum cli_exit code = cli_source_exit_code(s, info);
	int err;

	/* Resolved from the source's outcome: the source's verdict is the whole one. */
	if (d->rc == 0 || d->resolved || (code == CLI_EXIT_CANCELLED && cli_interrupted()))
		return code;
	err = rmig_incoming_get_error(d->in);
	if (!err)
		err = d->rc;
	if (err == -ECANCELED && code != CLI_EXIT_OK && !cli_interrupted())
		return code;
	return cli_exit_for_error(err, false);
}

/*
 * Both sides pin in this one process, under one RLIMIT_MEMLOCK, where a
 * migration has a limit per host: give each side half, less its message
 * buffers (11 MiB, rdma/ctrl.h) and a margin.  An explicit --max-pinned
 * stands as given.
 */
static void loopback_share_memlock(struct cli_options *o, const char *uri)
{
	uint64_t limit = rmig_memlock_get_limit(), half;

	if (strncmp(uri, "rdma:", 5) || o->params.rdma_max_pinned ||
	    o->params.caps[RMIG_CAP_RDMA_PIN_ALL] || !limit)
		return;
	half = limit / 2;
	o->params.rdma_max_pinned = RMIG_MAX(half > LOOPBACK_SIDE_OVERHEAD
						     ? half - LOOPBACK_SIDE_OVERHEAD
						     : 0,
					     RMIG_RDMA_MAX_PINNED_MIN);
}

int cli_cmd_loopback(const struct cli_options *o)
{
	char uri[300], sock_path[256];
	struct cli_options lo;
	struct cli_monitor mon = { 0 };
	struct rmig_params dest_params;
	struct cli_source src;
	struct cli_dest d;
	struct rmig_info info;
	enum cli_exit code;
	int rc;

	if (choose_uri(o, uri, sizeof(uri), sock_path, sizeof(sock_path)))
		return CLI_EXIT_USAGE;
	/* Our own source: its pin-all request is accepted, its RAM is ours to allow. */
	dest_params = o->params;
	dest_params.caps[RMIG_CAP_RDMA_PIN_ALL] = true;
	dest_params.max_ram = 0;
	rc = cli_dest_listen(&d, uri, &dest_params);
	if (rc)
		return cli_exit_for_error(rc, true);
	lo = *o;
	loopback_share_memlock(&lo, uri);
	rc = cli_source_create(&src, &lo, o->qmp_path ? cli_monitor_guest_hook : NULL, &mon);
	if (rc) {
		code = cli_exit_for_error(rc, true);
		goto out_dest;
	}
	/* The layout is the source's, so the destination needs its guest first. */
	if (o->prealloc) {
		uint64_t ns;

		rc = cli_dest_prealloc(&d, &src.ram, &ns);
		if (rc) {
			code = cli_exit_for_error(rc, true);
			goto out_source;
		}
		if (!o->quiet)
			cli_msg("loopback: destination RAM preallocated (%" PRIu64
				" MiB in %" PRIu64 " ms, before the migration)",
				rmig_ram_get_total_bytes(&d.ram) >> 20, (uint64_t)(ns / RMIG_NSEC_PER_MSEC));
	}
	rc = cli_dest_start(&d, -1);
	if (rc) {
		code = cli_exit_for_error(rc, true);
		goto out_source;
	}
	if (o->qmp_path) {
		/* Started at once: loopback chose the URI, and the monitor watches the source. */
		rc = cli_monitor_start(&mon, &lo, &src, NULL, d.uri);
		if (rc) {
			code = cli_monitor_exit_for(rc);
			goto out_source;
		}
		src.quit = &mon.quit;
	}
	if (cli_interrupted()) {
		cli_msg("interrupted before the migration started");
		code = CLI_EXIT_CANCELLED;
		goto out_monitor;
	}
	if (!o->quiet)
		cli_msg("loopback: migrating over %s", d.uri);
	rc = cli_source_run(&src, o, d.uri, &d, &info);
	if (rc) {
		code = cli_exit_for_error(rc, true);
		goto out_monitor;
	}
	finish_dest(&d, info.status == RMIG_STATE_COMPLETED);
	code = loopback_exit_code(&src, &d, &info);
	cli_report_error_desc(&info);
	if (atomic_load(&src.reached_active) || o->json) {
		cli_report_source(o, &info);
		report_dest(o, &d);
	}
	if (code == CLI_EXIT_OK && compare_ram(&src.ram, &d.ram, o->quiet || o->json))
		code = CLI_EXIT_FAILED;
	if (info.status != RMIG_STATE_COMPLETED && !o->quiet)
		cli_source_report_guest(&src, o);
	if (code != CLI_EXIT_OK)
		cli_msg("loopback migration %s (exit %d: %s)",
			code == CLI_EXIT_CANCELLED ? "cancelled" : "failed", (int)code,
			cli_exit_meaning(code));
	if (o->qmp_path)
		cli_monitor_linger(&mon);
out_monitor:
	cli_monitor_stop(&mon);
out_source:
	cli_source_destroy(&src);
out_dest:
	cli_dest_fini(&d);
	if (sock_path[0])
		unlink(sock_path);
	return code;
}
