// Benches report each drhard-vs-reference ratio here as well as printing it: under `npm run bench` (bench/run.ts sets
// DRHARD_BENCH_SUMMARY to a file) each call appends one JSON line, which run.ts turns into its summary table.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface RatioRecord {
  /** What was measured, e.g. 'tiny encode 256x128 wall'. */
  case: string;
  drhard: number;
  reference: number;
  /** drhard / reference. */
  ratio: number;
  /** Unit of drhard and reference (s, ms, QPS, µs/call). */
  unit: string;
  /** The target on the ratio, e.g. '<= 1.05' or '>= 0.95'. */
  target?: string;
}

/** Whether `npm run bench` asked for its quick, bounded sizes (the `--quick` flag, or DRHARD_BENCH_QUICK=1). */
export const quickMode = (): boolean => process.argv.includes('--quick') || process.env['DRHARD_BENCH_QUICK'] === '1';

/** Appends `r` to the summary file when bench/run.ts runs this bench; does nothing otherwise. */
export function recordRatio(r: Omit<RatioRecord, 'ratio'> & { ratio?: number }): void {
  const file = process.env['DRHARD_BENCH_SUMMARY'];
  if (file === undefined || file === '') return;
  const bench = path.basename(process.argv[1] ?? 'unknown', '.ts');
  fs.appendFileSync(file, `${JSON.stringify({ bench, ...r, ratio: r.ratio ?? r.drhard / r.reference })}\n`);
}
