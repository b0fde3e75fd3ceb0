// Hard-negative mining (DRhard's prepare_hardneg): retrieve top-k + margin per query from a dense index, BM25 or
// uniform sampling, drop the query's judged documents and copies of them, keep the first k; with quality counters.
import * as os from 'node:os';
import type { OffsetQrels } from '../data/dataset.ts';
import type { TokenStore } from '../data/tokenstore.ts';
import * as T from '../tensor/index.ts';
import { DrhardInputError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import type { Bm25Index } from './bm25.ts';
import { layoutOf, readRows, type EmbeddingsLayout } from './embeddings.ts';
import type { Negatives } from './negatives.ts';
import type { DenseSearcher } from './search.ts';

export type NegativeSource =
  /** `queryEmbeddings` [Nq, D] or an embeddings file of the split: row = query offset. */
  | { kind: 'dense'; searcher: Pick<DenseSearcher, 'search' | 'count' | 'mode' | 'dim'>; queryEmbeddings: T.Tensor | string }
  | { kind: 'bm25'; index: Bm25Index; queries: TokenStore }
  | { kind: 'random'; docs: number; seed: number };

export interface MineOptions {
  source: NegativeSource;
  /** Judged documents of the split; any judged document counts as a positive and is never a negative (as DRhard). */
  qrels: OffsetQrels;
  /** Negatives kept per query (DRhard: 200). */
  topk?: number;
  /** Extra candidates retrieved so that removals still leave topk (DRhard: 10). */
  margin?: number;
  /** Query offsets to mine (default: the queries that have qrels, ascending). */
  queries?: ArrayLike<number>;
  /**
   * The corpus token store: when given, a candidate whose token row equals a positive's (MS MARCO has many
   * duplicate passages) is dropped too, since training on a copy of the positive as a negative is label noise.
   */
  corpus?: TokenStore;
  /**
   * Top up lists shorter than topk with uniformly random non-judged documents drawn with this seed (BM25 returns
   * nothing for a query none of whose terms is in the corpus; STAR and BM25-Neg need at least --hard-num each).
   * Without it short lists stay short (and are counted in queriesShort).
   */
  fillRandomSeed?: number;
  /**
   * Queries per retrieval call (default 1024; 65536 for a sharded searcher, which reads the corpus once per call,
   * and for mineNegativesParallel's BM25 search on several threads, which starts its workers once per call).
   */
  batch?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface MineCounters {
  queries: number;
  /** Queries with at least one positive among the retrieved candidates (a retrieval-quality signal). */
  queriesWithPositiveRetrieved: number;
  positivesRemoved: number;
  /** Candidates whose text equals a positive's. */
  positiveCopiesRemoved: number;
  /** Repeated doc offsets within one query's candidates (ANN indexes can return them). */
  duplicatesRemoved: number;
  /** Queries left with fewer than topk negatives (DRhard asserts there are none). */
  queriesShort: number;
  /** Queries whose list was topped up with random documents (fillRandomSeed). */
  queriesFilledRandom: number;
  minNegatives: number;
  meanNegatives: number;
}

export interface MineResult {
  negatives: Negatives;
  counters: MineCounters;
}

/** FNV-1a over a token row: a cheap fingerprint to find exact copies before comparing the rows. */
function rowHash(row: Int32Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < row.length; i++) {
    h = Math.imul(h ^ (row[i] as number), 0x01000193);
  }
  return (h ^ row.length) >>> 0;
}

function sameRow(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Mines negatives for each query: candidates best first from the source, minus judged documents (and their textual
 * copies with `corpus`), minus repeats, truncated to `topk`. Random negatives are drawn without replacement from the
 * documents that are not positives, seeded per query so a query's list does not depend on the others.
 */
export function mineNegatives(opts: MineOptions): MineResult {
  const steps = mineSteps(opts, opts.batch);
  for (let step = steps.next(); ; ) {
    if (step.done === true) return step.value;
    const { rows, want } = step.value;
    const { index, queries } = opts.source as Extract<NegativeSource, { kind: 'bm25' }>;
    step = steps.next(index.searchBatch(queries, want, { rows }));
  }
}

export interface MineParallelOptions extends MineOptions {
  /** BM25 search threads, each a slice of a batch's queries against the shared index (default: every core). */
  threads?: number;
}

/**
 * mineNegatives with a BM25 source searched on worker threads (Bm25Index.searchBatchParallel, the same hits to the
 * bit): the same negatives and counters as mineNegatives. Other sources are mined as mineNegatives does.
 */
export async function mineNegativesParallel(opts: MineParallelOptions): Promise<MineResult> {
  // Each BM25 batch starts its workers (~0.3 s of tsx bootstrap), so a batch is large: 65536 queries × (topk +
  // margin) hits is 165 MB at DRhard's 210, and one batch holds a demo-sized training split. One thread searches
  // here, in mineNegatives' batches.
  const parallel = opts.source.kind === 'bm25' && (opts.threads ?? os.availableParallelism()) > 1;
  const steps = mineSteps(opts, opts.batch ?? (parallel ? 65536 : undefined));
  for (let step = steps.next(); ; ) {
    if (step.done === true) return step.value;
    const { rows, want, done, total } = step.value;
    const { index, queries } = opts.source as Extract<NegativeSource, { kind: 'bm25' }>;
    const hits = await index.searchBatchParallel(queries, want, {
      rows,
      ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
      ...(opts.onProgress !== undefined ? { onProgress: (d: number) => opts.onProgress?.(done + d, total) } : {}),
    });
    step = steps.next(hits);
  }
}

/** A BM25 search the driver does for the mining loop: `rows` (query offsets) at depth `want`, after `done` of `total` queries. */
interface Bm25Request {
  rows: Int32Array;
  want: number;
  done: number;
  total: number;
}

/**
 * The mining loop, with each BM25 batch search handed to the driver (yielded: the sync or the worker-thread search);
 * dense and random sources never yield.
 */
function* mineSteps(opts: MineOptions, batchSize: number | undefined): Generator<Bm25Request, MineResult, { ids: Int32Array; k: number }> {
  const topk = opts.topk ?? 200;
  const margin = opts.margin ?? 10;
  if (!Number.isInteger(topk) || topk < 1) throw new DrhardInputError(`topk must be a positive integer, got ${topk}`);
  if (!Number.isInteger(margin) || margin < 0) throw new DrhardInputError(`margin must be a non-negative integer, got ${margin}`);
  const qs = opts.queries !== undefined ? Int32Array.from(opts.queries) : Int32Array.from([...opts.qrels.keys()].sort((a, b) => a - b));
  for (let i = 1; i < qs.length; i++) if ((qs[i] as number) <= (qs[i - 1] as number)) throw new DrhardInputError('queries must be strictly increasing offsets');
  const src = opts.source;
  const want = topk + margin;
  const docsCount = src.kind === 'bm25' ? src.index.count : src.kind === 'dense' ? src.searcher.count : null;
  const batch = batchSize ?? (src.kind === 'dense' && src.searcher.mode === 'sharded' ? 65536 : 1024);
  const qLayout = src.kind === 'dense' && typeof src.queryEmbeddings === 'string' ? layoutOf(src.queryEmbeddings, { dim: src.searcher.dim }) : null;
  if (src.kind === 'dense' && qs.length > 0) {
    const nq = qLayout !== null ? qLayout.count : (src.queryEmbeddings as T.Tensor).size(0);
    const last = qs[qs.length - 1] as number;
    if (last >= nq) throw new DrhardInputError(`query offset ${last} has no embedding: the query embeddings hold ${nq} rows (encoded from another split?)`);
  }
  const c: MineCounters = {
    queries: qs.length, queriesWithPositiveRetrieved: 0, positivesRemoved: 0, positiveCopiesRemoved: 0, duplicatesRemoved: 0,
    queriesShort: 0, queriesFilledRandom: 0, minNegatives: qs.length > 0 ? Infinity : 0, meanNegatives: 0,
  };
  const start = new Float64Array(qs.length + 1);
  const lists: Int32Array[] = [];
  const corpus = opts.corpus;

  const filter = (q: number, cand: ArrayLike<number>, counted: boolean): Int32Array => {
    const pos = opts.qrels.get(q);
    const out: number[] = [];
    const seen = new Set<number>();
    let posRows: Array<{ h: number; row: Int32Array }> | null = null;
    let hitPositive = false;
    for (let i = 0; i < cand.length && out.length < topk; i++) {
      const d = cand[i] as number;
      if (d < 0) break;
      if (seen.has(d)) {
        c.duplicatesRemoved++;
        continue;
      }
      seen.add(d);
      if (pos?.has(d) === true) {
        c.positivesRemoved++;
        hitPositive = true;
        continue;
      }
      if (corpus !== undefined && pos !== undefined && pos.size > 0) {
        posRows ??= [...pos.keys()].map((p) => {
          const row = corpus.get(p);
          return { h: rowHash(row), row };
        });
        // A copy has its positive's length, which the store holds in memory; reading the row is a syscall, and it
        // was most of the mining time left beside a BM25 search on every core.
        const len = corpus.length(d);
        if (posRows.some((p) => p.row.length === len)) {
          const row = corpus.get(d);
          const h = rowHash(row);
          if (posRows.some((p) => p.h === h && sameRow(p.row, row))) {
            c.positiveCopiesRemoved++;
            continue;
          }
        }
      }
      out.push(d);
    }
    if (counted && hitPositive) c.queriesWithPositiveRetrieved++;
    return Int32Array.from(out);
  };

  for (let s = 0; s < qs.length; s += batch) {
    const rows = qs.subarray(s, Math.min(qs.length, s + batch));
    if (src.kind === 'random') {
      rows.forEach((q) => lists.push(randomNegatives(q, src, opts.qrels.get(q), topk, filter)));
    } else {
      let ids: Int32Array;
      let k: number;
      if (src.kind === 'dense') {
        const qsrc = src.queryEmbeddings;
        const hits = T.tidy(() => {
          let qe: T.Tensor;
          if (typeof qsrc === 'string') {
            // Rows are ascending: read their span once, then pick the rows out of it.
            const lo = rows[0] as number;
            const span = readRows(qsrc, qLayout as EmbeddingsLayout, lo, (rows[rows.length - 1] as number) - lo + 1);
            qe = span.indexSelect(0, T.tensor(BigInt64Array.from(rows, (x) => BigInt(x - lo))));
          } else qe = qsrc.indexSelect(0, T.tensor(BigInt64Array.from(rows, (x) => BigInt(x))));
          return src.searcher.search(qe, want);
        });
        ids = hits.ids;
        k = hits.k;
      } else {
        const hits = yield { rows, want, done: s, total: qs.length };
        ids = hits.ids;
        k = hits.k;
      }
      rows.forEach((q, b) => {
        let l = filter(q, ids.subarray(b * k, (b + 1) * k), true);
        if (l.length < topk && opts.fillRandomSeed !== undefined && docsCount !== null) {
          const have = new Set(l);
          const extra = Array.from(randomNegatives(q, { docs: docsCount, seed: opts.fillRandomSeed }, opts.qrels.get(q), topk, filter)).filter((d) => !have.has(d));
          l = Int32Array.from([...l, ...extra.slice(0, topk - l.length)]);
          c.queriesFilledRandom++;
        }
        lists.push(l);
      });
    }
    opts.onProgress?.(Math.min(qs.length, s + batch), qs.length);
  }
  let total = 0;
  lists.forEach((l, i) => {
    total += l.length;
    start[i + 1] = total;
    if (l.length < topk) c.queriesShort++;
    if (l.length < c.minNegatives) c.minNegatives = l.length;
  });
  const docs = new Int32Array(total);
  lists.forEach((l, i) => docs.set(l, start[i] as number));
  c.meanNegatives = qs.length > 0 ? total / qs.length : 0;
  if (src.kind === 'random') c.queriesWithPositiveRetrieved = 0;
  return { negatives: { qoffsets: qs, start, docs }, counters: c };
}

function randomNegatives(
  q: number,
  src: { docs: number; seed: number },
  pos: Map<number, number> | undefined,
  topk: number,
  filter: (q: number, cand: ArrayLike<number>, counted: boolean) => Int32Array,
): Int32Array {
  const rng = new Rng(src.seed).fork(`q${q}`);
  const avail = src.docs - (pos?.size ?? 0);
  const n = Math.max(0, Math.min(topk, avail));
  // Oversample by the positives (they may be drawn and are then removed), then let the common filter drop them.
  const draw = Math.min(src.docs, n + (pos?.size ?? 0));
  const cand = rng.sample(src.docs, draw);
  return filter(q, cand, false);
}
