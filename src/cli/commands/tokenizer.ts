// `drhard tokenizer train`: a new BPE (RoBERTa-style) or WordPiece (BERT-style) tokenizer from text files, for
// models trained from scratch; the vocabulary size defaults to one derived from the corpus size.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { DrhardUsageError } from '../../util/errors.ts';
import { defineCommand } from '../command.ts';
import type { CorpusFileStats } from '../../tokenizers/corpus.ts';
import { emitResult } from '../result.ts';

const options = z.object({
  input: z
    .array(z.string())
    .min(1)
    .describe(
      'text files to train on (repeatable, or several after one --input): plain text (one text per line), TSV id<TAB>text ' +
        '(MS MARCO collection/queries: the columns after the id), or JSON lines with "text" and optional "title" (BEIR corpus.jsonl/queries.jsonl); ' +
        'any of them gzipped (.gz). The format is taken from the name (.txt, .tsv, .jsonl/.json, before .gz), else from the first non-empty line ' +
        '(a JSON object → JSON lines; a tab after a whitespace-free first field → TSV; else plain text)',
    ),
  outDir: z.string().describe('output directory for tokenizer.json (built in a temp dir beside it and renamed into place)'),
  kind: z.enum(['bpe', 'wordpiece']).default('bpe').describe('bpe: byte-level BPE as RoBERTa (<s> <pad> </s> <unk>, 256 byte symbols, merges, <mask>; default); wordpiece: as BERT ([PAD] [UNK] [CLS] [SEP] [MASK], ## pieces)'),
  vocabSize: z.coerce
    .number()
    .int('must be an integer')
    .min(1, 'must be a positive integer')
    .optional()
    .describe(
      'vocabulary size, special tokens included (BPE >= 261, WordPiece >= 6, at most 30000). Default: derived from the corpus: ' +
        '8192 × sqrt(words / 5M) rounded to a multiple of 256, clamped to [4096, 30000] (BabyBERTa: 8k for 5M words; BERT: 30k); logged',
    ),
  lowercase: z.boolean().default(true).describe('lowercase the text (WordPiece: also strip accents); default on, --no-lowercase keeps case'),
  minFrequency: z.coerce
    .number()
    .int()
    .min(0)
    .default(2)
    .describe('keep only learned tokens whose pair occurred at least this often in the corpus when merged (default 2, as HF; 0 or 1: keep all); the vocabulary ends early when the corpus supports fewer'),
  inputFormat: z.enum(['auto', 'text', 'tsv', 'jsonl']).default('auto').describe('input format for every --input: auto (default: by name, then first line), text, tsv or jsonl'),
  titleSep: z.string().default(' ').describe("JSON lines: separator between title and text (default ' ')"),
  overwrite: z.boolean().default(false).describe('replace an existing output directory (only one holding nothing but tokenizer files)'),
});
type Options = z.infer<typeof options>;


async function run(o: Options): Promise<void> {
  const { trainTokenizerWithReport, readCorpusFiles, minVocabSize, MAX_TRAIN_VOCAB, TOKENIZER_FILES } = await import('../../tokenizers/index.ts');
  const { publishDir } = await import('../../util/fsx.ts');
  const { log: root } = await import('../../util/log.ts');
  const log = root.child({ mod: 'tokenizer' });
  const lo = minVocabSize(o.kind);
  if (o.vocabSize !== undefined && (o.vocabSize < lo || o.vocabSize > MAX_TRAIN_VOCAB)) {
    throw new DrhardUsageError(`--vocab-size: must be in [${lo}, ${MAX_TRAIN_VOCAB}] for ${o.kind}, got ${o.vocabSize}`);
  }
  const out = path.resolve(o.outDir);
  if (fs.existsSync(out)) {
    const entries = fs.statSync(out).isDirectory() ? fs.readdirSync(out) : null;
    if (entries === null) throw new DrhardUsageError(`--out-dir: ${out} exists and is not a directory`);
    if (entries.length > 0) {
      if (!o.overwrite) throw new DrhardUsageError(`--out-dir: ${out} exists; pass --overwrite to replace it`);
      const foreign = entries.filter((n) => !(TOKENIZER_FILES as readonly string[]).includes(n));
      if (foreign.length > 0) throw new DrhardUsageError(`--out-dir: refusing to overwrite ${out}: it holds more than tokenizer files (${foreign.slice(0, 5).join(', ')})`);
    }
  }
  const t0 = performance.now();
  const stats: CorpusFileStats[] = [];
  let report;
  await publishDir(out, async (tmp) => {
    const texts = readCorpusFiles(o.input, { format: o.inputFormat, titleSep: o.titleSep, stats });
    ({ report } = await trainTokenizerWithReport(texts, {
      kind: o.kind,
      outDir: tmp,
      lowercase: o.lowercase,
      minFrequency: o.minFrequency,
      ...(o.vocabSize !== undefined ? { vocabSize: o.vocabSize } : {}),
    }));
  });
  const r = report!;
  if (r.vocabSizeDerived) {
    log.info({ words: r.words, vocabSize: r.requestedVocabSize, rule: '8192 * sqrt(words / 5e6), multiple of 256, in [4096, 30000]' }, `vocabulary size ${r.requestedVocabSize} derived from ${r.words} words`);
  }
  if (r.vocabSize < r.requestedVocabSize) {
    log.info({ requested: r.requestedVocabSize, written: r.vocabSize, minFrequency: r.minFrequency }, `the corpus supports ${r.vocabSize} tokens (min frequency ${r.minFrequency}), fewer than ${r.requestedVocabSize}`);
  }
  const summary = {
    out,
    kind: r.kind,
    vocabSize: r.vocabSize,
    requestedVocabSize: r.requestedVocabSize,
    vocabSizeDerived: r.vocabSizeDerived,
    minFrequency: r.minFrequency,
    learned: r.learned,
    lowercase: r.lowercase,
    texts: r.texts,
    words: r.words,
    distinctWords: r.distinctWords,
    inputs: stats,
    seconds: Number(((performance.now() - t0) / 1000).toFixed(2)),
  };
  await emitResult(summary);
}

export function register(program: Command): void {
  const tok = program.command('tokenizer').description('Tokenizers for models trained from scratch (see `drhard tokenizer train --help`)');
  defineCommand(tok, {
    name: 'train',
    description:
      'Train a byte-level BPE (RoBERTa-style) or WordPiece (BERT-style) tokenizer on text files and write <out-dir>/tokenizer.json; ' +
      'prints a JSON summary (vocabulary size chosen, texts, words) on stdout',
    schema: options,
    placeholders: { input: 'file', outDir: 'dir', kind: 'kind', inputFormat: 'format', titleSep: 's' },
    aliases: { out: 'outDir', format: 'inputFormat' },
    run,
  });
}
