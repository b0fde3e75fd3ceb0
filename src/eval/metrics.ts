// Metric names, parsing, and per-query computation with trec_eval's semantics (ordering, cutoffs, gains).
import { DrhardInputError } from '../util/errors.ts';
import { strcmpUtf8, type Ranking, type Scores } from '../data/trec.ts';

export type MetricKind = 'mrr' | 'recall' | 'ndcg' | 'p' | 'map' | 'success' | 'rprec';

/** A parsed metric name. `k` is Infinity for uncut metrics (`mrr`, `map`, `ndcg`, `recall`). */
export interface MetricSpec {
  name: string;
  kind: MetricKind;
  k: number;
}

/** Relevance rule for binary metrics: grade ≥ n, or 'any' (every qrels line counts, as msmarco_eval.py does). */
export type RelThreshold = number | 'any';

const CUT_KINDS: ReadonlySet<string> = new Set(['mrr', 'recall', 'ndcg', 'p', 'map', 'success']);

/**
 * Parses `mrr@10`, `recall@100`, `ndcg@10`, `p@10`, `map`, `map@100`, `success@10`, `rprec`, `mrr`, `recall`,
 * `ndcg` (case-insensitive; `P@10`, `R@100`, `MRR@10` and trec_eval spellings `ndcg_cut.10`, `recall.100`, `P.10`,
 * `recip_rank`, `Rprec`, `map_cut.10`, `success.10` are accepted too). The canonical name is lower-case `kind@k`.
 */
export function parseMetric(raw: string): MetricSpec {
  const s = raw.trim();
  const lower = s.toLowerCase();
  const aliases: Record<string, string> = { recip_rank: 'mrr', rprec: 'rprec', map: 'map', mrr: 'mrr', ndcg: 'ndcg', recall: 'recall' };
  if (aliases[lower] !== undefined) {
    const kind = aliases[lower] as MetricKind;
    return { name: kind, kind, k: Infinity };
  }
  const m = /^([a-z_]+)(?:@|\.|_cut[._]?|_)(\d+)$/.exec(lower);
  if (m) {
    let kind = m[1]!.replace(/_cut$/, '');
    if (kind === 'r') kind = 'recall';
    if (kind === 'ndcg_cut') kind = 'ndcg';
    if (kind === 'map_cut') kind = 'map';
    if (kind === 'recip_rank') kind = 'mrr';
    const k = Number(m[2]);
    if (CUT_KINDS.has(kind) && Number.isSafeInteger(k) && k >= 1) return { name: `${kind}@${k}`, kind: kind as MetricKind, k };
  }
  throw new DrhardInputError(
    `unknown metric ${JSON.stringify(raw)}; use mrr@K, recall@K, ndcg@K, p@K, map, map@K, success@K, rprec, mrr, recall, ndcg`,
    { field: 'metrics' },
  );
}

/** trec_eval's measure name for a metric, or undefined when trec_eval has no such measure (mrr@K). */
export function trecEvalName(spec: MetricSpec): string | undefined {
  const cut = Number.isFinite(spec.k) ? `_${spec.k}` : '';
  switch (spec.kind) {
    case 'mrr':
      return Number.isFinite(spec.k) ? undefined : 'recip_rank';
    case 'recall':
      return Number.isFinite(spec.k) ? `recall${cut}` : undefined;
    case 'ndcg':
      return Number.isFinite(spec.k) ? `ndcg_cut${cut}` : undefined;
    case 'p':
      return `P${cut}`;
    case 'map':
      return Number.isFinite(spec.k) ? `map_cut${cut}` : 'map';
    case 'success':
      return `success${cut}`;
    case 'rprec':
      return 'Rprec';
  }
}

/** What one query's judgments contribute, precomputed once per query and reused for every metric. */
export interface JudgedQuery {
  /** Relevant documents under the threshold (trec_eval's num_rel). */
  numRel: number;
  /** Positive grades sorted descending: the ideal ranking's gains for nDCG. */
  idealGains: Float64Array;
}

export function judgeQuery(judgments: Map<string, number>, threshold: RelThreshold): JudgedQuery {
  let numRel = 0;
  const gains: number[] = [];
  for (const rel of judgments.values()) {
    if (isRelevant(rel, threshold)) numRel++;
    if (rel > 0) gains.push(rel);
  }
  gains.sort((a, b) => b - a);
  return { numRel, idealGains: Float64Array.from(gains) };
}

/** trec_eval counts grades ≥ level among judged (grade ≥ 0) documents; 'any' counts every qrels line. */
export function isRelevant(rel: number, threshold: RelThreshold): boolean {
  return threshold === 'any' ? true : rel >= threshold && rel >= 0;
}

/**
 * The ranks (1-based, trec_eval order) and grades of the retrieved documents that matter to some metric: those
 * relevant under the threshold or with a positive grade. Every metric here depends on nothing else, so the full
 * list is never sorted.
 */
export interface RankedHits {
  ranks: Int32Array;
  grades: Float64Array;
  relevant: Uint8Array;
  count: number;
  numRet: number;
}

const EMPTY_RANKS = new Int32Array(0);
const EMPTY_GRADES = new Float64Array(0);
const EMPTY_FLAGS = new Uint8Array(0);

/**
 * Finds the hits of `r` (documents in any order) and their ranks in O(n log h) for h hits, without sorting the
 * ranking. `maxDocs` truncates the ranking like trec_eval's `-M`.
 */
export function rankHits(
  r: Ranking | undefined,
  judgments: Map<string, number> | undefined,
  threshold: RelThreshold,
  maxDocs: number,
  qid: string,
): RankedHits {
  const docids: string[] = r?.docids ?? [];
  const scores: Scores = r?.scores ?? [];
  const n = docids.length;
  if (scores.length !== n) throw new DrhardInputError(`query ${qid}: ${n} docids but ${scores.length} scores`, { field: 'run' });
  const hitIdx: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = scores[i]!;
    if (s !== s) throw new DrhardInputError(`score is NaN for query ${qid}, document ${docids[i]}`, { field: 'score' });
    if (judgments === undefined) continue;
    const rel = judgments.get(docids[i]!);
    if (rel !== undefined && (rel > 0 || isRelevant(rel, threshold))) hitIdx.push(i);
  }
  const h = hitIdx.length;
  const numRet = Math.min(n, maxDocs);
  if (h === 0) return { ranks: EMPTY_RANKS, grades: EMPTY_GRADES, relevant: EMPTY_FLAGS, count: 0, numRet };
  // before(a, b): document a ranks above document b (score descending, then docid descending in byte order)
  const before = (a: number, b: number): boolean => {
    const sa = scores[a]!;
    const sb = scores[b]!;
    if (sa !== sb) return sa > sb;
    return strcmpUtf8(docids[a]!, docids[b]!) > 0;
  };
  hitIdx.sort((a, b) => (a === b ? 0 : before(a, b) ? -1 : 1));
  // Each hit's rank = its index among hits + the number of non-hits ranked above it.
  const ahead = new Int32Array(h);
  if (h === 1) {
    const x = hitIdx[0]!;
    const sx = scores[x]!;
    const dx = docids[x]!;
    let c = 0;
    for (let i = 0; i < n; i++) {
      const si = scores[i]!;
      if (si > sx || (si === sx && i !== x && strcmpUtf8(docids[i]!, dx) > 0)) c++;
    }
    ahead[0] = c;
  } else {
    const isHit = new Uint8Array(n);
    for (const i of hitIdx) isHit[i] = 1;
    for (let i = 0; i < n; i++) {
      if (isHit[i] === 1) continue;
      // first hit that document i ranks above: it is ahead of that hit and every later one
      let lo = 0;
      let hi = h;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (before(i, hitIdx[mid]!)) hi = mid;
        else lo = mid + 1;
      }
      if (lo < h) ahead[lo]!++;
    }
    for (let j = 1; j < h; j++) ahead[j]! += ahead[j - 1]!;
  }
  const ranks: number[] = [];
  const grades: number[] = [];
  const relevant: number[] = [];
  for (let j = 0; j < h; j++) {
    const rank = j + 1 + ahead[j]!;
    if (rank > maxDocs) break;
    const rel = judgments!.get(docids[hitIdx[j]!]!)!;
    ranks.push(rank);
    grades.push(rel);
    relevant.push(isRelevant(rel, threshold) ? 1 : 0);
  }
  return {
    ranks: Int32Array.from(ranks),
    grades: Float64Array.from(grades),
    relevant: Uint8Array.from(relevant),
    count: ranks.length,
    numRet,
  };
}

/** One metric's value for one query, trec_eval formulas (see m_*.c in usnistgov/trec_eval). */
export function computeMetric(spec: MetricSpec, hits: RankedHits, judged: JudgedQuery): number {
  const { ranks, relevant, grades, count } = hits;
  const k = spec.k;
  switch (spec.kind) {
    case 'mrr': {
      for (let j = 0; j < count; j++) if (relevant[j] === 1) return ranks[j]! <= k ? 1 / ranks[j]! : 0;
      return 0;
    }
    case 'success': {
      for (let j = 0; j < count; j++) if (relevant[j] === 1) return ranks[j]! <= k ? 1 : 0;
      return 0;
    }
    case 'recall': {
      if (judged.numRel === 0) return 0;
      return countRelevantWithin(hits, k) / judged.numRel;
    }
    case 'p':
      return countRelevantWithin(hits, k) / k;
    case 'rprec': {
      const r = Math.min(judged.numRel, hits.numRet);
      if (r === 0) return 0;
      return countRelevantWithin(hits, r) / judged.numRel;
    }
    case 'map': {
      if (judged.numRel === 0) return 0;
      let sum = 0;
      let soFar = 0;
      for (let j = 0; j < count; j++) {
        if (ranks[j]! > k) break;
        if (relevant[j] === 1) {
          soFar++;
          sum += soFar / ranks[j]!;
        }
      }
      return soFar === 0 ? 0 : sum / judged.numRel;
    }
    case 'ndcg': {
      let dcg = 0;
      for (let j = 0; j < count; j++) {
        if (ranks[j]! > k) break;
        const g = grades[j]!;
        if (g > 0) dcg += g / Math.log2(ranks[j]! + 1);
      }
      const ideal = judged.idealGains;
      const lim = Math.min(ideal.length, k);
      let idcg = 0;
      for (let i = 0; i < lim; i++) idcg += ideal[i]! / Math.log2(i + 2);
      return idcg > 0 ? dcg / idcg : dcg;
    }
  }
}

function countRelevantWithin(hits: RankedHits, k: number): number {
  let c = 0;
  for (let j = 0; j < hits.count; j++) {
    if (hits.ranks[j]! > k) break;
    if (hits.relevant[j] === 1) c++;
  }
  return c;
}
