// Demo data: a fixed-seed subset of the shipped Debian-descriptions corpus, a fresh tokenizer, and the dataset dir.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { preprocessMsmarco } from '../data/index.ts';
import { trainTokenizer } from '../tokenizers/index.ts';
import { DrhardInputError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';

export interface SubsetOptions {
  /** Directory with collection.tsv.gz, queries.{train,dev}.tsv.gz, qrels.{train,dev}.tsv (data/demo). */
  source: string;
  trainQueries: number;
  devQueries: number;
  /** Training queries held out of training (from the same pool, disjoint from trainQueries): the hybrid's tuning set. */
  tuneQueries: number;
  /** Corpus size: every positive of a kept query, then random other documents up to this count. */
  docs: number;
  seed: number;
}

export interface SubsetStats {
  docs: number;
  trainQueries: number;
  devQueries: number;
  tuneQueries: number;
  trainQrels: number;
  devQrels: number;
}

function readLines(file: string): string[] {
  const raw = fs.readFileSync(file);
  const text = file.endsWith('.gz') ? zlib.gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  return text.split('\n').filter((l) => l.length > 0);
}

function find(dir: string, name: string): string {
  for (const cand of [name, `${name}.gz`]) {
    const p = path.join(dir, cand);
    if (fs.existsSync(p)) return p;
  }
  throw new DrhardInputError(`missing ${name}(.gz); the demo data ships in data/demo (regenerate with \`drhard build-demo-data\`)`, { file: dir });
}

function readQrels(file: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  readLines(file).forEach((l, i) => {
    const f = l.split(/\s+/);
    if (f.length !== 4) throw new DrhardInputError('expected 4 columns (qid 0 pid rel)', { file, line: i + 1 });
    const list = m.get(f[0]!) ?? [];
    list.push(f[2]!);
    m.set(f[0]!, list);
  });
  return m;
}

function tsvMap(file: string): Map<string, string> {
  const m = new Map<string, string>();
  readLines(file).forEach((l, i) => {
    const tab = l.indexOf('\t');
    if (tab < 0) throw new DrhardInputError('expected id<TAB>text', { file, line: i + 1 });
    m.set(l.slice(0, tab), l.slice(tab + 1));
  });
  return m;
}

/** Writes an MS MARCO-format subset (collection.tsv, queries.*.tsv, qrels.*.tsv) into `out`. */
export function writeSubset(opts: SubsetOptions, out: string): SubsetStats {
  const rng = new Rng(opts.seed).fork('demo-subset');
  const collection = tsvMap(find(opts.source, 'collection.tsv'));
  const pick = (split: 'train' | 'dev', n: number, exclude?: ReadonlySet<string>): { queries: Map<string, string>; qrels: Map<string, string[]> } => {
    const queries = tsvMap(find(opts.source, `queries.${split}.tsv`));
    const qrels = readQrels(find(opts.source, `qrels.${split}.tsv`));
    const ids = [...qrels.keys()].filter((q) => queries.has(q) && !exclude?.has(q)).sort((a, b) => Number(a) - Number(b));
    const chosen = n >= ids.length ? ids : rng.shuffle(ids.slice()).slice(0, n).sort((a, b) => Number(a) - Number(b));
    return {
      queries: new Map(chosen.map((q) => [q, queries.get(q)!])),
      qrels: new Map(chosen.map((q) => [q, qrels.get(q)!])),
    };
  };
  // The tuning queries are held out first, so `trainQueries` at or above the pool size means "all the others".
  const tune = pick('train', opts.tuneQueries);
  const train = pick('train', opts.trainQueries, new Set(tune.queries.keys()));
  const dev = pick('dev', opts.devQueries);
  const keep = new Set<string>();
  for (const m of [train.qrels, dev.qrels, tune.qrels]) for (const ps of m.values()) for (const p of ps) keep.add(p);
  const others = [...collection.keys()].filter((p) => !keep.has(p));
  rng.shuffle(others);
  for (const p of others) {
    if (keep.size >= opts.docs) break;
    keep.add(p);
  }
  fs.mkdirSync(out, { recursive: true });
  const docs = [...keep].sort((a, b) => Number(a) - Number(b));
  fs.writeFileSync(path.join(out, 'collection.tsv'), docs.map((p) => `${p}\t${collection.get(p)}\n`).join(''));
  let trainQrels = 0;
  let devQrels = 0;
  for (const [split, s] of [['train', train], ['dev', dev], ['tune', tune]] as const) {
    fs.writeFileSync(path.join(out, `queries.${split}.tsv`), [...s.queries].map(([q, t]) => `${q}\t${t}\n`).join(''));
    const lines: string[] = [];
    for (const [q, ps] of s.qrels) for (const p of ps) lines.push(`${q}\t0\t${p}\t1\n`);
    fs.writeFileSync(path.join(out, `qrels.${split}.tsv`), lines.join(''));
    if (split === 'train') trainQrels = lines.length;
    else if (split === 'dev') devQrels = lines.length;
  }
  return { docs: docs.length, trainQueries: train.queries.size, devQueries: dev.queries.size, tuneQueries: tune.queries.size, trainQrels, devQrels };
}

export interface PrepareOptions {
  vocabSize: number;
  maxDocLength: number;
  maxQueryLength: number;
}

/** Trains a byte-level BPE tokenizer on the subset's documents and queries (the model is trained from scratch). */
export async function trainDemoTokenizer(rawDir: string, tokDir: string, vocabSize: number): Promise<void> {
  const texts = function* (): Generator<string> {
    for (const f of ['collection.tsv', 'queries.train.tsv']) {
      for (const l of fs.readFileSync(path.join(rawDir, f), 'utf8').split('\n')) {
        const tab = l.indexOf('\t');
        if (tab >= 0) yield l.slice(tab + 1);
      }
    }
  };
  await trainTokenizer(texts(), { kind: 'bpe', vocabSize, outDir: tokDir, lowercase: true });
}

/** Tokenizes the subset into a drhard dataset directory (token stores, id maps, offset qrels). */
export async function preprocessDemo(rawDir: string, tokDir: string, out: string, o: PrepareOptions): Promise<void> {
  await preprocessMsmarco({
    input: rawDir,
    out,
    tokenizer: tokDir,
    kind: 'passage',
    splits: ['train', 'dev', 'tune'].map((name) => ({ name, queries: path.join(rawDir, `queries.${name}.tsv`), qrels: path.join(rawDir, `qrels.${name}.tsv`) })),
    maxDocLength: o.maxDocLength,
    maxQueryLength: o.maxQueryLength,
    overwrite: true,
    progress: false,
  });
}
