// Evaluation library: trec_eval-exact metrics, msmarco_eval MRR, paired significance tests, and run fusion (RRF,
// interpolation; fuse.ts), all in-process.
//
// Representation (shared with src/data/trec.ts):
//   Qrels = Map<qid, Map<docid, grade>>            grades are integers; < 0 means "in pool, unjudged"
//   Run   = Map<qid, { docids: string[], scores }>  parallel columns, any order; ranking = score desc, ties docid
//                                                    desc (byte order); scores may be number[] or Float32/64Array
//   runFromDocs({ q1: [{ docid, score }, ...] }) builds one from objects; rankedDocs(ranking, k) gives the top k.
// A rank column is never trusted: MS MARCO runs are read with score = -rank, so their order holds.
//
// evaluate(qrels, run, { metrics: ['mrr@10', 'recall@100', 'ndcg@10', 'map', 'p@10', 'rprec'], relThreshold: 1,
//   complete: true }) → { queries, values: {metric: Float64Array aligned with queries}, perQuery, mean, ... }
// Metric semantics follow usnistgov/trec_eval (m_*.c): nDCG uses the raw grades as gains whatever the threshold;
// recall/map/rprec divide by the number of relevant judged documents; P@k divides by k; mrr@k is recip_rank
// computed on the top k (trec_eval -M k -m recip_rank).
export type { Qrels, Run, Ranking, Scores, ScoredDoc, RunFormat } from '../data/trec.ts';
export { readQrels, readRun, parseQrels, parseRun, writeTrecRun, writeMsmarcoRun, trecOrder, rankedDocs, rankingFromDocs, runFromDocs, compareTrecOrder } from '../data/trec.ts';
export { evaluate, msmarcoMrr, DEFAULT_METRICS, type EvaluateOptions, type EvaluationResult } from './evaluate.ts';
export { parseMetric, trecEvalName, type MetricSpec, type MetricKind, type RelThreshold } from './metrics.ts';
export { compareRuns, type CompareOptions, type ComparisonRow, type Correction } from './compare.ts';
export {
  fuseRuns,
  fuseRrf,
  fuseInterpolate,
  tuneInterpolation,
  pickBestAlpha,
  minMaxNormalize,
  resolveWeights,
  fusionWeights,
  rrfTable,
  interpolationTable,
  combineTable,
  selectTop,
  maxRunDepth,
  DEFAULT_RRF_K,
  type FusionMethod,
  type FuseOptions,
  type FusionTable,
  type TuneOptions,
  type TuneResult,
} from './fuse.ts';
export { formatFixedC, pyFloatRepr, formatMsmarcoBlock, formatTrecTable } from './format.ts';
export {
  pairedTTest,
  randomizationTest,
  bootstrapCI,
  tConfidenceInterval,
  holm,
  bonferroni,
  studentTCdf,
  studentTQuantile,
  studentTTwoSided,
  regularizedIncompleteBeta,
  logGamma,
  quantileSorted,
  type TTestResult,
  type RandomizationResult,
} from './stats.ts';
