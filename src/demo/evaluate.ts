// Demo evaluation: encode a model's corpus/queries, search, score per query, and paired tests between methods.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Dataset } from '../data/index.ts';
import { evaluate, pairedTTest, randomizationTest, tConfidenceInterval, type Qrels, type Run } from '../eval/index.ts';
import { loadModel } from '../models/index.ts';
import { DenseSearcher } from '../retrieval/search.ts';
import { encodeSplit } from '../retrieval/encode.ts';
import { layoutOf, readRows } from '../retrieval/embeddings.ts';
import * as T from '../tensor/index.ts';
import { writeFileAtomic } from '../util/fsx.ts';
import { writeRun } from '../data/runwriter.ts';
import { strcmpUtf8 } from '../data/ranking.ts';

export const DEMO_METRICS = ['mrr@10', 'recall@100', 'ndcg@10'] as const;
export type DemoMetric = (typeof DEMO_METRICS)[number];

/** Per-query values aligned with `queries` (dev qids as offsets), plus means. */
export interface MethodEval {
  queries: string[];
  values: Record<DemoMetric, number[]>;
  mean: Record<DemoMetric, number>;
}

/** Dev qrels keyed by offsets (strings), the ids the demo's runs use. */
export function offsetQrels(ds: Dataset, split: string): Qrels {
  const q: Qrels = new Map();
  for (const [qo, docs] of ds.qrels(split)) q.set(String(qo), new Map([...docs].map(([d, g]) => [String(d), g])));
  return q;
}

/** A split's offset → id tables: what `drhard evaluate --data DIR --split S` maps the demo's run files through. */
export interface SplitIds {
  queryIds: readonly string[];
  docIds: readonly string[];
}

export function splitIds(ds: Dataset, split: string): SplitIds {
  return { queryIds: ds.queryIds(split), docIds: ds.docIds() };
}

/**
 * Metrics of an offset run against offset qrels. With `ids`, scored as `drhard evaluate --data` scores the run
 * file: over the original ids, so score ties break on the docids the evaluator sees (trec_eval: docid descending)
 * and the means equal its output exactly; per-query values stay keyed (and ordered) by offset for the paired tests.
 */
export function scoreRun(qrels: Qrels, run: Run, ids?: SplitIds): MethodEval {
  if (ids === undefined) return methodEval(evaluate(qrels, run, { metrics: [...DEMO_METRICS] }));
  const q = (o: string): string => ids.queryIds[Number(o)] ?? `?${o}`;
  const d = (o: string): string => ids.docIds[Number(o)] ?? `?${o}`;
  const mq: Qrels = new Map([...qrels].map(([qo, m]) => [q(qo), new Map([...m].map(([doc, g]) => [d(doc), g]))]));
  const mr: Run = new Map([...run].map(([qo, r]) => [q(qo), { docids: r.docids.map(d), scores: r.scores }]));
  const r = evaluate(mq, mr, { metrics: [...DEMO_METRICS] });
  const offsetOf = new Map<string, string>();
  for (const qo of [...qrels.keys(), ...run.keys()]) offsetOf.set(q(qo), qo);
  const order = r.queries.map((id, i) => ({ qo: offsetOf.get(id) ?? id, i })).sort((x, y) => strcmpUtf8(x.qo, y.qo));
  const values = {} as Record<DemoMetric, number[]>;
  const mean = {} as Record<DemoMetric, number>;
  for (const m of DEMO_METRICS) {
    const v = r.values[m] ?? [];
    values[m] = order.map((o) => v[o.i] as number);
    mean[m] = r.mean[m] ?? Number.NaN;
  }
  return { queries: order.map((o) => o.qo), values, mean };
}

function methodEval(r: ReturnType<typeof evaluate>): MethodEval {
  const values = {} as Record<DemoMetric, number[]>;
  const mean = {} as Record<DemoMetric, number>;
  for (const m of DEMO_METRICS) {
    values[m] = Array.from(r.values[m] ?? []);
    mean[m] = r.mean[m] ?? Number.NaN;
  }
  return { queries: r.queries, values, mean };
}

/** Top-k hits (row-major ids/scores) → a Run keyed by query offset strings. */
export function hitsToRun(rows: ArrayLike<number>, ids: Int32Array, scores: ArrayLike<number>, k: number): Run {
  const run: Run = new Map();
  for (let b = 0; b < rows.length; b++) {
    const docids: string[] = [];
    const sc: number[] = [];
    for (let j = 0; j < k; j++) {
      const id = ids[b * k + j] as number;
      if (id < 0) continue;
      docids.push(String(id));
      sc.push(scores[b * k + j] as number);
    }
    run.set(String(rows[b]), { docids, scores: sc });
  }
  return run;
}

export interface DenseEvalOptions {
  /** Model that encodes the queries. */
  queryModel: string;
  /** Corpus embeddings file (encoded by the model that produced the document tower). */
  corpusEmbeddings: string;
  split: string;
  maxQueryLength: number;
  k: number;
  /** Where the query embeddings and the run file go. */
  outDir: string;
}

/** A run as JSON (query → docids and scores): how the demo keeps runs between stages. */
export function writeRunJson(file: string, run: Run): void {
  writeFileAtomic(file, JSON.stringify(Object.fromEntries(run)));
}

export function readRunJson(file: string): Run {
  return new Map(Object.entries(readJson<Record<string, { docids: string[]; scores: number[] }>>(file)));
}

/** Encodes the split's queries with `queryModel`, searches the corpus embeddings, writes <split>.run.trec, scores it. */
export async function evaluateDense(ds: Dataset, o: DenseEvalOptions): Promise<MethodEval> {
  return scoreRun(offsetQrels(ds, o.split), await denseRun(ds, o), splitIds(ds, o.split));
}

/** The dense run of a split (also written to <outDir>/<split>.run.trec). */
export async function denseRun(ds: Dataset, o: DenseEvalOptions): Promise<Run> {
  const { model } = loadModel(o.queryModel);
  const qFile = path.join(o.outDir, `${o.split}-queries.f32`);
  try {
    model.eval();
    await encodeSplit(model, ds.queries(o.split), { out: qFile, maxLength: o.maxQueryLength, batchSize: 128, progress: false });
  } finally {
    model.dispose();
  }
  using searcher = DenseSearcher.fromFile(o.corpusEmbeddings);
  const layout = layoutOf(qFile);
  const rows = Array.from({ length: layout.count }, (_, i) => i);
  const hits = T.tidy(() => searcher.search(readRows(qFile, layout, 0, layout.count), o.k));
  const run = hitsToRun(rows, hits.ids, hits.scores, o.k);
  writeTrecRun(path.join(o.outDir, `${o.split}.run.trec`), run);
  return run;
}

/**
 * The demo's run files (query/doc offsets; `drhard evaluate --data` reads them) through the one run writer, so
 * scores keep every digit and the file ranks exactly as the metrics the demo reports were computed.
 */
export function writeTrecRun(file: string, run: Run, tag = 'drhard'): void {
  writeRun(file, run, { format: 'trec', tag });
}

export interface Significance {
  baseline: string;
  /** metric → paired t-test p, randomization p, mean difference and its 95% CI. */
  tests: Record<DemoMetric, { pT: number; pRand: number; diff: number; ci: [number, number] }>;
}

/** Paired tests of `a` against `baseline` on the same queries. */
export function significance(a: MethodEval, baseline: MethodEval, baselineName: string): Significance {
  if (a.queries.join('\n') !== baseline.queries.join('\n')) throw new Error('paired tests need the same query set');
  const tests = {} as Significance['tests'];
  for (const m of DEMO_METRICS) {
    const t = pairedTTest(a.values[m], baseline.values[m]);
    const r = randomizationTest(a.values[m], baseline.values[m], { trials: 10000, seed: 42 });
    tests[m] = { pT: t.p, pRand: r.p, diff: t.meanDiff, ci: t.ci };
  }
  return { baseline: baselineName, tests };
}

export function meanCi(values: number[]): { value: number; lo: number; hi: number } {
  const value = values.reduce((a, b) => a + b, 0) / values.length;
  const [lo, hi] = tConfidenceInterval(values);
  return { value, lo, hi };
}

export function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}
