#!/usr/bin/env bash
# FID/KID of the shipped model under each stage-2 speed setting (issue 30): `d2c eval --n N` at
# each seed for each named setting, skipping what exists, one after another at --threads 1.
#   scripts/stage2_speed_evals.sh OUT [N=1000] [SEEDS="0 1000 2000 3000"] [SETTING ...]
# MODEL=DIR evaluates another model folder than the shipped one.
# Settings: the names below. Today's defaults and stage 1 alone at these seeds are in
# docs/study/README.md (scripts/stage2_vs_stage1.sh), and sampling is deterministic per seed.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?output folder}
N=${2:-1000}
SEEDS=${3:-0 1000 2000 3000}
shift $(($# < 3 ? $# : 3))
declare -A SET=(
  [ddim25]="--diffusion-sampler ddim --diffusion-steps 25"
  [ddim10]="--diffusion-sampler ddim --diffusion-steps 10"
  [dpm10]="--diffusion-sampler dpm-solver++ --diffusion-steps 10"
  [disa25to5]="--diffusion-steps 25 --final-diffusion-steps 5"
  [ar1-dpm4]="--steps 1 --diffusion-sampler dpm-solver++ --diffusion-steps 4"
  [ar2-dpm4to2]="--steps 2 --diffusion-sampler dpm-solver++ --diffusion-steps 4 --final-diffusion-steps 2"
  [ar1-ddim4]="--steps 1 --diffusion-sampler ddim --diffusion-steps 4"
  [ar1-anc4]="--steps 1 --diffusion-steps 4"
  [ar2-anc4]="--steps 2 --diffusion-steps 4"
  [ar2-ddim4]="--steps 2 --diffusion-sampler ddim --diffusion-steps 4"
  [ar4-anc4]="--steps 4 --diffusion-steps 4"
  [ar2-ddim8]="--steps 2 --diffusion-sampler ddim --diffusion-steps 8"
  [ar1-ddim8]="--steps 1 --diffusion-sampler ddim --diffusion-steps 8"
  [ar4-ddim8]="--steps 4 --diffusion-sampler ddim --diffusion-steps 8"
  [ar2-disa25to5]="--steps 2 --diffusion-steps 25 --final-diffusion-steps 5"
  [ar2-disa15to3]="--steps 2 --diffusion-steps 15 --final-diffusion-steps 3"
  [disa25to5-bf16head]="--diffusion-steps 25 --final-diffusion-steps 5 --head-precision bf16"
  [ar2-disa25to5-bf16head]="--steps 2 --diffusion-steps 25 --final-diffusion-steps 5 --head-precision bf16"
  [disa25to5-bf16head-distilled]="--diffusion-steps 25 --final-diffusion-steps 5 --head-precision bf16 --head-guidance distilled"
  [ar2-disa25to5-bf16head-distilled]="--steps 2 --diffusion-steps 25 --final-diffusion-steps 5 --head-precision bf16 --head-guidance distilled"
)
MODEL_ARGS=()
[ -n "${MODEL:-}" ] && MODEL_ARGS=(--model "$MODEL")
NAMES=("$@")
[ ${#NAMES[@]} -eq 0 ] && NAMES=("${!SET[@]}")
for s in $SEEDS; do
  for name in "${NAMES[@]}"; do
    dir=$OUT/$name-s$s
    if [ -f "$dir/report.json" ]; then continue; fi
    # two-pass guidance unless the setting names the head's guidance (the model's default may be the distilled head)
    flags=${SET[$name]}
    [[ $flags == *--head-guidance* ]] || flags="$flags --head-guidance cfg"
    # shellcheck disable=SC2086
    node --single-threaded-gc --import tsx src/cli/main.ts eval "${MODEL_ARGS[@]}" --n "$N" --seed "$s" --threads 1 --out "$dir" $flags > /dev/null
  done
done
