// Process-wide libtorch settings: threads, seeds, generator state, CUDA availability.
import * as os from 'node:os';
import { native } from '../native/addon.ts';
import { Tensor } from './tensor.ts';

/** Threads for libtorch intra-op parallelism and faiss (OpenMP). */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`thread count must be a positive integer, got ${n}`);
  native.setNumThreads(n);
}
export function getNumThreads(): number {
  return native.getNumThreads();
}
/**
 * Makes the C allocator (glibc) serve every block of at least `bytes` with its own mapping, returned to the system
 * on free. By default glibc raises this threshold as large blocks are freed and then serves them from its heap,
 * where freed space is kept: fast for reuse, but peak memory then depends on the allocation history. Memory-bounded
 * work (sharded search under a budget) sets it; it stays set for the process. Returns false where unsupported.
 */
export function setMallocMmapThreshold(bytes: number): boolean {
  if (!Number.isInteger(bytes) || bytes < 0 || bytes > 2 ** 31 - 1) throw new RangeError(`threshold must be an integer byte count, got ${bytes}`);
  return native.setMmapThreshold(bytes);
}
/** Seeds libtorch's default generators (randn, dropout, randperm …). */
export function manualSeed(seed: number): void {
  native.manualSeed(seed);
}
/** The CPU generator's state as a uint8 tensor (saved in training checkpoints for exact resume). */
export function getRngState(): Tensor {
  return new Tensor(native.getRngState());
}
export function setRngState(state: Tensor): void {
  native.setRngState(state.handle);
}
export function cudaIsAvailable(): boolean {
  return native.cudaAvailable();
}
export function cudaDeviceCount(): number {
  return native.cudaDeviceCount();
}
export function torchVersion(): string {
  return native.version().torch;
}
export function faissVersion(): string {
  return native.version().faiss;
}

// Debian's libtorch starts with one thread; default to every core unless told otherwise.
const envThreads = Number(process.env['DRHARD_NUM_THREADS'] ?? '');
setNumThreads(Number.isInteger(envThreads) && envThreads > 0 ? envThreads : os.availableParallelism());
