#!/usr/bin/env python3
"""The fault matrix over tcp and rdma (issue 9, docs/switchover.md).

Each cell runs the real `rmig incoming` and `rmig migrate` with
RMIG_FAULT="PHASE:ACTION" in the environment of the faulted side only, so
the fault hits its protocol point exactly, and asserts what
docs/switchover.md's table says each side reports:

  - the workload ends on at most one side (the source's stderr says "still
    running", or the destination completed), never both;
  - each side's status (its query-migrate JSON) and exit code;
  - every side that is not frozen ends within peer-timeout + the verify
    allowance + slack of the fault; a frozen side, once thawed, too;
  - a destination that completed verified the memory: `rmig incoming`
    exits 0 only when the source's checksums matched (its --help), and
    the source never runs with --no-verify here.

Over rdma it runs inside a soft-RoCE environment (ci/softroce, which sets
RMIG_RDMA_ADDR and RMIG_RDMA_NETDEV), and the cut is the link going down:
the source's RMIG_FAULT=...:cut signals this script, which sets the netdev
under the rxe device down, and brings it back up after the cell.

The row "cut-channel" is the same cut on one multifd channel: the source
runs with --channels 2, and its proxy forwards every connection but, on
the signal, goes silent on the last channel to connect only; the main
stream and the other channel go on.  Over rdma the channels are queue
pairs (data lanes) with no proxy between them: the source, run with
RMIG_RDMA_CUT_LANE=PHASE, points its last lane at a queue pair the
destination does not have before that round's first WRITE, so whatever it
writes on that lane is dropped unanswered while the control QP carries on.
(Cut on the destination's side instead, at its own start of the round, the
source could finish a small final round first: a race, seen in CI.)

Usage: fault_matrix.py [--transport tcp|rdma] RMIG [CELL-SUBSTRING...]
       fault_matrix.py --proxy PORTFILE TARGET_PORT   (the tcp cut proxy)
       fault_matrix.py --proxy-channels PORTFILE TARGET_PORT CONNECTIONS
                                                      (cuts the last of them)
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

PT_MS = 1500                 # --peer-timeout on both sides
ALLOW_MS = 1000              # verify allowance: 1 s per GiB, rounded up
CELL_DEADLINE = 40.0         # anything alive after this is a wait that never ended
HOLD_S = 0.2                 # the cut proxy holds the destination's bytes this long
INCOMING = ["--accept-timeout", "30", "--peer-timeout", str(PT_MS), "--json"]


class Tcp:
    name = "tcp"
    expect = {}
    slack_ms = 4000
    # a small downtime limit so that at least one dirty round runs before the final one
    migrate = ["--ram", "48M", "--dirty-rate", "8M", "--max-bandwidth", "64M",
               "--downtime-limit", "2"]

    def uri(self, port):
        return "tcp:127.0.0.1:%d" % port

    def port(self):
        return free_port()


class Rdma:
    """Inside the soft-RoCE guest every verb is emulated on two slow vCPUs:
    less RAM, and more slack for a guest that stalls now and then."""
    name = "rdma"
    expect = {}   # where rdma differs from tcp, and why: set below EXPECT
    slack_ms = 8000
    migrate = ["--ram", "32M", "--dirty-rate", "4M", "--max-bandwidth", "32M",
               "--downtime-limit", "2"]

    def __init__(self):
        self.addr = os.environ.get("RMIG_RDMA_ADDR")
        self.netdev = os.environ.get("RMIG_RDMA_NETDEV")
        self.dev = os.environ.get("RMIG_RDMA_DEV")
        if not (self.addr and self.netdev and self.dev):
            sys.exit("fault_matrix.py --transport rdma: RMIG_RDMA_ADDR, RMIG_RDMA_NETDEV and "
                     "RMIG_RDMA_DEV are not set; run it under ci/softroce")
        self.next_port = 47300

    def uri(self, port):
        return "rdma:%s:%d" % (self.addr, port)

    def port(self):
        # rdma_cm's port space: a fresh port per cell, so that no cell meets
        # the previous one's listener in its last moments.
        self.next_port += 1
        return self.next_port

    def link(self, up):
        subprocess.run(["ip", "link", "set", self.netdev, "up" if up else "down"], check=True)
        if up:
            # Once a link went down under live connections, soft-RoCE takes no
            # new ones (rdma_connect times out) until its device is created
            # again; hardware needs no such help.
            subprocess.run(["rdma", "link", "delete", self.dev], check=True)
            subprocess.run(["rdma", "link", "add", self.dev, "type", "rxe", "netdev",
                            self.netdev], check=True)

    def wait_active(self):
        path = "/sys/class/infiniband/%s/ports/1/state" % self.dev
        for _ in range(500):
            if "ACTIVE" in read(path):
                return True
            time.sleep(0.02)
        return False


T = None   # the transport under test

PHASES = ["setup", "bulk", "dirty", "final", "after-trailer", "after-commit"]
# fault -> (side carrying RMIG_FAULT, action)
FAULTS = {
    "kill-source": ("source", "kill"),
    "kill-destination": ("destination", "kill"),
    "stop-source": ("source", "stop"),
    "stop-destination": ("destination", "stop"),
    "cut": ("source", "cut"),
    "corrupt": ("source", "corrupt"),
    "cancel-source": ("source", "cancel"),
    "cut-channel": ("source", "cut"),
}
CHANNELS = 2   # cut-channel: the source's --channels; its proxy cuts the last
# What a fault adds to the source's command line.
FAULT_ARGS = {"cut-channel": ["--channels", str(CHANNELS)]}
NA = {("corrupt", p): "corrupt flips a checksum of the trailer, which only the final round "
      "sends; before it nothing is checked, after it the verdict is given"
      for p in PHASES if p != "final"}
NA["cut-channel", "setup"] = ("the setup point comes before the channels connect (the header "
                              "announces them after it): there is no channel to cut yet")
for p in ["after-trailer", "after-commit"]:
    NA["cut-channel", p] = ("every channel said END_OF_STREAM and closed before the trailer: "
                            "there is no channel left to cut")
# Not applicable on one transport only.  Over rdma the channels are data
# lanes (docs/rdma.txt section 18), cut at the start of a round: setup has
# no round, and none comes after the final one.
NA_ON = {"rdma": {("cut-channel", "setup"): "a lane is cut at the start of a round; setup "
                  "has none"}}
for p in ["after-trailer", "after-commit"]:
    NA_ON["rdma"]["cut-channel", p] = ("every lane's last WRITE completed before the trailer: "
                                       "nothing goes on a lane after it")

# What docs/switchover.md's table promises: (source status, exit, guest running),
# (destination status, exit).  "killed": no report, exit -9.
F1, F3 = ("failed", 1, True), ("failed", 3, True)
DONE_SRC, KILLED = ("completed", 0, False), ("killed", -9, False)
EXPECT = {}
for p in ["setup", "bulk", "dirty", "final"]:
    EXPECT["kill-source", p] = (KILLED, ("failed", 1))
    EXPECT["kill-destination", p] = (F1, ("killed", -9))
    EXPECT["stop-source", p] = (F1, ("failed", 3))            # source: once thawed
    EXPECT["stop-destination", p] = (F3, ("failed", 1))       # destination: once thawed
    EXPECT["cut", p] = (F3, ("failed", 3))
    EXPECT["cancel-source", p] = (("cancelled", 1, True), ("failed", 1))
# One channel cut, the main stream intact: what is stuck in the cut channel
# is missing at the next END_OF_ROUND or END_OF_STREAM, so the destination's
# read on that channel runs out of peer-timeout: failed, 3.  The source fails
# too and keeps its guest, by whichever comes first: its own write on the
# cut channel running out of peer-timeout (3: seen at bulk, where megabytes
# are still to go on it), or the destination's failure over the intact main
# stream, as its RESULT ("did not take over", 1: seen at dirty and final,
# where the rest fits in the socket buffers and the source waits for
# RESULT).  The two are a race of equal timeouts, so either code passes.
for p in ["bulk", "dirty", "final"]:
    EXPECT["cut-channel", p] = (("failed", (1, 3), True), ("failed", 3))
# The destination frozen at END_OF_STREAM: the source sent everything, gave
# up waiting for RESULT and sent ABORT behind the trailer, closing gently so
# that no reset overtakes it; thawed, the destination reads the ABORT and
# fails on its own.  Frozen in a dirty round it is the same when the rest of
# the stream fit in the socket buffers ("RESULT late"), and "took no data"
# otherwise: failed either way.
EXPECT["corrupt", "final"] = (F1, ("failed", 1))
EXPECT["kill-source", "after-trailer"] = (KILLED, ("in-doubt", 5))
EXPECT["kill-destination", "after-trailer"] = (DONE_SRC, ("killed", -9))
EXPECT["stop-source", "after-trailer"] = (DONE_SRC, ("in-doubt", 5))
EXPECT["stop-destination", "after-trailer"] = (DONE_SRC, ("completed", 0))
EXPECT["cut", "after-trailer"] = (F3, ("in-doubt", 5))
# The cancel only interrupts the source's wait for RESULT (tcp and rdma alike),
# so it still sends ABORT: the destination fails on its own instead of being
# in doubt.
EXPECT["cancel-source", "after-trailer"] = (("cancelled", 1, True), ("failed", 1))
EXPECT["kill-source", "after-commit"] = (KILLED, ("in-doubt", 5))
EXPECT["kill-destination", "after-commit"] = (DONE_SRC, ("killed", -9))
EXPECT["stop-source", "after-commit"] = (DONE_SRC, ("in-doubt", 5))
EXPECT["stop-destination", "after-commit"] = (DONE_SRC, ("completed", 0))
EXPECT["cut", "after-commit"] = (DONE_SRC, ("in-doubt", 5))
EXPECT["cancel-source", "after-commit"] = (DONE_SRC, ("completed", 0))

# Where rdma differs.  The destination's RESULT is a control message, and
# it may only be sent on a credit, which the source grants when it starts
# waiting for RESULT.  A source killed, frozen or cut off right after its
# trailer never grants it, so RESULT never leaves the destination
# (ctrl_send fails before it posts): the source cannot have committed, and
# the destination fails plainly instead of being in doubt.  The thawed
# source finds the destination gone and keeps its workload.
Rdma.expect = {
    ("kill-source", "after-trailer"): (KILLED, ("failed", 1)),
    ("stop-source", "after-trailer"): (F1, ("failed", 3)),
    ("cut", "after-trailer"): (F3, ("failed", 3)),
}
# One lane cut, the control QP intact: the source's WRITEs on that lane go
# unanswered, and its wait for them ends after peer-timeout (rdma/lane.c):
# failed, 3, guest kept.  It says so on the control QP (ERROR), so the
# destination fails at once: failed, 1.
for p in ["bulk", "dirty", "final"]:
    Rdma.expect["cut-channel", p] = (F3, ("failed", 1))

MARK = "RMIG_FAULT: "


def drain(src, dst):
    """Pass on what the faulted side (the source) wrote before its fault
    point: it is blocked in the fault hook, so what is readable now is all
    of it."""
    src.setblocking(False)
    idle = 0
    while idle < 3:
        try:
            data = src.recv(1 << 16)
        except BlockingIOError:
            idle += 1
            time.sleep(0.01)
            continue
        except OSError:
            return
        if not data:
            return
        idle = 0
        try:
            dst.sendall(data)
        except OSError:
            return


def proxy_main(portfile, target):
    """Forward one connection both ways until SIGUSR1 (sent by the source's
    RMIG_FAULT=...:cut), then go silent: read nothing, write nothing, close
    nothing, as a pulled cable would.  Nothing the destination sends after
    the signal reaches the source."""
    cut = []
    signal.signal(signal.SIGUSR1, lambda *_: cut.append(1))
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    ls.settimeout(30)
    src, _ = ls.accept()
    dst = socket.create_connection(("127.0.0.1", target), timeout=10)
    peer = {src: dst, dst: src}
    open_ends = {src, dst}
    # What the destination says goes back only after HOLD_S: its answer to
    # the source's last bytes must not overtake the source's cut signal,
    # which the source sends right after those bytes but may be scheduled
    # late (seen under ASan on a loaded machine: RESULT got through, and
    # the source completed).  Only the hand-over travels that way on tcp.
    back = []          # (time received, bytes) from the destination
    back_eof = []
    import select
    end = time.monotonic() + CELL_DEADLINE
    while time.monotonic() < end:
        if cut:
            if cut[0]:
                drain(src, dst)
                cut[0] = 0
            time.sleep(0.05)   # hold both sockets open, silent, until killed
            continue
        now = time.monotonic()
        while back and now - back[0][0] >= HOLD_S:
            try:
                src.sendall(back.pop(0)[1])
            except OSError:
                back.clear()
        if back_eof and not back:
            try:
                src.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            back_eof.clear()
        r, _, _ = select.select(list(open_ends), [], [], 0.02)
        for s in r:
            if cut and s is dst:
                continue
            try:
                data = s.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                open_ends.discard(s)
                if s is dst:
                    back_eof.append(1)   # after what is still held
                    continue
                try:
                    peer[s].shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                continue
            if s is dst:
                back.append((time.monotonic(), data))
                continue
            try:
                peer[s].sendall(data)
            except OSError:
                open_ends.discard(s)
    return 0


def proxy_channels_main(portfile, target, nconns):
    """Forward every connection both ways; on SIGUSR1 go silent on the last
    of @nconns (a multifd channel, never the first: the main stream), as
    proxy_main() does on its one: pass on what the source wrote on it
    before its fault point (at bulk, dirty and final the channels are idle
    there: the round's pages are queued after it), then nothing more either
    way.  All the other connections go on."""
    import select
    cut = []
    signal.signal(signal.SIGUSR1, lambda *_: cut.append(1))
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    pairs, peer, open_ends, silent = [], {}, set(), set()
    end = time.monotonic() + CELL_DEADLINE
    while time.monotonic() < end:
        if cut and not silent and len(pairs) >= nconns:
            silent = set(pairs[nconns - 1])
            drain(*pairs[nconns - 1])
        r, _, _ = select.select([ls] + list(open_ends - silent), [], [], 0.05)
        for s in r:
            if s is ls:
                src, _ = ls.accept()
                dst = socket.create_connection(("127.0.0.1", target), timeout=10)
                pairs.append((src, dst))
                peer[src], peer[dst] = dst, src
                open_ends |= {src, dst}
                continue
            try:
                data = s.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                open_ends.discard(s)
                try:
                    peer[s].shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                continue
            try:
                peer[s].sendall(data)
            except OSError:
                open_ends.discard(s)
    return 0


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


def error_desc_of(out):
    for line in reversed(out.splitlines()):
        if line.strip().startswith("{"):
            try:
                return json.loads(line).get("error-desc", "")
            except ValueError:
                return ""
    return ""


def status_of(out, code):
    if code == -signal.SIGKILL:
        return "killed"
    for line in reversed(out.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line).get("status", "?")
            except ValueError:
                return "bad-json"
    return "-"


class Proc:
    def __init__(self, name, argv, env, tmp):
        self.name, self.out, self.err = name, os.path.join(tmp, name + ".out"), \
            os.path.join(tmp, name + ".err")
        self.p = subprocess.Popen(argv, env=env, stdout=open(self.out, "w"),
                                  stderr=open(self.err, "w"))
        self.end = None
        self.code = None

    def poll(self):
        if self.end is None and self.p.poll() is not None:
            self.end, self.code = time.monotonic(), self.p.returncode
        return self.end is not None

    def kill(self):
        if self.p.poll() is None:
            try:
                os.kill(self.p.pid, signal.SIGCONT)
                self.p.kill()
            except OSError:
                pass
            self.p.wait()


def run_cell(rmig, fault, phase, tmp):
    side, action = FAULTS[fault]
    base = dict(os.environ)
    base.pop("RMIG_FAULT", None)
    base.pop("RMIG_RDMA_CUT_LANE", None)
    faulty = dict(base, RMIG_FAULT="%s:%s" % (phase, action))
    if fault == "cut-channel" and T.name == "rdma":
        # No proxy between queue pairs: before that round's first WRITE the
        # source points its last lane at a queue pair the destination does
        # not have, so what goes on it is dropped unanswered (rdma/source.c).
        side, action = "source", "cut-lane"
        faulty = dict(base, RMIG_RDMA_CUT_LANE=phase)
    port = T.port()
    notes = []
    dst = Proc("dst", [rmig, "incoming", T.uri(port)] + INCOMING,
               faulty if side == "destination" else base, tmp)
    for _ in range(500):
        if "waiting for a migration" in read(dst.err) or dst.poll():
            break
        time.sleep(0.02)
    target, proxy, cut = port, None, []
    if action == "cut" and T.name == "tcp":
        portfile = os.path.join(tmp, "proxy.port")
        how = ["--proxy", portfile, str(port)]
        if fault == "cut-channel":
            how = ["--proxy-channels", portfile, str(port), str(1 + CHANNELS)]
        proxy = subprocess.Popen([sys.executable, __file__] + how,
                                 stderr=open(os.path.join(tmp, "proxy.err"), "w"))
        for _ in range(250):
            if os.path.exists(portfile):
                break
            time.sleep(0.02)
        target = int(read(portfile) or 0)
        faulty["RMIG_FAULT_PROXY"] = str(proxy.pid)
    elif action == "cut":
        # The source signals us; the handler pulls the link under both ends,
        # then says so: under TCG `ip link` can outlast the source's 300 ms
        # settle, and a COMMIT that slipped out before the cut would make the
        # cell another experiment, so the source waits for the file.
        ack = os.path.join(tmp, "cut.ack")

        def pull(*_):
            if not cut:
                T.link(False)
                cut.append(time.monotonic())
                open(ack, "w").close()
        signal.signal(signal.SIGUSR1, pull)
        faulty["RMIG_FAULT_PROXY"] = str(os.getpid())
        faulty["RMIG_FAULT_CUT_ACK"] = ack
    src = Proc("src", [rmig, "migrate", T.uri(target)] + T.migrate + FAULT_ARGS.get(fault, []) +
               ["--peer-timeout", str(PT_MS), "--json"],
               faulty if side == "source" else base, tmp)
    victim, other = (src, dst) if side == "source" else (dst, src)
    t0 = time.monotonic()
    t_fault = t_cont = None
    while time.monotonic() - t0 < CELL_DEADLINE:
        if t_fault is None and MARK + action in read(victim.err):
            t_fault = time.monotonic()
        done_v, done_o = victim.poll(), other.poll()
        if done_v and done_o:
            break
        # A frozen side is thawed once the other side has ended on its own.
        if action == "stop" and t_fault is not None and done_o and t_cont is None:
            os.kill(victim.p.pid, signal.SIGCONT)
            t_cont = time.monotonic()
        time.sleep(0.02)
    hung = [p.name for p in (src, dst) if not p.poll()]
    for p in (src, dst):
        p.kill()
        p.poll()
    if proxy:
        proxy.kill()
        proxy.wait()
    if action == "cut" and T.name == "rdma":
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        T.link(True)
        if not T.wait_active():
            notes.append("the link did not come back up")
    # No wait may outlive peer-timeout + margin: from the fault for a side that
    # was not frozen, from SIGCONT for the side that was.
    secs = []
    for p in (src, dst):
        if p.end is None or t_fault is None or (p is victim and action in ("kill",)):
            continue
        start = t_cont if (p is victim and t_cont is not None) else t_fault
        secs.append(max(0.0, p.end - start))
    if hung:
        notes.append("never ended: " + ",".join(hung))
    if t_fault is None:
        notes.append("the fault never fired")
    return src, dst, (max(secs) if secs else 0.0), notes




def judge(fault, phase, src, dst, secs, notes):
    (e_ss, e_sc, e_run), (e_ds, e_dc) = T.expect.get((fault, phase), EXPECT[fault, phase])
    serr = read(src.err)
    s_status, d_status = status_of(read(src.out), src.code), status_of(read(dst.out), dst.code)
    s_run = "still running" in serr
    d_run = d_status == "completed"
    bad = list(notes)
    if s_run and d_run:
        bad.append("BOTH RUN")
    e_scs = e_sc if isinstance(e_sc, tuple) else (e_sc,)   # any of these exit codes
    if s_status != e_ss or src.code not in e_scs:
        bad.append("source %s/%s, expected %s/%s" % (s_status, src.code, e_ss,
                                                      "|".join(map(str, e_scs))))
    if s_run != e_run:
        bad.append("source guest %s, expected %s" % ("running" if s_run else "not running",
                                                      "running" if e_run else "not running"))
    if (d_status, dst.code) != (e_ds, e_dc):
        bad.append("destination %s/%s, expected %s/%s" % (d_status, dst.code, e_ds, e_dc))
    if d_run and dst.code != 0:
        bad.append("destination completed but did not verify")
    if fault == "cut-channel" and T.name == "rdma":
        # The source sees its WRITEs on that lane go unanswered, and names it.
        why = error_desc_of(read(src.out))
        if "channel %d" % (CHANNELS - 1) not in why:
            bad.append("the source's error does not name rdma channel %d: %r" % (
                CHANNELS - 1, why[:120]))
    elif fault == "cut-channel":
        # The destination's reason names the channel that was cut, not the main stream.
        why = error_desc_of(read(dst.out))
        if "multifd channel %d" % (CHANNELS - 1) not in why:
            bad.append("the destination's error does not name multifd channel %d: %r" % (
                CHANNELS - 1, why[:120]))
    limit = (PT_MS + ALLOW_MS + T.slack_ms) / 1e3
    if secs > limit:
        bad.append("ended %.1fs after the fault, limit %.1fs" % (secs, limit))
    where = "destination" if d_run else "source" if s_run else "neither"
    return ("%s/%s%s" % (s_status, src.code, " running" if s_run else ""),
            "%s/%s%s" % (d_status, dst.code, " verified" if d_run and dst.code == 0 else ""),
            where, bad)


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--proxy":
        return proxy_main(sys.argv[2], int(sys.argv[3]))
    if len(sys.argv) >= 2 and sys.argv[1] == "--proxy-channels":
        return proxy_channels_main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    global T
    args = sys.argv[1:]
    T = Tcp()
    if args[:1] == ["--transport"]:
        if args[1:2] not in (["tcp"], ["rdma"]):
            sys.exit("fault_matrix.py: --transport tcp or rdma")
        T = Rdma() if args[1] == "rdma" else Tcp()
        args = args[2:]
    if not args:
        sys.exit(__doc__)
    rmig, only = args[0], args[1:]
    print("the fault matrix over %s: %s" % (T.name, " ".join(T.migrate)))
    passed = failed = skipped = 0
    rows = []
    print("cell                              source                 destination"
          "            workload     secs  result")
    for fault in FAULTS:
        for phase in PHASES:
            cell = "%s@%s" % (fault, phase)
            if only and not any(o in cell for o in only):
                continue
            na = NA_ON.get(T.name, {}).get((fault, phase)) or NA.get((fault, phase))
            if na:
                skipped += 1
                print("%-33s n/a: %s" % (cell, na))
                continue
            with tempfile.TemporaryDirectory() as tmp:
                src, dst, secs, notes = run_cell(rmig, fault, phase, tmp)
                s, d, where, bad = judge(fault, phase, src, dst, secs, notes)
                print("%-33s %-22s %-22s %-12s %4.1f  %s" % (
                    cell, s, d, where, secs, "ok" if not bad else "FAIL: " + "; ".join(bad)))
                if bad:
                    failed += 1
                    for p in (src, dst):
                        for path in (p.out, p.err):
                            print("    --- %s\n%s" % (os.path.basename(path), "".join(
                                "    " + l for l in read(path).splitlines(True))))
                else:
                    passed += 1
            sys.stdout.flush()
    print("\n%d passed, %d failed (%d n/a)" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
