// The dry run's sample on the CPU takes a few steps, not MAR's 64 AR × 100 diffusion steps; its
// FLOPs at MAR's sampler are estimated from the measured parts. The diffusion head runs once per
// diffusion step for each token (each token is drawn once): it scales with the diffusion steps.
// The MAR decoder sees every token at every AR step: it scales with the AR steps. The encoder sees
// the buffer and the tokens known so far (MaskGIT's cosine schedule): it scales with the sum of
// those counts over the steps (its attention's quadratic share, a few %, is taken as linear). The
// rest (stage 1, the conditions, the decoders) does not change.
import { maskSchedule } from '../generators/schedules.ts';
import type { D2C } from '../pipeline/d2c.ts';
import * as torch from '../torch/index.ts';

export interface SampleFlopParts {
  /** FLOPs of the sample (its `measured` total) at `steps` AR × `diffusionSteps` diffusion steps (constant, as it ran). */
  at(steps: number, diffusionSteps: number, measured: number): number;
}

/** Counts the encoder's, decoder's and head's FLOPs of `m`'s next generations, which run at `ran`. */
export function sampleFlopsAt(m: D2C, ran: { steps: number; diffusionSteps: number }): SampleFlopParts {
  const mar = m.stage2;
  const counts = { encoder: 0, decoder: 0, head: 0 };
  // nested counts: each also adds to the sample's total count
  const count = <A extends unknown[], R>(f: (...a: A) => R, part: keyof typeof counts) => {
    return (...a: A): R => {
      const c = torch.startFlopCount();
      try {
        return f(...a);
      } finally {
        counts[part] += c.stop();
      }
    };
  };
  mar.forwardMaeEncoder = count(mar.forwardMaeEncoder.bind(mar), 'encoder');
  mar.forwardMaeDecoder = count(mar.forwardMaeDecoder.bind(mar), 'decoder');
  mar.diffloss.sample = count(mar.diffloss.sample.bind(mar.diffloss), 'head');
  const L = mar.seqLen;
  const always = mar.cfg.bufferSize + (mar.cfg.fusion === 'prefix' ? L : 0);
  /** Tokens the encoder sees over a whole sample of `steps` AR steps. */
  const encoderTokens = (steps: number) =>
    maskSchedule(L, steps).reduce((sum, _, k, plan) => sum + always + L - (k === 0 ? L : plan[k - 1]), 0);
  return {
    at(steps, diffusionSteps, measured) {
      const { encoder, decoder, head } = counts;
      const rest = measured - encoder - decoder - head;
      return (
        rest +
        (encoder * encoderTokens(steps)) / encoderTokens(ran.steps) +
        (decoder * steps) / ran.steps +
        (head * diffusionSteps) / ran.diffusionSteps
      );
    },
  };
}
