/* SPDX-License-Identifier: MIT */
/*
 * Help texts.  They are the product's documentation: every option, default,
 * exit code and environment variable here is what the code does (options.c
 * holds the defaults, report.c the exit codes).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "plugin/registry.h"
#include "tools/cli.h"

static const char usage_main[] =
    "Usage: rmig COMMAND [OPTIONS]\n"
    "\n"
    "Live-migrate memory between hosts over RDMA, TCP or unix sockets.\n"
    "\n"
    "Commands:\n"
    "  incoming URI   wait for one migration on URI, receive and verify it\n"
    "  migrate URI    run a synthetic guest and migrate it to URI\n"
    "  loopback       both ends in this process; checks memory byte for byte\n"
    "  bench          measure the data path (TCP goodput, zero scan, checksum)\n"
    "  help [COMMAND] show this help, or a command's\n"
    "\n"
    "  rmig COMMAND --help    options of one command\n"
    "  rmig --version         print the version\n";

static const char text_uris[] =
    "URIs:\n"
    "  tcp:HOST:PORT, tcp:[IPV6]:PORT   TCP (port 0 on incoming: any free port)\n"
    "  unix:PATH                        unix-domain socket\n"
    "  fd:N                             an already-connected or listening descriptor\n"
    "  rdma:HOST:PORT                   RDMA (rdma_cm), HOST an IP of the RDMA netdev\n";

static const char text_guest[] =
    "Guest options (the synthetic workload):\n"
    "  --ram SIZE[,SIZE...]  one RAM block per size, e.g. 1G or 3M,5M (default 256M);\n"
    "                        sizes take K, M, G, T suffixes (powers of 1024)\n"
    "  --page-size N         page size in bytes, a power of two (default 4096)\n"
    "  --zero-share F        share of pages left zero, 0..1 (default 0.25)\n"
    "  --dirty-rate RATE     bytes/s the guest writes while migrating, e.g. 50M\n"
    "                        (default 0: idle)\n"
    "  --pattern P           uniform (any page) or hotset (default uniform)\n"
    "  --hot-fraction F      hotset: share of each block that is hot, (0..1]\n"
    "                        (default 0.1)\n"
    "  --hot-share F         hotset: share of writes that go to the hot part, (0..1]\n"
    "                        (default 0.9)\n"
    "  --writers N           writer threads, 1..256 (default 1)\n"
    "  --seed N              seed for contents and writes (default 1)\n";

static const char text_migration[] =
    "Migration options:\n"
    "  --max-bandwidth RATE  bytes/s limit, e.g. 200M (default 0: unlimited)\n"
    "  --downtime-limit MS   longest pause allowed for the final round (default 300)\n"
    "  --peer-timeout MS     longest silence from the peer (default 10000): a\n"
    "                        frozen, gone or unreachable destination ends the\n"
    "                        migration, exit code 3, and the guest keeps running\n"
    "  --channels N          pages over N channels (multifd, 1-64): extra\n"
    "                        connections over tcp: and unix:, queue pairs over\n"
    "                        rdma: (a QEMU destination gets one); not fd:\n"
    "  --numa-node auto|none|N\n"
    "                        where channel threads run and keep their buffers:\n"
    "                        the node of the NIC carrying each (auto, default),\n"
    "                        unbound, or node N; -v reports what took effect\n"
    "  --pin-all             rdma: register all RAM, not chunk by chunk\n"
    "                        (rdma-pin-all); an rmig destination pins its side\n"
    "                        region by region during the bulk round, QEMU in setup\n"
    "  --max-pinned SIZE     rdma, dynamic registration: the most RAM either side\n"
    "                        keeps registered; least recently used chunks are\n"
    "                        unregistered past it (rdma-max-pinned; default: from\n"
    "                        'ulimit -l', none when unlimited; loopback halves it,\n"
    "                        both sides sharing one process)\n"
    "  --auto-converge       throttle the guest when it dirties faster than we send\n"
    "  --no-zero-pages       send zero pages in full instead of as markers\n"
    "  --no-verify           send no per-block checksums (the destination then\n"
    "                        cannot verify)\n"
    "  --connect-timeout S   cancel if the migration is still in setup (connecting,\n"
    "                        transport setup) after S seconds; exit code 3.  The\n"
    "                        transport's own connect limit (10 s for tcp) applies\n"
    "                        too, so this can shorten the wait, not lengthen it\n";

static const char text_output[] =
    "Output options:\n"
    "  --json                print the final query-migrate object (one line of\n"
    "                        JSON, QEMU's field names) on stdout instead of the\n"
    "                        text report\n"
    "  -q, --quiet           no progress line and no text report; errors only\n"
    "  -v, --verbose         more library messages (-vv: debug)\n"
    "  --plugin-dir DIR      also load transport modules (*.so) from DIR\n"
    "  -h, --help            this help\n";

static const char text_progress_source[] =
    "While it runs, a progress line is redrawn on stderr when stderr is a\n"
    "terminal: state, percent done (bulk round), throughput, remaining,\n"
    "dirty rate and round.  Ctrl-C cancels cleanly (the guest keeps running);\n"
    "a second Ctrl-C exits at once.\n";

static const char text_progress_incoming[] =
    "While it receives, a progress line is redrawn on stderr when stderr is a\n"
    "terminal: state, bytes received and their rate.  Ctrl-C cancels (exit\n"
    "130); a second Ctrl-C exits at once.\n";

static const char text_security[] =
    "Security (docs/security.md):\n"
    "  --tls-creds DIR       TLS with x509 credentials laid out as QEMU's (ca-cert.pem,\n"
    "                        server-cert.pem, server-key.pem, client-cert.pem,\n"
    "                        client-key.pem); both sides verify the other's chain\n"
    "  --tls-psk FILE        TLS with a pre-shared key, a line \"identity:hexkey\"\n"
    "                        (at least 32 hex digits), instead of certificates\n"
    "  --tls-hostname NAME   source: the name the destination's certificate must\n"
    "                        carry (default the URI's host; needed for unix:, fd:)\n"
    "  --tls-authz DN        destination: accept only a source whose certificate has\n"
    "                        this distinguished name, e.g. 'CN=src,O=example'\n"
    "                        (repeatable; default any the CA signed)\n"
    "  --auth-key FILE       rdma: both sides prove they hold this key (at least 16\n"
    "                        bytes) before any memory is exposed; page contents still\n"
    "                        cross the wire unencrypted\n"
    "TLS is for tcp, unix and fd; --auth-key for rdma.  A source whose peer\n"
    "fails exits 6; a destination on tcp, unix or rdma logs the peer it refused\n"
    "and waits on for the right source (until --accept-timeout).\n";

static const char text_qmp[] =
    "Monitor (docs/qmp.md):\n"
    "  --qmp PATH            serve QMP, QEMU's monitor protocol, on a unix socket\n"
    "                        at PATH (mode 0600): query-migrate, migrate-set-\n"
    "                        parameters (max-bandwidth, downtime-limit and the\n"
    "                        cpu-throttle ones also while migrating), migrate_cancel,\n"
    "                        events, ...  After the migration ends rmig keeps\n"
    "                        serving until the quit command (or Ctrl-C); the exit\n"
    "                        code is still the migration's\n";

static const char text_exit[] =
    "Exit status:\n"
    "  0    success (migration completed; incoming: stream complete and verified\n"
    "       when the source sent checksums; loopback: memory identical too)\n"
    "  1    migration failed, including a verification failure\n"
    "  2    usage error: bad option, URI or value\n"
    "  3    peer unreachable, refused, or timed out\n"
    "  4    out of resources: memory, locked-memory limit, descriptors\n"
    "  5    incoming: the hand-over is in doubt -- every page arrived and verified\n"
    "       but the source's commit did not; the workload runs on neither side.\n"
    "       If the source reports completed the workload belongs here, otherwise\n"
    "       to the source (docs/switchover.md)\n"
    "  6    authentication: the peer's certificate, name or key was refused, it\n"
    "       refused ours, or one side has no TLS (docs/security.md)\n"
    "  130  cancelled by Ctrl-C (SIGINT) or SIGTERM\n";

static const char text_env[] =
    "Environment:\n"
    "  RMIG_PLUGIN_DIR   directory of transport modules loaded at start-up\n"
    "                    (instead of the installed plugin directory).  When it is\n"
    "                    unset and rmig runs from its build tree, modules are also\n"
    "                    looked for in <dir of the rmig binary>/../rdma/module.\n"
    "  RMIG_RDMA_ADDR    loopback: IP address of the RDMA netdev (as --addr)\n"
    "  TMPDIR            loopback --transport unix: where the socket goes\n";

static void print_transports(void)
{
	const struct rmig_transport_ops *t;

	printf("Transports available now:\n");
	for (unsigned i = 0; (t = rmig_transport_get(i)) != NULL; i++)
		printf("  %-8s %s\n", t->scheme, t->description ? t->description : "");
	if (!rmig_transport_find("rdma"))
		printf("  (no rdma: build with libibverbs/librdmacm, or point RMIG_PLUGIN_DIR at\n"
		       "   the directory holding rmig-rdma.so)\n");
}

void cli_help_main(void)
{
	printf("%s\n%s\n", usage_main, text_uris);
	print_transports();
	printf("\n%s\n%s", text_exit, text_env);
}

static void help_incoming(void)
{
	printf("Usage: rmig incoming URI|defer [OPTIONS]\n"
	       "\n"
	       "Wait for one migration on URI, receive it into RAM allocated to match the\n"
	       "source, check the stream's per-block checksums, and print a report.\n"
	       "Prints the bound address first, on stderr (useful with port 0; -q\n"
	       "leaves it out).  With URI 'defer' (needs --qmp) nothing listens until\n"
	       "the migrate-incoming command.\n"
	       "\n"
	       "Options:\n"
	       "  --accept-timeout S    give up if no source connects within S seconds\n"
	       "                        (default: wait forever); exit code 3\n"
	       "  --max-ram SIZE        the most RAM a source may ask for (default: what\n"
	       "                        the kernel can give now, MemAvailable); a larger\n"
	       "                        block list is refused before anything is\n"
	       "                        allocated, exit code 4\n"
	       "  --pin-all             accept the source's rdma-pin-all request (always\n"
	       "                        accepted; the flag is kept for symmetry)\n"
	       "  --peer-timeout MS     longest silence from the source (default 10000):\n"
	       "                        while receiving, then exit code 3; while waiting\n"
	       "                        for its commit after every page arrived, then\n"
	       "                        exit code 5 (the hand-over is in doubt)\n"
	       "  --numa-node auto|none|N\n"
	       "                        a multifd source's channels here: the node of\n"
	       "                        the NIC (auto, default), unbound, or node N\n"
	       "  --run S               after the hand-over, run the synthetic guest's\n"
	       "                        writers on the received memory for S seconds, as\n"
	       "                        the workload continuing here\n"
	       "  --dirty-rate RATE     their write rate (needs --run; default 16M, 0:\n"
	       "                        idle)\n"
	       "\n%s\n%s\n%s\n%s\n%s\n",
	       text_output, text_progress_incoming, text_security, text_qmp, text_uris);
	print_transports();
	printf("\n%s", text_exit);
}

static void help_migrate(void)
{
	printf("Usage: rmig migrate URI|defer [OPTIONS]\n"
	       "\n"
	       "Create the synthetic guest, start its writers and migrate it to URI\n"
	       "(where `rmig incoming` waits).  The report ends with whether checksums\n"
	       "were sent; the destination is the side that verifies them.  With URI\n"
	       "'defer' (needs --qmp) the guest runs until the migrate command.\n"
	       "\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n",
	       text_guest, text_migration, text_output, text_progress_source, text_security,
	       text_qmp, text_uris);
	print_transports();
	printf("\n%s", text_exit);
}

static void help_loopback(void)
{
	printf("Usage: rmig loopback [OPTIONS]\n"
	       "\n"
	       "Run both ends in this process: listen, migrate the synthetic guest to\n"
	       "ourselves, then compare source and destination RAM byte for byte as a\n"
	       "second check independent of the stream's checksums.\n"
	       "\n"
	       "Options:\n"
	       "  --transport T         tcp, unix, rdma or auto (default auto: rdma when\n"
	       "                        /sys/class/infiniband has a device, the rdma\n"
	       "                        transport is loaded and an address is known from\n"
	       "                        --addr or RMIG_RDMA_ADDR; otherwise tcp, and says why)\n"
	       "  --addr A              tcp: host to listen on (default 127.0.0.1, port\n"
	       "                        chosen); rdma: IP of the RDMA netdev; unix: socket\n"
	       "                        path (default $TMPDIR/rmig-loopback-PID.sock)\n"
	       "  --prealloc            map and fault in the destination's RAM before the\n"
	       "                        migration starts, as QEMU's -mem-prealloc (without\n"
	       "                        it the destination allocates blocks from the\n"
	       "                        source's header and faults them in as pages land);\n"
	       "                        says how long that took, outside total-time\n"
	       "\n%s\n%s\n%s\n%s\n%s\n%s\n",
	       text_guest, text_migration, text_output, text_progress_source, text_security,
	       text_qmp);
	print_transports();
	printf("\n%s\n%s", text_exit, text_env);
}

static void help_bench(void)
{
	printf("Usage: rmig bench [--ram SIZE] [--channels LIST] [--json] [--plot FILE.svg]\n"
	       "\n"
	       "Measure, and print as a table (best of 10 runs each):\n"
	       "  - TCP loopback migration goodput of an idle guest of SIZE (default 1G;\n"
	       "    random contents, no zero pages, verification off because this measures\n"
	       "    the data path), beside raw socket throughput over 127.0.0.1 moving the\n"
	       "    same bytes in the same 1 MiB writes into the same faulted-in region,\n"
	       "    and the ratio of the two (median of the 10 pairs run back to back);\n"
	       "  - with --channels, the same for each count of multifd channels, beside\n"
	       "    that many raw sockets;\n"
	       "  - zero-page scan speed, memcpy speed and checksum speed over 256 MiB.\n"
	       "\n"
	       "Options:\n"
	       "  --ram SIZE            the guest's RAM (default 1G)\n"
	       "  --channels LIST       channel counts, e.g. 1,2,4 (up to 8 counts, each\n"
	       "                        1-64): migration goodput with each count of\n"
	       "                        channels beside that many raw sockets, and the\n"
	       "                        ratios\n"
	       "  --json                machine-readable results on stdout (instead of\n"
	       "                        the table)\n"
	       "  --plot FILE.svg       goodput against channels beside the raw baseline,\n"
	       "                        drawn by gnuplot (needs --channels)\n"
	       "\n"
	       "It is a benchmark, not a test: it prints figures and exits 0 unless a run\n"
	       "fails.\n");
}

void cli_help_cmd_usage_hint(enum cli_cmd cmd)
{
	fprintf(stderr, "Try 'rmig %s --help'.\n", cli_cmd_name(cmd));
}

int cli_help_cmd(const char *name)
{
	switch (cli_cmd_from_name(name)) {
	case CLI_CMD_INCOMING:
		help_incoming();
		return 0;
	case CLI_CMD_MIGRATE:
		help_migrate();
		return 0;
	case CLI_CMD_LOOPBACK:
		help_loopback();
		return 0;
	case CLI_CMD_BENCH:
		help_bench();
		return 0;
	default:
		return -ENOENT;
	}
}
