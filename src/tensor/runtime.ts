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

/**
 * Threads from the environment: DRHARD_NUM_THREADS, else OMP_NUM_THREADS (torchrun sets 1 when it starts several
 * ranks per node), else the node's cores split between its ranks (LOCAL_WORLD_SIZE, torchrun's), else every core.
 */
export function threadsFromEnv(env: NodeJS.ProcessEnv, cores: number): number {
  for (const name of ['DRHARD_NUM_THREADS', 'OMP_NUM_THREADS']) {
    const n = Number(env[name] ?? '');
    if (Number.isInteger(n) && n > 0) return n;
  }
  const local = Number(env['WORLD_SIZE'] !== undefined ? (env['LOCAL_WORLD_SIZE'] ?? '') : '');
  return Number.isInteger(local) && local > 1 ? Math.max(1, Math.floor(cores / local)) : cores;
}

// Debian's libtorch starts with one thread; default to every core unless told otherwise.
setNumThreads(threadsFromEnv(process.env, os.availableParallelism()));
