#!/usr/bin/env python3
"""Expected data-parallel scaling of libmmoe-mpi from measured step times.

Reads the JSON lines of `mmoe-mpi-bench` runs (stdin or files) and prints,
for each benchmark shape, the samples/s expected on P ranks with a fixed
per-rank batch (weak scaling), from the ring-allreduce cost model

    t_step(P) = t_compute(b) + t_ring(P) + t_small(P)
    t_ring    = 2 (P - 1) alpha + 2 (P - 1) / P * 4 N / beta     (the dense gradient)
    t_small   = (P - 1) alpha + 2 ceil(log2 P) alpha              (agreement allgather,
                                                                  loss allreduce)

t_compute(b) is the measured local work of one rank on b rows (the
"local_seconds_per_step" of the run with the most ranks: each rank's own
forward, backward and update, no communication); N the parameter count.
alpha and beta describe the network between hosts (defaults: 5 us per
message, 1.25 GB/s = 10 Gb/s Ethernet); see docs/distributed.md.

    mpirun -np 2 build/bench/mmoe-mpi-bench --threads 1 | python3 scripts/mpi-scaling.py
"""
import argparse
import json
import math
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*", help="bench output (default: stdin)")
    ap.add_argument("--alpha", type=float, default=5e-6, help="seconds per message [5e-6]")
    ap.add_argument("--beta", type=float, default=1.25e9, help="bytes/s per link [1.25e9]")
    ap.add_argument("--ranks", default="2,8,64", help="rank counts [2,8,64]")
    a = ap.parse_args()
    lines = []
    for f in a.files or ["-"]:
        fh = sys.stdin if f == "-" else open(f, encoding="utf-8")
        lines += [json.loads(l) for l in fh if l.startswith("{")]
    train = [r for r in lines if r.get("bench") == "train"]
    if not train:
        sys.exit("mpi-scaling: no 'train' lines in the input")
    most = max(r["ranks"] for r in train)
    print(f"alpha {a.alpha:g} s, beta {a.beta:g} B/s; compute from the {most}-rank run")
    print("| shape | per-rank batch | t_compute (ms) | ranks | t_comm (ms) | samples/s | efficiency |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in sorted((r for r in train if r["ranks"] == most), key=lambda r: r["shape"]):
        b = r["global_batch"] // r["ranks"]
        tc = r["local_seconds_per_step"]
        n = r["params"]
        for p in (int(x) for x in a.ranks.split(",")):
            ring = 2 * (p - 1) * a.alpha + 2 * (p - 1) / p * 4 * n / a.beta
            small = (p - 1) * a.alpha + 2 * math.ceil(math.log2(p)) * a.alpha
            t = tc + ring + small
            print(f"| {r['shape']} | {b} | {1e3 * tc:.3g} | {p} | {1e3 * (ring + small):.3g} | "
                  f"{p * b / t:.4g} | {tc / t:.0%} |")


if __name__ == "__main__":
    main()
