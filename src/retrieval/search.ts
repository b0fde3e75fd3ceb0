// In-process dense retrieval: exact inner-product top-k (bfloat16- or float32-screened GEMM with exact rescoring,
// float32 GEMM + topk, or faiss flat; in memory or shard by shard from an embeddings file), or through a faiss index;
// deterministic ties (lower doc offset first).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as T from '../tensor/index.ts';
import { DrhardInputError } from '../util/errors.ts';
import { assertFileFinite, assertFinite, layoutOf, nonFiniteError, nonFiniteRows, readRows, readRowsInto, verifyEmbeddings, type EmbeddingsLayout } from './embeddings.ts';
import { calibratedEngine } from './calibrate.ts';
import { faissBytesPerVector } from './faissmem.ts';
import { Int8Copy, ScreenCopy, assertInt8Available, maxRowNorm, sgemmScreenedSearch } from './screen.ts';
import { chunkTopK, emptyTopK, mergeInto, sortRows, type TopK } from './topk.ts';

export type SearchHits = TopK;

/**
 * Exact search engines: 'bf16' (a bfloat16 GEMM screens, the documents that can still be in the top-k are rescored
 * in float64 and rounded to float32: src/retrieval/screen.ts), 'fp32' (the same with a float32 sgemm screen of the
 * rows themselves: no copy, any x86-64 CPU), 'torch' (float32 libtorch GEMM + topk per block) or 'faiss'
 * (IndexFlatIP: float32 BLAS GEMM + per-query heaps), 'int8' (the same screen-and-rescore with an int8 screen;
 * CPUs with AVX2, its kernel by instruction set: src/retrieval/screen.ts Int8Copy, int8Isa). All return the exact top-k of their scores. bf16,
 * fp32 and int8 return the same, correctly rounded scores; the torch and faiss scores differ from those in the last
 * bits (summation order), so documents within that distance of each other may swap places between engines.
 */
export type ExactEngine = 'bf16' | 'fp32' | 'torch' | 'faiss' | 'int8';

export interface DenseSearcherOptions {
  /** 'flat' (exact; the default) or a faiss index_factory string ('HNSW32', 'IVF4096,PQ64' …: approximate). */
  index?: string;
  /** Exact engine (default defaultEngine(N, D): measured per machine, src/retrieval/calibrate.ts). Ties go to the lower doc offset. */
  engine?: ExactEngine;
  /** Documents per GEMM block. Together with queryBatch it bounds the score buffer (queryBatch × chunkRows floats). */
  chunkRows?: number;
  /** Queries per GEMM block. */
  queryBatch?: number;
  /** Columns per group in the two-stage top-k selection (0 = plain topk over each block); see chunkTopK. */
  groupSize?: number;
  /** faiss runtime parameters, e.g. { nprobe: 64 } or { efSearch: 128 }. */
  params?: Record<string, number>;
}

export interface FromFileOptions extends DenseSearcherOptions {
  /**
   * Memory budget for document vectors. A file whose float32 rows exceed it keeps only its int8 copy in memory where
   * that fits (exact, int8 engine: the rows rescoring needs are read from the file); otherwise, or with another
   * engine named, it is searched shard by shard (exact search only), holding one shard plus one score block at a
   * time. Default: half of the machine's memory.
   */
  maxMemoryBytes?: number;
  /** dim/dtype for a bare file without a `<file>.json` manifest. */
  layout?: Partial<EmbeddingsLayout>;
  /** Check the file's full sha256 against its manifest even when it is large (see verifyEmbeddings). */
  verify?: boolean;
}

/**
 * The default exact engine for N documents of dimension D: the fastest in this machine's calibration
 * (src/retrieval/calibrate.ts; measured once per machine and D class, cached), 'fp32' for small collections.
 * Block defaults from bench/retrieval.ts. Score blocks stay at 16 MiB (256 × 16384 floats, or 512 × 16384 bfloat16):
 * glibc recycles blocks below its 32 MiB mmap threshold, while bigger ones are mapped and page-faulted afresh on
 * every GEMM, which halved the sgemm rate.
 */
export function defaultEngine(N: number, D: number): ExactEngine {
  return calibratedEngine(N, D);
}
export const DEFAULT_CHUNK_ROWS = 16384;
export const DEFAULT_QUERY_BATCH = 256;
/** Queries per screening GEMM: oneDNN's bfloat16 GEMM ran 40% faster at 512 rows than at 256 (bench/retrieval.ts). */
export const SCREEN_QUERY_BATCH = 512;
export const DEFAULT_GROUP_SIZE = 8;
/**
 * The fp32 engine's blocks: 512 queries per call, split between the threads, each scoring its queries against 2048
 * documents at a time into its own reused block (256 × 2048 float32 = 2 MiB with 2 threads, this CPU's L2), scanned
 * while still in cache. Chosen among 1024/2048/4096 × 256/512 by exp runs on a loaded 2-core EPYC (noisy; 2048 × 512
 * was best or within noise at both 100k × 768 and 1M × 128).
 */
export const FP32_CHUNK_ROWS = 2048;
export const FP32_QUERY_BATCH = 512;
/** Rows used to train a faiss index that needs training (IVF, PQ), from the front of the collection. */
export const FAISS_TRAIN_ROWS = 262144;

type Store =
  /** `docs` may be null when the vectors live only in `flat` (faiss engine over a file); then `file` serves docVectors. */
  | {
      kind: 'memory';
      docs: T.Tensor | null;
      owned: boolean;
      flat: T.FaissIndex | null;
      /** The bf16 engine's or the int8 engine's screening copy. */
      screen: ScreenCopy | Int8Copy | null;
      /** The largest row norm (fp32 engine: its error bound), else null. */
      maxNorm: number | null;
      file: { path: string; layout: EmbeddingsLayout } | null;
      /**
       * The int8 copy screens a file too big to load, whose rows rescoring reads one at a time from it: `docs` is
       * then a [N, D] view of one zero row, which only gives the shape.
       */
      rowFile?: T.RowFile;
    }
  /** `checked[s]` is 1 once shard s was loaded and found finite (a search checks each shard before it uses it). */
  | { kind: 'file'; path: string; layout: EmbeddingsLayout; shardRows: number; checked: Uint8Array };

export class DenseSearcher implements Disposable {
  #store: Store | null;
  #faiss: T.FaissIndex | null;
  readonly #count: number;
  readonly #dim: number;
  readonly #chunkRows: number;
  readonly #queryBatch: number;
  readonly #screenBatch: number;
  readonly #group: number;
  readonly #engine: ExactEngine;

  private constructor(store: Store, count: number, dim: number, faiss: T.FaissIndex | null, opts: DenseSearcherOptions) {
    // A faiss index needs no exact engine: no calibration for it.
    this.#engine = opts.engine ?? (faiss !== null ? 'fp32' : defaultEngine(count, dim));
    this.#store = store;
    this.#count = count;
    this.#dim = dim;
    this.#faiss = faiss;
    const fp32 = this.#engine === 'fp32';
    this.#chunkRows = positiveInt(opts.chunkRows ?? (fp32 ? FP32_CHUNK_ROWS : DEFAULT_CHUNK_ROWS), 'chunkRows');
    this.#queryBatch = positiveInt(opts.queryBatch ?? DEFAULT_QUERY_BATCH, 'queryBatch');
    this.#screenBatch = positiveInt(opts.queryBatch ?? (fp32 ? FP32_QUERY_BATCH : SCREEN_QUERY_BATCH), 'queryBatch');
    this.#group = opts.groupSize ?? DEFAULT_GROUP_SIZE;
    if (!Number.isInteger(this.#group) || this.#group < 0) throw new DrhardInputError(`groupSize must be a non-negative integer, got ${this.#group}`);
  }

  /**
   * Searches the rows of `docs` [N, D]. A float32 tensor is borrowed (not copied, not disposed: keep it alive while
   * searching); other dtypes are converted into a copy the searcher owns. Non-finite rows are refused.
   */
  static fromTensor(docs: T.Tensor, opts: DenseSearcherOptions = {}): DenseSearcher {
    if (docs.ndim !== 2) throw new DrhardInputError(`document embeddings must be [N, D], got [${docs.shape.join(', ')}]`);
    const owned = docs.dtype !== 'float32' || docs.device !== 'cpu';
    const d = owned ? T.keep(docs.to({ dtype: 'float32', device: 'cpu' })) : docs;
    return DenseSearcher.inMemory(d, owned, 'document embeddings', opts);
  }

  /**
   * A searcher over float32 rows held in memory: checks them, then builds what the index or exact engine searches
   * (faiss keeps its own copy of the rows; the tensor stays for docVectors). `owned` rows are disposed on failure.
   */
  private static inMemory(d: T.Tensor, owned: boolean, what: string, opts: DenseSearcherOptions): DenseSearcher {
    const [N, D] = d.shape as [number, number];
    let faiss: T.FaissIndex | null = null;
    let flat: T.FaissIndex | null = null;
    let screen: ScreenCopy | Int8Copy | null = null;
    let maxNorm: number | null = null;
    try {
      assertFinite(d, what);
      const engine = opts.engine ?? (isFlat(opts.index) ? defaultEngine(N, D) : 'fp32');
      if (!isFlat(opts.index)) faiss = buildFaiss(opts, D, N, (s, n) => d.narrow(0, s, n));
      else if (engine === 'faiss') flat = flatIndex(D, N, (s, n) => d.narrow(0, s, n));
      else if (engine === 'bf16') screen = ScreenCopy.build(d);
      else if (engine === 'int8') screen = buildInt8(d);
      else if (engine === 'fp32') maxNorm = maxRowNorm(d);
      return new DenseSearcher({ kind: 'memory', docs: d, owned, flat, screen, maxNorm, file: null }, N, D, faiss, { ...opts, engine });
    } catch (e) {
      faiss?.dispose();
      flat?.dispose();
      screen?.dispose();
      if (owned) d.dispose();
      throw e;
    }
  }

  /**
   * Searches an embeddings file (manifest `<file>.json`, or `layout` for a bare file). It is loaded whole when its
   * float32 rows fit `maxMemoryBytes`, else its int8 copy is kept (mode 'resident') or it is searched shard by shard,
   * with the same results.
   */
  static fromFile(file: string, opts: FromFileOptions = {}): DenseSearcher {
    if (!fs.existsSync(file)) throw new DrhardInputError('embeddings file not found', { file });
    verifyEmbeddings(file, { full: opts.verify ?? false });
    const layout = layoutOf(file, opts.layout);
    const { count: N, dim: D } = layout;
    const budget = opts.maxMemoryBytes ?? Math.floor(os.totalmem() / 2);
    if (!(budget > 0)) throw new DrhardInputError(`maxMemoryBytes must be positive, got ${budget}`);
    const rowBytes = D * 4;
    const engine = opts.engine ?? (isFlat(opts.index) ? defaultEngine(N, D) : 'fp32');
    // The bfloat16 screening copy lives beside the float32 rows.
    const memRowBytes = rowBytes + (isFlat(opts.index) && engine === 'bf16' ? D * 2 : 0) + (isFlat(opts.index) && engine === 'int8' ? int8RowBytes(D) : 0);
    if (N * memRowBytes <= budget) {
      // faiss holds its own copy of the rows. When a second copy fits the budget too, docVectors gathers from memory
      // (ADORE asks for B × K rows per step); otherwise it reads them from the file.
      if (isFlat(opts.index) && engine === 'faiss' && 2 * N * rowBytes > budget) {
        assertFileFinite(file, layout, LOAD_BLOCK);
        const flat = flatIndex(D, N, (s, n) => readRows(file, layout, s, n));
        return new DenseSearcher({ kind: 'memory', docs: null, owned: false, flat, screen: null, maxNorm: null, file: { path: file, layout } }, N, D, null, opts);
      }
      const docs = T.keep(N === 0 ? T.zeros([0, D]) : readRows(file, layout, 0, N));
      return DenseSearcher.inMemory(docs, true, `${file}: document embeddings`, { ...opts, engine });
    }
    if (!isFlat(opts.index)) {
      // A compressed index (PQ, SQ codes) can hold far less than the float32 rows: stream them from the file into it
      // when its codes plus the training sample fit (measured at 8.8M × 768: 27 GB of rows, 0.6 GB of IVF-PQ64).
      const perVector = faissBytesPerVector(opts.index as string, D);
      const need = perVector === null ? null : N * perVector + Math.min(N, FAISS_TRAIN_ROWS) * rowBytes;
      if (need === null || need > budget) {
        throw new DrhardInputError(
          `${N} × ${D} float32 rows (${N * rowBytes} bytes) exceed the memory budget of ${budget} bytes, and a faiss '${opts.index}' index ` +
            `${need === null ? 'of unknown size' : `needs about ${need} bytes`}: raise the budget, use a compressed index (IVF4096,PQ64 …) or the exact 'flat' search`,
          { file },
        );
      }
      assertFileFinite(file, layout, LOAD_BLOCK);
      const faiss = buildFaiss(opts, D, N, (s, n) => readRows(file, layout, s, n));
      return new DenseSearcher({ kind: 'memory', docs: null, owned: false, flat: null, screen: null, maxNorm: null, file: { path: file, layout } }, N, D, faiss, opts);
    }
    // The int8 copy of every row fits where the float32 rows do not (D + 16 bytes a row against 4·D): keep it in
    // memory and read from the file only the rows the exact rescoring needs (~400 per query), instead of reading the
    // whole file at every search (27 GB at 8.8M × 768: each ADORE step read it). Taken whatever the calibration
    // prefers, unless an engine is named: no engine's speed makes up for a pass over the file.
    if ((opts.engine === undefined || opts.engine === 'int8') && T.int8ScreenSupported()) {
      const resident = DenseSearcher.residentInt8(file, layout, budget, opts);
      if (resident !== null) return resident;
    }
    // Sharded search defaults to the calibrated engine, but fp32 where that is faiss: building a faiss index per
    // shard (a copy of the rows plus faiss's own buffers) left peak RSS 1-2x over budget from run to run (glibc keeps
    // freed blocks); fp32 needs no copy at all.
    const shardEngine = opts.engine ?? (engine === 'faiss' ? 'fp32' : engine);
    // A third of the budget holds one shard (plus its float16 source while widening, or faiss's copy of it), a sixth
    // one score block [queryBatch, chunk] with topk's working copy; the rest is headroom for what the allocator
    // keeps. Blocks shrink to fit a small budget.
    const shardBytes = Math.floor(budget / 3);
    const blockBytes = Math.floor(budget / 6);
    const perRow =
      rowBytes + (layout.dtype === 'float16' ? D * 2 : 0) + (shardEngine === 'faiss' ? rowBytes : shardEngine === 'bf16' ? D * 2 : shardEngine === 'int8' ? int8RowBytes(D) : 0);
    let shardRows = Math.floor(shardBytes / perRow);
    if (shardRows < 1) throw new DrhardInputError(`memory budget ${budget} bytes is too small for even one ${D}-dim row per shard`);
    const chunkRows = Math.min(opts.chunkRows ?? (shardEngine === 'fp32' ? FP32_CHUNK_ROWS : DEFAULT_CHUNK_ROWS), shardRows);
    // A bfloat16 score block takes half the bytes of a float32 one, and the screens need no topk copy: 4x (bf16) or
    // 2x (fp32) the queries fit.
    // The int8 screen writes no score block at all.
    const blockQueries = Math.floor(blockBytes / (chunkRows * 4 * 2)) * (shardEngine === 'bf16' || shardEngine === 'int8' ? 4 : shardEngine === 'fp32' ? 2 : 1);
    const batchDefault = shardEngine === 'bf16' || shardEngine === 'int8' ? SCREEN_QUERY_BATCH : shardEngine === 'fp32' ? FP32_QUERY_BATCH : DEFAULT_QUERY_BATCH;
    const queryBatch = Math.max(1, Math.min(opts.queryBatch ?? batchDefault, blockQueries));
    // Whole GEMM blocks per shard, so block boundaries stay where the in-memory search puts them.
    shardRows -= shardRows % chunkRows;
    // faiss blocks its GEMM by 1024 rows from each index's start: keep shards on those boundaries too.
    if (shardEngine === 'faiss' && shardRows >= FAISS_BLOCK) shardRows -= shardRows % FAISS_BLOCK;
    // Blocks of 1 MiB and up get their own mappings from here on: peak RSS then follows what is alive, not glibc's
    // heap history (measured: a bf16 sharded search peaked 82-89 MiB over a 128 MiB budget in four runs, against
    // 100-350 MiB without).
    T.setMallocMmapThreshold(1 << 20);
    if (shardEngine === 'int8') assertInt8Available();
    // No finiteness pass here: the first search checks each shard as it loads it, before using it, so the file is read
    // once rather than twice (at 8.8M x 768 that was 27 GB of reads more); later searches skip the checked shards.
    const checked = new Uint8Array(Math.ceil(N / shardRows));
    return new DenseSearcher({ kind: 'file', path: file, layout, shardRows, checked }, N, D, null, { ...opts, chunkRows, queryBatch, engine: shardEngine });
  }

  /**
   * The int8 engine over a file too big to load (float16 rows are widened as they are read): its int8 copy built a
   * block at a time (each block checked for NaN/Inf; an error names every bad row) and kept, the rows rescoring needs
   * read from the file. Null when the copy and a block buffer do not fit `budget` with a quarter of it (at most
   * 512 MiB) to spare for the coding's and the search's buffers.
   */
  private static residentInt8(file: string, layout: EmbeddingsLayout, budget: number, opts: FromFileOptions): DenseSearcher | null {
    const { count: N, dim: D } = layout;
    const copyBytes = N * int8RowBytes(D);
    const spare = Math.min(budget / 4, 512 * 2 ** 20);
    const blockRows = Math.min(65536, Math.floor((budget - spare - copyBytes) / (D * (layout.dtype === 'float16' ? 6 : 4)) / 32) * 32);
    if (blockRows < 32) return null;
    const builder = Int8Copy.builder(N, D);
    const buf = T.keep(T.empty([Math.min(blockRows, N), D]));
    const staging = layout.dtype === 'float16' ? T.keep(T.empty([Math.min(blockRows, N), D], { dtype: 'float16' })) : undefined;
    const bad: number[] = [];
    let docs: T.Tensor | null = null;
    let screen: Int8Copy | null = null;
    try {
      for (let s = 0; s < N; s += blockRows) {
        const n = Math.min(blockRows, N - s);
        T.tidy(() => {
          const rows = n === buf.size(0) ? buf : buf.narrow(0, 0, n);
          readRowsInto(file, layout, s, rows, staging);
          bad.push(...nonFiniteRows(rows, s));
          if (bad.length === 0) builder.add(s, rows);
        });
      }
      if (bad.length > 0) throw nonFiniteError(bad, `${file}: document embeddings`);
      screen = builder.finish();
      docs = T.keep(T.tidy(() => T.zeros([1, D]).expand([N, D])));
      const rowFile = { path: file, dtype: layout.dtype };
      return new DenseSearcher({ kind: 'memory', docs, owned: true, flat: null, screen, maxNorm: null, file: { path: file, layout }, rowFile }, N, D, null, { ...opts, engine: 'int8' });
    } catch (e) {
      builder.dispose();
      screen?.dispose();
      docs?.dispose();
      throw e;
    } finally {
      buf.dispose();
      staging?.dispose();
    }
  }

  /** Wraps an already built (or loaded) faiss index; `docs` optionally supplies stored rows for docVectors(). */
  static fromFaiss(index: T.FaissIndex, docs?: T.Tensor | { file: string; layout?: Partial<EmbeddingsLayout> }): DenseSearcher {
    const N = index.ntotal;
    const D = index.dim;
    let store: Store;
    if (docs === undefined) store = { kind: 'memory', docs: null, owned: false, flat: null, screen: null, maxNorm: null, file: null };
    else if (docs instanceof T.Tensor) store = { kind: 'memory', docs, owned: false, flat: null, screen: null, maxNorm: null, file: null };
    else store = { kind: 'file', path: docs.file, layout: layoutOf(docs.file, docs.layout), shardRows: 0, checked: new Uint8Array(0) };
    return new DenseSearcher(store, N, D, index, {});
  }

  get count(): number {
    return this.#count;
  }
  get dim(): number {
    return this.#dim;
  }
  /** The exact engine in use; null for an approximate faiss index. */
  get engine(): ExactEngine | null {
    return this.#faiss !== null ? null : this.#engine;
  }
  /**
   * 'memory' (exact, all rows loaded), 'resident' (exact: the int8 copy in memory, the rows it rescores read from the
   * file), 'sharded' (exact, file read shard by shard) or 'faiss' (approximate index).
   */
  get mode(): 'memory' | 'resident' | 'sharded' | 'faiss' {
    if (this.#faiss !== null) return 'faiss';
    const s = this.store;
    return s.kind === 'file' ? 'sharded' : s.rowFile !== undefined ? 'resident' : 'memory';
  }
  /** Number of shards a sharded search reads per call (1 in memory). */
  get shards(): number {
    const s = this.store;
    return s.kind === 'file' && s.shardRows > 0 ? Math.ceil(this.#count / s.shardRows) : 1;
  }

  private get store(): Store {
    if (this.#store === null) throw new Error('DenseSearcher was disposed');
    return this.#store;
  }

  /**
   * Top-`k` documents for each query row of `q` [B, D] by inner product, best first; equal scores rank the lower
   * doc offset first (exact modes). With fewer than k documents the tail holds id -1 and score -Infinity.
   */
  search(q: T.Tensor, k: number): SearchHits {
    positiveInt(k, 'k');
    if (q.ndim !== 2 || q.size(1) !== this.#dim) {
      throw new DrhardInputError(`queries must be [B, ${this.#dim}], got [${q.shape.join(', ')}]`);
    }
    const B = q.size(0);
    const acc = emptyTopK(B, k);
    if (B === 0 || this.#count === 0) return acc;
    const qf = q.dtype === 'float32' && q.device === 'cpu' ? q : q.to({ dtype: 'float32', device: 'cpu' });
    try {
      assertFinite(qf, 'query embeddings');
      if (this.#faiss !== null) return this.searchFaiss(qf, k);
      const store = this.store;
      if (store.kind === 'memory') {
        if (store.flat !== null) mergeFlat(store.flat, qf, 0, acc);
        else if (store.screen !== null && store.docs !== null) this.searchScreened(qf, store.docs, store.screen, 0, acc, store.rowFile);
        else if (store.maxNorm !== null && store.docs !== null) this.searchScreened(qf, store.docs, store.maxNorm, 0, acc);
        else if (store.docs !== null) this.searchBlock(qf, store.docs, 0, acc);
      } else if (this.#engine === 'faiss') {
        const bad: number[] = [];
        for (let s = 0; s < this.#count; s += store.shardRows) {
          const n = Math.min(store.shardRows, this.#count - s);
          const si = s / store.shardRows;
          const was = bad.length;
          const ix = flatIndex(this.#dim, n, (a, m) => {
            const x = readRows(store.path, store.layout, s + a, m);
            if (store.checked[si] === 0) bad.push(...nonFiniteRows(x, s + a));
            return x;
          });
          try {
            if (bad.length === was) store.checked[si] = 1;
            if (bad.length === 0) mergeFlat(ix, qf, s, acc);
          } finally {
            ix.dispose();
          }
        }
        if (bad.length > 0) throw nonFiniteError(bad, `${store.path}: document embeddings`);
      } else this.searchShards(qf, store, acc);
      return acc;
    } finally {
      if (qf !== q) qf.dispose();
    }
  }

  /** Merges the top-k of q against `docs` (rows base…base+n) into `acc`. */
  private searchBlock(q: T.Tensor, docs: T.Tensor, base: number, acc: TopK): void {
    const B = q.size(0);
    const N = docs.size(0);
    const k = acc.k;
    const g = this.#group;
    for (let qs = 0; qs < B; qs += this.#queryBatch) {
      const qb = Math.min(this.#queryBatch, B - qs);
      const rows: TopK = { scores: acc.scores.subarray(qs * k, (qs + qb) * k), ids: acc.ids.subarray(qs * k, (qs + qb) * k), k };
      const qv = q.narrow(0, qs, qb);
      try {
        for (let ds = 0; ds < N; ds += this.#chunkRows) {
          const dn = Math.min(this.#chunkRows, N - ds);
          // A ragged last block is split so the grouped selection sees whole groups; the rest goes direct.
          const aligned = g > 0 ? dn - (dn % g) : dn;
          for (const [off, len] of [[0, aligned], [aligned, dn - aligned]] as const) {
            if (len === 0) continue;
            const part = T.tidy(() => {
              const s = qv.matmul(docs.narrow(0, ds + off, len).t()); // [qb, len]
              return chunkTopK(s, k, base + ds + off, g);
            });
            mergeInto(rows, part.scores, part.ids, qb, part.n);
          }
        }
      } finally {
        qv.dispose();
      }
    }
  }

  /**
   * Exact search of a file shard by shard (torch, bf16 or fp32 engine). One shard buffer (and one screening copy, and one
   * float16 staging buffer) serves every shard: a fresh allocation per shard left the freed ones behind in the
   * allocator and peak RSS over the budget. A shard not yet checked is checked for NaN/Inf as it is loaded; after a
   * bad one the rest are still read and checked (so the error names every bad row, as a separate pass did), not searched.
   */
  private searchShards(q: T.Tensor, store: Extract<Store, { kind: 'file' }>, acc: TopK): void {
    const D = this.#dim;
    const rows = Math.min(store.shardRows, this.#count);
    const buf = T.keep(T.empty([rows, D]));
    const lo = this.#engine === 'bf16' ? T.keep(T.empty([rows, D], { dtype: 'bfloat16' })) : null;
    const staging = store.layout.dtype === 'float16' ? T.keep(T.empty([rows, D], { dtype: 'float16' })) : undefined;
    const bad: number[] = [];
    try {
      for (let s = 0; s < this.#count; s += store.shardRows) {
        const n = Math.min(store.shardRows, this.#count - s);
        const shard = n === rows ? buf : T.keep(buf.narrow(0, 0, n));
        try {
          readRowsInto(store.path, store.layout, s, shard, staging);
          const si = s / store.shardRows;
          if (store.checked[si] === 0) {
            const rowsBad = nonFiniteRows(shard, s);
            if (rowsBad.length === 0) store.checked[si] = 1;
            else bad.push(...rowsBad);
          }
          if (bad.length > 0) continue;
          if (lo !== null) {
            using screen = ScreenCopy.build(shard, lo);
            this.searchScreened(q, shard, screen, s, acc);
          } else if (this.#engine === 'int8') {
            using screen = buildInt8(shard);
            this.searchScreened(q, shard, screen, s, acc);
          } else if (this.#engine === 'fp32') this.searchScreened(q, shard, maxRowNorm(shard), s, acc);
          else this.searchBlock(q, shard, s, acc);
        } finally {
          if (shard !== buf) shard.dispose();
        }
      }
    } finally {
      buf.dispose();
      lo?.dispose();
      staging?.dispose();
    }
    if (bad.length > 0) throw nonFiniteError(bad, `${store.path}: document embeddings`);
  }

  /**
   * Merges the exact top-k of q against `docs` (rows base…base+n) into `acc` through the bfloat16 screen (a
   * ScreenCopy) or the float32 one (the rows' largest norm).
   */
  private searchScreened(q: T.Tensor, docs: T.Tensor, screen: ScreenCopy | Int8Copy | number, base: number, acc: TopK, rowFile?: T.RowFile): void {
    const B = q.size(0);
    const k = acc.k;
    for (let qs = 0; qs < B; qs += this.#screenBatch) {
      const qb = Math.min(this.#screenBatch, B - qs);
      // Earlier shards' k-th best scores (lower offsets, so they win ties): the float32 screens drop what cannot
      // reach them, which spares most of the bounds and rescoring after the first shard. (The bf16 screen's scores
      // are shifted by q·μ, so it has no such floor.)
      const floor = kthScores(acc, qs, qb);
      const r = T.tidy(() => {
        const qv = q.narrow(0, qs, qb);
        if (typeof screen === 'number') return sgemmScreenedSearch(qv, docs, screen, k, this.#chunkRows, floor);
        return screen instanceof Int8Copy ? screen.search(qv, docs, k, { floor, rowFile }) : screen.search(qv, docs, k, this.#chunkRows);
      });
      const ids = new Int32Array(r.ids.length);
      for (let i = 0; i < ids.length; i++) {
        const id = Number(r.ids[i]);
        ids[i] = id < 0 ? -1 : id + base;
      }
      const rows: TopK = { scores: acc.scores.subarray(qs * k, (qs + qb) * k), ids: acc.ids.subarray(qs * k, (qs + qb) * k), k };
      mergeInto(rows, r.scores, ids, qb, k);
    }
  }

  private searchFaiss(q: T.Tensor, k: number): SearchHits {
    const r = (this.#faiss as T.FaissIndex).search(q, k);
    const ids = new Int32Array(r.ids.length);
    for (let i = 0; i < ids.length; i++) ids[i] = Number(r.ids[i]);
    const scores = r.scores;
    for (let i = 0; i < ids.length; i++) if ((ids[i] as number) < 0) scores[i] = -Infinity;
    // faiss returns ties in heap order; order equal scores by offset as the exact modes do.
    sortRows(scores, ids, q.size(0), k);
    return { scores, ids, k };
  }

  /** Stored document vectors for `ids` as a float32 tensor [n, D] (ADORE's frozen document side). */
  docVectors(ids: Int32Array | readonly number[]): T.Tensor {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.#count) throw new RangeError(`doc offset ${id} out of range [0, ${this.#count})`);
    }
    const store = this.store;
    let src: { path: string; layout: EmbeddingsLayout };
    if (store.kind === 'memory') {
      const docs = store.rowFile !== undefined ? null : store.docs;
      if (docs !== null) return T.tidy(() => docs.indexSelect(0, T.tensor(BigInt64Array.from(Array.from(ids), (x) => BigInt(x)))));
      if (store.file === null) throw new Error('this searcher holds no document vectors (built from a bare faiss index)');
      src = store.file;
    } else src = store;
    const D = this.#dim;
    const out = new Float32Array(ids.length * D);
    const rowBytes = D * (src.layout.dtype === 'float16' ? 2 : 4);
    const fd = fs.openSync(src.path, 'r');
    let t: T.Tensor;
    try {
      if (src.layout.dtype === 'float32') {
        const view = new Uint8Array(out.buffer);
        Array.from(ids).forEach((id, i) => readExact(fd, view.subarray(i * rowBytes, (i + 1) * rowBytes), id * rowBytes));
        t = T.tensor(out, { shape: [ids.length, D] });
      } else {
        const half = new Uint16Array(ids.length * D);
        const view = new Uint8Array(half.buffer);
        Array.from(ids).forEach((id, i) => readExact(fd, view.subarray(i * rowBytes, (i + 1) * rowBytes), id * rowBytes));
        t = T.tidy(() => T.tensor(half, { shape: [ids.length, D], dtype: 'float16' }).to('float32'));
      }
    } finally {
      fs.closeSync(fd);
    }
    // A sharded file is checked shard by shard as searches load it, so these rows may not have been yet.
    const bad = store.kind === 'file' ? nonFiniteRows(t) : [];
    if (bad.length > 0) {
      t.dispose();
      throw nonFiniteError(bad.map((i) => ids[i] as number), `${src.path}: document embeddings`);
    }
    return t;
  }

  dispose(): void {
    const s = this.#store;
    if (s !== null && s.kind === 'memory') {
      if (s.owned) s.docs?.dispose();
      s.flat?.dispose();
      s.screen?.dispose();
    }
    this.#faiss?.dispose();
    this.#faiss = null;
    this.#store = null;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

const LOAD_BLOCK = 65536;
const FAISS_BLOCK = 1024;

/** An IndexFlatIP holding rows `rows(start, n)` (added in blocks; the caller checked finiteness). */
function flatIndex(D: number, N: number, rows: (start: number, n: number) => T.Tensor): T.FaissIndex {
  const ix = T.FaissIndex.create(D, 'Flat', 'ip');
  try {
    for (let s = 0; s < N; s += LOAD_BLOCK) T.tidy(() => ix.add(rows(s, Math.min(LOAD_BLOCK, N - s)).contiguous()));
    return ix;
  } catch (e) {
    ix.dispose();
    throw e;
  }
}

// faiss (1.7.3) scores fewer than this many queries one by one (SIMD dot products) and more with sgemm; the two
// round differently, so a re-search must stay on the side of the first search.
const FAISS_BLAS_THRESHOLD = 20;

/**
 * Exact top-k from a flat faiss index (ids offset by `base`) merged into `acc`, ties to the lower offset.
 *
 * faiss's heaps choose arbitrarily among documents tied at the k-th place, so it is asked for k+1: where the k-th
 * and (k+1)-th scores differ the top-k set is unique. Rows where they tie are searched again with a larger k until
 * the list ends below the tied score; then every document at that score is known and the lowest offsets win.
 * Within the list, equal scores are re-sorted by offset.
 */
function mergeFlat(ix: T.FaissIndex, q: T.Tensor, base: number, acc: TopK): void {
  const B = q.size(0);
  const k = acc.k;
  const N = ix.ntotal;
  const probe = Math.min(k + 1, N);
  const r = ix.search(q, probe);
  const scores = new Float32Array(B * k).fill(-Infinity);
  const ids = new Int32Array(B * k).fill(-1);
  const ambiguous: number[] = [];
  for (let b = 0; b < B; b++) {
    const o = b * probe;
    if (probe > k && r.ids[o + k] !== -1n && r.scores[o + k - 1] === r.scores[o + k]) {
      ambiguous.push(b);
      continue;
    }
    for (let j = 0; j < Math.min(k, probe); j++) {
      const id = Number(r.ids[o + j]);
      if (id < 0) break;
      ids[b * k + j] = id + base;
      scores[b * k + j] = r.scores[o + j] as number;
    }
  }
  let todo = ambiguous;
  let kk = Math.min(N, 4 * probe);
  while (todo.length > 0) {
    const rows = todo.slice();
    // Pad with copies of the first row so faiss takes the same (sgemm or one-by-one) path as the first search.
    while (B >= FAISS_BLAS_THRESHOLD && rows.length < FAISS_BLAS_THRESHOLD) rows.push(todo[0] as number);
    const again = T.tidy(() => ix.search(q.indexSelect(0, T.tensor(BigInt64Array.from(rows, (x) => BigInt(x)))), kk));
    const left: number[] = [];
    todo.forEach((b, i) => {
      const o = i * kk;
      const v = r.scores[b * probe + k - 1] as number;
      const last = again.scores[o + kk - 1] as number;
      if (kk < N && again.ids[o + kk - 1] !== -1n && last >= v) {
        left.push(b);
        return;
      }
      // Everything scoring >= v is in this list: those above v, then the tied ones by offset.
      const list: Array<[number, number]> = [];
      for (let j = 0; j < kk; j++) {
        const id = Number(again.ids[o + j]);
        if (id >= 0 && (again.scores[o + j] as number) >= v) list.push([again.scores[o + j] as number, id]);
      }
      list.sort((x, y) => y[0] - x[0] || x[1] - y[1]);
      for (let j = 0; j < Math.min(k, list.length); j++) {
        scores[b * k + j] = (list[j] as [number, number])[0];
        ids[b * k + j] = (list[j] as [number, number])[1] + base;
      }
    });
    todo = left;
    kk = Math.min(N, kk * 4);
  }
  sortRows(scores, ids, B, k);
  mergeInto(acc, scores, ids, B, k);
}

/** Each query's k-th best score so far (rows qs…qs+qb of acc); undefined while none has k results yet. */
function kthScores(acc: TopK, qs: number, qb: number): Float32Array | undefined {
  const k = acc.k;
  const floor = new Float32Array(qb);
  let any = false;
  for (let b = 0; b < qb; b++) {
    floor[b] = acc.scores[(qs + b) * k + k - 1] as number;
    any ||= floor[b] !== Number.NEGATIVE_INFINITY;
  }
  return any ? floor : undefined;
}

/** The int8 engine's copy of `docs`; a clear error on a CPU without AVX2. */
function buildInt8(docs: T.Tensor): Int8Copy {
  assertInt8Available();
  return Int8Copy.build(docs);
}

/** Bytes per row of an int8 screening copy: codes (D rounded up to 4) plus scale, code sum and two error terms. */
function int8RowBytes(D: number): number {
  return Math.ceil(D / 4) * 4 + 16;
}

function isFlat(index: string | undefined): boolean {
  return index === undefined || index === 'flat' || index === 'Flat';
}

function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 1) throw new DrhardInputError(`${name} must be a positive integer, got ${v}`);
  return v;
}

/** Builds a faiss index over rows given by `rows(start, n)`: trains on the first rows if needed, adds in blocks. */
function buildFaiss(opts: DenseSearcherOptions, D: number, N: number, rows: (start: number, n: number) => T.Tensor): T.FaissIndex {
  const ix = T.FaissIndex.create(D, opts.index as string, 'ip');
  try {
    if (!ix.isTrained) T.tidy(() => ix.train(rows(0, Math.min(N, FAISS_TRAIN_ROWS)).contiguous()));
    const block = 65536;
    for (let s = 0; s < N; s += block) T.tidy(() => ix.add(rows(s, Math.min(block, N - s)).contiguous()));
    for (const [name, value] of Object.entries(opts.params ?? {})) ix.setParam(name, value);
    return ix;
  } catch (e) {
    ix.dispose();
    throw new DrhardInputError(`faiss index '${opts.index}': ${(e as Error).message}`);
  }
}

function readExact(fd: number, target: Uint8Array, position: number): void {
  let got = 0;
  while (got < target.byteLength) {
    const n = fs.readSync(fd, target, got, target.byteLength - got, position + got);
    if (n === 0) throw new DrhardInputError(`unexpected end of the embeddings file at byte ${position + got}`);
    got += n;
  }
}
