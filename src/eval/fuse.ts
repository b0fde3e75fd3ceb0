// Hybrid retrieval: fusing runs (e.g. dense + BM25) by reciprocal rank fusion or score interpolation, and tuning the
// interpolation weight on held-out queries.
//
// Input order. Each input ranking is ordered as the evaluator orders it (src/data/trec.ts: score descending, ties by
// docid descending in byte order, trec_eval's rule); a rank column in a file is never trusted. rank_r(d) is the
// 1-based position of d in run r's ranking of the query, over the whole ranking as read.
//
// RRF (Cormack, Clarke & Büttcher, SIGIR 2009):
//   score(d) = Σ_r w_r / (k + rank_r(d))          k = 60 by default, w_r = 1 by default;
//   a document absent from run r (or a query absent from run r) gets nothing from r.
//
// Interpolation (convex combination of min-max normalized scores, as Pyserini's hybrid search):
//   norm_r(d) = (s_r(d) − min_r) / (max_r − min_r)  min/max over run r's documents for this query, so norm ∈ [0, 1];
//               if max_r == min_r (one document, or all tied) every document of r gets norm 1: r retrieved them all
//               equally, which is still evidence over the documents it did not retrieve;
//   score(d)  = Σ_r w_r · norm_r(d)                 a document absent from run r gets r's minimum normalized value,
//               0 (Pyserini gives a missing document the list's minimum); a query absent from r gets 0 from it.
//   With two runs, alpha is the first run's weight and 1 − alpha the second's (default 0.5; R runs: 1/R each);
//   weights are used as given, not renormalized. Scores must be finite.
//
// Summation. Each document's terms w_r · v_r are summed in ascending order, so two documents with the same multiset of
// terms (e.g. ranks 1 and 2 in swapped runs) get bit-identical scores whatever the run order — ties stay ties.
//
// Output order. Each query's fused ranking is sorted by fused score descending, ties by document id DESCENDING in
// UTF-8 byte order (strcmp) — exactly the order `drhard evaluate` (and trec_eval) impose on a run when reading it —
// and cut to the top `depth` in that order. Writing this run (writeTrecRun, ranks 1..n) therefore gives a file whose
// rank column agrees with the evaluator's ranking, and whose metrics equal those of the in-memory run (scores are
// written in round-trip form). Queries: the union over the runs, in order of first appearance (first run's queries
// first). Depth defaults to the largest input ranking (the deepest query of any run).
//
// Tuning (tuneInterpolation): on qrels of a TUNING query set (a held-out slice of training queries, never the set you
// report on) and two runs of the systems on those queries, alpha sweeps the grid 0, 1/steps, …, 1 (default steps 20:
// 0, 0.05, …, 1) and the alpha maximizing the mean metric (default mrr@10, evaluate() with trec_eval -c semantics) is
// chosen; values within 1e-12 of the best tie, and ties go to the alpha closest to 0.5, then to the smaller alpha.
import { DrhardInputError } from '../util/errors.ts';
import { strcmpUtf8, trecOrder, type Qrels, type Ranking, type Run } from '../data/trec.ts';
import { evaluate } from './evaluate.ts';
import { parseMetric, type RelThreshold } from './metrics.ts';

export type FusionMethod = 'rrf' | 'interpolate';

export const DEFAULT_RRF_K = 60;

export interface FuseOptions {
  /** Per-run weights (default 1 each for RRF; required for interpolation with more than two runs, else alpha). */
  weights?: readonly number[];
  /** Interpolation of exactly two runs: weights [alpha, 1 − alpha]. Exclusive with weights. */
  alpha?: number;
  /** RRF's k (default 60). */
  k?: number;
  /** Documents kept per query (default: the deepest input ranking). */
  depth?: number;
  /** Run names (file names) for error messages, aligned with the runs. */
  names?: readonly string[];
}

/**
 * Every query's union of documents with one column per run: `values[i * nRuns + r]` is document i's unweighted
 * contribution from run r (RRF: 1 / (k + rank); interpolation: the normalized score), 0 where r lacks it.
 */
export interface FusionTable {
  nRuns: number;
  queries: Array<{ qid: string; docids: string[]; values: Float64Array }>;
  /** Length of the deepest input ranking. */
  maxDepth: number;
}

function runName(names: readonly string[] | undefined, r: number): string {
  return names?.[r] ?? `run ${r + 1}`;
}

/** Builds the fusion table; `contrib(ranking, r, qid)` gives each document's value, aligned with ranking.docids. */
function buildTable(runs: readonly Run[], contrib: (ranking: Ranking, r: number, qid: string) => Float64Array): FusionTable {
  const R = runs.length;
  const qids: string[] = [];
  const seenQ = new Set<string>();
  let maxDepth = 0;
  for (const run of runs) {
    for (const [qid, ranking] of run) {
      if (!seenQ.has(qid)) {
        seenQ.add(qid);
        qids.push(qid);
      }
      maxDepth = Math.max(maxDepth, ranking.docids.length);
    }
  }
  const queries: FusionTable['queries'] = [];
  for (const qid of qids) {
    const index = new Map<string, number>();
    const docids: string[] = [];
    const perRun: Array<{ ranking: Ranking; vals: Float64Array } | undefined> = [];
    for (let r = 0; r < R; r++) {
      const ranking = runs[r]!.get(qid);
      if (ranking === undefined) {
        perRun.push(undefined);
        continue;
      }
      for (const d of ranking.docids) {
        if (!index.has(d)) {
          index.set(d, docids.length);
          docids.push(d);
        }
      }
      perRun.push({ ranking, vals: contrib(ranking, r, qid) });
    }
    const values = new Float64Array(docids.length * R);
    for (let r = 0; r < R; r++) {
      const p = perRun[r];
      if (p === undefined) continue;
      const ds = p.ranking.docids;
      for (let i = 0; i < ds.length; i++) values[index.get(ds[i]!)! * R + r] = p.vals[i]!;
    }
    queries.push({ qid, docids, values });
  }
  return { nRuns: R, queries, maxDepth };
}

function checkRuns(runs: readonly Run[]): void {
  if (runs.length === 0) throw new DrhardInputError('fusion needs at least one run', { field: 'runs' });
  for (const run of runs) {
    for (const [qid, r] of run) {
      if (r.docids.length !== r.scores.length) {
        throw new DrhardInputError(`query ${qid}: ${r.docids.length} docids but ${r.scores.length} scores`, { field: 'runs' });
      }
    }
  }
}

/** RRF table: 1 / (k + rank_r(d)), ranks in the evaluator's order of each input ranking. */
export function rrfTable(runs: readonly Run[], k = DEFAULT_RRF_K): FusionTable {
  if (!Number.isFinite(k) || k < 0) throw new DrhardInputError(`RRF k must be a finite number ≥ 0, got ${k}`, { field: 'k' });
  checkRuns(runs);
  return buildTable(runs, (ranking) => {
    const order = trecOrder(ranking);
    const vals = new Float64Array(order.length);
    for (let i = 0; i < order.length; i++) vals[order[i]!] = 1 / (k + i + 1);
    return vals;
  });
}

/**
 * Min-max normalization of one ranking's scores to [0, 1]: (s − min) / (max − min); all 1 when max == min.
 * Non-finite scores are refused (an infinite maximum would turn every other score into 0 or NaN).
 */
export function minMaxNormalize(scores: ArrayLike<number>, where: { qid?: string; run?: string } = {}): Float64Array {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i]!;
    if (!Number.isFinite(s)) {
      const at = `${where.run !== undefined ? `${where.run}: ` : ''}${where.qid !== undefined ? `query ${where.qid}: ` : ''}`;
      throw new DrhardInputError(`${at}score ${s} is not finite; interpolation needs finite scores (use RRF)`, { field: 'score' });
    }
    if (s < min) min = s;
    if (s > max) max = s;
  }
  const out = new Float64Array(scores.length);
  const range = max - min;
  if (range === 0 || scores.length === 0) return out.fill(1);
  if (!Number.isFinite(range)) throw new DrhardInputError(`score range ${min}..${max} overflows; rescale the run`, { field: 'score' });
  for (let i = 0; i < scores.length; i++) out[i] = (scores[i]! - min) / range;
  return out;
}

/** Interpolation table: each run's scores min-max normalized per query. */
export function interpolationTable(runs: readonly Run[], names?: readonly string[]): FusionTable {
  checkRuns(runs);
  return buildTable(runs, (ranking, r, qid) => minMaxNormalize(ranking.scores, { qid, run: runName(names, r) }));
}

/** Resolves weights/alpha into one weight per run (default: all 1). */
export function resolveWeights(nRuns: number, opts: { weights?: readonly number[] | undefined; alpha?: number | undefined }): number[] {
  if (opts.weights !== undefined && opts.alpha !== undefined) throw new DrhardInputError('give weights or alpha, not both', { field: 'weights' });
  let w: number[];
  if (opts.alpha !== undefined) {
    if (nRuns !== 2) throw new DrhardInputError(`alpha needs exactly two runs (got ${nRuns}); give one weight per run instead`, { field: 'alpha' });
    if (!(opts.alpha >= 0 && opts.alpha <= 1)) throw new DrhardInputError(`alpha must be in [0, 1], got ${opts.alpha}`, { field: 'alpha' });
    w = [opts.alpha, 1 - opts.alpha];
  } else if (opts.weights !== undefined) {
    if (opts.weights.length !== nRuns) {
      throw new DrhardInputError(`${opts.weights.length} weight(s) for ${nRuns} runs; give one weight per run`, { field: 'weights' });
    }
    w = [...opts.weights];
  } else w = new Array<number>(nRuns).fill(1);
  for (const x of w) {
    if (!Number.isFinite(x) || x < 0) throw new DrhardInputError(`weights must be finite and ≥ 0, got ${x}`, { field: 'weights' });
  }
  if (!w.some((x) => x > 0)) throw new DrhardInputError('at least one weight must be > 0', { field: 'weights' });
  return w;
}

/**
 * Indices of the top `depth` of (docids, scores) in the evaluator's order (score descending, ties by docid descending),
 * unordered: the depth-th best score by a native sort of the scores, then every document above it and, of those tied
 * with it, the ones first in docid-descending order.
 */
export function selectTop(docids: readonly string[], scores: Float64Array, depth: number): Int32Array {
  const n = docids.length;
  if (depth >= n) return Int32Array.from({ length: n }, (_, i) => i);
  const sorted = scores.slice().sort(); // ascending
  const cut = sorted[n - depth]!;
  const out = new Int32Array(depth);
  let m = 0;
  const tied: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = scores[i]!;
    if (s > cut) out[m++] = i;
    else if (s === cut) tied.push(i);
  }
  tied.sort((a, b) => strcmpUtf8(docids[b]!, docids[a]!));
  for (let t = 0; m < depth; t++) out[m++] = tied[t]!;
  return out;
}

/**
 * Weighted sums of a table, each query cut to the top `depth` in the evaluator's order (score desc, docid desc). With
 * `ordered` (default) the returned rankings hold their documents in that order; without, in no particular order
 * (enough for evaluate(), which ranks by itself; used by tuning).
 */
export function combineTable(table: FusionTable, weights: readonly number[], depth = table.maxDepth, opts: { ordered?: boolean; only?: ReadonlySet<string> } = {}): Run {
  const R = table.nRuns;
  if (weights.length !== R) throw new DrhardInputError(`${weights.length} weight(s) for ${R} runs`, { field: 'weights' });
  if (!(depth >= 1)) throw new DrhardInputError(`depth must be ≥ 1, got ${depth}`, { field: 'depth' });
  const ordered = opts.ordered ?? true;
  const terms = new Float64Array(R);
  const out: Run = new Map();
  for (const { qid, docids, values } of table.queries) {
    if (opts.only !== undefined && !opts.only.has(qid)) continue;
    const n = docids.length;
    const scores = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const base = i * R;
      let s: number;
      if (R === 1) s = weights[0]! * values[base]!;
      else if (R === 2) s = weights[0]! * values[base]! + weights[1]! * values[base + 1]!; // a + b is commutative in IEEE
      else {
        for (let r = 0; r < R; r++) terms[r] = weights[r]! * values[base + r]!;
        terms.sort();
        s = 0;
        for (let r = 0; r < R; r++) s += terms[r]!;
      }
      scores[i] = s;
    }
    const top = selectTop(docids, scores, depth);
    const m = top.length;
    const keptDocs: string[] = new Array<string>(m);
    const keptScores = new Float64Array(m);
    for (let j = 0; j < m; j++) {
      keptDocs[j] = docids[top[j]!]!;
      keptScores[j] = scores[top[j]!]!;
    }
    if (!ordered) {
      out.set(qid, { docids: keptDocs, scores: keptScores });
      continue;
    }
    const order = trecOrder({ docids: keptDocs, scores: keptScores });
    const outDocs: string[] = new Array<string>(m);
    const outScores = new Float64Array(m);
    for (let j = 0; j < m; j++) {
      outDocs[j] = keptDocs[order[j]!]!;
      outScores[j] = keptScores[order[j]!]!;
    }
    out.set(qid, { docids: outDocs, scores: outScores });
  }
  return out;
}

/** Reciprocal rank fusion; see the module comment. */
export function fuseRrf(runs: readonly Run[], opts: FuseOptions = {}): Run {
  const table = rrfTable(runs, opts.k ?? DEFAULT_RRF_K);
  return combineTable(table, fusionWeights('rrf', runs.length, opts), opts.depth ?? table.maxDepth);
}

/**
 * Min-max score interpolation; see the module comment. Weights are used as given (not renormalized); without weights
 * or alpha every run gets 1/R (two runs: alpha 0.5).
 */
export function fuseInterpolate(runs: readonly Run[], opts: FuseOptions = {}): Run {
  const table = interpolationTable(runs, opts.names);
  return combineTable(table, fusionWeights('interpolate', runs.length, opts), opts.depth ?? table.maxDepth);
}

/** The weights a fusion uses: resolveWeights, except that interpolation defaults to 1/R per run instead of 1. */
export function fusionWeights(method: FusionMethod, nRuns: number, opts: { weights?: readonly number[] | undefined; alpha?: number | undefined }): number[] {
  if (method === 'interpolate' && opts.weights === undefined && opts.alpha === undefined && nRuns > 0) return new Array<number>(nRuns).fill(1 / nRuns);
  return resolveWeights(nRuns, opts);
}

/** Fuses `runs` by `method`. */
export function fuseRuns(runs: readonly Run[], method: FusionMethod, opts: FuseOptions = {}): Run {
  return method === 'rrf' ? fuseRrf(runs, opts) : fuseInterpolate(runs, opts);
}

/** Deepest ranking of any run (the default output depth). */
export function maxRunDepth(runs: readonly Run[]): number {
  let d = 0;
  for (const run of runs) for (const r of run.values()) d = Math.max(d, r.docids.length);
  return d;
}

export interface TuneOptions {
  /** Metric to maximize (parseMetric names; default mrr@10). */
  metric?: string;
  relThreshold?: RelThreshold;
  /** Depth of the fused tuning runs (default: the deepest tuning ranking). */
  depth?: number;
  /** Grid 0, 1/steps, …, 1 (default 20: step 0.05). */
  steps?: number;
  names?: readonly string[];
}

export interface TuneResult {
  /** Canonical metric name. */
  metric: string;
  alpha: number;
  weights: [number, number];
  value: number;
  /** Mean metric at each grid point, alpha ascending. */
  curve: Array<{ alpha: number; value: number }>;
  /** Number of qrels queries averaged over. */
  queries: number;
}

const TIE_EPS = 1e-12;

/**
 * The point of `curve` (alpha ascending) with the best value; values within 1e-12 of the best tie, and ties go to the
 * alpha closest to 0.5 (distances within 1e-12 count as equal), then to the smaller alpha.
 */
export function pickBestAlpha(curve: ReadonlyArray<{ alpha: number; value: number }>): { alpha: number; value: number } {
  if (curve.length === 0) throw new DrhardInputError('empty tuning curve');
  let best = -Infinity;
  for (const c of curve) if (c.value > best) best = c.value;
  let pick = -1;
  for (let i = 0; i < curve.length; i++) {
    if (!(curve[i]!.value >= best - TIE_EPS)) continue;
    // strictly closer to 0.5 (beyond rounding: 0.55 − 0.5 and 0.5 − 0.45 differ in the last bits), else keep the
    // earlier, smaller alpha
    if (pick < 0 || Math.abs(curve[i]!.alpha - 0.5) < Math.abs(curve[pick]!.alpha - 0.5) - TIE_EPS) pick = i;
  }
  return curve[pick]!;
}

/**
 * Sweeps alpha (first run's weight; the second gets 1 − alpha) over the grid on tuning runs and qrels and picks the
 * best alpha (pickBestAlpha). Tune on held-out training queries, never on the queries you report.
 */
export function tuneInterpolation(runs: readonly [Run, Run] | readonly Run[], qrels: Qrels, opts: TuneOptions = {}): TuneResult {
  if (runs.length !== 2) throw new DrhardInputError(`weight tuning needs exactly two runs, got ${runs.length}`, { field: 'runs' });
  const spec = parseMetric(opts.metric ?? 'mrr@10');
  const steps = opts.steps ?? 20;
  if (!Number.isSafeInteger(steps) || steps < 1) throw new DrhardInputError(`steps must be an integer ≥ 1, got ${steps}`, { field: 'steps' });
  let judged = 0;
  for (const run of runs) for (const qid of run.keys()) if (qrels.has(qid)) judged++;
  if (judged === 0) throw new DrhardInputError('no tuning run query appears in the tuning qrels: are they for the same query set?');
  const table = interpolationTable(runs, opts.names);
  const depth = opts.depth ?? table.maxDepth;
  // only judged queries affect the metric (the others are never evaluated); the normalization is per query
  const only = new Set([...qrels.keys()]);
  const curve: Array<{ alpha: number; value: number }> = [];
  let queries = 0;
  for (let i = 0; i <= steps; i++) {
    const alpha = i / steps;
    const fused = combineTable(table, [alpha, 1 - alpha], Math.max(1, depth), { ordered: false, only });
    const res = evaluate(qrels, fused, { metrics: [spec.name], relThreshold: opts.relThreshold ?? 1, complete: true });
    queries = res.queries.length;
    curve.push({ alpha, value: res.mean[spec.name]! });
  }
  const best = pickBestAlpha(curve);
  return { metric: spec.name, alpha: best.alpha, weights: [best.alpha, 1 - best.alpha], value: best.value, curve, queries };
}
