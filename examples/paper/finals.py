#!/usr/bin/env python3
"""Final test losses from correlation-sweep's curves.csv files.

    examples/paper/finals.py results/sweep-p0.5/curves.csv results/sweep-p0.9/curves.csv ...

correlation-sweep writes curves.csv one seed at a time (every evaluation of
every run), and its summary tables only when every run is done. This script
tabulates what the curves hold: the final loss of a run is the mean of the
two tasks' test MSE at the file's last evaluated step (the final step with
the default --eval-every, so the numbers equal those the program prints; a
run still in progress has not reached it and is left out). Only seeds whose
runs are complete for every model and every p are used, so the
comparisons stay paired. It prints two Markdown tables, model by p: each
model's mean +- 95 % t-interval over the seeds, and the paired difference
MMoE - model (mean +- 95 % t-interval, seeds where MMoE is lower), the
statistics the program prints.
Several files may be given (for example one per p from runs split with
--corr); a (model, p, seed) found twice must have the same numbers.
"""
import csv
import statistics
import sys
from math import sqrt

# two-sided 95 % Student t quantiles, 1 to 30 degrees of freedom
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
ORDER = ["shared_bottom", "omoe", "mmoe", "single_task", "l2_constrained", "cross_stitch",
         "tensor_factorization", "cgc", "ple", "stacked_mmoe"]


def interval(xs):
    n = len(xs)
    if n < 2:
        return float("nan")
    t = T975[n - 2] if n - 1 <= len(T975) else 1.96
    return t * statistics.stdev(xs) / sqrt(n)


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        sys.stdout.write(__doc__)
        return 0 if len(sys.argv) >= 2 else 2
    tasks = {}  # (model, p, seed) -> {task: mse}
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        # a file cut while the program runs may end in a partial line
        rows = [r for r in rows if r.get("test_mse") not in (None, "")]
        last = max((int(r["step"]) for r in rows), default=-1)
        for r in rows:
            if int(r["step"]) != last:
                continue
            key = (r["model"], r["p"], int(r["seed"]))
            old = tasks.setdefault(key, {}).get(r["task"])
            if old is not None and old != float(r["test_mse"]):
                sys.exit("%s: %s task %s differs from an earlier file" % (path, key, r["task"]))
            tasks[key][r["task"]] = float(r["test_mse"])
    final = {k: (v["1"] + v["2"]) / 2 for k, v in tasks.items() if len(v) == 2}
    ps = sorted({k[1] for k in final}, key=float)
    models = sorted({k[0] for k in final},
                    key=lambda m: ORDER.index(m) if m in ORDER else len(ORDER))
    seeds = [s for s in sorted({k[2] for k in final})
             if all((m, p, s) in final for m in models for p in ps)]
    n = len(seeds)
    print("%d seeds complete for every model and p: %s" % (n, ", ".join(map(str, seeds))))
    loss, diff = {}, {}
    for p in ps:
        for m in models:
            v = [final[(m, p, s)] for s in seeds]
            if n:
                loss[(m, p)] = "%.4f ± %.4f" % (statistics.mean(v), interval(v))
            if m != "mmoe" and "mmoe" in models and n:
                d = [final[("mmoe", p, s)] - final[(m, p, s)] for s in seeds]
                diff[(m, p)] = "%+.4f ± %.4f (%d/%d)" % (statistics.mean(d), interval(d),
                                                         sum(x < 0 for x in d), n)
    head = "| model | " + " | ".join("p = %s" % p for p in ps) + " |"
    rule = "| --- |" + " --- |" * len(ps)
    print("\nFinal test loss, mean ± 95 %% t-interval over %d seeds:\n" % n)
    print(head)
    print(rule)
    for m in models:
        print("| %s | %s |" % (m, " | ".join(loss.get((m, p), "-") for p in ps)))
    if diff:
        print("\nPaired difference MMoE − model, mean ± 95 % t-interval (seeds where MMoE "
              "is lower):\n")
        print(head)
        print(rule)
        for m in models:
            if m != "mmoe":
                print("| %s | %s |" % (m, " | ".join(diff.get((m, p), "-") for p in ps)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
