// Exact search by bfloat16 screening: the screening copy of a document matrix and the rounding-error bound that lets
// the native kernel (T.screenedTopk, native/src/search_core.h) skip rescoring without ever changing the top-k.
//
// Why: with AMX / AVX512-BF16, a bfloat16 GEMM runs 4-8x faster than float32 sgemm here, while float32 exact search
// is capped by sgemm (faiss IndexFlatIP already reaches ~80% of it). Screening with bfloat16 and rescoring only the
// documents that could still be in the top-k returns the exact top-k at a fraction of the float32 GEMM cost. The
// rescoring sums float32 products in float64 and rounds once: each score is the inner product correctly rounded to
// float32 (bar astronomically rare double roundings), independent of BLAS and summation order.
//
// The bound. Documents are shifted by their mean μ first (q·(d − μ) ranks like q·d; the shift makes d' = d − μ short
// when embeddings share a large common direction, and the error scales with ||d'||). With q̃ = bf16(q),
// d̃ = bf16(d'), r_q = q − q̃, r_d = d' − d̃ (both exact in float32), the screen is s = bf16(P') where P' is the
// float32-accumulated q̃·d̃. Against the rescored score f = fl32(q·d summed in float64):
//   |q̃·d̃ − q·d'|      <= ||r_q||·||d̃|| + ||q||·||r_d||          (exact identity + Cauchy–Schwarz)
//   |P' − q̃·d̃|        <= γ_D·||q̃||·||d̃||                        (any float32 summation order, γ_D = D·u/(1 − D·u))
//   |fl(d − μ) − (d − μ)|·|q| <= u·||q||·||d − μ||                 (the float32 subtraction)
//   |f − q·d|          <= (u + D·2^-53)·||q||·||d||
//   |s − P'|           <= 2^-7·|P'| <= rel·|s|, rel = 2^-7/(1 − 2^-7)   (bfloat16 output, even if truncated)
// so |s − (f − q·μ)| <= abs_b + rel·|s| with abs_b the sum of the first four terms at the largest document norms,
// times 1.01 for the rounding of the norms themselves. u = 2^-24 (float32). Denormals flushed by the bf16 units
// change a score by < D·2^-126, far inside the slack. The float32 accumulation of P' is the kernel's to ensure
// (it avoids libtorch's small-GEMM bf16 fallback, which rounds partial sums to bfloat16).
import * as fs from 'node:fs';
import * as T from '../tensor/index.ts';
import { DrhardInputError } from '../util/errors.ts';

const U32 = 2 ** -24;
/** bfloat16 output may be truncated rather than rounded by some kernels: a full unit in the last place. */
const REL = 2 ** -7 / (1 - 2 ** -7);
const SLACK = 1.01;
/** Rows per block while building: a few float32 temporaries of this size exist at once (bounded for sharded search). */
const BUILD_BLOCK_BYTES = 4 << 20;

/**
 * True when this CPU has bfloat16 dot-product instructions (AMX or AVX512-BF16), where screening pays off, and this
 * libtorch's bfloat16 GEMM accumulates in float32 (else the kernel screens through sgemm, slower than faiss).
 */
export function hasFastBf16(): boolean {
  fastBf16 ??= detectFastBf16() && T.bf16GemmIsFloat32Accumulating(512, 768, 4096);
  return fastBf16;
}
let fastBf16: boolean | undefined;
function detectFastBf16(): boolean {
  if (process.platform !== 'linux' || process.arch !== 'x64') return false;
  try {
    return /^flags\s*:.*\b(amx_bf16|avx512_bf16)\b/m.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

/**
 * The float32 screen (T.sgemmScreenedTopk): an sgemm of the float32 rows themselves scores every document, and those
 * within the sgemm's rounding error of the k-th best are rescored as the bf16 engine does. The bound, for any
 * summation order (FMA or not, any blocking): |P − q·d| <= γ_D·Σ|q_i·d_i| <= γ_D·||q||·||d||, and the rescored
 * f obeys |f − q·d| <= (u + D·2^-53)·||q||·||d||; so |P − f| <= (γ_D + u + D·2^-53)·||q||·max||d||, times SLACK for
 * the norms' own rounding, plus D·2^-125 for products flushed to zero. Both float32 engines therefore return the
 * same (correctly rounded) scores, whichever of them a machine's calibration picks.
 */
export function sgemmScreenedSearch(
  q: T.Tensor,
  docs: T.Tensor,
  maxNorm: number,
  k: number,
  chunk: number,
  floor?: Float32Array,
): { scores: Float32Array; ids: BigInt64Array; rescored: BigInt64Array } {
  return T.tidy(() => {
    const D = q.size(1);
    const gamma = (D * U32) / (1 - D * U32);
    const abs = q
      .norm(2, 1)
      .mul((gamma + U32 + D * 2 ** -53) * maxNorm * SLACK)
      .add(D * 2 ** -125)
      .contiguous();
    if (!abs.isFinite().all().item()) {
      throw new DrhardInputError("vector norms overflow float32 in the fp32 engine's error bound; search with the 'torch' or 'faiss' exact engine");
    }
    const r = T.sgemmScreenedTopk(q, docs, abs, k, chunk, floor === undefined ? undefined : T.tensor(floor));
    return { scores: r.values.toFloat32Array(), ids: r.indices.toBigInt64Array(), rescored: r.rescored.toBigInt64Array() };
  });
}

/** The largest row norm of float32 `docs` [N, D] (0 for none), block by block. */
export function maxRowNorm(docs: T.Tensor): number {
  const [N, D] = docs.shape as [number, number];
  const block = Math.max(1, Math.floor(BUILD_BLOCK_BYTES / (4 * Math.max(1, D))));
  let m = 0;
  for (let s = 0; s < N; s += block) m = Math.max(m, T.tidy(() => docs.narrow(0, s, Math.min(block, N - s)).norm(2, 1).max().item()));
  return m;
}

/** A document matrix's bfloat16 screening copy with the norms its error bound needs. */
export class ScreenCopy implements Disposable {
  private constructor(
    /** bf16(d − μ) [N, D]. */
    readonly lo: T.Tensor,
    readonly maxLo: number,
    readonly maxResidual: number,
    readonly maxCentered: number,
    readonly maxNorm: number,
  ) {}

  /**
   * Builds the copy of float32 `docs` [N, D] block by block (the float32 temporaries stay one block large). `into`, a
   * bfloat16 tensor of at least N rows, receives the copy instead of a new allocation (sharded search reuses one
   * buffer for every shard); the copy then borrows it.
   */
  static build(docs: T.Tensor, into?: T.Tensor): ScreenCopy {
    const [N, D] = docs.shape as [number, number];
    if (into !== undefined && (into.dtype !== 'bfloat16' || into.ndim !== 2 || into.size(0) < N || into.size(1) !== D)) {
      throw new Error(`ScreenCopy.build: 'into' must be bfloat16 [>= ${N}, ${D}], got ${into.dtype} [${into.shape.join(', ')}]`);
    }
    const lo = T.keep(into !== undefined ? into.narrow(0, 0, N) : T.empty([N, D], { dtype: 'bfloat16' }));
    try {
      const mu = T.tidy(() => (N > 0 ? docs.mean(0) : T.zeros([D])));
      let maxLo = 0;
      let maxResidual = 0;
      let maxCentered = 0;
      let maxNorm = 0;
      try {
        const block = Math.max(1, Math.floor(BUILD_BLOCK_BYTES / (4 * Math.max(1, D))));
        for (let s = 0; s < N; s += block) {
          const n = Math.min(block, N - s);
          const m = T.tidy(() => {
            const d = docs.narrow(0, s, n);
            const c = d.sub(mu); // fl(d − μ)
            const b = c.to('bfloat16');
            lo.narrow(0, s, n).copy_(b);
            const bf = b.to('float32');
            const norms = T.stack([bf.norm(2, 1).max(), c.sub(bf).norm(2, 1).max(), c.norm(2, 1).max(), d.norm(2, 1).max()]);
            return norms.toFloat32Array();
          });
          maxLo = Math.max(maxLo, m[0] as number);
          maxResidual = Math.max(maxResidual, m[1] as number);
          maxCentered = Math.max(maxCentered, m[2] as number);
          maxNorm = Math.max(maxNorm, m[3] as number);
        }
      } finally {
        mu.dispose();
      }
      return new ScreenCopy(lo, maxLo, maxResidual, maxCentered, maxNorm);
    } catch (e) {
      lo.dispose();
      throw e;
    }
  }

  get bytes(): number {
    return this.lo.numel * 2;
  }

  /**
   * The exact top-k of `q` [B, D] against `docs` (the float32 rows this copy was built from), best first, ties to
   * the lower offset. Also returns how many documents each query rescored.
   */
  search(q: T.Tensor, docs: T.Tensor, k: number, chunk: number): { scores: Float32Array; ids: BigInt64Array; rescored: BigInt64Array } {
    return T.tidy(() => {
      const D = q.size(1);
      const gamma = (D * U32) / (1 - D * U32);
      const qLo = q.to('bfloat16');
      const qLoF = qLo.to('float32');
      const qNorm = q.norm(2, 1);
      const abs = qNorm
        .mul(this.maxResidual + U32 * this.maxCentered + (U32 + D * 2 ** -53) * this.maxNorm)
        .add(q.sub(qLoF).norm(2, 1).mul(this.maxLo))
        .add(qLoF.norm(2, 1).mul(gamma * this.maxLo))
        .mul(SLACK)
        .contiguous();
      if (!abs.isFinite().all().item()) {
        throw new DrhardInputError("vector norms overflow float32 in the bf16 engine's error bound; search with the 'torch' or 'faiss' exact engine");
      }
      const r = T.screenedTopk(q, docs, qLo, this.lo, abs, REL, k, chunk);
      return { scores: r.values.toFloat32Array(), ids: r.indices.toBigInt64Array(), rescored: r.rescored.toBigInt64Array() };
    });
  }

  dispose(): void {
    this.lo.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * The int8 screen's relative term: the screen is fl(fl(I)·fl(s_q·s_d)) for the exact int32 dot I, three float32
 * roundings, so |screen − s_q·s_d·I| <= ((1 + u)^3 − 1)·|s_q·s_d·I| <= 3.0001u/(1 − 3.0001u)·|screen| < 4u·|screen|.
 */
export const INT8_REL = 4 * U32;

/** The int8 bound's absolute floor for dimension D: underflow in the screen's scaling and the rescored rounding. */
export function int8Tiny(D: number): number {
  return (D + 1) * 2 ** -135;
}

/**
 * The int8 kernel searches run on: the fastest this CPU has (T.int8ScreenIsas()), or DRHARD_INT8_ISA's, which may
 * name a slower one (tests and benches compare them on one machine). All return the same top-k and scores.
 */
export function int8Isa(env: NodeJS.ProcessEnv = process.env): string {
  assertInt8Available();
  const isas = T.int8ScreenIsas();
  const want = env['DRHARD_INT8_ISA'];
  if (want === undefined || want === '') return isas[0] as string;
  if (!isas.includes(want)) throw new DrhardInputError(`DRHARD_INT8_ISA=${want}: this CPU runs only ${isas.join(', ')}`);
  return want;
}

/** A clear error on a CPU that runs no int8 screen (without AVX2 and FMA). */
export function assertInt8Available(): void {
  if (!T.int8ScreenSupported()) {
    throw new DrhardInputError("the 'int8' exact engine needs a CPU with AVX2 and FMA, which this one lacks; use --exact fp32 (or auto)");
  }
}

/**
 * Query code levels for a kernel: 127 (8-bit codes) where VNNI multiplies them, 63 for AVX2, whose vpmaddubsw
 * saturates its int16 pair sums unless the unsigned query bytes (code + levels + 1) stay <= 127. Coarser query codes
 * only widen the bound (‖r_q‖ doubles), never break it: it measures the residual of the codes used.
 */
export function int8QueryLevels(isa: string): number {
  return isa === 'avx2' ? 63 : 127;
}

/**
 * The per-document bound terms a_d (err[i]) and c_d (err[np + i], np = err.length / 2) from int8Quantize's norms
 * [n, 3] (||d||, ||d − s_d·d̂||, ||s_d·d̂||) of D-dim rows; returns the largest ||d||.
 */
function errTerms(n: Float64Array, D: number, err: Float32Array): number {
  const np = err.length / 2;
  const g = U32 + D * 2 ** -53;
  let maxNorm = 0;
  for (let i = 0; 3 * i < n.length; i++) {
    maxNorm = Math.max(maxNorm, n[3 * i] as number);
    err[i] = SLACK * ((n[3 * i + 1] as number) + g * (n[3 * i] as number));
    err[np + i] = SLACK * (n[3 * i + 2] as number);
  }
  return maxNorm;
}

function checkedErr(err: Float32Array): Float32Array {
  if (!err.every(Number.isFinite)) {
    throw new DrhardInputError("vector norms overflow float32 in the int8 engine's error bound; search with the 'torch' or 'faiss' exact engine");
  }
  return err;
}

/**
 * The int8 engine's query side for one search: the screen codes (T.int8Quantize with `levels`) and, for the
 * refinement the kernels apply at D >= 256, codes of each query's screen residual r = q − s_q·q̂ coded the same way
 * (r ≈ s2·q̂2). `norms` [3B] per query: ||q||, ||r|| (from int8Quantize, float64) and an upper bound on
 * ||r − s2·q̂2||. r is exact in float64 (s_q·q̂ has at most 32 significant bits and q − s_q·q̂ cancels within them)
 * but is coded from its float32 rounding r32, so the bound adds ||r − r32|| (triangle inequality) and 2^-30 of
 * relative slack for the float64 sums (D·2^-52 at D <= 65536).
 */
export function int8QueryCodes(
  q: T.Tensor,
  levels: number,
): { codes: T.Tensor; scale: T.Tensor; codes2: T.Tensor; scale2: T.Tensor; norms: Float64Array } {
  const [B, D] = q.shape as [number, number];
  const qc = T.int8Quantize(q, false, levels);
  const { r32, drift } = T.tidy(() => {
    // Converted before narrowing: libtorch's conversion of the narrowed (strided) uint8 view was 4x slower.
    const coded = qc.codes.to('float64').narrow(1, 0, D).sub(levels + 1).mul(qc.scale.to('float64').unsqueeze(1));
    const r = q.to('float64').sub(coded);
    const r32 = r.to('float32');
    return { r32: T.keep(r32), drift: r.sub(r32.to('float64')).norm(2, 1).toFloat64Array() };
  });
  const qc2 = T.int8Quantize(r32, false, levels);
  r32.dispose();
  const n1 = qc.norms.toFloat64Array();
  const n2 = qc2.norms.toFloat64Array();
  const norms = new Float64Array(3 * B);
  for (let b = 0; b < B; b++) {
    norms[3 * b] = n1[3 * b] as number;
    norms[3 * b + 1] = n1[3 * b + 1] as number;
    norms[3 * b + 2] = ((n2[3 * b + 1] as number) + (drift[b] as number)) * (1 + 2 ** -30);
  }
  return { codes: qc.codes, scale: qc.scale, codes2: qc2.codes, scale2: qc2.scale, norms };
}

/**
 * A document matrix's int8 screening copy (T.int8Quantize panels: s_d = max|d|/127, d̂ = round(d/s_d)) with the
 * per-document error terms of its bound, for the int8 engine (AVX2 or better: T.int8ScreenSupported(); the kernel by
 * int8Isa()).
 *
 * The bound. Queries are coded the same way per search (s_q, q̂). The screen scores P = s_q·s_d·(q̂·d̂) with q̂·d̂
 * summed exactly in int32 (|q̂·d̂| <= D·127², and the kernel's unsigned form Σ(q̂ + 128)·d̂ stays below
 * D·255·128 < 2^31 for D <= 65536). With r_d = d − s_d·d̂ and r_q = q − s_q·q̂, exactly
 *   q·d − P = q·(d − s_d·d̂) + (q − s_q·q̂)·(s_d·d̂) = q·r_d + r_q·(s_d·d̂),
 * so by Cauchy–Schwarz |q·d − P| <= ||q||·||r_d|| + ||r_q||·||s_d·d̂||. The float32 screen value s = fl(fl(I)·fl(s_q·s_d))
 * obeys |s − P| <= INT8_REL·|s|, plus at most (D·127²·1.01 + 1)·2^-150 if s_q·s_d or the product underflows. The
 * rescored f = fl32(q·d summed in float64) obeys |f − q·d| <= (u + D·2^-53)·||q||·||d|| + 2^-150 (the float64 sum's
 * error, one rounding to float32). Hence, per query and document,
 *   |s − f| <= ||q||·a_d + ||r_q||·c_d + int8Tiny(D) + INT8_REL·|s|,
 *   a_d = SLACK·(||r_d|| + (u + D·2^-53)·||d||),  c_d = SLACK·||s_d·d̂||.
 * The norms come from T.int8Quantize in float64 (relative error < D·2^-52); SLACK (1.01) covers that and their
 * rounding to float32 (the kernel rounds its own arithmetic outward). Any integer codes keep the bound valid: it
 * measures the residuals of the codes actually used. Per-document terms (rather than the largest over the
 * documents, as the bf16 and fp32 screens use) matter here: a_d follows max|d|, which varies more from row to row
 * than the norms do.
 */
export class Int8Copy implements Disposable {
  private constructor(
    readonly codes: { codes: T.Tensor; scale: T.Tensor; sum: T.Tensor; err: T.Tensor },
    /** The largest row norm: with the query's, it decides whether float32 holds every screen value. */
    readonly maxNorm: number,
  ) {}

  /** Codes float32 `docs` [N, D] (non-finite values are refused). */
  static build(docs: T.Tensor): Int8Copy {
    const c = T.int8Quantize(docs, true);
    const codes = T.keep(c.codes);
    const scale = T.keep(c.scale);
    const sum = T.keep(c.sum);
    try {
      const err = new Float32Array(2 * scale.size(0));
      const maxNorm = errTerms(T.keep(c.norms).toFloat64Array(), docs.size(1), err);
      return new Int8Copy({ codes, scale, sum, err: T.keep(T.tensor(checkedErr(err))) }, maxNorm);
    } catch (e) {
      [codes, scale, sum].forEach((t) => t.dispose());
      throw e;
    } finally {
      c.norms.dispose();
    }
  }

  /**
   * The copy of N rows coded a block at a time (a file too big to load): `add` each block of rows in order, each
   * starting at a multiple of 32 (panels never straddle blocks), then `finish`; `dispose` drops an unfinished copy.
   * Holds the codes, not the rows.
   */
  static builder(N: number, D: number): { add(start: number, rows: T.Tensor): void; finish(): Int8Copy; dispose(): void } {
    const Dp = Math.ceil(D / 4) * 4;
    const Np = Math.ceil(N / 32) * 32;
    const codes = T.keep(T.zeros([Np * Dp], { dtype: 'int8' }));
    const scale = T.keep(T.zeros([Np]));
    const sum = T.keep(T.zeros([Np], { dtype: 'int32' }));
    const err = new Float32Array(2 * Np);
    let next = 0;
    let maxNorm = 0;
    let done = false;
    const dispose = (): void => {
      if (!done) [codes, scale, sum].forEach((t) => t.dispose());
      done = true;
    };
    return {
      add(start: number, rows: T.Tensor): void {
        const n = rows.size(0);
        if (done || start !== next || start % 32 !== 0 || start + n > N || rows.size(1) !== D) {
          throw new RangeError(`Int8Copy.builder: rows [${start}, ${start + n}) of ${rows.size(1)} dims do not follow row ${next} of ${N} × ${D} at a multiple of 32`);
        }
        T.tidy(() => {
          const c = T.int8Quantize(rows, true);
          const np = c.scale.size(0);
          codes.narrow(0, start * Dp, np * Dp).copy_(c.codes);
          scale.narrow(0, start, np).copy_(c.scale);
          sum.narrow(0, start, np).copy_(c.sum);
          const part = new Float32Array(2 * np);
          maxNorm = Math.max(maxNorm, errTerms(c.norms.toFloat64Array(), D, part));
          err.set(part.subarray(0, np), start);
          err.set(part.subarray(np), Np + start);
        });
        next = start + n;
      },
      finish(): Int8Copy {
        if (done || next !== N) throw new RangeError(`Int8Copy.builder: ${next} of ${N} rows added`);
        done = true;
        try {
          return new Int8Copy({ codes, scale, sum, err: T.keep(T.tensor(checkedErr(err))) }, maxNorm);
        } catch (e) {
          [codes, scale, sum].forEach((t) => t.dispose());
          throw e;
        }
      },
      dispose,
    };
  }

  get bytes(): number {
    return this.codes.codes.numel + 12 * this.codes.scale.numel;
  }

  /**
   * The exact top-k of `q` [B, D] against `docs` (the float32 rows this copy was built from), best first, ties to
   * the lower offset; also how many documents each query rescored. `errScale` multiplies the bound (tests: < 1
   * breaks it); `isa` picks the kernel (default int8Isa()); `floor` [B]: a score the caller already holds k results
   * at or above from lower offsets (documents that cannot reach it are dropped: rows may come back short);
   * `rowFile`: rescore from that embeddings file (float16 rows widened), a row at a time, rather than from `docs`
   * (then only its shape is used).
   */
  search(
    q: T.Tensor,
    docs: T.Tensor,
    k: number,
    opts: { errScale?: number; isa?: string; floor?: Float32Array; rowFile?: T.RowFile } = {},
  ): { scores: Float32Array; ids: BigInt64Array; rescored: BigInt64Array } {
    const { errScale = 1, isa = int8Isa(), floor, rowFile } = opts;
    return T.tidy(() => {
      const levels = int8QueryLevels(isa);
      const qc = int8QueryCodes(q, levels);
      const n = qc.norms;
      const B = n.length / 3;
      const err = new Float32Array(3 * B);
      const D = q.size(1);
      for (let b = 0; b < B; b++) {
        // Every screen value (|s| <= D·||q||·||d||) and s_q·s_d must stay finite, else a NaN or infinite screen
        // value could drop a document.
        if (!(D * (n[3 * b] as number) * Math.max(this.maxNorm, 127) < 1e37)) {
          throw new DrhardInputError("vector norms overflow float32 in the int8 engine's screen; search with the 'fp32', 'torch' or 'faiss' exact engine");
        }
        err[3 * b] = errScale * (n[3 * b] as number);
        err[3 * b + 1] = errScale * (n[3 * b + 1] as number);
        // Rounded up: this term is not covered by the per-document terms' SLACK.
        err[3 * b + 2] = errScale * (n[3 * b + 2] as number) * (1 + 2 ** -20);
      }
      const r = T.int8ScreenedTopk(q, docs, { codes: qc.codes, scale: qc.scale, codes2: qc.codes2, scale2: qc.scale2, err: T.tensor(checkedErr(err)) }, this.codes, errScale * int8Tiny(D), errScale * INT8_REL, k, { isa, qOffset: levels + 1 }, floor === undefined ? undefined : T.tensor(floor), rowFile);
      return { scores: r.values.toFloat32Array(), ids: r.indices.toBigInt64Array(), rescored: r.rescored.toBigInt64Array() };
    });
  }

  dispose(): void {
    Object.values(this.codes).forEach((t) => t.dispose());
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
