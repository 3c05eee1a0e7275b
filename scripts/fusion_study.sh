#!/usr/bin/env bash
# The paper's fusions made to work (docs/study/README.md, "The paper's fusions"): each variant of
# crossattn and qformer trained on the shipped Fashion-MNIST tokenizers, token cache and stage 1,
# with the shipped add stage 2's recipe and budget, packed as a model folder and evaluated.
#   scripts/fusion_study.sh cache          build the token cache from the shipped VQ and KL
#   scripts/fusion_study.sh train ARM...   train arms (resumes a checkpoint that exists)
#   scripts/fusion_study.sh eval ARM...    oracle (n 500) and generated (n 1000, seed 0) evaluations
#   scripts/fusion_study.sh report         a Markdown table of every evaluated arm
# Arms: add, xa (crossattn as before), xa-gate, xa-gate-tied, xa-gate-tied-lr4, xa-gate-matched(-lr4)
# (each transformer's own positions added to F, keys initialised as queries), xa-gate-matched-w1-lr4
# (and -w2: local cross-attention, each grid token sees the cells within 1 (2) of its own), xa-w1
# (local only: no gate, own positions), xa-w1-self2 (xa-w1 with a fixed +2 logit on each token's own
# cell: crossSelfBias), qf (qformer as before), qf-cell (one query per grid cell, from MAR's positions, added per cell, gated), qf-cell-lr4, qf-w1 (one query per cell, added per cell, each reading only the codes within one cell of its own; no gate), qf-w1-self2 (qf-w1 with the own-cell prior).
# Environment: STEPS (1000 for the ablation; 4500 = the shipped add model's matched budget),
# EMA (0.995 at 1000 steps, 0.999 at 4500), OUT (runs/fusion-STEPS), THREADS (1).
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-1000}
EMA=${EMA:-0.995}
OUT=${OUT:-runs/fusion-$STEPS}
THREADS=${THREADS:-1}
MODEL=models/d2c-fmnist
CACHE=${CACHE:-runs/fmnist-cache}
d2c() { node --single-threaded-gc --import tsx src/cli/main.ts "$@"; }

# The shipped stage 2's command (models/d2c-fmnist/README.md) without its fusion.
COMMON=(--preset mar_fmnist --set encoderEmbedDim=128 --set decoderEmbedDim=128 --set discEmbedDim=128
  --set difflossD=2 --set diffusionBatchMul=2 --set vaeEmbedDim=8 --set codebookSize=256
  --set 'numSamplingSteps="50"' --set codeCorruptProb=0.05 --steps "$STEPS" --batch-size 32 --lr 6e-4
  --ema "$EMA" --seed 0 --threads "$THREADS" --log-every 100 --save-every 250)
GATE=(--set fusionGate=true)
GLOBAL=(--set crossWindow=0 --set crossSelfBias=0) # the attention fusions' default is local now; these arms were global attention
NOBIAS=(--set crossSelfBias=0) # crossattn's default favours the own cell now; these local arms did not
TIED=(--set 'fusionPos="tied"')
MATCHED=(--set 'fusionPos="matched"')
CELL=(--set qformerQueries=64 --set 'qformerPlace="add"')

arm_args() {
  case "$1" in
    add) echo --fusion add ;;
    xa) echo --fusion crossattn "${GLOBAL[@]}" ;;
    xa-gate) echo --fusion crossattn "${GLOBAL[@]}" "${GATE[@]}" ;;
    xa-gate-tied) echo --fusion crossattn "${GLOBAL[@]}" "${GATE[@]}" "${TIED[@]}" ;;
    xa-gate-tied-lr4) echo --fusion crossattn "${GLOBAL[@]}" "${GATE[@]}" "${TIED[@]}" --set fusionLrScale=4 ;;
    xa-gate-matched) echo --fusion crossattn "${GLOBAL[@]}" "${GATE[@]}" "${MATCHED[@]}" ;;
    xa-gate-matched-lr4) echo --fusion crossattn "${GLOBAL[@]}" "${GATE[@]}" "${MATCHED[@]}" --set fusionLrScale=4 ;;
    xa-gate-matched-w1-lr4) echo --fusion crossattn "${GATE[@]}" "${MATCHED[@]}" "${NOBIAS[@]}" --set crossWindow=1 --set fusionLrScale=4 ;;
    xa-gate-matched-w2-lr4) echo --fusion crossattn "${GATE[@]}" "${MATCHED[@]}" "${NOBIAS[@]}" --set crossWindow=2 --set fusionLrScale=4 ;;
    xa-w1) echo --fusion crossattn "${NOBIAS[@]}" --set crossWindow=1 ;;
    xa-w1-self2) echo --fusion crossattn --set crossWindow=1 --set crossSelfBias=2 ;;
    qf) echo --fusion qformer "${GLOBAL[@]}" --set 'qformerPlace="buffer"' ;;
    qf-cell) echo --fusion qformer "${GLOBAL[@]}" "${CELL[@]}" "${TIED[@]}" "${GATE[@]}" ;;
    qf-cell-lr4) echo --fusion qformer "${GLOBAL[@]}" "${CELL[@]}" "${TIED[@]}" "${GATE[@]}" --set fusionLrScale=4 ;;
    qf-w1) echo --fusion qformer "${CELL[@]}" "${NOBIAS[@]}" --set crossWindow=1 ;;
    qf-w1-self2) echo --fusion qformer "${CELL[@]}" --set crossWindow=1 --set crossSelfBias=2 ;;
    *) echo "unknown arm '$1'" >&2; exit 2 ;;
  esac
}

build_cache() {
  [ -f "$CACHE/meta.json" ] && return
  d2c cache --vq "$MODEL/vq" --kl "$MODEL/kl" --out "$CACHE" --threads "$THREADS"
}

# The shipped model's sampling settings as the ablation began, so every arm samples as the add arm did.
# (constant 25 head steps and a float32 head, as every arm so far was scored: not the later defaults)
SAMPLING=(--stage1-cfg 1.5 --stage2-cfg 3 --steps 4 --diffusion-steps 25 --final-diffusion-steps 25 --stage2-clip 4 --head-precision fp32)

train_arm() {
  local arm=$1 dir=$OUT/$1/stage2 resume=()
  if [ -f "$dir/trainer.json" ] && grep -q "\"step\": $STEPS," "$dir/trainer.json"; then return; fi
  [ -f "$dir/trainer.json" ] && resume=(--resume)
  # shellcheck disable=SC2046
  d2c train stage2 --cache "$CACHE" --out "$dir" "${COMMON[@]}" $(arm_args "$arm") "${resume[@]}"
  d2c pack --vq "$MODEL/vq" --kl "$MODEL/kl" --stage1 "$MODEL/stage1" --stage2 "$dir" --cache "$CACHE" \
    --out "$OUT/$arm/model" --name "d2c-fmnist-$arm" --fp16 "${SAMPLING[@]}"
}

eval_arm() {
  local arm=$1 dir=$OUT/$1/eval
  # the sampling is given in full, so a model packed before DiSA's default samples the same way
  [ -f "$dir/oracle/report.json" ] || d2c eval --model "$OUT/$arm/model" --oracle --n 500 --seed 0 --threads "$THREADS" "${SAMPLING[@]}" --out "$dir/oracle"
  [ -f "$dir/s0/report.json" ] || d2c eval --model "$OUT/$arm/model" --n 1000 --seed 0 --threads "$THREADS" "${SAMPLING[@]}" --out "$dir/s0"
}

cmd=${1:-}
shift || true
case "$cmd" in
  cache) build_cache ;;
  train) build_cache; for a in "$@"; do train_arm "$a"; done ;;
  eval) for a in "$@"; do eval_arm "$a"; done ;;
  report)
    node -e '
      const fs = require("fs");
      const out = process.argv[1];
      const read = (p) => (fs.existsSync(p) ? JSON.parse(fs.readFileSync(p, "utf8")) : null);
      console.log("| arm | stage-2 params | oracle PSNR (bound) | oracle FID | FID (n 1000, seed 0) | KID | recall | s / image |");
      console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
      for (const arm of fs.readdirSync(out).sort()) {
        const o = read(`${out}/${arm}/eval/oracle/report.json`);
        const g = read(`${out}/${arm}/eval/s0/report.json`);
        if (!o && !g) continue;
        const k = (r, p) => (r ? Object.keys(r.metrics).find((n) => n.startsWith(p)) : null);
        const f = (r, p, d = 2) => (r && k(r, p) ? r.metrics[k(r, p)].toFixed(d) : "");
        const bound = o ? `${o.metrics.psnr.toFixed(2)} dB (${(o.metrics.vq_recon_psnr - 3.01).toFixed(2)})` : "";
        const card = fs.readFileSync(`${out}/${arm}/model/README.md`, "utf8");
        const params = /\| stage2 \| mar \| [^|]+ \| ([\d.]+M) \|/.exec(card)?.[1] ?? "";
        const sec = g ? (g.seconds.sampling / g.n).toFixed(4) : "";
        console.log(`| ${arm} | ${params} | ${bound} | ${f(o, "fid_")} | ${f(g, "fid_")} | ${f(g, "kid_")} | ${f(g, "recall_", 3)} | ${sec} |`);
      }' "$OUT" ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
