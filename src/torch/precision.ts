// The compute precisions, as plain values with no tensor library behind them: the browser's form
// checks (server/params.ts) share them with the libtorch side.

export type Precision = 'fp32' | 'bf16';
export const PRECISIONS: Precision[] = ['fp32', 'bf16'];

/** A precision, or `auto`: bf16 where the device has bf16 matrix kernels (autocast.ts fastBf16), else fp32. */
export type PrecisionChoice = Precision | 'auto';
export const PRECISION_CHOICES: PrecisionChoice[] = ['fp32', 'bf16', 'auto'];
