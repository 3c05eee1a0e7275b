// Fréchet distance between Gaussians fitted to feature sets (Heusel et al. 2017, "FID"):
//   d² = |mu1 - mu2|² + tr(S1) + tr(S2) - 2 tr((S1 S2)^½)
// pytorch-fid (src/pytorch_fid/fid_score.py) takes scipy.linalg.sqrtm of the non-symmetric
// product S1 S2. Its trace equals tr((√S1 S2 √S1)^½), the root of a symmetric PSD matrix, so
// we use two symmetric eigen-decompositions (LAPACK syevd via aten::linalg_eigh) in float64:
// exact for singular covariances too, where the Schur-based sqrtm can lose digits.

import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import { loadNpz, saveNpz } from './npz.ts';

/** Mean and covariance of a feature set, as stored in FID stats files. */
export interface FeatureStats {
  mu: Tensor; // [D] float64
  sigma: Tensor; // [D, D] float64
}

/** mu and the unbiased covariance (np.cov(rowvar=False)) of features [N, D], in float64. */
export function featureStats(features: Tensor): FeatureStats {
  const [n, d] = features.shape;
  if (features.ndim !== 2) throw new Error(`featureStats: expected features [N, D], got [${features.shape}]`);
  if (n < 2) throw new Error(`featureStats: need at least 2 samples for a covariance, got ${n} (D=${d})`);
  return torch.tidy(() => {
    const x = features.to('float64');
    const mu = x.mean(0);
    const xc = x.sub(mu); // [N, D]
    const sigma = xc
      .t()
      .matmul(xc)
      .div(n - 1); // [D, D]
    return { mu, sigma };
  });
}

/** Symmetric square root V diag(√λ₊) Vᵀ of a symmetric PSD matrix (negative round-off clamped). */
export function sqrtmPsd(a: Tensor): Tensor {
  return torch.tidy(() => {
    const sym = a.add(a.t()).mul(0.5);
    const [evals, evecs] = torch.callOp<[Tensor, Tensor]>('aten::linalg_eigh', sym, 'L');
    return evecs.mul(evals.clamp(0, null).sqrt().unsqueeze(0)).matmul(evecs.t()); // V diag(√λ) Vᵀ
  });
}

/** tr((S1 S2)^½) via the eigenvalues of √S1 S2 √S1; also its smallest eigenvalue relative to the largest. */
function traceSqrtProduct(s1: Tensor, s2: Tensor): { trace: number; minRel: number } {
  return torch.tidy(() => {
    const r1 = sqrtmPsd(s1);
    const m = r1.matmul(s2).matmul(r1);
    const evals = torch.callOp('aten::linalg_eigvalsh', m.add(m.t()).mul(0.5), 'L');
    const max = Math.max(evals.max().item(), Number.MIN_VALUE);
    return { trace: evals.clamp(0, null).sqrt().sum().item(), minRel: evals.min().item() / max };
  });
}

export interface FrechetResult {
  fid: number;
  /** Whether eps·I was added to both covariances (pytorch-fid's fallback). */
  offsetUsed: boolean;
}

/**
 * Fréchet distance between N(mu1, s1) and N(mu2, s2), in float64.
 * As pytorch-fid does when sqrtm fails, eps·I is added to both covariances when the product is
 * numerically indefinite (an eigenvalue below -1e-8 of the largest: a covariance that is not PSD)
 * or the result is not finite.
 */
export function frechetDistance(a: FeatureStats, b: FeatureStats, eps = 1e-6): FrechetResult {
  const d = a.mu.shape[0];
  for (const [what, s] of [
    ['a', a],
    ['b', b],
  ] as const) {
    if (s.mu.ndim !== 1 || JSON.stringify(s.sigma.shape) !== JSON.stringify([d, d])) {
      throw new Error(
        `frechetDistance: stats ${what} have mu [${s.mu.shape}] and sigma [${s.sigma.shape}], expected [${d}] and [${d}, ${d}]`,
      );
    }
  }
  return torch.tidy(() => {
    const mu1 = a.mu.to('float64');
    const mu2 = b.mu.to('float64');
    const s1 = a.sigma.to('float64');
    const s2 = b.sigma.to('float64');
    const diff = mu1.sub(mu2);
    const base = diff.square().sum().item() + trace(s1) + trace(s2);
    let { trace: tr, minRel } = traceSqrtProduct(s1, s2);
    let offsetUsed = false;
    if (!Number.isFinite(tr) || minRel < -1e-8) {
      const offset = torch.eye(d, { dtype: 'float64' }).mul(eps);
      ({ trace: tr } = traceSqrtProduct(s1.add(offset), s2.add(offset)));
      offsetUsed = true;
    }
    const fid = base - 2 * tr;
    if (!Number.isFinite(fid)) throw new Error(`frechetDistance: result is not finite (${fid}); check the stats for NaN/Inf`);
    return { fid, offsetUsed };
  });
}

function trace(m: Tensor): number {
  return torch.tidy(() => torch.callOp('aten::trace', m).item());
}

/** Reads FID stats (`mu`, `sigma`) from an `.npz`, as pytorch-fid's `--save-stats` writes them. */
export function loadStats(path: string): FeatureStats {
  const arrays = loadNpz(path);
  const mu = arrays.get('mu');
  const sigma = arrays.get('sigma');
  if (!mu || !sigma) {
    torch.dispose([...arrays.values()]);
    throw new Error(`loadStats: ${path} has arrays [${[...arrays.keys()].join(', ')}], expected mu and sigma`);
  }
  for (const [k, t] of arrays) if (k !== 'mu' && k !== 'sigma') t.dispose();
  return { mu, sigma };
}

/** Writes FID stats as an `.npz` with float64 `mu` and `sigma`. */
export function saveStats(path: string, stats: FeatureStats): void {
  torch.tidy(() => saveNpz(path, { mu: stats.mu.to('float64'), sigma: stats.sigma.to('float64') }));
}
