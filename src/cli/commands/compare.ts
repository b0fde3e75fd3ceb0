// `drhard compare`: paired t-test and randomization test of runs against a baseline, per metric, Holm-corrected.
import type { Command } from 'commander';
import { z } from 'zod';
import { DrhardInputError, DrhardUsageError } from '../../util/errors.ts';
import { writeFileAtomic } from '../../util/fsx.ts';
import { defineCommand } from '../command.ts';
import { emitText } from '../result.ts';

const options = z.object({
  runs: z.array(z.string()).min(2, 'give at least two run files: a baseline and a run to compare with it').describe('run files; the first is the baseline the others are compared with'),
  qrels: z.string().optional().describe('qrels file "qid 0 docid rel"; optional with --data'),
  runFormat: z.enum(['auto', 'trec', 'msmarco']).default('auto').describe('run format (default auto, per file)'),
  metrics: z.string().optional().describe('metrics, comma-separated (default mrr@10,recall@100,ndcg@10,map)'),
  relThreshold: z.string().default('1').describe('relevant = grade ≥ N (default 1); "any": every qrels line'),
  trials: z.coerce.number().int().positive().default(10000).describe('randomization-test and bootstrap resamples (default 10000)'),
  seed: z.coerce.number().int().default(42).describe('PRNG seed (default 42); the same seed reproduces every p-value'),
  alpha: z.coerce.number().gt(0).lt(1).default(0.05).describe('intervals are at level 1 − alpha (default 0.05 → 95%)'),
  correction: z.enum(['holm', 'bonferroni', 'none']).default('holm').describe('multiple-comparison correction across runs, per metric (default holm)'),
  format: z.enum(['text', 'json']).default('text').describe('text table or JSON'),
  data: z.string().optional().describe('dataset directory: runs hold its offsets, mapped back to ids'),
  split: z.string().optional().describe('query split of --data the runs were made for'),
  out: z.string().optional().describe('write the report here (atomically) instead of stdout'),
  allowPartial: z.boolean().default(false).describe('compare runs that share no query with the qrels or retrieve no judged document (refused by default)'),
  allowDifferentQueries: z.boolean().default(false).describe('compare runs over different query sets, missing queries scored 0 (refused by default)'),
});
type Options = z.infer<typeof options>;


function fmt(x: number, digits = 4): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  return x.toFixed(digits);
}

function fmtP(p: number): string {
  return p < 1e-4 ? p.toExponential(1) : p.toFixed(4);
}

async function run(o: Options): Promise<void> {
  const { loadInputs, parseThreshold, splitMetricList } = await import('../../eval/load.ts');
  const { evaluate, DEFAULT_METRICS } = await import('../../eval/evaluate.ts');
  const { parseMetric } = await import('../../eval/metrics.ts');
  const { compareRuns } = await import('../../eval/compare.ts');
  const relThreshold = parseThreshold(o.relThreshold);
  let metrics: string[];
  try {
    const asked = splitMetricList(o.metrics);
    metrics = [...new Set((asked.length > 0 ? asked : DEFAULT_METRICS).map((m) => parseMetric(m).name))];
  } catch (e) {
    throw e instanceof DrhardInputError ? new DrhardUsageError(`--metrics: ${e.message.replace(/^metrics: /, '')}`) : e;
  }
  const { qrels, runs } = await loadInputs({ qrels: o.qrels, runs: o.runs, runFormat: o.runFormat, dataset: o.data, split: o.split });
  const { checkRunAgainstQrels, checkSameQuerySets } = await import('../../eval/guards.ts');
  const warn = (m: string): void => void process.stderr.write(`drhard compare: ${m}\n`);
  for (const r of runs) checkRunAgainstQrels(qrels, r.run, r.file, { allowPartial: o.allowPartial, warn });
  checkSameQuerySets(runs, { allow: o.allowDifferentQueries, warn, qrels });
  const results = runs.map((r) => evaluate(qrels, r.run, { metrics, relThreshold, complete: true }));
  for (const [i, r] of results.entries()) {
    if (r.missingFromRun.length > 0) {
      process.stderr.write(`drhard compare: ${runs[i]!.file}: ${r.missingFromRun.length} qrels queries have no results (scored 0)\n`);
    }
  }
  const rows = compareRuns(results, { trials: o.trials, seed: o.seed, alpha: o.alpha, correction: o.correction });
  let out: string;
  if (o.format === 'json') {
    out = `${JSON.stringify({
      baseline: runs[0]!.file,
      runs: runs.map((r) => r.file),
      queries: results[0]!.queries.length,
      trials: o.trials,
      seed: o.seed,
      alpha: o.alpha,
      correction: o.correction,
      means: Object.fromEntries(runs.map((r, i) => [r.file, results[i]!.mean])),
      comparisons: rows.map((r) => ({ ...r, run: runs[r.run]!.file })),
    })}\n`;
  } else {
    const level = `${fmt((1 - o.alpha) * 100, 0)}%`;
    const lines: string[] = [];
    lines.push(`baseline: ${runs[0]!.file}; ${results[0]!.queries.length} queries; ${o.trials} resamples, seed ${o.seed}; p adjusted (${o.correction}) across ${runs.length - 1} run(s) per metric`);
    const header = ['metric', 'run', 'base', 'mean', 'diff', `${level} CI (t)`, `${level} CI (boot)`, 'd_z', 'W/L/T', 'p(t)', 'adj', 'p(rand)', 'adj'];
    const table: string[][] = [header];
    for (const r of rows) {
      table.push([
        r.metric,
        runs[r.run]!.file,
        fmt(r.baselineMean),
        fmt(r.mean),
        `${r.diff >= 0 ? '+' : ''}${fmt(r.diff)}`,
        `[${fmt(r.tCI[0])}, ${fmt(r.tCI[1])}]`,
        `[${fmt(r.bootstrapCI[0])}, ${fmt(r.bootstrapCI[1])}]`,
        fmt(r.effectSize, 3),
        `${r.wins}/${r.losses}/${r.ties}`,
        fmtP(r.pT),
        fmtP(r.pTAdjusted),
        fmtP(r.pRandomization),
        fmtP(r.pRandomizationAdjusted),
      ]);
    }
    const widths = header.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
    for (const row of table) lines.push(row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
    out = `${lines.join('\n')}\n`;
  }
  if (o.out !== undefined) writeFileAtomic(o.out, out);
  else await emitText(out);
}

export function register(program: Command): void {
  defineCommand(program, {
    name: 'compare',
    description: 'Paired significance tests (t-test, randomization test) of runs against the first run, per metric',
    schema: options,
    args: ['runs'],
    placeholders: { qrels: 'file', runFormat: 'format', metrics: 'list', relThreshold: 'n', alpha: 'a', correction: 'method', format: 'format', data: 'dir', split: 'name', out: 'file' },
    aliases: { dataset: 'data', output: 'out' },
    run,
  });
}
