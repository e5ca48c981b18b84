/* SPDX-License-Identifier: MIT */
/*
 * What the tool says at the end: the report (text or query-migrate JSON)
 * on stdout, and the exit code a script can branch on.
 *
 * Exit codes are derived from the -errno the library recorded for the
 * failure (rmig_migration_get_error / rmig_incoming_get_error), never from parsing
 * error-desc, which is for humans and may change wording.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <rmig/log.h>

#include "tools/cli.h"

enum cli_exit cli_exit_for_error(int err, bool in_setup)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return CLI_EXIT_OK;
	case ECANCELED:
		return CLI_EXIT_CANCELLED;
	case EINPROGRESS:
		return CLI_EXIT_IN_DOUBT;
	case EKEYREJECTED:
		return CLI_EXIT_AUTH;
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EHOSTDOWN:
	case ENETDOWN:
	case ETIMEDOUT:
		return CLI_EXIT_UNREACHABLE;
	case ENOENT:
		/* connecting to a unix: socket nobody listens on */
		return in_setup ? CLI_EXIT_UNREACHABLE : CLI_EXIT_FAILED;
	case ENOMEM:
	case ENOBUFS:
	case EMFILE:
	case ENFILE:
	case EAGAIN: /* memlock limit, as ibv_reg_mr reports it */
	case EPERM:  /* memlock limit without CAP_IPC_LOCK */
		return CLI_EXIT_RESOURCES;
	case EINVAL:
	case EPROTONOSUPPORT:
	case EAFNOSUPPORT:
	case ENAMETOOLONG:
	case EBADF:
		/* Before any data moved these can only come from the URI we were given. */
		return in_setup ? CLI_EXIT_USAGE : CLI_EXIT_FAILED;
	default:
		return CLI_EXIT_FAILED;
	}
}

const char *cli_exit_meaning(enum cli_exit code)
{
	switch (code) {
	case CLI_EXIT_OK:
		return "success";
	case CLI_EXIT_FAILED:
		return "migration failed";
	case CLI_EXIT_USAGE:
		return "usage error";
	case CLI_EXIT_UNREACHABLE:
		return "peer unreachable";
	case CLI_EXIT_RESOURCES:
		return "out of resources";
	case CLI_EXIT_IN_DOUBT:
		return "hand-over in doubt";
	case CLI_EXIT_AUTH:
		return "peer not authenticated";
	case CLI_EXIT_CANCELLED:
		return "cancelled";
	}
	return "?";
}

void cli_print_json(const struct rmig_info *info)
{
	char small[2048], *buf = small;
	int n = rmig_info_to_json(info, small, sizeof(small));

	if (n < 0)
		return;
	if ((size_t)n >= sizeof(small)) {
		buf = malloc((size_t)n + 1);
		if (!buf) {
			cli_msg("out of memory for the %d-byte JSON report", n);
			return;
		}
		rmig_info_to_json(info, buf, (size_t)n + 1);
	}
	printf("%s\n", buf);
	fflush(stdout);
	if (buf != small)
		free(buf);
}

void cli_report_error_desc(const struct rmig_info *info)
{
	if (info->error_desc[0] && !cli_log_was_printed(info->error_desc))
		cli_msg("%s", info->error_desc);
}

/* The lines both ends share. */
static void report_common(const struct rmig_info *info, const char *moved)
{
	char size[32];
	double mib_s = info->ram.mbps * 1e6 / 8.0 / (1024.0 * 1024.0);

	printf("status:        %s\n", rmig_state_get_name(info->status));
	printf("total time:    %" PRIu64 " ms\n", info->total_time_ms);
	printf("setup time:    %" PRIu64 " ms\n", info->setup_time_ms);
	if (info->has_downtime)
		printf("downtime:      %" PRIu64 " ms\n", info->downtime_ms);
	else if (info->status == RMIG_STATE_COMPLETED)
		printf("downtime:      - (the source measures it: it stops the guest)\n");
	else
		printf("downtime:      - (only measured for a completed migration)\n");
	printf("%-15s%s (%" PRIu64 " bytes)\n", moved,
	       rmig_size_format(info->ram.transferred, size, sizeof(size)), info->ram.transferred);
	printf("throughput:    %.1f MiB/s (%.2f Gb/s, average after setup, as QEMU's mbps)\n",
	       mib_s, info->ram.mbps / 1e3);
	printf("pages:         %" PRIu64 " normal, %" PRIu64 " zero (page size %" PRIu64 ")\n",
	       info->ram.normal, info->ram.duplicate, info->ram.page_size);
	if (info->pinned.reported) {
		char limit[32];

		printf("pinned:        at most %s", rmig_size_format(info->pinned.peak, size,
								 sizeof(size)));
		if (info->pinned.limit)
			printf(" (limit %s, %" PRIu64 " regions unregistered to stay under it)",
			       rmig_size_format(info->pinned.limit, limit, sizeof(limit)),
			       info->pinned.evicted);
		if (info->pinned.overlap_ms)
			printf(", %" PRIu64 " ms of it registered during the transfer",
			       info->pinned.overlap_ms);
		printf("\n");
	}
}

void cli_report_source(const struct cli_options *o, const struct rmig_info *info)
{
	if (o->json) {
		cli_print_json(info);
		return;
	}
	if (o->quiet)
		return;
	report_common(info, "transferred:");
	printf("rounds:        %" PRIu64 " (dirty-sync-count)\n", info->ram.dirty_sync_count);
	if (!o->params.caps[RMIG_CAP_VERIFY])
		printf("verified:      no (--no-verify: no checksums were sent)\n");
	else if (info->status == RMIG_STATE_COMPLETED)
		printf("verified:      checksums sent; the destination checks them\n");
	else
		printf("verified:      no (the migration did not complete)\n");
	fflush(stdout);
}

void cli_report_incoming(const struct cli_options *o, const struct rmig_info *info,
			 const struct rmig_load_info *li, int rc)
{
	if (o->json) {
		cli_print_json(info);
		return;
	}
	if (o->quiet)
		return;
	report_common(info, "received:");
	printf("rounds:        %" PRIu64 " (end-of-round records)\n", li ? li->rounds : 0);
	if (rc == 0 && li && li->verified)
		printf("verified:      yes (every RAM block's checksum matched the source's)\n");
	else if (rc == 0 && li && !(li->flags & RMIG_STREAM_F_VERIFY))
		printf(
		    "verified:      no (the source sent no checksums: it ran with --no-verify)\n");
	else if (rc == 0)
		printf("verified:      no\n");
	else
		printf("verified:      no (the migration did not complete)\n");
	fflush(stdout);
}
