#!/bin/bash
# A frozen peer over tcp (SIGSTOP), as docs/switchover.md's table says:
# the other side ends on its own within --peer-timeout, and the source's
# guest runs again.  Usage: test_liveness.sh PATH/TO/rmig
set -uo pipefail

RMIG=${1:?usage: test_liveness.sh RMIG}
tmp=$(mktemp -d)
trap 'kill -CONT $(jobs -p) 2>/dev/null; kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
pass=0 fail=0
PT=2000   # --peer-timeout, ms
LIMIT=8   # seconds from the freeze to the other side's exit: the timeout plus slack

ok()   { pass=$((pass + 1)); echo "ok   - $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL - $*"; }
# One of rmig's own failure exits (1 to 6): not success, a timeout, a crash or a sanitizer abort.
rmig_failed() { [[ $1 =~ ^[1-6]$ ]]; }
show() { for f in "$@"; do echo "     --- $(basename "$f")"; sed 's/^/     /' "$f"; done; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# freeze WHO: start both ends, SIGSTOP WHO once the migration is under way,
# and time how long the other side takes to give up.
freeze() {
  local who=$1 port inpid migpid t0 victim survivor
  port=$(free_port)
  "$RMIG" incoming "tcp:127.0.0.1:$port" --accept-timeout 30 --peer-timeout $PT \
    >"$tmp/in.out" 2>"$tmp/in.err" &
  inpid=$!
  sleep 0.5
  # Paced so that it is still running when frozen: 256 MiB at 32 MB/s is ~8 s.
  "$RMIG" migrate "tcp:127.0.0.1:$port" --ram 256M --dirty-rate 8M --max-bandwidth 32M \
    --peer-timeout $PT >"$tmp/mig.out" 2>"$tmp/mig.err" &
  migpid=$!
  sleep 1.5
  if [ "$who" = destination ]; then victim=$inpid survivor=$migpid; else victim=$migpid survivor=$inpid; fi
  kill -STOP $victim
  t0=$SECONDS
  for _ in $(seq $((LIMIT * 10))); do kill -0 $survivor 2>/dev/null || break; sleep 0.1; done
  surv_secs=$((SECONDS - t0))
  if kill -0 $survivor 2>/dev/null; then surv_code=timeout; kill -9 $survivor; wait $survivor
  else wait $survivor; surv_code=$?; fi
  # Let the frozen side find out the other side is gone.
  kill -CONT $victim
  for _ in $(seq 150); do kill -0 $victim 2>/dev/null || break; sleep 0.1; done
  if kill -0 $victim 2>/dev/null; then victim_code=timeout; kill -9 $victim; wait $victim
  else wait $victim; victim_code=$?; fi
}

freeze destination
if [ "$surv_code" = 3 ] && [ $surv_secs -le $LIMIT ] && grep -q "peer-timeout" "$tmp/mig.err" &&
   grep -q "still running" "$tmp/mig.err"; then
  ok "destination frozen: the source gives up in ${surv_secs}s (exit 3), guest running again"
else
  bad "destination frozen: source exit $surv_code after ${surv_secs}s"; show "$tmp/mig.err"
fi
if rmig_failed "$victim_code" && [ "$victim_code" != 5 ]; then
  ok "destination frozen, then thawed: it fails (exit $victim_code), never in doubt"
else
  bad "thawed destination: exit $victim_code"; show "$tmp/in.err"
fi

freeze source
if [ "$surv_code" = 3 ] && [ $surv_secs -le $LIMIT ] && grep -q "peer-timeout" "$tmp/in.err"; then
  ok "source frozen: the destination gives up in ${surv_secs}s (exit 3)"
else
  bad "source frozen: destination exit $surv_code after ${surv_secs}s"; show "$tmp/in.err"
fi
if rmig_failed "$victim_code" && grep -q "still running" "$tmp/mig.err"; then
  ok "source frozen, then thawed: it fails (exit $victim_code), guest running again"
else
  bad "thawed source: exit $victim_code"; show "$tmp/mig.err"
fi

echo
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
