// The data a demo report shows, and its runtime schema (reports are built from files other tools wrote).
import { z } from 'zod';

/** One row of the results table. Metrics are fractions in [0, 1]; NaN/null shows as "—". */
export interface ResultRow {
  method: string;
  mrr10: number | null;
  recall100: number | null;
  ndcg10: number | null;
  /** Two-sided p-values against `ReportData.baseline`, per metric; omit for the baseline itself. */
  pValues?: { mrr10?: number | null; recall100?: number | null; ndcg10?: number | null };
  notes?: string;
}

export interface CurvePoint {
  step: number;
  loss: number;
  trainMrr?: number;
  /** Learning rate at this step (drawn in the LR-schedule chart). */
  lr?: number;
}

/** One training run's logged metrics. */
export interface TrainingCurve {
  method: string;
  /**
   * What the loss measures. Losses of different kinds are different quantities (e.g. a listwise cross-entropy and a
   * ΔMRR-weighted pairwise loss) and are charted on separate axes, one chart per kind. Omitted: 'training loss'.
   */
  lossKind?: string;
  points: CurvePoint[];
  /** Metrics evaluated during training (e.g. dev/mrr@10 every N steps), one chart per metric name. */
  dev?: Array<{ step: number; metric: string; value: number }>;
}

/** A point estimate with its 95% confidence interval. */
export interface MetricCI {
  value: number;
  lo: number;
  hi: number;
}

export interface DevMetrics {
  method: string;
  /** Keyed by display name, e.g. { 'MRR@10': {value, lo, hi}, 'Recall@100': ... }. */
  metrics: Record<string, MetricCI>;
  /**
   * A reference row (e.g. BM25, a hybrid): drawn as a dashed vertical line across the chart, with its value in its own
   * row, and kept out of the x scale when it would squeeze the other rows' confidence intervals (then labelled at the
   * edge as off scale).
   */
  reference?: boolean;
}

/** A one-parameter tuning sweep (e.g. the dense weight of a hybrid) with the chosen value marked. */
export interface TuningSweep {
  title: string;
  /** x-axis title, e.g. 'dense weight α (BM25: 1 − α)'. */
  param: string;
  /** y-axis metric, e.g. 'MRR@10 on the tuning queries'. */
  metric: string;
  points: Array<{ x: number; value: number }>;
  chosen: number;
  /** Free text under the chart. */
  note?: string;
}

/** A titled key/value table (run metadata: versions, machine, hyperparameters, stage times). */
export interface MetaSection {
  title: string;
  rows: Array<{ key: string; value: string }>;
}

/** One query of a compared pair: its text and both methods' top documents (see src/report/examples.ts). */
export interface PairExample {
  qid: string;
  query: string;
  /** Per-query metric of b minus a's. */
  delta: number;
  /** Relevant documents the query has. */
  relevant: number;
  a: Array<{ docid: string; text: string; relevant: boolean }>;
  b: Array<{ docid: string; text: string; relevant: boolean }>;
}

/** Per-query metric differences `b − a` (e.g. a = STAR, b = ADORE+STAR) for the win/tie/loss chart. */
export interface PairedDeltas {
  a: string;
  b: string;
  metric: string;
  deltas: number[];
  /** |Δ| ≤ tieEpsilon counts as a tie. Default 1e-9. */
  tieEpsilon?: number;
  /** Queries shown with their text and both methods' top documents. */
  examples?: PairExample[];
}

export interface ReportData {
  title: string;
  subtitle?: string;
  /** Method the p-values were computed against (shown in the table header). */
  baseline?: string;
  /** Significance level for marking p-values. Default 0.05. */
  alpha?: number;
  results: ResultRow[];
  curves: TrainingCurve[];
  devMetrics: DevMetrics[];
  pair?: PairedDeltas;
  /** Tuning sweeps, each drawn as a small chart (e.g. the hybrid's interpolation weight). */
  tuning?: TuningSweep[];
  /** Reproducibility metadata, rendered as tables at the end. */
  metadata?: MetaSection[];
  /** Free-text paragraphs shown under the title (data set, settings, caveats). */
  notes?: string[];
  /** Shown in the footer; omitted → no timestamp, so the same data gives the same bytes. */
  generatedAt?: string;
}

const num = z.number();
// Curves and table cells may carry NaN/Infinity (a diverged run is worth showing); they render as gaps or "—".
const anyNum = z.custom<number>((v) => typeof v === 'number', { message: 'expected a number' });
const metricVal = anyNum.nullable();
const pv = z.number().min(0).max(1).nullable().optional();
const exampleDoc = z.object({ docid: z.string(), text: z.string(), relevant: z.boolean() }).strict();

export const reportDataSchema = z
  .object({
    title: z.string().min(1),
    subtitle: z.string().optional(),
    baseline: z.string().optional(),
    alpha: z.number().gt(0).lt(1).optional(),
    results: z.array(
      z
        .object({
          method: z.string().min(1),
          mrr10: metricVal,
          recall100: metricVal,
          ndcg10: metricVal,
          pValues: z.object({ mrr10: pv, recall100: pv, ndcg10: pv }).strict().optional(),
          notes: z.string().optional(),
        })
        .strict(),
    ),
    curves: z.array(
      z
        .object({
          method: z.string().min(1),
          lossKind: z.string().min(1).optional(),
          points: z.array(z.object({ step: num, loss: anyNum, trainMrr: anyNum.optional(), lr: anyNum.optional() }).strict()),
          dev: z.array(z.object({ step: num, metric: z.string().min(1), value: anyNum }).strict()).optional(),
        })
        .strict(),
    ),
    devMetrics: z.array(
      z
        .object({
          method: z.string().min(1),
          metrics: z.record(
            z.string(),
            z
              .object({ value: num, lo: num, hi: num })
              .strict()
              .refine((m) => m.lo <= m.value && m.value <= m.hi, { message: 'need lo <= value <= hi' }),
          ),
          reference: z.boolean().optional(),
        })
        .strict(),
    ),
    pair: z
      .object({
        a: z.string().min(1),
        b: z.string().min(1),
        metric: z.string().min(1),
        deltas: z.array(num),
        tieEpsilon: z.number().min(0).optional(),
        examples: z
          .array(
            z
              .object({
                qid: z.string(),
                query: z.string(),
                delta: num,
                relevant: z.number().int().min(0),
                a: z.array(exampleDoc),
                b: z.array(exampleDoc),
              })
              .strict(),
          )
          .optional(),
      })
      .strict()
      .optional(),
    tuning: z
      .array(
        z
          .object({
            title: z.string().min(1),
            param: z.string().min(1),
            metric: z.string().min(1),
            points: z.array(z.object({ x: num, value: anyNum }).strict()).min(1),
            chosen: num,
            note: z.string().optional(),
          })
          .strict(),
      )
      .optional(),
    metadata: z
      .array(z.object({ title: z.string().min(1), rows: z.array(z.object({ key: z.string().min(1), value: z.string() }).strict()) }).strict())
      .optional(),
    notes: z.array(z.string()).optional(),
    generatedAt: z.string().optional(),
  })
  .strict();
