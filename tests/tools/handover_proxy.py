#!/usr/bin/env python3
"""A TCP proxy between `rmig migrate` and `rmig incoming` that breaks the
hand-over on purpose, at the trailer (docs/switchover.md):

  flip-trailer  flips one bit in the last checksum of the stream's trailer,
                so the destination's verification fails;
  drop-commit   passes everything up to the trailer and the destination's
                RESULT, then swallows what the source sends after it (its
                COMMIT), so the destination never hears the decision.

The trailer is recognised as a pause in the source's stream whose last
bytes are the trailer magic "RMGE": the source sends nothing after it
until the destination answers.  Usage:
  handover_proxy.py MODE PORTFILE TARGET_PORT
It listens on 127.0.0.1 (port written to PORTFILE), serves one connection
and exits; every wait is bounded.
"""
import select
import socket
import sys
import time

MAGIC = b"RMGE"
HOLD = 64          # bytes held back from the destination until we know more
IDLE = 0.3         # a pause this long after MAGIC marks the trailer
DEADLINE = 120.0   # the whole run


def main():
    mode, portfile, target = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    import os
    os.rename(portfile + ".tmp", portfile)
    ls.settimeout(60)
    src, _ = ls.accept()
    dst = socket.create_connection(("127.0.0.1", target), timeout=10)
    held = b""
    trailer_seen = False
    last_src = time.monotonic()
    end = time.monotonic() + DEADLINE
    open_ends = {src, dst}
    while open_ends and time.monotonic() < end:
        r, _, _ = select.select(list(open_ends), [], [], 0.05)
        for s in r:
            data = s.recv(1 << 16)
            if s is src:
                if not data:
                    if not trailer_seen:
                        dst.sendall(held)
                    open_ends.discard(src)
                    dst.shutdown(socket.SHUT_WR)
                    continue
                last_src = time.monotonic()
                if trailer_seen:
                    if mode == "drop-commit":
                        continue  # the decision never reaches the destination
                    dst.sendall(data)
                    continue
                held += data
                if len(held) > HOLD:
                    dst.sendall(held[:-HOLD])
                    held = held[-HOLD:]
            else:
                if not data:
                    open_ends.discard(dst)
                    src.shutdown(socket.SHUT_WR)
                    continue
                src.sendall(data)
        if (not trailer_seen and held.endswith(MAGIC)
                and time.monotonic() - last_src > IDLE):
            trailer_seen = True
            if mode == "flip-trailer":
                # The byte before the magic ends the last block's checksum.
                held = held[:-5] + bytes([held[-5] ^ 0x10]) + held[-4:]
            dst.sendall(held)
            held = b""
            print("proxy: trailer seen, mode %s" % mode, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
