#!/usr/bin/env python3
"""Run the census example over seeds x models x task groups and tabulate.

    examples/census/grid.py --bin build/examples/census/census --out /tmp/census-grid
    examples/census/grid.py --out /tmp/census-grid --table-only

Every run writes <out>/g<group>-<model>-s<seed>.log (the program's output);
runs whose log already ends with a 'test AUC:' line are not repeated. The
table (Markdown) gives, per task group and model, the parameter count, the
mean +- sample standard deviation of the test AUC of each task over the
seeds, the mean best epoch and the mean training time of one run (seconds,
from the program's final line: training and evaluation, without reading
the data); --compare A,B adds mean(A) - mean(B) per task with its standard
error. The table is written to <out>/table.md as well as printed, and every
run's numbers (test and validation AUC, best epoch, seconds) to <out>/runs.csv.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

DEFAULT_MODELS = "single_task,shared_bottom,omoe,mmoe"
PARAMS = re.compile(r"^census: model .*, (\d+) parameters;")
RESULT = re.compile(
    r"^test AUC: (\S+) ([0-9.na]+)  (\S+) ([0-9.na]+)  \(best epoch (\d+), "
    r"val AUC (\S+) (\S+) mean \S+, ([0-9.]+) s\)")


def seeds_of(text):
    out = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def log_path(out, group, model, seed):
    return os.path.join(out, "g%d-%s-s%d.log" % (group, model, seed))


def parse_log(path):
    """(task names, aucs, best epoch, seconds, parameters) or None."""
    params = 0
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                p = PARAMS.match(line)
                if p:
                    params = int(p.group(1))
                m = RESULT.match(line)
                if m:
                    return ((m.group(1), m.group(3)), (float(m.group(2)), float(m.group(4))),
                            int(m.group(5)), float(m.group(8)), params,
                            (float(m.group(6)), float(m.group(7))))
    except OSError:
        pass
    return None


def run_one(args, group, model, seed):
    path = log_path(args.out, group, model, seed)
    if parse_log(path):
        return path, 0, 0.0
    cmd = [args.bin, "--group", str(group), "--model", model, "--seed", str(seed),
           "--threads", "1"] + args.extra.split()
    if args.data:
        cmd += ["--data", args.data]
    t0 = time.time()
    with open(path, "w", encoding="utf-8") as f:
        f.write("# " + " ".join(cmd) + "\n")
        f.flush()
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT)
    return path, rc, time.time() - t0


def mean_std(xs):
    if not xs:
        return float("nan"), float("nan")
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def table(args, groups, models, seeds):
    lines = ["| group | model | parameters | task 1 | test AUC task 1 | task 2 | test AUC task 2 | "
             "runs | best epoch | train s / run |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for g in groups:
        for m in models:
            res = [r for r in (parse_log(log_path(args.out, g, m, s)) for s in seeds) if r]
            if not res:
                lines.append("| %d | %s | | | (no result) | | | 0 | | |" % (g, m))
                continue
            names = res[0][0]
            a1 = mean_std([r[1][0] for r in res])
            a2 = mean_std([r[1][1] for r in res])
            ep = statistics.mean([r[2] for r in res])
            sec = statistics.mean([r[3] for r in res])
            row = "| %d | %s | %d | %s | %.4f ± %.4f | %s | %.4f ± %.4f | %d | %.1f | %.0f |"
            lines.append(row % (g, m, res[0][4], names[0], a1[0], a1[1], names[1], a2[0], a2[1],
                                len(res), ep, sec))
    if args.compare:
        a, b = args.compare.split(",")
        lines += ["", "| group | task | %s | %s | difference | standard error |" % (a, b),
                  "| --- | --- | --- | --- | --- | --- |"]
        for g in groups:
            ra = [r for r in (parse_log(log_path(args.out, g, a, s)) for s in seeds) if r]
            rb = [r for r in (parse_log(log_path(args.out, g, b, s)) for s in seeds) if r]
            if not ra or not rb:
                continue
            for k in range(2):
                ma, sa = mean_std([r[1][k] for r in ra])
                mb, sb = mean_std([r[1][k] for r in rb])
                se = (sa * sa / len(ra) + sb * sb / len(rb)) ** 0.5
                lines.append("| %d | %s | %.5f | %.5f | %+.5f | %.5f |" % (
                    g, ra[0][0][k], ma, mb, ma - mb, se))
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "table.md"), "w", encoding="utf-8") as f:
        f.write(text)
    with open(os.path.join(args.out, "runs.csv"), "w", encoding="utf-8") as f:
        f.write("group,model,seed,parameters,task1,task2,test_auc1,test_auc2,val_auc1,val_auc2,"
                "best_epoch,seconds\n")
        for g in groups:
            for m in models:
                for s in seeds:
                    r = parse_log(log_path(args.out, g, m, s))
                    if r:
                        f.write("%d,%s,%d,%d,%s,%s,%.5f,%.5f,%.5f,%.5f,%d,%.1f\n" % (
                            g, m, s, r[4], r[0][0], r[0][1], r[1][0], r[1][1], r[5][0],
                            r[5][1], r[2], r[3]))
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", help="path of the census program")
    ap.add_argument("--out", required=True, help="folder for the logs and table.md")
    ap.add_argument("--data", help="data folder passed as --data")
    ap.add_argument("--seeds", default="1-5", help="seeds, e.g. 1-5 or 1,3 [1-5]")
    ap.add_argument("--models", default=DEFAULT_MODELS,
                    help="comma-separated [%s]" % DEFAULT_MODELS)
    ap.add_argument("--groups", default="1,2", help="task groups [1,2]")
    ap.add_argument("--jobs", type=int, default=1, help="runs at once (each single-threaded) [1]")
    ap.add_argument("--extra", default="", help="more census options, one string")
    ap.add_argument("--compare", metavar="A,B",
                    help="also tabulate mean test AUC of model A minus model B per task")
    ap.add_argument("--table-only", action="store_true", help="only tabulate existing logs")
    args = ap.parse_args()
    groups = [int(g) for g in args.groups.split(",")]
    models = args.models.split(",")
    seeds = seeds_of(args.seeds)
    os.makedirs(args.out, exist_ok=True)
    if not args.table_only:
        if not args.bin:
            ap.error("--bin is required unless --table-only")
        t0 = time.time()
        jobs = [(g, m, s) for g in groups for m in models for s in seeds]
        failed = 0
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
            for path, rc, sec in ex.map(lambda j: run_one(args, *j), jobs):
                status = "ok" if rc == 0 else "exit %d" % rc
                failed += rc != 0
                print("%-60s %s %.0f s" % (path, status, sec), flush=True)
        print("grid: %d runs, %d failed, %.0f s wall" % (len(jobs), failed, time.time() - t0),
              flush=True)
    sys.stdout.write(table(args, groups, models, seeds))


if __name__ == "__main__":
    main()
