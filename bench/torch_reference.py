#!/usr/bin/env python3
"""PyTorch reference for mmoe-bench: the same two MMoE shapes, trained and
served the way a PyTorch user would write them, timed the same way.

Shapes, initialisation, loss and optimizer follow bench/bench.c and the
library:
  config A  input 100, 8 experts 100->16 relu, 2 regression tasks (MSE),
            gates 100->8 softmax, towers 16->8 relu->1
  config B  input 512, 16 experts 512->256->128 relu, 4 binary tasks (BCE on
            logits), gates 512->16 softmax, towers 128->64 relu->1
  He-normal weights before ReLU, Glorot-uniform otherwise, zero biases, no
  gate bias; loss = sum over tasks of the batch-mean task loss; Adam with
  lr 1e-3, betas (0.9, 0.999), eps 1e-8.

The experts' first layers are one Linear (one matmul), deeper expert layers
one batched matmul (torch.bmm over experts), all gates one Linear: the
fastest formulation in plain PyTorch. Each model runs eager and as
TorchScript (torch.jit.script); predict runs under torch.no_grad
(torch.inference_mode does not mix with a scripted module that also trains).

Prints one JSON object per measurement, with the fields mmoe-bench uses
plus "impl" ("torch-eager" or "torch-script"). Exits 77 (with a message)
when PyTorch is not installed.
"""
import argparse
import json
import math
import sys
import time

try:
    import torch
    import torch.nn as nn
except ImportError:  # pragma: no cover - depends on the machine
    print("torch_reference: PyTorch is not installed (Debian: python3-torch); skipped",
          file=sys.stderr)
    sys.exit(77)

CONFIGS = {
    "A": dict(input=100, experts=8, widths=[16], tasks=2, binary=False, tower=8),
    "B": dict(input=512, experts=16, widths=[256, 128], tasks=4, binary=True, tower=64),
}
SEED = 20260101


def he_(w):
    nn.init.normal_(w, 0.0, math.sqrt(2.0 / w.shape[-1]))


def glorot_(w, fan_in, fan_out):
    lim = math.sqrt(6.0 / (fan_in + fan_out))
    nn.init.uniform_(w, -lim, lim)


class MMoE(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, e, ws, t = c["input"], c["experts"], c["widths"], c["tasks"]
        self.e, self.t, self.w0 = e, t, ws[0]
        self.first = nn.Linear(d, e * ws[0])          # all experts' first layers
        he_(self.first.weight)
        nn.init.zeros_(self.first.bias)
        deeper = []
        for a, b in zip(ws[:-1], ws[1:]):
            w = torch.empty(e, a, b)                     # experts' deeper layers, batched
            for i in range(e):
                nn.init.normal_(w[i], 0.0, math.sqrt(2.0 / a))
            deeper.append(nn.Parameter(w))
        self.deeper_w = nn.ParameterList(deeper)
        self.deeper_b = nn.ParameterList([nn.Parameter(torch.zeros(e, 1, b)) for b in ws[1:]])
        self.gates = nn.Linear(d, t * e, bias=False)   # all gates
        glorot_(self.gates.weight, d, e)
        self.h = ws[-1]
        self.tower1 = nn.ModuleList()
        self.tower2 = nn.ModuleList()
        for _ in range(t):
            l1, l2 = nn.Linear(self.h, c["tower"]), nn.Linear(c["tower"], 1)
            he_(l1.weight)
            glorot_(l2.weight, c["tower"], 1)
            nn.init.zeros_(l1.bias)
            nn.init.zeros_(l2.bias)
            self.tower1.append(l1)
            self.tower2.append(l2)

    def forward(self, x):
        bsz = x.shape[0]
        h = torch.relu(self.first(x))                          # [B, E*w0]
        h = h.view(bsz, self.e, self.w0).transpose(0, 1)       # [E, B, w0]
        for w, b in zip(self.deeper_w, self.deeper_b):
            h = torch.relu(torch.baddbmm(b, h, w))             # [E, B, w]
        h = h.transpose(0, 1)                                  # [B, E, h]
        g = torch.softmax(self.gates(x).view(bsz, self.t, self.e), dim=-1)  # [B, T, E]
        f = torch.bmm(g, h)                                    # [B, T, h]
        outs = []
        for k, (l1, l2) in enumerate(zip(self.tower1, self.tower2)):
            outs.append(l2(torch.relu(l1(f[:, k]))))
        return torch.cat(outs, dim=1)                          # logits / values [B, T]


def loss_fn(binary):
    if binary:
        bce = nn.BCEWithLogitsLoss(reduction="none")
        return lambda z, y: bce(z, y).mean(dim=0).sum()
    return lambda z, y: ((z - y) ** 2).mean(dim=0).sum()


def data(c, n):
    g = torch.Generator().manual_seed(SEED)
    x = torch.rand(n, c["input"], generator=g) * 2 - 1
    u = torch.rand(n, c["tasks"], generator=g) * 2 - 1
    y = (u > 0).float() if c["binary"] else u
    return x, y


def emit(cfg, impl, metric, batch, value, unit, iters, seconds, threads):
    print(json.dumps(dict(config=cfg, impl=impl, metric=metric, batch=batch, value=value,
                          unit=unit, threads=threads, iters=iters, seconds=seconds,
                          torch=torch.__version__)), flush=True)


def timed(fn, min_time, min_calls):
    for _ in range(3):  # warm-up (TorchScript optimises over its first calls)
        fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        el = time.perf_counter() - t0
        if n >= min_calls and el >= min_time:
            return n, el


def run(cfg_name, impl, args):
    c = CONFIGS[cfg_name]
    torch.manual_seed(SEED)
    model = MMoE(c)
    if impl == "torch-script":
        model = torch.jit.script(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    lf = loss_fn(c["binary"])
    x, y = data(c, 1024)
    for batch in args.train_batches:
        xb, yb = x[:batch], y[:batch]

        def step():
            opt.zero_grad(set_to_none=True)
            loss = lf(model(xb), yb)
            loss.backward()
            opt.step()

        n, el = timed(step, args.min_time, 1 if args.quick else 3)
        emit(cfg_name, impl, "train_throughput", batch, batch * n / el, "samples/s", n, el,
             args.threads)
    model.eval()
    with torch.no_grad():
        lat = []
        row = [0]

        def one():
            a = time.perf_counter()
            model(x[row[0]:row[0] + 1])
            lat.append((time.perf_counter() - a) * 1e6)
            row[0] = (row[0] + 1) % 1024

        timed(one, args.min_time, 5 if args.quick else 200)
        lat.sort()
        emit(cfg_name, impl, "predict_latency_p50", 1, lat[len(lat) // 2], "us", len(lat), 0.0,
             args.threads)
        xb = x[:256]
        n, el = timed(lambda: model(xb), args.min_time, 1 if args.quick else 3)
        emit(cfg_name, impl, "predict_throughput", 256, 256 * n / el, "rows/s", n, el,
             args.threads)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="all", choices=["A", "B", "all"])
    ap.add_argument("--impl", default="both", choices=["eager", "script", "both"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--train-batches", default="32,256,1024")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    args.train_batches = [int(b) for b in args.train_batches.split(",")]
    if args.quick:
        args.min_time = 0.0
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    impls = {"eager": ["torch-eager"], "script": ["torch-script"],
             "both": ["torch-eager", "torch-script"]}[args.impl]
    for name in (["A", "B"] if args.config == "all" else [args.config]):
        for impl in impls:
            run(name, impl, args)


if __name__ == "__main__":
    main()
