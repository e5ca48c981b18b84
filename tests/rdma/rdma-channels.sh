#!/bin/bash
# multifd over rdma (issue 10): data lanes, extra queue pairs that carry the
# WRITEs (docs/rdma.txt section 18).  Runs INSIDE a soft-RoCE environment:
#   ci/softroce -- tests/rdma/rdma-channels.sh RMIG
# Every migration that must complete ends with memory compared byte for
# byte (loopback) or checksums matched (incoming exits 0), while the guest
# keeps dirtying; each also shows that the pages went over every lane.
#
# env: RMIG_RDMA_ADDR (set by ci/softroce).
set -u
RMIG=${1:?usage: rdma-channels.sh RMIG}
A=${RMIG_RDMA_ADDR:-169.254.77.1}
ulimit -l unlimited 2>/dev/null || echo "warning: cannot raise the memlock limit"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PASS=0 FAIL=0
ok()   { echo "PASS: $*"; PASS=$((PASS + 1)); }
bad()  { echo "FAIL: $*"; FAIL=$((FAIL + 1)); }

# loopback NAME EXPECT_RC [ENV=..] -- ARGS...
loop() {
	local name=$1 want=$2; shift 2
	local envs=()
	while [[ $1 != -- ]]; do envs+=("$1"); shift; done; shift
	env "${envs[@]}" timeout 300 "$RMIG" loopback --transport rdma --addr "$A" --json -v "$@" \
		>"$T/$name.json" 2>"$T/$name.err"
	local rc=$?
	if [[ $rc == "$want" ]]; then ok "$name (rc $rc)"
	else bad "$name: rc $rc, wanted $want"; cat "$T/$name.err" "$T/$name.json"; fi
	return 0
}

# lanes NAME N: the JSON shows N channels, each of which carried pages, and
# multifd-bytes is their sum.
lanes() {
	python3 - "$T/$1.json" "$2" <<'EOF' && ok "$1: $2 lanes carried the pages" || bad "$1: lanes"
import json, sys
j = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
ch = [c["bytes"] for c in j.get("x-rmig-channels", [])]
mb = j["ram"].get("multifd-bytes")
print("    channels %s, multifd-bytes %s, normal-bytes %s" % (ch, mb, j["ram"]["normal-bytes"]))
sys.exit(0 if len(ch) == n and all(b > 0 for b in ch) and mb == sum(ch) else 1)
EOF
}

wait_listen() {
	for _ in $(seq 300); do grep -q "waiting for a migration" "$1" 2>/dev/null && return 0; sleep 0.2; done
	return 1
}

# --- complete, verified, while the guest dirties ---
loop two-lanes-dynamic 0 -- --ram 32M --dirty-rate 4M --writers 2 --channels 2
lanes two-lanes-dynamic 2
grep -q "2 channels (queue pairs) carry the pages" "$T/two-lanes-dynamic.err" &&
	ok "two-lanes-dynamic: -v names the lanes" || bad "two-lanes-dynamic: no lane report"
loop four-lanes-pin-all 0 -- --ram 32M --dirty-rate 4M --pin-all --channels 4
lanes four-lanes-pin-all 4
# Zero pages as COMPRESS on the control QP beside WRITEs on the lanes, across rounds.
for seed in 1 2; do
	loop "lanes-compress-then-write-$seed" 0 -- --ram 8M --zero-share 0.5 --dirty-rate 4M \
		--seed $seed --channels 2
done
# Bounded pinning: an eviction (UNREGISTER) must wait for every lane's WRITEs.
loop lanes-max-pinned 0 -- --ram 48M --dirty-rate 4M --max-pinned 8M --channels 2
lanes lanes-max-pinned 2
if grep -Eq "[1-9][0-9]* regions unregistered" "$T/lanes-max-pinned.err"; then
	ok "lanes-max-pinned: evicted under the bound"
else bad "lanes-max-pinned: nothing evicted"; grep "pinned" "$T/lanes-max-pinned.err"; fi
# QEMU's one-credit flow: the CHANNELS exchange waits for its READY like any request.
loop lanes-v1-flow 0 RMIG_RDMA_NO_CREDITS=1 -- --ram 16M --dirty-rate 1M --channels 2
lanes lanes-v1-flow 2

# --- a destination without the extension (plain v1, as QEMU): one queue pair, and said so ---
# Only the destination lacks it: the source offers CHANNELS and must settle for one QP.
RMIG_RDMA_NO_EXTENSIONS=1 "$RMIG" incoming "rdma:$A:47402" --accept-timeout 120 >"$T/in-v1.out" 2>"$T/in-v1.err" &
IN=$!
wait_listen "$T/in-v1.err" || sleep 2
timeout 300 "$RMIG" migrate "rdma:$A:47402" --ram 16M --dirty-rate 2M --channels 2 -v --json \
	>"$T/v1.json" 2>"$T/v1.err"
rc=$?; wait $IN; irc=$?
if [[ $rc == 0 && $irc == 0 ]] && grep -q "the destination takes no channels" "$T/v1.err"; then
	ok "v1-destination: one channel, verified ($(grep -m1 'takes no channels' "$T/v1.err"))"
else bad "v1-destination: src $rc dst $irc"; cat "$T/v1.err" "$T/in-v1.err"; fi
if grep -q '"x-rmig-channels"' "$T/v1.json"; then bad "v1-destination: reports channels"
else ok "v1-destination: no channels reported"; fi

# --- separate processes ---
"$RMIG" incoming "rdma:$A:47403" --accept-timeout 120 >"$T/in.out" 2>"$T/in.err" &
IN=$!
wait_listen "$T/in.err" || sleep 2
timeout 300 "$RMIG" migrate "rdma:$A:47403" --ram 24M --dirty-rate 2M --channels 3 -q 2>"$T/mig.err"
rc=$?; wait $IN; irc=$?
if [[ $rc == 0 && $irc == 0 ]]; then ok "incoming+migrate, 3 lanes"
else bad "incoming+migrate, 3 lanes: $rc/$irc"; cat "$T/mig.err" "$T/in.err"; fi

# --- cancel, and a killed peer, with lanes ---
"$RMIG" incoming "rdma:$A:47404" --accept-timeout 120 >"$T/in2.out" 2>"$T/in2.err" &
IN=$!
wait_listen "$T/in2.err" || sleep 2
# --foreground: timeout passes the SIGINT on once; without it, it signals its whole process
# group too, rmig sees two and exits without its report ("interrupted twice").
timeout --foreground 120 "$RMIG" migrate "rdma:$A:47404" --ram 96M --max-bandwidth 4M \
	--channels 2 2>"$T/ca.err" &
M=$!; sleep 4; kill -INT $M; wait $M; rc=$?
timeout 60 tail --pid=$IN -f /dev/null; wait $IN; irc=$?
if [[ $rc == 130 && $irc -ge 1 && $irc -lt 128 ]] && grep -q "still running" "$T/ca.err"; then
	ok "lanes-cancel (src $rc, dst $irc: $(tail -1 "$T/in2.err"))"
else bad "lanes-cancel: src $rc dst $irc"; cat "$T/ca.err" "$T/in2.err"; fi

"$RMIG" incoming "rdma:$A:47405" --accept-timeout 120 >"$T/in3.out" 2>"$T/in3.err" &
IN=$!
wait_listen "$T/in3.err" || sleep 2
timeout 120 "$RMIG" migrate "rdma:$A:47405" --ram 96M --max-bandwidth 4M --channels 2 \
	2>"$T/kd.err" &
M=$!; sleep 4; kill -KILL $IN; wait $IN 2>/dev/null; wait $M; rc=$?
if [[ $rc == 1 ]] && grep -q "still running" "$T/kd.err" && grep -q "rdma: " "$T/kd.err"; then
	ok "lanes-dest-killed: source failed cleanly ($(grep -m1 'rdma: ' "$T/kd.err"))"
else bad "lanes-dest-killed: source rc $rc"; cat "$T/kd.err"; fi

"$RMIG" incoming "rdma:$A:47406" --accept-timeout 120 >"$T/in4.out" 2>"$T/in4.err" &
IN=$!
wait_listen "$T/in4.err" || sleep 2
"$RMIG" migrate "rdma:$A:47406" --ram 96M --max-bandwidth 4M --channels 2 -q 2>"$T/ks.err" &
M=$!; sleep 4; kill -KILL $M; wait $M 2>/dev/null
timeout 60 tail --pid=$IN -f /dev/null; wait $IN; irc=$?
if [[ $irc -ge 1 && $irc -lt 128 ]]; then
	ok "lanes-source-killed: destination failed cleanly (rc $irc: $(grep -m1 'rdma: ' "$T/in4.err"))"
else bad "lanes-source-killed: destination rc $irc"; cat "$T/in4.err"; fi

# --- valgrind, both ends, with lanes and their threads (RMIG_RDMA_VALGRIND=1, as ci/test) ---
if [[ ${RMIG_RDMA_VALGRIND:-0} == 1 ]] && command -v valgrind >/dev/null; then
	VG=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite
	    --errors-for-leak-kinds=definite --keep-debuginfo=yes --num-callers=40
	    --suppressions="$(dirname "$0")/valgrind.supp")
	"${VG[@]}" "$RMIG" incoming "rdma:$A:47450" --accept-timeout 180 >"$T/vg.out" 2>"$T/vg-in.err" &
	IN=$!
	wait_listen "$T/vg-in.err" || sleep 20
	timeout 600 "${VG[@]}" "$RMIG" migrate "rdma:$A:47450" --ram 4M --channels 2 -q \
		2>"$T/vg-mig.err"
	rc=$?; wait $IN; irc=$?
	if [[ $rc == 0 && $irc == 0 ]]; then ok "valgrind both ends clean, 2 lanes"
	else bad "valgrind, 2 lanes: src $rc dst $irc"; cat "$T/vg-mig.err" "$T/vg-in.err"; fi
fi

echo "rdma-channels: $PASS passed, $FAIL failed"
[[ $FAIL == 0 ]]
