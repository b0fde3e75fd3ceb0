// `drhard embed`: embeddings of token-id sequences (or text lines, with the model directory's tokenizer) as JSON.
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { z } from 'zod';
import { DrhardInputError, DrhardUsageError } from '../../util/errors.ts';
import { writeFileAtomic } from '../../util/fsx.ts';
import { defineCommand } from '../command.ts';
import { emitText } from '../result.ts';

const options = z.object({
  model: z.string().describe('model directory: config.json + model.safetensors (or pytorch_model.bin)'),
  tokenIds: z.string().optional().describe('JSON file: an array of token-id arrays, e.g. [[0, 713, 2], [0, 9, 2]]'),
  text: z.string().optional().describe("text file, one text per line; tokenized with the model directory's tokenizer"),
  maxLength: z.coerce.number().int().min(2).default(512).describe('longest sequence (default 512); longer ones keep their first and last token, as DRhard'),
  batchSize: z.coerce.number().int().positive().default(64).describe('sequences per forward pass (default 64)'),
  pooling: z.enum(['first', 'mean']).optional().describe("pooling for a plain Hugging Face encoder without DRhard's head: first ([CLS]/<s>) or mean (default: the model's config)"),
  device: z.string().default('cpu').describe("'cpu' (default) or 'cuda:N'"),
  dtype: z
    .enum(['float32', 'bfloat16'])
    .default('float32')
    .describe('float32 (default), or bfloat16 mixed precision for the matrix products (fast on AMX/AVX512-BF16 CPUs and GPUs)'),
  compat28: z.boolean().default(false).describe("tokenize as DRhard's transformers-2.8 RobertaTokenizer (lowercase, prefix space)"),
  out: z.string().optional().describe('write the JSON here (atomically) instead of stdout'),
});
type Options = z.infer<typeof options>;


/** Reads and validates an ids file: every id an integer in [0, vocabSize). */
export function readIdsFile(file: string, vocabSize: number): number[][] {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DrhardInputError(code ? `cannot read (${code})` : `not valid JSON (${(e as Error).message})`, { file });
  }
  if (!Array.isArray(json)) throw new DrhardInputError('expected a JSON array of token-id arrays', { file });
  return json.map((seq: unknown, i) => {
    if (!Array.isArray(seq) || seq.length === 0) throw new DrhardInputError('expected a non-empty array of token ids', { file, field: `[${i}]` });
    return seq.map((id: unknown, j) => {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new DrhardInputError(`token id ${JSON.stringify(id)} is not an integer in [0, ${vocabSize})`, { file, field: `[${i}][${j}]` });
      }
      return id;
    });
  });
}

async function run(o: Options): Promise<void> {
  if ((o.tokenIds === undefined) === (o.text === undefined)) throw new DrhardUsageError('give exactly one of --token-ids and --text');
  // Heavy imports (libtorch) only when the command runs, so `drhard --help` stays fast.
  const { loadModel } = await import('../../models/checkpoint.ts');
  const { encodeIds, truncateIds } = await import('../../models/encode.ts');
  const { model } = loadModel(o.model, { device: o.device, pooling: o.pooling });
  if (o.dtype === 'bfloat16') model.setMixedPrecision('bfloat16');
  const roberta = model.config.modelType === 'roberta';
  // RoBERTa positions start after padding_idx, so the position table holds max_position_embeddings - pad - 1 tokens.
  const limit = Math.min(o.maxLength, model.config.maxPositionEmbeddings - (roberta ? model.config.padTokenId + 1 : 0));
  let seqs: number[][];
  if (o.tokenIds !== undefined) {
    seqs = readIdsFile(o.tokenIds, model.config.vocabSize).map((s) => truncateIds(s, limit));
  } else {
    const { loadTokenizer } = await import('../../tokenizers/index.ts');
    const tok = await loadTokenizer(o.model, { compat28: o.compat28 });
    const file = o.text!;
    let lines: string[];
    try {
      lines = fs.readFileSync(file, 'utf8').split('\n');
    } catch (e) {
      throw new DrhardInputError(`cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file });
    }
    if (lines.at(-1) === '') lines.pop();
    const packed = await tok.encodeBatch(lines, limit);
    seqs = [];
    let off = 0;
    for (const n of packed.lengths) {
      seqs.push(Array.from(packed.ids.subarray(off, off + n)));
      off += n;
    }
  }
  const flat = encodeIds(model, seqs, { batchSize: o.batchSize });
  const dim = model.dim;
  const rows = seqs.map((_, i) => Array.from(flat.subarray(i * dim, (i + 1) * dim)));
  const json = `${JSON.stringify(rows)}\n`;
  if (o.out) writeFileAtomic(o.out, json);
  else await emitText(json);
  model.dispose();
}

export function register(program: Command): void {
  defineCommand(program, {
    name: 'embed',
    description: 'Print embeddings (a JSON array of vectors) of token-id sequences or text lines',
    schema: options,
    placeholders: { model: 'dir', tokenIds: 'file', text: 'file', device: 'device', dtype: 'dtype', out: 'file' },
    aliases: { ids: 'tokenIds', output: 'out' },
    run,
  });
}
