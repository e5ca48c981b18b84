#!/bin/bash
# The hand-over as an operator meets it (docs/switchover.md), with real
# processes and a proxy that breaks it at the trailer:
#   - a corrupted trailer: the source never says completed, exits 1 and its
#     guest runs again; the destination fails verification;
#   - the source's COMMIT lost: the source completed (exit 0); the
#     destination ends in-doubt (exit 5) within --peer-timeout and says how
#     to resolve it.
# Usage: test_handover.sh PATH/TO/rmig PATH/TO/handover_proxy.py
set -uo pipefail

RMIG=${1:?usage: test_handover.sh RMIG PROXY}
PROXY=${2:?usage: test_handover.sh RMIG PROXY}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
pass=0 fail=0

ok()   { pass=$((pass + 1)); echo "ok   - $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL - $*"; }
show() { for f in "$@"; do echo "     --- $(basename "$f")"; sed 's/^/     /' "$f"; done; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_file() { # file seconds
  for _ in $(seq $(($2 * 10))); do [ -s "$1" ] && return 0; sleep 0.1; done
  return 1
}

# run MODE: incoming <- proxy MODE <- migrate; sets in_code, mig_code, in_secs
run() {
  local mode=$1 port
  port=$(free_port)
  rm -f "$tmp/proxy.port"
  "$RMIG" incoming "tcp:127.0.0.1:$port" --accept-timeout 30 --peer-timeout 2000 --json \
    >"$tmp/in.json" 2>"$tmp/in.err" &
  local inpid=$!
  # The destination prints its bound address once it listens.
  for _ in $(seq 100); do grep -q "listening\|127.0.0.1:$port" "$tmp/in.err" && break; sleep 0.1; done
  timeout 120 python3 "$PROXY" "$mode" "$tmp/proxy.port" "$port" 2>"$tmp/proxy.err" &
  wait_file "$tmp/proxy.port" 20 || { bad "$mode: proxy did not start"; show "$tmp/proxy.err"; return 1; }
  timeout 120 "$RMIG" migrate "tcp:127.0.0.1:$(cat "$tmp/proxy.port")" --ram 32M --dirty-rate 4M \
    --peer-timeout 5000 --json >"$tmp/mig.json" 2>"$tmp/mig.err"
  mig_code=$?
  local t0=$SECONDS
  wait $inpid
  in_code=$?
  in_secs=$((SECONDS - t0))
  wait 2>/dev/null
}

run flip-trailer
if [ "$mig_code" -eq 1 ] && ! grep -q '"status":"completed"' "$tmp/mig.json" &&
   grep -q '"status":"failed"' "$tmp/mig.json" && grep -q "did not take over" "$tmp/mig.err" &&
   grep -q "still running" "$tmp/mig.err"; then
  ok "corrupted trailer: the source fails (exit 1), never says completed, guest running again"
else
  bad "corrupted trailer: source exit $mig_code"; show "$tmp/mig.json" "$tmp/mig.err" "$tmp/proxy.err"
fi
if [ "$in_code" -eq 1 ] && grep -q '"status":"failed"' "$tmp/in.json" && grep -qi "checksum" "$tmp/in.err"; then
  ok "corrupted trailer: the destination fails verification (exit 1)"
else
  bad "corrupted trailer: destination exit $in_code"; show "$tmp/in.json" "$tmp/in.err"
fi

run drop-commit
if [ "$mig_code" -eq 0 ] && grep -q '"status":"completed"' "$tmp/mig.json"; then
  ok "lost commit: the source completed (exit 0)"
else
  bad "lost commit: source exit $mig_code"; show "$tmp/mig.json" "$tmp/mig.err" "$tmp/proxy.err"
fi
if [ "$in_code" -eq 5 ] && grep -q '"status":"in-doubt"' "$tmp/in.json" &&
   grep -q "rmig_incoming_resolve" "$tmp/in.json" && [ "$in_secs" -le 10 ]; then
  ok "lost commit: the destination is in doubt (exit 5) and says how to resolve it"
else
  bad "lost commit: destination exit $in_code after ${in_secs}s"; show "$tmp/in.json" "$tmp/in.err" "$tmp/proxy.err"
fi

# A healthy hand-over: the workload continues on the destination (--run).
port=$(free_port)
"$RMIG" incoming "tcp:127.0.0.1:$port" --accept-timeout 30 --run 1 >"$tmp/in.out" 2>"$tmp/in.err" &
inpid=$!
for _ in $(seq 100); do grep -q "127.0.0.1:$port" "$tmp/in.err" && break; sleep 0.1; done
"$RMIG" migrate "tcp:127.0.0.1:$port" --ram 32M --dirty-rate 4M --quiet 2>"$tmp/mig.err"
mig_code=$?
wait $inpid
in_code=$?
writes=$(sed -n 's/.*the workload ran here: \([0-9]*\) page writes.*/\1/p' "$tmp/in.err")
if [ $mig_code -eq 0 ] && [ $in_code -eq 0 ] && [ "${writes:-0}" -gt 0 ]; then
  ok "healthy hand-over: the workload runs on the destination afterwards ($writes page writes)"
else
  bad "healthy hand-over: source exit $mig_code, destination exit $in_code"; show "$tmp/in.err" "$tmp/mig.err"
fi

echo
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
