// Synthetic report data (demo-shaped numbers: pretraining, warmups, STAR, ADORE, BM25 and a hybrid) for tests and for
// previewing the report layout.
import { Rng } from '../util/rng.ts';
import type { CurvePoint, ReportData } from './types.ts';

export const EXAMPLE_LOSS_KINDS = {
  pretrain: 'pretraining: contrastive loss (random-crop pairs, in-batch negatives)',
  listwise: 'listwise loss (warmups, STAR)',
  adore: 'ADORE: ΔMRR-weighted pairwise loss',
} as const;

export function exampleReportData(seed = 1, queries = 500): ReportData {
  const rng = new Rng(seed);
  const curve = (start: number, end: number, steps: number, mrr: number | null, peakLr: number): CurvePoint[] =>
    Array.from({ length: steps }, (_, i) => {
      const t = i / (steps - 1);
      const noise = (rng.float() - 0.5) * 0.06;
      // 10% linear warmup, then linear decay (the trainer's schedule), logged every 10 steps
      const lr = peakLr * (t < 0.1 ? (t + 0.02) / 0.1 : (1.02 - t) / 0.9);
      return {
        step: (i + 1) * 10,
        loss: end + (start - end) * Math.exp(-4 * t) + noise,
        lr,
        ...(mrr !== null ? { trainMrr: mrr * (1 - Math.exp(-3 * t)) + noise / 4 } : {}),
      };
    });
  const ci = (v: number, w: number) => ({ value: v, lo: v - w, hi: v + w });
  const deltas = Array.from({ length: queries }, () => {
    const u = rng.float();
    if (u < 0.45) return 0;
    const d = (rng.float() - 0.42) * 0.6;
    return Math.round(d * 100) / 100;
  });
  const tuneCurve = Array.from({ length: 21 }, (_, i) => ({ x: i / 20, value: 0.36 - 0.25 * (i / 20 - 0.65) ** 2 - (i === 0 ? 0.1 : 0) }));
  return {
    title: 'drhard demo: dense retrieval with hard negatives',
    subtitle: 'Synthetic numbers for layout preview (not a real run)',
    baseline: 'BM25',
    notes: ['Corpus: 2 000 synthetic passages, 500 dev queries. Model: 2-layer encoder, hidden 32.'],
    results: [
      { method: 'BM25', mrr10: 0.187, recall100: 0.52, ndcg10: 0.234, notes: 'Lucene-style k1=0.9, b=0.4' },
      { method: 'Rand-Neg', mrr10: 0.261, recall100: 0.785, ndcg10: 0.307, pValues: { mrr10: 0.0004, recall100: 0.001, ndcg10: 0.0007 } },
      { method: 'STAR', mrr10: 0.34, recall100: 0.867, ndcg10: 0.399, pValues: { mrr10: 0.00001, recall100: 0.00002, ndcg10: 0.00001 } },
      {
        method: 'ADORE (STAR)',
        mrr10: 0.347,
        recall100: 0.876,
        ndcg10: 0.407,
        pValues: { mrr10: 0.00001, recall100: 0.0001, ndcg10: 0.00001 },
        notes: 'query encoder trained on dynamic hard negatives',
      },
      { method: 'ADORE (Inbatch-Neg)', mrr10: 0.301, recall100: 0.83, ndcg10: 0.36, pValues: { mrr10: 0.002, recall100: 0.01, ndcg10: 0.003 } },
      {
        method: 'Hybrid (ADORE+STAR, BM25)',
        mrr10: 0.362,
        recall100: 0.881,
        ndcg10: 0.419,
        pValues: { mrr10: 0.00001, recall100: 0.00001, ndcg10: 0.00001 },
        notes: 'dense weight 0.65, chosen on 200 held-out training queries',
      },
      { method: 'diverged run', mrr10: Number.NaN, recall100: null, ndcg10: null, notes: 'loss became NaN at step 1200' },
    ],
    curves: [
      { method: 'Pretraining (contrastive)', lossKind: EXAMPLE_LOSS_KINDS.pretrain, points: curve(4.2, 2.1, 30, null, 1e-3) },
      { method: 'Rand-Neg', lossKind: EXAMPLE_LOSS_KINDS.listwise, points: curve(3.4, 1.5, 30, null, 1e-3) },
      { method: 'STAR', lossKind: EXAMPLE_LOSS_KINDS.listwise, points: curve(2.3, 1.35, 30, null, 5e-4) },
      {
        method: 'ADORE (STAR)',
        lossKind: EXAMPLE_LOSS_KINDS.adore,
        points: curve(0.09, 0.05, 30, 0.7, 1e-4),
        dev: Array.from({ length: 6 }, (_, i) => ({ step: (i + 1) * 50, metric: 'dev/mrr@10', value: 0.33 + 0.003 * i })),
      },
      { method: 'ADORE (Inbatch-Neg)', lossKind: EXAMPLE_LOSS_KINDS.adore, points: curve(0.12, 0.07, 30, 0.6, 1e-4) },
    ],
    devMetrics: [
      { method: 'Rand-Neg', metrics: { 'MRR@10': ci(0.261, 0.02), 'Recall@100': ci(0.785, 0.018), 'NDCG@10': ci(0.307, 0.02) } },
      { method: 'STAR', metrics: { 'MRR@10': ci(0.34, 0.021), 'Recall@100': ci(0.867, 0.015), 'NDCG@10': ci(0.399, 0.021) } },
      { method: 'ADORE (STAR)', metrics: { 'MRR@10': ci(0.347, 0.021), 'Recall@100': ci(0.876, 0.014), 'NDCG@10': ci(0.407, 0.021) } },
      { method: 'ADORE (Inbatch-Neg)', metrics: { 'MRR@10': ci(0.301, 0.02), 'Recall@100': ci(0.83, 0.016), 'NDCG@10': ci(0.36, 0.02) } },
      { method: 'BM25', reference: true, metrics: { 'MRR@10': ci(0.187, 0.018), 'Recall@100': ci(0.52, 0.02), 'NDCG@10': ci(0.234, 0.019) } },
      {
        method: 'Hybrid (ADORE+STAR, BM25)',
        reference: true,
        metrics: { 'MRR@10': ci(0.362, 0.021), 'Recall@100': ci(0.881, 0.014), 'NDCG@10': ci(0.419, 0.021) },
      },
    ],
    pair: { a: 'STAR', b: 'ADORE (STAR)', metric: 'MRR@10', deltas },
    tuning: [
      {
        title: 'Hybrid (ADORE+STAR, BM25): dense weight',
        param: 'dense weight α (BM25: 1 − α)',
        metric: 'MRR@10, tuning queries',
        points: tuneCurve,
        chosen: 0.65,
        note: 'Min-max interpolation; 200 held-out training queries (never dev).',
      },
    ],
    metadata: [
      {
        title: 'Run',
        rows: [
          { key: 'seed', value: '42' },
          { key: 'git commit', value: '0123456789abcdef0123456789abcdef01234567' },
          { key: 'drhard', value: '0.1.0' },
          { key: 'node', value: 'v20.19.0' },
          { key: 'libtorch', value: '2.1.2' },
          { key: 'faiss', value: '1.7.3' },
          { key: 'CPU', value: 'Example CPU @ 2.0GHz × 2 logical CPUs; libtorch threads 2' },
        ],
      },
      { title: 'Hyperparameters (preset "quick")', rows: [{ key: 'warmup.lr', value: '0.001' }, { key: 'adore.metricCut', value: '50' }] },
      { title: 'Stage times', rows: [{ key: 'data', value: '12.3 s' }, { key: 'total (this invocation)', value: '130.0 s' }] },
    ],
  };
}
