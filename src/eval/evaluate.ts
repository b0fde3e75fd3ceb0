// In-process evaluation of a run against qrels: per-query values and means, trec_eval's query set and averaging.
import { DrhardInputError } from '../util/errors.ts';
import { strcmpUtf8, type Qrels, type Run } from '../data/trec.ts';
import { computeMetric, judgeQuery, parseMetric, rankHits, type MetricSpec, type RelThreshold } from './metrics.ts';

export const DEFAULT_METRICS: readonly string[] = ['mrr@10', 'recall@100', 'ndcg@10', 'map'];

export interface EvaluateOptions {
  /** Metric names (see parseMetric). Default: mrr@10, recall@100, ndcg@10, map. */
  metrics?: readonly string[];
  /** Binary relevance: grade ≥ n (default 1, trec_eval's -l), or 'any' for msmarco_eval.py's "every qrels line". */
  relThreshold?: RelThreshold;
  /**
   * true (default): every qrels query is averaged, those missing from the run score 0 (trec_eval -c, and
   * msmarco_eval.py's divide-by-qrels-queries). false: only queries in both files (trec_eval without -c).
   */
  complete?: boolean;
  /** Keep only the top maxDocs documents of each ranking (trec_eval -M). */
  maxDocs?: number;
}

export interface EvaluationResult {
  /** Canonical metric names in request order (e.g. 'mrr@10'). */
  metrics: string[];
  /** Evaluated queries in trec_eval's order (byte-wise ascending qid). */
  queries: string[];
  /** metric → per-query values aligned with `queries` (ready for pairedTTest etc.). */
  values: Record<string, Float64Array>;
  /** qid → metric → value. */
  perQuery: Map<string, Record<string, number>>;
  /** metric → mean over `queries`, summed in `queries` order as trec_eval does. */
  mean: Record<string, number>;
  /** Qrels queries absent from the run (scored 0 when complete, else skipped). */
  missingFromRun: string[];
  /** Run queries absent from the qrels: never evaluated (trec_eval ignores them too). */
  notInQrels: string[];
  /** Evaluated queries whose qrels hold no relevant document under the threshold (they score 0 on most metrics). */
  noRelevant: string[];
}

export function checkThreshold(t: RelThreshold): RelThreshold {
  if (t === 'any') return t;
  if (!Number.isSafeInteger(t) || t < 0) {
    throw new DrhardInputError(`relevance threshold must be an integer ≥ 0 or "any", got ${String(t)}`, { field: 'relThreshold' });
  }
  return t;
}

/** Evaluates `run` against `qrels`; see EvaluateOptions for the trec_eval flags each option mirrors. */
export function evaluate(qrels: Qrels, run: Run, opts: EvaluateOptions = {}): EvaluationResult {
  const specs: MetricSpec[] = [];
  const seenNames = new Set<string>();
  for (const m of opts.metrics ?? DEFAULT_METRICS) {
    const s = parseMetric(m);
    if (!seenNames.has(s.name)) {
      seenNames.add(s.name);
      specs.push(s);
    }
  }
  const threshold = checkThreshold(opts.relThreshold ?? 1);
  const complete = opts.complete ?? true;
  const maxDocs = opts.maxDocs ?? Infinity;
  if (!(maxDocs >= 1)) throw new DrhardInputError(`maxDocs must be ≥ 1, got ${maxDocs}`, { field: 'maxDocs' });

  const missingFromRun: string[] = [];
  const notInQrels: string[] = [];
  const noRelevant: string[] = [];
  const queries: string[] = [];
  for (const qid of qrels.keys()) {
    if (run.has(qid)) queries.push(qid);
    else {
      missingFromRun.push(qid);
      if (complete) queries.push(qid);
    }
  }
  for (const qid of run.keys()) if (!qrels.has(qid)) notInQrels.push(qid);
  queries.sort(strcmpUtf8);
  missingFromRun.sort(strcmpUtf8);
  notInQrels.sort(strcmpUtf8);

  const nq = queries.length;
  const values: Record<string, Float64Array> = {};
  for (const s of specs) values[s.name] = new Float64Array(nq);
  const columns = specs.map((s) => values[s.name]!);
  for (let qi = 0; qi < nq; qi++) {
    const qid = queries[qi]!;
    const judgments = qrels.get(qid)!;
    const judged = judgeQuery(judgments, threshold);
    if (judged.numRel === 0) noRelevant.push(qid);
    const hits = rankHits(run.get(qid), judgments, threshold, maxDocs, qid);
    for (let m = 0; m < specs.length; m++) columns[m]![qi] = computeMetric(specs[m]!, hits, judged);
  }

  const mean: Record<string, number> = {};
  for (let m = 0; m < specs.length; m++) {
    const col = columns[m]!;
    let sum = 0;
    for (let i = 0; i < nq; i++) sum += col[i]!;
    mean[specs[m]!.name] = nq > 0 ? sum / nq : 0;
  }
  const perQuery = new Map<string, Record<string, number>>();
  for (let qi = 0; qi < nq; qi++) {
    const rec: Record<string, number> = {};
    for (let m = 0; m < specs.length; m++) rec[specs[m]!.name] = columns[m]![qi]!;
    perQuery.set(queries[qi]!, rec);
  }
  return { metrics: specs.map((s) => s.name), queries, values, perQuery, mean, missingFromRun, notInQrels, noRelevant };
}

/**
 * MRR@k exactly as DRhard's msmarco_eval.py computes it: reciprocal ranks summed in the run's query order over queries
 * present in the qrels, divided by the number of qrels queries (so the printed float matches digit for digit).
 * Also returns QueriesRanked (all run queries, judged or not).
 */
export function msmarcoMrr(
  qrels: Qrels,
  run: Run,
  opts: { k?: number; relThreshold?: RelThreshold } = {},
): { mrr: number; queriesRanked: number } {
  const k = opts.k ?? 10;
  const threshold = checkThreshold(opts.relThreshold ?? 'any');
  const spec: MetricSpec = { name: `mrr@${k}`, kind: 'mrr', k };
  let sum = 0;
  let matched = 0;
  for (const [qid, ranking] of run) {
    const judgments = qrels.get(qid);
    if (judgments === undefined) continue;
    matched++;
    const hits = rankHits(ranking, judgments, threshold, Infinity, qid);
    sum += computeMetric(spec, hits, { numRel: 0, idealGains: new Float64Array(0) });
  }
  if (matched === 0 && run.size > 0) {
    throw new DrhardInputError('no run query appears in the qrels: are the run and qrels from the same query set?');
  }
  return { mrr: qrels.size > 0 ? sum / qrels.size : 0, queriesRanked: run.size };
}
