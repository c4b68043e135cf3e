#!/usr/bin/env python3
"""Edge cases of examples/census on tiny data sets cut from the real files
(issue 9, defect 11): a validation split where an AUC is undefined in every
epoch, a test-row count that leaves no validation row, and a value that is
finite as a double but not as a float, reported by its file line.

Usage: test-census-edges.py CENSUS_EXECUTABLE DATA_DIR   (exit 77 without data)
"""
import gzip
import os
import subprocess
import sys
import tempfile

CENSUS, DATA = sys.argv[1], sys.argv[2]
if not os.path.isfile(os.path.join(DATA, 'census-income.test.gz')):
    print('census data absent: skipped')
    sys.exit(77)


def lines(name, n, keep=lambda line: True):
    out = []
    with gzip.open(os.path.join(DATA, name), 'rt', encoding='latin-1') as f:
        for line in f:
            if keep(line):
                out.append(line)
                if len(out) == n:
                    break
    return out


def write(dirname, name, rows):
    with gzip.open(os.path.join(dirname, name), 'wt', encoding='latin-1') as f:
        f.writelines(rows)


def run(args, expect):
    p = subprocess.run([CENSUS, '--epochs', '2', '--threads', '1'] + args, capture_output=True,
                       text=True, timeout=300)
    if p.returncode != expect:
        sys.exit('census %s: exit %d, expected %d\nstdout:\n%s\nstderr:\n%s'
                 % (' '.join(args), p.returncode, expect, p.stdout, p.stderr))
    return p.stdout, p.stderr


def check(cond, what):
    if not cond:
        sys.exit('FAIL: ' + what)


train = lines('census-income.data.part1.gz', 400)
low = lines('census-income.test.gz', 40, lambda line: line.rstrip().endswith('- 50000.'))
with tempfile.TemporaryDirectory() as tmp:
    write(tmp, 'census-income.data.gz', train)
    # Every test-file row has income <= 50K: that task's AUC is undefined.
    write(tmp, 'census-income.test.gz', low)
    out, err = run(['--data', tmp], expect=1)
    check('undefined in every epoch' in err, 'undefined validation AUC reported: ' + err)
    check('test AUC' not in out, 'no test AUC printed for an unselected model: ' + out)

    # One test-file row: no validation row.
    out, err = run(['--data', tmp, '--test-rows', '1'], expect=2)
    check('no validation or test rows' in err, 'empty split reported: ' + err)

    # 1e300 is a finite double but not a finite float: named by file and line.
    bad = list(train)
    fields = bad[4].split(',')
    fields[0] = '1e300'
    bad[4] = ','.join(fields)
    write(tmp, 'census-income.data.gz', bad)
    out, err = run(['--data', tmp], expect=1)
    check('census-income.data.gz:5:' in err and 'finite float' in err,
          'non-finite value named by its line: ' + err)

print('census edges: ok')
