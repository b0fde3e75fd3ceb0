// Self-contained HTML report for the demo: results table plus charts rendered to inline SVG at generation time.
import { writeFileAtomic } from '../util/fsx.ts';
import { DrhardInputError } from '../util/errors.ts';
import { FONT, ciSpec, curveSpec, lineSpec, renderSvg, sortedDeltaSpec, tuningSpec, winTieLoss, winTieLossSpec } from './charts.ts';
import { reportDataSchema, type PairExample, type PairedDeltas, type ReportData, type ResultRow } from './types.ts';

export type { CurvePoint, DevMetrics, MetaSection, MetricCI, PairExample, PairedDeltas, ReportData, ResultRow, TrainingCurve, TuningSweep } from './types.ts';
export { pairExamples, type PairExamplesOptions } from './examples.ts';
export { reportDataSchema } from './types.ts';
export { renderSvg, winTieLoss, type WinTieLoss } from './charts.ts';

/** Loss kind of curves that do not name one. */
const DEFAULT_LOSS_KIND = 'training loss';

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

function fmtMetric(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(3);
}

function fmtP(p: number): string {
  if (p < 0.001) return 'p&lt;0.001';
  return `p=${p < 0.01 ? p.toFixed(3) : p.toFixed(2)}`;
}

type MetricKey = 'mrr10' | 'recall100' | 'ndcg10';
const METRIC_COLS: Array<{ key: MetricKey; label: string }> = [
  { key: 'mrr10', label: 'MRR@10' },
  { key: 'recall100', label: 'Recall@100' },
  { key: 'ndcg10', label: 'NDCG@10' },
];

function resultsTable(rows: ResultRow[], baseline: string | undefined, alpha: number): string {
  const best = new Map<MetricKey, number>();
  for (const { key } of METRIC_COLS) {
    const vals = rows.map((r) => r[key]).filter((v): v is number => v !== null && Number.isFinite(v));
    if (vals.length) best.set(key, Math.max(...vals));
  }
  const head = METRIC_COLS.map((c) => `<th class="num">${c.label}</th>`).join('');
  const body = rows
    .map((r) => {
      const cells = METRIC_COLS.map(({ key }) => {
        const v = r[key];
        const isBest = v !== null && Number.isFinite(v) && v === best.get(key);
        const text = isBest ? `<strong>${fmtMetric(v)}</strong>` : fmtMetric(v);
        const p = r.pValues?.[key];
        const pHtml =
          p === null || p === undefined || !Number.isFinite(p)
            ? ''
            : ` <span class="p${p < alpha ? ' sig' : ''}" title="vs ${esc(baseline ?? 'baseline')}">${fmtP(p)}${p < alpha ? ' *' : ''}</span>`;
        return `<td class="num">${text}${pHtml}</td>`;
      }).join('');
      const isBase = baseline !== undefined && r.method === baseline;
      return `<tr><th scope="row">${esc(r.method)}${isBase ? ' <span class="tag">baseline</span>' : ''}</th>${cells}<td>${esc(r.notes ?? '')}</td></tr>`;
    })
    .join('\n');
  const caption = baseline
    ? `p-values: paired test against <em>${esc(baseline)}</em>; * marks p &lt; ${alpha}. Best value per column in bold.`
    : 'Best value per column in bold.';
  return `<table class="results">
<caption>${caption}</caption>
<thead><tr><th scope="col">method</th>${head}<th scope="col">notes</th></tr></thead>
<tbody>
${body}
</tbody>
</table>`;
}

/** The pair's example queries: query text, then both methods' top documents side by side, relevant ones marked. */
function examplesHtml(p: PairedDeltas): string {
  if (!p.examples?.length) return '';
  const docs = (list: PairExample['a']): string =>
    `<ol>${list.map((d) => `<li${d.relevant ? ' class="rel"' : ''}>${d.relevant ? '<span class="mark" title="relevant">✓</span> ' : ''}<span class="docid">${esc(d.docid)}</span> ${esc(d.text)}</li>`).join('')}</ol>`;
  const rows = p.examples
    .map((e) => {
      const sign = e.delta > 0 ? '+' : '';
      return (
        `<tr><td colspan="2" class="q"><strong>${esc(e.query)}</strong> <span class="qid">query ${esc(e.qid)}; ${e.relevant} relevant; ` +
        `Δ ${esc(p.metric)} ${sign}${e.delta.toFixed(3)}</span></td></tr>\n<tr><td>${docs(e.a)}</td><td>${docs(e.b)}</td></tr>`
      );
    })
    .join('\n');
  return (
    `<h3>Example queries</h3><p class="summary">Where ${esc(p.b)} gained most, then where it lost most, on ${esc(p.metric)}; ` +
    `each method's top documents as the evaluator ranks them (✓ relevant).</p>` +
    `<table class="examples"><thead><tr><th scope="col">${esc(p.a)}</th><th scope="col">${esc(p.b)}</th></tr></thead><tbody>\n${rows}\n</tbody></table>`
  );
}

function figure(svg: string, caption: string, id: string): string {
  return `<figure class="chart" id="${id}" aria-label="${esc(caption)}">${svg}<figcaption>${esc(caption)}</figcaption></figure>`;
}

const CSS = `
body { font-family: ${FONT}; color: #222; margin: 24px auto; max-width: 1320px; padding: 0 16px; line-height: 1.4; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.subtitle { color: #555; margin: 0 0 12px; } .notes p { margin: 4px 0; color: #333; }
table.results { border-collapse: collapse; margin: 8px 0; min-width: 720px; }
table.results caption { caption-side: bottom; text-align: left; color: #666; font-size: 12px; padding-top: 6px; }
table.results th, table.results td { border-bottom: 1px solid #e3e3e3; padding: 6px 12px; text-align: left; vertical-align: top; }
table.results thead th { border-bottom: 2px solid #999; }
table.results td.num, table.results th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.p { color: #777; font-size: 11px; } .p.sig { color: #1b7f3b; font-weight: bold; }
.tag { font-size: 10px; background: #eee; border-radius: 3px; padding: 1px 4px; color: #555; font-weight: normal; }
.charts { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
figure.chart { margin: 0; } figure.chart svg { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 12px; color: #666; margin-top: 4px; max-width: 520px; }
.summary { font-size: 14px; margin: 6px 0 10px; }
div.meta { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
table.meta { border-collapse: collapse; font-size: 12px; }
table.meta caption { text-align: left; font-weight: bold; padding-bottom: 4px; }
table.meta th, table.meta td { border-bottom: 1px solid #eee; padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }
table.meta th { font-weight: normal; color: #555; white-space: nowrap; } table.meta td { font-family: DejaVu Sans Mono, monospace; word-break: break-all; }
footer { margin-top: 32px; color: #888; font-size: 11px; }
table.examples { border-collapse: collapse; font-size: 12px; margin: 8px 0; width: 100%; table-layout: fixed; }
table.examples th { text-align: left; border-bottom: 2px solid #999; padding: 4px 8px; }
table.examples td { vertical-align: top; padding: 4px 8px; border-bottom: 1px solid #eee; }
table.examples td.q { background: #f6f6f6; border-top: 1px solid #ccc; }
table.examples ol { margin: 0; padding-left: 20px; } table.examples li.rel { color: #1b7f3b; }
.qid, .docid { color: #888; font-size: 11px; } .mark { font-weight: bold; }
`;

/** Builds the report HTML. Validates `data` first (DrhardInputError listing each problem with its path). */
export async function renderReportHtml(data: ReportData): Promise<string> {
  const parsed = reportDataSchema.safeParse(data);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new DrhardInputError(`invalid report data: ${issues}`, { field: 'report' });
  }
  const alpha = data.alpha ?? 0.05;
  // One colour per method across all charts, in order of first appearance.
  const methods: string[] = [];
  const addMethod = (m: string): void => void (methods.includes(m) || methods.push(m));
  data.results.forEach((r) => addMethod(r.method));
  data.curves.forEach((c) => addMethod(c.method));
  data.devMetrics.forEach((d) => addMethod(d.method));

  const sections: string[] = [];
  sections.push(`<section id="results"><h2>Results</h2>${resultsTable(data.results, data.baseline, alpha)}</section>`);

  const curveFigs: string[] = [];
  const dropNote = (n: number): string => (n ? ` (${n} non-finite point${n === 1 ? '' : 's'} not drawn)` : '');
  // Losses of different kinds are different quantities: one chart (own y axis) per kind, in order of appearance.
  const kinds: string[] = [];
  for (const c of data.curves) if (!kinds.includes(c.lossKind ?? DEFAULT_LOSS_KIND)) kinds.push(c.lossKind ?? DEFAULT_LOSS_KIND);
  for (const [i, kind] of kinds.entries()) {
    const named = kind !== DEFAULT_LOSS_KIND;
    const c = curveSpec(
      data.curves.filter((x) => (x.lossKind ?? DEFAULT_LOSS_KIND) === kind),
      'loss',
      methods,
      named ? kind : undefined,
    );
    if (c.points === 0 && c.dropped === 0) continue;
    curveFigs.push(figure(await renderSvg(c.spec), `Training loss per step${named ? `: ${kind}` : ''}${dropNote(c.dropped)}.`, `curve-loss-${i}`));
  }
  const mrr = curveSpec(data.curves, 'trainMrr', methods);
  if (mrr.points > 0 || mrr.dropped > 0) curveFigs.push(figure(await renderSvg(mrr.spec), `Training MRR@10 per step${dropNote(mrr.dropped)}.`, 'curve-trainMrr'));
  const lr = curveSpec(data.curves, 'lr', methods, 'learning rate');
  if (lr.points > 0 || lr.dropped > 0) curveFigs.push(figure(await renderSvg(lr.spec), `Learning rate per step (log scale when every value is positive; runs with the same schedule overlap)${dropNote(lr.dropped)}.`, 'curve-lr'));
  const devNames: string[] = [];
  for (const c of data.curves) for (const d of c.dev ?? []) if (!devNames.includes(d.metric)) devNames.push(d.metric);
  for (const [i, name] of devNames.entries()) {
    const series = data.curves.map((c) => ({ method: c.method, points: (c.dev ?? []).filter((d) => d.metric === name).map((d) => ({ x: d.step, y: d.value })) }));
    const d = lineSpec(series, methods, { title: name, xTitle: 'step', yTitle: name });
    curveFigs.push(figure(await renderSvg(d.spec), `${name} evaluated during training${dropNote(d.dropped)}.`, `curve-dev-${i}`));
  }
  if (curveFigs.length) sections.push(`<section id="curves"><h2>Training curves</h2><div class="charts">${curveFigs.join('\n')}</div></section>`);

  const metricNames: string[] = [];
  for (const d of data.devMetrics) for (const k of Object.keys(d.metrics)) if (!metricNames.includes(k)) metricNames.push(k);
  if (metricNames.length) {
    const refs = data.devMetrics.filter((d) => d.reference === true).map((d) => d.method);
    const refNote = refs.length
      ? ` Dashed: reference${refs.length === 1 ? '' : 's'} (${refs.join(', ')}), with value and CI in ${refs.length === 1 ? 'its' : 'their'} own row; ` +
        'off scale when including it would squeeze the other intervals.'
      : '';
    const figs: string[] = [];
    for (const [i, m] of metricNames.entries()) {
      figs.push(figure(await renderSvg(ciSpec(data.devMetrics, m, methods)), `${m}: point estimate and 95% confidence interval.${refNote}`, `ci-${i}`));
    }
    sections.push(`<section id="dev"><h2>Dev metrics with 95% confidence intervals</h2><div class="charts">${figs.join('\n')}</div></section>`);
  }

  if (data.pair) {
    const p = data.pair;
    const w = winTieLoss(p.deltas, p.tieEpsilon ?? 1e-9);
    const mean = p.deltas.length ? p.deltas.reduce((s, d) => s + d, 0) / p.deltas.length : Number.NaN;
    const summary =
      `<p class="summary">${esc(p.b)} is better than ${esc(p.a)} on <strong>${w.wins}</strong> queries, ` +
      `worse on <strong>${w.losses}</strong>, tied on <strong>${w.ties}</strong> ` +
      `(mean Δ ${esc(p.metric)} = ${Number.isFinite(mean) ? (mean >= 0 ? '+' : '') + mean.toFixed(4) : '—'}).</p>`;
    const figs = p.deltas.length
      ? [
          figure(await renderSvg(winTieLossSpec(p)), `Win/tie/loss on ${p.metric}.`, 'pair-wtl'),
          figure(await renderSvg(sortedDeltaSpec(p)), `Per-query ${p.metric} difference, sorted.`, 'pair-sorted'),
        ]
      : [];
    sections.push(
      `<section id="pair"><h2>Per-query comparison: ${esc(p.b)} vs ${esc(p.a)}</h2>${summary}<div class="charts">${figs.join('\n')}</div>${examplesHtml(p)}</section>`,
    );
  }

  if (data.tuning?.length) {
    const figs: string[] = [];
    for (const [i, t] of data.tuning.entries()) {
      figs.push(figure(await renderSvg(tuningSpec(t)), `${t.metric} against ${t.param}; the chosen value (${t.chosen}) is marked.${t.note ? ` ${t.note}` : ''}`, `tuning-${i}`));
    }
    sections.push(`<section id="tuning"><h2>Tuning</h2><div class="charts">${figs.join('\n')}</div></section>`);
  }

  if (data.metadata?.length) {
    const tables = data.metadata
      .map(
        (m) =>
          `<table class="meta"><caption>${esc(m.title)}</caption><tbody>\n` +
          m.rows.map((r) => `<tr><th scope="row">${esc(r.key)}</th><td>${esc(r.value)}</td></tr>`).join('\n') +
          `\n</tbody></table>`,
      )
      .join('\n');
    sections.push(`<section id="metadata"><h2>Run metadata</h2><div class="meta">${tables}</div></section>`);
  }

  const notes = data.notes?.length ? `<div class="notes">${data.notes.map((n) => `<p>${esc(n)}</p>`).join('')}</div>` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(data.title)}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${esc(data.title)}</h1>${data.subtitle ? `<p class="subtitle">${esc(data.subtitle)}</p>` : ''}${notes}</header>
${sections.join('\n')}
<footer>Generated by drhard${data.generatedAt ? ` on ${esc(data.generatedAt)}` : ''}. Self-contained: no scripts, no network.</footer>
</body>
</html>
`;
}

/** Writes the report to `outPath` atomically (readers never see half a file). */
export async function renderReport(data: ReportData, outPath: string): Promise<void> {
  writeFileAtomic(outPath, await renderReportHtml(data));
}
