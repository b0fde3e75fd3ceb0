// `drhard search --hybrid-bm25`: the dense run of a dataset split fused with a BM25 run of the same queries, exactly
// as `drhard fuse <dense run> <bm25 run>` would fuse the two files `drhard search` and `drhard bm25` write (same ids,
// same scores, same tie order; src/eval/fuse.ts), without writing them.
import type { Dataset } from '../data/dataset.ts';
import type { Qrels, Run } from '../data/trec.ts';
import { fuseRuns, maxRunDepth, tuneInterpolation, type FusionMethod, type TuneResult } from '../eval/fuse.ts';
import * as T from '../tensor/index.ts';
import { DrhardInputError } from '../util/errors.ts';
import { Bm25Index } from './bm25.ts';
import { layoutOf, readRows } from './embeddings.ts';

/** Query/doc offset → id as written in the run (absent: the offset). */
export interface IdMaps {
  qid?: (q: number) => string;
  docid?: (d: number) => string;
}

export interface HybridBm25Options {
  method: FusionMethod;
  /** interpolate: the dense run's weight α (BM25 gets 1 − α). Exclusive with `tune`. */
  denseWeight?: number;
  /**
   * interpolate: choose α on this split's qrels (grid 0, 0.05, …, 1, maximizing MRR@10; src/eval/fuse.ts). `queries`
   * is that split's query embeddings file. Held-out training queries — never the split being searched.
   */
  tune?: { split: string; queries: string };
  /** Documents per query in each input run (as `drhard search --topk` and `drhard bm25 --topk`). */
  k: number;
  /** Query rows per dense search call. */
  block?: number;
  /** BM25 k1 and b (default Anserini's 0.9 / 0.4, as `drhard bm25`). */
  k1?: number;
  b?: number;
}

export interface HybridBm25Result {
  run: Run;
  method: FusionMethod;
  /** [dense, bm25]. */
  weights: [number, number];
  depth: number;
  tuned: TuneResult | null;
}

type Searcher = { search(q: T.Tensor, k: number): { ids: Int32Array; scores: ArrayLike<number>; k: number } };

/** Adds [B, k] hits to `run` as queries q0 … q0 + B − 1 (ids mapped), skipping empty slots, as the run files hold them. */
export function addHits(run: Run, rows: { ids: Int32Array; scores: ArrayLike<number>; k: number }, q0: number, ids: IdMaps): void {
  const k = rows.k;
  const B = rows.ids.length / k;
  for (let b = 0; b < B; b++) {
    const docids: string[] = [];
    const scores: number[] = [];
    for (let j = 0; j < k; j++) {
      const d = rows.ids[b * k + j] as number;
      if (d < 0) continue;
      docids.push(ids.docid ? ids.docid(d) : String(d));
      scores.push(rows.scores[b * k + j] as number);
    }
    // A query with no hits has no lines in a run file, so it is no query of the run read back either.
    if (docids.length > 0) run.set(ids.qid ? ids.qid(q0 + b) : String(q0 + b), { docids, scores });
  }
}

/** The dense run of every row of a query embeddings file (row = query offset), as `drhard search` writes it. */
export function denseRunFromFile(searcher: Searcher & { dim: number }, queries: string, k: number, ids: IdMaps, block = 4096): Run {
  const layout = layoutOf(queries, { dim: searcher.dim });
  const run: Run = new Map();
  for (let s = 0; s < layout.count; s += block) {
    const n = Math.min(block, layout.count - s);
    addHits(run, T.tidy(() => searcher.search(readRows(queries, layout, s, n), k)), s, ids);
  }
  return run;
}

/**
 * Dense and BM25 runs of `split` (and of the tuning split), fused. BM25 indexes the dataset corpus with the special
 * tokens ignored, as `drhard bm25`. `queries` must hold one row per query of `split`.
 */
export function hybridBm25Search(
  ds: Dataset,
  searcher: Searcher & { dim: number },
  split: string,
  queries: string,
  idsOf: (split: string) => IdMaps,
  o: HybridBm25Options,
): HybridBm25Result {
  if (o.tune !== undefined && o.tune.split === split) {
    throw new DrhardInputError(`the tuning split ${JSON.stringify(split)} is the split being searched: tune on held-out training queries, never on the queries you evaluate`);
  }
  if (o.method === 'interpolate' && (o.denseWeight === undefined) === (o.tune === undefined)) {
    throw new DrhardInputError('interpolation needs exactly one of a dense weight and a tuning split');
  }
  const t = ds.manifest.tokenizer;
  const index = Bm25Index.build(ds.corpus, { ...(o.k1 !== undefined ? { k1: o.k1 } : {}), ...(o.b !== undefined ? { b: o.b } : {}), ignore: [t.clsId, t.sepId, t.padId] });
  const runsOf = (sp: string, qfile: string): [Run, Run] => {
    const store = ds.queries(sp);
    const rows = layoutOf(qfile, { dim: searcher.dim }).count;
    if (rows !== store.count) {
      throw new DrhardInputError(`${rows} query embeddings but split ${sp} has ${store.count} queries: encode that split (drhard encode --split ${sp})`, { file: qfile });
    }
    const ids = idsOf(sp);
    const dense = denseRunFromFile(searcher, qfile, o.k, ids, o.block);
    const bm25: Run = new Map();
    addHits(bm25, index.searchBatch(store, o.k), 0, ids);
    return [dense, bm25];
  };
  const runs = runsOf(split, queries);
  const depth = maxRunDepth(runs);
  if (depth < 1) throw new DrhardInputError('neither the dense nor the BM25 run retrieved any document');
  let tuned: TuneResult | null = null;
  if (o.tune !== undefined) {
    const tuneRuns = runsOf(o.tune.split, o.tune.queries);
    const ids = idsOf(o.tune.split);
    const qrels: Qrels = new Map();
    for (const [q, docs] of ds.qrels(o.tune.split)) {
      qrels.set(ids.qid ? ids.qid(q) : String(q), new Map([...docs].map(([d, g]) => [ids.docid ? ids.docid(d) : String(d), g])));
    }
    if (qrels.size === 0) throw new DrhardInputError(`split ${o.tune.split} has no qrels to tune the dense weight on`);
    tuned = tuneInterpolation(tuneRuns, qrels, { metric: 'mrr@10', relThreshold: 1, depth, names: ['dense', 'bm25'] });
  }
  const alpha = tuned?.alpha ?? o.denseWeight;
  const opts = { names: ['dense', 'bm25'], depth, ...(o.method === 'interpolate' ? { alpha: alpha as number } : {}) };
  const run = fuseRuns(runs, o.method, opts);
  return { run, method: o.method, weights: o.method === 'interpolate' ? [alpha as number, 1 - (alpha as number)] : [1, 1], depth, tuned };
}
