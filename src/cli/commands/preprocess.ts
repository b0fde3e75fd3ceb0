// `drhard preprocess`: MS MARCO / BEIR text → tokenized dataset directory (DRhard's preprocess.py).
import type { Command } from 'commander';
import { z } from 'zod';
import { DrhardUsageError } from '../../util/errors.ts';
import { defineCommand } from '../command.ts';
import { emitResult } from '../result.ts';

const options = z.object({
  inputFormat: z.enum(['msmarco-passage', 'msmarco-doc', 'beir']).default('msmarco-passage').describe('input format: msmarco-passage (default), msmarco-doc or beir'),
  input: z.string().optional().describe('input directory with the standard file names (collection.tsv, queries.*.tsv, qrels.*.tsv; or BEIR corpus.jsonl, queries.jsonl, qrels/*.tsv); .gz variants are read too'),
  outDir: z.string().describe('output dataset directory (built in a temp dir beside it, renamed into place when complete)'),
  tokenizer: z.string().describe('model directory with tokenizer.json, vocab.json + merges.txt, or vocab.txt (or a tokenizer.json path)'),
  compat28: z.boolean().default(false).describe("tokenize as DRhard's transformers-2.8 RobertaTokenizer (lowercase, prefix space); needed for DRhard's published checkpoints"),
  lowercase: z.boolean().optional().describe('vocab.txt tokenizers: override do_lower_case'),
  collection: z.string().optional().describe('MS MARCO collection file (default: found in --input)'),
  split: z.array(z.string()).optional().describe('MS MARCO query set NAME=QUERIES[:QRELS], repeatable (default: DRhard train/dev/test/lead sets found in --input); BEIR: a qrels/NAME.tsv split name, repeatable (default: all)'),
  idType: z.enum(['numeric', 'string']).default('numeric').describe("MS MARCO id check: 'numeric' (default: integer ids, D<digits> docids) or 'string' (any id without whitespace)"),
  maxDocLength: z.coerce.number().int().min(2).default(512).describe('document truncation length in tokens, special tokens included (default 512)'),
  maxQueryLength: z.coerce.number().int().min(2).default(64).describe('query truncation length in tokens, special tokens included (default 64)'),
  maxDocChars: z.coerce.number().int().min(0).default(10_000).describe('cut documents to this many characters before tokenizing (default 10000; 0: no cut)'),
  titleSep: z.string().default(' ').describe("BEIR: separator between title and text (default ' ')"),
  threads: z.coerce.number().int().min(0).optional().describe('tokenizer worker threads (default: min(2, cores); 0: main thread)'),
  skipInvalid: z.boolean().default(false).describe('count and report invalid lines instead of failing on the first'),
  overwrite: z.boolean().default(false).describe('replace an existing dataset directory'),
});
type Options = z.infer<typeof options>;


function parseSplitArg(s: string): { name: string; queries: string; qrels?: string } {
  const eq = s.indexOf('=');
  if (eq <= 0) throw new DrhardUsageError(`--split: expected NAME=QUERIES[:QRELS], got ${JSON.stringify(s)}`);
  const name = s.slice(0, eq);
  const rest = s.slice(eq + 1);
  const colon = rest.lastIndexOf(':');
  if (colon < 0) return { name, queries: rest };
  return { name, queries: rest.slice(0, colon), qrels: rest.slice(colon + 1) };
}

async function run(o: Options): Promise<void> {
  const { preprocessMsmarco, preprocessBeir } = await import('../../data/index.ts');
  const common = {
    out: o.outDir,
    tokenizer: o.tokenizer,
    compat28: o.compat28,
    ...(o.lowercase !== undefined ? { lowercase: o.lowercase } : {}),
    maxDocLength: o.maxDocLength,
    maxQueryLength: o.maxQueryLength,
    maxDocChars: o.maxDocChars,
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
    skipInvalid: o.skipInvalid,
    overwrite: o.overwrite,
  };
  let report;
  if (o.inputFormat === 'beir') {
    if (o.input === undefined) throw new DrhardUsageError('--input is required for BEIR');
    if (o.collection !== undefined) throw new DrhardUsageError('--collection is for MS MARCO formats');
    report = await preprocessBeir({ ...common, input: o.input, titleSep: o.titleSep, ...(o.split ? { splits: o.split } : {}) });
  } else {
    if (o.input === undefined && (o.collection === undefined || o.split === undefined)) {
      throw new DrhardUsageError('give --input, or --collection and --split');
    }
    report = await preprocessMsmarco({
      ...common,
      kind: o.inputFormat === 'msmarco-doc' ? 'doc' : 'passage',
      idType: o.idType,
      ...(o.input !== undefined ? { input: o.input } : {}),
      ...(o.collection !== undefined ? { collection: o.collection } : {}),
      ...(o.split !== undefined ? { splits: o.split.map(parseSplitArg) } : {}),
    });
  }
  const m = report.manifest;
  // A one-line JSON summary on stdout, so scripts can read the counts.
  const summary = {
    out: report.out,
    seconds: report.seconds,
    docs: m.corpus.count,
    skipped: m.corpus.skipped,
    splits: Object.fromEntries(Object.entries(m.splits).map(([k, s]) => [k, { queries: s.count, judgments: s.judgments, skipped: s.skipped }])),
  };
  await emitResult(summary);
}

export function register(program: Command): void {
  defineCommand(program, {
    name: 'preprocess',
    description: 'Tokenize MS MARCO or BEIR text into a dataset directory (token stores, id maps, qrels by offset, manifest)',
    schema: options,
    placeholders: { inputFormat: 'format', input: 'dir', outDir: 'dir', tokenizer: 'dir', collection: 'file', split: 'spec', idType: 'type', titleSep: 's' },
    aliases: { out: 'outDir', format: 'inputFormat', ids: 'idType' },
    run,
  });
}
