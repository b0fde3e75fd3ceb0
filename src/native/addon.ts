// Loads the native addon (build/Release/drhard_native.node) and types its surface; the only file allowed `any`.
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Opaque native tensor handle (an N-API External owning one at::Tensor). */
export type Handle = { readonly __tensorHandle: unique symbol };
/** Opaque native c10d process group handle (native/src/dist_core.h). */
export type DistHandle = { readonly __distHandle: unique symbol };
/** Opaque native TCPStore server handle. */
export type StoreServerHandle = { readonly __storeServerHandle: unique symbol };
/** Opaque native faiss index handle. */
export type IndexHandle = { readonly __indexHandle: unique symbol };
type Num = number | null | undefined;

// Codes mirror the enums in native/src/addon.cpp and tensor_core.cpp. Keep the orders identical.
export const DTYPES = ['float32', 'float64', 'float16', 'bfloat16', 'int32', 'int64', 'uint8', 'bool', 'int8'] as const;
export const CREATE = { zeros: 0, ones: 1, empty: 2, full: 3, randn: 4, rand: 5, randint: 6, arange: 7, randperm: 8, linspace: 9 } as const;
export const UNARY = {
  neg: 0, sqrt: 1, rsqrt: 2, exp: 3, log: 4, abs: 5, tanh: 6, relu: 7, sigmoid: 8, erf: 9, reciprocal: 10, square: 11,
  softplus: 12, gelu: 13, logicalNot: 14, isFinite: 15, contiguous: 16, clone: 17, detach: 18, t: 19, sign: 20, floor: 21,
  log1p: 22,
} as const;
export const BINARY = {
  add: 0, sub: 1, mul: 2, div: 3, pow: 4, eq: 5, ne: 6, lt: 7, le: 8, gt: 9, ge: 10, logicalAnd: 11, logicalOr: 12,
  maximum: 13, minimum: 14, matmul: 15, bmm: 16, remainder: 17,
} as const;
export const SHAPE = {
  reshape: 0, view: 1, permute: 2, expand: 3, repeat: 4, transpose: 5, unsqueeze: 6, squeeze: 7, squeezeAll: 8,
  flatten: 9, narrow: 10, select: 11,
} as const;
export const REDUCE = { sum: 0, mean: 1, amax: 2, amin: 3, norm: 4, logsumexp: 5, any: 6, all: 7, prod: 8 } as const;
export const INPLACE = {
  add: 0, sub: 1, mul: 2, div: 3, addcmul: 4, addcdiv: 5, copy: 6, zero: 7, fill: 8, clamp: 9, normal: 10, uniform: 11,
} as const;

export interface NativeAddon {
  dispose(h: Handle): void;
  liveTensors(): number;
  shape(h: Handle): number[];
  dtype(h: Handle): number;
  device(h: Handle): string;
  fromBuffer(data: ArrayBufferView | ArrayBuffer, shape: number[], dtype: number, device?: string | null): Handle;
  toBuffer(h: Handle): ArrayBuffer;
  item(h: Handle): number;
  fromFile(path: string, byteOffset: number, shape: number[], dtype: number): Handle;
  readFileInto(path: string, byteOffset: number, target: Handle): void;
  create(kind: number, shape: number[], dtype: number | null, device: string | null, a?: number, b?: number, c?: number): Handle;
  unary(op: number, a: Handle): Handle;
  binary(op: number, a: Handle, b: Handle | number, alpha?: Num): Handle;
  shapeOp(op: number, a: Handle, x?: number[] | number, y?: number, z?: number): Handle;
  indexSelect(a: Handle, dim: number, idx: Handle): Handle;
  gather(a: Handle, dim: number, idx: Handle): Handle;
  scatter(a: Handle, dim: number, idx: Handle, src: Handle | number): Handle;
  maskedFill(a: Handle, mask: Handle, value: number): Handle;
  where(cond: Handle, a: Handle, b: Handle): Handle;
  cat(ts: Handle[], dim: number): Handle;
  stack(ts: Handle[], dim: number): Handle;
  reduce(op: number, a: Handle, dims: number[] | null, keepdim: boolean, p?: Num): Handle;
  maxDim(a: Handle, dim: number, keepdim: boolean): [Handle, Handle];
  minDim(a: Handle, dim: number, keepdim: boolean): [Handle, Handle];
  argmax(a: Handle, dim: number | null, keepdim: boolean): Handle;
  topk(a: Handle, k: number, dim: number, largest: boolean, sorted: boolean): [Handle, Handle];
  /** native/src/search_core.h. */
  bf16GemmIsFloat32Accumulating(m: number, k: number, n: number): boolean;
  /** native/src/search_core.h: [scores [B,k], ids [B,k], rescored [B]]. */
  screenedTopk(q: Handle, docs: Handle, qLo: Handle, docsLo: Handle, errAbs: Handle, errRel: number, k: number, chunk: number): [Handle, Handle, Handle];
  sgemmScreenedTopk(q: Handle, docs: Handle, errAbs: Handle, k: number, chunk: number, floor?: Handle): [Handle, Handle, Handle];
  int8ScreenSupported(): boolean;
  /** The int8 screens this CPU runs, fastest first (native/src/search_core.h). */
  int8ScreenIsas(): string[];
  /** [codes, scale, sum, norms [n, 3] float64]; levels 1…127 (default 127, panels only 127). */
  int8Quantize(x: Handle, panels: boolean, levels?: number): [Handle, Handle, Handle, Handle];
  int8ScreenedTopk(q: Handle, docs: Handle, qCodes: Handle, qScale: Handle, qErr: Handle, qCodes2: Handle, qScale2: Handle, dCodes: Handle, dScale: Handle, dSum: Handle, dErr: Handle, tinyAbs: number, errRel: number, k: number, isa: string, qOffset: number, floor?: Handle, rowFile?: string, rowFileHalf?: boolean): [Handle, Handle, Handle];
  sort(a: Handle, dim: number, descending: boolean): [Handle, Handle];
  cumsum(a: Handle, dim: number): Handle;
  softmax(a: Handle, dim: number): Handle;
  logSoftmax(a: Handle, dim: number): Handle;
  clamp(a: Handle, min: Num, max: Num): Handle;
  to(a: Handle, dtype: number | null, device: string | null): Handle;
  embedding(weight: Handle, ids: Handle, paddingIdx: Num): Handle;
  layerNorm(x: Handle, shape: number[], w: Handle | null, b: Handle | null, eps: number): Handle;
  linear(x: Handle, w: Handle, b: Handle | null): Handle;
  dropout(x: Handle, p: number, train: boolean): Handle;
  dropoutNoise(like: Handle, p: number, seed?: bigint | null): Handle;
  crossEntropy(logits: Handle, target: Handle, reduction: number, ignoreIndex: number): Handle;
  mseLoss(a: Handle, b: Handle, reduction: number): Handle;
  requiresGrad(a: Handle): boolean;
  setRequiresGrad(a: Handle, v: boolean): void;
  backward(a: Handle, grad: Handle | null): void;
  grad(a: Handle): Handle | null;
  setGrad(a: Handle, g: Handle | null): void;
  setGradEnabled(v: boolean): boolean;
  inplace(op: number, a: Handle, x?: Handle | number | null, y?: Handle | number | null, z?: number | null): void;
  /** One AdamW (kind 0) or LAMB (kind 1) step over all parameters; see native/src/optim_core.h. */
  optimStep(kind: number, params: Handle[], expAvg: Handle[], expAvgSq: Handle[], a: number[], b: number[], hyper: number[], coef: Handle | null, fused: boolean, scratch: Handle | null): void;
  /** clip_grad_norm_'s [total norm, coefficient] of the gradients, without scaling them. */
  clipCoefficient(grads: Handle[], maxNorm: number): [Handle, Handle];
  setNumThreads(n: number): void;
  /** glibc mallopt(M_MMAP_THRESHOLD); false where unsupported. */
  setMmapThreshold(bytes: number): boolean;
  getNumThreads(): number;
  manualSeed(seed: number): void;
  getRngState(): Handle;
  setRngState(h: Handle): void;
  cudaAvailable(): boolean;
  cudaDeviceCount(): number;
  version(): { torch: string; faiss: string };
  saveTensors(names: string[], handles: Handle[]): Buffer;
  loadTensors(bytes: Buffer): [string[], Handle[]];
  faissCreate(dim: number, factory: string, innerProduct: boolean): IndexHandle;
  faissAdd(ix: IndexHandle, x: Handle | Float32Array): void;
  faissTrain(ix: IndexHandle, x: Handle | Float32Array): void;
  faissSearch(ix: IndexHandle, q: Handle | Float32Array, k: number): [Float32Array, BigInt64Array];
  faissWrite(ix: IndexHandle, path: string): void;
  faissRead(path: string, mmap: boolean): IndexHandle;
  faissInfo(ix: IndexHandle): { ntotal: number; dim: number; isTrained: boolean; metric: 'ip' | 'l2' };
  faissSetParam(ix: IndexHandle, name: string, value: number): void;
  faissDispose(ix: IndexHandle): void;
  /** c10d (native/src/dist_core.h); src/dist/group.ts wraps these. Reduce ops: 0 sum, 1 min, 2 max. */
  distInit(init: string, rank: number, world: number, timeoutMs: number, backend: string, externalStore: boolean, heartbeatMs: number, prefix: string): DistHandle;
  distAllReduce(g: DistHandle, ts: Handle[], op: number, timeoutMs: number): void;
  distAllGather(g: DistHandle, t: Handle, timeoutMs: number): Handle[];
  distBroadcast(g: DistHandle, t: Handle, root: number, timeoutMs: number): void;
  distBarrier(g: DistHandle, timeoutMs: number): void;
  distStoreSet(g: DistHandle, key: string, value: string): void;
  distStoreGet(g: DistHandle, key: string, timeoutMs: number): string;
  distStaleRanks(g: DistHandle, watchMs: number): number[];
  distShutdown(g: DistHandle, destroy: boolean): void;
  distNcclAvailable(): boolean;
  /** A bare TCPStore server (torchrun's agent store, for tests); port 0: the OS picks. Returns [handle, port]. */
  distServeStore(port: number, timeoutMs: number): [StoreServerHandle, number];
  distCloseStore(s: StoreServerHandle): void;
}

function locate(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [
    process.env['DRHARD_NATIVE'],
    path.resolve(here, '../../build/Release/drhard_native.node'),
  ].filter((p): p is string => typeof p === 'string');
  for (const c of candidates) if (fs.existsSync(c)) return c;
  throw new Error(
    `drhard native addon not found (looked in ${candidates.join(', ')}). Run \`npm run setup\` to build it.`,
  );
}

// OpenMP (libtorch, faiss) spins its threads while waiting by default, and on a few shared cores those spinners
// starve OpenBLAS's threads and each other: measured here, passive waiting made a training step 1.8× and flat faiss
// search 3–5× faster. It must be set before the addon loads libgomp; a value the user set wins.
process.env['OMP_WAIT_POLICY'] ??= 'PASSIVE';
// OpenBLAS's idle threads call sched_yield in a loop for 2^28 cycles (~0.1 s) after each BLAS call before they
// sleep; between GEMMs (softmax, GELU, the optimizer) they take turns with libtorch's threads on the same cores.
// 2^16 cycles (~20 µs) still bridges back-to-back calls. Measured at STAR base size on 2 cores: kernel time 10–15 s
// → 4 s over four steps, and the optimizer phase after backward 0.15–0.19 s → 0.12 s. Read when libopenblas loads.
process.env['OPENBLAS_THREAD_TIMEOUT'] ??= '16';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const loaded: any = require(locate());
export const native: NativeAddon = loaded as NativeAddon;
