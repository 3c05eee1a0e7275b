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
# One line per setting: FID, recall on generated codes; FID, PSNR and its bound on oracle codes.
for d in "$OUT"/cfg*-t*; do
  case $d in *-oracle) continue ;; esac
  node -e '
    const fs = require("fs"), [g, o] = process.argv.slice(1).map((f) => fs.existsSync(f) ? JSON.parse(fs.readFileSync(f)).metrics : null);
    const b = o ? (o.vq_recon_psnr - 3.01).toFixed(2) : "";
    console.log(process.argv[3], "fid", g?.fid_fmnist.toFixed(2), "recall", g?.recall_fmnist, "| oracle fid", o?.fid_fmnist.toFixed(2), "psnr", o?.psnr.toFixed(2), "bound", b);
  ' "$d/report.json" "$d-oracle/report.json" "$(basename "$d")"
done
