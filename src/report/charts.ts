// Vega-Lite chart specs for the report, rendered to SVG strings in Node (no browser, canvas or network needed).
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { CurvePoint, DevMetrics, MetricCI, PairedDeltas } from './types.ts';

/** Listed explicitly: without it vega's default font falls back differently on every machine. */
export const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

// Tableau 10: distinguishable, and the same method keeps its colour in every chart.
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

const CONFIG = {
  font: FONT,
  background: 'white',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12 },
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

/** Line chart of `field` against step, one line per method; non-finite points are dropped and counted. */
export function curveSpec(
  curves: Array<{ method: string; points: CurvePoint[] }>,
  field: 'loss' | 'trainMrr',
  methods: string[],
): { spec: TopLevelSpec; dropped: number; points: number } {
  const values: Array<{ method: string; step: number; y: number }> = [];
  let dropped = 0;
  for (const c of curves) {
    for (const p of c.points) {
      const y = p[field];
      if (y === undefined) continue;
      if (Number.isFinite(y) && Number.isFinite(p.step)) values.push({ method: c.method, step: p.step, y });
      else dropped++;
    }
  }
  const title = field === 'loss' ? 'training loss' : 'training MRR@10';
  const spec: TopLevelSpec = {
    width: 360,
    height: 240,
    data: { values },
    mark: { type: 'line', strokeWidth: 2, point: values.length <= 60 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: { field: 'y', type: 'quantitative', title, scale: { zero: false } },
      color: { field: 'method', type: 'nominal', title: 'method', scale: colorScale([...new Set(values.map((v) => v.method))], methods) },
    },
  };
  return { spec, dropped, points: values.length };
}

/** Point estimate with its 95% CI per method, for one metric. */
export function ciSpec(dev: DevMetrics[], metric: string, methods: string[]): TopLevelSpec {
  const values = dev
    .filter((d) => d.metrics[metric] !== undefined)
    .map((d) => {
      const m = d.metrics[metric] as MetricCI;
      return { method: d.method, value: m.value, lo: m.lo, hi: m.hi, label: m.value.toFixed(3) };
    });
  const y = { field: 'method', type: 'nominal' as const, title: null, sort: null };
  const color = { field: 'method', type: 'nominal' as const, scale: colorScale(values.map((v) => v.method), methods), legend: null };
  return {
    width: 250,
    height: { step: 28 },
    title: `${metric} (95% CI)`,
    data: { values },
    encoding: { y },
    layer: [
      {
        mark: { type: 'rule', strokeWidth: 2 },
        encoding: {
          x: { field: 'lo', type: 'quantitative', title: metric, scale: { zero: false } },
          x2: { field: 'hi' },
          color,
        },
      },
      { mark: { type: 'point', filled: true, size: 70, opacity: 1 }, encoding: { x: { field: 'value', type: 'quantitative' }, color } },
      {
        mark: { type: 'text', align: 'left', dx: 6, dy: -9, fontSize: 10, color: '#333' },
        encoding: { x: { field: 'value', type: 'quantitative' }, text: { field: 'label' } },
      },
    ],
  };
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
