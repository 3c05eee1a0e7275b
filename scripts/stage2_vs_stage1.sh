#!/usr/bin/env bash
# Does a model's stage 2 beat its own stage-1 preview? Paired over several seeds: for each seed,
# `d2c eval` (final images) and `d2c eval --stage1-only` (the same stage-1 codes, VQ-decoded) at
# n samples; then one line per seed and the mean ± sd of final − preview. One seed is not enough:
# at n = 1000 the seed alone moves both FIDs by several points, together.
#   scripts/stage2_vs_stage1.sh MODEL OUT [N=1000] [SEEDS="0 1000 2000 3000"]  → OUT/{final,preview}-sS
# Extra `d2c eval` options go in EVAL_ARGS (e.g. --steps 1; for a colour model its classifier and
# reference: EVAL_ARGS="--classifier models/emoji-classifier --reference data/emoji/train"); THREADS (1).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:?model folder}
OUT=${2:?output folder}
N=${3:-1000}
SEEDS=${4:-0 1000 2000 3000}
d2c() { node --single-threaded-gc --import tsx src/cli/main.ts "$@"; }
# shellcheck disable=SC2206
extra=(${EVAL_ARGS:-})
for s in $SEEDS; do
  for arm in final preview; do
    dir=$OUT/$arm-s$s
    if [ -f "$dir/report.json" ]; then continue; fi
    flag=()
    [ $arm = preview ] && flag=(--stage1-only)
    d2c eval --model "$MODEL" --n "$N" --seed "$s" --threads "${THREADS:-1}" --out "$dir" "${flag[@]}" "${extra[@]}" > /dev/null
  done
done
echo "A = final, B = preview"
node scripts/report_metrics.mjs paired "$OUT/final-s{seed}" "$OUT/preview-s{seed}" $SEEDS
