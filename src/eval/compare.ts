// Paired comparison of several runs against a baseline on per-query metrics, with multiple-comparison correction.
import { DrhardInputError } from '../util/errors.ts';
import type { EvaluationResult } from './evaluate.ts';
import { bonferroni, bootstrapCI, holm, pairedTTest, randomizationTest } from './stats.ts';

export type Correction = 'holm' | 'bonferroni' | 'none';

export interface ComparisonRow {
  metric: string;
  /** Index into the `runs` given (≥ 1; 0 is the baseline). */
  run: number;
  baselineMean: number;
  mean: number;
  /** mean(run − baseline) over queries */
  diff: number;
  /** Cohen's d_z of the per-query differences */
  effectSize: number;
  tCI: [number, number];
  bootstrapCI: [number, number];
  t: number;
  df: number;
  pT: number;
  pTAdjusted: number;
  pRandomization: number;
  pRandomizationAdjusted: number;
  /** Queries where the run wins / loses / ties against the baseline */
  wins: number;
  losses: number;
  ties: number;
}

export interface CompareOptions {
  /** Randomization and bootstrap resamples (default 10,000). */
  trials?: number;
  /** PRNG seed (default 42): the same seed gives the same p-values and intervals. */
  seed?: number;
  /** Confidence level 1 − alpha for the intervals (default alpha 0.05). */
  alpha?: number;
  /** Family-wise correction across the runs compared with the baseline, separately per metric (default holm). */
  correction?: Correction;
}

/**
 * Compares runs[1..] with runs[0] on every metric the results share. Each result must come from evaluate() on the
 * same qrels with complete = true (or otherwise the same query list), so per-query values line up.
 */
export function compareRuns(runs: readonly EvaluationResult[], opts: CompareOptions = {}): ComparisonRow[] {
  if (runs.length < 2) throw new DrhardInputError(`compare needs a baseline and at least one other run, got ${runs.length}`);
  const base = runs[0]!;
  for (let r = 1; r < runs.length; r++) {
    const q = runs[r]!.queries;
    if (q.length !== base.queries.length || q.some((x, i) => x !== base.queries[i])) {
      throw new DrhardInputError(`run ${r} was evaluated on a different query set than the baseline; evaluate all runs with complete = true`);
    }
  }
  const metrics = base.metrics.filter((m) => runs.every((r) => r.values[m] !== undefined));
  const trials = opts.trials ?? 10000;
  const seed = opts.seed ?? 42;
  const alpha = opts.alpha ?? 0.05;
  const correct = opts.correction === 'none' ? (p: number[]) => p : opts.correction === 'bonferroni' ? bonferroni : holm;
  const rows: ComparisonRow[] = [];
  for (const metric of metrics) {
    const a = base.values[metric]!;
    const family: ComparisonRow[] = [];
    for (let r = 1; r < runs.length; r++) {
      const b = runs[r]!.values[metric]!;
      const tt = pairedTTest(b, a, { alpha });
      const diffs = new Float64Array(a.length);
      let wins = 0;
      let losses = 0;
      for (let i = 0; i < a.length; i++) {
        diffs[i] = b[i]! - a[i]!;
        if (diffs[i]! > 0) wins++;
        else if (diffs[i]! < 0) losses++;
      }
      const rt = randomizationTest(b, a, { trials, seed });
      family.push({
        metric,
        run: r,
        baselineMean: base.mean[metric]!,
        mean: runs[r]!.mean[metric]!,
        diff: tt.meanDiff,
        effectSize: tt.effectSize,
        tCI: tt.ci,
        bootstrapCI: bootstrapCI(diffs, { trials, seed, alpha }),
        t: tt.t,
        df: tt.df,
        pT: tt.p,
        pTAdjusted: tt.p,
        pRandomization: rt.p,
        pRandomizationAdjusted: rt.p,
        wins,
        losses,
        ties: a.length - wins - losses,
      });
    }
    const adjT = correct(family.map((x) => x.pT));
    const adjR = correct(family.map((x) => x.pRandomization));
    family.forEach((x, i) => {
      x.pTAdjusted = adjT[i]!;
      x.pRandomizationAdjusted = adjR[i]!;
    });
    rows.push(...family);
  }
  return rows;
}
