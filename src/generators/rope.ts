// 2-D rotary position embedding over the token grid, as LlamaGen computes it
// (FoundationVision/LlamaGen autoregressive/models/gpt.py: precompute_freqs_cis_2d, apply_rotary_emb).
//
// Each head dimension is split into pairs (x[2j], x[2j+1]) rotated by an angle. The first half of
// the pairs turns with the token's grid row, the second half with its column. The class-prefix
// positions get cos = sin = 0: LlamaGen's table holds zeros there, which zeroes the prefix's
// queries and keys. We keep that, so public checkpoints give the same logits.

import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

/** Rotations e^{iθ} as complex64 [P, 1, Dh/2], one row per sequence position (class prefix first). */
export interface Rope2d {
  readonly cis: Tensor;
}

/**
 * Tables for a `gridSize`×`gridSize` grid after `prefix` class tokens, head size `headDim`
 * (a multiple of 4: half the pairs per axis). Computed in float32 with torch ops, as the reference does.
 */
export function rope2d(gridSize: number, headDim: number, base: number, prefix: number): Rope2d {
  if (headDim % 4 !== 0) throw new Error(`rope2d: head size ${headDim} must be a multiple of 4 (pairs split over 2 axes)`);
  return torch.tidy(() => {
    const half = headDim / 2;
    // inverse frequencies base^(-2i/half), i < half/2                          // [Dh/4]
    const expo = torch.arange(0, half, 2, { dtype: 'float32' }).div(half);
    const invFreq = torch.callOp<Tensor>('aten::pow.Scalar', base, expo).reciprocal();
    const t = torch.arange(0, gridSize, 1, { dtype: 'float32' });
    const freqs = torch.F.outer(t, invFreq); // [g, Dh/4]
    const q = half / 2;
    // angle of pair j at cell (r, c): freqs[r, j] for j < Dh/4, freqs[c, j - Dh/4] after
    const angles = torch.cat(
      [freqs.view(gridSize, 1, q).expand(gridSize, gridSize, q), freqs.view(1, gridSize, q).expand(gridSize, gridSize, q)],
      -1,
    ); // [g, g, Dh/2]
    const flat = angles.reshape(gridSize * gridSize, 1, half); // [N, 1, Dh/2]
    const grid = torch.callOp<Tensor>('aten::complex', flat.cos(), flat.sin());
    const zeros = torch.zeros([prefix, 1, half], { dtype: 'complex64' });
    return { cis: torch.cat([zeros, grid], 0) }; // [P, 1, Dh/2]
  });
}

/** Rows `start..start+len` of the tables (views). */
export function ropeRows(r: Rope2d, start: number, len: number): Rope2d {
  return { cis: r.cis.narrow(0, start, len) };
}

/**
 * Rotates x [B, L, H, Dh] by the tables' rows for its L positions ([L, 1, Dh/2]):
 * (x0, x1) → (x0·c − x1·s, x1·c + x0·s), LlamaGen's apply_rotary_emb, as one complex product
 * over the pairs viewed as complex numbers (no copies for a pair-contiguous x, one kernel).
 */
export function applyRope(x: Tensor, r: Rope2d): Tensor {
  const shape = x.shape;
  const dh = shape[shape.length - 1];
  // LlamaGen rotates in float32 and gives half-precision models their dtype back
  const xf = x.dtype === 'float32' ? x : x.float();
  const pairs = torch.callOp<Tensor>('aten::view_as_complex', xf.reshape(...shape.slice(0, -1), dh / 2, 2));
  const out = torch.callOp<Tensor>('aten::view_as_real', pairs.mul(r.cis)).view(...shape);
  return out.dtype === x.dtype ? out : out.to(x.dtype);
}
