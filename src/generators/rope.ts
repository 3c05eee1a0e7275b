// 2-D rotary position embedding over the token grid, as LlamaGen computes it
// (FoundationVision/LlamaGen autoregressive/models/gpt.py: precompute_freqs_cis_2d, apply_rotary_emb).
//
// Each head dimension is split into pairs (x[2j], x[2j+1]) rotated by an angle. The first half of
// the pairs turns with the token's grid row, the second half with its column. The class-prefix
// positions get cos = sin = 0: LlamaGen's table holds zeros there, which zeroes the prefix's
// queries and keys. We keep that, so public checkpoints give the same logits.

import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';

/** Rotation tables, one row per sequence position (class prefix first), pairs interleaved. */
export interface Rope2d {
  /** [P, 1, Dh]: (cos θ, cos θ) for each pair */
  readonly cos: Tensor;
  /** [P, 1, Dh]: (−sin θ, sin θ) for each pair, so a rotation is x·cos + swapPairs(x)·sin */
  readonly sin: Tensor;
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
    const flat = angles.reshape(gridSize * gridSize, half); // [N, Dh/2]
    const cos = flat.cos();
    const sin = flat.sin();
    const pairs = (a: Tensor, b: Tensor) => torch.stack([a, b], -1).reshape(gridSize * gridSize, 1, headDim); // [N, 1, Dh]
    const zeros = torch.zeros([prefix, 1, headDim]);
    return {
      cos: torch.cat([zeros, pairs(cos, cos)], 0), // [P, 1, Dh]
      sin: torch.cat([zeros, pairs(sin.neg(), sin)], 0),
    };
  });
}

/** Rows `start..start+len` of the tables (views). */
export function ropeRows(r: Rope2d, start: number, len: number): Rope2d {
  return { cos: r.cos.narrow(0, start, len), sin: r.sin.narrow(0, start, len) };
}

/**
 * Rotates x [B, L, H, Dh] by the tables' rows for its L positions ([L, 1, Dh]):
 * (x0, x1) → (x0·c − x1·s, x1·c + x0·s), LlamaGen's apply_rotary_emb.
 */
export function applyRope(x: Tensor, r: Rope2d): Tensor {
  const shape = x.shape;
  const dh = shape[shape.length - 1];
  const swapped = x
    .reshape(...shape.slice(0, -1), dh / 2, 2)
    .flip(-1)
    .view(...shape); // (x1, x0) per pair
  const out = x.mul(r.cos).add(swapped.mul(r.sin));
  // the tables stay float32 (as LlamaGen rotates in float32); give half-precision models their dtype back
  return r.cos.dtype === x.dtype ? out : out.to(x.dtype);
}

/** Releases the tables' native memory. */
export function disposeRope(r: Rope2d): void {
  r.cos.dispose();
  r.sin.dispose();
}
