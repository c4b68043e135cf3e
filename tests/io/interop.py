#!/usr/bin/env python3
"""Write a libmmoe model file with the Python standard library only, following
docs/file-format.md, and compute its predictions with plain arithmetic.

    python3 interop.py OUTDIR [CHECKER]

writes OUTDIR/interop.safetensors and OUTDIR/interop-expected.txt; with
CHECKER (the interop_check program), runs it on the two files and exits with
its status.

The model: MMoE, 4 dense inputs, 3 experts of two relu layers (6, 5), two
tasks: "ctr" (binary, tower hidden layer of 3 tanh units) and "watch_time"
(regression, no hidden layer).
"""
import json
import math
import os
import struct
import subprocess
import sys

D, E, W1, W2 = 4, 3, 6, 5
TASKS = [("ctr", "binary", [3], "tanh"), ("watch_time", "regression", [], "relu")]


def matrix(rows, cols, seed):
    """A rows x cols weight (list of rows), deterministic and varied."""
    return [[round(0.5 * math.sin(seed * 1.7 + 0.9 * r + 0.31 * c * (r + 1)), 5)
             for c in range(cols)] for r in range(rows)]


def vector(n, seed):
    return [round(0.2 * math.cos(seed + 1.3 * i), 5) for i in range(n)]


def act(name, v):
    if name == "relu":
        return max(0.0, v)
    if name == "tanh":
        return math.tanh(v)
    if name == "sigmoid":
        return 1.0 / (1.0 + math.exp(-v))
    return v


def linear(w, b, x):
    """y = W x + b with W stored [out, in] (PyTorch nn.Linear layout)."""
    return [sum(wr[i] * x[i] for i in range(len(x))) + (b[r] if b else 0.0)
            for r, wr in enumerate(w)]


def f32(v):
    """Round to float32, as the file stores it."""
    return struct.unpack("<f", struct.pack("<f", v))[0]


def main(argv):
    outdir = argv[0]
    checker = argv[1] if len(argv) > 1 else None
    params = {}  # name -> (shape, flat values), in any order
    seed = 1

    def add(name, rows, cols=None):
        nonlocal seed
        seed += 1
        if cols is None:
            vals = [f32(v) for v in vector(rows, seed)]
            params[name] = ([rows], vals)
            return vals
        m = [[f32(v) for v in row] for row in matrix(rows, cols, seed)]
        params[name] = ([rows, cols], [v for row in m for v in row])
        return m

    experts = []
    for i in range(E):
        experts.append([(add("experts.%d.layers.0.weight" % i, W1, D),
                         add("experts.%d.layers.0.bias" % i, W1)),
                        (add("experts.%d.layers.1.weight" % i, W2, W1),
                         add("experts.%d.layers.1.bias" % i, W2))])
    gates = [add("gates.%d.weight" % k, E, D) for k in range(len(TASKS))]
    towers = []
    for k, (_, _, hidden, _) in enumerate(TASKS):
        layers, width = [], W2
        for l, h in enumerate(hidden + [1]):
            layers.append((add("towers.%d.layers.%d.weight" % (k, l), h, width),
                           add("towers.%d.layers.%d.bias" % (k, l), h)))
            width = h
        towers.append(layers)

    config = ["mmoe-config 1", "arch mmoe", "input.dense %d" % D, "experts.count %d" % E,
              "experts.layers %d,%d" % (W1, W2), "experts.activation relu", "seed 5",
              "tasks %d" % len(TASKS)]
    for k, (name, kind, hidden, a) in enumerate(TASKS):
        config += ["task.%d.name %s" % (k, name), "task.%d.kind %s" % (k, kind),
                   "task.%d.weight 1" % k, "task.%d.layers %s" % (k, ",".join(map(str, hidden))),
                   "task.%d.activation %s" % (k, a)]

    # safetensors: tensors in name order (any order is valid), contiguous.
    header = {"__metadata__": {"format": "libmmoe", "format_version": "1",
                               "config": "\n".join(config) + "\n"}}
    data = b""
    for name in sorted(params):
        shape, vals = params[name]
        blob = struct.pack("<%df" % len(vals), *vals)
        header[name] = {"dtype": "F32", "shape": shape,
                        "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    hb = json.dumps(header).encode("utf-8")
    hb += b" " * (-len(hb) % 8)
    model_path = os.path.join(outdir, "interop.safetensors")
    with open(model_path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + data)

    # Expected predictions, plain arithmetic in double precision.
    rows = [[f32(math.sin(0.7 * r + 1.1 * c) * 2.0) for c in range(D)] for r in range(6)]
    lines = ["%d %d %d" % (len(rows), D, len(TASKS))]
    for x in rows:
        outs = []
        for layers in experts:
            h = x
            for w, b in layers:
                h = [act("relu", v) for v in linear(w, b, h)]
            outs.append(h)
        preds = []
        for k, (_, kind, hidden, a) in enumerate(TASKS):
            logits = linear(gates[k], None, x)
            mx = max(logits)
            ex = [math.exp(v - mx) for v in logits]
            g = [v / sum(ex) for v in ex]
            f = [sum(g[i] * outs[i][j] for i in range(E)) for j in range(W2)]
            h = f
            for l, (w, b) in enumerate(towers[k]):
                h = linear(w, b, h)
                if l < len(towers[k]) - 1:
                    h = [act(a, v) for v in h]
            y = h[0]
            preds.append(1.0 / (1.0 + math.exp(-y)) if kind == "binary" else y)
        lines.append(" ".join(repr(v) for v in x) + " | " + " ".join(repr(v) for v in preds))
    expected_path = os.path.join(outdir, "interop-expected.txt")
    with open(expected_path, "w") as f:
        f.write("\n".join(lines) + "\n")

    if checker:
        return subprocess.call([checker, model_path, expected_path])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
