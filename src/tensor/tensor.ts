// The Tensor class and its ops: a typed, PyTorch-shaped API over one native libtorch handle per object.
import * as fs from 'node:fs';
import { native, DTYPES, CREATE, UNARY, BINARY, SHAPE, REDUCE, INPLACE, type Handle } from '../native/addon.ts';

export type DType = (typeof DTYPES)[number];
export type Device = 'cpu' | 'cuda' | `cuda:${number}`;
export type TypedArrayOf<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends 'int32'
      ? Int32Array
      : D extends 'int64'
        ? BigInt64Array
        : D extends 'float16' | 'bfloat16'
          ? Uint16Array
          : D extends 'int8'
            ? Int8Array
            : Uint8Array;
export type AnyTypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint16Array | Uint8Array | Int8Array;
export interface CreateOptions {
  dtype?: DType;
  device?: Device | string;
  requiresGrad?: boolean;
}
export interface ValuesIndices {
  values: Tensor;
  indices: Tensor;
}

const dtypeCode = (d: DType): number => DTYPES.indexOf(d);

// ---- scopes (tidy) ----
// Each scope owns the tensors created while it is the innermost one. Scopes are synchronous by construction:
// an `await` inside would let unrelated code allocate into the wrong scope, so tidy() rejects promises.
type Scope = Set<Tensor>;
const scopes: Scope[] = [];

/** Runs `fn`; every tensor created inside and not returned (nor `keep()`-ed) is disposed when it returns. */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = new Set();
  scopes.push(scope);
  let result: T;
  let ok = false;
  try {
    result = fn();
    if (result instanceof Promise) throw new Error('tidy(): the callback must be synchronous (no async/await inside a scope)');
    ok = true;
  } finally {
    scopes.pop();
    if (!ok) for (const t of scope) t.dispose();
  }
  const returned = new Set<Tensor>();
  collectTensors(result, returned, 0);
  for (const t of scope) {
    if (returned.has(t)) {
      t.scope = undefined;
      adopt(t);
    } else t.dispose();
  }
  return result;
}

function collectTensors(v: unknown, out: Set<Tensor>, depth: number): void {
  if (depth > 4 || v === null || typeof v !== 'object') return;
  if (v instanceof Tensor) {
    out.add(v);
    return;
  }
  if (Array.isArray(v)) for (const x of v) collectTensors(x, out, depth + 1);
  else if (v instanceof Map) for (const x of v.values()) collectTensors(x, out, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype)
    for (const x of Object.values(v as Record<string, unknown>)) collectTensors(x, out, depth + 1);
}

// A tensor owned by a scope is freed by that scope, so only unowned tensors need the GC safety net; registering
// lazily keeps FinalizationRegistry bookkeeping off the per-op path inside tidy().
function adopt(t: Tensor): void {
  const top = scopes[scopes.length - 1];
  if (top) {
    top.add(t);
    t.scope = top;
  } else t.guard();
}

/** Exempts `t` from every enclosing tidy() scope; the caller now owns it. */
export function keep<T extends Tensor>(t: T): T {
  if (t.scope) {
    t.scope.delete(t);
    t.scope = undefined;
    t.guard();
  }
  return t;
}

/** Number of native tensors alive (created and neither disposed nor garbage-collected). For leak tests. */
export function liveTensors(): number {
  return native.liveTensors();
}

/** Runs `fn` with autograd recording off (like torch.no_grad()); restores the previous mode. */
export function noGrad<T>(fn: () => T): T {
  const prev = native.setGradEnabled(false);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}
/** Runs `fn` with autograd recording on (inside a noGrad block, for example). */
export function enableGrad<T>(fn: () => T): T {
  const prev = native.setGradEnabled(true);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}
/** Scoped guard form of noGrad for `using _ = noGradGuard()`. */
export function noGradGuard(): Disposable {
  const prev = native.setGradEnabled(false);
  return { [Symbol.dispose]: () => void native.setGradEnabled(prev) };
}

// Safety net for tensors that are garbage-collected without dispose(): frees the native handle exactly once.
const finalizer = new FinalizationRegistry<Handle>((handle) => native.dispose(handle));

type Operand = Tensor | number;
const h = (x: Operand): Handle | number => (typeof x === 'number' ? x : x.handle);
const wrap = (x: Handle): Tensor => new Tensor(x);
const pair = ([v, i]: [Handle, Handle]): ValuesIndices => ({ values: wrap(v), indices: wrap(i) });
const normDim = (d: number | number[] | undefined): number[] | null =>
  d === undefined ? null : Array.isArray(d) ? d : [d];

export class Tensor implements Disposable {
  #h: Handle | null;
  #shape: number[] | undefined;
  #dtype: DType | undefined;
  #guarded = false;
  /** The tidy() scope that owns this tensor, if any. */
  scope: Scope | undefined;

  constructor(handle: Handle) {
    this.#h = handle;
    adopt(this);
  }

  /** Registers the GC safety net (done once a tensor is owned by no scope). */
  guard(): void {
    if (this.#guarded || this.#h === null) return;
    finalizer.register(this, this.#h, this);
    this.#guarded = true;
  }

  /** The native handle; throws once the tensor is disposed. */
  get handle(): Handle {
    if (this.#h === null) throw new Error('tensor was disposed');
    return this.#h;
  }
  get disposed(): boolean {
    return this.#h === null;
  }
  dispose(): void {
    if (this.#h === null) return;
    if (this.#guarded) finalizer.unregister(this);
    native.dispose(this.#h);
    this.#h = null;
    this.scope?.delete(this);
    this.scope = undefined;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
  /** Exempts this tensor from enclosing tidy() scopes. */
  keep(): this {
    return keep(this);
  }

  // ---- metadata ----
  get shape(): number[] {
    this.#shape ??= native.shape(this.handle);
    return this.#shape.slice();
  }
  get ndim(): number {
    return (this.#shape ??= native.shape(this.handle)).length;
  }
  size(dim: number): number {
    const s = (this.#shape ??= native.shape(this.handle));
    const d = dim < 0 ? s.length + dim : dim;
    const v = s[d];
    if (v === undefined) throw new RangeError(`dimension ${dim} out of range for a ${s.length}-d tensor`);
    return v;
  }
  get numel(): number {
    return (this.#shape ??= native.shape(this.handle)).reduce((a, b) => a * b, 1);
  }
  get dtype(): DType {
    this.#dtype ??= DTYPES[native.dtype(this.handle)] as DType;
    return this.#dtype;
  }
  get device(): string {
    return native.device(this.handle);
  }
  toString(): string {
    return `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }

  // ---- data out ----
  /** The elements in row-major order as the TypedArray matching the dtype (float16/bfloat16: raw Uint16Array bits). */
  data(): AnyTypedArray {
    const buf = native.toBuffer(this.handle);
    switch (this.dtype) {
      case 'float32': return new Float32Array(buf);
      case 'float64': return new Float64Array(buf);
      case 'int32': return new Int32Array(buf);
      case 'int64': return new BigInt64Array(buf);
      case 'float16':
      case 'bfloat16': return new Uint16Array(buf);
      case 'int8': return new Int8Array(buf);
      default: return new Uint8Array(buf);
    }
  }
  private dataAs(dt: DType): AnyTypedArray {
    if (this.dtype === dt) return this.data();
    const c = wrap(native.to(this.handle, dtypeCode(dt), null));
    try {
      return c.data();
    } finally {
      c.dispose();
    }
  }
  toFloat32Array(): Float32Array {
    return this.dataAs('float32') as Float32Array;
  }
  toFloat64Array(): Float64Array {
    return this.dataAs('float64') as Float64Array;
  }
  toInt32Array(): Int32Array {
    return this.dataAs('int32') as Int32Array;
  }
  toBigInt64Array(): BigInt64Array {
    return this.dataAs('int64') as BigInt64Array;
  }
  /** Flat array of numbers (int64 converted with Number()). */
  toArray(): number[] {
    const d = this.dtype === 'int64' ? this.data() : this.toFloat64Array();
    return Array.from(d as ArrayLike<number | bigint>, (x) => Number(x));
  }
  item(): number {
    return native.item(this.handle);
  }

  // ---- elementwise ----
  add(o: Operand, alpha?: number): Tensor { return wrap(native.binary(BINARY.add, this.handle, h(o), alpha)); }
  sub(o: Operand, alpha?: number): Tensor { return wrap(native.binary(BINARY.sub, this.handle, h(o), alpha)); }
  mul(o: Operand): Tensor { return wrap(native.binary(BINARY.mul, this.handle, h(o))); }
  div(o: Operand): Tensor { return wrap(native.binary(BINARY.div, this.handle, h(o))); }
  pow(o: Operand): Tensor { return wrap(native.binary(BINARY.pow, this.handle, h(o))); }
  remainder(o: Operand): Tensor { return wrap(native.binary(BINARY.remainder, this.handle, h(o))); }
  maximum(o: Operand): Tensor { return wrap(native.binary(BINARY.maximum, this.handle, h(o))); }
  minimum(o: Operand): Tensor { return wrap(native.binary(BINARY.minimum, this.handle, h(o))); }
  eq(o: Operand): Tensor { return wrap(native.binary(BINARY.eq, this.handle, h(o))); }
  ne(o: Operand): Tensor { return wrap(native.binary(BINARY.ne, this.handle, h(o))); }
  lt(o: Operand): Tensor { return wrap(native.binary(BINARY.lt, this.handle, h(o))); }
  le(o: Operand): Tensor { return wrap(native.binary(BINARY.le, this.handle, h(o))); }
  gt(o: Operand): Tensor { return wrap(native.binary(BINARY.gt, this.handle, h(o))); }
  ge(o: Operand): Tensor { return wrap(native.binary(BINARY.ge, this.handle, h(o))); }
  logicalAnd(o: Tensor): Tensor { return wrap(native.binary(BINARY.logicalAnd, this.handle, o.handle)); }
  logicalOr(o: Tensor): Tensor { return wrap(native.binary(BINARY.logicalOr, this.handle, o.handle)); }
  neg(): Tensor { return wrap(native.unary(UNARY.neg, this.handle)); }
  sqrt(): Tensor { return wrap(native.unary(UNARY.sqrt, this.handle)); }
  rsqrt(): Tensor { return wrap(native.unary(UNARY.rsqrt, this.handle)); }
  exp(): Tensor { return wrap(native.unary(UNARY.exp, this.handle)); }
  log(): Tensor { return wrap(native.unary(UNARY.log, this.handle)); }
  log1p(): Tensor { return wrap(native.unary(UNARY.log1p, this.handle)); }
  abs(): Tensor { return wrap(native.unary(UNARY.abs, this.handle)); }
  sign(): Tensor { return wrap(native.unary(UNARY.sign, this.handle)); }
  floor(): Tensor { return wrap(native.unary(UNARY.floor, this.handle)); }
  tanh(): Tensor { return wrap(native.unary(UNARY.tanh, this.handle)); }
  relu(): Tensor { return wrap(native.unary(UNARY.relu, this.handle)); }
  sigmoid(): Tensor { return wrap(native.unary(UNARY.sigmoid, this.handle)); }
  erf(): Tensor { return wrap(native.unary(UNARY.erf, this.handle)); }
  reciprocal(): Tensor { return wrap(native.unary(UNARY.reciprocal, this.handle)); }
  square(): Tensor { return wrap(native.unary(UNARY.square, this.handle)); }
  /** log(1 + exp(x)), numerically stable. */
  softplus(): Tensor { return wrap(native.unary(UNARY.softplus, this.handle)); }
  /** Exact (erf) GELU, as BERT/RoBERTa use. */
  gelu(): Tensor { return wrap(native.unary(UNARY.gelu, this.handle)); }
  logicalNot(): Tensor { return wrap(native.unary(UNARY.logicalNot, this.handle)); }
  isFinite(): Tensor { return wrap(native.unary(UNARY.isFinite, this.handle)); }
  /** True when every element is finite (no NaN/inf). */
  allFinite(): boolean {
    return tidy(() => this.isFinite().all().item() !== 0);
  }
  clamp(min?: number | null, max?: number | null): Tensor { return wrap(native.clamp(this.handle, min, max)); }

  // ---- linear algebra ----
  matmul(o: Tensor): Tensor { return wrap(native.binary(BINARY.matmul, this.handle, o.handle)); }
  bmm(o: Tensor): Tensor { return wrap(native.binary(BINARY.bmm, this.handle, o.handle)); }
  t(): Tensor { return wrap(native.unary(UNARY.t, this.handle)); }

  // ---- shape ----
  reshape(shape: number[]): Tensor { return wrap(native.shapeOp(SHAPE.reshape, this.handle, shape)); }
  view(shape: number[]): Tensor { return wrap(native.shapeOp(SHAPE.view, this.handle, shape)); }
  permute(dims: number[]): Tensor { return wrap(native.shapeOp(SHAPE.permute, this.handle, dims)); }
  expand(shape: number[]): Tensor { return wrap(native.shapeOp(SHAPE.expand, this.handle, shape)); }
  repeat(reps: number[]): Tensor { return wrap(native.shapeOp(SHAPE.repeat, this.handle, reps)); }
  transpose(a: number, b: number): Tensor { return wrap(native.shapeOp(SHAPE.transpose, this.handle, a, b)); }
  unsqueeze(d: number): Tensor { return wrap(native.shapeOp(SHAPE.unsqueeze, this.handle, d)); }
  squeeze(d?: number): Tensor {
    return wrap(d === undefined ? native.shapeOp(SHAPE.squeezeAll, this.handle) : native.shapeOp(SHAPE.squeeze, this.handle, d));
  }
  flatten(start = 0, end = -1): Tensor { return wrap(native.shapeOp(SHAPE.flatten, this.handle, start, end)); }
  narrow(dim: number, start: number, length: number): Tensor {
    return wrap(native.shapeOp(SHAPE.narrow, this.handle, dim, start, length));
  }
  select(dim: number, index: number): Tensor { return wrap(native.shapeOp(SHAPE.select, this.handle, dim, index)); }
  contiguous(): Tensor { return wrap(native.unary(UNARY.contiguous, this.handle)); }
  indexSelect(dim: number, idx: Tensor): Tensor { return wrap(native.indexSelect(this.handle, dim, idx.handle)); }
  gather(dim: number, idx: Tensor): Tensor { return wrap(native.gather(this.handle, dim, idx.handle)); }
  scatter(dim: number, idx: Tensor, src: Operand): Tensor { return wrap(native.scatter(this.handle, dim, idx.handle, h(src))); }
  maskedFill(mask: Tensor, value: number): Tensor { return wrap(native.maskedFill(this.handle, mask.handle, value)); }

  // ---- reductions ----
  sum(dim?: number | number[], keepdim = false): Tensor { return wrap(native.reduce(REDUCE.sum, this.handle, normDim(dim), keepdim)); }
  mean(dim?: number | number[], keepdim = false): Tensor { return wrap(native.reduce(REDUCE.mean, this.handle, normDim(dim), keepdim)); }
  prod(dim?: number, keepdim = false): Tensor { return wrap(native.reduce(REDUCE.prod, this.handle, normDim(dim), keepdim)); }
  /** Max over all elements, or over `dim` (values only; see maxDim for indices). */
  max(dim?: number | number[], keepdim = false): Tensor { return wrap(native.reduce(REDUCE.amax, this.handle, normDim(dim), keepdim)); }
  min(dim?: number | number[], keepdim = false): Tensor { return wrap(native.reduce(REDUCE.amin, this.handle, normDim(dim), keepdim)); }
  maxDim(dim: number, keepdim = false): ValuesIndices { return pair(native.maxDim(this.handle, dim, keepdim)); }
  minDim(dim: number, keepdim = false): ValuesIndices { return pair(native.minDim(this.handle, dim, keepdim)); }
  argmax(dim?: number, keepdim = false): Tensor { return wrap(native.argmax(this.handle, dim ?? null, keepdim)); }
  topk(k: number, dim = -1, largest = true, sorted = true): ValuesIndices {
    return pair(native.topk(this.handle, k, dim, largest, sorted));
  }
  /** Stable sort along `dim`. */
  sort(dim = -1, descending = false): ValuesIndices { return pair(native.sort(this.handle, dim, descending)); }
  norm(p = 2, dim?: number | number[], keepdim = false): Tensor {
    return wrap(native.reduce(REDUCE.norm, this.handle, normDim(dim), keepdim, p));
  }
  logsumexp(dim: number | number[], keepdim = false): Tensor {
    return wrap(native.reduce(REDUCE.logsumexp, this.handle, normDim(dim), keepdim));
  }
  any(dim?: number, keepdim = false): Tensor { return wrap(native.reduce(REDUCE.any, this.handle, normDim(dim), keepdim)); }
  all(dim?: number, keepdim = false): Tensor { return wrap(native.reduce(REDUCE.all, this.handle, normDim(dim), keepdim)); }
  cumsum(dim: number): Tensor { return wrap(native.cumsum(this.handle, dim)); }
  softmax(dim: number): Tensor { return wrap(native.softmax(this.handle, dim)); }
  logSoftmax(dim: number): Tensor { return wrap(native.logSoftmax(this.handle, dim)); }

  // ---- dtype and device ----
  /** Converts to a dtype and/or a device; always returns a new handle (possibly sharing storage). */
  to(target: DType | Device | string | { dtype?: DType; device?: string }): Tensor {
    let dtype: DType | undefined;
    let device: string | undefined;
    if (typeof target === 'string') {
      if ((DTYPES as readonly string[]).includes(target)) dtype = target as DType;
      else device = target;
    } else {
      dtype = target.dtype;
      device = target.device;
    }
    return wrap(native.to(this.handle, dtype === undefined ? null : dtypeCode(dtype), device ?? null));
  }
  clone(): Tensor { return wrap(native.unary(UNARY.clone, this.handle)); }
  detach(): Tensor { return wrap(native.unary(UNARY.detach, this.handle)); }

  // ---- autograd ----
  get requiresGrad(): boolean { return native.requiresGrad(this.handle); }
  setRequiresGrad(v = true): this {
    native.setRequiresGrad(this.handle, v);
    return this;
  }
  backward(grad?: Tensor): void { native.backward(this.handle, grad ? grad.handle : null); }
  /** The accumulated gradient as a new handle (owned by the caller / current scope), or null. */
  get grad(): Tensor | null {
    const g = native.grad(this.handle);
    return g === null ? null : wrap(g);
  }
  /** Drops the gradient (like `p.grad = None`), so the next backward starts from zero. */
  zeroGrad(): void { native.setGrad(this.handle, null); }
  setGrad(g: Tensor | null): void { native.setGrad(this.handle, g ? g.handle : null); }

  // ---- in-place (optimizers; call under noGrad) ----
  add_(o: Operand, alpha?: number): this { native.inplace(INPLACE.add, this.handle, h(o), alpha ?? null); return this; }
  sub_(o: Operand, alpha?: number): this { native.inplace(INPLACE.sub, this.handle, h(o), alpha ?? null); return this; }
  mul_(o: Operand): this { native.inplace(INPLACE.mul, this.handle, h(o)); return this; }
  div_(o: Operand): this { native.inplace(INPLACE.div, this.handle, h(o)); return this; }
  addcmul_(a: Tensor, b: Tensor, value = 1): this { native.inplace(INPLACE.addcmul, this.handle, a.handle, b.handle, value); return this; }
  addcdiv_(a: Tensor, b: Tensor, value = 1): this { native.inplace(INPLACE.addcdiv, this.handle, a.handle, b.handle, value); return this; }
  copy_(src: Tensor): this { native.inplace(INPLACE.copy, this.handle, src.handle); return this; }
  zero_(): this { native.inplace(INPLACE.zero, this.handle); return this; }
  fill_(v: number): this { native.inplace(INPLACE.fill, this.handle, v); return this; }
  clamp_(min?: number | null, max?: number | null): this { native.inplace(INPLACE.clamp, this.handle, min ?? null, max ?? null); return this; }
  normal_(mean = 0, std = 1): this { native.inplace(INPLACE.normal, this.handle, mean, std); return this; }
  uniform_(a = 0, b = 1): this { native.inplace(INPLACE.uniform, this.handle, a, b); return this; }
}

// ---- creation ----
function inferDType(data: AnyTypedArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint16Array) return 'float16';
  return 'uint8';
}
type Nested = number | boolean | Nested[];
function flattenNested(data: Nested[]): { flat: number[]; shape: number[] } {
  const shape: number[] = [];
  let cur: Nested = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0] as Nested;
  }
  const flat: number[] = [];
  const walk = (x: Nested, depth: number): void => {
    if (Array.isArray(x)) {
      if (x.length !== shape[depth]) throw new Error(`ragged nested array at depth ${depth}`);
      for (const y of x) walk(y, depth + 1);
    } else {
      if (depth !== shape.length) throw new Error('ragged nested array');
      flat.push(Number(x));
    }
  };
  walk(data, 0);
  return { flat, shape };
}
function typedFor(dtype: DType, flat: number[]): AnyTypedArray {
  switch (dtype) {
    case 'float64': return Float64Array.from(flat);
    case 'int32': return Int32Array.from(flat);
    case 'int64': return BigInt64Array.from(flat, (x) => BigInt(Math.trunc(x)));
    case 'uint8':
    case 'bool': return Uint8Array.from(flat);
    case 'int8': return Int8Array.from(flat);
    default: return Float32Array.from(flat);
  }
}

/** Creates a tensor from a TypedArray (copied) or a (nested) number array. Default dtype: from the array type, else float32. */
export function tensor(data: AnyTypedArray | Nested[], opts: CreateOptions & { shape?: number[] } = {}): Tensor {
  let arr: AnyTypedArray;
  let shape: number[];
  let dtype: DType;
  if (Array.isArray(data)) {
    const f = flattenNested(data);
    dtype = opts.dtype ?? 'float32';
    shape = opts.shape ?? f.shape;
    // float16/bfloat16 from numbers: build float32, then cast in libtorch.
    const build = dtype === 'float16' || dtype === 'bfloat16' ? 'float32' : dtype;
    arr = typedFor(build, f.flat);
    const t = wrap(native.fromBuffer(arr, shape, dtypeCode(build), opts.device ?? null));
    const out = build === dtype ? t : castAndDrop(t, dtype);
    if (opts.requiresGrad) out.setRequiresGrad(true);
    return out;
  }
  arr = data;
  dtype = opts.dtype ?? inferDType(data);
  shape = opts.shape ?? [data.length];
  const t = wrap(native.fromBuffer(arr, shape, dtypeCode(dtype), opts.device ?? null));
  if (opts.requiresGrad) t.setRequiresGrad(true);
  return t;
}
function castAndDrop(t: Tensor, dtype: DType): Tensor {
  const c = t.to(dtype);
  t.dispose();
  return c;
}

/** Copies raw little-endian bytes into a new tensor of `shape` and `dtype` (e.g. safetensors payloads). */
export function fromBuffer(buf: ArrayBufferView | ArrayBuffer, shape: number[], dtype: DType, device?: string): Tensor {
  return wrap(native.fromBuffer(buf, shape, dtypeCode(dtype), device ?? null));
}
/** Reads a tensor straight from a file region (no JS copy): used for embedding shards. */
export function fromFile(path: string, byteOffset: number, shape: number[], dtype: DType): Tensor {
  const t = empty(shape, { dtype });
  try {
    readFileInto(path, byteOffset, t);
    return t;
  } catch (e) {
    t.dispose();
    throw e;
  }
}

// Reads go to the file READ_BLOCK_BYTES at a time: one pread of a whole shard (hundreds of MB) from an uncached file
// took 3-5x the wall time and 9x the system time of 8 MiB preads into the same buffer (measured on this project's
// 2-vCPU EPYC VM: 6.1 GB in 680 MB shards, 27-42 s and 9-10 system-s against 5.6-8.9 s and 1.1 system-s).
const READ_BLOCK_BYTES = 8 << 20;
const ELEMENT_BYTES: Record<DType, number> = { float32: 4, float64: 8, float16: 2, bfloat16: 2, int32: 4, int64: 8, uint8: 1, int8: 1, bool: 1 };

/** Fills the contiguous CPU tensor `target` with its byte size from `path` at `byteOffset` (a reused buffer). */
export function readFileInto(path: string, byteOffset: number, target: Tensor): void {
  const esize = ELEMENT_BYTES[target.dtype];
  const nbytes = target.numel * esize;
  if (nbytes <= READ_BLOCK_BYTES || target.device !== 'cpu') {
    native.readFileInto(path, byteOffset, target.handle);
    return;
  }
  // Checked here once, with the whole read's figures (the native error would name one block's).
  const size = fs.statSync(path).size;
  if (size < byteOffset + nbytes) throw new Error(`${path}: file too short: wanted ${nbytes} bytes at offset ${byteOffset}`);
  // A flat view of a contiguous tensor, narrowed into contiguous blocks. view() refuses a non-contiguous target: the
  // native call then refuses it with its own message.
  let flat: Tensor;
  try {
    flat = target.view([target.numel]);
  } catch {
    native.readFileInto(path, byteOffset, target.handle);
    return;
  }
  try {
    const per = Math.floor(READ_BLOCK_BYTES / esize);
    for (let i = 0; i < target.numel; i += per) {
      const block = flat.narrow(0, i, Math.min(per, target.numel - i));
      try {
        native.readFileInto(path, byteOffset + i * esize, block.handle);
      } finally {
        block.dispose();
      }
    }
  } finally {
    flat.dispose();
  }
}

function make(kind: number, shape: number[], opts: CreateOptions, a?: number, b?: number, c?: number): Tensor {
  const t = wrap(native.create(kind, shape, opts.dtype ? dtypeCode(opts.dtype) : null, opts.device ?? null, a, b, c));
  if (opts.requiresGrad) t.setRequiresGrad(true);
  return t;
}
export const zeros = (shape: number[], opts: CreateOptions = {}): Tensor => make(CREATE.zeros, shape, opts);
export const ones = (shape: number[], opts: CreateOptions = {}): Tensor => make(CREATE.ones, shape, opts);
export const empty = (shape: number[], opts: CreateOptions = {}): Tensor => make(CREATE.empty, shape, opts);
export const full = (shape: number[], value: number, opts: CreateOptions = {}): Tensor => make(CREATE.full, shape, opts, value);
export const randn = (shape: number[], opts: CreateOptions = {}): Tensor => make(CREATE.randn, shape, opts);
export const rand = (shape: number[], opts: CreateOptions = {}): Tensor => make(CREATE.rand, shape, opts);
/** Integers uniform in [low, high). Default dtype int64. */
export const randint = (low: number, high: number, shape: number[], opts: CreateOptions = {}): Tensor =>
  make(CREATE.randint, shape, { dtype: 'int64', ...opts }, low, high);
/** Values in [start, end) by step. With one argument: [0, start). Default dtype int64 for integer args. */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  const [s, e] = end === undefined ? [0, start] : [start, end];
  const ints = Number.isInteger(s) && Number.isInteger(e) && Number.isInteger(step);
  return make(CREATE.arange, [], { dtype: ints ? 'int64' : 'float32', ...opts }, s, e, step);
}
export const randperm = (n: number, opts: CreateOptions = {}): Tensor => make(CREATE.randperm, [], opts, n);
export const linspace = (start: number, end: number, steps: number, opts: CreateOptions = {}): Tensor =>
  make(CREATE.linspace, [], { dtype: 'float32', ...opts }, start, end, steps);
export const zerosLike = (t: Tensor): Tensor => zeros(t.shape, { dtype: t.dtype, device: t.device });
export const onesLike = (t: Tensor): Tensor => ones(t.shape, { dtype: t.dtype, device: t.device });

// ---- functional ----
export const cat = (ts: Tensor[], dim = 0): Tensor => wrap(native.cat(ts.map((t) => t.handle), dim));
export const stack = (ts: Tensor[], dim = 0): Tensor => wrap(native.stack(ts.map((t) => t.handle), dim));
export const where = (cond: Tensor, a: Tensor, b: Tensor): Tensor => wrap(native.where(cond.handle, a.handle, b.handle));
/** Rows of `weight` [V, D] for integer `ids`; rows at `paddingIdx` get no gradient. */
export const embedding = (weight: Tensor, ids: Tensor, paddingIdx?: number): Tensor =>
  wrap(native.embedding(weight.handle, ids.handle, paddingIdx ?? null));
export const layerNorm = (x: Tensor, shape: number[], weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor =>
  wrap(native.layerNorm(x.handle, shape, weight?.handle ?? null, bias?.handle ?? null, eps));
/** x @ w.T + b, with w [out, in] as in torch.nn.Linear. */
export const linear = (x: Tensor, w: Tensor, b?: Tensor | null): Tensor => wrap(native.linear(x.handle, w.handle, b?.handle ?? null));
export const dropout = (x: Tensor, p: number, train: boolean): Tensor => wrap(native.dropout(x.handle, p, train));
/**
 * The noise at::dropout multiplies by (1/(1-p) with probability 1-p, else 0), shaped and typed like `like` (CPU), from
 * drhard's parallel counter-based generator; without a seed, one 64-bit draw from libtorch's CPU generator seeds it.
 */
export const dropoutNoise = (like: Tensor, p: number, seed?: bigint): Tensor => wrap(native.dropoutNoise(like.handle, p, seed ?? null));
export const softplus = (x: Tensor): Tensor => x.softplus();
export const gelu = (x: Tensor): Tensor => x.gelu();
const REDUCTION = { none: 0, mean: 1, sum: 2 } as const;
/** Cross entropy over class logits [B, C] and int64 targets [B] (log_softmax + nll, as torch). */
export const crossEntropy = (
  logits: Tensor,
  target: Tensor,
  opts: { reduction?: keyof typeof REDUCTION; ignoreIndex?: number } = {},
): Tensor => wrap(native.crossEntropy(logits.handle, target.handle, REDUCTION[opts.reduction ?? 'mean'], opts.ignoreIndex ?? -100));
export const mseLoss = (a: Tensor, b: Tensor, reduction: keyof typeof REDUCTION = 'mean'): Tensor =>
  wrap(native.mseLoss(a.handle, b.handle, REDUCTION[reduction]));

/**
 * Whether a bfloat16 GEMM of m×k by k×n accumulates in float32 on this machine and libtorch (oneDNN's path, checked
 * once against float64). screenedTopk falls back to sgemm where it does not; callers use this to pick an engine.
 */
export function bf16GemmIsFloat32Accumulating(m: number, k: number, n: number): boolean {
  return native.bf16GemmIsFloat32Accumulating(m, k, n);
}

/**
 * Exact top-k of q·docsᵀ by a screened search (native/src/search_core.h): a bfloat16 GEMM qLo·docsLoᵀ scores every
 * document, and each one whose screen score could still reach the k-th best is rescored (float32 products summed in
 * float64, rounded to float32) and ranked (ties to the lower offset). The caller bounds the screening error:
 * |screen − (float32 score − shift_b)| <= errAbs[b] + errRel·|screen| (docsLo may be docs minus a constant vector;
 * shift_b is then q_b·that vector). With a valid bound the result is the exact top-k by those scores;
 * src/retrieval/screen.ts derives one.
 * q [B, D] / docs [N, D] float32, qLo [B, D] / docsLo [N, D] bfloat16, errAbs [B] float32; `chunk` docs per GEMM.
 * Returns values [B, k] float32, indices [B, k] int64 (-inf / -1 past N) and rescored [B] int64.
 */
export function screenedTopk(
  q: Tensor,
  docs: Tensor,
  qLo: Tensor,
  docsLo: Tensor,
  errAbs: Tensor,
  errRel: number,
  k: number,
  chunk: number,
): ValuesIndices & { rescored: Tensor } {
  const [v, i, r] = native.screenedTopk(q.handle, docs.handle, qLo.handle, docsLo.handle, errAbs.handle, errRel, k, chunk);
  return { values: wrap(v), indices: wrap(i), rescored: wrap(r) };
}

/**
 * screenedTopk screened by a float32 sgemm of q and docs themselves (no screening copy). errAbs [B] bounds
 * |sgemm score − rescored score| per query (src/retrieval/screen.ts derives it). `floor` [B] (optional): a score
 * the caller already holds k results at or above from lower offsets; documents that cannot reach it are dropped.
 */
export function sgemmScreenedTopk(q: Tensor, docs: Tensor, errAbs: Tensor, k: number, chunk: number, floor?: Tensor): ValuesIndices & { rescored: Tensor } {
  const [v, i, r] = native.sgemmScreenedTopk(q.handle, docs.handle, errAbs.handle, k, chunk, floor?.handle);
  return { values: wrap(v), indices: wrap(i), rescored: wrap(r) };
}

/** Whether this CPU runs an int8 screen (AVX2 + FMA at least): int8ScreenedTopk throws elsewhere. */
export function int8ScreenSupported(): boolean {
  return native.int8ScreenSupported();
}

/**
 * The int8 screens this CPU runs, fastest first: 'avx512-vnni', 'avx-vnni', 'avx512vl-vnni' (the 256-bit VNNI
 * kernel in EVEX form), 'avx2' (queries coded in 7 bits).
 */
export function int8ScreenIsas(): readonly string[] {
  isas ??= Object.freeze(native.int8ScreenIsas());
  return isas;
}
let isas: readonly string[] | undefined;

/**
 * Symmetric per-row int8 codes of float32 rows x [n, D] (native/src/search_core.h), any CPU: scale
 * s = max|x|/levels and codes round(x/s) in [−levels, levels], D padded to a multiple of 4. `panels` false
 * (queries): codes [n, Dp] uint8 (code + levels + 1: code + 128 at the default 127 levels; 63 levels keep every
 * byte <= 127); true (documents, 127 levels only): int8 panels of 32 rows, scale and sum padded to a multiple of 32
 * rows. sum: each row's code sum (int32); norms [n, 3] float64: ||x||, ||x − s·codes||, ||s·codes||. Non-finite
 * values are refused. DRHARD_INT8_QUANT_ISA=generic|avx2|avx512 forces one of the (bit-identical) native paths.
 */
export function int8Quantize(x: Tensor, panels: boolean, levels = 127): { codes: Tensor; scale: Tensor; sum: Tensor; norms: Tensor } {
  if (!Number.isInteger(levels)) throw new RangeError(`int8Quantize: levels must be an integer in 1…127 (got ${levels})`);
  const [c, s, u, n] = native.int8Quantize(x.handle, panels, levels);
  return { codes: wrap(c), scale: wrap(s), sum: wrap(u), norms: wrap(n) };
}

/**
 * screenedTopk screened by int8 dot products of int8Quantize codes (queries' rows, documents' panels) on one of
 * int8ScreenIsas(), the query codes offset by `qOffset` (their levels + 1: 128 for 'avx512-vnni'). The
 * caller's error model, per query b and document d (Np = N rounded up to 32):
 * |screen − rescored score| <= qErr[3b]·dErr[d] + qErr[3b+1]·dErr[Np + d] + tinyAbs + errRel·|screen|
 * and, at D >= 256, for the refinement by codes2/scale2 (the same coding of each query's residual q − s_q·q̂):
 * |refined − rescored score| <= qErr[3b]·dErr[d] + qErr[3b+2]·dErr[Np + d] + tinyAbs
 * (src/retrieval/screen.ts derives both); each document's bounds are evaluated with outward rounding. `floor` as
 * for sgemmScreenedTopk. `rowFile`: a file of the rows (offset order, from byte 0; float16 ones widened to float32)
 * that rescoring reads them from, a row at a time; `docs` then only gives [N, D] and is not read (an expanded view
 * will do).
 */
/** An embeddings file the int8 engine's rescoring reads rows from (rows in offset order from byte 0). */
export interface RowFile {
  path: string;
  dtype: 'float32' | 'float16';
}

export function int8ScreenedTopk(
  q: Tensor,
  docs: Tensor,
  qCodes: { codes: Tensor; scale: Tensor; codes2: Tensor; scale2: Tensor; err: Tensor },
  dCodes: { codes: Tensor; scale: Tensor; sum: Tensor; err: Tensor },
  tinyAbs: number,
  errRel: number,
  k: number,
  kernel: { isa: string; qOffset: number },
  floor?: Tensor,
  rowFile?: RowFile,
): ValuesIndices & { rescored: Tensor } {
  const [v, i, r] = native.int8ScreenedTopk(q.handle, docs.handle, qCodes.codes.handle, qCodes.scale.handle, qCodes.err.handle, qCodes.codes2.handle, qCodes.scale2.handle, dCodes.codes.handle, dCodes.scale.handle, dCodes.sum.handle, dCodes.err.handle, tinyAbs, errRel, k, kernel.isa, kernel.qOffset, floor?.handle, rowFile?.path, rowFile?.dtype === 'float16');
  return { values: wrap(v), indices: wrap(i), rescored: wrap(r) };
}
