#!/bin/bash
# NUMA placement of multifd channels (issue 10), tcp channels and rdma lanes, in a guest with two
# emulated NUMA nodes (ci/softroce --numa 2).  Each channel's thread and
# stream buffer, on both sides, go where numa-node says; rmig reports
# with -v what took effect, as the kernel tells it (sched_getaffinity for
# the CPUs, get_mempolicy for the node of the buffer's pages), and this
# script holds those reports against the guest's own node layout.
#
# Usage (inside the guest): test_numa.sh RMIG
set -u
RMIG=$1
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { echo "ok   - $*"; pass=$((pass + 1)); }
bad() { echo "FAIL - $*"; fail=$((fail + 1)); }

nodes=$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | wc -l)
if [ "$nodes" -lt 2 ]; then
  echo "FAIL - the guest has $nodes NUMA node(s); run under ci/softroce --numa 2"
  exit 1
fi

# run NAME EXPECT_NODE ARGS...: a loopback with 2 channels, -v; every one of
# the 4 channel reports (2 per side) must name the node, the node's CPUs and
# a buffer on the node.
run() {
  local name=$1 node=$2
  shift 2
  timeout 120 "$RMIG" loopback --transport tcp --ram 32M --channels 2 --dirty-rate 4M -v \
    "$@" >"$tmp/out" 2>"$tmp/err"
  local code=$? cpus lines good
  cpus=$(cat "/sys/devices/system/node/node$node/cpulist")
  lines=$(grep -c 'multifd channel [01]: NUMA node' "$tmp/err")
  good=$(grep -c "multifd channel [01]: NUMA node $node (numa-node): runs on CPUs $cpus, buffer on node $node\$" "$tmp/err")
  if [ $code -eq 0 ] && grep -q "memory verified: 1 block, 32.0 MiB identical" "$tmp/out" &&
     [ "$lines" -eq 4 ] && [ "$good" -eq 4 ] &&
     [ "$(grep -c '^rmig: source multifd' "$tmp/err")" -eq 2 ] &&
     [ "$(grep -c '^rmig: destination multifd' "$tmp/err")" -eq 2 ]; then
    ok "$name: 4 channels on node $node (CPUs $cpus, buffers on node $node), memory identical"
  else
    bad "$name: exit $code, $good of $lines channel reports on node $node (CPUs $cpus)"
    grep -E 'multifd channel|error|status' "$tmp/err" "$tmp/out" | head -20
  fi
}

run "--numa-node 1" 1 --numa-node 1
run "--numa-node 0" 0 --numa-node 0

# auto: loopback has no device, so no node and no binding, said so.
timeout 120 "$RMIG" loopback --transport tcp --ram 32M --channels 2 -v >"$tmp/out" 2>"$tmp/err"
code=$?
n=$(grep -c 'multifd channel [01]: no NUMA binding (its device has no node)' "$tmp/err")
if [ $code -eq 0 ] && [ "$n" -eq 4 ]; then
  ok "auto over 127.0.0.1: no node, every channel left unbound (4 reports)"
else
  bad "auto over 127.0.0.1: exit $code, $n of 4 unbound reports"; tail -5 "$tmp/err"
fi

# a node the host lacks: a warning, unbound, and the migration still completes
timeout 120 "$RMIG" loopback --transport tcp --ram 32M --channels 2 --numa-node 7 -v \
  >"$tmp/out" 2>"$tmp/err"
code=$?
if [ $code -eq 0 ] && grep -q "numa-node 7: this host's nodes are 0 to 1" "$tmp/err" &&
   [ "$(grep -c 'no NUMA binding (numa-node names a node this host does not have)' "$tmp/err")" -eq 4 ]; then
  ok "--numa-node 7 on a 2-node host: warned, unbound, completed"
else
  bad "--numa-node 7: exit $code"; tail -5 "$tmp/err"
fi

# multifd over rdma: the source's lane threads (the destination's lanes have none).
rdma_run() {
  local name=$1 node=$2 want=$3
  shift 3
  timeout 300 "$RMIG" loopback --transport rdma --addr "${RMIG_RDMA_ADDR:-169.254.77.1}" \
    --ram 16M --channels 2 --dirty-rate 2M -v "$@" >"$tmp/out" 2>"$tmp/err"
  local code=$? n
  n=$(grep -c "source rdma channel [01]: $want" "$tmp/err")
  if [ $code -eq 0 ] && grep -q "memory verified: 1 block, 16.0 MiB identical" "$tmp/out" &&
     [ "$n" -eq 2 ]; then
    ok "rdma $name: both lanes $(grep -m1 'source rdma channel 0' "$tmp/err" | sed 's/.*channel 0: //'), memory identical"
  else
    bad "rdma $name: exit $code, $n of 2 lane reports say '$want'"
    grep -E 'rdma channel|error|status' "$tmp/err" "$tmp/out" | head -20
  fi
}
rdma_run "--numa-node 1" 1 "NUMA node 1 (numa-node): runs on CPUs $(cat /sys/devices/system/node/node1/cpulist)\$" --numa-node 1
rdma_run "--numa-node 0" 0 "NUMA node 0 (numa-node): runs on CPUs $(cat /sys/devices/system/node/node0/cpulist)\$" --numa-node 0
# rxe is a virtual device: no node of its own, so auto leaves the lanes unbound.
rdma_run "auto on rxe" -1 "no NUMA binding (its device has no node)"
rdma_run "--numa-node none" -1 "no NUMA binding (numa-node none)" --numa-node none

echo
echo "numa: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
