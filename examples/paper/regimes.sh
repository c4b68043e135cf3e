#!/bin/sh
# The regime study of docs/reproduction.md: the correlation sweep in four
# training regimes (10 seeds, five models each), the claims table over them,
# and the trainability study in the slow regime.
#
#     examples/paper/regimes.sh [BUILD_DIR [OUT_DIR]]      (defaults: build, results/regimes)
#
# The four sweeps run at once (one process each, one BLAS thread), then the
# trainability study with two jobs; each command's wall time goes to
# OUT_DIR/NAME.time. The numbers do not depend on how the runs are spread
# over processes.
set -eu
BUILD=${1:-build}
OUT=${2:-results/regimes}
HERE=$(dirname "$0")
SWEEP="$BUILD/examples/paper/correlation-sweep"
TRAIN="$BUILD/examples/paper/trainability"
COMMON="--models shared_bottom,omoe,mmoe,cgc,ple --seeds 10 --eval-every 100 \
--at-steps 500,1000,2000,3000,5000,10000 --gates"
mkdir -p "$OUT"

run() {
    name=$1
    shift
    start=$(date +%s)
    "$@" --out "$OUT/$name" >"$OUT/$name.out" 2>"$OUT/$name.err"
    echo "$(($(date +%s) - start)) s wall" >"$OUT/$name.time"
}

# shellcheck disable=SC2086 # COMMON is a list of options
run a-defaults $SWEEP $COMMON &
# shellcheck disable=SC2086
run b-lr1e-4 $SWEEP $COMMON --lr 0.0001 &
# shellcheck disable=SC2086
run c-online $SWEEP $COMMON --online &
# shellcheck disable=SC2086
run d-train2k $SWEEP $COMMON --train 2000 &
wait

python3 "$HERE/claims.py" \
    "defaults=$OUT/a-defaults/curves.csv" \
    "lr 1e-4=$OUT/b-lr1e-4/curves.csv" \
    "online=$OUT/c-online/curves.csv" \
    "2k samples=$OUT/d-train2k/curves.csv" >"$OUT/claims.md"

run t-lr1e-4 "$TRAIN" --lr 0.0001 --gates --jobs 2
echo "regimes: outputs in $OUT (claims.md: the claims table)"
