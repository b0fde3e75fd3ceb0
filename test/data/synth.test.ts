// The MS MARCO-shaped synthetic data generator: determinism, text statistics, files preprocess reads as MS MARCO.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { openDataset, preprocessMsmarco } from '../../src/data/index.ts';
import { MSMARCO_PASSAGE, SynthCorpus, demoHeadWords, devQid, writeSynthMsmarco, writeSyntheticEmbeddings } from '../../src/data/synth.ts';
import { readEmbeddingsManifest } from '../../src/retrieval/embeddings.ts';
import { createLogger } from '../../src/util/log.ts';
import { testSeed } from '../helpers/seed.ts';

const ROOT = path.join(import.meta.dirname, '..', '..');
const TOK = path.join(ROOT, 'test', 'fixtures', 'tokenizers', 'roberta-tiny');
const HEAD = demoHeadWords(ROOT);
const seed = testSeed(7);
const tag = `seed=${seed} (DRHARD_TEST_SEED=${seed} to replay)`;
const small = { ...MSMARCO_PASSAGE, seed, vocab: 50_000, passages: 3000, trainQueries: 400, devQueries: 60 };
const dirs: string[] = [];
const tmp = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-synth-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
const md5 = (f: string): string => crypto.createHash('md5').update(fs.readFileSync(f)).digest('hex');

test('a passage is a function of (seed, pid) alone, and the files of a seed are byte-identical', () => {
  const a = new SynthCorpus(small, HEAD);
  const b = new SynthCorpus({ ...small, passages: 10 * small.passages }, HEAD);
  for (const pid of [0, 1, 17, 2999]) assert.equal(a.passage(pid), b.passage(pid), `${tag} pid ${pid}`);
  assert.notEqual(a.passage(5), new SynthCorpus({ ...small, seed: seed + 1 }, HEAD).passage(5), tag);
  const d1 = tmp();
  const d2 = tmp();
  const f1 = writeSynthMsmarco(d1, small, HEAD);
  const f2 = writeSynthMsmarco(d2, small, HEAD);
  for (const k of Object.keys(f1) as Array<keyof typeof f1>) assert.equal(md5(f1[k]), md5(f2[k]), `${tag} ${k}`);
  // The byte-level collection writer produces what the string form says.
  const lines = fs.readFileSync(f1.collection, 'utf8').split('\n');
  assert.equal(lines[42], `42\t${a.passage(42)}`, tag);
  assert.equal(lines.length, small.passages + 1, tag);
  // A spec change in the same directory is refused rather than mixed with the old files.
  assert.throws(() => writeSynthMsmarco(d1, { ...small, seed: seed + 1 }, HEAD), /another spec/);
});

test('lengths and word frequencies follow the spec (means, Zipf head)', () => {
  const g = new SynthCorpus({ ...small, passages: 20_000 }, HEAD);
  let words = 0;
  const freq = new Map<number, number>();
  for (let pid = 0; pid < 20_000; pid++) {
    const r = g.passageRanks(pid);
    words += r.length;
    for (const x of r) freq.set(x, (freq.get(x) ?? 0) + 1);
  }
  const mean = words / 20_000;
  assert.ok(Math.abs(mean - small.passageWords) / small.passageWords < 0.02, `${tag} mean passage words ${mean}`);
  // Zipf with exponent 1: rank 1 is ~10x as frequent as rank 10, ~100x rank 100.
  const f = (r: number): number => freq.get(r) ?? 0;
  assert.ok(Math.abs(f(0) / f(9) - 10) < 1.5, `${tag} f1/f10 = ${f(0) / f(9)}`);
  assert.ok(Math.abs(f(0) / f(99) - 100) < 25, `${tag} f1/f100 = ${f(0) / f(99)}`);
  let qWords = 0;
  let quoted = 0;
  for (let i = 0; i < 2000; i++) {
    const q = g.query(1, i);
    const w = q.text.split(' ');
    qWords += w.length;
    const pw = new Set(g.passage(q.pids[0] as number).split(' '));
    quoted += w.filter((x) => pw.has(x)).length / w.length;
    for (const p of q.pids) assert.ok(p >= 0 && p < 20_000, `${tag} pid ${p}`);
  }
  assert.ok(Math.abs(qWords / 2000 - small.queryWords) / small.queryWords < 0.05, `${tag} mean query words ${qWords / 2000}`);
  // Queries quote their positive passage (most words), so BM25 finds it: the data has a signal to rank by.
  assert.ok(quoted / 2000 > 0.6, `${tag} quoted share ${quoted / 2000}`);
});

test('drhard preprocess reads the generated files as MS MARCO passage data', async () => {
  const dir = tmp();
  const files = writeSynthMsmarco(path.join(dir, 'raw'), small, HEAD);
  const out = path.join(dir, 'ds');
  await preprocessMsmarco({ input: path.join(dir, 'raw'), out, tokenizer: TOK, maxDocLength: 64, maxQueryLength: 16, threads: 0, progress: false, log: createLogger({ level: 'silent' }) });
  const ds = openDataset(out);
  try {
    assert.equal(ds.corpus.count, small.passages);
    assert.equal(ds.queries('train').count, small.trainQueries);
    assert.equal(ds.queries('dev').count, small.devQueries);
    const qrelLines = fs.readFileSync(files.devQrels, 'utf8').trim().split('\n');
    assert.equal(ds.manifest.splits['dev']?.judgments, qrelLines.length, tag);
    assert.match(qrelLines[0] as string, new RegExp(`^${devQid(0)}\\t0\\t\\d+\\t1$`));
  } finally {
    ds.close();
  }
});

test('synthetic embeddings: manifest with the data file sha256, values in [-1, 1), seeded', () => {
  const dir = tmp();
  const f = path.join(dir, 'e.f32');
  writeSyntheticEmbeddings(f, 5000, 24, seed);
  const m = readEmbeddingsManifest(f);
  assert.equal(m.sha256, crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex'));
  const x = new Float32Array(fs.readFileSync(f).buffer.slice(0));
  assert.equal(x.length, 5000 * 24);
  let lo = Infinity;
  let hi = -Infinity;
  let sum = 0;
  for (const v of x) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
    sum += v;
  }
  assert.ok(lo >= -1 && hi < 1 && lo < -0.99 && hi > 0.99, `${tag} range [${lo}, ${hi}]`);
  assert.ok(Math.abs(sum / x.length) < 0.01, `${tag} mean ${sum / x.length}`);
  const g = path.join(dir, 'g.f32');
  writeSyntheticEmbeddings(g, 5000, 24, seed);
  assert.equal(md5(f), md5(g), tag);
});
