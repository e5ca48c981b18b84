#!/bin/bash
# The rmig command as an operator uses it: real processes, real sockets,
# exit codes and messages.  Usage: test_cli.sh PATH/TO/rmig
set -uo pipefail

RMIG=${1:?usage: test_cli.sh PATH/TO/rmig}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
pass=0 fail=0

ok()   { pass=$((pass + 1)); echo "ok   - $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL - $*"; }

# expect CODE PATTERN DESCRIPTION -- CMD...: exit status CODE and PATTERN on stderr
expect() {
  local code=$1 pattern=$2 what=$3
  shift 4
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [ "$got" -ne "$code" ]; then
    bad "$what: exit $got, expected $code"; sed 's/^/     /' "$tmp/err"; return
  fi
  if [ -n "$pattern" ] && ! grep -Eq "$pattern" "$tmp/err"; then
    bad "$what: stderr lacks /$pattern/"; sed 's/^/     /' "$tmp/err"; return
  fi
  ok "$what"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# --- usage errors: exit 2, message names the bad value ---
expect 2 "invalid size '8Q'" "bad size" -- "$RMIG" migrate tcp:127.0.0.1:1 --ram 8Q
expect 2 "unknown transport 'bogus'" "unknown scheme" -- "$RMIG" migrate bogus:x --ram 8M
expect 2 "port missing" "URI without port" -- "$RMIG" migrate tcp:127.0.0.1 --ram 8M
expect 2 "zero-share" "zero share out of range" -- "$RMIG" loopback --zero-share 1.5
expect 2 "downtime-limit" "downtime-limit 0" -- "$RMIG" loopback --downtime-limit 0
expect 2 "" "unknown option" -- "$RMIG" loopback --no-such-option
# Checked before the guest is made: a 64T guest would end in exit 4 first.
expect 2 "pre-shared key file /nonexistent" "TLS key missing, before the guest" -- \
  "$RMIG" migrate tcp:127.0.0.1:1 --ram 64T --tls-psk /nonexistent
expect 2 "give --channels" "bench --plot without --channels, before measuring" -- \
  "$RMIG" bench --plot "$tmp/never.svg"
expect 2 "give --run" "incoming --dirty-rate without --run" -- \
  "$RMIG" incoming tcp:127.0.0.1:0 --dirty-rate 4M
expect 2 "not a whole number of 2097152-byte pages" "RAM not a whole number of pages" -- \
  "$RMIG" loopback --ram 3M --page-size 2M
expect 0 "" "--help" -- "$RMIG" --help
expect 0 "" "migrate --help" -- "$RMIG" migrate --help
# To files first: under pipefail, grep -q leaving early would SIGPIPE a long help text.
"$RMIG" --help >"$tmp/help" 2>&1
"$RMIG" migrate --help >"$tmp/help-migrate" 2>&1
if grep -q "loopback" "$tmp/help" && grep -q -- "--dirty-rate" "$tmp/help-migrate"; then
  ok "help lists the commands and options"
else
  bad "help text incomplete"
fi

# --- unreachable peer: exit 3 ---
port=$(free_port)
expect 3 "refused" "refused peer" -- "$RMIG" migrate "tcp:127.0.0.1:$port" --ram 8M
expect 3 "no source connected" "accept timeout" -- "$RMIG" incoming "tcp:127.0.0.1:$port" --accept-timeout 1

# --- memory shortage: exit 4 ---
expect 4 "available" "RAM larger than the machine" -- "$RMIG" loopback --ram 64T

# --- a completed loopback with the JSON report ---
"$RMIG" loopback --transport tcp --ram 32M --dirty-rate 8M --json >"$tmp/json" 2>"$tmp/err"
code=$?
if [ $code -eq 0 ] && python3 - "$tmp/json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["status"] == "completed", r
for k in ("total-time", "setup-time", "downtime"):
    assert isinstance(r[k], int), k
ram = r["ram"]
for k in ("transferred", "remaining", "total", "duplicate", "normal", "normal-bytes",
          "dirty-pages-rate", "mbps", "dirty-sync-count", "page-size"):
    assert k in ram, k
assert ram["total"] == 32 << 20 and ram["remaining"] == 0 and ram["page-size"] == 4096
assert ram["duplicate"] > 0 and ram["normal"] > 0
EOF
then ok "loopback --json completes with a query-migrate report"
else bad "loopback --json (exit $code)"; sed 's/^/     /' "$tmp/err" "$tmp/json"; fi

# --- --prealloc: the destination's RAM is resident before the migration starts ---
# The process's RSS once the migration started: the source's guest alone,
# plus the destination's 64 MiB when they were faulted in ahead.  Without
# --prealloc it varied by 20 MiB between runs (40-63 MiB), so the check
# asks for half the destination's RAM more, not all of it.
rss_at_start() {
  local pid rss=
  "$RMIG" loopback --transport tcp --ram 48M,16M --page-size 64K --zero-share 0.5 \
    --max-bandwidth 1M "$@" >"$tmp/pre.out" 2>"$tmp/pre.err" &
  pid=$!
  for _ in $(seq 100); do
    grep -q "migrating over" "$tmp/pre.err" && break
    sleep 0.1
  done
  rss=$(awk '/^VmRSS:/ { print $2 }' /proc/$pid/status 2>/dev/null)
  kill -INT $pid
  wait $pid
  echo "${rss:-0}"
}
plain=$(rss_at_start)
pre=$(rss_at_start --prealloc)
if [ "$pre" -ge $((plain + 32 * 1024)) ] &&
   grep -q "destination RAM preallocated (64 MiB in [0-9]* ms, before the migration)" "$tmp/pre.err"; then
  ok "--prealloc faults the destination in before the migration (RSS $plain -> $pre KiB)"
else
  bad "--prealloc: RSS at start $plain KiB without, $pre KiB with"; sed 's/^/     /' "$tmp/pre.err"
fi
"$RMIG" loopback --transport tcp --ram 24M,5M --page-size 64K --dirty-rate 8M --prealloc \
  >"$tmp/out" 2>"$tmp/err"
code=$?
if [ $code -eq 0 ] && grep -q "memory verified: 2 blocks" "$tmp/out"; then
  ok "--prealloc with two blocks and a dirtying guest: completes, memory verified"
else
  bad "--prealloc migration (exit $code)"; sed 's/^/     /' "$tmp/err" "$tmp/out"
fi

# --- two processes: incoming + migrate over tcp and unix ---
for uri in "tcp:127.0.0.1:$(free_port)" "unix:$tmp/mig.sock"; do
  "$RMIG" incoming "$uri" --accept-timeout 20 --json >"$tmp/in.json" 2>"$tmp/in.err" &
  inpid=$!
  # Until the destination listens, a connect is refused (exit 3); retry that only.
  for _ in $(seq 50); do
    "$RMIG" migrate "$uri" --ram 24M,5M --page-size 16K --dirty-rate 4M --quiet 2>"$tmp/mig.err"
    [ $? -eq 3 ] || break
    sleep 0.1
  done
  wait $inpid
  code=$?
  # The page size comes from the loader, not from a read of blocks it may be allocating.
  if [ $code -eq 0 ] && grep -q '"status":"completed"' "$tmp/in.json" &&
     grep -q '"page-size":16384' "$tmp/in.json" &&
     grep -Eq '"dirty-sync-count":[1-9]' "$tmp/in.json"; then
    ok "incoming + migrate over ${uri%%:*}"
  else
    bad "incoming + migrate over ${uri%%:*} (incoming exit $code)"; sed 's/^/     /' "$tmp/in.err"
  fi
done

# --- a source asking for more RAM than the destination allows: nothing allocated, exit 4 ---
uri="tcp:127.0.0.1:$(free_port)"
"$RMIG" incoming "$uri" --accept-timeout 20 --max-ram 16M >/dev/null 2>"$tmp/in.err" &
inpid=$!
for _ in $(seq 50); do
  "$RMIG" migrate "$uri" --ram 64M --quiet 2>"$tmp/mig.err"
  code=$?
  [ $code -eq 3 ] || break
  sleep 0.1
done
wait $inpid
incode=$?
if [ $incode -eq 4 ] && grep -q "asks for 64.0 MiB of RAM, more than this destination allows (16.0 MiB: max-ram); nothing was allocated" "$tmp/in.err" &&
   [ $code -eq 1 ] && grep -q "did not take over: Cannot allocate memory; the workload stays here" "$tmp/mig.err"; then
  ok "--max-ram refuses a larger source (incoming exit 4, source exit 1, workload stays on the source)"
else
  bad "--max-ram (incoming exit $incode, source exit $code)"; sed 's/^/     /' "$tmp/in.err" "$tmp/mig.err"
fi

# --- Ctrl-C on the source: cancelled, guest still running, non-zero exit ---
"$RMIG" loopback --transport tcp --ram 256M --dirty-rate 16M --max-bandwidth 32M >"$tmp/out" 2>"$tmp/err" &
pid=$!
sleep 2
kill -INT $pid
wait $pid
code=$?
if [ $code -eq 130 ] && grep -q "cancelled" "$tmp/err" "$tmp/out" && grep -q "still running" "$tmp/err"; then
  ok "Ctrl-C cancels cleanly (exit 130, guest still running)"
else
  bad "Ctrl-C (exit $code)"; sed 's/^/     /' "$tmp/err" "$tmp/out"
fi

echo
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
