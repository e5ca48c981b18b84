#!/usr/bin/env python3
"""multifd end to end: `rmig loopback|migrate --channels N` with the real rmig.

Usage: test_multifd.py RMIG [CASE-SUBSTRING...]

Every case runs real rmig processes in a temporary directory and checks
what they report (exit code, the --json query-migrate object, stderr):

  - loopback over tcp (2 and 4 channels) and unix (3), with a guest that
    keeps dirtying: completed, RAM compared byte for byte (loopback exits 0
    only when source and destination are identical), ram.multifd-bytes the
    sum of x-rmig-channels, one entry per channel, each one used;
  - `rmig incoming` and `rmig migrate --channels 4` as two processes: both
    completed, and the destination reports the channels too;
  - --max-bandwidth holds with 4 channels;
  - connections that are not this migration's channels (not a hello, another
    session, a wrong index, count or version, a channel again) reach the
    destination among the channels: each is dropped, the migration completes;
  - Ctrl-C (SIGINT) of the source: source cancelled (130), destination
    failed (1), both within seconds;
  - a peer killed (SIGKILL) or frozen (SIGSTOP): the other side fails
    within --peer-timeout plus slack, and a source keeps its guest running;
  - one channel connection (never the main one) cut by a proxy in this
    script, silently or with a reset: both sides fail, the destination never
    completes, the source keeps its guest running;
  - fd: refuses --channels (usage, exit 2); rdma: takes them as queue pairs.

Python standard library only.  Exit status: 0 when every case passed, 1
otherwise.
"""
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

PT_MS = 1500                    # --peer-timeout on both sides
SLACK = 3.5                     # seconds on top of it for a side to notice and report
DEADLINE = 30.0                 # no process of a case lives longer than this
INCOMING = ["--accept-timeout", "20", "--peer-timeout", str(PT_MS), "--json"]
# A guest that keeps writing while it is sent, and a downtime limit of 1 ms:
# what it dirties during the bulk round (128 MiB/s) is more than the link
# sends in 1 ms, so at least one dirty round runs before the final one (SYNC
# counts past round 0), and each round is shorter than the one before, so it
# ends.  No --max-bandwidth, whose sleeps would make the rounds a matter
# of timing.
DIRTY = ["--dirty-rate", "128M", "--downtime-limit", "1", "--peer-timeout", str(PT_MS)]
# Long enough to be hit mid-way, 1 s in: 256 MiB at 32 MiB/s is about 6 s.
SLOW = ["--ram", "256M", "--dirty-rate", "16M", "--max-bandwidth", "32M",
        "--peer-timeout", str(PT_MS)]


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def last_json(text):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                raise Failure("bad JSON line: %r" % line[:200])
    return None


class Proc:
    """One rmig process; stdout and stderr go to files in the case's directory."""

    def __init__(self, tmp, name, argv):
        self.name = name
        self.out = os.path.join(tmp, name + ".out")
        self.err = os.path.join(tmp, name + ".err")
        self.p = subprocess.Popen(argv, stdout=open(self.out, "w"), stderr=open(self.err, "w"),
                                  stdin=subprocess.DEVNULL)
        self.start = time.monotonic()
        self.end = None

    @property
    def code(self):
        return self.p.returncode

    def done(self):
        if self.end is None and self.p.poll() is not None:
            self.end = time.monotonic()
        return self.end is not None

    def wait(self, timeout):
        limit = time.monotonic() + timeout
        while not self.done() and time.monotonic() < limit:
            time.sleep(0.02)
        return self.done()

    def signal(self, sig):
        if self.p.poll() is None:
            os.kill(self.p.pid, sig)

    def stderr(self):
        return read(self.err)

    def json(self):
        return last_json(read(self.out))

    def kill(self):
        if self.p.poll() is None:
            try:
                os.kill(self.p.pid, signal.SIGCONT)
                self.p.kill()
            except OSError:
                pass
        self.p.wait()
        self.done()

    def describe(self):
        return "%s: exit %s\n  --- stdout\n%s  --- stderr\n%s" % (
            self.name, self.code, indent(read(self.out)), indent(self.stderr()))


def indent(text):
    return "".join("    " + l for l in text.splitlines(True)[-25:])


class Case:
    """What a case started, so that it is all killed and shown on failure."""

    def __init__(self, rmig, tmp):
        self.rmig, self.tmp, self.procs, self.closers = rmig, tmp, [], []

    def run(self, name, args):
        p = Proc(self.tmp, name, [self.rmig] + args)
        self.procs.append(p)
        return p

    def incoming(self, extra=()):
        """`rmig incoming tcp:127.0.0.1:0`, and the port it bound."""
        d = self.run("dst", ["incoming", "tcp:127.0.0.1:0"] + INCOMING + list(extra))
        limit = time.monotonic() + 10
        while time.monotonic() < limit:
            m = re.search(r"waiting for a migration on tcp:127\.0\.0\.1:(\d+)", d.stderr())
            if m:
                return d, int(m.group(1))
            check(not d.done(), "rmig incoming ended before it listened")
            time.sleep(0.02)
        raise Failure("rmig incoming did not say where it listens")

    def finish(self):
        for c in self.closers:
            c()
        for p in self.procs:
            p.kill()


def check_channels(js, n, who):
    """ram.multifd-bytes > 0 and the sum of x-rmig-channels, one entry per channel, each used."""
    check(js is not None, "%s printed no JSON" % who)
    ram = js.get("ram", {})
    chans = js.get("x-rmig-channels")
    check("multifd-bytes" in ram, "%s: no ram.multifd-bytes in %s" % (who, json.dumps(js)))
    check(isinstance(chans, list), "%s: no x-rmig-channels list" % who)
    check(len(chans) == n, "%s: %d x-rmig-channels entries, expected %d" % (who, len(chans), n))
    each = [c.get("bytes") for c in chans]
    check(all(isinstance(b, int) and b > 0 for b in each),
          "%s: a channel carried nothing: %s" % (who, each))
    check(ram["multifd-bytes"] > 0, "%s: multifd-bytes is 0" % who)
    check(ram["multifd-bytes"] == sum(each),
          "%s: multifd-bytes %d != sum of channels %d (%s)" % (who, ram["multifd-bytes"],
                                                              sum(each), each))
    # The main stream carries the rest (header, control records, trailer): a little.
    check(ram["transferred"] >= ram["multifd-bytes"],
          "%s: transferred %d < multifd-bytes %d" % (who, ram["transferred"],
                                                     ram["multifd-bytes"]))
    return each


def check_status(p, status, codes):
    js = p.json()
    seen = js.get("status") if js else None
    check(seen == status and p.code in codes,
          "%s: %s/exit %s, expected %s/exit %s" % (p.name, seen, p.code, status,
                                                   "|".join(map(str, codes))))
    return js


def check_within(p, t0, limit, what):
    check(p.wait(max(0.0, t0 + limit - time.monotonic())),
          "%s did not end within %.1f s of %s" % (p.name, limit, what))
    check(p.end - t0 <= limit, "%s ended %.1f s after %s, limit %.1f s" % (
        p.name, p.end - t0, what, limit))
    return p.end - t0


def thread_names(p):
    """The names of a process's threads, as top -H and ps -L show them."""
    names = []
    for tid in os.listdir("/proc/%d/task" % p.p.pid):
        try:
            names.append(read("/proc/%d/task/%s/comm" % (p.p.pid, tid)).strip())
        except OSError:
            pass  # the thread ended meanwhile
    return sorted(names)


def guest_running(p):
    return "still running" in p.stderr()


def established(port):
    """How many TCP connections to the local port are established, from /proc."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(path).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "01" and int(f[1].rsplit(":", 1)[1], 16) == port:
                n += 1
    return n


def wait_transferring(p, port, conns, secs=0.5):
    """Let a migration get going: the destination has accepted the main
    connection and every channel, and pages have flowed for a moment.  A
    fixed sleep was not enough: under ASan a source needs more than a
    second to connect, and a source killed before it connects leaves a
    destination that waits for its accept-timeout, not a failed one."""
    deadline = time.monotonic() + 20.0
    while established(port) < conns:
        check(not p.done(), "%s ended before its channels connected" % p.name)
        check(time.monotonic() < deadline, "%s: %d connections after 20 s, expected %d" % (
            p.name, established(port), conns))
        time.sleep(0.05)
    time.sleep(secs)
    check(not p.done(), "%s ended before it could be interrupted" % p.name)


# ---------------------------------------------------------------- the cases

def loopback(case, n, transport, ram):
    p = case.run("loopback", ["loopback", "--transport", transport, "--channels", str(n),
                              "--ram", ram, "--json"] + DIRTY)
    check(p.wait(DEADLINE), "loopback did not end")
    js = check_status(p, "completed", (0,))
    check_channels(js, n, "loopback")
    check(js["ram"]["dirty-sync-count"] >= 3,
          "no dirty round ran (dirty-sync-count %d)" % js["ram"]["dirty-sync-count"])
    check("differ" not in p.stderr(), "loopback says the RAM differs")
    return "%d rounds, channels %s" % (js["ram"]["dirty-sync-count"],
                                       [c["bytes"] for c in js["x-rmig-channels"]])


def case_loopback_tcp_2(case):
    return loopback(case, 2, "tcp", "96M")


def case_loopback_tcp_4(case):
    return loopback(case, 4, "tcp", "128M")


def case_loopback_unix_3(case):
    return loopback(case, 3, "unix", "96M")


def case_two_processes(case):
    d, port = case.incoming()
    s = case.run("src", ["migrate", "tcp:127.0.0.1:%d" % port, "--channels", "4", "--ram", "128M",
                         "--json"] + DIRTY)
    check(s.wait(DEADLINE) and d.wait(10), "a side did not end")
    sj = check_status(s, "completed", (0,))
    dj = check_status(d, "completed", (0,))
    sc = check_channels(sj, 4, "source")
    dc = check_channels(dj, 4, "destination")
    # Every byte the source handed a channel, the destination read from it.
    check(sc == dc, "channel bytes differ: source %s, destination %s" % (sc, dc))
    check(not guest_running(s), "the source's guest still runs after completion")
    check(sj["ram"]["dirty-sync-count"] >= 3 and dj["ram"]["dirty-sync-count"] >= 3,
          "no dirty round ran (source %d, destination %d rounds)" % (
              sj["ram"]["dirty-sync-count"], dj["ram"]["dirty-sync-count"]))
    return "%d rounds, channels %s" % (dj["ram"]["dirty-sync-count"], dc)


def case_bandwidth_limit(case):
    """--max-bandwidth holds for the channels' bytes too (before f723d57 the
    bytes a channel sent while the migration thread slept in the limiter went
    uncounted: 128 MiB at 32 MiB/s took 2.1 s instead of 3.1)."""
    limit = 32 << 20
    p = case.run("loopback", ["loopback", "--transport", "tcp", "--channels", "4", "--ram", "64M",
                              "--max-bandwidth", "32M", "--peer-timeout", str(PT_MS), "--json"])
    check(p.wait(DEADLINE), "loopback did not end")
    js = check_status(p, "completed", (0,))
    check_channels(js, 4, "loopback")
    secs = (js["total-time"] - js.get("setup-time", 0)) / 1e3
    rate = js["ram"]["transferred"] / secs
    check(rate <= limit * 1.1, "%.1f MiB/s over a limit of 32 MiB/s (%d bytes in %.2f s)" % (
        rate / (1 << 20), js["ram"]["transferred"], secs))
    return "%.1f MiB/s under a limit of 32" % (rate / (1 << 20))


def case_cancel(case):
    d, port = case.incoming()
    s = case.run("src", ["migrate", "tcp:127.0.0.1:%d" % port, "--channels", "4", "--json"] + SLOW)
    wait_transferring(s, port, 1 + 4)
    # While the pages flow each side's threads say what they are.
    sn, dn = thread_names(s), thread_names(d)
    for want in ["rmig-migrate"] + ["rmig-mfd-tx%d" % i for i in range(4)]:
        check(want in sn, "the source has no thread named %s: %s" % (want, sn))
    for want in ["rmig-incoming"] + ["rmig-mfd-rx%d" % i for i in range(4)]:
        check(want in dn, "the destination has no thread named %s: %s" % (want, dn))
    t0 = time.monotonic()
    s.signal(signal.SIGINT)
    secs = max(check_within(s, t0, 3.0, "SIGINT"), check_within(d, t0, 3.0, "SIGINT"))
    sj = check_status(s, "cancelled", (130,))
    check_status(d, "failed", (1,))
    check("cancelled" in s.stderr(), "the source's stderr does not say cancelled")
    check(guest_running(s), "the source's guest does not run on after the cancel")
    check(sj["ram"]["transferred"] > 0, "nothing was sent before the cancel")
    return "both ended %.1f s after SIGINT" % secs


def case_kill_destination(case):
    d, port = case.incoming()
    s = case.run("src", ["migrate", "tcp:127.0.0.1:%d" % port, "--channels", "3", "--json"] + SLOW)
    wait_transferring(s, port, 1 + 3)
    t0 = time.monotonic()
    d.signal(signal.SIGKILL)
    secs = check_within(s, t0, PT_MS / 1e3 + SLACK, "SIGKILL of the destination")
    check_status(s, "failed", (1, 3))
    check(guest_running(s), "the source's guest does not run on")
    return "source exit %d %.1f s after the kill" % (s.code, secs)


def case_kill_source(case):
    d, port = case.incoming()
    s = case.run("src", ["migrate", "tcp:127.0.0.1:%d" % port, "--channels", "3", "--json"] + SLOW)
    wait_transferring(s, port, 1 + 3)
    t0 = time.monotonic()
    s.signal(signal.SIGKILL)
    secs = check_within(d, t0, PT_MS / 1e3 + SLACK, "SIGKILL of the source")
    check_status(d, "failed", (1, 3))
    return "destination exit %d %.1f s after the kill" % (d.code, secs)


def case_stop_destination(case):
    d, port = case.incoming()
    s = case.run("src", ["migrate", "tcp:127.0.0.1:%d" % port, "--channels", "3", "--json"] + SLOW)
    wait_transferring(s, port, 1 + 3)
    t0 = time.monotonic()
    d.signal(signal.SIGSTOP)
    try:
        secs = check_within(s, t0, PT_MS / 1e3 + SLACK, "SIGSTOP of the destination")
        check_status(s, "failed", (1, 3))
        check(guest_running(s), "the source's guest does not run on")
    finally:
        d.signal(signal.SIGCONT)
    # Thawed, the destination finds its source gone and fails on its own.
    t1 = time.monotonic()
    dsecs = check_within(d, t1, PT_MS / 1e3 + SLACK, "SIGCONT of the destination")
    check_status(d, "failed", (1, 3))
    return "source exit %d after %.1f s; thawed destination exit %d after %.1f s" % (
        s.code, secs, d.code, dsecs)


class Proxy:
    """Forwards every connection to 127.0.0.1:target, each in its own thread.
    cut(i, how) stops connection i (0 = the first, the main stream):
    "silent" forwards nothing more either way and keeps both sockets open,
    as a pulled cable would; "reset" closes both with a RST."""

    def __init__(self, target, first_channel=None):
        self.target = target
        # Called with the first channel's hello, once it went on, before any
        # other connection goes on (see case_stray_connections).
        self.first_channel = first_channel
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(128)
        self.port = self.ls.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = []          # [client socket, server socket, bytes forwarded, cut]
        self.stopping = False
        self.threads = [threading.Thread(target=self.accept_loop, daemon=True)]
        self.threads[0].start()

    def accept_loop(self):
        self.ls.settimeout(0.1)
        while not self.stopping:
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                s = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                c.close()
                continue
            entry = [c, s, 0, None]
            with self.lock:
                self.conns.append(entry)
                index = len(self.conns) - 1
            if index == 1 and self.first_channel:
                hello = recv_exactly(c, 32)
                s.sendall(hello)
                entry[2] += len(hello)
                self.first_channel(hello)
            t = threading.Thread(target=self.forward, args=(entry,), daemon=True)
            t.start()
            self.threads.append(t)

    def forward(self, entry):
        c, s = entry[0], entry[1]
        peer = {c: s, s: c}
        ends = [c, s]
        while not self.stopping and ends:
            if entry[3]:
                time.sleep(0.05)      # cut: hold on, say nothing
                continue
            try:
                r, _, _ = select.select(ends, [], [], 0.05)
            except (OSError, ValueError):
                return
            for x in r:
                if entry[3]:
                    break
                try:
                    data = x.recv(1 << 16)
                except OSError:
                    data = b""
                if not data:
                    ends.remove(x)
                    try:
                        peer[x].shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    continue
                try:
                    peer[x].sendall(data)
                except OSError:
                    ends.remove(x)
                    continue
                entry[2] += len(data)

    def count(self):
        with self.lock:
            return len(self.conns)

    def forwarded(self, i):
        with self.lock:
            return self.conns[i][2] if i < len(self.conns) else 0

    def cut(self, i, how):
        with self.lock:
            entry = self.conns[i]
        entry[3] = how
        if how == "reset":
            for x in entry[:2]:
                x.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                x.close()

    def close(self):
        self.stopping = True
        for t in self.threads:
            t.join(2)
        for entry in self.conns:
            for x in entry[:2]:
                try:
                    x.close()
                except OSError:
                    pass
        self.ls.close()


def recv_exactly(sock, n):
    data = b""
    sock.settimeout(5)
    while len(data) < n:
        more = sock.recv(n - len(data))
        if not more:
            raise OSError("connection closed after %d bytes" % len(data))
        data += more
    sock.settimeout(None)
    return data


def case_stray_connections(case):
    """Connections that are not channels of this migration reach the
    destination between the first channel and the second: each is dropped
    with a warning, and the migration completes as if they were not there."""
    d, port = case.incoming()
    strays = []

    def inject(hello):
        magic, version, index, count = struct.unpack(">4sIII", hello[:16])
        session = hello[16:32]
        check(magic == b"RMCH" and version == 1 and index == 0 and count == 2,
              "the first channel's hello: %r" % hello)
        flipped = session[:-1] + bytes([session[-1] ^ 1])
        for bad in (b"GET / HTTP/1.0\r\n\r\n".ljust(32, b"\0"),               # not a channel
                    hello[:16] + flipped,                                       # another session
                    struct.pack(">4sIII", b"RMCH", 1, 1, 3) + session,          # 1 of 3, not of 2
                    struct.pack(">4sIII", b"RMCH", 1, 2, 2) + session,          # index 2 of 2
                    struct.pack(">4sIII", b"RMCH", 2, 1, 2) + session,          # version 2
                    hello):                                                     # channel 0 again
            x = socket.create_connection(("127.0.0.1", port), timeout=5)
            x.sendall(bad)
            # Done sending: the destination's gentle close of a dropped
            # connection sees our end at once.  One that stays open costs
            # the destination up to 200 ms of its one peer-timeout for all
            # the channels (plugin/sock.c, SOCK_CLOSE_DRAIN_MS).
            x.shutdown(socket.SHUT_WR)
            strays.append(x)

    proxy = Proxy(port, first_channel=inject)
    case.closers.append(proxy.close)
    case.closers.append(lambda: [x.close() for x in strays])
    s = case.run("src", ["migrate", "tcp:127.0.0.1:%d" % proxy.port, "--channels", "2", "--ram",
                         "64M", "--json"] + DIRTY)
    check(s.wait(DEADLINE) and d.wait(10), "a side did not end")
    check(len(strays) == 6, "%d stray connections were made, expected 6" % len(strays))
    check_status(s, "completed", (0,))
    dj = check_status(d, "completed", (0,))
    check_channels(dj, 2, "destination")
    err = d.stderr()
    dropped = [l for l in err.splitlines() if "dropped" in l and "multifd" in l]
    check(len(dropped) == 6, "the destination dropped %d connections, expected 6:\n%s" % (
        len(dropped), err))
    for why in ("magic", "another migration", "1 of 3", "2 of 2", "version 2",
                "channel 0 connected twice"):
        check(why in err, "no connection was dropped for %r:\n%s" % (why, err))
    return "6 dropped, completed"


def cut_channel(case, how):
    n = 3
    d, port = case.incoming()
    proxy = Proxy(port)
    case.closers.append(proxy.close)
    s = case.run("src", ["migrate", "tcp:127.0.0.1:%d" % proxy.port, "--channels", str(n),
                         "--json"] + SLOW)
    # The main connection and its n channels, and bytes on the one to cut.
    victim = n      # the last channel to connect; never 0, the main stream
    limit = time.monotonic() + 10
    while (proxy.count() < n + 1 or proxy.forwarded(victim) < 1 << 20) and \
            time.monotonic() < limit and not s.done():
        time.sleep(0.02)
    check(proxy.count() == n + 1, "%d connections reached the proxy, expected %d" % (
        proxy.count(), n + 1))
    check(proxy.forwarded(victim) >= 1 << 20, "the channel to cut carried %d bytes" %
          proxy.forwarded(victim))
    check(not s.done(), "the source ended before the cut")
    t0 = time.monotonic()
    proxy.cut(victim, how)
    limit = PT_MS / 1e3 + SLACK
    secs = max(check_within(s, t0, limit, "the cut"), check_within(d, t0, limit, "the cut"))
    sj = check_status(s, "failed", (1, 3))
    dj = check_status(d, "failed", (1, 3))
    check(dj.get("status") != "completed", "the destination completed")
    check(guest_running(s), "the source's guest does not run on")
    # Whichever side noticed first names the channel that was cut (channel victim - 1).
    why = [sj.get("error-desc", ""), dj.get("error-desc", "")]
    check(any("multifd channel %d" % (victim - 1) in w for w in why),
          "neither side names multifd channel %d: %s" % (victim - 1, why))
    return "source exit %d, destination exit %d, %.1f s after the cut; %s | %s" % (
        s.code, d.code, secs, why[0][:60], why[1][:60])


def case_cut_channel_silent(case):
    return cut_channel(case, "silent")


def case_cut_channel_reset(case):
    return cut_channel(case, "reset")


def case_refusals(case):
    seen = []
    # rdma: takes channels as queue pairs (tests/rdma/rdma-channels.sh); fd: cannot.
    for uri, needle in (("fd:1", "fd:"),):
        p = case.run("src", ["migrate", "--channels", "2", "--ram", "16M", uri])
        check(p.wait(10), "migrate --channels 2 %s did not end" % uri)
        check(p.code == 2, "migrate --channels 2 %s: exit %s, expected 2" % (uri, p.code))
        check(needle in p.stderr(), "migrate --channels 2 %s: %r not in its message: %s" % (
            uri, needle, p.stderr().strip()))
        seen.append(p.stderr().strip().splitlines()[-1][:70])
    for bad in ("0", "65", "x"):
        p = case.run("src", ["migrate", "--channels", bad, "tcp:127.0.0.1:9"])
        check(p.wait(10) and p.code == 2, "--channels %s: exit %s, expected 2" % (bad, p.code))
    return "; ".join(seen)


CASES = [
    ("loopback-tcp-2", case_loopback_tcp_2),
    ("loopback-tcp-4", case_loopback_tcp_4),
    ("loopback-unix-3", case_loopback_unix_3),
    ("two-processes-4", case_two_processes),
    ("bandwidth-limit-4", case_bandwidth_limit),
    ("stray-connections", case_stray_connections),
    ("cancel-4", case_cancel),
    ("kill-destination-3", case_kill_destination),
    ("kill-source-3", case_kill_source),
    ("stop-destination-3", case_stop_destination),
    ("cut-channel-silent", case_cut_channel_silent),
    ("cut-channel-reset", case_cut_channel_reset),
    ("refusals", case_refusals),
]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    rmig, only = sys.argv[1], sys.argv[2:]
    failed = 0
    t_all = time.monotonic()
    for name, fn in CASES:
        if only and not any(o in name for o in only):
            continue
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="rmig-multifd-") as tmp:
            case = Case(rmig, tmp)
            try:
                note = fn(case)
                ok = True
            except Failure as e:
                note, ok = str(e), False
            except Exception:      # a bug of this script: show it, fail the case
                note, ok = traceback.format_exc(), False
            finally:
                case.finish()
            print("%-20s %5.1f s  %s  %s" % (name, time.monotonic() - t0,
                                             "ok  " if ok else "FAIL", note))
            if not ok:
                failed += 1
                for p in case.procs:
                    print(indent(p.describe()))
        sys.stdout.flush()
    print("%s in %.1f s" % ("all passed" if not failed else "%d FAILED" % failed,
                            time.monotonic() - t_all))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
