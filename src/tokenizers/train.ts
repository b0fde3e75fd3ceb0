// Trains a new BPE (RoBERTa-style, byte-level) or WordPiece (BERT-style) tokenizer for models trained from scratch.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { byteLevelAlphabet } from 'tokenizers';
import { DrhardFsError, DrhardUsageError } from '../util/errors.ts';
import { closeChecked, openChecked, writeAllSync, writeFileAtomic } from '../util/fsx.ts';
import { loadTokenizer, type DrTokenizer } from './load.ts';
import { BERT_SPECIALS, ROBERTA_SPECIALS, bertWordPieceJson, robertaBpeJson } from './spec.ts';
import { PreTokenCounter, bpeMergesAbove, defaultVocabSize, wordPieceTokensAbove } from './vocab.ts';

export interface TrainTokenizerOptions {
  kind: 'bpe' | 'wordpiece';
  /**
   * Final vocabulary size including the 5 special tokens (and, for BPE, all 256 byte symbols). Default: derived
   * from the corpus size (`defaultVocabSize`: 8192 × √(words / 5M), clamped to [4096, 30000]).
   */
  vocabSize?: number;
  /** Model directory; tokenizer.json is written there atomically. */
  outDir: string;
  /** Lowercase the text (WordPiece: also strip accents). Default true. */
  lowercase?: boolean;
  /**
   * Keep only learned tokens (BPE merges, WordPiece pieces) whose pair occurred at least this often when the
   * trainer merged it; the vocabulary then ends before `vocabSize` if the corpus supports fewer. Default 0 (off).
   */
  minFrequency?: number;
}

/** What a training run saw and chose (the CLI prints it). */
export interface TrainTokenizerReport {
  kind: 'bpe' | 'wordpiece';
  /** Non-empty texts (lines) trained on. */
  texts: number;
  /** Whitespace-separated words in them. */
  words: number;
  /** Distinct pre-tokens (words as the trainer splits them); only counted with minFrequency > 1. */
  distinctWords: number | null;
  /** The size asked for, or derived from `words` when none was given. */
  requestedVocabSize: number;
  vocabSizeDerived: boolean;
  minFrequency: number;
  /** The size written: smaller than requested when the corpus or minFrequency supports fewer learned tokens. */
  vocabSize: number;
  /** Learned tokens (merges / pieces beyond the alphabet) kept. */
  learned: number;
  lowercase: boolean;
}

// The node binding trains with the model's default trainer, whose vocabulary target is fixed at 30,000; smaller
// vocabularies are taken as a prefix of its merge sequence. BPE training is greedy, so the first k merges are
// exactly what a run stopped at k merges would have produced.
export const MAX_TRAIN_VOCAB = 30_000;

/** The smallest vocabulary of each kind: specials (+ the 256 byte symbols for BPE) and one learned token. */
export function minVocabSize(kind: 'bpe' | 'wordpiece'): number {
  return kind === 'bpe' ? 256 + ROBERTA_SPECIALS.length : BERT_SPECIALS.length + 1;
}

async function writeCorpusFile(
  texts: Iterable<string> | AsyncIterable<string>,
  file: string,
  counter: PreTokenCounter | undefined,
): Promise<{ texts: number; words: number }> {
  const fd = openChecked(file, 'w');
  let n = 0;
  let words = 0;
  let bytes = 0;
  let open = true;
  try {
    let buf: string[] = [];
    let size = 0;
    for await (const t of texts) {
      // One text per line: the trainer reads files line by line.
      const line = t.replace(/[\r\n]+/g, ' ');
      if (line.trim().length === 0) continue;
      buf.push(line, '\n');
      size += line.length;
      n++;
      words += line.trim().split(/\s+/).length;
      counter?.add(line);
      if (size > 1 << 22) {
        bytes += writeAllSync(fd, buf.join(''), file);
        buf = [];
        size = 0;
      }
    }
    if (buf.length > 0) bytes += writeAllSync(fd, buf.join(''), file);
    open = false;
    closeChecked(fd, file);
  } finally {
    if (open) fs.closeSync(fd);
  }
  // The trainer reads this file: a corpus the disk cut short would train a tokenizer on part of the data.
  const size = fs.statSync(file).size;
  if (size !== bytes) throw new DrhardFsError('verify', file, `the written file has ${size} bytes, expected ${bytes}`);
  return { texts: n, words };
}

interface TrainedModel {
  model: { vocab: Record<string, number>; merges?: Array<[string, string] | string> };
}

/**
 * Trains a tokenizer on `texts` and writes `outDir/tokenizer.json`. BPE: byte-level like RoBERTa (`<s>`=0,
 * `<pad>`=1, `</s>`=2, `<unk>`=3, all 256 byte symbols, merges, `<mask>` last), so any input is encodable.
 * WordPiece: BERT layout (`[PAD]`=0, `[UNK]`=1, `[CLS]`=2, `[SEP]`=3, `[MASK]`=4, then the learned pieces).
 */
export async function trainTokenizer(texts: Iterable<string> | AsyncIterable<string>, opts: TrainTokenizerOptions): Promise<DrTokenizer> {
  return (await trainTokenizerWithReport(texts, opts)).tokenizer;
}

/** trainTokenizer, also returning what it counted and chose (vocabulary size rule, min-frequency cut). */
export async function trainTokenizerWithReport(
  texts: Iterable<string> | AsyncIterable<string>,
  opts: TrainTokenizerOptions,
): Promise<{ tokenizer: DrTokenizer; report: TrainTokenizerReport }> {
  const lower = opts.lowercase ?? true;
  const minVocab = minVocabSize(opts.kind);
  if (opts.vocabSize !== undefined && (!Number.isInteger(opts.vocabSize) || opts.vocabSize < minVocab || opts.vocabSize > MAX_TRAIN_VOCAB)) {
    throw new DrhardUsageError(`vocabSize must be an integer in [${minVocab}, ${MAX_TRAIN_VOCAB}] for ${opts.kind}, got ${opts.vocabSize}`);
  }
  const minFrequency = opts.minFrequency ?? 0;
  if (!Number.isInteger(minFrequency) || minFrequency < 0) throw new DrhardUsageError(`minFrequency must be an integer >= 0, got ${minFrequency}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-tok-train-'));
  try {
    const corpus = path.join(tmp, 'corpus.txt');
    const counter = minFrequency > 1 ? new PreTokenCounter(opts.kind, lower) : undefined;
    const seen = await writeCorpusFile(texts, corpus, counter);
    if (seen.texts === 0) throw new DrhardUsageError('trainTokenizer: no non-empty text to train on');
    const requested = opts.vocabSize ?? defaultVocabSize(seen.words);
    const trainedFile = path.join(tmp, 'trained.json');
    await runTrainer(opts.kind, lower, corpus, trainedFile);
    const trained = JSON.parse(fs.readFileSync(trainedFile, 'utf8')) as TrainedModel;
    const built = opts.kind === 'bpe' ? bpeFromTrained(trained, requested, lower, counter, minFrequency) : wordPieceFromTrained(trained, requested, lower, counter, minFrequency);
    writeFileAtomic(path.join(opts.outDir, 'tokenizer.json'), `${JSON.stringify(built.json)}\n`);
    const tokenizer = await loadTokenizer(opts.outDir);
    const report: TrainTokenizerReport = {
      kind: opts.kind,
      texts: seen.texts,
      words: seen.words,
      distinctWords: counter ? counter.counts.size : null,
      requestedVocabSize: requested,
      vocabSizeDerived: opts.vocabSize === undefined,
      minFrequency,
      vocabSize: tokenizer.vocabSize,
      learned: built.learned,
      lowercase: lower,
    };
    return { tokenizer, report };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Runs train-child.ts in a child process whose stdout goes to our stderr (the Rust trainer writes to fd 1). */
function runTrainer(kind: string, lower: boolean, corpus: string, out: string): Promise<void> {
  const child = new URL('./train-child.ts', import.meta.url);
  const args = ['--import', import.meta.resolve('tsx'), fileURLToPath(child), kind, lower ? '1' : '0', corpus, out];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 2, 2] });
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`tokenizer training failed (exit ${code ?? signal})`));
    });
  });
}

function toPair(m: [string, string] | string): [string, string] {
  return typeof m === 'string' ? (m.split(' ') as [string, string]) : m;
}

function bpeFromTrained(t: TrainedModel, vocabSize: number, lower: boolean, counter: PreTokenCounter | undefined, minFrequency: number): { json: ReturnType<typeof robertaBpeJson>; learned: number } {
  const vocab: Record<string, number> = Object.create(null) as Record<string, number>;
  let next = 0;
  const add = (tok: string): void => {
    if (vocab[tok] === undefined) vocab[tok] = next++;
  };
  for (const s of ['<s>', '<pad>', '</s>', '<unk>']) add(s);
  // byteLevelAlphabet() is unordered; byte order makes ids independent of the binding version.
  const alphabet = byteLevelAlphabet().sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
  for (const c of alphabet) add(c);
  const limit = vocabSize - 1; // room for <mask>
  // The merges a vocabulary of this size holds, then the prefix of them the corpus supports (min-frequency).
  const picked: Array<[string, string]> = [];
  const known = new Set(Object.keys(vocab));
  for (const m of t.model.merges ?? []) {
    if (known.size >= limit) break;
    const [a, b] = toPair(m);
    if (!known.has(a) || !known.has(b)) continue;
    picked.push([a, b]);
    known.add(a + b);
  }
  const keep = counter ? bpeMergesAbove(counter.counts, picked, minFrequency) : picked.length;
  const merges = picked.slice(0, keep);
  for (const [a, b] of merges) add(a + b);
  add('<mask>');
  return { json: robertaBpeJson(vocab, merges, lower), learned: merges.length };
}

function wordPieceFromTrained(t: TrainedModel, vocabSize: number, lower: boolean, counter: PreTokenCounter | undefined, minFrequency: number): { json: ReturnType<typeof bertWordPieceJson>; learned: number } {
  const vocab: Record<string, number> = Object.create(null) as Record<string, number>;
  let next = 0;
  for (const s of BERT_SPECIALS) vocab[s] = next++;
  // Trained ids follow creation order (alphabet, then merges), so an id-ordered prefix is a smaller valid vocabulary.
  const entries = Object.entries(t.model.vocab).sort((a, b) => a[1] - b[1]);
  const order: string[] = [];
  for (const [tok] of entries) {
    if (next + order.length >= vocabSize) break;
    if (vocab[tok] === undefined) order.push(tok);
  }
  const keep = counter ? wordPieceTokensAbove(counter.counts, order, minFrequency) : order.length;
  let learned = 0;
  for (const tok of order.slice(0, keep)) {
    vocab[tok] = next++;
    if (!isAlphabetPiece(tok)) learned++;
  }
  return { json: bertWordPieceJson(vocab, lower), learned };
}

/** A single character or a `##` continuation of one: the trainer's alphabet, not a learned piece. */
function isAlphabetPiece(tok: string): boolean {
  const body = tok.startsWith('##') && tok.length > 2 ? tok.slice(2) : tok;
  return Array.from(body).length <= 1;
}
