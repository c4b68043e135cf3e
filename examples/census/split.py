#!/usr/bin/env python3
"""Split census-income.test into the validation and test halves that
examples/census/census uses (same --split-seed, same rows, file order), so
that `mmoe train` on the files written here sees exactly the example's
data.

    python3 examples/census/split.py --data ../shared/data/census-income --out DIR

writes DIR/valid.csv.gz and DIR/test.csv.gz (records unchanged) and links
DIR/train.csv.gz to the training file (the two parts joined).
"""
import argparse
import gzip
import os
import sys

MASK = (1 << 64) - 1


def rng_next(state):
    """splitmix64, as census.c's rng_next: returns (value, new state)."""
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31), state


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data/census-income")
    ap.add_argument("--out", required=True)
    ap.add_argument("--split-seed", type=int, default=2018)
    a = ap.parse_args()
    test_path = os.path.join(a.data, "census-income.test.gz")
    if not os.path.exists(test_path):
        print("split.py: %s not found" % test_path, file=sys.stderr)
        return 77
    os.makedirs(a.out, exist_ok=True)
    with gzip.open(test_path, "rb") as f:
        rows = [line for line in f.read().split(b"\n") if line.strip()]
    n = len(rows)
    idx = list(range(n))
    state = (a.split_seed ^ 0x5DEECE66D) & MASK
    for i in range(n, 1, -1):  # census.c shuffle()
        v, state = rng_next(state)
        j = v % i
        idx[i - 1], idx[j] = idx[j], idx[i - 1]
    n_valid = n // 2
    for name, part in (("valid", sorted(idx[:n_valid])), ("test", sorted(idx[n_valid:]))):
        with gzip.open(os.path.join(a.out, name + ".csv.gz"), "wb", compresslevel=6) as f:
            f.write(b"".join(rows[i] + b"\n" for i in part))
    train = os.path.join(a.out, "train.csv.gz")
    with open(train, "wb") as f:  # two gzip members: one valid gzip file
        for p in ("census-income.data.part1.gz", "census-income.data.part2.gz"):
            with open(os.path.join(a.data, p), "rb") as src:
                f.write(src.read())
    print("split.py: %d validation and %d test rows, training file %s" %
          (n_valid, n - n_valid, train))
    return 0


if __name__ == "__main__":
    sys.exit(main())
