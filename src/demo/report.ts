// The demo's outputs: the seed-shaped results table (stdout) and the HTML report's data.
import type { ReportData } from '../report/types.ts';
import { meanCi } from './evaluate.ts';
import type { DemoResult } from './pipeline.ts';

const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '—');
const fp = (p: number): string => (p < 0.001 ? '<.001' : p.toFixed(3).replace(/^0/, ''));

/** A Markdown table shaped like the seed's: method, MRR@10, R@100, NDCG@10, and paired tests vs the start model. */
export function formatTable(r: DemoResult): string {
  const lines = [
    `| Method | Dev MRR@10 | Dev R@100 | Dev NDCG@10 | vs | ΔMRR@10 [95% CI] | p (t-test / randomization) |`,
    `|---|---|---|---|---|---|---|`,
  ];
  for (const m of r.methods) {
    const s = r.significance[m.method];
    const t = s?.tests['mrr@10'];
    lines.push(
      `| ${m.label} | ${f3(m.eval.mean['mrr@10'])} | ${f3(m.eval.mean['recall@100'])} | ${f3(m.eval.mean['ndcg@10'])} | ` +
        `${s ? s.baseline : '—'} | ${t ? `${t.diff >= 0 ? '+' : ''}${t.diff.toFixed(3)} [${t.ci[0].toFixed(3)}, ${t.ci[1].toFixed(3)}]` : '—'} | ` +
        `${t ? `${fp(t.pT)} / ${fp(t.pRand)}` : '—'} |`,
    );
  }
  return lines.join('\n');
}

export function formatTimings(r: DemoResult): string {
  const rows = r.timings.map((t) => `| ${t.name} | ${t.seconds.toFixed(1)} s${t.resumed ? ' (done earlier, reused)' : ''} |`);
  return ['| Stage | Wall time |', '|---|---|', ...rows, `| total (this invocation) | ${r.totalSeconds.toFixed(1)} s |`].join('\n');
}

export function reportData(r: DemoResult): ReportData {
  const byName = new Map(r.methods.map((m) => [m.method, m]));
  const star = byName.get('star');
  const adoreStar = byName.get('adore-star');
  const data: ReportData = {
    title: 'drhard demo: DRhard training methods on Debian package descriptions',
    subtitle:
      `${r.subset.docs.toLocaleString('en')} documents, ${r.subset.trainQueries.toLocaleString('en')} training and ` +
      `${r.subset.devQueries.toLocaleString('en')} dev queries; preset "${r.preset.name}"`,
    baseline: 'each row\'s starting model (column "vs" in the table notes)',
    results: r.methods.map((m) => {
      const s = r.significance[m.method];
      return {
        method: m.label,
        mrr10: m.eval.mean['mrr@10'],
        recall100: m.eval.mean['recall@100'],
        ndcg10: m.eval.mean['ndcg@10'],
        ...(s ? { pValues: { mrr10: s.tests['mrr@10'].pT, recall100: s.tests['recall@100'].pT, ndcg10: s.tests['ndcg@10'].pT } } : {}),
        notes: s ? `vs ${s.baseline} (paired t-test)` : 'baseline',
      };
    }),
    curves: r.methods
      .filter((m) => m.history.length > 0)
      .map((m) => ({
        method: m.label,
        points: m.history
          .filter((h) => Number.isFinite(h['loss']))
          .map((h) => ({ step: h.step, loss: h['loss'] as number, ...(h['mrr10'] !== undefined ? { trainMrr: h['mrr10'] } : {}) })),
      })),
    devMetrics: r.methods.map((m) => ({
      method: m.label,
      metrics: {
        'MRR@10': meanCi(m.eval.values['mrr@10']),
        'Recall@100': meanCi(m.eval.values['recall@100']),
        'NDCG@10': meanCi(m.eval.values['ndcg@10']),
      },
    })),
    notes: [
      'Pipeline (as the seed paper): warm up a from-scratch RoBERTa-style dual encoder with in-batch, random or BM25 negatives; ' +
        `mine static hard negatives with the best warmup (${r.starInit}); train STAR; then ADORE (query encoder only, ` +
        'dynamic hard negatives from the fixed document index) on each starting model.',
      'Corpus: Debian package long descriptions; query: the package synopsis; relevant: the package(s) carrying it. ' +
        'Dev metrics over all dev queries; p-values are two-sided paired t-tests (randomization tests in results.json).',
      `Model: hidden ${r.preset.model.hiddenSize}, ${r.preset.model.numHiddenLayers} layers, vocabulary ${r.preset.vocabSize} ` +
        '(byte-level BPE trained on the corpus); CPU training on this machine.',
    ],
  };
  if (star && adoreStar) {
    data.pair = {
      a: star.label,
      b: adoreStar.label,
      metric: 'MRR@10',
      deltas: adoreStar.eval.values['mrr@10'].map((v, i) => v - (star.eval.values['mrr@10'][i] as number)),
    };
  }
  return data;
}
