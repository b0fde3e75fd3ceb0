// `drhard export --format sentence-transformers DIR`: a model directory in another toolkit's layout (see
// src/models/export.ts); prints a JSON summary on stdout.
import type { Command } from 'commander';
import { z } from 'zod';
import { defineCommand } from '../command.ts';
import { emitResult } from '../result.ts';

const options = z.object({
  out: z.string().describe('directory to write (replaced atomically if it exists)'),
  model: z.string().describe('model directory: config.json + model.safetensors (or pytorch_model.bin) + tokenizer files'),
  format: z.enum(['sentence-transformers']).default('sentence-transformers').describe('target layout (default sentence-transformers)'),
  pooling: z.enum(['first', 'mean']).optional().describe("pooling for a plain Hugging Face encoder without DRhard's head (default: the model's config)"),
  maxSeqLength: z.coerce.number().int().min(2).optional().describe("sentence-transformers' max_seq_length (default: every position of the model, 512 for RoBERTa-base)"),
  tokenizer: z.string().optional().describe('tokenizer or dataset directory, when the model directory has no tokenizer files'),
});
type Options = z.infer<typeof options>;

async function run(o: Options): Promise<void> {
  const { exportSentenceTransformers } = await import('../../models/export.ts');
  const { readFileSync } = await import('node:fs');
  const version = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  const r = await exportSentenceTransformers(o.model, o.out, { pooling: o.pooling, maxSeqLength: o.maxSeqLength, tokenizer: o.tokenizer, versions: { drhard: version } });
  await emitResult({ out: o.out, format: o.format, ...r });
}

export function register(program: Command): void {
  defineCommand(program, {
    name: 'export',
    description: "Write a model directory in another toolkit's layout (sentence-transformers: SentenceTransformer(DIR).encode)",
    schema: options,
    args: ['out'],
    placeholders: { model: 'dir', format: 'format', pooling: 'kind', tokenizer: 'dir' },
    run,
  });
}
