// The dry run's estimate of a sample's FLOPs at more steps than it ran (dry_run_sample.ts): the
// shipped model sampled at 2 AR × 4 diffusion steps, its parts scaled to 16 × 25, against a sample
// counted at 16 × 25.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sampleFlopsAt } from '../src/cli/dry_run_sample.ts';
import { D2C } from '../src/pipeline/d2c.ts';
import * as torch from '../src/torch/index.ts';

function countedSample(m: D2C, steps: number, diffusionSteps: number): number {
  const count = torch.startFlopCount();
  // constant diffusion steps (the model's default anneals them: DiSA)
  const stage2 = { steps, diffusionSteps, finalDiffusionSteps: diffusionSteps };
  torch.dispose(m.generate({ classes: [0, 5], seed: 0, stage2 }));
  return count.stop();
}

test('a sample at 2 × 4 steps, scaled by its parts, estimates the FLOPs of one at 16 × 25 within 3%', () => {
  torch.setNumThreads(1);
  const small = D2C.fromPretrained('models/d2c-fmnist');
  const parts = sampleFlopsAt(small, { steps: 2, diffusionSteps: 4 });
  const measured = countedSample(small, 2, 4);
  assert.equal(parts.at(2, 4, measured), measured, 'at the steps it ran, the estimate is the measurement');
  const estimate = parts.at(16, 25, measured);
  const actual = countedSample(D2C.fromPretrained('models/d2c-fmnist'), 16, 25);
  assert.ok(estimate > 2 * measured, `the estimate ${estimate} barely grew from ${measured}`);
  // attention's quadratic share, taken as linear in the encoder's tokens, is all that is left out
  const error = (estimate - actual) / actual;
  assert.ok(Math.abs(error) < 0.03, `estimate ${estimate} vs counted ${actual}: ${(100 * error).toFixed(1)}%`);
});
