// The d2c tensor library: `import * as torch from '../torch/index.ts'`.
import { native } from './native.ts';

export * from './autocast.ts';
export * from './autograd.ts';
export * from './creation.ts';
export * as distributed from './distributed.ts';
export * from './dtype.ts';
export * as F from './functional.ts';
export { cat, stack, where } from './functional.ts';
export {
  type CpuCacheStats,
  cpuCacheStats,
  dispose,
  emptyCpuCache,
  keep,
  liveBytes,
  liveTensors,
  release,
  tidy,
} from './memory.ts';
export { op, schemaOf } from './ops.ts';
export { formatProfile, type OpProfile, profile } from './profiler.ts';
export * from './random.ts';
export * from './safetensors.ts';
export { callOp, callOpVoid, type Device, type Scalar, Tensor, type TensorOrScalar } from './tensor.ts';

export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}
export function getNumThreads(): number {
  return native.getNumThreads();
}
export function cudaIsAvailable(): boolean {
  return native.cudaDeviceCount() > 0;
}
export function cudaDeviceCount(): number {
  return native.cudaDeviceCount();
}
/**
 * Returns `device` (cpu, cuda or cuda:N) when this libtorch can run on it; otherwise throws one line
 * that says why, so that asking for a GPU where there is none fails before any work.
 */
export function checkDevice(device: string): string {
  const m = /^(cpu|cuda)(?::(\d+))?$/.exec(device);
  if (!m || (m[1] === 'cpu' && m[2] !== undefined)) throw new Error(`device must be cpu, cuda or cuda:N, got '${device}'`);
  if (m[1] === 'cpu') return device;
  const count = native.cudaDeviceCount();
  if (count === 0)
    throw new Error(
      `device ${device}: this libtorch (${native.version()}) sees no CUDA device (a CPU-only build, or no GPU visible)`,
    );
  if (m[2] !== undefined && Number(m[2]) >= count)
    throw new Error(`device ${device}: libtorch sees ${count} CUDA device${count > 1 ? 's' : ''} (cuda:0..cuda:${count - 1})`);
  return device;
}
/** The libtorch version the addon was built against. */
export function version(): string {
  return native.version();
}
