// Sample-quality metrics on feature vectors and class probabilities of a FeatureNetwork:
// KID (Bińkowski et al. 2018), Inception Score (Salimans et al. 2016) and precision/recall
// (Kynkäänniemi et al. 2019). The Fréchet distance is in frechet.ts.

import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import { numpyPermutation } from './numpy_random.ts';

export interface MeanStd {
  mean: number;
  std: number;
}

function meanStd(v: number[]): MeanStd {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  // Population std (np.std, ddof=0), as torch-fidelity and the IS reference code report.
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { mean, std };
}

/**
 * Kernel Inception Distance: the unbiased MMD² with the cubic polynomial kernel
 * k(x, y) = (x·y / d + 1)³, over `subsets` random subsets of `subsetSize` from each set
 * (torch-fidelity metric_kid.py; ADM evaluator's kernel_distance). Float64.
 */
export function kernelDistance(
  a: Tensor,
  b: Tensor,
  opts: { subsets?: number; subsetSize?: number; generator?: torch.Generator } = {},
): MeanStd & { values: number[] } {
  const [na, d] = a.shape;
  const nb = b.shape[0];
  if (a.ndim !== 2 || b.ndim !== 2 || b.shape[1] !== d)
    throw new Error(`kernelDistance: expected features [N, D] and [M, D], got [${a.shape}] and [${b.shape}]`);
  const m = Math.min(na, nb, opts.subsetSize ?? 1000);
  if (m < 2) throw new Error(`kernelDistance: need at least 2 samples per set, got ${na} and ${nb}`);
  const subsets = opts.subsets ?? 100;
  const g = opts.generator ?? new torch.Generator(0);
  const values: number[] = [];
  for (let s = 0; s < subsets; s++) {
    values.push(
      torch.tidy(() => {
        const x = a.indexSelect(0, torch.randperm(na, { generator: g }).narrow(0, 0, m)).to('float64'); // [m, D]
        const y = b.indexSelect(0, torch.randperm(nb, { generator: g }).narrow(0, 0, m)).to('float64');
        const k = (p: Tensor, q: Tensor) => p.matmul(q.t()).div(d).add(1).pow(3); // [m, m]
        const offDiag = (kk: Tensor) => kk.sum().sub(torch.callOp('aten::trace', kk));
        const kxx = offDiag(k(x, x)).div(m * (m - 1));
        const kyy = offDiag(k(y, y)).div(m * (m - 1));
        const kxy = k(x, y)
          .sum()
          .mul(2 / (m * m));
        return kxx.add(kyy).sub(kxy).item();
      }),
    );
  }
  return { ...meanStd(values), values };
}

/**
 * Inception Score exp(E_x KL(p(y|x) ‖ p(y))), computed on `splits` consecutive chunks
 * [i·N/splits, (i+1)·N/splits) and reported as mean ± std over them (Salimans et al.;
 * openai/improved-gan inception_score.py and torch-fidelity metric_isc.py split the same way).
 * With `shuffleSeed`, the rows are first permuted by numpy.random.RandomState(seed).permutation(N),
 * as torch-fidelity does with seed 2020, so its chunks hold the same samples.
 */
export function inceptionScore(probs: Tensor, splits = 10, opts: { shuffleSeed?: number } = {}): MeanStd {
  const [n, k] = probs.shape;
  if (probs.ndim !== 2) throw new Error(`inceptionScore: expected probabilities [N, K], got [${probs.shape}]`);
  if (!Number.isInteger(splits) || splits < 1 || splits > n)
    throw new Error(`inceptionScore: splits must be an integer in 1..${n} (N), got ${splits}`);
  const scores: number[] = [];
  torch.tidy(() => {
    const all =
      opts.shuffleSeed === undefined
        ? probs
        : probs.indexSelect(0, torch.fromBuffer(numpyPermutation(n, opts.shuffleSeed), [n], 'int32').to('int64'));
    for (let s = 0; s < splits; s++) {
      const lo = Math.floor((s * n) / splits);
      const per = Math.floor(((s + 1) * n) / splits) - lo;
      scores.push(
        torch.tidy(() => {
          const p = all.narrow(0, lo, per).to('float64'); // [per, K]
          const py = p.mean(0, true).expand(per, k); // [per, K]
          // xlogy gives 0·log 0 = 0 for classes a sample (or the marginal) never predicts.
          const kl = torch
            .callOp('aten::xlogy.Tensor', p, p)
            .sub(torch.callOp('aten::xlogy.Tensor', p, py))
            .sum(1);
          return Math.exp(kl.mean().item());
        }),
      );
    }
  });
  return meanStd(scores);
}

/** Distance from each row of `x` to its k-th nearest neighbour in `x` itself (self excluded). */
export function knnRadii(x: Tensor, k = 3, rowBatch = 1000): Tensor {
  const n = x.shape[0];
  if (n <= k) throw new Error(`knnRadii: need more than k=${k} samples, got ${n}`);
  const parts: Tensor[] = [];
  for (let s = 0; s < n; s += rowBatch) {
    const b = Math.min(rowBatch, n - s);
    // The (k+1)-th smallest distance: the smallest is the point itself at 0.
    parts.push(
      torch.tidy(() => torch.callOp<[Tensor, Tensor]>('aten::kthvalue', torch.F.cdist(x.narrow(0, s, b), x), k + 1, 1, false)[0]),
    );
  }
  const r = torch.cat(parts, 0); // [N]
  torch.dispose(parts);
  return r;
}

/** Fraction of `queries` inside the k-NN manifold of `support`: within radius_i of some support point i. */
export function manifoldCoverage(queries: Tensor, support: Tensor, supportRadii: Tensor, rowBatch = 1000): number {
  const n = queries.shape[0];
  let inside = 0;
  for (let s = 0; s < n; s += rowBatch) {
    const b = Math.min(rowBatch, n - s);
    inside += torch.tidy(() => {
      const d = torch.F.cdist(queries.narrow(0, s, b), support); // [b, M]
      return torch
        .callOp('aten::any.dim', d.le(supportRadii.unsqueeze(0)), 1, false)
        .sum()
        .item();
    });
  }
  return inside / n;
}

/**
 * Improved precision and recall (Kynkäänniemi et al. 2019, k = 3): precision is the fraction of
 * generated samples inside the real manifold (union of k-NN balls of the real features), recall
 * the fraction of real samples inside the generated manifold.
 */
export function precisionRecall(real: Tensor, fake: Tensor, k = 3): { precision: number; recall: number } {
  if (real.ndim !== 2 || fake.ndim !== 2 || real.shape[1] !== fake.shape[1])
    throw new Error(`precisionRecall: expected features [N, D] and [M, D], got [${real.shape}] and [${fake.shape}]`);
  return torch.tidy(() => {
    const r = real.to('float32');
    const f = fake.to('float32');
    const realRadii = knnRadii(r, k);
    const fakeRadii = knnRadii(f, k);
    return { precision: manifoldCoverage(f, r, realRadii), recall: manifoldCoverage(r, f, fakeRadii) };
  });
}
