// Synthetic report data (STAR/ADORE-shaped numbers) for tests and for previewing the report layout.
import { Rng } from '../util/rng.ts';
import type { ReportData } from './types.ts';

export function exampleReportData(seed = 1, queries = 500): ReportData {
  const rng = new Rng(seed);
  const curve = (start: number, end: number, steps: number, mrr: number) =>
    Array.from({ length: steps }, (_, i) => {
      const t = i / (steps - 1);
      const noise = (rng.float() - 0.5) * 0.06;
      return { step: i * 100, loss: end + (start - end) * Math.exp(-4 * t) + noise, trainMrr: mrr * (1 - Math.exp(-3 * t)) + noise / 4 };
    });
  const ci = (v: number, w: number) => ({ value: v, lo: v - w, hi: v + w });
  const deltas = Array.from({ length: queries }, () => {
    const u = rng.float();
    if (u < 0.45) return 0;
    const d = (rng.float() - 0.42) * 0.6;
    return Math.round(d * 100) / 100;
  });
  return {
    title: 'drhard demo: dense retrieval with hard negatives',
    subtitle: 'Synthetic numbers for layout preview (not a real run)',
    baseline: 'BM25',
    notes: ['Corpus: 2 000 synthetic passages, 500 dev queries. Model: 2-layer encoder, hidden 32.'],
    results: [
      { method: 'BM25', mrr10: 0.187, recall100: 0.669, ndcg10: 0.234, notes: 'Lucene-style k1=0.9, b=0.4' },
      { method: 'Rand Neg', mrr10: 0.261, recall100: 0.785, ndcg10: 0.307, pValues: { mrr10: 0.0004, recall100: 0.001, ndcg10: 0.0007 } },
      { method: 'STAR', mrr10: 0.34, recall100: 0.867, ndcg10: 0.399, pValues: { mrr10: 0.00001, recall100: 0.00002, ndcg10: 0.00001 } },
      {
        method: 'ADORE+STAR',
        mrr10: 0.347,
        recall100: 0.876,
        ndcg10: 0.407,
        pValues: { mrr10: 0.00001, recall100: 0.0001, ndcg10: 0.00001 },
        notes: 'query encoder trained on dynamic hard negatives',
      },
      { method: 'diverged run', mrr10: Number.NaN, recall100: null, ndcg10: null, notes: 'loss became NaN at step 1200' },
    ],
    curves: [
      { method: 'Rand Neg', points: curve(1.4, 0.5, 30, 0.5) },
      { method: 'STAR', points: curve(1.3, 0.35, 30, 0.62) },
      { method: 'ADORE+STAR', points: curve(0.9, 0.25, 30, 0.7) },
    ],
    devMetrics: [
      { method: 'BM25', metrics: { 'MRR@10': ci(0.187, 0.018), 'Recall@100': ci(0.669, 0.02), 'NDCG@10': ci(0.234, 0.019) } },
      { method: 'Rand Neg', metrics: { 'MRR@10': ci(0.261, 0.02), 'Recall@100': ci(0.785, 0.018), 'NDCG@10': ci(0.307, 0.02) } },
      { method: 'STAR', metrics: { 'MRR@10': ci(0.34, 0.021), 'Recall@100': ci(0.867, 0.015), 'NDCG@10': ci(0.399, 0.021) } },
      { method: 'ADORE+STAR', metrics: { 'MRR@10': ci(0.347, 0.021), 'Recall@100': ci(0.876, 0.014), 'NDCG@10': ci(0.407, 0.021) } },
    ],
    pair: { a: 'STAR', b: 'ADORE+STAR', metric: 'MRR@10', deltas },
  };
}
