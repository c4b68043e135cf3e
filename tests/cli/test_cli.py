#!/usr/bin/env python3
"""Tests of the mmoe command: exit statuses, train -> eval / predict /
inspect on generated data (plain and gzip), malformed records under both
policies, and --resume giving byte-identical files to an uninterrupted run.

    test_cli.py MMOE_BINARY WORKDIR GATE_MEANS_BINARY
"""
import gzip
import os
import random
import shutil
import subprocess
import sys

MMOE = sys.argv[1]
WORK = os.path.join(sys.argv[2], "cli-test")
GATE_MEANS = sys.argv[3]
failures = []


def run(*args, stdin=None):
    p = subprocess.run([MMOE] + list(args), input=stdin, capture_output=True, text=True,
                       timeout=600)
    return p.returncode, p.stdout, p.stderr


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        failures.append(what)


def expect(status, what, *args, stdin=None, needle=None):
    rc, out, err = run(*args, stdin=stdin)
    good = rc == status and (needle is None or needle in out + err)
    check(good, "%s: exit %d%s" % (what, status, "" if good else
                                   " (got %d; stderr: %s)" % (rc, err.strip()[-300:])))
    return out, err


def write(name, text):
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def same_run_files(out_a, ck_a, out_b, ck_b, what):
    """Check two runs' output models and checkpoint files byte-identical."""
    for a, b, name in ((out_a, out_b, "best model"),
                       (os.path.join(ck_a, "model.safetensors"),
                        os.path.join(ck_b, "model.safetensors"), "last-epoch model"),
                       (os.path.join(ck_a, "optimizer.safetensors"),
                        os.path.join(ck_b, "optimizer.safetensors"), "optimizer state")):
        with open(a, "rb") as fa, open(b, "rb") as fb:
            check(fa.read() == fb.read(), "%s: %s byte-identical" % (what, name))


def make_rows(n, seed):
    rnd = random.Random(seed)
    rows = []
    for _ in range(n):
        a = rnd.gauss(0, 1)
        b = rnd.expovariate(0.1)
        c = rnd.choice(["red", "green", "blue", "cyan"])
        tags = "|".join(rnd.sample(["t1", "t2", "t3", "t4", "t5"], rnd.randint(0, 3)))
        z = 1.5 * a + (1.0 if c == "red" else -0.5) + (0.8 if "t1" in tags else 0.0)
        click = "yes" if z + rnd.gauss(0, 0.5) > 0 else "no"
        spend = 0.5 * a - 0.2 * (c == "blue") + rnd.gauss(0, 0.1)
        rows.append('%.4f,%.3f,"%s",%s,%s,%.4f' % (a, b, c, tags, click, spend))
    return rows


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    header = "a,b,color,tags,click,spend"
    train_rows = make_rows(3000, 1)
    valid_rows = make_rows(800, 2)
    with gzip.open(os.path.join(WORK, "train.csv.gz"), "wt") as f:
        f.write(header + "\n" + "\n".join(train_rows) + "\n")
    train = os.path.join(WORK, "train.csv.gz")
    valid = write("valid.csv", header + "\n" + "\n".join(valid_rows) + "\n")
    schema = write("s.schema", """mmoe-schema 1
header yes
dense a a standardize
dense b b log1p standardize
categorical color color dim=3
multi tags tags separator="|" slots=3 dim=2
binary click click positive=yes
regression spend spend
""")
    config = write("m.config", "mmoe-config 1\nexperts.count 3\nexperts.layers 8\nseed 3\n")
    model = os.path.join(WORK, "m.safetensors")
    common = ["--schema", schema, "--config", config, "--train", train, "--valid", valid,
              "--batch", "64", "--shuffle", "500", "--threads", "1", "--quiet", "--lr", "0.01"]

    # --help and usage errors
    expect(2, "no command")
    expect(0, "mmoe --help", "--help", needle="train")
    expect(2, "unknown command", "frobnicate")
    for c in ("train", "eval", "predict", "inspect"):
        expect(0, c + " --help", c, "--help", needle="Exit status")
        expect(2, c + " unknown option", c, "--bogus")
    expect(2, "train without --out", "train", "--schema", schema, "--config", config,
           "--train", train)
    expect(2, "train --epochs 0", "train", *common, "--out", model, "--epochs", "0")
    expect(2, "train --on-error maybe", "train", *common, "--out", model, "--on-error", "maybe")
    expect(2, "train --resume without --checkpoint", "train", *common, "--out", model,
           "--resume")
    # input errors
    bad_schema = write("bad.schema", "mmoe-schema 1\ndense a a\n")
    expect(3, "schema without a label", "train", "--schema", bad_schema, "--config", config,
           "--train", train, "--out", model, needle="no label")
    expect(1, "missing training file", "train", "--schema", schema, "--config", config,
           "--train", os.path.join(WORK, "nope.csv"), "--out", model)
    bad_train = write("bad.csv", header + "\n" + "\n".join(train_rows[:50]) +
                      "\nnot-a-number,1,red,,yes,1\n" + "\n".join(train_rows[50:100]) + "\n")
    expect(3, "malformed record, --on-error fail", "train", "--schema", schema, "--config",
           config, "--train", bad_train, "--out", model, "--quiet",
           needle="line 52, column 1 (a)")
    expect(0, "malformed record, --on-error skip", "train", "--schema", schema, "--config",
           config, "--train", bad_train, "--out", os.path.join(WORK, "skip.safetensors"),
           "--quiet", "--on-error", "skip", "--epochs", "1", needle="skipped 1 malformed")
    bad_config = write("bad.config", "mmoe-config 1\nexperts.count 0\n")
    expect(3, "invalid model description", "train", "--schema", schema, "--config",
           bad_config, "--train", train, "--out", model, "--quiet")

    # train, eval, predict, inspect
    out, err = expect(0, "train", "train", *common, "--out", model, "--epochs", "4",
                      "--log", os.path.join(WORK, "log.jsonl"))
    with open(os.path.join(WORK, "log.jsonl")) as f:
        log = [line for line in f if line.strip()]
    check(len(log) == 4 and '"valid_auc"' in log[0], "JSON-lines log: one line per epoch")
    out, _ = expect(0, "eval", "eval", "--model", model, "--data", valid, "--json", "--quiet")
    import json
    ev = json.loads(out)
    check(ev["rows"] == 800 and ev["tasks"][0]["auc"] > 0.8 and ev["tasks"][1]["mse"] < 0.2,
          "eval: AUC > 0.8 and MSE < 0.2 on validation (%s)" % out.strip())
    out, _ = expect(0, "predict from stdin", "predict", "--model", model,
                    stdin=header + "\n" + "\n".join(r.rsplit(",", 2)[0] for r in valid_rows[:20]) + "\n")
    lines = out.strip().split("\n")
    check(len(lines) == 20 and all(len(x.split(",")) == 2 for x in lines),
          "predict: one line of 2 outputs per record (labels not needed)")
    p = [float(x.split(",")[0]) for x in lines]
    check(all(0.0 <= v <= 1.0 for v in p), "predict: binary outputs are probabilities")
    out2, _ = expect(0, "predict from a file", "predict", "--model", model, "--data", valid)
    check(out2.strip().split("\n")[:20] == lines,
          "predict: the same outputs with or without the label columns")
    mixed = header + "\n" + valid_rows[0] + "\nzz,1,red,,yes,1\n" + valid_rows[1] + "\n"
    out, err = expect(0, "predict --on-error skip", "predict", "--model", model,
                      "--on-error", "skip", stdin=mixed, needle="1 malformed")
    check(out.split("\n")[1] == "NA,NA", "predict: a malformed record gives an NA line")
    out, err = expect(0, "predict --check", "predict", "--model", model, "--on-error", "skip",
                      "--check", stdin=mixed, needle="3 records, 1 malformed")
    check(out == "", "predict --check writes no output")
    expect(3, "predict --on-error fail", "predict", "--model", model, stdin=mixed,
           needle="line 3, column 1")
    expect(3, "predict: wrong header", "predict", "--model", model,
           stdin="x,b,color,tags\n1,2,red,\n", needle="header")
    out, _ = expect(0, "inspect", "inspect", "--model", model, "--data", valid)
    check("mean gate weight" in out and "experts" in out and "4 vocabulary values" in out,
          "inspect: parameters, schema, gate table")
    expect(3, "eval of a corrupt model file", "eval", "--model", bad_train, "--data", valid)

    # --resume gives the same files as an uninterrupted run
    ck1, ck2 = os.path.join(WORK, "ck1"), os.path.join(WORK, "ck2")
    full, part = os.path.join(WORK, "full.safetensors"), os.path.join(WORK, "part.safetensors")
    expect(0, "uninterrupted 4 epochs", "train", *common, "--out", full, "--epochs", "4",
           "--checkpoint", ck1, "--patience", "100")
    expect(0, "2 epochs", "train", *common, "--out", part, "--epochs", "2", "--checkpoint", ck2,
           "--patience", "100")
    expect(0, "--resume to 4 epochs", "train", *common, "--out", part, "--epochs", "4",
           "--checkpoint", ck2, "--resume", "--patience", "100")
    same_run_files(full, ck1, part, ck2, "--resume")

    # the same with dropout and batch-norm in a DNN input stage, through the
    # streaming shuffle buffer (500 rows of 3000): the model file carries the
    # dropout stream, so the resumed run draws the masks the uninterrupted one drew
    dconfig = write("d.config", "mmoe-config 1\nexperts.count 3\nexperts.layers 8\n"
                    "dnn.layers 8\ndnn.batchnorm 1\ndnn.dropout 0.3\nseed 3\n")
    dcommon = [a if a != config else dconfig for a in common]
    ck3, ck4 = os.path.join(WORK, "ck3"), os.path.join(WORK, "ck4")
    dfull, dpart = os.path.join(WORK, "dfull.safetensors"), os.path.join(WORK, "dpart.safetensors")
    expect(0, "dropout: uninterrupted 3 epochs", "train", *dcommon, "--out", dfull, "--epochs",
           "3", "--checkpoint", ck3, "--patience", "100")
    expect(0, "dropout: 1 epoch", "train", *dcommon, "--out", dpart, "--epochs", "1",
           "--checkpoint", ck4, "--patience", "100")
    with open(os.path.join(ck4, "model.safetensors"), "rb") as f:
        check(b'"dropout_state"' in f.read(4096), "dropout: the checkpoint holds the stream")
    expect(0, "dropout: --resume to 3 epochs", "train", *dcommon, "--out", dpart, "--epochs",
           "3", "--checkpoint", ck4, "--resume", "--patience", "100")
    same_run_files(dfull, ck3, dpart, ck4, "dropout --resume")
    outs = []
    for m in (dfull, dpart, os.path.join(ck3, "model.safetensors"),
              os.path.join(ck4, "model.safetensors")):
        out, _ = expect(0, "dropout: predict", "predict", "--model", m, "--data", valid)
        outs.append(out)
    check(len(outs[0].split("\n")) > 800 and outs[0] == outs[1] and outs[2] == outs[3],
          "dropout --resume: the same predictions as the uninterrupted run")

    # inspect's gate table is the serving one (inference mode: running batch-norm
    # statistics, no dropout): it equals the means gate_means computes record by
    # record through mmoe_model_predict_gate_weights, for the model with batch-norm
    # and dropout
    out, _ = expect(0, "inspect a batch-norm model", "inspect", "--model", dfull, "--data",
                    valid)
    table = out[out.index("mean gate weight per expert"):].split("\n")[2:]
    mine = {}
    for line in table:
        f = line.split()
        if len(f) == 4:
            mine[f[0]] = [float(v) for v in f[1:]]
    p = subprocess.run([GATE_MEANS, dfull, valid], capture_output=True, text=True, timeout=600)
    ref = {}
    for line in p.stdout.split("\n"):
        f = line.split()
        if f:
            ref[f[0]] = [float(v) for v in f[1:]]
    check(p.returncode == 0 and len(ref) == 2 and sorted(mine) == sorted(ref) and
          all(abs(a - b) <= 6e-5 for k in ref for a, b in zip(mine[k], ref[k])),
          "inspect: gate means equal the inference-mode reference (%s vs %s)" % (mine, ref))

    print("%d passed, %d failed" % (0, len(failures)) if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
