// MAR sampling (LTH14/mar models/mar.py `sample_tokens`): start fully masked, and over `numIter`
// steps predict the next group of tokens in a random order, the number still masked following
// a cosine schedule (MaskGIT/MAGE), at least one token per step. Each predicted token's latent
// is drawn by the diffusion head, with classifier-free guidance whose scale ramps linearly with
// the fraction generated (Muse) or stays constant. With a D2C fusion the stage-1 codes condition
// every step; the unconditional branch drops the class, the codes, or both (`cfgDrop`). With a
// distilled head (`headGuidance: 'distilled'`) there is no unconditional branch: the head takes the
// scale as an input, and the transformer runs once per step on the conditional rows alone.

import type { Generator, Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import { type MAR, maskByOrder } from './mar.ts';
import { annealedDiffusionSteps, cfgAt, type DiffusionSampler, type HeadGuidance, maskSchedule } from './schedules.ts';

export { cfgAt, maskSchedule } from './schedules.ts';

export interface SampleOpts {
  /** Class labels [B] (int64); absent = unconditional (fake_latent). */
  labels?: Tensor | null;
  /** Stage-1 codes [B, L] (int64), required with a fusion. */
  codes?: Tensor | null;
  numIter?: number;
  cfg?: number;
  cfgSchedule?: 'linear' | 'constant';
  /** What the unconditional CFG branch drops: the class, the codes, or both (default). */
  cfgDrop?: 'both' | 'class' | 'codes';
  temperature?: number;
  /** Bound on the diffusion head's x̂₀ (0: off, the reference's sampling); see diffusion.ts. */
  clip?: number;
  /** Steps of the diffusion head's sampler (the schedule respaced); default: the config's numSamplingSteps. */
  diffusionSteps?: number;
  /** Diffusion steps at the last AR step, annealed linearly from `diffusionSteps` at the first (DiSA); absent: none. */
  finalDiffusionSteps?: number;
  /** The diffusion head's sampler (default `ancestral`, MAR's). */
  diffusionSampler?: DiffusionSampler;
  /** The diffusion head's compute precision (default fp32; see DiffLoss.sample). */
  headPrecision?: torch.Precision;
  /** How guidance is applied: `cfg` (default), or `distilled` (the distilled head; cfgDrop must stay 'both'). */
  headGuidance?: HeadGuidance;
  generator?: Generator;
  /** Called after each step with (step, numIter). */
  progress?: (step: number, total: number) => void;
  /** An AbortSignal, or anything whose throwIfAborted throws once the work should stop: checked before each step. */
  signal?: Pick<AbortSignal, 'throwIfAborted'>;
}

/**
 * One step's masks: `toPred` [B, L] bool (the tokens this step generates) and `maskNext` [B, L]
 * float (still masked afterwards: the first maskLen positions of each order; none after the last step).
 */
export function stepMasks(mask: Tensor, orders: Tensor, maskLen: number, last: boolean): { toPred: Tensor; maskNext: Tensor } {
  const [B, L] = mask.shape;
  const maskNext = maskByOrder(orders, last ? 0 : maskLen, B, L);
  return { toPred: mask.ne(maskNext), maskNext }; // 0/1 masks: "differs" is xor
}

/** Generates latents [B, C, H, W] for `bsz` images. Runs without autograd, in eval mode. */
export function sampleTokens(model: MAR, bsz: number, o: SampleOpts = {}): Tensor {
  const numIter = o.numIter ?? 64;
  const cfg = o.cfg ?? 1;
  const schedule = o.cfgSchedule ?? 'linear';
  const drop = o.cfgDrop ?? 'both';
  const distilled = o.headGuidance === 'distilled';
  if (distilled) {
    model.diffloss.distilledNet(); // fails early, saying how to get one
    if (drop !== 'both') throw new Error(`sampleTokens: the distilled head learned guidance with cfgDrop 'both', not '${drop}'`);
  }
  // two transformer rows per image only when the head needs the unconditional z
  const doubled = cfg !== 1 && !distilled;
  const L = model.seqLen;
  const C = model.tokenEmbedDim;
  const device = model.fake_latent.device;
  const wasTraining = model.training;
  model.eval();
  try {
    // tidy: an abort or an error mid-loop frees the loop's tensors too.
    return torch.noGrad(() =>
      torch.tidy(() => {
        // The condition does not change across steps: embed the class and encode the codes once.
        const { classEmb, F } = torch.tidy(() => conditions(model, bsz, o, doubled, drop));
        let tokens = torch.zeros([bsz, L, C], { device });
        let mask = torch.ones([bsz, L], { device });
        const orders = model.sampleOrders(bsz, o.generator);
        const plan = maskSchedule(L, numIter);
        const firstSteps = o.diffusionSteps ?? model.diffloss.genDiffusion.numTimesteps;
        // without annealing, `undefined` keeps the config's respacing (which may not be evenly strided)
        const diffusionSteps =
          o.finalDiffusionSteps === undefined
            ? plan.map(() => o.diffusionSteps)
            : annealedDiffusionSteps(firstSteps, o.finalDiffusionSteps, numIter);
        for (let step = 0; step < numIter; step++) {
          o.signal?.throwIfAborted();
          const maskLen = plan[step];
          const [nextTokens, nextMask] = torch.tidy(() => {
            const tok = doubled ? torch.cat([tokens, tokens], 0) : tokens;
            const msk = doubled ? torch.cat([mask, mask], 0) : mask;
            const enc = model.forwardMaeEncoder(tok, msk, classEmb, F);
            const z = model.forwardMaeDecoder(enc, msk, F); // [B or 2B, L, Dd]
            const { toPred, maskNext } = stepMasks(mask, orders, maskLen, step === numIter - 1);
            const sel = doubled ? torch.cat([toPred, toPred], 0) : toPred;
            const zSel = z.index([sel]); // [n or 2n, Dd]: conditional rows, then unconditional
            if (zSel.shape[0] === 0) return [tokens.clone(), maskNext];
            const cfgIter = cfgAt(cfg, schedule, L, maskLen);
            const sampled = model.diffloss.sample(zSel, {
              temperature: o.temperature ?? 1,
              cfg: cfgIter, // 1 when unguided
              generator: o.generator,
              clip: o.clip ?? 0,
              steps: diffusionSteps[step],
              sampler: o.diffusionSampler,
              precision: o.headPrecision,
              guidance: o.headGuidance,
            });
            const next = torch.callOp<Tensor>('aten::index_put', tokens, [toPred], sampled, false);
            return [next, maskNext];
          });
          tokens.dispose();
          mask.dispose();
          tokens = nextTokens;
          mask = nextMask;
          o.progress?.(step + 1, numIter);
        }
        const out = model.unpatchify(tokens);
        torch.dispose([tokens, mask, orders, classEmb, F]);
        return out;
      }),
    );
  } finally {
    model.train(wasTraining);
  }
}

/** Class embeddings and code features for the batch, doubled (conditional, unconditional) under CFG. */
function conditions(
  model: MAR,
  B: number,
  o: SampleOpts,
  guided: boolean,
  drop: 'both' | 'class' | 'codes',
): { classEmb: Tensor; F: Tensor | null } {
  const fake = model.fake_latent.expand(B, model.cfg.encoderEmbedDim);
  const cls = o.labels ? model.class_emb.forward(o.labels) : fake;
  if (o.labels && o.labels.shape[0] !== B) throw new Error(`sampleTokens: ${o.labels.shape[0]} labels for batch ${B}`);
  let F: Tensor | null = null;
  if (model.cfg.fusion !== 'none') {
    if (!o.codes) throw new Error(`sampleTokens: fusion '${model.cfg.fusion}' needs stage-1 codes [B, ${model.seqLen}]`);
    if (o.codes.shape[0] !== B) throw new Error(`sampleTokens: ${o.codes.shape[0]} code grids for batch ${B}`);
    F = model.encodeCondition(o.codes);
  }
  if (!guided) return { classEmb: cls.contiguous(), F };
  const uncondCls = drop === 'codes' ? cls : fake;
  const uncondF = F && drop !== 'class' ? model.nullCondition(B) : F;
  return {
    classEmb: torch.cat([cls, uncondCls], 0),
    F: F && uncondF ? torch.cat([F, uncondF], 0) : null,
  };
}
