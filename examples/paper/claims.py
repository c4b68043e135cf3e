#!/usr/bin/env python3
"""The paper's synthetic claims, checked regime by regime from correlation-sweep runs.

    examples/paper/claims.py [--steps 200,500,1000,2000,5000,10000] \\
        defaults=results/a/curves.csv "lr 1e-4=results/b/curves.csv" ...

Each argument NAME=PATH names a regime (a correlation-sweep run with its
own options) and its curves.csv (or curves.csv.gz). For every claim and regime the script
prints the paired difference over seeds (mean +- 95 % t-interval, and the
seeds whose difference has the sign the paper's claim predicts) at each of
--steps and at the final step, and a verdict:

  holds            the interval at the final step excludes zero on the
                   paper's side
  holds before the end (steps ...)
                   not at the final step, but over at least 3 consecutive
                   earlier evaluated steps (all of the file's steps are
                   tried; the ranges are named). A single step is not
                   enough: with some 150 steps tested, about 5 % of them
                   pass by chance alone.
  reversed         the interval at the final step excludes zero on the
                   other side
  does not hold    none of the above

"MMoE ~ OMoE at p = 1" holds when the final interval includes zero.
All differences are paired: every model at every p of one seed index was
trained on the same data and initialisation seed (correlation-sweep does
this), and only seeds complete for every model, p and step are used. The
loss is the mean of the two tasks' test MSE, as the program reports it.
Standard library only.
"""
import csv
import gzip
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from finals import interval  # noqa: E402  (the t-interval finals.py prints)

LO, HI = "0.5", "1"  # the low and the reference correlation of the claims

# (id, text, sign, terms): the difference is sum(coef * loss(model, p)) per
# seed; sign -1 / +1: the paper predicts a negative / positive difference;
# 0: it predicts no difference.
CLAIMS = [
    ("1", "Shared-Bottom's loss rises as p falls: SB(0.5) - SB(1)", +1,
     [(1, "shared_bottom", LO), (-1, "shared_bottom", HI)]),
    ("1b", "OMoE's loss rises as p falls: OMoE(0.5) - OMoE(1)", +1,
     [(1, "omoe", LO), (-1, "omoe", HI)]),
    ("1c", "MMoE's loss rises as p falls: MMoE(0.5) - MMoE(1)", +1,
     [(1, "mmoe", LO), (-1, "mmoe", HI)]),
    ("2", "MMoE ~ OMoE at p = 1: MMoE(1) - OMoE(1)", 0,
     [(1, "mmoe", HI), (-1, "omoe", HI)]),
    ("3a", "MMoE beats Shared-Bottom at p = 0.5: MMoE(0.5) - SB(0.5)", -1,
     [(1, "mmoe", LO), (-1, "shared_bottom", LO)]),
    ("3b", "MMoE beats OMoE at p = 0.5: MMoE(0.5) - OMoE(0.5)", -1,
     [(1, "mmoe", LO), (-1, "omoe", LO)]),
    ("5", "MMoE is hurt less than Shared-Bottom by low p: "
     "[MMoE(0.5) - MMoE(1)] - [SB(0.5) - SB(1)]", -1,
     [(1, "mmoe", LO), (-1, "mmoe", HI), (-1, "shared_bottom", LO), (1, "shared_bottom", HI)]),
    ("6", "MMoE is hurt less than OMoE by low p: "
     "[MMoE(0.5) - MMoE(1)] - [OMoE(0.5) - OMoE(1)]", -1,
     [(1, "mmoe", LO), (-1, "mmoe", HI), (-1, "omoe", LO), (1, "omoe", HI)]),
    ("B", "(CGC) CGC beats MMoE at p = 0.5: CGC(0.5) - MMoE(0.5)", -1,
     [(1, "cgc", LO), (-1, "mmoe", LO)]),
    ("C", "(PLE) PLE beats MMoE at p = 0.5: PLE(0.5) - MMoE(0.5)", -1,
     [(1, "ple", LO), (-1, "mmoe", LO)]),
    ("D", "(CGC) CGC is hurt less than MMoE by low p: "
     "[CGC(0.5) - CGC(1)] - [MMoE(0.5) - MMoE(1)]", -1,
     [(1, "cgc", LO), (-1, "cgc", HI), (-1, "mmoe", LO), (1, "mmoe", HI)]),
    ("E", "(PLE) PLE is hurt less than MMoE by low p: "
     "[PLE(0.5) - PLE(1)] - [MMoE(0.5) - MMoE(1)]", -1,
     [(1, "ple", LO), (-1, "ple", HI), (-1, "mmoe", LO), (1, "mmoe", HI)]),
]


def load(path):
    """(model, p, seed) -> {step: loss}, complete seeds only; and the final step."""
    tasks = {}
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r.get("test_mse") in (None, ""):
                continue  # a file cut while the program runs
            key = (r["model"], r["p"], int(r["seed"]))
            tasks.setdefault(key, {}).setdefault(int(r["step"]), {})[r["task"]] = float(
                r["test_mse"])
    final = max(max(v) for v in tasks.values())
    loss = {k: {s: (t["1"] + t["2"]) / 2 for s, t in v.items() if len(t) == 2}
            for k, v in tasks.items()}
    cells = {(m, p) for (m, p, _) in loss}
    seeds = sorted({s for (_, _, s) in loss})
    complete = [s for s in seeds
                if all(final in loss.get((m, p, s), {}) for (m, p) in cells)]
    return {k: v for k, v in loss.items() if k[2] in complete}, final, complete, cells


def diff(loss, seeds, terms, step):
    out = []
    for s in seeds:
        v = 0.0
        for coef, m, p in terms:
            row = loss.get((m, p, s))
            if row is None or step not in row:
                return None
            v += coef * row[step]
        out.append(v)
    return out


def cell(d, sign):
    m, h = statistics.mean(d), interval(d)
    if sign == 0:
        return "%+.4f ± %.4f" % (m, h), m, h
    agree = sum(1 for x in d if (x > 0 if sign > 0 else x < 0))
    return "%+.4f ± %.4f (%d/%d)" % (m, h, agree, len(d)), m, h


MIN_RUN = 3  # consecutive evaluated steps for "holds before the end"


def ranges(steps, chosen):
    """'900-2100, 3000-3200' from the runs of at least MIN_RUN consecutive
    evaluated steps among the chosen ones (steps sorted)."""
    out, run = [], []
    for s in steps:
        if s in chosen:
            run.append(s)
        elif run:
            out.append(run)
            run = []
    if run:
        out.append(run)
    out = [r for r in out if len(r) >= MIN_RUN]
    return ", ".join(str(r[0]) if len(r) == 1 else "%d-%d" % (r[0], r[-1]) for r in out)


def verdict(sign, results, final):
    """results: {step: (mean, half-width)} over every evaluated step."""
    m, h = results[final]
    if h != h:  # one seed: no interval
        return "needs 2 seeds or more"
    if sign == 0:
        return "holds" if abs(m) <= h else "does not hold (%s)" % (
            "MMoE higher" if m > 0 else "MMoE lower")
    if sign * m > h:
        return "holds"
    if -sign * m > h:
        return "reversed"
    early = {s for s, (mm, hh) in results.items() if 0 < s < final and sign * mm > hh}
    where = ranges(sorted(results), early)
    if where:
        return "holds before the end (steps %s)" % where
    return "does not hold"


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        sys.stdout.write(__doc__)
        return 0 if len(argv) >= 2 else 2
    steps = [200, 500, 1000, 2000, 5000, 10000]
    args = argv[1:]
    if args[0] == "--steps":
        steps = [int(x) for x in args[1].split(",")]
        args = args[2:]
    regimes = []
    for a in args:
        name, _, path = a.partition("=")
        if not path:
            sys.exit("claims.py: '%s' is not NAME=PATH" % a)
        loss, final, seeds, cells = load(path)
        regimes.append((name, loss, final, seeds, cells))
    print("Regimes: " + "; ".join("%s: %d seeds, final step %d" % (n, len(s), f)
                                  for n, _, f, s, _ in regimes))
    summary = []  # (claim id, short text, {regime: cell})
    for cid, text, sign, terms in CLAIMS:
        rows = []
        for name, loss, final, seeds, cells in regimes:
            if any((m, p) not in cells for _, m, p in terms):
                continue
            res, texts = {}, []
            for st in steps + [final]:
                d = diff(loss, seeds, terms, st) if st <= final else None
                if d is None:
                    texts.append("–")
                    continue
                t, m, h = cell(d, sign)
                res[st] = (m, h)
                texts.append(t)
            if final in res:
                every = {}
                for st in sorted({k for v in loss.values() for k in v}):
                    d = diff(loss, seeds, terms, st)
                    if d is not None and len(d) > 1:
                        every[st] = (statistics.mean(d), interval(d))
                rows.append((name, texts, verdict(sign, every, final)))
                # last column of texts is the final step
                if not summary or summary[-1][0] != cid:
                    summary.append((cid, text.split(":")[0], {}))
                summary[-1][2][name] = "%s: %s" % (rows[-1][2], texts[-1])
        if not rows:
            continue
        print("\n**Claim %s.** %s%s\n" % (
            cid, text, "" if sign == 0 else
            " (in brackets: seeds with the sign the claim predicts)"))
        head = ["step %d" % s for s in steps] + ["final"]
        print("| regime | " + " | ".join(head) + " | verdict |")
        print("| --- " * (len(head) + 2) + "|")
        for name, texts, v in rows:
            print("| %s | %s | %s |" % (name, " | ".join(texts), v))
    names = [r[0] for r in regimes]
    print("\n**Summary** (verdict, and the paired difference at the final step):\n")
    print("| claim | " + " | ".join(names) + " |")
    print("| --- " * (len(names) + 1) + "|")
    for cid, short, cells in summary:
        print("| %s. %s | %s |" % (cid, short, " | ".join(cells.get(n, "–") for n in names)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
