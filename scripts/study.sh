#!/usr/bin/env bash
# The small-scale D2C study (docs/study/README.md): every stage-2 arm trained on the same token cache
# (the then-shipped 512-code VQ + the retrained KL), seed and budget, then evaluated with the same seeds.
#   scripts/study.sh train ARM...   train arms (resumes a checkpoint that exists)
#   scripts/study.sh eval ARM...    evaluate arms (skips evaluations already written)
#   scripts/study.sh clip ARM       the same arm without the x̂₀ clip
#   scripts/study.sh report         write docs/study/results.md and its plots from the reports
# Arms: mar-only qformer crossattn add prefix add-mix (stage1-only needs no training).
# Environment: STEPS (stage-2 steps per arm, 1000), N (samples per evaluation, 500),
# CACHE (runs/cache8), STAGE1 and VQ (the study's, from git history), KL, OUT (runs/study), THREADS (1).
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-1000}
N=${N:-500}
CACHE=${CACHE:-runs/cache8}
# The study's VQ and stage 1 are the ones models/d2c-fmnist shipped at commit 1bb44dc (512 codes);
# the model has since been retrained on new tokenizers, so they are taken from git history.
PARTS_COMMIT=1bb44dc
VQ=${VQ:-runs/study-parts/models/d2c-fmnist/vq}
KL=${KL:-runs/kl8raw}
STAGE1=${STAGE1:-runs/study-parts/models/d2c-fmnist/stage1}
if [[ ! -d runs/study-parts && ($VQ == runs/study-parts/* || $STAGE1 == runs/study-parts/*) ]]; then
  mkdir -p runs/study-parts
  git archive "$PARTS_COMMIT" models/d2c-fmnist/vq models/d2c-fmnist/stage1 | tar -x -C runs/study-parts
fi
OUT=${OUT:-runs/study}
THREADS=${THREADS:-1}
d2c() { node --single-threaded-gc --import tsx src/cli/main.ts "$@"; }

# The shipped stage 2's backbone (128-wide, 2 + 2 blocks, 2-block diffusion head) on 8-channel latents.
COMMON=(--preset mar_fmnist --set encoderEmbedDim=128 --set decoderEmbedDim=128 --set discEmbedDim=128
  --set difflossD=2 --set diffusionBatchMul=2 --set vaeEmbedDim=8 --set 'numSamplingSteps="50"'
  --set codeCorruptProb=0.05 --steps "$STEPS" --batch-size 32 --lr 6e-4 --ema 0.995 --seed 0
  --threads "$THREADS" --log-every 100 --save-every 200)

arm_args() {
  case "$1" in
    mar-only) echo "--fusion none --set encoderEmbedDim=256 --set decoderEmbedDim=256" ;; # 4.3M ≈ stage 1 + stage 2
    qformer | crossattn | add | prefix) echo "--fusion $1" ;;
    add-mix) echo "--fusion add --mix-stage1 $STAGE1 --mix-rate 0.5" ;;
    *) echo "unknown arm '$1'" >&2; exit 2 ;;
  esac
}

train_arm() {
  local arm=$1 dir=$OUT/$1/stage2 resume=()
  [ -f "$dir/trainer.json" ] && resume=(--resume)
  if [ -f "$dir/trainer.json" ] && grep -q "\"step\": $STEPS," "$dir/trainer.json"; then return; fi
  # shellcheck disable=SC2046
  d2c train stage2 --cache "$CACHE" --out "$dir" "${COMMON[@]}" $(arm_args "$arm") "${resume[@]}"
  if [ "$arm" = mar-only ]; then
    d2c pack --kl "$KL" --stage2 "$dir" --cache "$CACHE" --out "$OUT/$arm/model" --name "study-$arm"
  else
    d2c pack --vq "$VQ" --kl "$KL" --stage1 "$STAGE1" --stage2 "$dir" --cache "$CACHE" --out "$OUT/$arm/model" \
      --name "study-$arm" --stage1-cfg 2 --stage2-cfg 3 --stage2-clip 4
  fi
}

# One evaluation: eval_one ARM NAME FLAGS... → $OUT/ARM/eval/NAME/report.json (seconds included).
eval_one() {
  local arm=$1 name=$2
  shift 2
  local dir=$OUT/$arm/eval/$name
  [ -f "$dir/report.json" ] && return
  d2c eval --model "$OUT/$arm/model" --n "$N" --seed 0 --threads "$THREADS" --out "$dir" "$@"
}

eval_arm() {
  local arm=$1
  if [ "$arm" = stage1-only ]; then
    eval_one qformer stage1-only --stage1-only # any D2C arm: they share stage 1
    return
  fi
  for s in 1 2 4 8; do eval_one "$arm" "ar${s}-d25" --steps "$s" --diffusion-steps 25; done
  eval_one "$arm" ar8-d50 --steps 8 --diffusion-steps 50
  if [ "$arm" != mar-only ]; then eval_one "$arm" oracle-ar8-d25 --oracle --steps 8 --diffusion-steps 25; fi
}

# The x̂₀ clip (d2c.json's stage2.clip 4) against none, on one arm.
eval_clip() {
  eval_one "$1" ar8-d25-clip0 --steps 8 --diffusion-steps 25 --stage2-clip 0
  eval_one "$1" oracle-ar8-d25-clip0 --oracle --steps 8 --diffusion-steps 25 --stage2-clip 0
}

cmd=${1:-}
shift || true
case "$cmd" in
  train) for a in "$@"; do train_arm "$a"; done ;;
  eval) for a in "$@"; do eval_arm "$a"; done ;;
  clip) eval_clip "$1" ;;
  report) node --import tsx scripts/study_report.ts "$OUT" docs/study ;;
  *) sed -n 2,9p "$0"; exit 2 ;;
esac
