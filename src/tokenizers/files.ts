// Tokenizer files travel with models and datasets: find the tokenizer behind a model, tokenizer or dataset
// directory, and copy its files into another directory (a model directory being written).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DrhardInputError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/fsx.ts';
import { sha256FileSync } from '../util/hash.ts';

/** File names that make up a Hugging Face tokenizer (what is copied; never config.json or weights). */
export const TOKENIZER_FILES = ['tokenizer.json', 'vocab.json', 'merges.txt', 'vocab.txt', 'tokenizer_config.json', 'special_tokens_map.json', 'added_tokens.json'] as const;

/** Where `drhard preprocess` keeps the copy of its tokenizer inside a dataset directory (manifest `tokenizer.dir`). */
export const DATASET_TOKENIZER_DIR = 'tokenizer';

const exists = (p: string): boolean => fs.statSync(p, { throwIfNoEntry: false })?.isFile() === true;

/** Whether `dir` holds a tokenizer that loadTokenizer reads: tokenizer.json, vocab.json + merges.txt, or vocab.txt. */
export function hasTokenizerFiles(dir: string): boolean {
  const at = (n: string): boolean => exists(path.join(dir, n));
  return at('tokenizer.json') || (at('vocab.json') && at('merges.txt')) || at('vocab.txt');
}

/** A .json file that is a tokenizer.json document (has model.type), e.g. not a model's config.json. */
function isTokenizerJsonFile(file: string): boolean {
  if (!file.endsWith('.json')) return false;
  try {
    const j = JSON.parse(fs.readFileSync(file, 'utf8')) as { model?: { type?: unknown } };
    return typeof j === 'object' && j !== null && typeof j.model?.type === 'string';
  } catch {
    return false;
  }
}

interface ManifestTokenizer {
  source?: unknown;
  files?: unknown;
  dir?: unknown;
}

/** A dataset directory's tokenizer: its `tokenizer/` copy, else (older datasets) the recorded source if unchanged. */
function datasetTokenizer(dir: string): string | undefined {
  let m: { format?: unknown; tokenizer?: ManifestTokenizer };
  try {
    m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as typeof m;
  } catch {
    return undefined;
  }
  if (m.format !== 'drhard-dataset' || typeof m.tokenizer !== 'object' || m.tokenizer === null) return undefined;
  const t = m.tokenizer;
  if (typeof t.dir === 'string') {
    const d = path.resolve(dir, t.dir);
    if (hasTokenizerFiles(d)) return d;
  }
  // Datasets written before the copy existed record where the tokenizer was and the sha256 of each file read:
  // use the source only while every one of those files is still the same.
  if (typeof t.source !== 'string' || typeof t.files !== 'object' || t.files === null) return undefined;
  const st = fs.statSync(t.source, { throwIfNoEntry: false });
  if (st === undefined) return undefined;
  const base = st.isFile() ? path.dirname(t.source) : t.source;
  const files = Object.entries(t.files as Record<string, unknown>);
  if (files.length === 0) return undefined;
  for (const [name, sha] of files) {
    const f = path.join(base, name);
    if (!exists(f) || sha256FileSync(f).sha256 !== sha) return undefined;
  }
  return t.source;
}

/**
 * The first candidate that leads to a tokenizer, or undefined. A candidate may be a directory with tokenizer files
 * (a model or tokenizer directory), a tokenizer.json file, or a dataset directory (its `tokenizer/` copy, or for
 * older datasets the tokenizer they recorded, if its files are unchanged). Missing paths and undefined are skipped,
 * so callers can pass optional options straight in: `findTokenizerDir([o.init, o.data])`.
 */
export function findTokenizerDir(candidates: ReadonlyArray<string | null | undefined>): string | undefined {
  for (const c of candidates) {
    if (c === undefined || c === null || c === '') continue;
    const st = fs.statSync(c, { throwIfNoEntry: false });
    if (st === undefined) continue;
    if (st.isFile()) {
      if (isTokenizerJsonFile(c)) return c;
      continue;
    }
    if (!st.isDirectory()) continue;
    if (hasTokenizerFiles(c)) return c;
    const ds = datasetTokenizer(c);
    if (ds !== undefined) return ds;
  }
  return undefined;
}

/**
 * Copies the tokenizer found at `from` (anything findTokenizerDir accepts) into `toDir`, each file atomically, and
 * removes tokenizer files of another tokenizer left in `toDir` (so loadTokenizer cannot pick a stale one). A
 * tokenizer.json file is copied as `tokenizer.json`. Returns the names written. Throws DrhardInputError naming
 * `from` when there is no tokenizer there. Copying a directory onto itself does nothing.
 */
export function copyTokenizerFiles(from: string, toDir: string): string[] {
  const src = findTokenizerDir([from]);
  if (src === undefined) {
    throw new DrhardInputError('no tokenizer here: expected tokenizer.json, vocab.json + merges.txt, vocab.txt, or a dataset directory that records its tokenizer', { file: from });
  }
  const pairs: Array<[string, string]> = fs.statSync(src).isFile()
    ? [['tokenizer.json', src]]
    : TOKENIZER_FILES.filter((n) => exists(path.join(src, n))).map((n) => [n, path.join(src, n)]);
  fs.mkdirSync(toDir, { recursive: true });
  if (!fs.statSync(src).isFile() && fs.realpathSync(src) === fs.realpathSync(toDir)) return pairs.map(([n]) => n);
  const names = new Set(pairs.map(([n]) => n));
  for (const n of TOKENIZER_FILES) if (!names.has(n) && exists(path.join(toDir, n))) fs.rmSync(path.join(toDir, n));
  for (const [n, file] of pairs) writeFileAtomic(path.join(toDir, n), fs.readFileSync(file));
  return [...names];
}
