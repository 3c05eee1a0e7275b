// Fréchet distance of two small feature sets in plain float64 JavaScript, independently of
// src/eval/frechet.ts (no libtorch linear algebra), for checking it. With A_i the centred features
// divided by √(n_i − 1), S_i = A_iᵀA_i, and the nonzero eigenvalues of S1·S2 are those of
// M·Mᵀ, M = A1·A2ᵀ (n1 × n2), so tr sqrtm(S1·S2) (what scipy's sqrtm gives pytorch-fid) is the sum
// of M's singular values: √ of the eigenvalues of the small symmetric M·Mᵀ (cyclic Jacobi).

/** Eigenvalues of a small symmetric matrix (cyclic Jacobi rotations, float64). */
export function symmetricEigenvalues(a: number[][]): number[] {
  const n = a.length;
  const m = a.map((r) => [...r]);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p][q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (m[p][q] === 0) continue;
        const theta = (m[q][q] - m[p][p]) / (2 * m[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k][p];
          const mkq = m[k][q];
          m[k][p] = c * mkp - s * mkq;
          m[k][q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p][k];
          const mqk = m[q][k];
          m[p][k] = c * mpk - s * mqk;
          m[q][k] = s * mpk + c * mqk;
        }
      }
    }
  }
  return m.map((r, i) => r[i]);
}

function centred(rows: number[][]): { mu: number[]; a: number[][] } {
  const n = rows.length;
  const d = rows[0].length;
  const mu = new Array<number>(d).fill(0);
  for (const r of rows) for (let j = 0; j < d; j++) mu[j] += r[j] / n;
  const s = Math.sqrt(n - 1);
  return { mu, a: rows.map((r) => r.map((v, j) => (v - mu[j]) / s)) };
}

const dot = (x: number[], y: number[]) => x.reduce((acc, v, i) => acc + v * y[i], 0);

/** FID of feature sets [n1][D] and [n2][D] (n small), in float64. */
export function frechetLowRank(f1: number[][], f2: number[][]): number {
  const c1 = centred(f1);
  const c2 = centred(f2);
  const diff = c1.mu.map((v, j) => v - c2.mu[j]);
  const tr1 = c1.a.reduce((acc, r) => acc + dot(r, r), 0);
  const tr2 = c2.a.reduce((acc, r) => acc + dot(r, r), 0);
  const m = c1.a.map((r1) => c2.a.map((r2) => dot(r1, r2))); // [n1, n2]
  const mmt = m.map((ri) => m.map((rj) => dot(ri, rj))); // [n1, n1]
  const nuclear = symmetricEigenvalues(mmt).reduce((acc, l) => acc + Math.sqrt(Math.max(l, 0)), 0);
  return dot(diff, diff) + tr1 + tr2 - 2 * nuclear;
}
