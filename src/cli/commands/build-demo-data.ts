// `drhard build-demo-data`: regenerate the shipped demo dataset (data/demo) from apt's English package descriptions.
import type { Command } from 'commander';
import { z } from 'zod';
import { defineCommand } from '../command.ts';
import { emitResult } from '../result.ts';

const options = z.object({
  outDir: z.string().default('data/demo').describe('output directory, replaced atomically (default data/demo)'),
  source: z.array(z.string()).optional().describe('apt Translation-en list file, repeatable (default: /var/lib/apt/lists/*_i18n_Translation-en*)'),
  devQueries: z.coerce.number().int().positive().default(1500).describe('queries held out as the dev split (default 1500)'),
  seed: z.coerce.number().int().default(42).describe('seed of the train/dev split (default 42)'),
  minDocWords: z.coerce.number().int().min(1).default(10).describe('drop descriptions with fewer words (default 10)'),
  minQueryWords: z.coerce.number().int().min(1).default(2).describe('drop synopses with fewer words (default 2)'),
  maxRelevant: z.coerce.number().int().min(1).default(10).describe('drop synopses shared by more documents than this (default 10)'),
});
type Options = z.infer<typeof options>;


async function run(o: Options): Promise<void> {
  const { buildDemoData } = await import('../../data/demo.ts');
  const stats = await buildDemoData({
    out: o.outDir,
    ...(o.source !== undefined ? { sources: o.source } : {}),
    devQueries: o.devQueries,
    seed: o.seed,
    minDocWords: o.minDocWords,
    minQueryWords: o.minQueryWords,
    maxRelevant: o.maxRelevant,
  });
  await emitResult(stats);
}

export function register(program: Command): void {
  defineCommand(program, {
    name: 'build-demo-data',
    description: "Build the MS MARCO-format demo dataset from Debian's English package descriptions",
    schema: options,
    placeholders: { outDir: 'dir', source: 'file' },
    aliases: { out: 'outDir' },
    run,
  });
}
