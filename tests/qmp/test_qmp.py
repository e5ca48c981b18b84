#!/usr/bin/env python3
"""The QMP monitor of rmig (tools/qmp/), end to end, with real processes.

Usage: test_qmp.py [--transport tcp|rdma] [--only NAME[,NAME...]] RMIG

Each case starts `rmig migrate` / `rmig incoming` with --qmp sockets in a
temporary directory, drives them with qmp_client.QMPClient and checks the
contract: greeting and negotiation, errors and their classes, events and
their order, live parameters, cancel and quit, hostile input.  Each case
kills its processes and removes its directory at the end, pass or fail; on
failure the processes' stderr tails are printed.

Over rdma (inside ci/softroce, which exports RMIG_RDMA_ADDR) the cases that
depend on timing precision or push large volumes over the monitor are
skipped; the migration URIs are rdma:$RMIG_RDMA_ADDR:PORT.

Exit status: 0 when every case that ran passed, 1 otherwise, 2 usage.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qmp_client import (QMPClient, QMPClosed, QMPError, QMPTimeout,  # noqa: E402
                        summarize_events)

MiB = 1 << 20
CASE_LIMIT = 120            # seconds: a safety net over the bounded waits
EXIT_CANCELLED_QMP = 1      # a cancel that is not Ctrl-C/SIGTERM: "failed" (tools/source.c)
TERMINAL = ("completed", "failed", "cancelled", "in-doubt")
CAPABILITIES = ["rdma-pin-all", "zero-pages", "auto-converge", "verify", "multifd", "events"]
PARAMETERS = ["max-bandwidth", "downtime-limit", "cpu-throttle-initial",
              "cpu-throttle-increment", "max-cpu-throttle", "peer-timeout",
              "rdma-max-pinned", "multifd-channels", "max-ram", "tls-creds", "tls-psk", "tls-hostname",
              "tls-authz", "auth-key"]
COMMANDS = ["qmp_capabilities", "query-migrate", "query-migrate-capabilities",
            "migrate-set-capabilities", "query-migrate-parameters", "migrate-set-parameters",
            "migrate", "migrate-incoming", "migrate_cancel", "migrate-incoming-resolve",
            "query-status", "stop", "cont", "quit", "query-version", "query-commands"]
NEGOTIATE_FIRST = "Expecting capabilities negotiation with 'qmp_capabilities'"
NEGOTIATED = "Capabilities negotiation is already complete, command ignored"


class CaseFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise CaseFailure(msg)


def expect_eq(what, expected, seen):
    check(expected == seen, "%s: expected %r, saw %r" % (what, expected, seen))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def tail(text, lines=25):
    return "".join("    | " + l for l in text.splitlines(True)[-lines:])


def rss_bytes(pid):
    for line in read("/proc/%d/status" % pid).splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise CaseFailure("no VmRSS in /proc/%d/status (process gone?)" % pid)


# --- transports ---------------------------------------------------------------

class Tcp:
    name = "tcp"
    ram = "64M"
    ram_bytes = 64 * MiB
    dirty = "20M"
    slow = 1.0

    def uri(self):
        return "tcp:127.0.0.1:%d" % free_port()


class Rdma:
    """Inside the soft-RoCE guest every verb is emulated on slow vCPUs:
    less RAM, longer deadlines."""
    name = "rdma"
    ram = "32M"
    ram_bytes = 32 * MiB
    dirty = "4M"
    slow = 4.0

    def __init__(self):
        self.addr = os.environ.get("RMIG_RDMA_ADDR")
        if not self.addr:
            sys.exit("test_qmp.py --transport rdma: RMIG_RDMA_ADDR is not set; "
                     "run it under ci/softroce")
        self.port = 47500 + os.getpid() % 200

    def uri(self):
        self.port += 1
        return "rdma:%s:%d" % (self.addr, self.port)


T = Tcp()


def secs(s):
    """A deadline scaled for the transport."""
    return s * T.slow


# --- processes and the per-case context -------------------------------------

class Proc:
    def __init__(self, name, argv, tmp, env=None):
        self.name = name
        self.argv = argv
        self.out = os.path.join(tmp, name + ".out")
        self.err = os.path.join(tmp, name + ".err")
        self.qmp = argv[argv.index("--qmp") + 1] if "--qmp" in argv else None
        with open(self.out, "w") as o, open(self.err, "w") as e:
            self.p = subprocess.Popen(argv, stdout=o, stderr=e, stdin=subprocess.DEVNULL,
                                      env=env)
        self.pid = self.p.pid

    def alive(self):
        return self.p.poll() is None

    def wait_exit(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise CaseFailure("%s (pid %d) still runs %.1f s after quit"
                              % (self.name, self.pid, timeout))

    def report(self):
        """The last JSON object --json printed on stdout, or None."""
        for line in reversed(read(self.out).splitlines()):
            if line.strip().startswith("{"):
                try:
                    return json.loads(line)
                except ValueError:
                    return None
        return None

    def kill(self):
        if self.p.poll() is None:
            try:
                os.kill(self.pid, signal.SIGCONT)
                self.p.kill()
            except OSError:
                pass
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            pass


class Ctx:
    def __init__(self, rmig, name):
        self.rmig = rmig
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix="qmp-")
        self.procs = []
        self.clients = []
        self.notes = []
        self.cleanups = []

    def note(self, text):
        self.notes.append(text)

    def spawn(self, name, argv, env=None):
        p = Proc(name, [self.rmig] + argv, self.tmp, env)
        self.procs.append(p)
        return p

    def source(self, *extra, uri="defer", ram=None, name="src"):
        return self.spawn(name, ["migrate", uri, "--qmp", os.path.join(self.tmp, name + ".qmp"),
                                 "--ram", ram or T.ram, "--json"] + list(extra))

    def dest(self, *extra, uri="defer", name="dst"):
        return self.spawn(name, ["incoming", uri, "--qmp", os.path.join(self.tmp, name + ".qmp"),
                                 "--json"] + list(extra))

    def client(self, proc, negotiate=True, read_greeting=True):
        try:
            c = QMPClient(proc.qmp, timeout=secs(10), read_greeting=read_greeting,
                          negotiate=negotiate, alive=proc.alive)
        except QMPClosed as e:
            raise CaseFailure("%s: %s (exit code %s)" % (proc.name, e, proc.p.poll()))
        self.clients.append(c)
        return c

    def fresh_client(self, proc, negotiate=True, timeout=5.0):
        """A new client once the server has noticed the previous one left:
        retried while it answers "another QMP client is connected"."""
        deadline = time.monotonic() + timeout
        while True:
            c = self.client(proc, negotiate=False, read_greeting=False)
            first = c.recv_msg(secs(10))
            if "QMP" in first:
                c.greeting = first
                if negotiate:
                    c.negotiate()
                return c
            c.close()
            desc = (first.get("error") or {}).get("desc", "")
            check(desc.startswith("another QMP client"),
                  "%s: a new client got %r instead of the greeting" % (proc.name, first))
            check(time.monotonic() < deadline,
                  "%s: still 'another QMP client is connected' %.1f s after the previous "
                  "client closed" % (proc.name, timeout))
            time.sleep(0.05)

    def cleanup(self):
        for fn in self.cleanups:
            try:
                fn()
            except Exception:
                pass
        for c in self.clients:
            c.close()
        for p in self.procs:
            p.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def framing_errors(self):
        return [(c.path, e) for c in self.clients for e in c.framing_errors]

    def dump(self):
        out = []
        for p in self.procs:
            out.append("  --- %s: %s (exit %s)" % (p.name, " ".join(p.argv[1:]), p.p.poll()))
            for path, what in ((p.err, "stderr"), (p.out, "stdout")):
                text = read(path)
                if text.strip():
                    out.append("    %s:\n%s" % (what, tail(text).rstrip("\n")))
        return "\n".join(out)


# --- shared steps -------------------------------------------------------------

def status_of(ev):
    return (ev.get("data") or {}).get("status")


def migration_statuses(client):
    return [status_of(e) for e in client.event_log if e.get("event") == "MIGRATION"]


def wait_end(client, side, timeout):
    """Wait for the terminal MIGRATION event; return its status."""
    try:
        ev = client.wait_event("MIGRATION", lambda e: status_of(e) in TERMINAL, timeout)
    except QMPTimeout as e:
        raise CaseFailure("%s: no terminal MIGRATION event: %s" % (side, e))
    return status_of(ev)


def wait_status_event(client, side, status, timeout):
    try:
        client.wait_event("MIGRATION", lambda e: status_of(e) == status, timeout)
    except QMPTimeout as e:
        raise CaseFailure("%s: no MIGRATION %s event: %s" % (side, status, e))


def expect_error(err, cls, what, desc_prefix=None, desc_contains=None):
    expect_eq("%s: error class" % what, cls, err.get("class"))
    desc = err.get("desc")
    check(isinstance(desc, str), "%s: error desc is not a string: %r" % (what, err))
    if desc_prefix is not None:
        check(desc.startswith(desc_prefix),
              "%s: desc should start with %r, saw %r" % (what, desc_prefix, desc))
    for part in ([desc_contains] if isinstance(desc_contains, str) else desc_contains or []):
        check(part in desc, "%s: desc should name %r, saw %r" % (what, part, desc))


def refused(client, what, name, args=None, cls="GenericError", serves=False, **kw):
    """NAME ARGS must get an error of class CLS; return the error object.
    SERVES: then check that the connection still answers query-status."""
    reply = client.cmd(name, args)
    check("error" in reply, "%s: %s %s should be refused, got %r"
          % (what, name, json.dumps(args) if args else "", reply))
    expect_error(reply["error"], cls, what, **kw)
    if serves:
        still_serves(client, what)
    return reply["error"]


def still_serves(client, what):
    try:
        st = client.ok("query-status", timeout=secs(5))
    except QMPError as e:
        raise CaseFailure("after %s the connection no longer serves query-status: %s" % (what, e))
    check("status" in st, "after %s: query-status returned %r" % (what, st))


def params(client):
    return client.ok("query-migrate-parameters")


def caps(client):
    return {c["capability"]: c["state"] for c in client.ok("query-migrate-capabilities")}


def set_params(client, **kw):
    expect_eq("migrate-set-parameters %s returns" % kw, {},
              client.ok("migrate-set-parameters", **kw))


def quit_and_exit(client, proc, expected, what):
    """quit: {} then the process exits with EXPECTED (None: any code, not a signal).
    Returns the exit code."""
    try:
        reply = client.cmd("quit", timeout=secs(10))
    except QMPClosed:
        raise CaseFailure("%s: quit: the connection closed without the {} reply" % what)
    expect_eq("%s: quit reply" % what, {}, reply.get("return"))
    code = proc.wait_exit(secs(15))
    check(code >= 0, "%s: exited on signal %d after quit (a crash?)" % (what, -code))
    if expected is not None:
        expect_eq("%s: exit code after quit" % what, expected, code)
    return code


def start_pair(ctx, src_opts=(), dst_opts=(), src_ram=None):
    """A deferred source and destination, both negotiated; the destination
    already listening (migrate-incoming).  Returns src, dst, sc, dc, uri."""
    src = ctx.source(*src_opts, ram=src_ram)
    dst = ctx.dest(*dst_opts)
    sc, dc = ctx.client(src), ctx.client(dst)
    uri = T.uri()
    expect_eq("migrate-incoming %s returns" % uri, {}, dc.ok("migrate-incoming", uri=uri))
    return src, dst, sc, dc, uri


def start_migration(sc, uri):
    expect_eq("migrate %s returns" % uri, {}, sc.ok("migrate", uri=uri))


def migrate_until_active(sc, uri, side="source"):
    start_migration(sc, uri)
    wait_status_event(sc, side, "active", secs(15))


def migrate_status(client):
    return client.ok("query-migrate").get("status")


def wait_cancelled(client, side, timeout):
    status = wait_end(client, side, timeout)
    expect_eq("%s: terminal MIGRATION status after migrate_cancel" % side, "cancelled", status)
    seq = migration_statuses(client)
    ends = (["active", "cancelled"], ["setup", "cancelled"], ["cancelling", "cancelled"])
    check(seq[-2:] in ends,
          "%s: MIGRATION statuses should end with (cancelling,) cancelled, saw %s" % (side, seq))


def expect_running(client, side):
    st = client.ok("query-status")
    expect_eq("%s: query-status" % side,
              {"running": True, "singlestep": False, "status": "running"}, st)


def expect_resumed_if_stopped(client):
    names = [e["event"] for e in client.event_log]
    if "STOP" in names:
        check("RESUME" in names[names.index("STOP"):],
              "a STOP without a later RESUME after the cancel: %s"
              % summarize_events(client.event_log))


def check_timestamp(ev, now):
    ts = ev.get("timestamp")
    check(isinstance(ts, dict), "event %r has no timestamp object" % (ev,))
    s, us = ts.get("seconds"), ts.get("microseconds")
    check(type(s) is int and type(us) is int,
          "event %s: timestamp seconds/microseconds should be integers, saw %r"
          % (ev.get("event"), ts))
    check(0 <= us <= 999999, "event %s: microseconds %d not in [0, 999999]" % (ev.get("event"), us))
    check(abs(s - now) < 120, "event %s: timestamp %d s is not the wall clock (now %d)"
          % (ev.get("event"), s, now))
    return s + us / 1e6


# --- cases ------------------------------------------------------------------------

def check_query_lists(c, side):
    names = [x.get("capability") for x in c.ok("query-migrate-capabilities")]
    expect_eq("%s: query-migrate-capabilities names" % side, CAPABILITIES, names)
    expect_eq("%s: query-migrate-parameters names" % side, sorted(PARAMETERS), sorted(params(c)))


def set_and_read_back(c, side):
    before_p, before_c = params(c), caps(c)
    expect_eq("%s: migrate-set-capabilities returns" % side, {},
              c.ok("migrate-set-capabilities",
                   capabilities=[{"capability": "auto-converge", "state": True}]))
    expect_eq("%s: capabilities after setting auto-converge" % side,
              dict(before_c, **{"auto-converge": True}), caps(c))
    set_params(c, downtime_limit=500, cpu_throttle_increment=15)
    expect_eq("%s: parameters after setting downtime-limit and cpu-throttle-increment" % side,
              dict(before_p, **{"downtime-limit": 500, "cpu-throttle-increment": 15}), params(c))


def case_defer_migration(ctx):
    src = ctx.source("--dirty-rate", T.dirty)
    dst = ctx.dest()
    sc, dc = ctx.client(src), ctx.client(dst)
    for side, c in (("source", sc), ("destination", dc)):
        expect_eq("%s: query-migrate status before any migration" % side, "none", migrate_status(c))
        check_query_lists(c, side)
        set_and_read_back(c, side)
    uri = T.uri()
    expect_eq("migrate-incoming returns", {}, dc.ok("migrate-incoming", uri=uri))
    expect_eq("destination status after migrate-incoming", "setup", migrate_status(dc))
    expect_eq("destination query-status before the migration",
              {"running": False, "singlestep": False, "status": "inmigrate"}, dc.ok("query-status"))
    expect_eq("migrate (with detach) returns", {}, sc.ok("migrate", uri=uri, detach=True))
    for side, c in (("source", sc), ("destination", dc)):
        expect_eq("%s: terminal MIGRATION status" % side, "completed", wait_end(c, side, secs(60)))
    qs, qd = sc.ok("query-migrate"), dc.ok("query-migrate")
    expect_eq("source query-migrate status", "completed", qs.get("status"))
    expect_eq("destination query-migrate status", "completed", qd.get("status"))
    rs, rd = qs.get("ram", {}), qd.get("ram", {})
    expect_eq("source ram.total", T.ram_bytes, rs.get("total"))
    expect_eq("destination ram.total (= source's)", rs.get("total"), rd.get("total"))
    expect_eq("source precopy-bytes + downtime-bytes (transferred %s)" % rs.get("transferred"),
              rs.get("transferred"), rs.get("precopy-bytes", 0) + rs.get("downtime-bytes", 0))
    expect_eq("source query-status after completed",
              {"running": False, "singlestep": False, "status": "postmigrate"},
              sc.ok("query-status"))
    refused(sc, "cont after a completed migration", "cont")
    refused(sc, "a second migrate in the same process", "migrate", {"uri": T.uri()})
    quit_and_exit(sc, src, 0, "source")
    quit_and_exit(dc, dst, 0, "destination")


def case_event_order(ctx):
    src, dst, sc, dc, uri = start_pair(ctx, ["--dirty-rate", T.dirty])
    start_migration(sc, uri)
    expect_eq("source: terminal MIGRATION status", "completed", wait_end(sc, "source", secs(60)))
    expect_eq("destination: terminal MIGRATION status", "completed",
              wait_end(dc, "destination", secs(30)))
    sc.drain_events(0.3)
    evs = sc.event_log
    seen = summarize_events(evs)
    now = time.time()
    stamps = [check_timestamp(e, now) for e in evs + dc.event_log][:len(evs)]
    expect_eq("source MIGRATION statuses in order (events %s)" % seen,
              ["setup", "active", "completed"], migration_statuses(sc))
    names = [e["event"] for e in evs]
    i_setup, i_active, i_done = [i for i, e in enumerate(evs) if e["event"] == "MIGRATION"]
    expect_eq("the last source event (events %s)" % seen, len(evs) - 1, i_done)
    check(i_setup == 0, "MIGRATION setup should be the first source event: %s" % seen)
    passes = [(i, e["data"].get("pass")) for i, e in enumerate(evs)
              if e["event"] == "MIGRATION_PASS"]
    check(passes, "no MIGRATION_PASS event on the source: %s" % seen)
    check(all(i_active < i < i_done for i, _ in passes),
          "MIGRATION_PASS events should all be between active and completed: %s" % seen)
    nums = [n for _, n in passes]
    check(all(type(n) is int for n in nums) and nums[0] >= 1,
          "MIGRATION_PASS numbers should be integers from 1: %s" % nums)
    check(all(a < b for a, b in zip(nums, nums[1:])), "MIGRATION_PASS numbers not strictly "
          "increasing: %s" % nums)
    expect_eq("source STOP events (events %s)" % seen, 1, names.count("STOP"))
    expect_eq("source RESUME events after a completed migration", 0, names.count("RESUME"))
    i_stop = names.index("STOP")
    check(i_active < i_stop < i_done,
          "STOP should come after active and before completed: %s" % seen)
    ram = sc.ok("query-migrate").get("ram", {})
    expect_eq("last MIGRATION_PASS vs query-migrate ram.dirty-sync-count",
              ram.get("dirty-sync-count"), nums[-1])
    dseq = migration_statuses(dc)
    check(dseq and dseq[0] == "setup" and dseq[-1] == "completed" and "active" in dseq,
          "destination MIGRATION statuses should go setup .. active .. completed, saw %s" % dseq)
    check_stamp_order(evs, stamps)
    quit_and_exit(sc, src, 0, "source")
    quit_and_exit(dc, dst, 0, "destination")


def check_stamp_order(evs, stamps):
    """Each event is stamped when it happens (a MIGRATION_PASS at its sync),
    so the order they arrive in is the order of their timestamps."""
    back = [i for i in range(1, len(stamps)) if stamps[i] < stamps[i - 1]]
    check(not back, "source events arrive out of timestamp order (%s): %s" % (
        ", ".join("%s after %s stamped %.6f < %.6f" % (
            summarize_events([evs[i]])[1:-1], summarize_events([evs[i - 1]])[1:-1],
            stamps[i], stamps[i - 1]) for i in back),
        ", ".join("%s@%.6f" % (summarize_events([e])[1:-1], t) for e, t in zip(evs, stamps))))


def measure_rate(sc, seconds):
    """Bytes/s from ram.transferred over SECONDS (the migration must stay active)."""
    def sample():
        t0 = time.monotonic()
        q = sc.ok("query-migrate")
        t = (t0 + time.monotonic()) / 2
        check(q.get("status") == "active",
              "the migration should still be active while measuring, it is %r" % q.get("status"))
        return t, q["ram"]["transferred"]
    ta, ba = sample()
    time.sleep(seconds)
    tb, bb = sample()
    return (bb - ba) / (tb - ta)


def check_rate(rate, limit, what):
    """The limit holds (+15%); the floor is loose, as a loaded machine sends less, not more."""
    check(0.5 * limit <= rate <= 1.15 * limit,
          "%s: measured %.2f MiB/s, limit %.2f MiB/s (allowed 50%% to 115%% of it)"
          % (what, rate / MiB, limit / MiB))


def case_live_bandwidth(ctx):
    low = 8 * MiB
    src, dst, sc, dc, uri = start_pair(ctx, ["--zero-share", "0"], src_ram="256M")
    set_params(sc, max_bandwidth=low)
    expect_eq("max-bandwidth read back", low, params(sc)["max-bandwidth"])
    migrate_until_active(sc, uri)
    time.sleep(0.3)
    r1 = measure_rate(sc, 1.5)
    ctx.note("max-bandwidth 8 MiB/s: measured %.2f MiB/s" % (r1 / MiB))
    check_rate(r1, low, "max-bandwidth 8 MiB/s")
    set_params(sc, max_bandwidth=4 * low)
    expect_eq("max-bandwidth read back during the migration", 4 * low, params(sc)["max-bandwidth"])
    time.sleep(0.3)
    r2 = measure_rate(sc, 1.5)
    ctx.note("max-bandwidth raised to 32 MiB/s: measured %.2f MiB/s" % (r2 / MiB))
    check_rate(r2, 4 * low, "max-bandwidth raised to 32 MiB/s live")
    check(r2 >= 2 * r1, "the raise took effect: %.2f MiB/s after it, %.2f MiB/s before"
          % (r2 / MiB, r1 / MiB))
    set_params(sc, max_bandwidth=0)
    expect_eq("source: terminal MIGRATION status after max-bandwidth 0", "completed",
              wait_end(sc, "source", secs(60)))
    expect_eq("destination: terminal MIGRATION status", "completed",
              wait_end(dc, "destination", secs(30)))
    quit_and_exit(sc, src, 0, "source")
    quit_and_exit(dc, dst, 0, "destination")


def slow_pair(ctx, dst_opts=()):
    """A pair whose migration takes ~8 s unless max-bandwidth is lifted."""
    src, dst, sc, dc, uri = start_pair(ctx, ["--zero-share", "0", "--dirty-rate", "4M"], dst_opts)
    set_params(sc, max_bandwidth=8 * MiB)
    return src, dst, sc, dc, uri


def case_live_downtime(ctx):
    src, dst, sc, dc, uri = slow_pair(ctx)
    before = params(sc)
    before_caps = caps(sc)
    migrate_until_active(sc, uri)
    set_params(sc, downtime_limit=50)
    expect_eq("downtime-limit read back after a live change", 50, params(sc)["downtime-limit"])
    refused(sc, "peer-timeout during a migration", "migrate-set-parameters", {"peer-timeout": 5000},
            desc_contains="peer-timeout")
    refused(sc, "downtime-limit with peer-timeout during a migration (all-or-nothing)",
            "migrate-set-parameters", {"downtime-limit": 77, "peer-timeout": 5000},
            desc_contains="peer-timeout")
    after = params(sc)
    expect_eq("parameters after the refused changes", dict(before, **{"max-bandwidth": 8 * MiB,
              "downtime-limit": 50}), after)
    refused(sc, "migrate-set-capabilities during a migration", "migrate-set-capabilities",
            {"capabilities": [{"capability": "auto-converge", "state": True}]})
    expect_eq("capabilities after the refused change", before_caps, caps(sc))
    expect_eq("the migration while the changes were made", "active", migrate_status(sc))
    set_params(sc, max_bandwidth=0)
    expect_eq("source: terminal MIGRATION status", "completed", wait_end(sc, "source", secs(60)))
    expect_eq("destination: terminal MIGRATION status", "completed",
              wait_end(dc, "destination", secs(30)))
    expect_eq("downtime-limit after the migration", 50, params(sc)["downtime-limit"])
    quit_and_exit(sc, src, 0, "source")
    quit_and_exit(dc, dst, 0, "destination")


class SilentListener:
    """Accepts TCP connections and never sends or reads a byte."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.ls.settimeout(0.1)
        self.port = self.ls.getsockname()[1]
        self.conns = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.ls.accept()
                self.conns.append(conn)
            except socket.timeout:
                continue
            except OSError:
                return

    def close(self):
        self.stop.set()
        self.thread.join(2)
        for s in self.conns + [self.ls]:
            s.close()


class FullBacklogListener:
    """A TCP port whose accept queue is full: the kernel drops every new SYN,
    so a connect to it stays pending (the source stays in setup) until the
    connect times out or is cancelled."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(0)
        self.port = self.ls.getsockname()[1]
        self.filler = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        probe = socket.socket()
        probe.settimeout(0.3)
        try:
            probe.connect(("127.0.0.1", self.port))
            full = False
        except socket.timeout:
            full = True
        finally:
            probe.close()
        check(full, "cannot make a TCP port whose connects stay pending (a probe connected)")

    def close(self):
        self.filler.close()
        self.ls.close()


def case_cancel_setup(ctx):
    """Over tcp the source's setup is the connect and the stream header, no
    answer from the destination is awaited (docs/architecture.md), so a
    peer that accepts and stays silent lets it go active at once: the peer
    here never completes the connect instead."""
    listener = FullBacklogListener()
    ctx.cleanups.append(listener.close)
    src = ctx.source()
    sc = ctx.client(src)
    start_migration(sc, "tcp:127.0.0.1:%d" % listener.port)
    wait_status_event(sc, "source", "setup", secs(5))
    time.sleep(0.5)
    expect_eq("source status while its connect is pending", "setup", migrate_status(sc))
    expect_eq("migrate_cancel returns", {}, sc.ok("migrate_cancel"))
    wait_cancelled(sc, "source", secs(5))
    expect_eq("query-migrate status after the cancel", "cancelled", migrate_status(sc))
    expect_running(sc, "source after a cancel in setup")
    stops = [e for e in sc.event_log if e["event"] == "STOP"]
    check(not stops, "the guest never stops in setup, yet a STOP event came: %s"
          % summarize_events(sc.event_log))
    code = quit_and_exit(sc, src, None, "source")
    ctx.note("cancelled in setup: exit code %d after quit" % code)
    expect_eq("source exit code after a QMP cancel (1: failed; 130 is Ctrl-C/SIGTERM only)",
              EXIT_CANCELLED_QMP, code)


def case_cancel_silent_peer(ctx):
    """A peer that accepts the connection and never reads: the source goes
    active, fills the socket buffers and blocks; the cancel must still end
    it at once, and the guest keeps running."""
    listener = SilentListener()
    ctx.cleanups.append(listener.close)
    src = ctx.source("--zero-share", "0")
    sc = ctx.client(src)
    start_migration(sc, "tcp:127.0.0.1:%d" % listener.port)
    wait_status_event(sc, "source", "active", secs(5))
    time.sleep(0.5)
    check(listener.conns, "the source never connected to the silent listener")
    expect_eq("source status with a silent peer", "active", migrate_status(sc))
    t0 = time.monotonic()
    expect_eq("migrate_cancel returns", {}, sc.ok("migrate_cancel"))
    wait_cancelled(sc, "source", secs(5))
    ctx.note("cancel with a silent peer took %.2f s" % (time.monotonic() - t0))
    expect_running(sc, "source after a cancel with a silent peer")
    expect_resumed_if_stopped(sc)
    expect_eq("source exit code after a QMP cancel", EXIT_CANCELLED_QMP,
              quit_and_exit(sc, src, None, "source"))


def wait_dest_not_completed(dc, what):
    status = wait_end(dc, "destination", secs(20))
    check(status in ("failed", "cancelled"),
          "destination after %s: expected failed or cancelled, saw %r" % (what, status))
    return status


def case_cancel_active(ctx):
    src, dst, sc, dc, uri = slow_pair(ctx, ["--peer-timeout", "3000"])
    migrate_until_active(sc, uri)
    time.sleep(0.5)
    expect_eq("source status before the cancel", "active", migrate_status(sc))
    expect_eq("migrate_cancel returns", {}, sc.ok("migrate_cancel"))
    wait_cancelled(sc, "source", secs(15))
    expect_running(sc, "source after a cancel in active")
    expect_resumed_if_stopped(sc)
    dstatus = wait_dest_not_completed(dc, "the source cancelled")
    expect_eq("destination query-migrate status", dstatus, migrate_status(dc))
    code = quit_and_exit(sc, src, None, "source")
    ctx.note("cancelled in active: source exit %d, destination %s" % (code, dstatus))
    expect_eq("source exit code after a QMP cancel", EXIT_CANCELLED_QMP, code)
    dcode = quit_and_exit(dc, dst, None, "destination")
    expect_eq("destination exit code when it ended %s" % dstatus, 1, dcode)


def case_cancel_incoming(ctx):
    """The destination's own migrate_cancel and quit while it listens (no
    source came): cancelled, with the usual final report."""
    dst = ctx.dest()
    dc = ctx.client(dst)
    dc.ok("migrate-incoming", uri=T.uri())
    expect_eq("destination status while listening", "setup", migrate_status(dc))
    expect_eq("migrate_cancel on the destination returns", {}, dc.ok("migrate_cancel"))
    wait_cancelled(dc, "destination", secs(5))
    expect_eq("destination query-migrate after migrate_cancel", "cancelled", migrate_status(dc))
    code = quit_and_exit(dc, dst, None, "destination cancelled")
    ctx.note("destination cancelled while listening: exit code %d after quit" % code)
    d2 = ctx.dest(name="dst2")
    c2 = ctx.client(d2)
    c2.ok("migrate-incoming", uri=T.uri())
    code = quit_and_exit(c2, d2, None, "destination quit while listening")
    ctx.note("destination quit while listening: exit code %d" % code)
    rep = d2.report()
    check(rep is not None, "the destination printed no --json report after quit")
    expect_eq("destination --json report status after quit while listening (quit cancels "
              "a running migration first)", "cancelled", rep.get("status"))


def raw_error(c, what, data, desc_prefix=None, desc_contains=None, cls="GenericError", id=None):
    """Send DATA as is; one error reply must come (with ID when given, else none)."""
    c.send_raw(data)
    try:
        reply = c.next_reply(secs(5))
    except QMPError as e:
        raise CaseFailure("%s: sent %r, no error reply: %s" % (what, data[:80], e))
    check("error" in reply, "%s: sent %r, expected an error, got %r" % (what, data[:80], reply))
    expect_error(reply["error"], cls, what, desc_prefix=desc_prefix, desc_contains=desc_contains)
    if id is None:
        check("id" not in reply, "%s: error carries an id the request lacked: %r" % (what, reply))
    else:
        expect_eq("%s: id of the error" % what, id, reply.get("id"))
    still_serves(c, what)


def protocol_before_negotiation(c):
    expect_error(c.refused("query-status"), "CommandNotFound", "query-status before negotiation",
                 desc_prefix=NEGOTIATE_FIRST)
    expect_error(c.refused("qmp_capabilities", enable=["oob"]), "GenericError",
                 "qmp_capabilities with enable oob")
    c.negotiate()
    expect_error(c.refused("qmp_capabilities"), "CommandNotFound", "qmp_capabilities twice",
                 desc_prefix=NEGOTIATED)
    still_serves(c, "qmp_capabilities twice")


def protocol_malformed(c):
    raw_error(c, "unknown command", b'{"execute": "no-such-command"}\n', cls="CommandNotFound")
    raw_error(c, "missing execute", b'{"arguments": {}}\n',
              desc_prefix="QMP input lacks member 'execute'")
    raw_error(c, "array input", b"[1,2]\n", desc_prefix="QMP input must be a JSON object")
    raw_error(c, "number input", b"42\n", desc_prefix="QMP input must be a JSON object")
    raw_error(c, "invalid JSON", b'{"execute": }\n', desc_prefix="JSON parse error")
    raw_error(c, "unexpected top-level member", b'{"execute": "query-status", "foo": 1}\n',
              desc_prefix="QMP input member 'foo' is unexpected")
    raw_error(c, "unexpected member with an id",
              b'{"execute": "query-status", "foo": 1, "id": "x"}\n',
              desc_prefix="QMP input member 'foo' is unexpected", id="x")
    raw_error(c, "arguments not an object", b'{"execute": "query-status", "arguments": [1]}\n',
              desc_prefix="QMP input member 'arguments' must be an object")


def protocol_arguments(c):
    def no(what, name, args, **kw):
        refused(c, what, name, args, serves=True, **kw)
    no("unknown argument", "query-status", {"bogus": 1},
       desc_prefix="Parameter 'bogus' is unexpected")
    no("migrate without uri", "migrate", {}, desc_prefix="Parameter 'uri' is missing")
    no("downtime-limit as a string", "migrate-set-parameters", {"downtime-limit": "100"},
       desc_prefix="Invalid parameter type for 'downtime-limit', expected:")
    no("migrate uri as a number", "migrate", {"uri": 5},
       desc_prefix="Invalid parameter type for 'uri', expected:")
    before = params(c)
    no("max-cpu-throttle 1000 %", "migrate-set-parameters", {"max-cpu-throttle": 1000})
    no("negative max-bandwidth", "migrate-set-parameters", {"max-bandwidth": -1})
    no("a good and an out-of-range parameter (all-or-nothing)", "migrate-set-parameters",
       {"downtime-limit": 123, "max-cpu-throttle": 1000})
    expect_eq("parameters after refused changes", before, params(c))
    before_caps = caps(c)
    no("unknown capability", "migrate-set-capabilities",
       {"capabilities": [{"capability": "no-such-cap", "state": True}]})
    no("a good and an unknown capability (all-or-nothing)", "migrate-set-capabilities",
       {"capabilities": [{"capability": "auto-converge", "state": True},
                         {"capability": "no-such-cap", "state": True}]})
    expect_eq("capabilities after refused changes", before_caps, caps(c))


def protocol_ids(c):
    for ident in ("abc", 42, {"a": [1, "x"]}):
        reply = c.cmd("query-status", id=ident)
        check("return" in reply, "query-status with id %r: %r" % (ident, reply))
        expect_same_id("query-status", ident, reply)
        reply = c.cmd("no-such-command", id=ident)
        check("error" in reply, "unknown command with id %r: %r" % (ident, reply))
        expect_same_id("an unknown command", ident, reply)
        still_serves(c, "an error with id %s" % json.dumps(ident))


def expect_same_id(what, ident, reply):
    seen = reply.get("id")
    check(seen == ident and type(seen) is type(ident),
          "%s: id %s should be echoed verbatim, saw %s"
          % (what, json.dumps(ident), json.dumps(seen)))


def protocol_framing(c):
    c.send_raw(b'{"execute": "query-status", "id": "one"}{"execute": "query-version", "id": "two"}')
    first, second = c.next_reply(secs(5)), c.next_reply(secs(5))
    expect_eq("ids of two commands sent in one write", ["one", "two"],
              [first.get("id"), second.get("id")])
    check("return" in first and "return" in second, "two commands in one write: %r %r"
          % (first, second))
    for b in b'{"execute": "query-version", "id": "split"}':
        c.send_raw(bytes([b]))
        time.sleep(0.002)
    reply = c.next_reply(secs(5))
    expect_eq("id of a command sent byte by byte", "split", reply.get("id"))
    check("return" in reply, "a command sent byte by byte: %r" % (reply,))
    still_serves(c, "framing")


def protocol_sides(sc, dc):
    refused(dc, "migrate on the destination", "migrate", {"uri": T.uri()}, serves=True)
    refused(sc, "migrate-incoming on the source", "migrate-incoming", {"uri": T.uri()},
            serves=True)
    refused(dc, "migrate-incoming-resolve when not in doubt", "migrate-incoming-resolve",
            {"start": True}, serves=True)
    expect_eq("migrate-incoming returns", {}, dc.ok("migrate-incoming", uri=T.uri()))
    refused(dc, "migrate-incoming twice", "migrate-incoming", {"uri": T.uri()}, serves=True)
    expect_eq("migrate_cancel with no migration (as QEMU)", {}, sc.ok("migrate_cancel"))
    expect_eq("source status after a migrate_cancel with no migration", "none",
              migrate_status(sc))


def check_version(c, rmig):
    m = re.search(r"rmig (\d+)\.(\d+)\.(\d+)", subprocess.run(
        [rmig, "--version"], capture_output=True, text=True).stdout)
    check(m, "rmig --version prints no version")
    ver = {"qemu": {"major": int(m[1]), "minor": int(m[2]), "micro": int(m[3])},
           "package": "rmig %s.%s.%s" % m.groups()}
    expect_eq("greeting", {"QMP": {"version": ver, "capabilities": []}}, c.greeting)
    return ver


def own_fds(client, proc, command):
    """fd:N naming the monitor's own epoll descriptor is refused, and the
    monitor goes on serving."""
    fds = [int(n) for n in os.listdir("/proc/%d/fd" % proc.pid)
           if os.readlink("/proc/%d/fd/%s" % (proc.pid, n)) == "anon_inode:[eventpoll]"]
    check(len(fds) == 1, "%s: expected one epoll descriptor, found %s" % (proc.name, fds))
    refused(client, "%s over the monitor's own descriptor" % command, command,
            {"uri": "fd:%d" % fds[0]}, serves=True,
            desc_contains="descriptor of the QMP monitor itself")


def case_protocol_errors(ctx):
    src, dst = ctx.source(), ctx.dest()
    sc = ctx.client(src, negotiate=False)
    ver = check_version(sc, ctx.rmig)
    protocol_before_negotiation(sc)
    expect_eq("query-version", ver, sc.ok("query-version"))
    names = [x.get("name") for x in sc.ok("query-commands")]
    missing = [n for n in COMMANDS if n not in names]
    check(not missing, "query-commands lacks %s (has %s)" % (missing, names))
    protocol_malformed(sc)
    protocol_arguments(sc)
    protocol_ids(sc)
    protocol_framing(sc)
    dc = ctx.client(dst)
    own_fds(sc, src, "migrate")
    own_fds(dc, dst, "migrate-incoming")
    protocol_sides(sc, dc)
    quit_and_exit(sc, src, 0, "source (no migration started)")
    code = quit_and_exit(dc, dst, None, "destination (listening, no source came)")
    ctx.note("destination quit while listening after migrate-incoming: exit code %d" % code)


# --- hostile input -------------------------------------------------------------------

def send_huge_value(c, pid):
    """`{"execute": "` + 100 MiB of 'a' + `"}`: returns (peak RSS growth, error
    seen, dropped)."""
    base = peak = rss_bytes(pid)
    chunk = b"a" * MiB
    c.sock.settimeout(secs(10))
    err, dropped, i = None, False, -1
    try:
        c.send_raw(b'{"execute": "')
        for i in range(100):
            c.send_raw(chunk)
            peak = max(peak, rss_bytes(pid))
            if i == 3:
                err = c.recv_msg(secs(3))   # "answers a GenericError at once"
        c.send_raw(b'"}\n')
    except (BrokenPipeError, ConnectionResetError, QMPClosed):
        dropped = True
    except (socket.timeout, QMPTimeout) as e:
        raise CaseFailure("a 100 MiB value: after %d MiB: %s (the server should answer an error "
                          "past 1 MiB and keep discarding)" % (i + 1, e or "send blocked"))
    finally:
        c.sock.settimeout(None)
    peak = max(peak, rss_bytes(pid))
    return peak - base, err, dropped


def expect_error_or_drop(ctx, c, what, reply_fn):
    """REPLY_FN() yields the server's answer; an error keeps the connection
    (then it must still serve), a drop is noted.  Returns True if dropped."""
    try:
        reply = reply_fn()
    except (QMPClosed, BrokenPipeError, ConnectionResetError):
        ctx.note("%s: the server dropped the connection instead of answering an error" % what)
        return True
    except QMPTimeout as e:
        raise CaseFailure("%s: neither an error nor a drop: %s" % (what, e))
    check("error" in reply, "%s: expected an error, got %r" % (what, reply))
    expect_eq("%s: error class" % what, "GenericError", reply["error"].get("class"))
    try:
        still_serves(c, what)
    except CaseFailure:
        if not c.closed:
            raise
        ctx.note("%s: an error, then the connection was closed" % what)
        return True
    return False


def next_client(ctx, proc, c, what):
    c.close()
    check(proc.alive(), "%s: rmig died (exit code %s)" % (what, proc.p.poll()))
    n = ctx.fresh_client(proc)
    check("status" in n.ok("query-migrate"), "%s: a fresh client's query-migrate failed" % what)
    return n


def hostile_huge(ctx, src, c):
    growth, err, dropped = send_huge_value(c, src.pid)
    ctx.note("a 100 MiB value: peak RSS growth %.1f MiB" % (growth / MiB))
    check(growth < 50 * MiB, "a 100 MiB value: RSS grew by %.1f MiB (limit 50)" % (growth / MiB))
    if err is not None:
        check("error" in err, "a 100 MiB value: expected an error past 1 MiB, got %r" % (err,))
        expect_eq("a 100 MiB value: error class", "GenericError", err["error"].get("class"))
    if dropped:
        ctx.note("a 100 MiB value: the server dropped the connection%s"
                 % (" after the error" if err else " without an error"))
    else:
        check(err is not None, "a 100 MiB value: no error")
        try:
            still_serves(c, "a 100 MiB value")
        except CaseFailure:
            if not c.closed:
                raise
            ctx.note("a 100 MiB value: connection closed after the error")
    return next_client(ctx, src, c, "after a 100 MiB value")


def hostile_simple(ctx, src, c, what, data):
    def reply():
        c.send_raw(data)
        return c.next_reply(secs(10))
    expect_error_or_drop(ctx, c, what, reply)
    return next_client(ctx, src, c, "after " + what)


def flood(c, deadline_s):
    """Send query-migrate forever without reading; return commands sent once
    the server disconnects."""
    batch = b'{"execute": "query-migrate"}' * 2000
    sent = 0
    c.sock.settimeout(secs(10))
    deadline = time.monotonic() + deadline_s
    try:
        while time.monotonic() < deadline:
            c.sock.sendall(batch)
            sent += 2000
    except (BrokenPipeError, ConnectionResetError):
        return sent
    except socket.timeout:
        raise CaseFailure("a client that never reads: the server stopped reading after %d "
                          "commands but did not disconnect it" % sent)
    raise CaseFailure("a client that never reads: still connected after %d commands, %.0f s"
                      % (sent, deadline_s))


def wait_completed_by_polling(ctx, proc, timeout, what):
    c = ctx.fresh_client(proc)
    deadline = time.monotonic() + timeout
    status = migrate_status(c)
    ctx.note("%s: the migration was %s when a new client came" % (what, status))
    while status not in TERMINAL and time.monotonic() < deadline:
        time.sleep(0.1)
        status = migrate_status(c)
    expect_eq("%s: migration status" % what, "completed", status)
    return c


def hostile_flood(ctx, src, c):
    dst = ctx.dest(name="dst")
    dc = ctx.client(dst)
    uri = T.uri()
    dc.ok("migrate-incoming", uri=uri)
    set_params(c, max_bandwidth=32 * MiB)
    migrate_until_active(c, uri)
    c.close()
    fl = ctx.fresh_client(src)
    sent = flood(fl, secs(30))
    ctx.note("a client that never reads was disconnected after %d query-migrate" % sent)
    check(src.alive(), "rmig died under a client that never reads")
    n = wait_completed_by_polling(ctx, src, secs(30), "source after the flood")
    expect_eq("destination: terminal MIGRATION status", "completed",
              wait_end(dc, "destination", secs(30)))
    quit_and_exit(n, src, 0, "source")
    quit_and_exit(dc, dst, 0, "destination")


def case_hostile_input(ctx):
    src = ctx.source("--zero-share", "0")
    c = ctx.client(src)
    c = hostile_huge(ctx, src, c)
    c = hostile_simple(ctx, src, c, "nesting 100000 deep",
                       b"[" * 100000 + b"]" * 100000 + b"\n")
    c = hostile_simple(ctx, src, c, "invalid UTF-8", b'{"execute": "query-\xff\xfestatus"}\n')
    c = hostile_simple(ctx, src, c, "a NUL byte", b'{"execute": "query-status\x00"}\n')
    hostile_flood(ctx, src, c)


# --- clients, quit, resolve --------------------------------------------------------------

def case_second_client(ctx):
    src = ctx.source()
    a = ctx.client(src)
    b = ctx.client(src, negotiate=False, read_greeting=False)
    first = b.recv_msg(secs(5))
    check("error" in first, "a second client should get an error, got %r" % (first,))
    expect_error(first["error"], "GenericError", "second client",
                 desc_prefix="another QMP client is connected")
    try:
        extra = b.recv_msg(secs(5))
        raise CaseFailure("the second client should be closed after the error, got %r" % (extra,))
    except QMPClosed:
        pass
    still_serves(a, "a second client was refused")
    check(not a.events, "the first client got events from the second's attempt: %s"
          % summarize_events(a.events))
    a.close()
    c = ctx.fresh_client(src, negotiate=False, timeout=2.0)
    expect_error(c.refused("query-status"), "CommandNotFound",
                 "a new client before its own negotiation", desc_prefix=NEGOTIATE_FIRST)
    c.negotiate()
    still_serves(c, "a new client negotiated")
    # A client that reads no more: its first reply fails and drops it, and the rest of
    # that read (a stop, then half a command) runs nothing and is not glued to the next
    # client's first command (whose negotiation would then go unanswered).
    c.sock.shutdown(socket.SHUT_RD)
    c.send_raw(b'{"execute": "query-status"}\n{"execute": "stop"}\n'
               b'{"execute": "query-status", "id": "')
    c.close()
    c = ctx.fresh_client(src)
    expect_guest(c, True, "running", "after a dropped client's stop")
    still_serves(c, "a client after one that left mid-command")
    quit_and_exit(c, src, 0, "source")


def expect_guest(client, running, status, what):
    expect_eq("%s: query-status" % what,
              {"running": running, "singlestep": False, "status": status},
              client.ok("query-status"))


def run_to_exit(ctx, argv, timeout):
    """Run rmig ARGV (a short-lived command) and return (exit code, stderr)."""
    try:
        r = subprocess.run([ctx.rmig] + argv, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise CaseFailure("rmig %s still runs after %.0f s" % (" ".join(argv), timeout))
    return r.returncode, r.stderr


def case_qmp_socket(ctx):
    """--qmp PATH: a stale socket file is replaced, a live one is refused
    with exit 2; defer without --qmp is a usage error (exit 2)."""
    path = os.path.join(ctx.tmp, "src.qmp")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    src = ctx.source()
    sc = ctx.client(src)
    still_serves(sc, "starting on a stale socket file")
    for cmd in ("migrate", "incoming"):
        code, err = run_to_exit(ctx, [cmd, "defer"] + (["--ram", "8M"] if cmd == "migrate" else []),
                                secs(15))
        expect_eq("exit code of rmig %s defer without --qmp (stderr %r)" % (cmd, err.strip()),
                  2, code)
    code, err = run_to_exit(ctx, ["migrate", "defer", "--qmp", path, "--ram", "8M"], secs(15))
    check(src.alive(), "the first rmig died when a second one tried its socket")
    still_serves(sc, "a second rmig tried the same socket")
    expect_eq("exit code of a second rmig on a live QMP socket (stderr %r)" % err.strip(), 2, code)
    quit_and_exit(sc, src, 0, "source")


def case_stop_cont(ctx):
    """The source's synthetic guest paused and continued over QMP; refused
    during a migration and on the destination."""
    src, dst, sc, dc, uri = slow_pair(ctx)
    expect_guest(sc, True, "running", "source at start")
    expect_eq("stop returns", {}, sc.ok("stop"))
    sc.wait_event("STOP", timeout=secs(5))
    expect_guest(sc, False, "paused", "source after stop")
    expect_eq("cont returns", {}, sc.ok("cont"))
    sc.wait_event("RESUME", timeout=secs(5))
    expect_guest(sc, True, "running", "source after cont")
    refused(dc, "stop on the destination", "stop")
    refused(dc, "cont on the destination", "cont")
    migrate_until_active(sc, uri)
    refused(sc, "stop during a migration", "stop")
    refused(sc, "cont during a migration", "cont")
    expect_eq("the migration while stop/cont were refused", "active", migrate_status(sc))
    set_params(sc, max_bandwidth=0)
    expect_eq("source: terminal MIGRATION status", "completed", wait_end(sc, "source", secs(60)))
    expect_eq("destination: terminal MIGRATION status", "completed",
              wait_end(dc, "destination", secs(30)))
    quit_and_exit(sc, src, 0, "source")
    quit_and_exit(dc, dst, 0, "destination")


def case_quit_during_migration(ctx):
    src, dst, sc, dc, uri = slow_pair(ctx, ["--peer-timeout", "3000"])
    migrate_until_active(sc, uri)
    time.sleep(0.3)
    expect_eq("source status before quit", "active", migrate_status(sc))
    code = quit_and_exit(sc, src, None, "source quit while active")
    ctx.note("quit during an active migration: exit code %d" % code)
    expect_eq("source exit code after quit during a migration (cancelled: 1)",
              EXIT_CANCELLED_QMP, code)
    rep = src.report()
    check(rep is not None, "the source printed no --json report after quit")
    expect_eq("source --json report status after quit during a migration", "cancelled",
              rep.get("status"))
    dstatus = wait_dest_not_completed(dc, "the source quit")
    dcode = quit_and_exit(dc, dst, None, "destination")
    expect_eq("destination exit code when it ended %s" % dstatus, 1, dcode)


def case_resolve_errors(ctx):
    src, dst = ctx.source(), ctx.dest()
    sc, dc = ctx.client(src), ctx.client(dst)
    for start in (True, False):
        refused(dc, "resolve start=%s, not in doubt" % start, "migrate-incoming-resolve",
                {"start": start})
    refused(dc, "resolve start as a string", "migrate-incoming-resolve", {"start": "yes"},
            desc_prefix="Invalid parameter type for 'start', expected:")
    refused(dc, "resolve without start", "migrate-incoming-resolve", {},
            desc_prefix="Parameter 'start' is missing")
    refused(sc, "resolve on the source", "migrate-incoming-resolve", {"start": True})
    dc.ok("migrate-incoming", uri=T.uri())
    refused(dc, "resolve while listening (setup)", "migrate-incoming-resolve", {"start": True})
    expect_eq("destination status after the refused resolves", "setup", migrate_status(dc))
    quit_and_exit(sc, src, 0, "source")
    quit_and_exit(dc, dst, None, "destination")


def resolve_one(ctx, start):
    """A real in-doubt hand-over: the source is killed right after it
    committed (RMIG_FAULT=after-commit:kill), before its COMMIT left, so the
    destination has every page and no word.  migrate-incoming-resolve then
    settles it, and the exit code follows."""
    tag = "start" if start else "keep"
    dst = ctx.dest(name="dst-" + tag)
    dc = ctx.client(dst)
    uri = T.uri()
    expect_eq("migrate-incoming %s returns" % uri, {}, dc.ok("migrate-incoming", uri=uri))
    env = dict(os.environ, RMIG_FAULT="after-commit:kill")
    src = ctx.spawn("src-" + tag, ["migrate", uri, "--ram", T.ram, "-q"], env=env)
    wait_status_event(dc, "destination", "in-doubt", secs(60))
    expect_eq("destination status in doubt", "in-doubt", migrate_status(dc))
    st = dc.ok("query-status")
    expect_eq("query-status in doubt", ("inmigrate", False), (st.get("status"), st.get("running")))
    code = src.wait_exit(secs(15))
    expect_eq("the source was killed by its fault", -signal.SIGKILL, code)
    expect_eq("resolve start=%s" % start, {}, dc.ok("migrate-incoming-resolve", start=start))
    wait_status_event(dc, "destination", "completed" if start else "failed", secs(10))
    refused(dc, "a second resolve", "migrate-incoming-resolve", {"start": start},
            desc_contains="nothing to resolve")
    quit_and_exit(dc, dst, 0 if start else 1, "destination resolved start=%s" % start)


def case_resolve_in_doubt(ctx):
    resolve_one(ctx, True)
    resolve_one(ctx, False)


# name, function, transports
CASES = [
    ("defer-migration", case_defer_migration, ("tcp", "rdma")),
    ("event-order", case_event_order, ("tcp", "rdma")),
    ("live-bandwidth", case_live_bandwidth, ("tcp",)),
    ("live-downtime", case_live_downtime, ("tcp", "rdma")),
    ("cancel-setup", case_cancel_setup, ("tcp",)),
    ("cancel-silent-peer", case_cancel_silent_peer, ("tcp",)),
    ("cancel-active", case_cancel_active, ("tcp", "rdma")),
    ("cancel-incoming", case_cancel_incoming, ("tcp", "rdma")),
    ("protocol-errors", case_protocol_errors, ("tcp", "rdma")),
    ("hostile-input", case_hostile_input, ("tcp",)),
    ("second-client", case_second_client, ("tcp", "rdma")),
    ("qmp-socket", case_qmp_socket, ("tcp", "rdma")),
    ("stop-cont", case_stop_cont, ("tcp", "rdma")),
    ("quit-during-migration", case_quit_during_migration, ("tcp", "rdma")),
    ("resolve-errors", case_resolve_errors, ("tcp", "rdma")),
    ("resolve-in-doubt", case_resolve_in_doubt, ("tcp",)),
]


def on_alarm(*_):
    raise CaseFailure("the case ran longer than %d s" % CASE_LIMIT)


def run_case(rmig, name, fn):
    ctx = Ctx(rmig, name)
    t0 = time.monotonic()
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(secs(CASE_LIMIT)))
    failure = None
    try:
        fn(ctx)
        bad = ctx.framing_errors()
        check(not bad, "server lines not ending with \\r\\n: %r" % bad[:3])
    except CaseFailure as e:
        failure = str(e)
    except QMPError as e:
        failure = "%s: %s" % (type(e).__name__, e)
    except Exception as e:   # a bug here or a reply of the wrong shape: say where
        failure = "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc().rstrip())
    finally:
        signal.alarm(0)
        dump = ctx.dump() if failure else ""
        ctx.cleanup()
    dt = time.monotonic() - t0
    if failure:
        print("FAIL %s: %s (%.1f s)" % (name, failure, dt))
        print(dump)
    else:
        print("ok %s (%.1f s)" % (name, dt))
    for n in ctx.notes:
        print("    note: %s" % n)
    sys.stdout.flush()
    return failure is None


def parse_args(argv):
    ap = argparse.ArgumentParser(description="rmig QMP tests")
    ap.add_argument("rmig", help="the rmig binary (build/tools/rmig)")
    ap.add_argument("--transport", choices=("tcp", "rdma"), default="tcp")
    ap.add_argument("--only", action="append", default=[],
                    help="run only these cases (repeatable, or comma-separated)")
    args = ap.parse_args(argv)
    args.only = [n for o in args.only for n in o.split(",") if n]
    unknown = [n for n in args.only if n not in [c[0] for c in CASES]]
    if unknown:
        ap.error("unknown case(s) %s; cases: %s" % (", ".join(unknown),
                                                     ", ".join(c[0] for c in CASES)))
    return args


def main():
    global T
    args = parse_args(sys.argv[1:])
    T = Rdma() if args.transport == "rdma" else Tcp()
    rmig = os.path.abspath(args.rmig)
    passed = failed = skipped = 0
    for name, fn, transports in CASES:
        if args.only and name not in args.only:
            continue
        if T.name not in transports:
            skipped += 1
            print("skip %s (not over %s)" % (name, T.name))
            continue
        if run_case(rmig, name, fn):
            passed += 1
        else:
            failed += 1
    print("\nqmp over %s: %d passed, %d failed, %d skipped" % (T.name, passed, failed, skipped))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
