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
node -e '
  const fs = require("fs");
  const [out, ...seeds] = process.argv.slice(1);
  const m = (arm, s) => JSON.parse(fs.readFileSync(`${out}/${arm}-s${s}/report.json`, "utf8")).metrics;
  // The feature network names the metrics (fid_fmnist, fid_emoji, ...): take the ones the reports have.
  const first = m("final", seeds[0]);
  const keys = ["fid", "kid", "precision", "recall"].map((k) => Object.keys(first).find((n) => n.startsWith(`${k}_`)));
  const d = Object.fromEntries(keys.map((k) => [k, []]));
  for (const s of seeds) {
    const [f, p] = [m("final", s), m("preview", s)];
    console.log(`seed ${s}: ` + keys.map((k) => `${k} ${f[k].toFixed(3)} vs ${p[k].toFixed(3)}`).join(", "));
    for (const k of keys) d[k].push(f[k] - p[k]);
  }
  const stat = (v) => {
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(v.length - 1, 1));
    return `${mean.toFixed(3)} ± ${sd.toFixed(3)}`;
  };
  console.log("final − preview, mean ± sd over seeds: " + keys.map((k) => `${k} ${stat(d[k])}`).join(", "));
' "$OUT" $SEEDS
