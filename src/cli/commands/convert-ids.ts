// `drhard convert-ids`: run file with dataset offsets → run file with the original query/document ids (cvt_back.py).
import type { Command } from 'commander';
import { z } from 'zod';
import { parseOptions } from '../options.ts';

const options = z.object({
  dataset: z.string().describe('dataset directory written by drhard preprocess'),
  split: z.string().describe('query set the run was made for (train, dev, test, lead, or a BEIR split)'),
  input: z.string().describe('run file with offsets: TREC "qoffset Q0 doffset rank score tag" or MS MARCO "qoffset<TAB>doffset<TAB>rank"'),
  output: z.string().describe('converted run file (written atomically; separators, ranks, scores and tags kept as they are)'),
  format: z.enum(['auto', 'trec', 'msmarco']).default('auto').describe('run format; auto detects it from the first line'),
});
type Options = z.infer<typeof options>;

const help = (k: keyof typeof options.shape): string => options.shape[k].description ?? '';

async function run(o: Options): Promise<void> {
  const { convertRunIds } = await import('../../data/index.ts');
  const r = convertRunIds({ dataset: o.dataset, split: o.split, input: o.input, output: o.output, format: o.format });
  process.stdout.write(`${JSON.stringify({ output: o.output, ...r })}\n`);
}

export function register(program: Command): void {
  program
    .command('convert-ids')
    .description("Rewrite a run file's query/document offsets as the dataset's original ids (DRhard cvt_back)")
    .requiredOption('--dataset <dir>', help('dataset'))
    .requiredOption('--split <name>', help('split'))
    .requiredOption('--input <file>', help('input'))
    .requiredOption('--output <file>', help('output'))
    .option('--format <format>', help('format'))
    .action(async (raw: Record<string, unknown>) => {
      await run(parseOptions(options, raw));
    });
}
