#!/bin/bash
# TLS on stream transports, as an operator meets it: real processes, real
# sockets, credentials made fresh by gen_certs.sh.  Migrations that complete
# with verified memory (x509 and PSK, tcp and unix, a dirtying guest,
# loopback); every refusal with the source's exit code (6) and message and
# the destination's "rejected ...; still waiting for the source"; a
# destination that waits on after a rejected peer; and nothing allocated for
# a peer that never proved who it is.
# Usage: test_tls.sh PATH/TO/rmig PATH/TO/gen_certs.sh
set -uo pipefail

RMIG=${1:?usage: test_tls.sh PATH/TO/rmig PATH/TO/gen_certs.sh}
GEN=${2:?usage: test_tls.sh PATH/TO/rmig PATH/TO/gen_certs.sh}

if ! command -v certtool >/dev/null 2>&1; then
  echo "SKIP: certtool (gnutls-bin) not found: the TLS test makes its credentials with it"
  exit 77
fi

tmp=$(mktemp -d)
# Every rmig started in the background (under timeout, which passes a
# SIGTERM on to it) is listed in $tmp/pids.
cleanup() {
  local p
  for p in $(cat "$tmp/pids" 2>/dev/null) $(jobs -p); do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
pass=0 fail=0

ok()   { pass=$((pass + 1)); echo "ok   - $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL - $*"; }
# One of rmig's own failure exits (1 to 6): not success, a timeout, a crash or a sanitizer abort.
rmig_failed() { [[ $1 =~ ^[1-6]$ ]]; }
show() { for f in "$@"; do echo "     --- ${f#"$tmp"/}"; sed 's/^/     /' "$f" 2>/dev/null; done; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_listening ERRFILE PID: until the destination says it listens (10 s at most).
wait_listening() {
  for _ in $(seq 100); do
    grep -q "waiting for a migration on" "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# has FILE TEXT: TEXT (fixed) in FILE.
has() { grep -qF -- "$2" "$1" 2>/dev/null; }

# rejected FILE TEXT: the destination's "rejected ...: CAUSE; still waiting for the source", CAUSE naming TEXT.
rejected() {
  grep "rejected " "$1" 2>/dev/null | grep "; still waiting for the source" | grep -qF -- "$2"
}

if ! bash "$GEN" "$tmp/creds" >"$tmp/gen.log" 2>&1; then
  bad "gen_certs.sh failed"; show "$tmp/gen.log"
  echo; echo "$pass passed, $fail failed"; exit 1
fi
C=$tmp/creds
AUTHZ='CN=rmig-source,O=rmig'

# pair NAME ACCEPT-TIMEOUT URI DEST-OPTIONS... -- SOURCE-OPTIONS...
# One destination and one source, in $tmp/NAME: in.out, in.err, in.rc,
# src.out, src.err, src.rc.  The source starts once the destination listens.
pair() {
  local name=$1 at=$2 uri=$3 d=() s=() inpid
  shift 3
  while [ $# -gt 0 ] && [ "$1" != -- ]; do d+=("$1"); shift; done
  shift
  s=("$@")
  local dir=$tmp/$name
  mkdir -p "$dir"
  timeout 60 "$RMIG" incoming "$uri" --accept-timeout "$at" "${d[@]}" \
    >"$dir/in.out" 2>"$dir/in.err" &
  inpid=$!
  echo $inpid >>"$tmp/pids"
  if wait_listening "$dir/in.err" $inpid; then
    timeout 60 "$RMIG" migrate "$uri" -q "${s[@]}" >"$dir/src.out" 2>"$dir/src.err"
    echo $? >"$dir/src.rc"
  else
    echo "the destination never listened" >"$dir/src.err"
    echo none >"$dir/src.rc"
  fi
  wait $inpid
  echo $? >"$dir/in.rc"
}

rc() { cat "$tmp/$1/$2.rc" 2>/dev/null || echo none; }

# completed NAME WHAT: both ends exit 0 and the destination verified every block.
completed() {
  local name=$1 what=$2 d=$tmp/$1
  if [ "$(rc "$name" src)" = 0 ] && [ "$(rc "$name" in)" = 0 ] &&
     has "$d/in.out" "status:        completed" && has "$d/in.out" "verified:      yes"; then
    ok "$what: completed, memory verified"
  else
    bad "$what: source exit $(rc "$name" src), destination exit $(rc "$name" in)"
    show "$d/src.err" "$d/in.out" "$d/in.err"
  fi
}

# refused NAME WHAT SOURCE-CODE SOURCE-TEXT DEST-CAUSE: the source exits
# SOURCE-CODE saying SOURCE-TEXT; the destination rejects it naming
# DEST-CAUSE, waits on, and ends on its --accept-timeout (exit 3).
refused() {
  local name=$1 what=$2 code=$3 stext=$4 dcause=$5 d=$tmp/$1 src
  src=$(rc "$name" src)
  if [ "$src" = "$code" ] && has "$d/src.err" "$stext"; then
    ok "$what: the source is refused (exit $src: '$stext')"
  else
    bad "$what: source exit $src, expected $code and '$stext'"; show "$d/src.err"
  fi
  if rejected "$d/in.err" "$dcause" && [ "$(rc "$name" in)" = 3 ] &&
     has "$d/in.err" "no source connected"; then
    ok "$what: the destination rejects it ('$dcause'), waits on, ends on its accept-timeout (exit 3)"
  else
    bad "$what: destination exit $(rc "$name" in), expected 3 and a rejection naming '$dcause'"
    show "$d/in.err"
  fi
}

tcp() { echo "tcp:127.0.0.1:$(free_port)"; }

# --- every pair at once: the refusals wait out a short accept-timeout ---
# Short, yet long enough for a dozen sources started at once to connect: under ASan on two
# cores some took over 3 s to, and found the listener closed (CI: "connection refused").
AT=10
# The right key under an identity with a terminal escape in it.
printf 'ev\033[31mil:%s\n' "$(cut -d: -f2 "$C/psk.key")" >"$tmp/psk-esc.key"
chmod 600 "$tmp/psk-esc.key"
pids=()
pair x509-tcp 20 "$(tcp)" --tls-creds "$C/good" --tls-authz "$AUTHZ" -- \
  --ram 16M --tls-creds "$C/good" & pids+=($!)
pair psk-tcp 20 "$(tcp)" --tls-psk "$C/psk.key" -- --ram 16M --tls-psk "$C/psk.key" & pids+=($!)
pair x509-unix 20 "unix:$tmp/x509.sock" --tls-creds "$C/good" -- \
  --ram 16M --tls-creds "$C/good" --tls-hostname localhost & pids+=($!)
pair dirty 20 "$(tcp)" --tls-creds "$C/good" --tls-authz "$AUTHZ" -- \
  --ram 64M --dirty-rate 8M --tls-creds "$C/good" & pids+=($!)
pair wrong-ca $AT "$(tcp)" --tls-creds "$C/good" -- --ram 16M --tls-creds "$C/other-ca" & pids+=($!)
pair expired-server $AT "$(tcp)" --tls-creds "$C/expired" -- --ram 16M --tls-creds "$C/good" & pids+=($!)
pair otherhost $AT "$(tcp)" --tls-creds "$C/otherhost" -- --ram 16M --tls-creds "$C/good" & pids+=($!)
pair expired-client $AT "$(tcp)" --tls-creds "$C/good" -- --ram 16M --tls-creds "$C/expired" & pids+=($!)
pair authz $AT "$(tcp)" --tls-creds "$C/good" --tls-authz "$AUTHZ" -- \
  --ram 16M --tls-creds "$C/other-client" & pids+=($!)
pair wrong-psk $AT "$(tcp)" --tls-psk "$C/psk.key" -- --ram 16M --tls-psk "$C/psk-other.key" & pids+=($!)
pair psk-escape $AT "$(tcp)" --tls-psk "$C/psk.key" -- --ram 16M --tls-psk "$tmp/psk-esc.key" & pids+=($!)
pair plain-source $AT "$(tcp)" --tls-creds "$C/good" -- --ram 16M & pids+=($!)
pair plain-dest $AT "$(tcp)" -- --ram 16M --tls-creds "$C/good" & pids+=($!)
pair both-source $AT "$(tcp)" --tls-creds "$C/good" -- \
  --ram 16M --tls-creds "$C/good" --tls-psk "$C/psk.key" & pids+=($!)
pair both-dest $AT "$(tcp)" --tls-creds "$C/good" --tls-psk "$C/psk.key" -- \
  --ram 16M --tls-creds "$C/good" & pids+=($!)
pair unix-nohost $AT "unix:$tmp/nohost.sock" --tls-creds "$C/good" -- \
  --ram 16M --tls-creds "$C/good" & pids+=($!)
wait "${pids[@]}"

completed x509-tcp "x509 over tcp (tls-authz '$AUTHZ')"
completed psk-tcp "TLS-PSK over tcp"
completed x509-unix "x509 over unix (--tls-hostname localhost)"
completed dirty "x509 over tcp, a dirtying guest (64M, --dirty-rate 8M)"

refused wrong-ca "wrong CA (source other-ca)" 6 "unknown CA" "the source refused our certificate"
refused expired-server "expired server certificate" 6 "it has expired" \
  "the source refused our certificate"
refused otherhost "server certificate for another host" 6 \
  "is not issued to '127.0.0.1' (tls-hostname)" "the source refused our certificate"
refused expired-client "expired client certificate" 6 "the destination refused our certificate" \
  "the source's certificate was refused: it has expired"
refused authz "client DN not in tls-authz" 6 "not in its tls-authz" \
  "'CN=intruder,O=rmig' is not in tls-authz"
refused wrong-psk "wrong pre-shared key" 6 "pre-shared key" "pre-shared keys differ"
# An unauthenticated identity is logged without its control bytes.
if has "$tmp/psk-escape/in.err" "unknown PSK identity 'ev?[31mil'" &&
   ! grep -q $'\033' "$tmp/psk-escape/in.err"; then
  ok "an unknown PSK identity is logged with its escape bytes replaced"
else
  bad "unknown PSK identity: not logged as 'ev?[31mil', or an escape byte reached the log"
  show "$tmp/psk-escape/in.err"
fi

# A plain source to a TLS destination: refused before a byte of it is read.
d=$tmp/plain-source
src=$(rc plain-source src)
if rmig_failed "$src"; then
  ok "plain source to a TLS destination: the source fails (exit $src)"
else
  bad "plain source to a TLS destination: source exit $src, expected a failure"; show "$d/src.err"
fi
if rejected "$d/in.err" "does not use TLS (it sent a plain rmig stream)" &&
   [ "$(rc plain-source in)" = 3 ]; then
  ok "plain source to a TLS destination: the destination says it does not use TLS, waits on (exit 3)"
else
  bad "plain source to a TLS destination: destination exit $(rc plain-source in)"; show "$d/in.err"
fi

# A TLS source to a plain destination.
d=$tmp/plain-dest
if [ "$(rc plain-dest src)" = 6 ] && has "$d/src.err" "closed the connection during the handshake"; then
  ok "TLS source to a plain destination: the source is refused (exit 6)"
else
  bad "TLS source to a plain destination: source exit $(rc plain-dest src)"; show "$d/src.err"
fi
if has "$d/in.err" "the source speaks TLS: give this side the same --tls-creds or --tls-psk" &&
   [ "$(rc plain-dest in)" = 6 ]; then
  ok "TLS source to a plain destination: the destination names it (exit 6)"
else
  bad "TLS source to a plain destination: destination exit $(rc plain-dest in)"; show "$d/in.err"
fi

# Both --tls-creds and --tls-psk: a usage error, said before anything connects.
both="give --tls-creds or --tls-psk, not both"
d=$tmp/both-source
if [ "$(rc both-source src)" = 2 ] && has "$d/src.err" "$both"; then
  ok "migrate with --tls-creds and --tls-psk: refused (exit 2: '$both')"
else
  bad "migrate with --tls-creds and --tls-psk: exit $(rc both-source src), expected 2 and '$both'"
  show "$d/src.err"
fi
d=$tmp/both-dest
if [ "$(rc both-dest in)" = 2 ] && has "$d/in.err" "$both"; then
  ok "incoming with --tls-creds and --tls-psk: refused (exit $(rc both-dest in): '$both')"
else
  bad "incoming with --tls-creds and --tls-psk: exit $(rc both-dest in)"; show "$d/in.err"
fi
timeout 60 "$RMIG" loopback --transport tcp --ram 16M -q --tls-creds "$C/good" \
  --tls-psk "$C/psk.key" >"$tmp/lb-both.out" 2>"$tmp/lb-both.err"
code=$?
if [ $code -eq 2 ] && has "$tmp/lb-both.err" "$both"; then
  ok "loopback with --tls-creds and --tls-psk: refused (exit $code)"
else
  bad "loopback with --tls-creds and --tls-psk: exit $code"; show "$tmp/lb-both.err"
fi

# Credentials are read before anything connects or listens: a bad path is a usage error.
timeout 30 "$RMIG" migrate tcp:127.0.0.1:9 --ram 16M -q --tls-creds "$tmp/no-such-dir" \
  >"$tmp/nocreds-src.out" 2>"$tmp/nocreds-src.err"
code=$?
if [ $code -eq 2 ] && has "$tmp/nocreds-src.err" "no-such-dir/ca-cert.pem"; then
  ok "migrate with a missing --tls-creds directory: exit 2 before connecting, the file named"
else
  bad "migrate with a missing --tls-creds directory: exit $code"; show "$tmp/nocreds-src.err"
fi
timeout 30 "$RMIG" incoming tcp:127.0.0.1:0 --tls-psk "$tmp/no-such.key" \
  >"$tmp/nocreds-in.out" 2>"$tmp/nocreds-in.err"
code=$?
if [ $code -eq 2 ] && has "$tmp/nocreds-in.err" "no-such.key"; then
  ok "incoming with a missing --tls-psk file: exit 2 before listening, the file named"
else
  bad "incoming with a missing --tls-psk file: exit $code"; show "$tmp/nocreds-in.err"
fi
# A FIFO where a key file belongs: refused at once, not opened (that would block until written).
mkfifo "$tmp/psk.fifo"
timeout 10 "$RMIG" incoming tcp:127.0.0.1:0 --tls-psk "$tmp/psk.fifo" >/dev/null 2>"$tmp/fifo.err"
code=$?
if [ $code -eq 2 ] && has "$tmp/fifo.err" "psk.fifo is not a regular file"; then
  ok "a FIFO as --tls-psk: exit 2 at once ('not a regular file')"
else
  bad "a FIFO as --tls-psk: exit $code (124: it blocked)"; show "$tmp/fifo.err"
fi
timeout 30 "$RMIG" incoming tcp:127.0.0.1:0 --tls-psk "$C/psk.key" --tls-authz 'CN=x' \
  >"$tmp/pskauthz.out" 2>"$tmp/pskauthz.err"
code=$?
if [ $code -eq 2 ] && has "$tmp/pskauthz.err" "need tls-creds"; then
  ok "--tls-authz with --tls-psk: exit 2 (authz names certificates)"
else
  bad "--tls-authz with --tls-psk: exit $code"; show "$tmp/pskauthz.err"
fi

# A peer that connects and never speaks is dropped within peer-timeout; the right one follows.
uri=$(tcp)
timeout 60 "$RMIG" incoming "$uri" --tls-creds "$C/good" --peer-timeout 1000 \
  --accept-timeout 30 >"$tmp/quiet-in.out" 2>"$tmp/quiet-in.err" &
qin=$!; pids+=($qin)
for _ in $(seq 50); do has "$tmp/quiet-in.err" "waiting for a migration" && break; sleep 0.1; done
python3 - "${uri##*:}" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
time.sleep(4)  # says nothing, then goes
PY
qpy=$!
t0=$(date +%s%N)
for _ in $(seq 40); do has "$tmp/quiet-in.err" "rejected" && break; sleep 0.1; done
t1=$(date +%s%N)
wait $qpy
timeout 60 "$RMIG" migrate "$uri" --tls-creds "$C/good" --ram 16M -q >"$tmp/quiet-src.out" \
  2>"$tmp/quiet-src.err"
code=$?
wait $qin; qcode=$?
ms=$(( (t1 - t0) / 1000000 ))
if has "$tmp/quiet-in.err" "rejected" && [ $ms -lt 3000 ] && [ $code -eq 0 ] && [ $qcode -eq 0 ]; then
  ok "a silent peer is dropped in ${ms} ms (peer-timeout 1 s), then the right source completes"
else
  bad "silent peer: dropped after ${ms} ms, source exit $code, destination exit $qcode"
  show "$tmp/quiet-in.err" "$tmp/quiet-src.err"
fi

# A cancel while the source waits for the hand-over's answer still sends ABORT through TLS
# (docs/switchover.md): the destination ends failed, not in doubt.
uri=$(tcp)
timeout 60 "$RMIG" incoming "$uri" --tls-creds "$C/good" >"$tmp/abort-in.out" \
  2>"$tmp/abort-in.err" &
ain=$!; pids+=($ain)
for _ in $(seq 50); do has "$tmp/abort-in.err" "waiting for a migration" && break; sleep 0.1; done
RMIG_FAULT=after-trailer:cancel timeout 60 "$RMIG" migrate "$uri" --tls-creds "$C/good" \
  --ram 16M -q >"$tmp/abort-src.out" 2>"$tmp/abort-src.err"
code=$?
wait $ain; acode=$?
if [ $code -eq 1 ] && [ $acode -eq 1 ] && has "$tmp/abort-src.err" "cancelled"; then
  ok "cancel during the hand-over over TLS: source cancelled, destination failed (not in doubt)"
else
  bad "cancel during the hand-over over TLS: source exit $code, destination exit $acode (5 = in doubt)"
  show "$tmp/abort-src.err" "$tmp/abort-in.err"
fi

# x509 over unix names no host: the source must be given one.
d=$tmp/unix-nohost
src=$(rc unix-nohost src)
if rmig_failed "$src" && has "$d/src.err" "give --tls-hostname"; then
  ok "x509 over unix without --tls-hostname: refused (exit $src: 'give --tls-hostname')"
else
  bad "x509 over unix without --tls-hostname: exit $src"; show "$d/src.err"
fi

# --- loopback: both ends in one process, memory compared byte for byte ---
# loopback WHAT OPTIONS...
loopback() {
  local what=$1
  shift
  timeout 60 "$RMIG" loopback --ram 16M "$@" >"$tmp/lb.out" 2>"$tmp/lb.err"
  local code=$?
  if [ $code -eq 0 ] && has "$tmp/lb.out" "dest verified: yes" &&
     has "$tmp/lb.out" "memory verified: 1 block, 16.0 MiB identical"; then
    ok "$what: completed, memory identical"
  else
    bad "$what: exit $code"; show "$tmp/lb.out" "$tmp/lb.err"
  fi
}
loopback "loopback over unix, x509 (--tls-hostname localhost)" --transport unix \
  --tls-creds "$C/good" --tls-hostname localhost
loopback "loopback over tcp, x509 (host name from the URI: 127.0.0.1)" --transport tcp \
  --tls-creds "$C/good"
# multifd: every channel makes its own handshake with the same credentials
loopback "loopback over tcp, x509, 3 multifd channels" --transport tcp \
  --tls-creds "$C/good" --channels 3 --dirty-rate 8M
loopback "loopback over unix, x509, 2 multifd channels" --transport unix \
  --tls-creds "$C/good" --tls-hostname localhost --channels 2

# --- a rejected peer does not end the wait: a wrong-CA source, then a good one ---
uri=$(tcp)
d=$tmp/wait-on
mkdir -p "$d"
timeout 60 "$RMIG" incoming "$uri" --accept-timeout 20 --tls-creds "$C/good" \
  >"$d/in.out" 2>"$d/in.err" &
inpid=$!
echo $inpid >>"$tmp/pids"
if wait_listening "$d/in.err" $inpid; then
  timeout 60 "$RMIG" migrate "$uri" --ram 16M -q --tls-creds "$C/other-ca" 2>"$d/bad.err"
  badcode=$?
  timeout 60 "$RMIG" migrate "$uri" --ram 16M -q --tls-creds "$C/good" 2>"$d/good.err"
  goodcode=$?
else
  badcode=none goodcode=none
fi
wait $inpid
incode=$?
if [ "$badcode" = 6 ] && [ "$goodcode" = 0 ] && [ $incode -eq 0 ] &&
   rejected "$d/in.err" "the source refused our certificate" &&
   has "$d/in.out" "verified:      yes"; then
  ok "a rejected source, then a good one: the destination waited on, the good one completed"
else
  bad "wait on after a rejection: wrong-CA source exit $badcode, good source exit $goodcode, destination exit $incode"
  show "$d/bad.err" "$d/good.err" "$d/in.out" "$d/in.err"
fi

# --- nothing allocated for an untrusted peer: a plain header asking for 1 TiB ---
uri=$(tcp)
port=${uri##*:}
d=$tmp/untrusted
mkdir -p "$d"
timeout 60 "$RMIG" incoming "$uri" --accept-timeout 20 --tls-creds "$C/good" \
  >"$d/in.out" 2>"$d/in.err" &
inpid=$!
echo $inpid >>"$tmp/pids"
rmigpid=
if wait_listening "$d/in.err" $inpid; then
  rmigpid=$(pgrep -P $inpid | head -n1)
  # The header of rmig_format_write_header: "RMIG", version 1, flags, one block
  # (name length, name, page size, length) -- 1 TiB, in the clear.
  timeout 20 python3 - "$port" >"$d/py.out" 2>&1 <<'EOF'
import socket, struct, sys
hdr = struct.pack(">4sIII", b"RMIG", 1, 0, 1)
name = b"pc.ram"
hdr += struct.pack(">H", len(name)) + name + struct.pack(">IQ", 4096, 1 << 40)
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(hdr)
try:
    while s.recv(4096):
        pass
    print("the destination closed the connection")
except ConnectionResetError:
    print("the destination reset the connection")
EOF
  for _ in $(seq 50); do
    rejected "$d/in.err" "does not use TLS" && break
    sleep 0.1
  done
fi
rss_kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$rmigpid/status" 2>/dev/null)
if [ -n "$rmigpid" ] && kill -0 "$rmigpid" 2>/dev/null &&
   rejected "$d/in.err" "does not use TLS (it sent a plain rmig stream)" &&
   [ -n "$rss_kib" ] && [ "$rss_kib" -lt $((64 * 1024)) ]; then
  ok "a plain header asking for 1 TiB: rejected, nothing allocated (VmRSS ${rss_kib} KiB), still waiting"
else
  bad "a plain header asking for 1 TiB: pid '${rmigpid}', VmRSS '${rss_kib:-?}' KiB"
  show "$d/py.out" "$d/in.err"
fi
# Still waiting indeed: a good source after it completes.
if [ -n "$rmigpid" ] && kill -0 "$rmigpid" 2>/dev/null; then
  timeout 60 "$RMIG" migrate "$uri" --ram 16M -q --tls-creds "$C/good" 2>"$d/good.err"
  goodcode=$?
else
  goodcode=none
fi
wait $inpid
incode=$?
if [ "$goodcode" = 0 ] && [ $incode -eq 0 ] && has "$d/in.out" "verified:      yes"; then
  ok "after the untrusted peer, a good source completes"
else
  bad "after the untrusted peer: good source exit $goodcode, destination exit $incode"
  show "$d/good.err" "$d/in.out" "$d/in.err"
fi

echo
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
