// BM25 over a token store (term = token id, special tokens ignored) with a typed-array CSR inverted index:
// Anserini's MS MARCO defaults k1 = 0.9, b = 0.4 and Lucene's idf and (k1+1)-free term weight.
import type { TokenStore } from '../data/tokenstore.ts';
import { DrhardInputError } from '../util/errors.ts';

export interface Bm25Params {
  k1: number;
  b: number;
}
/** [B, k] row-major hits; float64 scores, so near-ties are not merged by rounding. */
export interface Bm25Hits {
  ids: Int32Array;
  scores: Float64Array;
  k: number;
}

export const ANSERINI_MSMARCO: Bm25Params = { k1: 0.9, b: 0.4 };

/**
 * An index's arrays and parameters, as posted to a search worker (src/retrieval/bm25-worker.ts): the big arrays live
 * in SharedArrayBuffers, so a worker reads the same memory rather than a copy.
 */
export interface Bm25Parts {
  params: Bm25Params;
  avgdl: number;
  ignore: number[];
  start: Float64Array;
  docs: Int32Array;
  tfs: Uint16Array;
  norm: Float64Array;
  docLengths: Int32Array;
}

/** A typed array over a new SharedArrayBuffer (zero-filled), so search workers can share it. */
function shared<A extends Int32Array | Uint16Array | Float64Array>(Ctor: { new (b: SharedArrayBuffer): A; BYTES_PER_ELEMENT: number }, n: number): A {
  return new Ctor(new SharedArrayBuffer(n * Ctor.BYTES_PER_ELEMENT));
}

export interface Bm25BuildOptions extends Partial<Bm25Params> {
  /** Token ids that are not terms (CLS/SEP/PAD …). */
  ignore?: Iterable<number>;
  /** Called every few thousand documents with the number done (both passes count: 0 … 2N). */
  onProgress?: (done: number, total: number) => void;
}

/** Lucene's BM25 idf: log(1 + (N - df + 0.5) / (df + 0.5)); always positive. */
export function bm25Idf(N: number, df: number): number {
  return Math.log(1 + (N - df + 0.5) / (df + 0.5));
}

/**
 * Inverted index in CSR form: postings of term t are `docs[start[t] … start[t+1])` (ascending doc offsets) with
 * their term frequencies `tfs`. Scores are Σ_t qtf(t) · idf(t) · tf / (tf + k1 · (1 − b + b · dl / avgdl)) with
 * dl the document's term count (exact; Lucene would quantize it into a one-byte norm) and qtf the term's count in
 * the query (Anserini's bag-of-words query boosts a repeated term by its count). Lucene ≥ 8 dropped the constant
 * (k1 + 1) numerator factor, so scores match Anserini's scale.
 */
export class Bm25Index {
  readonly params: Bm25Params;
  readonly count: number;
  readonly avgdl: number;
  readonly vocab: number;
  readonly ignore: ReadonlySet<number>;
  /** [vocab + 1] posting offsets. */
  readonly start: Float64Array;
  readonly docs: Int32Array;
  readonly tfs: Uint16Array;
  /** Per-document k1 · (1 − b + b · dl / avgdl). */
  readonly norm: Float64Array;
  readonly docLengths: Int32Array;
  // Reused accumulator: scores are > 0 once touched, so 0 marks an untouched document.
  #acc: Float64Array;
  #touched: Int32Array;

  private constructor(p: {
    params: Bm25Params; avgdl: number; ignore: Set<number>; start: Float64Array; docs: Int32Array; tfs: Uint16Array; docLengths: Int32Array; norm?: Float64Array;
  }) {
    this.params = p.params;
    this.count = p.docLengths.length;
    this.avgdl = p.avgdl;
    this.vocab = p.start.length - 1;
    this.ignore = p.ignore;
    this.start = p.start;
    this.docs = p.docs;
    this.tfs = p.tfs;
    this.docLengths = p.docLengths;
    const { k1, b } = p.params;
    if (p.norm !== undefined) this.norm = p.norm;
    else {
      this.norm = shared(Float64Array, this.count);
      for (let d = 0; d < this.count; d++) this.norm[d] = k1 * (1 - b + (b * (p.docLengths[d] as number)) / (p.avgdl > 0 ? p.avgdl : 1));
    }
    this.#acc = new Float64Array(this.count);
    this.#touched = new Int32Array(this.count);
  }

  /** Number of postings (distinct (term, doc) pairs). */
  get postings(): number {
    return this.docs.length;
  }

  /** Document frequency of a term id. */
  df(term: number): number {
    if (term < 0 || term >= this.vocab) return 0;
    return (this.start[term + 1] as number) - (this.start[term] as number);
  }

  /**
   * Indexes every row of `store` in two streaming passes (document frequencies, then postings), so memory is the
   * index itself plus one row at a time.
   */
  static build(store: TokenStore, opts: Bm25BuildOptions = {}): Bm25Index {
    const params = { k1: opts.k1 ?? ANSERINI_MSMARCO.k1, b: opts.b ?? ANSERINI_MSMARCO.b };
    if (!(params.k1 >= 0) || !(params.b >= 0 && params.b <= 1)) throw new DrhardInputError(`BM25 needs k1 >= 0 and 0 <= b <= 1, got k1=${params.k1}, b=${params.b}`);
    const ignore = new Set(opts.ignore ?? []);
    const N = store.count;
    const docLengths = shared(Int32Array, N);
    let df = new Int32Array(1024);
    let scratch = new Int32Array(1024);
    let totalLen = 0;
    let maxTerm = -1;
    // Sorted copy of a row without ignored tokens; returns its length.
    const load = (d: number): number => {
      const row = store.get(d);
      if (scratch.length < row.length) scratch = new Int32Array(row.length * 2);
      let n = 0;
      for (let i = 0; i < row.length; i++) {
        const t = row[i] as number;
        if (t < 0) throw new DrhardInputError(`document ${d}: negative token id ${t}`);
        if (!ignore.has(t)) scratch[n++] = t;
      }
      scratch.subarray(0, n).sort();
      return n;
    };
    for (let d = 0; d < N; d++) {
      const n = load(d);
      docLengths[d] = n;
      totalLen += n;
      let prev = -1;
      for (let i = 0; i < n; i++) {
        const t = scratch[i] as number;
        if (t === prev) continue;
        prev = t;
        if (t >= df.length) {
          const g = new Int32Array(Math.max(t + 1, df.length * 2));
          g.set(df);
          df = g;
        }
        df[t] = (df[t] as number) + 1;
        if (t > maxTerm) maxTerm = t;
      }
      if ((d & 4095) === 0) opts.onProgress?.(d, 2 * N);
    }
    const vocab = maxTerm + 1;
    const start = shared(Float64Array, vocab + 1);
    for (let t = 0; t < vocab; t++) start[t + 1] = (start[t] as number) + (df[t] as number);
    const total = start[vocab] as number;
    const docs = shared(Int32Array, total);
    const tfs = shared(Uint16Array, total);
    const fill = Float64Array.from(start.subarray(0, vocab));
    for (let d = 0; d < N; d++) {
      const n = load(d);
      let i = 0;
      while (i < n) {
        const t = scratch[i] as number;
        let j = i + 1;
        while (j < n && scratch[j] === t) j++;
        const p = fill[t] as number;
        docs[p] = d;
        tfs[p] = Math.min(j - i, 65535);
        fill[t] = p + 1;
        i = j;
      }
      if ((d & 4095) === 0) opts.onProgress?.(N + d, 2 * N);
    }
    opts.onProgress?.(2 * N, 2 * N);
    return new Bm25Index({ params, avgdl: N > 0 ? totalLen / N : 0, ignore, start, docs, tfs, docLengths });
  }

  /** Query term → count, ignored tokens dropped. */
  private queryTerms(tokens: ArrayLike<number>): Map<number, number> {
    const q = new Map<number, number>();
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i] as number;
      if (!this.ignore.has(t)) q.set(t, (q.get(t) ?? 0) + 1);
    }
    return q;
  }

  /** BM25 score of every document for a query (dense; for tests and small corpora). */
  scoreAll(tokens: ArrayLike<number>): Float64Array {
    const out = new Float64Array(this.count);
    this.accumulate(this.queryTerms(tokens), out, null);
    return out;
  }

  private accumulate(q: Map<number, number>, acc: Float64Array, touched: Int32Array | null): number {
    let nt = 0;
    const { docs, tfs, norm } = this;
    for (const [t, qtf] of q) {
      if (t >= this.vocab) continue;
      const s = this.start[t] as number;
      const e = this.start[t + 1] as number;
      if (e === s) continue;
      const w = qtf * bm25Idf(this.count, e - s);
      for (let p = s; p < e; p++) {
        const d = docs[p] as number;
        const tf = tfs[p] as number;
        const prev = acc[d] as number;
        if (prev === 0 && touched !== null) touched[nt++] = d;
        acc[d] = prev + (w * tf) / (tf + (norm[d] as number));
      }
    }
    return nt;
  }

  /**
   * The `k` best documents for a query's token ids, best first; equal scores rank the lower doc offset first.
   * Documents sharing no term with the query are not returned (the tail holds id -1, score -Infinity).
   */
  search(tokens: ArrayLike<number>, k: number): { ids: Int32Array; scores: Float64Array } {
    if (!Number.isInteger(k) || k < 1) throw new DrhardInputError(`k must be a positive integer, got ${k}`);
    const ids = new Int32Array(k).fill(-1);
    const scores = new Float64Array(k).fill(-Infinity);
    const acc = this.#acc;
    const touched = this.#touched;
    const nt = this.accumulate(this.queryTerms(tokens), acc, touched);
    // Min-heap of the best k seen: root = worst kept (lowest score, then highest id).
    let size = 0;
    const worse = (i: number, j: number): boolean => {
      const si = scores[i] as number;
      const sj = scores[j] as number;
      return si < sj || (si === sj && (ids[i] as number) > (ids[j] as number));
    };
    const swap = (i: number, j: number): void => {
      const s = scores[i] as number;
      scores[i] = scores[j] as number;
      scores[j] = s;
      const d = ids[i] as number;
      ids[i] = ids[j] as number;
      ids[j] = d;
    };
    const down = (i0: number): void => {
      let i = i0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < size && worse(l, m)) m = l;
        if (r < size && worse(r, m)) m = r;
        if (m === i) return;
        swap(i, m);
        i = m;
      }
    };
    for (let x = 0; x < nt; x++) {
      const d = touched[x] as number;
      const s = acc[d] as number;
      acc[d] = 0;
      if (size < k) {
        scores[size] = s;
        ids[size] = d;
        let i = size++;
        while (i > 0) {
          const p = (i - 1) >> 1;
          if (!worse(i, p)) break;
          swap(i, p);
          i = p;
        }
      } else if (s > (scores[0] as number) || (s === scores[0] && d < (ids[0] as number))) {
        scores[0] = s;
        ids[0] = d;
        down(0);
      }
    }
    // Heap-sort the kept entries into best-first order.
    const n = size;
    for (let end = n - 1; end > 0; end--) {
      swap(0, end);
      size = end;
      down(0);
    }
    return { ids, scores };
  }

  /** The arrays a search worker needs (shared memory, not copies). */
  parts(): Bm25Parts {
    return { params: this.params, avgdl: this.avgdl, ignore: [...this.ignore], start: this.start, docs: this.docs, tfs: this.tfs, norm: this.norm, docLengths: this.docLengths };
  }

  /** An index over `parts` (another thread's index: same arrays, its own accumulator). */
  static fromParts(p: Bm25Parts): Bm25Index {
    return new Bm25Index({ ...p, ignore: new Set(p.ignore) });
  }

  /**
   * searchBatch on `threads` worker threads (default: every core), each searching a contiguous slice of the rows
   * against the shared index with its own accumulator; the same hits as searchBatch, to the bit. Few rows, or one
   * thread, search here.
   */
  async searchBatchParallel(queries: TokenStore, k: number, opts: { rows?: ArrayLike<number>; threads?: number; onProgress?: (done: number) => void } = {}): Promise<Bm25Hits> {
    const { searchParallel } = await import('./bm25-parallel.ts');
    return searchParallel(this, queries, k, opts);
  }

  /** Top-k for rows of a query store (all rows by default), as one [B, k] block; `onProgress` gets rows done. */
  searchBatch(queries: TokenStore, k: number, opts: { rows?: ArrayLike<number>; onProgress?: (done: number) => void } = {}): Bm25Hits {
    const rows = opts.rows ?? Int32Array.from({ length: queries.count }, (_, i) => i);
    const B = rows.length;
    const out: Bm25Hits = { scores: new Float64Array(B * k), ids: new Int32Array(B * k), k };
    for (let b = 0; b < B; b++) {
      const r = this.search(queries.get(rows[b] as number), k);
      out.ids.set(r.ids, b * k);
      out.scores.set(r.scores, b * k);
      if ((b & 1023) === 1023) opts.onProgress?.(b + 1);
    }
    opts.onProgress?.(B);
    return out;
  }
}
