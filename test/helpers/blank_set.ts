// A reference image set of n black 32×32 grayscale images in classes a and b, for tests whose
// subject is the evaluation's plumbing, not its figures.
import type { ArrayImageSet } from '../../src/data/dataset.ts';

export function blankImageSet(n: number): ArrayImageSet {
  return {
    kind: 'array',
    name: 'zeros',
    classes: ['a', 'b'],
    channels: 1,
    size: 32,
    labels: new Int32Array(n),
    pixels: new Uint8Array(n * 32 * 32),
  };
}
