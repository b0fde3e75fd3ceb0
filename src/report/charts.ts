// Vega-Lite chart specs for the report, rendered to SVG strings in Node (no browser, canvas or network needed).
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { CurvePoint, DevMetrics, MetricCI, PairedDeltas, TuningSweep } from './types.ts';

/** Listed explicitly: without it vega's default font falls back differently on every machine. */
export const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

// Tableau 10: distinguishable, and the same method keeps its colour in every chart.
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

const CONFIG = {
  font: FONT,
  background: 'white',
  view: { stroke: '#ddd' },
  // labelLimit 0: no truncation ('ADORE (Inbatch-Neg)' and longer method names are shown whole).
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#eee', labelLimit: 0 },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 0 },
  title: { fontSize: 13, anchor: 'start' as const },
};

/** Renders a Vega-Lite spec to a standalone `<svg>` string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const full = { ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec;
  const view = new vega.View(vega.parse(compile(full).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

// Only the methods a chart shows enter its legend, but each keeps its colour from the report-wide order.
function colorScale(present: string[], all: string[]): { domain: string[]; range: string[] } {
  const domain = all.filter((m) => present.includes(m));
  return { domain, range: domain.map((m) => PALETTE[all.indexOf(m) % PALETTE.length] as string) };
}

/** One line of a line chart: y against x, per method. */
export interface LineSeries {
  method: string;
  points: Array<{ x: number; y: number | undefined }>;
}

export interface LineOptions {
  title?: string;
  xTitle: string;
  yTitle: string;
  /** Log y scale when every drawn value is > 0 (else linear). */
  logY?: boolean;
}

/**
 * Line chart, one line per method (full method names in the legend, colours from the report-wide order);
 * non-finite points are dropped and counted, undefined ones skipped.
 */
export function lineSpec(series: LineSeries[], methods: string[], o: LineOptions): { spec: TopLevelSpec; dropped: number; points: number } {
  const values: Array<{ method: string; x: number; y: number }> = [];
  let dropped = 0;
  for (const s of series) {
    for (const p of s.points) {
      if (p.y === undefined) continue;
      if (Number.isFinite(p.y) && Number.isFinite(p.x)) values.push({ method: s.method, x: p.x, y: p.y });
      else dropped++;
    }
  }
  const log = o.logY === true && values.length > 0 && values.every((v) => v.y > 0);
  const spec: TopLevelSpec = {
    width: 360,
    height: 220,
    ...(o.title !== undefined ? { title: o.title } : {}),
    data: { values },
    mark: { type: 'line', strokeWidth: 2, point: values.length <= 60 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: o.xTitle },
      y: { field: 'y', type: 'quantitative', title: o.yTitle, scale: log ? { type: 'log' } : { zero: false }, ...(log ? { axis: { format: '.0e', values: decades(values.map((v) => v.y)) } } : {}) },
      color: {
        field: 'method',
        type: 'nominal',
        title: 'method',
        scale: colorScale([...new Set(values.map((v) => v.method))], methods),
        legend: { labelLimit: 0, symbolType: 'stroke' },
      },
    },
  };
  return { spec, dropped, points: values.length };
}

/** Powers of ten spanning `ys` (all > 0): the ticks of a log axis, without vega's unlabelled-looking 2e-3, 3e-3 … */
function decades(ys: number[]): number[] {
  const lo = Math.floor(Math.log10(Math.min(...ys)));
  const hi = Math.ceil(Math.log10(Math.max(...ys)));
  return Array.from({ length: hi - lo + 1 }, (_, i) => Number(`1e${lo + i}`));
}

/** Line chart of `field` against step, one line per method; non-finite points are dropped and counted. */
export function curveSpec(
  curves: Array<{ method: string; points: CurvePoint[] }>,
  field: 'loss' | 'trainMrr' | 'lr',
  methods: string[],
  title?: string,
): { spec: TopLevelSpec; dropped: number; points: number } {
  const yTitle = field === 'loss' ? 'training loss' : field === 'trainMrr' ? 'training MRR@10' : 'learning rate';
  return lineSpec(
    curves.map((c) => ({ method: c.method, points: c.points.map((p) => ({ x: p.step, y: p[field] })) })),
    methods,
    { xTitle: 'step', yTitle, logY: field === 'lr', ...(title !== undefined ? { title } : {}) },
  );
}

/** Formats a metric value for chart labels. */
const f3 = (v: number): string => v.toFixed(3);

/**
 * Point estimate with its 95% CI per method, for one metric. Reference rows (`reference: true`, e.g. BM25 or a
 * hybrid) are drawn as dashed vertical lines with their value in their own row at the bottom; the x scale spans the
 * other rows' intervals and takes in a reference only while that at most doubles its span, so a distant baseline
 * never squeezes the intervals being compared (it is then labelled at the edge, with an arrow, as off scale).
 */
export function ciSpec(dev: DevMetrics[], metric: string, methods: string[]): TopLevelSpec {
  const withMetric = dev.filter((d) => d.metrics[metric] !== undefined);
  let main = withMetric.filter((d) => d.reference !== true);
  let refs = withMetric.filter((d) => d.reference === true);
  if (main.length === 0) {
    main = refs;
    refs = [];
  }
  const values = main.map((d) => {
    const m = d.metrics[metric] as MetricCI;
    return { method: d.method, value: m.value, lo: m.lo, hi: m.hi, label: f3(m.value) };
  });
  let lo = Math.min(...values.map((v) => v.lo));
  let hi = Math.max(...values.map((v) => v.hi));
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    lo = 0;
    hi = 1;
  }
  const span0 = Math.max(hi - lo, 1e-6);
  // Take in references nearest the range first, while the span stays ≤ 2× the compared rows' own.
  const refVals = refs.map((d) => ({ method: d.method, ...(d.metrics[metric] as MetricCI) }));
  for (const r of [...refVals].sort((a, b) => Math.abs(a.value - (lo + hi) / 2) - Math.abs(b.value - (lo + hi) / 2))) {
    const nlo = Math.min(lo, r.value);
    const nhi = Math.max(hi, r.value);
    if (nhi - nlo <= 2 * span0) {
      lo = nlo;
      hi = nhi;
    }
  }
  const pad = 0.06 * Math.max(hi - lo, 1e-6);
  const domain = [lo - pad, hi + pad] as [number, number];
  const refRows = refVals.map((r) => {
    const off = r.value < domain[0] ? 'left' : r.value > domain[1] ? 'right' : null;
    const ci = `${f3(r.value)} [${f3(r.lo)}, ${f3(r.hi)}]`;
    return {
      method: r.method,
      value: r.value,
      x: off === 'left' ? domain[0] : off === 'right' ? domain[1] : r.value,
      align: off === 'right' ? 'right' : 'left',
      label: off === 'left' ? `◀ ${ci}, off scale` : off === 'right' ? `${ci}, off scale ▶` : ci,
      inRange: off === null,
    };
  });
  const order = [...values.map((v) => v.method), ...refRows.map((r) => r.method)];
  const y = { field: 'method', type: 'nominal' as const, title: null, sort: order, axis: { labelLimit: 0 } };
  const color = { field: 'method', type: 'nominal' as const, scale: colorScale(order, methods), legend: null };
  const xScale = { domain, zero: false, nice: false };
  const inRange = refRows.filter((r) => r.inRange);
  return {
    width: 240,
    height: { step: 28 },
    title: `${metric} (95% CI)`,
    layer: [
      {
        data: { values },
        mark: { type: 'rule', strokeWidth: 2 },
        encoding: {
          y,
          x: { field: 'lo', type: 'quantitative', title: metric, scale: xScale },
          x2: { field: 'hi' },
          color,
        },
      },
      { data: { values }, mark: { type: 'point', filled: true, size: 70, opacity: 1 }, encoding: { y, x: { field: 'value', type: 'quantitative' }, color } },
      {
        data: { values },
        mark: { type: 'text', align: 'left', dx: 6, dy: -9, fontSize: 10, color: '#333' },
        encoding: { y, x: { field: 'value', type: 'quantitative' }, text: { field: 'label' } },
      },
      // Reference lines across every row, then each reference's value (and CI) in its own row.
      ...(inRange.length
        ? [
            {
              data: { values: inRange },
              mark: { type: 'rule' as const, strokeDash: [5, 3], strokeWidth: 1.5, opacity: 0.9 },
              encoding: { x: { field: 'value', type: 'quantitative' as const }, color },
            },
            {
              data: { values: inRange },
              mark: { type: 'point' as const, shape: 'diamond', filled: true, size: 60, opacity: 1 },
              encoding: { y, x: { field: 'value', type: 'quantitative' as const }, color },
            },
          ]
        : []),
      // Labels: left-aligned at the value (or the left edge), right-aligned at the right edge.
      ...(['left', 'right'] as const)
        .map((align) => ({ align, rows: refRows.filter((r) => r.align === align) }))
        .filter((g) => g.rows.length > 0)
        .map((g) => ({
          data: { values: g.rows },
          mark: { type: 'text' as const, align: g.align, dx: g.align === 'left' ? 6 : -2, dy: -9, fontSize: 10, color: '#333' },
          encoding: { y, x: { field: 'x', type: 'quantitative' as const }, text: { field: 'label' } },
        })),
    ],
  } as TopLevelSpec;
}

/**
 * A one-parameter sweep: metric against the parameter, the chosen value marked by a dashed rule, a larger point and
 * a label.
 */
export function tuningSpec(t: TuningSweep, color = PALETTE[0] as string): TopLevelSpec {
  const values = t.points.filter((p) => Number.isFinite(p.value) && Number.isFinite(p.x));
  const best = values.find((p) => Math.abs(p.x - t.chosen) < 1e-12);
  const chosen = [{ x: t.chosen, value: best?.value ?? null, label: `chosen ${t.chosen.toFixed(2)}${best ? ` (${best.value.toFixed(3)})` : ''}` }];
  const x = { field: 'x', type: 'quantitative' as const, title: t.param };
  return {
    width: 300,
    height: 180,
    title: t.title,
    layer: [
      { data: { values }, mark: { type: 'line', color, strokeWidth: 2, point: { color, size: 25 } }, encoding: { x, y: { field: 'value', type: 'quantitative', title: t.metric, scale: { zero: false } } } },
      { data: { values: chosen }, mark: { type: 'rule', color: '#e15759', strokeDash: [4, 3] }, encoding: { x } },
      ...(best
        ? [
            { data: { values: chosen }, mark: { type: 'point' as const, color: '#e15759', filled: true, size: 90 }, encoding: { x, y: { field: 'value', type: 'quantitative' as const } } },
            {
              data: { values: chosen },
              mark: { type: 'text' as const, color: '#e15759', align: 'left' as const, dx: 5, fontSize: 11 },
              // at the foot of the rule, clear of the curve
              encoding: { x, y: { value: 170 }, text: { field: 'label' } },
            },
          ]
        : []),
    ],
  } as TopLevelSpec;
}

export interface WinTieLoss {
  /** b better than a (Δ > eps). */
  wins: number;
  ties: number;
  /** a better than b (Δ < −eps). */
  losses: number;
}

export function winTieLoss(deltas: number[], eps = 1e-9): WinTieLoss {
  let wins = 0;
  let ties = 0;
  let losses = 0;
  for (const d of deltas) {
    if (d > eps) wins++;
    else if (d < -eps) losses++;
    else ties++;
  }
  return { wins, ties, losses };
}

/** Horizontal bars: queries where b wins, ties, a wins. */
export function winTieLossSpec(pair: PairedDeltas): TopLevelSpec {
  const w = winTieLoss(pair.deltas, pair.tieEpsilon ?? 1e-9);
  const values = [
    { outcome: `${pair.b} better`, count: w.wins, color: '#59a14f' },
    { outcome: 'tie', count: w.ties, color: '#bab0ac' },
    { outcome: `${pair.a} better`, count: w.losses, color: '#e15759' },
  ];
  return {
    width: 420,
    height: { step: 30 },
    title: `Per-query ${pair.metric}: ${pair.b} vs ${pair.a} (${pair.deltas.length} queries)`,
    data: { values },
    encoding: {
      y: { field: 'outcome', type: 'nominal', sort: null, title: null },
      x: { field: 'count', type: 'quantitative', title: 'queries' },
    },
    layer: [
      { mark: { type: 'bar' }, encoding: { color: { field: 'color', type: 'nominal', scale: null } } },
      { mark: { type: 'text', align: 'left', dx: 4, fontSize: 11 }, encoding: { text: { field: 'count', type: 'quantitative' } } },
    ],
  };
}

/**
 * Per-query Δ = b − a sorted from largest gain to largest loss, drawn as a green area above zero and a red
 * one below. Above `maxPoints` queries it uses evenly spaced quantiles, so the SVG stays small on 7 000 queries.
 */
export function sortedDeltaSpec(pair: PairedDeltas, maxPoints = 400): TopLevelSpec {
  const sorted = [...pair.deltas].sort((x, y) => y - x);
  const n = sorted.length;
  const k = Math.min(n, maxPoints);
  const values = Array.from({ length: k }, (_, i) => {
    const idx = k === n ? i : Math.round((i * (n - 1)) / Math.max(1, k - 1));
    const d = sorted[idx] as number;
    return { rank: n <= 1 ? 0 : idx / (n - 1), gain: Math.max(d, 0), loss: Math.min(d, 0) };
  });
  const x = {
    field: 'rank',
    type: 'quantitative' as const,
    title: 'queries, sorted by Δ',
    scale: { domain: [0, 1] },
    axis: { format: '%' },
  };
  return {
    width: 560,
    height: 200,
    title: `Sorted per-query Δ ${pair.metric} (${pair.b} − ${pair.a})${k < n ? `, ${k} quantiles` : ''}`,
    data: { values },
    layer: [
      {
        mark: { type: 'area', interpolate: 'step-after', color: '#59a14f', opacity: 0.85 },
        encoding: { x, y: { field: 'gain', type: 'quantitative', title: `Δ ${pair.metric}` } },
      },
      {
        mark: { type: 'area', interpolate: 'step-after', color: '#e15759', opacity: 0.85 },
        encoding: { x, y: { field: 'loss', type: 'quantitative' } },
      },
      { mark: { type: 'rule', color: '#555' }, encoding: { y: { datum: 0 } } },
    ],
  };
}
