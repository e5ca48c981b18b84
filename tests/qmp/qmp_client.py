"""A small QMP client for rmig's tests (Python 3 standard library only).

    c = QMPClient("/tmp/x/src.qmp", timeout=10)   # retries until the socket exists
    c.greeting                                     # {"QMP": {...}}
    c.negotiate()
    reply = c.cmd("query-status")                  # {"return": {...}, "id": 1}
    c.ok("migrate-set-parameters", **{"downtime-limit": 50})   # the "return" value
    c.cmd("migrate", uri="tcp:127.0.0.1:4444")     # keyword names: '_' becomes '-'
    c.wait_event("MIGRATION", lambda e: e["data"]["status"] == "completed", timeout=30)

Every message from the server ends with "\\r\\n"; the client splits the
stream on newlines and parses each line as one JSON object.  Lines that do
not end with "\\r\\n" are still parsed, and recorded in framing_errors.

Events that arrive while the client waits for a reply are kept, in order:
`events` holds the ones wait_event() has not taken yet, `event_log` every
event ever received.  Every wait has a deadline and raises QMPTimeout.
"""
import json
import select
import socket
import time

_AUTO = object()


class QMPError(Exception):
    """Anything that went wrong talking to the server."""


class QMPTimeout(QMPError):
    """A wait passed its deadline."""


class QMPClosed(QMPError):
    """The server closed the connection."""


class QMPProtocolError(QMPError):
    """The server sent something the protocol does not allow here."""


class QMPCommandError(QMPError):
    """ok() got an error reply."""

    def __init__(self, name, reply):
        err = reply.get("error", {})
        super().__init__("%s failed: %s: %s" % (name, err.get("class"), err.get("desc")))
        self.reply = reply


def connect_unix(path, timeout, alive=None):
    """Connect to the unix socket PATH, retrying until it exists and accepts
    or TIMEOUT seconds pass.  ALIVE(): an optional check that the server
    process still runs, to give up early."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except (FileNotFoundError, ConnectionRefusedError) as e:
            s.close()
            last = e
        if alive is not None and not alive():
            raise QMPClosed("cannot connect to %s: the server process is gone (last error: %s)"
                            % (path, last))
        if time.monotonic() >= deadline:
            raise QMPTimeout("cannot connect to %s within %.1f s (last error: %s)"
                             % (path, timeout, last))
        time.sleep(0.05)


def _args_from(args, kwargs):
    merged = dict(args or {})
    for k, v in kwargs.items():
        merged[k.replace("_", "-")] = v
    return merged


class QMPClient:
    def __init__(self, path, timeout=10.0, read_greeting=True, negotiate=False, alive=None):
        self.path = path
        self.timeout = timeout
        self.sock = connect_unix(path, timeout, alive)
        self.buf = b""
        self.messages = []        # parsed, not yet consumed by recv_msg()
        self.events = []          # events not yet taken by wait_event()
        self.event_log = []       # every event received, in order
        self.framing_errors = []  # lines that did not end with "\r\n"
        self.closed = False
        self.next_id = 0
        self.greeting = None
        if read_greeting:
            self.greeting = self.recv_msg(timeout)
            if "QMP" not in self.greeting:
                raise QMPProtocolError("expected the QMP greeting from %s, got %r"
                                       % (path, self.greeting))
        if negotiate:
            self.negotiate()

    # --- raw I/O -------------------------------------------------------

    def send_raw(self, data):
        """Send bytes as they are (one sendall)."""
        self.sock.sendall(data)

    def send_json(self, obj):
        self.send_raw(json.dumps(obj).encode() + b"\n")

    def _split_lines(self):
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            if not line.endswith(b"\r"):
                self.framing_errors.append(line[:200])
            line = line.strip()
            if not line:
                continue
            try:
                msg = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                raise QMPProtocolError("the server sent a line that is not JSON (%s): %r"
                                       % (e, line[:300]))
            if not isinstance(msg, dict):
                raise QMPProtocolError("the server sent a JSON value that is not an object: %r"
                                       % (msg,))
            self.messages.append(msg)

    def recv_msg(self, timeout=None):
        """The next message (event or not), waiting at most TIMEOUT seconds."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while not self.messages:
            if self.closed:
                raise QMPClosed("the server closed the connection (unparsed tail: %r)"
                                % self.buf[:200])
            left = deadline - time.monotonic()
            if left <= 0:
                raise QMPTimeout("no message from the server within %.1f s" % timeout)
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            try:
                data = self.sock.recv(1 << 16)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            if not data:
                self.closed = True
                continue
            self.buf += data
            self._split_lines()
        return self.messages.pop(0)

    def _note_event(self, msg):
        self.events.append(msg)
        self.event_log.append(msg)

    def next_reply(self, timeout=None):
        """The next message that is not an event (events are buffered)."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QMPTimeout("no reply from the server within %.1f s" % timeout)
            msg = self.recv_msg(left)
            if "event" in msg:
                self._note_event(msg)
                continue
            return msg

    # --- commands ------------------------------------------------------

    def cmd(self, name, args=None, id=_AUTO, timeout=None, **kwargs):
        """Execute NAME and return the whole reply (with its "id").  ARGS
        and keyword arguments (their '_' turned into '-') are merged into
        "arguments", which is left out when empty."""
        if id is _AUTO:
            self.next_id += 1
            id = self.next_id
        req = {"execute": name}
        arguments = _args_from(args, kwargs)
        if arguments:
            req["arguments"] = arguments
        if id is not None:
            req["id"] = id
        self.send_json(req)
        reply = self.next_reply(timeout)
        if id is not None and reply.get("id") != id:
            raise QMPProtocolError("reply to %s: expected id %r, got %r (reply %r)"
                                   % (name, id, reply.get("id"), reply))
        return reply

    def ok(self, name, args=None, timeout=None, **kwargs):
        """Execute NAME, return its "return" value; QMPCommandError on an error reply."""
        reply = self.cmd(name, args, timeout=timeout, **kwargs)
        if "error" in reply or "return" not in reply:
            raise QMPCommandError(name, reply)
        return reply["return"]

    def refused(self, name, args=None, timeout=None, **kwargs):
        """Execute NAME, expecting an error reply; return its "error" object."""
        reply = self.cmd(name, args, timeout=timeout, **kwargs)
        if "error" not in reply:
            raise QMPProtocolError("%s %r: expected an error reply, got %r"
                                   % (name, _args_from(args, kwargs), reply))
        return reply["error"]

    def negotiate(self):
        return self.ok("qmp_capabilities")

    # --- events --------------------------------------------------------

    def _take_event(self, name, pred):
        for i, ev in enumerate(self.events):
            if ev.get("event") == name and (pred is None or pred(ev)):
                return self.events.pop(i)
        return None

    def wait_event(self, name, pred=None, timeout=None):
        """The first buffered or arriving event NAME for which PRED(event)
        holds; it is taken out of `events` (others stay)."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            ev = self._take_event(name, pred)
            if ev is not None:
                return ev
            left = deadline - time.monotonic()
            if left <= 0:
                raise QMPTimeout("no %s event%s within %.1f s; events seen: %s"
                                 % (name, " matching the condition" if pred else "", timeout,
                                    summarize_events(self.event_log)))
            try:
                msg = self.recv_msg(left)
            except QMPTimeout:
                continue
            if "event" not in msg:
                raise QMPProtocolError("a reply nobody asked for while waiting for %s: %r"
                                       % (name, msg))
            self._note_event(msg)

    def drain_events(self, seconds):
        """Read events for SECONDS; return those that arrived."""
        deadline = time.monotonic() + seconds
        got = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return got
            try:
                msg = self.recv_msg(left)
            except QMPTimeout:
                return got
            if "event" not in msg:
                raise QMPProtocolError("a reply nobody asked for: %r" % (msg,))
            self._note_event(msg)
            got.append(msg)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True


def summarize_events(events):
    """["MIGRATION:setup", "MIGRATION_PASS:1", "STOP", ...]"""
    out = []
    for ev in events:
        data = ev.get("data") or {}
        if "status" in data:
            out.append("%s:%s" % (ev.get("event"), data["status"]))
        elif "pass" in data:
            out.append("%s:%s" % (ev.get("event"), data["pass"]))
        else:
            out.append(str(ev.get("event")))
    return "[" + ", ".join(out) + "]"
