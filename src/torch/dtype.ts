// dtype names as PyTorch spells them, and their c10::ScalarType codes.
export type DType =
  | 'uint8'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'float16'
  | 'float32'
  | 'float64'
  | 'bool'
  | 'bfloat16'
  /** pairs of float32 (real, imaginary); RoPE rotates through it */
  | 'complex64';

const CODES: Record<DType, number> = {
  uint8: 0,
  int8: 1,
  int16: 2,
  int32: 3,
  int64: 4,
  float16: 5,
  float32: 6,
  float64: 7,
  complex64: 9,
  bool: 11,
  bfloat16: 15,
};
const NAMES = new Map<number, DType>(Object.entries(CODES).map(([k, v]) => [v, k as DType]));
const SIZES: Record<DType, number> = {
  uint8: 1,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  float16: 2,
  float32: 4,
  float64: 8,
  complex64: 8,
  bool: 1,
  bfloat16: 2,
};

export function isDType(s: string): s is DType {
  return Object.hasOwn(CODES, s);
}

export function dtypeCode(d: DType): number {
  const c = CODES[d];
  if (c === undefined) throw new Error(`unknown dtype '${d}' (expected one of ${Object.keys(CODES).join(', ')})`);
  return c;
}

export function dtypeName(code: number): DType {
  const n = NAMES.get(code);
  if (n === undefined) throw new Error(`unsupported ScalarType code ${code}`);
  return n;
}

export function dtypeSize(d: DType): number {
  return SIZES[d];
}

export function isFloating(d: DType): boolean {
  return d === 'float16' || d === 'float32' || d === 'float64' || d === 'bfloat16';
}
