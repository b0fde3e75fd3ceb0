// Trains a new BPE (RoBERTa-style, byte-level) or WordPiece (BERT-style) tokenizer for models trained from scratch.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { byteLevelAlphabet } from 'tokenizers';
import { DrhardUsageError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/fsx.ts';
import { loadTokenizer, type DrTokenizer } from './load.ts';
import { BERT_SPECIALS, ROBERTA_SPECIALS, bertWordPieceJson, robertaBpeJson } from './spec.ts';

export interface TrainTokenizerOptions {
  kind: 'bpe' | 'wordpiece';
  /** Final vocabulary size including the 5 special tokens (and, for BPE, all 256 byte symbols). */
  vocabSize: number;
  /** Model directory; tokenizer.json is written there atomically. */
  outDir: string;
  /** Lowercase the text (WordPiece: also strip accents). Default true. */
  lowercase?: boolean;
}

// The node binding trains with the model's default trainer, whose vocabulary target is fixed at 30,000; smaller
// vocabularies are taken as a prefix of its merge sequence. BPE training is greedy, so the first k merges are
// exactly what a run stopped at k merges would have produced.
export const MAX_TRAIN_VOCAB = 30_000;

function writeCorpusFile(texts: Iterable<string>, file: string): number {
  const fd = fs.openSync(file, 'w');
  let n = 0;
  try {
    let buf: string[] = [];
    let size = 0;
    for (const t of texts) {
      // One text per line: the trainer reads files line by line.
      const line = t.replace(/[\r\n]+/g, ' ');
      if (line.trim().length === 0) continue;
      buf.push(line, '\n');
      size += line.length;
      n++;
      if (size > 1 << 22) {
        fs.writeSync(fd, buf.join(''));
        buf = [];
        size = 0;
      }
    }
    if (buf.length > 0) fs.writeSync(fd, buf.join(''));
  } finally {
    fs.closeSync(fd);
  }
  return n;
}

interface TrainedModel {
  model: { vocab: Record<string, number>; merges?: Array<[string, string] | string> };
}

/**
 * Trains a tokenizer on `texts` and writes `outDir/tokenizer.json`. BPE: byte-level like RoBERTa (`<s>`=0,
 * `<pad>`=1, `</s>`=2, `<unk>`=3, all 256 byte symbols, merges, `<mask>` last), so any input is encodable.
 * WordPiece: BERT layout (`[PAD]`=0, `[UNK]`=1, `[CLS]`=2, `[SEP]`=3, `[MASK]`=4, then the learned pieces).
 */
export async function trainTokenizer(texts: Iterable<string>, opts: TrainTokenizerOptions): Promise<DrTokenizer> {
  const lower = opts.lowercase ?? true;
  const minVocab = opts.kind === 'bpe' ? 256 + ROBERTA_SPECIALS.length : BERT_SPECIALS.length + 1;
  if (!Number.isInteger(opts.vocabSize) || opts.vocabSize < minVocab || opts.vocabSize > MAX_TRAIN_VOCAB) {
    throw new DrhardUsageError(`vocabSize must be an integer in [${minVocab}, ${MAX_TRAIN_VOCAB}] for ${opts.kind}, got ${opts.vocabSize}`);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-tok-train-'));
  try {
    const corpus = path.join(tmp, 'corpus.txt');
    const n = writeCorpusFile(texts, corpus);
    if (n === 0) throw new DrhardUsageError('trainTokenizer: no non-empty text to train on');
    const trainedFile = path.join(tmp, 'trained.json');
    await runTrainer(opts.kind, lower, corpus, trainedFile);
    const trained = JSON.parse(fs.readFileSync(trainedFile, 'utf8')) as TrainedModel;
    const json = opts.kind === 'bpe' ? bpeFromTrained(trained, opts.vocabSize, lower) : wordPieceFromTrained(trained, opts.vocabSize, lower);
    writeFileAtomic(path.join(opts.outDir, 'tokenizer.json'), `${JSON.stringify(json)}\n`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return loadTokenizer(opts.outDir);
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

function bpeFromTrained(t: TrainedModel, vocabSize: number, lower: boolean): ReturnType<typeof robertaBpeJson> {
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
  const merges: Array<[string, string]> = [];
  for (const m of t.model.merges ?? []) {
    if (next >= limit) break;
    const [a, b] = typeof m === 'string' ? (m.split(' ') as [string, string]) : m;
    if (vocab[a] === undefined || vocab[b] === undefined) continue;
    merges.push([a, b]);
    add(a + b);
  }
  add('<mask>');
  return robertaBpeJson(vocab, merges, lower);
}

function wordPieceFromTrained(t: TrainedModel, vocabSize: number, lower: boolean): ReturnType<typeof bertWordPieceJson> {
  const vocab: Record<string, number> = Object.create(null) as Record<string, number>;
  let next = 0;
  for (const s of BERT_SPECIALS) vocab[s] = next++;
  // Trained ids follow creation order (alphabet, then merges), so an id-ordered prefix is a smaller valid vocabulary.
  const entries = Object.entries(t.model.vocab).sort((a, b) => a[1] - b[1]);
  for (const [tok] of entries) {
    if (next >= vocabSize) break;
    if (vocab[tok] === undefined) vocab[tok] = next++;
  }
  return bertWordPieceJson(vocab, lower);
}
