#!/usr/bin/env bash
# The sampling-default sweep of a model folder, in two rounds at one seed:
#  1. stage-1 guidance, scored on the stage-1 preview alone (--stage1-only: cheap, and stage 2
#     follows the codes' layout, so the preview's best guidance is the candidate for the whole);
#  2. stage-2 guidance of the whole model, at the best stage-1 guidance of round 1.
#   scripts/sweep_sampling.sh MODEL OUT [N=500]   → OUT/s1cfgC/ and OUT/s1cfgC-s2cfgD/report.json
# Environment: STAGE1_CFGS ("1 1.5 2 3"), STAGE2_CFGS ("1.5 3 5"), THREADS (1), EVAL_ARGS (extra
# `d2c eval` options: a colour model's --classifier, --data and --reference).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:?model folder}
OUT=${2:?output folder}
N=${3:-500}
d2c() { node --single-threaded-gc --import tsx src/cli/main.ts "$@"; }
# shellcheck disable=SC2206
extra=(${EVAL_ARGS:-})
evaluate() { # DIR FLAGS...
  local dir=$1
  shift
  [ -f "$dir/report.json" ] || d2c eval --model "$MODEL" --n "$N" --seed 0 --threads "${THREADS:-1}" --out "$dir" "$@" "${extra[@]}" > /dev/null
}
metrics() { node scripts/report_metrics.mjs line "$1"; }
best=
bestFid=
for c in ${STAGE1_CFGS:-1 1.5 2 3}; do
  evaluate "$OUT/s1cfg$c" --stage1-only --stage1-cfg "$c"
  line=$(metrics "$OUT/s1cfg$c")
  echo "stage 1 alone, stage-1 cfg $c: $line"
  fid=$(echo "$line" | awk '{print $2}')
  if [ -z "$best" ] || awk -v a="$fid" -v b="$bestFid" 'BEGIN { exit !(a < b) }'; then best=$c bestFid=$fid; fi
done
echo "best stage-1 cfg on the preview: $best"
for d in ${STAGE2_CFGS:-1.5 3 5}; do
  evaluate "$OUT/s1cfg$best-s2cfg$d" --stage1-cfg "$best" --stage2-cfg "$d"
  echo "whole model, stage-1 cfg $best, stage-2 cfg $d: $(metrics "$OUT/s1cfg$best-s2cfg$d")"
done
