#!/bin/bash
# tests/fuzz/gen_tls_seeds.sh RMIG DIR -- seeds for fuzz_tls: the first
# flight of real TLS clients, captured by a listener that answers nothing.
#   rmig's own source with TLS-PSK (identity "rmig", as fuzz_tls's key) and
#   with x509 (credentials from tests/tls/gen_certs.sh), gnutls-cli offering
#   TLS 1.2 only, and a plain rmig stream header.  Each file starts with the
#   byte fuzz_tls reads as its read size (0: all at once, 7: small pieces).
set -euo pipefail
rmig=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
"$here/../tls/gen_certs.sh" "$work/creds" >/dev/null
printf 'rmig:000102030405060708090a0b0c0d0e0f\n' >"$work/psk"

capture() { # NAME CHUNK-BYTE COMMAND...: run COMMAND against a listener, keep its first flight
	local name=$1 chunk=$2; shift 2
	local port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	python3 - "$port" "$work/$name.raw" <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); s.settimeout(10)
c, _ = s.accept(); c.settimeout(1); data = b""
end = time.time() + 2
while time.time() < end:
    try:
        b = c.recv(65536)
    except socket.timeout:
        break
    if not b:
        break
    data += b
open(sys.argv[2], "wb").write(data[:4096])  # a first flight, not a whole plain stream
PY
	local lp=$!
	sleep 0.3
	timeout 5 "$@" "$port" >/dev/null 2>&1 || true
	wait "$lp"
	{ printf "\\x$(printf %02x "$chunk")"; cat "$work/$name.raw"; } >"$out/$name"
}
capture rmig-psk 0 bash -c '"$0" migrate "tcp:127.0.0.1:$2" --ram 1M -q --peer-timeout 1000 --tls-psk "$1"' "$rmig" "$work/psk"
capture rmig-psk-pieces 7 bash -c '"$0" migrate "tcp:127.0.0.1:$2" --ram 1M -q --peer-timeout 1000 --tls-psk "$1"' "$rmig" "$work/psk"
capture rmig-x509 0 bash -c '"$0" migrate "tcp:127.0.0.1:$2" --ram 1M -q --peer-timeout 1000 --tls-creds "$1"' "$rmig" "$work/creds/good"
capture rmig-plain 0 bash -c '"$0" migrate "tcp:127.0.0.1:$1" --ram 1M -q --peer-timeout 1000' "$rmig"
if command -v gnutls-cli >/dev/null; then
	capture gnutls-tls12 0 bash -c 'gnutls-cli --priority "NORMAL:-VERS-ALL:+VERS-TLS1.2:+PSK:+ECDHE-PSK" --pskusername rmig --pskkey 000102030405060708090a0b0c0d0e0f --port "$0" 127.0.0.1 </dev/null'
fi
ls -l "$out"
