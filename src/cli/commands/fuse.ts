// `drhard fuse`: hybrid retrieval — fuses runs (e.g. dense + BM25) by RRF or min-max score interpolation, optionally
// tuning the interpolation weight on held-out (training) queries. Formulas and tie order: src/eval/fuse.ts.
import type { Command } from 'commander';
import { z } from 'zod';
import { DrhardInputError, DrhardUsageError } from '../../util/errors.ts';
import { writeFileAtomic } from '../../util/fsx.ts';
import { defineCommand } from '../command.ts';

const options = z.object({
  runs: z.array(z.string()).min(2, 'give at least two run files to fuse').describe('run files to fuse (TREC "qid Q0 docid rank score tag" or MS MARCO "qid docid rank"), in the order --weights refers to'),
  method: z.enum(['rrf', 'interpolate']).default('rrf').describe('rrf: Σ w/(k + rank); interpolate: Σ w · min-max normalized score, missing = 0 (default rrf)'),
  rrfK: z.coerce.number().min(0).optional().describe('RRF constant k (default 60); --method rrf only'),
  weights: z.string().optional().describe('per-run weights, comma-separated, one per run (default: rrf 1 each, interpolate 1/R each)'),
  alpha: z.coerce.number().min(0).max(1).optional().describe('two runs: weight of the first run; the second gets 1 − alpha (interpolate default 0.5)'),
  tuneQrels: z.string().optional().describe('qrels of held-out TRAINING queries (never dev/test) to tune alpha on; needs --tune-runs and --method interpolate'),
  tuneRuns: z.string().optional().describe('the same two systems\' runs on the tuning queries, comma-separated, in the order of RUN...'),
  tuneMetric: z.string().default('mrr@10').describe('metric alpha maximizes over the grid 0, 0.05, …, 1 (default mrr@10; ties → alpha nearest 0.5, then smaller)'),
  relThreshold: z.string().default('1').describe('for tuning: relevant = grade ≥ N (default 1); "any": every qrels line'),
  depth: z.coerce.number().int().positive().optional().describe('documents kept per query (default: the deepest input ranking)'),
  runFormat: z.enum(['auto', 'trec', 'msmarco']).default('auto').describe('input run format (default auto, per file; MS MARCO runs are scored −rank)'),
  out: z.string().optional().describe('fused TREC run to write (atomically); default stdout'),
  tag: z.string().optional().describe('run tag of the output (default fuse-rrf or fuse-interpolate)'),
  report: z.string().optional().describe('write a JSON report here (method, weights, tuning curve and chosen alpha), atomically'),
});
type Options = z.infer<typeof options>;


function splitList(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function parseWeights(raw: string): number[] {
  return splitList(raw).map((s) => {
    const v = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s) ? Number(s) : NaN;
    if (!Number.isFinite(v) || v < 0) throw new DrhardUsageError(`--weights: ${JSON.stringify(s)} is not a number ≥ 0`);
    return v;
  });
}

async function run(o: Options): Promise<void> {
  const { readQrels, readRun } = await import('../../data/trec.ts');
  const { parseThreshold } = await import('../../eval/load.ts');
  const { parseMetric } = await import('../../eval/metrics.ts');
  const fuse = await import('../../eval/fuse.ts');
  const { log } = await import('../../util/log.ts');
  const nRuns = o.runs.length;

  // Flag combinations first, before reading anything.
  const tuning = o.tuneQrels !== undefined || o.tuneRuns !== undefined;
  if (o.rrfK !== undefined && o.method !== 'rrf') throw new DrhardUsageError('--rrf-k applies to --method rrf only');
  if (o.weights !== undefined && o.alpha !== undefined) throw new DrhardUsageError('give --weights or --alpha, not both');
  if (o.alpha !== undefined && nRuns !== 2) throw new DrhardUsageError(`--alpha needs exactly two runs (got ${nRuns}); use --weights with one weight per run`);
  const weightsGiven = o.weights !== undefined ? parseWeights(o.weights) : undefined;
  if (weightsGiven !== undefined && weightsGiven.length !== nRuns) {
    throw new DrhardUsageError(`--weights: ${weightsGiven.length} weight(s) for ${nRuns} runs; give one per run`);
  }
  if (weightsGiven !== undefined && !weightsGiven.some((w) => w > 0)) throw new DrhardUsageError('--weights: at least one weight must be > 0');
  let tuneRunFiles: string[] = [];
  let metric = 'mrr@10';
  if (tuning) {
    if (o.tuneQrels === undefined || o.tuneRuns === undefined) throw new DrhardUsageError('weight tuning needs both --tune-qrels and --tune-runs');
    if (o.method !== 'interpolate') throw new DrhardUsageError('weight tuning (--tune-qrels) applies to --method interpolate');
    if (o.weights !== undefined || o.alpha !== undefined) throw new DrhardUsageError('--tune-qrels chooses alpha: drop --weights/--alpha');
    if (nRuns !== 2) throw new DrhardUsageError(`weight tuning needs exactly two runs (got ${nRuns})`);
    tuneRunFiles = splitList(o.tuneRuns);
    if (tuneRunFiles.length !== nRuns) {
      throw new DrhardUsageError(`--tune-runs: give ${nRuns} comma-separated runs, one per RUN in the same order (got ${tuneRunFiles.length})`);
    }
    try {
      metric = parseMetric(o.tuneMetric).name;
    } catch (e) {
      throw e instanceof DrhardInputError ? new DrhardUsageError(`--tune-metric: ${e.message.replace(/^metrics: /, '')}`) : e;
    }
  }
  const relThreshold = parseThreshold(o.relThreshold);
  const tag = o.tag ?? `fuse-${o.method}`;
  if (tag.length === 0 || /\s/.test(tag)) throw new DrhardUsageError(`--tag: ${JSON.stringify(tag)} is empty or has whitespace`);

  const runs = o.runs.map((file) => readRun(file, { format: o.runFormat }).run);
  const depth = o.depth ?? fuse.maxRunDepth(runs);
  if (depth < 1) throw new DrhardInputError('the input runs hold no documents', { file: o.runs.join(', ') });

  let tuned: import('../../eval/fuse.ts').TuneResult | undefined;
  if (tuning) {
    const tuneQrels = readQrels(o.tuneQrels!);
    const tuneRuns = tuneRunFiles.map((file) => readRun(file, { format: o.runFormat }).run);
    const overlap = [...new Set(tuneRuns.flatMap((r) => [...r.keys()]))].filter((q) => runs.some((r) => r.has(q)));
    if (overlap.length > 0) {
      log.warn(
        { queries: overlap.length, sample: overlap.slice(0, 5) },
        'tuning queries also occur in the runs being fused: tune on held-out training queries, not on the queries you evaluate',
      );
    }
    if (!tuneRuns.some((r) => [...r.keys()].some((q) => tuneQrels.has(q)))) {
      throw new DrhardInputError(`no query of the tuning runs (${tuneRunFiles.join(', ')}) appears in the tuning qrels: are they for the same query set?`, { file: o.tuneQrels! });
    }
    tuned = fuse.tuneInterpolation(tuneRuns, tuneQrels, { metric, relThreshold, depth, names: tuneRunFiles });
    log.info(
      { metric: tuned.metric, alpha: tuned.alpha, value: tuned.value, queries: tuned.queries, curve: tuned.curve.map((c) => [c.alpha, Number(c.value.toFixed(6))]) },
      `fuse: tuned alpha = ${tuned.alpha} (${tuned.metric} ${tuned.value.toFixed(4)} on ${tuned.queries} tuning queries)`,
    );
  }

  const opts = {
    names: o.runs,
    depth,
    ...(o.rrfK !== undefined ? { k: o.rrfK } : {}),
    ...(tuned !== undefined ? { alpha: tuned.alpha } : {}),
    ...(o.alpha !== undefined ? { alpha: o.alpha } : {}),
    ...(weightsGiven !== undefined ? { weights: weightsGiven } : {}),
  };
  const fused = fuse.fuseRuns(runs, o.method, opts);
  const weights = fuse.fusionWeights(o.method, nRuns, opts);

  const { writeRun } = await import('../../data/runwriter.ts');
  writeRun(o.out ?? null, fused, { format: 'trec', tag });
  let docs = 0;
  for (const r of fused.values()) docs += r.docids.length;
  log.info({ method: o.method, runs: o.runs, weights, ...(o.method === 'rrf' ? { k: o.rrfK ?? fuse.DEFAULT_RRF_K } : {}), depth, queries: fused.size, docs }, 'fuse done');

  if (o.report !== undefined) {
    const report = {
      method: o.method,
      runs: o.runs,
      weights,
      ...(o.method === 'rrf' ? { k: o.rrfK ?? fuse.DEFAULT_RRF_K } : {}),
      depth,
      queries: fused.size,
      output: o.out ?? null,
      tag,
      ...(tuned !== undefined
        ? { tuning: { qrels: o.tuneQrels, runs: tuneRunFiles, metric: tuned.metric, relThreshold, queries: tuned.queries, alpha: tuned.alpha, value: tuned.value, curve: tuned.curve } }
        : {}),
    };
    writeFileAtomic(o.report, `${JSON.stringify(report, null, 2)}\n`);
  }
}

export function register(program: Command): void {
  defineCommand(program, {
    name: 'fuse',
    description: 'Hybrid retrieval: fuse runs (e.g. dense + BM25) by reciprocal rank fusion or min-max score interpolation',
    schema: options,
    args: ['runs'],
    placeholders: {
      method: 'method', rrfK: 'k', weights: 'list', alpha: 'a', tuneQrels: 'file', tuneRuns: 'list', tuneMetric: 'metric', relThreshold: 'n',
      runFormat: 'format', out: 'file', tag: 'name', report: 'file',
    },
    aliases: { k: 'rrfK' },
    run,
  });
}
