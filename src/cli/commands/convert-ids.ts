// `drhard convert-ids`: run file with dataset offsets → run file with the original query/document ids (cvt_back.py).
import type { Command } from 'commander';
import { z } from 'zod';
import { defineCommand } from '../command.ts';
import { emitResult } from '../result.ts';

const options = z.object({
  data: z.string().describe('dataset directory written by drhard preprocess'),
  split: z.string().describe('query set the run was made for (train, dev, test, lead, or a BEIR split)'),
  run: z.string().describe('run file with offsets: TREC "qoffset Q0 doffset rank score tag" or MS MARCO "qoffset<TAB>doffset<TAB>rank"'),
  out: z.string().describe('converted run file (written atomically; separators, ranks, scores and tags kept as they are)'),
  runFormat: z.enum(['auto', 'trec', 'msmarco']).default('auto').describe('run format; auto detects it from the first line'),
});
type Options = z.infer<typeof options>;


async function run(o: Options): Promise<void> {
  const { convertRunIds } = await import('../../data/index.ts');
  const r = convertRunIds({ dataset: o.data, split: o.split, input: o.run, output: o.out, format: o.runFormat });
  await emitResult({ output: o.out, ...r });
}

export function register(program: Command): void {
  defineCommand(program, {
    name: 'convert-ids',
    description: "Rewrite a run file's query/document offsets as the dataset's original ids (DRhard cvt_back)",
    schema: options,
    placeholders: { data: 'dir', split: 'name', run: 'file', out: 'file', runFormat: 'format' },
    aliases: { dataset: 'data', input: 'run', output: 'out', format: 'runFormat' },
    run,
  });
}
