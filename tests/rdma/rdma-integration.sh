#!/bin/bash
# RDMA integration test; runs INSIDE a soft-RoCE environment, normally as
#   ci/softroce -- tests/rdma/rdma-integration.sh RMIG EVIL_PEER
# (one guest boot for all cases).  Every migration that should complete is
# checked end to end: `rmig loopback` compares memory byte for byte and the
# stream's verify capability checks per-block checksums; `rmig incoming`
# exits 0 only when its checksums matched.
#
# env: RMIG_RDMA_ADDR (set by ci/softroce), RMIG_RDMA_VALGRIND=1 to also
# run both ends once under valgrind.
set -u
RMIG=${1:?usage: rdma-integration.sh RMIG EVIL_PEER}
EVIL=${2:?usage: rdma-integration.sh RMIG EVIL_PEER}
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
	env "${envs[@]}" timeout 300 "$RMIG" loopback --transport rdma --addr "$A" --json -q "$@" \
		>"$T/$name.json" 2>"$T/$name.err"
	local rc=$?
	if [[ $rc == "$want" ]]; then ok "$name (rc $rc) $(head -c 300 "$T/$name.json")"
	else bad "$name: rc $rc, wanted $want"; cat "$T/$name.err" "$T/$name.json"; fi
	return 0
}

# Wait until `rmig incoming` (run without -q) says it listens, on stderr; slow under valgrind.
wait_listen() {
	for _ in $(seq 600); do grep -q "waiting for a migration" "$1" 2>/dev/null && return 0; sleep 0.2; done
	return 1
}

# --- migrations that must complete ---
loop dynamic-dirtying 0 -- --ram 32M --dirty-rate 4M --writers 2
loop pin-all 0 -- --ram 32M --pin-all --dirty-rate 2M
loop mostly-zero 0 -- --ram 48M --zero-share 0.97
if grep -q '"duplicate":0,' "$T/mostly-zero.json"; then bad "mostly-zero: no zero pages sent as COMPRESS"; fi
loop two-odd-blocks 0 -- --ram 3000K,5124K --dirty-rate 1M
# Untouched (zero) pages that the guest writes after the source registered them: with read-only
# local registrations (source.c, LOCAL_ACCESS) two-odd-blocks above lost data 2 times in 3.
# These two did not reproduce it on their own, but keep that path (and pin-all's) covered.
loop zero-then-dirtied 0 -- --ram 16M --zero-share 0.5 --dirty-rate 4M
# Zero pages COMPRESSed in one round and WRITTEN in the next: without the
# credits barrier (source.c, wait_peer_caught_up) the destination could apply
# the COMPRESS after the WRITE landed; 5 of 24 such runs lost data.
for seed in 1 2 3 4; do
	loop "compress-then-write-$seed" 0 -- --ram 8M --zero-share 0.5 --dirty-rate 4M --seed $seed
done
loop zero-then-dirtied-pin-all 0 -- --ram 16M --zero-share 0.5 --dirty-rate 4M --pin-all
loop v1-flow-control 0 RMIG_RDMA_NO_CREDITS=1 -- --ram 16M --dirty-rate 1M
loop pin-all-refused 0 RMIG_RDMA_NO_PIN_ALL=1 -- --ram 16M --pin-all
if grep -q "dynamically instead" "$T/pin-all-refused.err"; then ok "pin-all-refused: fallback warned"
else bad "pin-all-refused: no fallback warning"; cat "$T/pin-all-refused.err"; fi

# Pin-all with blocks larger than max_mr_size (lowered to 4 MiB on both ends): the destination
# registers each block as several memory regions and sends their keys in SEGMENTS_RESULT
# (PIN_SEGMENTS).  Odd sizes: 9000K is 3 regions, the last short; 5124K is 2.
loop pin-all-segments 0 RMIG_RDMA_MAX_MR_SIZE=4194304 -- --ram 9000K,5124K --pin-all --dirty-rate 1M
# ... and with every segment pinned and described in setup (SEGMENTS_RESULT of section 11)
loop pin-all-segments-setup 0 RMIG_RDMA_NO_PIN_STREAM=1 RMIG_RDMA_MAX_MR_SIZE=4194304 -- \
	--ram 9000K,5124K --pin-all --dirty-rate 1M
# The same with QEMU's one-credit READY flow: SEGMENTS_REQUEST waits for its READY like any request.
loop pin-all-segments-ready 0 RMIG_RDMA_NO_CREDITS=1 RMIG_RDMA_MAX_MR_SIZE=4194304 -- \
	--ram 9000K,5124K --pin-all --dirty-rate 1M -v
if grep -q "streamed pin-all registration, v1 READY flow control" "$T/pin-all-segments-ready.err"; then
	ok "pin-all-segments-ready: streamed pin-all under READY flow control"
else bad "pin-all-segments-ready: not streamed pin-all with READY flow"; cat "$T/pin-all-segments-ready.err"; fi
# A block our device would cut into more regions than a block may have (65 MiB in 1 MiB
# registrations): the source refuses in setup, before asking the destination for anything.
loop pin-all-too-many-regions 1 RMIG_RDMA_MAX_MR_SIZE=1048576 -- --ram 65M --pin-all
if grep -q "needs more than 64 registrations" "$T/pin-all-too-many-regions.err" &&
	grep -q '"normal":0,' "$T/pin-all-too-many-regions.json"; then
	ok "pin-all-too-many-regions: refused in setup, no page sent"
else bad "pin-all-too-many-regions: not refused in setup"; cat "$T/pin-all-too-many-regions.err"; fi
# ... and the segment exchange in setup under it
loop pin-all-segments-ready-setup 0 RMIG_RDMA_NO_PIN_STREAM=1 RMIG_RDMA_NO_CREDITS=1 \
	RMIG_RDMA_MAX_MR_SIZE=4194304 -- --ram 9000K,5124K --pin-all --dirty-rate 1M -v
if grep -q "(pin-all registration, v1 READY flow control" "$T/pin-all-segments-ready-setup.err"; then
	ok "pin-all-segments-ready-setup: pin-all in setup under READY flow control"
else bad "pin-all-segments-ready-setup: not setup pin-all with READY flow"; cat "$T/pin-all-segments-ready-setup.err"; fi
# A bad knob is a usage error on both ends, not "cancelled" (loopback cancels the source when its
# destination fails, which once made it exit 130).
loop bad-max-mr-size 2 RMIG_RDMA_MAX_MR_SIZE=junk -- --ram 4M
if grep -q "RMIG_RDMA_MAX_MR_SIZE" "$T/bad-max-mr-size.err"; then ok "bad-max-mr-size: named"
else bad "bad-max-mr-size: knob not named"; cat "$T/bad-max-mr-size.err"; fi

# --- separate processes, incoming + migrate ---
"$RMIG" incoming "rdma:$A:47010" --accept-timeout 120 >"$T/in1.out" 2>"$T/in1.err" &
IN=$!
wait_listen "$T/in1.err" || sleep 2
timeout 300 "$RMIG" migrate "rdma:$A:47010" --ram 24M --dirty-rate 2M -q 2>"$T/mig1.err"
rc=$?; wait $IN; irc=$?
if [[ $rc == 0 && $irc == 0 ]]; then ok "incoming+migrate"; else bad "incoming+migrate: $rc/$irc"; cat "$T/mig1.err" "$T/in1.err"; fi

# --- the same pin-all against a plain v1 destination: one key per block is all v1 can carry ---
RMIG_RDMA_NO_EXTENSIONS=1 RMIG_RDMA_MAX_MR_SIZE=4194304 "$RMIG" incoming "rdma:$A:47015" --accept-timeout 120 \
	>"$T/in5.out" 2>"$T/in5.err" &
IN=$!
wait_listen "$T/in5.err" || sleep 2
RMIG_RDMA_MAX_MR_SIZE=4194304 timeout 300 "$RMIG" migrate "rdma:$A:47015" --ram 9000K,5124K \
	--pin-all --dirty-rate 1M 2>"$T/seg-v1.err"
rc=$?
timeout 60 tail --pid=$IN -f /dev/null; wait $IN; irc=$?
if [[ $rc == 1 && $irc -ge 1 && $irc -lt 128 ]] &&
	grep -q "larger than this device's max_mr_size" "$T/in5.err" &&
	grep -q "still running" "$T/seg-v1.err"; then
	ok "pin-all-segments-v1-dest: refused cleanly (src $rc, dst $irc: $(grep -m1 'max_mr_size' "$T/in5.err"))"
else
	bad "pin-all-segments-v1-dest: src $rc dst $irc"; cat "$T/seg-v1.err" "$T/in5.err"
fi

# --- cancel during setup: address resolution to a host that never answers ---
# The interrupt comes after 1 s, well before ARP gives up (3 probes, a second apart): only
# the cancel can end it then, with 130 (a 3 would mean resolution failed on its own first).
timeout 60 "$RMIG" migrate "rdma:169.254.77.99:47011" --ram 8M -q 2>"$T/cs.err" &
M=$!; sleep 1; kill -INT $M; wait $M; rc=$?
if [[ $rc == 130 ]]; then ok "cancel-during-setup (rc $rc)"; else bad "cancel-during-setup: rc $rc"; cat "$T/cs.err"; fi

# --- cancel during active ---
"$RMIG" incoming "rdma:$A:47012" --accept-timeout 120 >"$T/in2.out" 2>"$T/in2.err" &
IN=$!
wait_listen "$T/in2.err" || sleep 2
timeout 120 "$RMIG" migrate "rdma:$A:47012" --ram 96M --max-bandwidth 4M -q 2>"$T/ca.err" &
M=$!; sleep 4; kill -INT $M; wait $M; rc=$?
timeout 60 tail --pid=$IN -f /dev/null; wait $IN; irc=$?
if [[ $rc == 130 && $irc -ge 1 && $irc -lt 128 ]]; then ok "cancel-during-active (src $rc, dst $irc: $(tail -1 "$T/in2.err"))"
else bad "cancel-during-active: src $rc dst $irc"; cat "$T/ca.err" "$T/in2.err"; fi

# --- the destination killed mid-way: the source fails cleanly ---
"$RMIG" incoming "rdma:$A:47013" --accept-timeout 120 >"$T/in3.out" 2>"$T/in3.err" &
IN=$!
wait_listen "$T/in3.err" || sleep 2
timeout 120 "$RMIG" migrate "rdma:$A:47013" --ram 96M --max-bandwidth 4M -q 2>"$T/kd.err" &
M=$!; sleep 4; kill -KILL $IN; wait $IN 2>/dev/null; wait $M; rc=$?
if [[ $rc == 1 ]]; then ok "dest-killed: source failed cleanly ($(grep -m1 'rdma: ' "$T/kd.err"))"
else bad "dest-killed: source rc $rc"; cat "$T/kd.err"; fi

# --- the source killed mid-way: the destination fails cleanly ---
"$RMIG" incoming "rdma:$A:47014" --accept-timeout 120 >"$T/in4.out" 2>"$T/in4.err" &
IN=$!
wait_listen "$T/in4.err" || sleep 2
"$RMIG" migrate "rdma:$A:47014" --ram 96M --max-bandwidth 4M -q 2>"$T/ks.err" &
M=$!; sleep 4; kill -KILL $M; wait $M 2>/dev/null
timeout 60 tail --pid=$IN -f /dev/null; wait $IN; irc=$?
if [[ $irc -ge 1 && $irc -lt 128 ]]; then ok "source-killed: destination failed cleanly (rc $irc: $(grep -m1 'rdma: ' "$T/in4.err"))"
else bad "source-killed: destination rc $irc"; cat "$T/in4.err"; fi

# --- peer-timeout: a frozen peer ends the other side on its own (issue 9, docs/rdma.txt section 16) ---
# A stopped process still has its kernel ACK every WRITE and SEND: only the control channel's
# KEEPALIVEs (or their absence) tell.  Bound: peer-timeout (3 s) plus teardown, loose for TCG.
now_ms() { echo $(($(date +%s%N) / 1000000)); }
"$RMIG" incoming "rdma:$A:47016" --accept-timeout 120 --peer-timeout 3000 >"$T/in6.out" 2>"$T/in6.err" &
IN=$!
wait_listen "$T/in6.err" || sleep 2
timeout 120 "$RMIG" migrate "rdma:$A:47016" --ram 64M --max-bandwidth 4M --peer-timeout 3000 \
	2>"$T/fd.err" &
M=$!; sleep 3; kill -STOP $IN; t0=$(now_ms); wait $M; rc=$?; ms=$(($(now_ms) - t0))
kill -CONT $IN; timeout 30 tail --pid=$IN -f /dev/null; kill -KILL $IN 2>/dev/null; wait $IN
if [[ $rc -ge 1 && $rc -lt 128 && $ms -ge 2500 && $ms -lt 9000 ]] &&
	grep -q "peer-timeout" "$T/fd.err" && grep -q "still running" "$T/fd.err"; then
	ok "dest-frozen: source gave up after $ms ms, rc $rc ($(grep -m1 'peer-timeout' "$T/fd.err"))"
else bad "dest-frozen: source rc $rc after $ms ms"; cat "$T/fd.err" "$T/in6.err"; fi

"$RMIG" incoming "rdma:$A:47017" --accept-timeout 120 --peer-timeout 3000 >"$T/in7.out" 2>"$T/in7.err" &
IN=$!
wait_listen "$T/in7.err" || sleep 2
# No `timeout` wrapper: the signal must reach rmig itself.
"$RMIG" migrate "rdma:$A:47017" --ram 64M --max-bandwidth 4M --peer-timeout 3000 -q 2>"$T/fs.err" &
M=$!; sleep 3; kill -STOP $M; t0=$(now_ms)
timeout 30 tail --pid=$IN -f /dev/null; wait $IN; irc=$?; ms=$(($(now_ms) - t0))
kill -CONT $M; timeout 30 tail --pid=$M -f /dev/null; kill -KILL $M 2>/dev/null; wait $M 2>/dev/null
if [[ $irc -ge 1 && $irc -lt 128 && $ms -ge 2500 && $ms -lt 9000 ]] && grep -q "peer-timeout" "$T/in7.err"; then
	ok "source-frozen: destination gave up after $ms ms, rc $irc ($(grep -m1 'peer-timeout' "$T/in7.err"))"
else bad "source-frozen: destination rc $irc after $ms ms"; cat "$T/in7.err" "$T/fs.err"; fi

# Healthy but quiet: a short peer-timeout must survive what is legitimately silent on the control
# channel, kept alive by KEEPALIVEs: both ends pinning all RAM at once in setup (pin-all without
# PIN_STREAM), a pin-all bulk round (no control message but keepalives and, streamed, one
# SEGMENTS_REQUEST per 8 MiB; ~5 s here, twice the peer-timeout), and a rate-limited
# source sleeping between writes.  A KEEPALIVE queues behind the WRITEs posted before it (up to
# 64 MiB, ~1 s at soft-RoCE's ~60 MB/s under TCG, more on a loaded host: 2.5 s failed once in
# CI), hence 4 s for pin-all (docs/rdma.txt 16), still shorter than the round.
loop quiet-pin-all 0 -- --ram 320M --pin-all --peer-timeout 4000
loop quiet-pin-all-setup 0 RMIG_RDMA_NO_PIN_STREAM=1 -- --ram 320M --pin-all --peer-timeout 4000
loop quiet-rate-limited 0 -- --ram 24M --max-bandwidth 3M --dirty-rate 1M --peer-timeout 1000

# --- IPv6: rdma:[ADDR]:PORT on both ends, in both registration modes ---
NETDEV=${RMIG_RDMA_NETDEV:-rdm0}
A6=fd77::1
ip -6 addr add "$A6/64" dev "$NETDEV" nodad 2>/dev/null
# rxe takes the address as a GID once the kernel announces it.
for _ in $(seq 100); do grep -qs '^fd77:' /sys/class/infiniband/*/ports/1/gids/* && break; sleep 0.1; done
if ip -6 addr show dev "$NETDEV" | grep -q "$A6"; then
	for mode in dynamic pin-all; do
		extra=(); [[ $mode == pin-all ]] && extra=(--pin-all)
		port=$((47060 + ${#extra[@]}))
		"$RMIG" incoming "rdma:[$A6]:$port" --accept-timeout 120 "${extra[@]}" --json >"$T/v6-$mode-in.out" \
			2>"$T/v6-$mode-in.err" &
		IN=$!
		wait_listen "$T/v6-$mode-in.err" || sleep 2
		timeout 120 "$RMIG" migrate "rdma:[$A6]:$port" "${extra[@]}" --ram 16M --dirty-rate 2M \
			--json -q >"$T/v6-$mode.out" 2>"$T/v6-$mode.err"
		rc=$?; wait $IN; irc=$?
		if [[ $rc == 0 && $irc == 0 ]] && grep -q '"status":"completed"' "$T/v6-$mode-in.out"; then
			ok "ipv6 $mode: rdma:[$A6]:$port, memory verified on the destination"
		else
			bad "ipv6 $mode: source rc $rc, destination rc $irc"
			cat "$T/v6-$mode.err" "$T/v6-$mode-in.err"
		fi
	done
else
	bad "ipv6: cannot put $A6 on $NETDEV"
fi

# --- pin-all, streamed (PIN_STREAM, the default between rmigs) and all in setup (v1's way) ---
# The destination's query-migrate says where its pinning went: all of its RAM pinned either way,
# during the rounds (x-rmig-pinned overlap-ms > 0) only when streamed (docs/rdma.txt 19).
port=47064
for mode in streamed setup; do
	knob=(); [[ $mode == setup ]] && knob=(RMIG_RDMA_NO_PIN_STREAM=1)
	port=$((port + 1))
	env "${knob[@]}" "$RMIG" incoming "rdma:$A:$port" --accept-timeout 120 --json -v >"$T/pin-$mode-in.out" \
		2>"$T/pin-$mode-in.err" &
	IN=$!
	wait_listen "$T/pin-$mode-in.err" || sleep 2
	env "${knob[@]}" timeout 120 "$RMIG" migrate "rdma:$A:$port" --pin-all --ram 40M \
		--dirty-rate 2M --json -q >"$T/pin-$mode.out" 2>"$T/pin-$mode.err"
	rc=$?; wait $IN; irc=$?
	if [[ $rc == 0 && $irc == 0 ]] && python3 - "$T/pin-$mode-in.out" "$mode" <<'PY'
import json, sys
j = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
p = j["x-rmig-pinned"]
ok = j["status"] == "completed" and p["peak"] == 40 << 20
ok = ok and (p["overlap-ms"] > 0 if sys.argv[2] == "streamed" else p["overlap-ms"] == 0)
print(f"  destination: setup-time {j.get('setup-time')} ms, pinned {p}")
sys.exit(0 if ok else 1)
PY
	then
		ok "pin-all $mode: memory verified, all RAM pinned on the destination, $(grep -m1 -o '[a-z -]*pin-all registration' "$T/pin-$mode-in.err")"
	else
		bad "pin-all $mode: source rc $rc, destination rc $irc"
		cat "$T/pin-$mode.err" "$T/pin-$mode-in.err" "$T/pin-$mode-in.out"
	fi
done

# --- bounded pinning in dynamic mode (rdma-max-pinned) ---
# peak_ok FILE BOUND_MIB: the -v summary says how much was pinned at most; it must be within the bound.
peak_ok() {
	local line peak
	line=$(grep -m1 "pinned at once on each side" "$1") || return 1
	peak=$(sed -n 's/.*at most \([0-9.]*\) MiB pinned at once.*/\1/p' <<<"$line")
	[[ -n $peak ]] && awk -v p="$peak" -v b="$2" 'BEGIN { exit !(p <= b) }'
}
loop max-pinned-8M 0 -- --ram 64M --dirty-rate 4M --max-pinned 8M -v
if peak_ok "$T/max-pinned-8M.err" 8; then ok "max-pinned-8M: $(grep -m1 'pinned at once' "$T/max-pinned-8M.err")"
else bad "max-pinned-8M: peak not within 8 MiB"; cat "$T/max-pinned-8M.err"; fi
# The same figures in query-migrate's JSON (x-rmig-pinned; loopback prints the source's).
if python3 - "$T/max-pinned-8M.json" <<'PY'
import json, sys
sides = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
pins = [s["x-rmig-pinned"] for s in sides if "x-rmig-pinned" in s]
assert len(pins) == len(sides) >= 1, f"x-rmig-pinned on {len(pins)} of {len(sides)} reports"
for p in pins:
    assert 0 < p["peak"] <= 8 << 20, p
assert pins[0]["limit"] == 8 << 20 and pins[0]["evicted"] > 0, pins[0]
PY
then ok "max-pinned-8M: x-rmig-pinned in the JSON, within the bound"
else bad "max-pinned-8M: x-rmig-pinned"; cat "$T/max-pinned-8M.json"; fi
# The case of issue 12: 192 MiB, dynamic, under a 48 MiB limit that holds (CAP_IPC_LOCK dropped).
# Before the bound it failed at chunk 15 with exit 4.
if command -v setpriv >/dev/null; then
	setpriv --bounding-set=-ipc_lock -- sh -c 'ulimit -l 49152 && exec "$@"' sh \
		timeout 600 "$RMIG" loopback --transport rdma --addr "$A" --json -v \
		--ram 192M --dirty-rate 4M >"$T/memlock-dyn.json" 2>"$T/memlock-dyn.err"
	rc=$?
	if [[ $rc == 0 ]] && grep -q '"status":"completed"' "$T/memlock-dyn.json" &&
		peak_ok "$T/memlock-dyn.err" 48; then
		ok "memlock-dyn: 192M under 48 MiB: $(grep -m1 'pinned at once' "$T/memlock-dyn.err")"
	else
		bad "memlock-dyn: rc $rc"; cat "$T/memlock-dyn.err"
	fi
fi

# --- pin-all under a locked-memory limit too low: exit 4, the limit named with the way out ---
# As root the limit only holds without CAP_IPC_LOCK, hence setpriv.  32 MiB holds a side's
# control buffers (7 MiB) but not its 64 MiB of RAM; each side in turn runs under it.
LOWLOCK=(setpriv --bounding-set=-ipc_lock -- sh -c 'ulimit -l 32768 && exec "$@"' sh)
if command -v setpriv >/dev/null; then
	for side in source destination; do
		port=$((47070 + ${#side}))
		in=("$RMIG" incoming "rdma:$A:$port" --accept-timeout 120 --pin-all --json)
		mig=("$RMIG" migrate "rdma:$A:$port" --pin-all --ram 64M --json -q)
		if [[ $side == destination ]]; then "${LOWLOCK[@]}" "${in[@]}" >"$T/ml-in.out" 2>"$T/ml-in.err" &
		else "${in[@]}" >"$T/ml-in.out" 2>"$T/ml-in.err" & fi
		IN=$!
		wait_listen "$T/ml-in.err" || sleep 2
		if [[ $side == source ]]; then timeout 120 "${LOWLOCK[@]}" "${mig[@]}" >"$T/ml.out" 2>"$T/ml.err"
		else timeout 120 "${mig[@]}" >"$T/ml.out" 2>"$T/ml.err"; fi
		rc=$?
		timeout 30 tail --pid=$IN -f /dev/null; kill -KILL $IN 2>/dev/null; wait $IN; irc=$?
		[[ $side == source ]] && { want=$rc; err=$T/ml.err; } || { want=$irc; err=$T/ml-in.err; }
		if [[ $want == 4 ]] && grep -q "locked-memory limit is 32.0 MiB" "$err" &&
			grep -q "ulimit -l unlimited" "$err"; then
			ok "memlock: pin-all $side under 32 MiB exits 4 (source $rc, destination $irc)"
		else
			bad "memlock: pin-all $side: source rc $rc, destination rc $irc; wanted 4 and the limit named"
			cat "$T/ml.err" "$T/ml-in.err"
		fi
	done
else
	bad "memlock: setpriv missing (util-linux)"
fi

# --- authenticated rdma (--auth-key, docs/rdma.txt section 17) ---
KEY=$T/auth.key OTHER=$T/other.key
head -c 32 /dev/urandom | base64 >"$KEY"
head -c 32 /dev/urandom | base64 >"$OTHER"
for mode in dynamic pin-all; do
	extra=(); [[ $mode == pin-all ]] && extra=(--pin-all)
	loop "auth-$mode" 0 -- --ram 32M --dirty-rate 2M --auth-key "$KEY" -v "${extra[@]}"
	if grep -q "the source proved the key" "$T/auth-$mode.err" &&
		grep -q "the destination proved the key" "$T/auth-$mode.err"; then
		ok "auth-$mode: both sides proved the key"
	else bad "auth-$mode: no proof logged"; cat "$T/auth-$mode.err"; fi
done
# auth_pair NAME SRC-ARGS -- DEST-ARGS: a destination waiting 15 s, then one source.
auth_pair() {
	local name=$1; shift
	local src=(); while [[ $1 != -- ]]; do src+=("$1"); shift; done; shift
	port=$((port + 1))
	"$RMIG" incoming "rdma:$A:$port" --accept-timeout 15 -v "$@" >"$T/$name-in.out" 2>"$T/$name-in.err" &
	IN=$!
	wait_listen "$T/$name-in.err" || sleep 2
	timeout 60 "$RMIG" migrate "rdma:$A:$port" --ram 16M -q "${src[@]}" >"$T/$name.out" 2>"$T/$name.err"
	SRC_RC=$?
}
port=47090
# A wrong key: the source refuses (exit 6); the destination drops it, exposes nothing, and
# takes the right source after it.
auth_pair auth-wrong --auth-key "$OTHER" -- --auth-key "$KEY"
if [[ $SRC_RC == 6 ]] && grep -q "did not prove the key\|during authentication" "$T/auth-wrong.err"; then
	ok "auth-wrong: source exit 6: $(grep -m1 'rdma: ' "$T/auth-wrong.err")"
else bad "auth-wrong: source rc $SRC_RC"; cat "$T/auth-wrong.err"; fi
timeout 60 "$RMIG" migrate "rdma:$A:$port" --ram 16M -q --auth-key "$KEY" >"$T/auth-right.out" 2>"$T/auth-right.err"
rc=$?
timeout 30 tail --pid=$IN -f /dev/null; kill -KILL $IN 2>/dev/null; wait $IN; irc=$?
if [[ $rc == 0 && $irc == 0 ]] && grep -q "rejected a source" "$T/auth-wrong-in.err" &&
	[[ $(grep -c "accepted a migration" "$T/auth-wrong-in.err") == 1 ]]; then
	ok "auth-wrong: destination rejected the wrong key, then completed with the right one"
else bad "auth-wrong: right source rc $rc, destination rc $irc"; cat "$T/auth-wrong-in.err"; fi
# A source with a key never talks to a destination that cannot prove it.
auth_pair auth-dest-none --auth-key "$KEY" --
kill $IN 2>/dev/null; wait $IN
if [[ $SRC_RC == 6 ]] && grep -q "the destination does not authenticate" "$T/auth-dest-none.err"; then
	ok "auth-dest-none: source exit 6, refused a destination without a key"
else bad "auth-dest-none: source rc $SRC_RC"; cat "$T/auth-dest-none.err"; fi
# A destination with a key drops a source without one, before any block list.
auth_pair auth-src-none -- --auth-key "$KEY" --accept-timeout 5
timeout 30 tail --pid=$IN -f /dev/null; kill -KILL $IN 2>/dev/null; wait $IN; irc=$?
if [[ $SRC_RC != 0 && $irc == 3 ]] && grep -q "the connecting source cannot authenticate" "$T/auth-src-none-in.err" &&
	! grep -q "accepted a migration" "$T/auth-src-none-in.err"; then
	ok "auth-src-none: destination dropped a source without a key (source rc $SRC_RC)"
else bad "auth-src-none: source rc $SRC_RC, destination rc $irc"; cat "$T/auth-src-none-in.err"; fi

# Until a source proves the key, the destination gives it one page of message buffers and pins
# nothing else (rdma/ctrl.h).  VmPin is the kernel's count of the pages a process has pinned;
# read it while a source that offered AUTH sits silent after its first READY.  The same source
# against a destination without a key shows what it would get otherwise (the full rings).
silent_pin() { # NAME DEST-ARGS...: sets PIN (kB), ERC, IN
	local name=$1; shift
	port=$((port + 1))
	"$RMIG" incoming "rdma:$A:$port" --accept-timeout 120 --peer-timeout 4000 -v "$@" >"$T/$name-in.out" 2>"$T/$name-in.err" &
	IN=$!
	wait_listen "$T/$name-in.err" || sleep 2
	timeout 30 "$EVIL" "$A" "$port" authsilent >"$T/evil-$name.out" 2>&1 &
	local ev=$!
	for _ in $(seq 150); do grep -q "connected, silent" "$T/evil-$name.out" && break; sleep 0.1; done
	sleep 0.5
	PIN=$(awk '/^VmPin:/ {print $2}' "/proc/$IN/status" 2>/dev/null)
	wait $ev; ERC=$?
}
silent_pin auth-silent-nokey
kill -KILL $IN 2>/dev/null; wait $IN 2>/dev/null
open_pin=$PIN
silent_pin auth-silent --auth-key "$KEY" --accept-timeout 40
timeout 60 "$RMIG" migrate "rdma:$A:$port" --ram 16M -q --auth-key "$KEY" >"$T/auth-silent.out" 2>"$T/auth-silent.err"
rc=$?
timeout 30 tail --pid=$IN -f /dev/null; kill -KILL $IN 2>/dev/null; wait $IN; irc=$?
if [[ -n $PIN && -n $open_pin && $ERC == 0 && $PIN -le 4 && $open_pin -ge 8192 && $rc == 0 && $irc == 0 ]] &&
	grep -q "rejected a source" "$T/auth-silent-in.err" &&
	[[ $(grep -c "accepted a migration" "$T/auth-silent-in.err") == 1 ]]; then
	ok "auth-silent: ${PIN} kB pinned for a silent unauthenticated source (${open_pin} kB without a key); dropped at peer-timeout, then the right source completed"
else
	bad "auth-silent: pinned ${PIN:-?} kB (without a key ${open_pin:-?} kB), evil rc $ERC, source rc $rc, destination rc $irc"
	cat "$T/evil-auth-silent.out" "$T/auth-silent-in.err"
fi
# A stream header asking for 1 TiB where the CHALLENGE is due: refused unread, nothing allocated.
port=$((port + 1))
"$RMIG" incoming "rdma:$A:$port" --auth-key "$KEY" --accept-timeout 6 -v >"$T/auth-blocks-in.out" 2>"$T/auth-blocks-in.err" &
IN=$!
wait_listen "$T/auth-blocks-in.err" || sleep 2
timeout 60 "$EVIL" "$A" "$port" authblocks >"$T/evil-authblocks.out" 2>&1; erc=$?
timeout 30 tail --pid=$IN -f /dev/null; kill -KILL $IN 2>/dev/null; wait $IN; irc=$?
if [[ $erc == 0 && $irc == 3 ]] && grep -q "where its authentication (AUTH CHALLENGE) was due" "$T/auth-blocks-in.err" &&
	! grep -q "accepted a migration\|TiB" "$T/auth-blocks-in.err"; then
	ok "auth-blocks: a 1 TiB block list before authentication refused unread; destination waited on (rc $irc)"
else bad "auth-blocks: evil rc $erc, destination rc $irc"; cat "$T/evil-authblocks.out" "$T/auth-blocks-in.err"; fi

# --- a hostile peer ---
port=47020
# "unregister" is well-formed (the victim must answer it); the victim still fails in the end
# because the evil peer hangs up mid-round.
# segsunneg: SEGMENTS_REQUEST without PIN_SEGMENTS negotiated must be an unknown type;
# segsearly: with it negotiated, but before the RAM blocks were pinned and described.
# overlap: a REGISTER_REQUEST overlapping an earlier region without fitting inside it.
# streampast: streamed pin-all asked for a region after the last one.
# regmixed: a REGISTER_REQUEST of all of block 0, then a bad block: refused whole, nothing pinned.
for c in badlen hugerepeat badblock regmixed badoffset badchunk nocredit badready badtype \
	badunregchunk badunregblock unregister segsunneg segsearly overlap \
	chanmany chanbadidx chanqpn0 chanstream chanunneg streampast; do
	port=$((port + 1))
	"$RMIG" incoming "rdma:$A:$port" --accept-timeout 120 >"$T/ev.out" 2>"$T/ev-$c.err" &
	IN=$!
	wait_listen "$T/ev-$c.err" || sleep 2
	timeout 60 "$EVIL" "$A" "$port" "$c" >"$T/evil-$c.out" 2>&1; erc=$?
	timeout 30 tail --pid=$IN -f /dev/null; kill -KILL $IN 2>/dev/null; wait $IN; irc=$?
	# Each refusal for its own reason; where two cases send the same bytes, it tells them apart.
	case $c in
	badlen) why="claims 64 payload bytes but 24 arrived" ;;
	hugerepeat) why="claims 100000 elements" ;;
	badblock) why="REGISTER REQUEST names block 7" ;;
	badoffset) why="is outside block 'evil'" ;;
	badchunk) why="runs past its last chunk" ;;
	nocredit) why="without a credit" ;;
	badready) why="granted 4000 credits" ;;
	badtype) why="unknown type 77" ;;
	badunregchunk) why="UNREGISTER REQUEST for chunk 1000" ;;
	badunregblock) why="UNREGISTER REQUEST names block 7" ;;
	unregister) why="disconnected in the middle of a RAM round" ;;
	segsunneg) why="unknown type 256" ;;
	segsearly) why="before the pinned RAM blocks" ;;
	overlap) why="no memory is pinned twice" ;;
	streampast) why="more than our RAM" ;;
	regmixed) why="names block 7" ;;
	chanmany) why="describes 65 channels" ;;
	chanbadidx) why="channel 1 is described as index 5" ;;
	chanqpn0) why="queue pair 0" ;;
	chanstream) why="expected a CHANNELS REQUEST" ;;
	chanunneg) why="unknown type 262" ;;
	*) why="a reason this script does not know: add the case" ;;
	esac
	# Checked before acted on: the valid first element was not pinned either.
	pinned_ok=1
	[[ $c == regmixed ]] && ! grep -q "pinned: *at most 0 B" "$T/ev.out" && pinned_ok=0
	if [[ $erc == 0 && $irc -ge 1 && $irc -lt 128 && $pinned_ok == 1 ]] &&
		grep -q "$why" "$T/ev-$c.err"; then
		ok "evil $c: victim rc $irc: $(grep -m1 'rdma: ' "$T/ev-$c.err")"
	else
		bad "evil $c: evil rc $erc, victim rc $irc"; cat "$T/evil-$c.out" "$T/ev-$c.err" "$T/ev.out"
	fi
done

# --- valgrind, both ends, once ---
if [[ ${RMIG_RDMA_VALGRIND:-0} == 1 ]] && command -v valgrind >/dev/null; then
	# Any memory error or definite leak fails.  valgrind.supp covers exactly librdmacm's
	# process-lifetime init state, which turns "definitely lost" only because rmig dlcloses
	# the module (and with it librdmacm) at exit, and a glibc ld.so false positive;
	# --keep-debuginfo keeps the names of the unloaded frames those entries match.
	VG=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite
	    --errors-for-leak-kinds=definite --keep-debuginfo=yes --num-callers=40
	    --suppressions="$(dirname "$0")/valgrind.supp")
	"${VG[@]}" "$RMIG" incoming "rdma:$A:47050" --accept-timeout 180 >"$T/vg.out" 2>"$T/vg-in.err" &
	IN=$!
	wait_listen "$T/vg-in.err" || sleep 20
	timeout 600 "${VG[@]}" "$RMIG" migrate "rdma:$A:47050" --ram 4M -q 2>"$T/vg-mig.err"
	rc=$?; wait $IN; irc=$?
	if [[ $rc == 0 && $irc == 0 ]]; then ok "valgrind both ends clean"
	else bad "valgrind: src $rc dst $irc"; cat "$T/vg-mig.err" "$T/vg-in.err"; fi
fi

echo "rdma integration: $PASS passed, $FAIL failed"
[[ $FAIL == 0 ]]
