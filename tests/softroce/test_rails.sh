#!/bin/bash
# The soft-RoCE harness's rails (ci/softroce --rails 2), the ground the
# rdma transport's rails (issue 10) are to be tested on: two rxe devices in
# one guest, each on its own dummy netdev and /24, and rmig migrating over
# each one alone, landing on the device that owns the address it was given
# (both sides say which with -v).
#
# Usage (inside the guest): test_rails.sh RMIG
set -u
RMIG=$1
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { echo "ok   - $*"; pass=$((pass + 1)); }
bad() { echo "FAIL - $*"; fail=$((fail + 1)); }

IFS=, read -r -a addrs <<<"${RMIG_RDMA_RAIL_ADDRS:-}"
IFS=, read -r -a devs <<<"${RMIG_RDMA_RAIL_DEVS:-}"
if [ "${#addrs[@]}" -ne 2 ] || [ "${#devs[@]}" -ne 2 ]; then
  echo "FAIL - RMIG_RDMA_RAIL_ADDRS='${RMIG_RDMA_RAIL_ADDRS:-}' RMIG_RDMA_RAIL_DEVS='${RMIG_RDMA_RAIL_DEVS:-}':" \
       "run under ci/softroce --rails 2"
  exit 1
fi

for i in 0 1; do
  dev=${devs[$i]} addr=${addrs[$i]}
  # The device is up, and rdma_cm will find it from its netdev's address.
  netdev=$(cat "/sys/class/infiniband/$dev/ports/1/gid_attrs/ndevs/0" 2>/dev/null)
  if grep -q ACTIVE "/sys/class/infiniband/$dev/ports/1/state" 2>/dev/null &&
     [ -n "$netdev" ] && ip -o -4 addr show dev "$netdev" | grep -q " $addr/24 "; then
    ok "rail $i: $dev is ACTIVE on $netdev, which has $addr/24"
  else
    bad "rail $i: $dev on '${netdev:-?}' with $addr: $(ip -o -4 addr show 2>&1 | tr '\n' ' ')"
  fi

  # A migration given rail i's address runs on rail i's device, both ends.
  timeout 180 "$RMIG" loopback --transport rdma --addr "$addr" --ram 16M --dirty-rate 2M -v \
    >"$tmp/out$i" 2>"$tmp/err$i"
  code=$?
  if [ $code -eq 0 ] && grep -q "memory verified: 1 block, 16.0 MiB identical" "$tmp/out$i" &&
     grep -q "rdma: connected to $addr:[0-9]* (.*) on $dev port 1\$" "$tmp/err$i" &&
     grep -q "rdma: accepted a migration (.*) on $dev port 1\$" "$tmp/err$i"; then
    ok "rail $i: a loopback over $addr ran on $dev at both ends, memory verified"
  else
    bad "rail $i: loopback over $addr (exit $code) did not run on $dev or did not verify"
    grep -E "rdma: (connected|accepted)|verified|error" "$tmp/err$i" "$tmp/out$i" | head -8
  fi
done

echo "test_rails: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
