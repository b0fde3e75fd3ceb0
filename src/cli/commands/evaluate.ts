// `drhard evaluate`: a run against qrels — msmarco_eval-style MRR block plus a trec_eval-style table, or JSON.
import type { Command } from 'commander';
import { z } from 'zod';
import { DrhardInputError, DrhardUsageError } from '../../util/errors.ts';
import { writeFileAtomic } from '../../util/fsx.ts';
import { defineCommand } from '../command.ts';
import { emitText } from '../result.ts';

const options = z.object({
  qrels: z.string().optional().describe('qrels file "qid 0 docid rel" (TREC or MS MARCO .tsv); optional with --data'),
  run: z.string().describe('run file: TREC "qid Q0 docid rank score tag" or MS MARCO "qid<TAB>docid<TAB>rank"'),
  runFormat: z.enum(['auto', 'trec', 'msmarco']).default('auto').describe('run format (default auto: by the first line)'),
  metrics: z
    .string()
    .optional()
    .describe('extra metrics, comma-separated: mrr@K, recall@K, ndcg@K, p@K, map, map@K, success@K, rprec (always: mrr@10, recall@100, ndcg@10, map)'),
  perQuery: z.boolean().default(false).describe('also print every query\'s values (like trec_eval -q)'),
  format: z.enum(['text', 'json']).default('text').describe('text: msmarco_eval block + trec_eval table; json: one object'),
  relThreshold: z.string().default('1').describe('relevant = grade ≥ N (default 1, trec_eval -l); "any": every qrels line, as msmarco_eval.py'),
  complete: z.boolean().default(true).describe('average over every qrels query, missing ones scoring 0 (trec_eval -c; default on)'),
  maxDocs: z.coerce.number().int().positive().optional().describe('keep only the top N documents per query (trec_eval -M)'),
  msmarcoK: z.coerce.number().int().positive().default(10).describe('cutoff of the msmarco_eval-style MRR block (default 10; DRhard doc runs use 100)'),
  data: z.string().optional().describe('dataset directory (drhard preprocess): the run holds its offsets, mapped back to ids'),
  split: z.string().optional().describe('query split of --data the run was made for (train, dev, test, ...)'),
  out: z.string().optional().describe('write the report here (atomically) instead of stdout'),
  allowPartial: z.boolean().default(false).describe('score a run that shares no query with the qrels or retrieves no judged document (refused by default)'),
});
type Options = z.infer<typeof options>;


async function run(o: Options): Promise<void> {
  const { loadInputs, parseThreshold, splitMetricList } = await import('../../eval/load.ts');
  const { evaluate, msmarcoMrr, DEFAULT_METRICS } = await import('../../eval/evaluate.ts');
  const { parseMetric } = await import('../../eval/metrics.ts');
  const { formatMsmarcoBlock, formatTrecTable } = await import('../../eval/format.ts');
  const relThreshold = parseThreshold(o.relThreshold);
  let metrics: string[];
  try {
    metrics = [...new Set([...DEFAULT_METRICS, ...splitMetricList(o.metrics).map((m) => parseMetric(m).name)])];
  } catch (e) {
    throw e instanceof DrhardInputError ? new DrhardUsageError(`--metrics: ${e.message.replace(/^metrics: /, '')}`) : e;
  }
  const { qrels, runs } = await loadInputs({ qrels: o.qrels, runs: [o.run], runFormat: o.runFormat, dataset: o.data, split: o.split });
  const loaded = runs[0]!;
  const { checkRunAgainstQrels } = await import('../../eval/guards.ts');
  checkRunAgainstQrels(qrels, loaded.run, loaded.file, { allowPartial: o.allowPartial, warn: (m) => process.stderr.write(`drhard evaluate: ${m}\n`) });
  const res = evaluate(qrels, loaded.run, {
    metrics,
    relThreshold,
    complete: o.complete,
    ...(o.maxDocs !== undefined ? { maxDocs: o.maxDocs } : {}),
  });
  const warn = (msg: string): void => {
    process.stderr.write(`drhard evaluate: ${msg}\n`);
  };
  const sample = (ids: string[]): string => `${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''}`;
  if (res.missingFromRun.length > 0) {
    warn(`${res.missingFromRun.length} qrels queries have no results in the run (${o.complete ? 'scored 0' : 'skipped'}): ${sample(res.missingFromRun)}`);
  }
  if (res.notInQrels.length > 0) warn(`${res.notInQrels.length} run queries are not in the qrels (ignored): ${sample(res.notInQrels)}`);
  if (res.noRelevant.length > 0) warn(`${res.noRelevant.length} evaluated queries have no relevant document: ${sample(res.noRelevant)}`);
  if (res.queries.length === 0) throw new DrhardUsageError('no query has both qrels and results; are the run and qrels for the same query set?');

  let out: string;
  if (o.format === 'json') {
    const obj: Record<string, unknown> = {};
    for (const m of res.metrics) obj[m] = res.mean[m];
    obj['queries'] = res.queries.length;
    if (o.perQuery) obj['perQuery'] = Object.fromEntries(res.perQuery);
    out = `${JSON.stringify(obj)}\n`;
  } else {
    const mm = msmarcoMrr(qrels, loaded.run, { k: o.msmarcoK, relThreshold });
    out = formatMsmarcoBlock(mm.mrr, o.msmarcoK, mm.queriesRanked) + formatTrecTable(res, { perQuery: o.perQuery, ...(loaded.tag !== undefined ? { runid: loaded.tag } : {}) });
  }
  if (o.out !== undefined) writeFileAtomic(o.out, out);
  else await emitText(out);
}

export function register(program: Command): void {
  defineCommand(program, {
    name: 'evaluate',
    description: 'Evaluate a run against qrels with trec_eval semantics (MRR@10, Recall@100, NDCG@10, MAP, ...)',
    schema: options,
    placeholders: { qrels: 'file', run: 'file', runFormat: 'format', metrics: 'list', format: 'format', relThreshold: 'n', msmarcoK: 'k', data: 'dir', split: 'name', out: 'file' },
    aliases: { dataset: 'data', output: 'out' },
    run,
  });
}
