// A preprocessed dataset directory: manifest schema, layout, and openDataset() (token stores, id maps, qrels).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { DrhardInputError } from '../util/errors.ts';
import { forEachLine } from './trec.ts';
import { IdIndex } from './idindex.ts';
import { openTokenStore, type TokenStore } from './tokenstore.ts';

export const DATASET_FORMAT = 'drhard-dataset';
export const MANIFEST_FILE = 'manifest.json';

const int = z.number().int().nonnegative();
const FileRef = z.object({ path: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: int });
const StoreInfo = z.object({
  /** File prefix of the token store: `<name>.tokens.i32` etc. */
  name: z.string(),
  count: int,
  tokens: int,
  /** Truncation length used when tokenizing (special tokens included). */
  maxLength: int,
  /** Longest stored row. */
  longest: int,
  /** Rows whose text was longer than maxLength tokens. */
  truncated: int,
  /** `id<TAB>offset` per row, in offset order. */
  idMap: z.string(),
});

export const DatasetManifestSchema = z.object({
  format: z.literal(DATASET_FORMAT),
  version: z.literal(1),
  createdAt: z.string(),
  source: z.object({
    format: z.enum(['msmarco-passage', 'msmarco-doc', 'beir']),
    idType: z.enum(['numeric', 'string']),
    maxDocChars: int,
    titleSep: z.string().optional(),
  }),
  tokenizer: z.object({
    source: z.string(),
    format: z.enum(['tokenizer.json', 'vocab.json+merges.txt', 'vocab.txt']),
    files: z.record(z.string(), z.string()),
    model: z.string(),
    compat28: z.boolean(),
    lowercase: z.boolean().optional(),
    vocabSize: int,
    clsId: z.number().int(),
    sepId: z.number().int(),
    padId: z.number().int(),
    /** Directory (relative to the dataset) holding a copy of the tokenizer files; absent in older datasets. */
    dir: z.string().optional(),
  }),
  corpus: StoreInfo.extend({ file: FileRef, skipped: int }),
  splits: z.record(
    z.string(),
    StoreInfo.extend({
      queries: FileRef,
      qrels: FileRef.nullable(),
      /** `qoffset<TAB>0<TAB>doffset<TAB>rel` lines (DRhard's {split}-qrel.tsv), or null for a split without qrels. */
      qrelFile: z.string().nullable(),
      judgments: int,
      skipped: z.object({ queries: int, qrels: int }),
    }),
  ),
});
export type DatasetManifest = z.infer<typeof DatasetManifestSchema>;

/** qoffset → (doffset → relevance). */
export type OffsetQrels = Map<number, Map<number, number>>;

export interface Dataset {
  dir: string;
  manifest: DatasetManifest;
  /** Documents; row = document offset. */
  corpus: TokenStore;
  /** Queries of a split ('train', 'dev', 'test', 'lead', or BEIR split names); row = query offset. */
  queries(split: string): TokenStore;
  splits(): string[];
  qrels(split: string): OffsetQrels;
  /** offset → original document id (cvt_back). */
  docIds(): string[];
  queryIds(split: string): string[];
  docOffset(id: string): number | undefined;
  queryOffset(split: string, id: string): number | undefined;
  /** Closes the token stores' file handles. */
  close(): void;
}

/** Reads a manifest; DrhardInputError if missing or invalid. */
export function readManifest(dir: string): DatasetManifest {
  const file = path.join(dir, MANIFEST_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  } catch (e) {
    throw new DrhardInputError(`not a dataset directory (${(e as Error).message})`, { file });
  }
  const r = DatasetManifestSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0];
    throw new DrhardInputError(`invalid manifest: ${first ? `${first.path.join('.')}: ${first.message}` : r.error.message}`, { file });
  }
  return r.data;
}

/** Reads an `id<TAB>offset` map whose offsets must be 0..n-1 in order; returns ids by offset. */
export function readIdMap(file: string, expected: number): string[] {
  const ids: string[] = [];
  forEachLine(file, (line, lineNo) => {
    const tab = line.indexOf('\t');
    if (tab <= 0 || line.slice(tab + 1) !== String(ids.length)) {
      throw new DrhardInputError(`expected "id<TAB>${ids.length}"`, { file, line: lineNo });
    }
    ids.push(line.slice(0, tab));
  });
  if (ids.length !== expected) throw new DrhardInputError(`expected ${expected} ids, found ${ids.length}`, { file });
  return ids;
}

/** Reads `qoffset 0 doffset rel` lines, checking offsets against the split and corpus sizes. */
export function readOffsetQrels(file: string, nQueries: number, nDocs: number): OffsetQrels {
  const out: OffsetQrels = new Map();
  forEachLine(file, (line, lineNo) => {
    const f = line.split('\t');
    const q = Number(f[0]);
    const d = Number(f[2]);
    const rel = Number(f[3]);
    if (f.length !== 4 || !Number.isInteger(q) || !Number.isInteger(d) || !Number.isInteger(rel) || q < 0 || q >= nQueries || d < 0 || d >= nDocs) {
      throw new DrhardInputError('expected "qoffset<TAB>0<TAB>doffset<TAB>rel" with offsets in range', { file, line: lineNo });
    }
    let m = out.get(q);
    if (m === undefined) {
      m = new Map();
      out.set(q, m);
    }
    m.set(d, rel);
  });
  return out;
}

class DatasetDir implements Dataset {
  readonly dir: string;
  readonly manifest: DatasetManifest;
  readonly corpus: TokenStore;
  private readonly stores = new Map<string, TokenStore>();
  private readonly qrelsCache = new Map<string, OffsetQrels>();
  private readonly qidCache = new Map<string, string[]>();
  private readonly qindex = new Map<string, IdIndex>();
  private docIdCache: string[] | undefined;
  private docIndex: IdIndex | undefined;

  constructor(dir: string) {
    this.dir = dir;
    this.manifest = readManifest(dir);
    const c = this.manifest.corpus;
    this.corpus = openTokenStore(dir, c.name, c.count, c.maxLength);
  }

  private split(name: string): DatasetManifest['splits'][string] {
    const s = Object.hasOwn(this.manifest.splits, name) ? this.manifest.splits[name] : undefined;
    if (s === undefined) {
      throw new DrhardInputError(`no split ${JSON.stringify(name)} (have: ${this.splits().join(', ') || 'none'})`, { file: path.join(this.dir, MANIFEST_FILE) });
    }
    return s;
  }

  splits(): string[] {
    return Object.keys(this.manifest.splits);
  }

  queries(name: string): TokenStore {
    let st = this.stores.get(name);
    if (st === undefined) {
      const s = this.split(name);
      st = openTokenStore(this.dir, s.name, s.count, s.maxLength);
      this.stores.set(name, st);
    }
    return st;
  }

  qrels(name: string): OffsetQrels {
    let q = this.qrelsCache.get(name);
    if (q === undefined) {
      const s = this.split(name);
      q = s.qrelFile === null ? new Map() : readOffsetQrels(path.join(this.dir, s.qrelFile), s.count, this.manifest.corpus.count);
      this.qrelsCache.set(name, q);
    }
    return q;
  }

  docIds(): string[] {
    this.docIdCache ??= readIdMap(path.join(this.dir, this.manifest.corpus.idMap), this.manifest.corpus.count);
    return this.docIdCache;
  }

  queryIds(name: string): string[] {
    let ids = this.qidCache.get(name);
    if (ids === undefined) {
      const s = this.split(name);
      ids = readIdMap(path.join(this.dir, s.idMap), s.count);
      this.qidCache.set(name, ids);
    }
    return ids;
  }

  docOffset(id: string): number | undefined {
    if (this.docIndex === undefined) {
      const idx = new IdIndex();
      this.docIds().forEach((d, i) => idx.add(d, i));
      this.docIndex = idx;
    }
    return this.docIndex.get(id);
  }

  queryOffset(name: string, id: string): number | undefined {
    let idx = this.qindex.get(name);
    if (idx === undefined) {
      idx = new IdIndex();
      const built = idx;
      this.queryIds(name).forEach((q, i) => built.add(q, i));
      this.qindex.set(name, idx);
    }
    return idx.get(id);
  }

  close(): void {
    this.corpus.close();
    for (const s of this.stores.values()) s.close();
    this.stores.clear();
  }
}

/** Opens a directory written by `drhard preprocess` (or preprocessMsmarco/preprocessBeir). */
export function openDataset(dir: string): Dataset {
  return new DatasetDir(dir);
}
