#!/usr/bin/env python3
"""Draw ci/bench-rdma-channels' JSON as an SVG with gnuplot: goodput against
channels (queue pairs), rmig beside ib_write_bw -q N of the same run.

Usage: bench_rdma_plot.py RESULTS.json OUT.svg
"""
import json
import os
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip())
    with open(sys.argv[1]) as f:
        j = json.loads(f.read().strip().splitlines()[-1])
    rows = [r for r in j["results"] if "error" not in r]
    if not rows:
        sys.exit("bench_rdma_plot.py: no completed result to draw")
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as d:
        for r in rows:
            d.write("%d %.3f %.3f\n" % (r["channels"], r["ib_write_bw_gbps"], r["rmig_gbps"]))
    script = """
set terminal svg size 640,400 dynamic
set output '%s'
set title 'multifd over rdma, soft-RoCE, MTU %d: goodput against queue pairs'
set xlabel 'channels (queue pairs)'
set ylabel 'Gb/s'
set xtics 1
set yrange [0:*]
set key left top
plot '%s' using 1:2 with linespoints title 'ib\\_write\\_bw -q N', \\
     '%s' using 1:3 with linespoints title 'rmig --channels N'
""" % (sys.argv[2], j.get("mtu", 0), d.name, d.name)
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    finally:
        os.unlink(d.name)


if __name__ == "__main__":
    main()
