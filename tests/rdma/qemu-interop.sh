#!/bin/bash
# Interoperability with a stock QEMU over RDMA; runs INSIDE a soft-RoCE
# environment, normally as
#   ci/softroce -- tests/rdma/qemu-interop.sh RMIG
#
# rmig's RDMA transport speaks version 1 of QEMU's RDMA migration protocol,
# but the stream it carries is rmig's own, not QEMU's savevm format.  So a
# migration between rmig and QEMU cannot complete; what can be checked, and
# is here, is everything below the stream, in both directions:
#  - rdma_cm connection and the capability exchange: the QEMU peer must
#    mask rmig's extension flags, leaving plain v1 (the "v1 READY flow
#    control" rmig reports), with PIN_ALL granted when asked for;
#  - READY flow control and QEMU_FILE framing: each side must decode the
#    other's first stream bytes, which is proven by the error each one
#    gives about the other's stream magic ("QEVM" / "RMIG");
#  - both sides then fail cleanly: rmig exits 1 with its guest still
#    running, no crash and no hang.
# Exits 77 (skipped) when qemu-system-x86_64 is missing or built without
# RDMA.
set -u
RMIG=${1:?usage: qemu-interop.sh RMIG}
A=${RMIG_RDMA_ADDR:-169.254.77.1}
QEMU=${RMIG_QEMU:-qemu-system-x86_64}
if ! command -v "$QEMU" >/dev/null; then echo "SKIP: no $QEMU"; exit 77; fi
if ! ldd "$(command -v "$QEMU")" | grep -q librdmacm; then
	echo "SKIP: $QEMU is built without RDMA"; exit 77
fi
ulimit -l unlimited 2>/dev/null || echo "warning: cannot raise the memlock limit"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PASS=0 FAIL=0
ok()   { echo "PASS: $*"; PASS=$((PASS + 1)); }
bad()  { echo "FAIL: $*"; FAIL=$((FAIL + 1)); }
# has NAME FILE PATTERN WHAT: one check on a log
has() {
	if grep -q -- "$3" "$2"; then ok "$1: $4"
	else bad "$1: $4 (no '$3')"; sed 's/^/    /' "$2"; fi
}
PORT=$((47100 + RANDOM % 500))

# QEMU listens: -M none has no devices and no CPU to run, which is all
# an incoming migration needs to start reading the stream.
qemu_dest() {
	local name=$1 want=${WANT:-1}; shift
	PORT=$((PORT + 1))
	timeout 60 "$QEMU" -M none -nodefaults -display none -incoming "rdma:$A:$PORT" \
		>"$T/$name.qemu" 2>&1 &
	local q=$!
	# QEMU says nothing when it listens: retry while nobody answers (exit 3).
	local rc=3 n
	for n in $(seq 30); do
		timeout 60 "$RMIG" migrate "rdma:$A:$PORT" --ram 4M "$@" -v \
			>"$T/$name.out" 2>"$T/$name.err"
		rc=$?
		[[ $rc == 3 ]] || break
		sleep 0.5
	done
	wait $q
	local qrc=$?
	if [[ $rc == "$want" ]]; then ok "$name: rmig failed cleanly (rc $rc)"
	else bad "$name: rmig rc $rc, wanted $want"; cat "$T/$name.err"; fi
	[[ $qrc != 124 ]] && ok "$name: QEMU ended by itself (rc $qrc)" || bad "$name: QEMU hung"
}

# QEMU connects: QMP on stdin starts the migration and quits afterwards.
qemu_source() {
	local name=$1 caps=$2 want=${WANT:-1}; shift 2
	PORT=$((PORT + 1))
	timeout 60 "$RMIG" incoming "rdma:$A:$PORT" -v "$@" >"$T/$name.out" 2>"$T/$name.err" &
	local r=$!
	for _ in $(seq 100); do
		grep -q "waiting for a migration" "$T/$name.err" && break
		sleep 0.1
	done
	{
		echo '{"execute":"qmp_capabilities"}'
		[[ -n $caps ]] && echo "{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":[{\"capability\":\"$caps\",\"state\":true}]}}"
		echo "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"rdma:$A:$PORT\"}}"
		# Keep QMP open until rmig is done with the connection.
		for _ in $(seq 100); do kill -0 $r 2>/dev/null || break; sleep 0.1; done
		echo '{"execute":"query-migrate"}'
		sleep 0.5
		echo '{"execute":"quit"}'
	} | timeout 60 "$QEMU" -M none -m 16 -nodefaults -display none -qmp stdio \
		>"$T/$name.qmp" 2>"$T/$name.qemu"
	wait $r
	local rc=$?
	if [[ $rc == "$want" ]]; then ok "$name: rmig failed cleanly (rc $rc)"
	else bad "$name: rmig rc $rc, wanted $want"; cat "$T/$name.err"; fi
	has "$name" "$T/$name.qmp" '"status": "failed"' "QEMU reports the migration failed"
}

qemu_dest qemu-dest-dynamic
has qemu-dest-dynamic "$T/qemu-dest-dynamic.err" \
	"(dynamic registration, v1 READY flow control)" "QEMU masked the extensions"
has qemu-dest-dynamic "$T/qemu-dest-dynamic.qemu" "Not a migration stream" \
	"QEMU read rmig's stream bytes (its magic)"
has qemu-dest-dynamic "$T/qemu-dest-dynamic.err" "guest is still running" \
	"source guest kept running"

qemu_dest qemu-dest-pin-all --pin-all
has qemu-dest-pin-all "$T/qemu-dest-pin-all.err" \
	"(pin-all registration, v1 READY flow control)" "QEMU granted PIN_ALL, no extensions"
has qemu-dest-pin-all "$T/qemu-dest-pin-all.qemu" "Not a migration stream" \
	"QEMU read rmig's stream bytes (its magic)"

# multifd over rdma is rmig's extension (CHANNELS): QEMU masks it, and one queue pair is used.
qemu_dest qemu-dest-channels --channels 2
has qemu-dest-channels "$T/qemu-dest-channels.err" "the destination takes no channels" \
	"QEMU got one channel"
has qemu-dest-channels "$T/qemu-dest-channels.err" \
	"(dynamic registration, v1 READY flow control)" "QEMU masked the extensions"
has qemu-dest-channels "$T/qemu-dest-channels.qemu" "Not a migration stream" \
	"QEMU read rmig's stream bytes (its magic)"

qemu_source qemu-source-dynamic ""
has qemu-source-dynamic "$T/qemu-source-dynamic.err" \
	"accepted a migration (dynamic registration, v1 READY flow control)" "v1 with QEMU"
has qemu-source-dynamic "$T/qemu-source-dynamic.err" "magic 0x5145564d" \
	"rmig read QEMU's stream bytes (QEVM magic)"

qemu_source qemu-source-pin-all rdma-pin-all
has qemu-source-pin-all "$T/qemu-source-pin-all.err" \
	"accepted a migration (pin-all registration, v1 READY flow control)" "QEMU asked for PIN_ALL"
has qemu-source-pin-all "$T/qemu-source-pin-all.err" "magic 0x5145564d" \
	"rmig read QEMU's stream bytes (QEVM magic)"

# --auth-key against QEMU, which has no authentication: refused both ways, memory never exposed.
KEY=$T/auth.key
head -c 32 /dev/urandom | base64 >"$KEY"
WANT=6 qemu_dest qemu-dest-auth --auth-key "$KEY"
has qemu-dest-auth "$T/qemu-dest-auth.err" "the destination does not authenticate" \
	"rmig refused a QEMU destination that cannot prove the key"
# The destination drops the QEMU source and waits on for the right one until its accept timeout.
WANT=3 qemu_source qemu-source-auth "" --auth-key "$KEY" --accept-timeout 8
has qemu-source-auth "$T/qemu-source-auth.err" "the connecting source cannot authenticate" \
	"rmig refused a QEMU source that cannot prove the key"
if grep -q "accepted a migration" "$T/qemu-source-auth.err"; then
	bad "qemu-source-auth: the unauthenticated QEMU source was accepted"
else ok "qemu-source-auth: nothing accepted, no block list read"; fi

echo "qemu-interop: $PASS passed, $FAIL failed"
[[ $FAIL == 0 ]]
