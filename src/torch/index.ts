// The d2c tensor library: `import * as torch from '../torch/index.ts'`.
import { native } from './native.ts';

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
/** The libtorch version the addon was built against. */
export function version(): string {
  return native.version();
}
