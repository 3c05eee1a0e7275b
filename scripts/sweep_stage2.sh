#!/usr/bin/env bash
# A small sweep of stage 2's sampling knobs on one model folder: guidance scale × diffusion
# temperature, each scored on generated codes (n = N) and on oracle codes (n = NO), same seeds.
#   scripts/sweep_stage2.sh MODEL OUT [N=500] [NO=200]    → OUT/cfgC-tT[-oracle]/report.json
# Environment: CFGS ("3 5"), TEMPS ("1 0.8 0.6"), THREADS (1).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:?model folder}
OUT=${2:?output folder}
N=${3:-500}
NO=${4:-200}
d2c() { node --single-threaded-gc --import tsx src/cli/main.ts "$@"; }
for c in ${CFGS:-3 5}; do
  for t in ${TEMPS:-1 0.8 0.6}; do
    for mode in gen oracle; do
      if [ $mode = oracle ]; then
        dir=$OUT/cfg$c-t$t-oracle extra=(--oracle --n "$NO")
      else
        dir=$OUT/cfg$c-t$t extra=(--n "$N")
      fi
      if [ -f "$dir/report.json" ]; then continue; fi
      d2c eval --model "$MODEL" --seed 0 --threads "${THREADS:-1}" --stage2-cfg "$c" --stage2-temperature "$t" \
        --out "$dir" "${extra[@]}" > /dev/null
    done
  done
done
# One line per setting: the metrics on generated codes; on oracle codes, also PSNR and its bound.
for d in "$OUT"/cfg*-t*; do
  case $d in *-oracle) continue ;; esac
  echo "$(basename "$d"): $(node scripts/report_metrics.mjs line "$d") | oracle: $(node scripts/report_metrics.mjs line "$d-oracle")"
done
