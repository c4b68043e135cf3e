#!/usr/bin/env python3
"""Smoke test of examples/serve: build a model from a description, save it,
serve CSV rows from stdin (good and malformed), and run a short benchmark.

Usage: test-serve.py SERVE_EXECUTABLE [MMOE_EXECUTABLE]
"""
import json
import os
import subprocess
import sys
import tempfile

SERVE = sys.argv[1]
D = 6

CONFIG = """mmoe-config 1
arch mmoe
input.dense 6
experts.count 3
experts.layers 8
experts.activation relu
seed 5
tasks 2
task.0.name click
task.0.kind binary
task.0.layers 4
task.1.name value
task.1.kind regression
task.1.layers 4
"""


def run(args, stdin='', expect=0):
    p = subprocess.run([SERVE] + args, input=stdin, capture_output=True, text=True, timeout=120)
    if p.returncode != expect:
        sys.exit('serve %s: exit %d, expected %d\nstdout:\n%s\nstderr:\n%s'
                 % (' '.join(args), p.returncode, expect, p.stdout, p.stderr))
    return p.stdout, p.stderr


def check(cond, what):
    if not cond:
        sys.exit('FAIL: ' + what)


with tempfile.TemporaryDirectory() as tmp:
    cfg = os.path.join(tmp, 'model.cfg')
    model = os.path.join(tmp, 'model.safetensors')
    with open(cfg, 'w', encoding='utf-8') as f:
        f.write(CONFIG)

    good = ['0.1,0.2,0.3,0.4,0.5,0.6', ' -1, 0 ,1e-3,2,  3.5,-0.25', '0,0,0,0,0,0']

    # A fresh model from the description, saved, then served from the file.
    out_cfg, _ = run(['--config', cfg, '--save', model], '\n'.join(good) + '\n')
    check(os.path.getsize(model) > 8, 'model file written')
    out, err = run([model], '\n'.join(good) + '\n')
    check(out == out_cfg, 'loaded model answers as the model that was saved')
    lines = out.splitlines()
    check(len(lines) == len(good), 'one output line per row')
    for line in lines:
        vals = [float(v) for v in line.split(',')]
        check(len(vals) == 2, 'one value per task')
        check(0.0 <= vals[0] <= 1.0, 'binary task gives a probability')
    # Same row, same answer; CRLF line ends accepted.
    out2, _ = run([model], good[0] + '\r\n' + good[0] + '\n')
    check(out2.splitlines() == [lines[0], lines[0]], 'same row gives the same line')

    # Malformed rows: default stops at the first, naming its line.
    bad = [good[0], '1,2,3', good[1], '1,2,x,4,5,6', '1,2,3,4,5,6,7', 'nan,0,0,0,0,0', good[2]]
    out, err = run([model], '\n'.join(bad) + '\n', expect=1)
    check(out.splitlines() == [lines[0]], 'stops after the first malformed row')
    check('line 2' in err, 'error names the line: ' + err)

    # --keep-going: an "error" line per malformed row, exit 1 at the end.
    out, err = run([model, '--keep-going'], '\n'.join(bad) + '\n', expect=1)
    check(out.splitlines() == [lines[0], 'error', lines[1], 'error', 'error', 'error', lines[2]],
          'keep-going output:\n' + out)
    for n in (2, 4, 5, 6):
        check('line %d:' % n in err, 'error for line %d: %s' % (n, err))

    # Benchmark: 2 threads, batch 1 and batch 4.
    for batch in ('1', '4'):
        out, _ = run([model, '--bench', '--threads', '2', '--rows', '400', '--batch', batch])
        recs = [json.loads(line) for line in out.splitlines()]
        check(len(recs) == 3, 'two thread lines and a total line')
        total = recs[-1]
        check(total['scope'] == 'total' and total['threads'] == 2, 'total line')
        check(total['rows'] == 800, 'rows predicted: %s' % total['rows'])
        check(total['predictions_per_s'] > 0, 'throughput reported')
        lat = total['latency_us']
        check(0 < lat['p50'] <= lat['p99'] <= lat['max'], 'latency percentiles ordered')

    # Issue 9, defect 10: subnormal floats are valid input; a NUL byte inside a
    # row is an error, not the end of the row.
    out, err = run([model], '1e-40,0.2,0.3,0.4,0.5,0.6\n' + good[0] + '\n')
    check(len(out.splitlines()) == 2, 'subnormal value accepted: ' + err)
    out, err = run([model], '0.1,0.2,0.3,0.4,0.5,0.6\0garbage\n' + good[0] + '\n', expect=1)
    check(out == '' and 'NUL' in err, 'NUL byte in a row refused: ' + err)
    run([model], '1e39,0,0,0,0,0\n', expect=1)

    # Issue 9, defect 1: batches above the 4096-row pool (up to 65536) read
    # inside the pool; a wide input makes an overread leave the allocation.
    wide = os.path.join(tmp, 'wide.cfg')
    with open(wide, 'w', encoding='utf-8') as f:
        f.write('mmoe-config 1\ninput.dense 256\nexperts.count 1\nexperts.layers 1\n'
                'tasks 1\ntask.0.layers\n')
    out, _ = run(['--config', wide, '--bench', '--batch', '65536', '--rows', '65536'])
    check(json.loads(out.splitlines()[-1])['rows'] == 65536, 'batch 65536 benchmark')
    out, _ = run(['--config', wide, '--bench', '--batch', '5000', '--rows', '10000'])
    check(json.loads(out.splitlines()[-1])['rows'] == 10000, 'batch 5000 benchmark')

    # Usage errors and unreadable models.
    run([], expect=2)
    run([os.path.join(tmp, 'missing.safetensors')], expect=2)
    run([model, '--threads', '0', '--bench'], expect=2)

    # A model with sparse inputs and a stored transformation (written by the
    # mmoe command, given as the second argument): serve reads raw records
    # and answers exactly as `mmoe predict`.
    if len(sys.argv) > 2:
        mmoe = sys.argv[2]
        rows = ['x,color,tags,y']
        for i in range(400):
            color = ['red', 'green', 'blue'][i % 3]
            tags = '|'.join(['a', 'b', 'c', 'd'][j] for j in range(i % 4))
            rows.append('%g,%s,%s,%d' % ((i % 17) / 7.0, color, tags, (i % 3 == 0) ^ (i % 5 == 0)))
        data = os.path.join(tmp, 'sparse.csv')
        with open(data, 'w', encoding='utf-8') as f:
            f.write('\n'.join(rows) + '\n')
        schema = os.path.join(tmp, 'sparse.schema')
        with open(schema, 'w', encoding='utf-8') as f:
            f.write('mmoe-schema 1\nheader yes\ndense x x standardize\n'
                    'categorical color color dim=2\nmulti tags tags separator="|" slots=3\n'
                    'binary y y\n')
        mcfg = os.path.join(tmp, 'sparse.config')
        with open(mcfg, 'w', encoding='utf-8') as f:
            f.write('mmoe-config 1\nexperts.count 2\nexperts.layers 4\n')
        sparse_model = os.path.join(tmp, 'sparse.safetensors')
        p = subprocess.run([mmoe, 'train', '--schema', schema, '--config', mcfg, '--train', data,
                            '--out', sparse_model, '--epochs', '2', '--quiet'],
                           capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, 'mmoe train: ' + p.stderr)
        requests = '\n'.join(['x,color,tags', '1.5,red,a|b', '0.2,purple,', '3,blue,d|zz']) + '\n'
        out, err = run([sparse_model], requests)
        p = subprocess.run([mmoe, 'predict', '--model', sparse_model], input=requests,
                           capture_output=True, text=True, timeout=120)
        check(p.returncode == 0 and out == p.stdout and len(out.splitlines()) == 3,
              'serve answers raw sparse records as mmoe predict does:\n%s\n%s%s' % (out, p.stdout, err))
        out, err = run([sparse_model], 'x,color,tags\nnot-a-number,red,\n', expect=1)
        check('line 2, column 1' in err, 'malformed record named: ' + err)
        run([sparse_model], 'a,b,c\n1,red,\n', expect=1)
        run([sparse_model, '--bench'], expect=2)

print('serve: ok')
