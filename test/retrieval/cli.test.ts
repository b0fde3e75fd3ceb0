// CLI contract for encode/search/mine/bm25: runs equal the library's results, sharded (--max-memory) runs are
// byte-identical to in-memory ones, bad flags exit 2 without writing anything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openDataset } from '../../src/data/index.ts';
import { Bm25Index } from '../../src/retrieval/bm25.ts';
import { mineNegatives } from '../../src/retrieval/mine.ts';
import { negativesOf, readNegatives } from '../../src/retrieval/negatives.ts';
import { DenseSearcher } from '../../src/retrieval/search.ts';
import * as T from '../../src/tensor/index.ts';
import { readEmbeddingsManifest, readRows } from '../../src/retrieval/embeddings.ts';
import { makeDataset, makeModelDir, tmpDir, ROOT } from './helpers.ts';

const dir = tmpDir();
const ds = await makeDataset(dir);
const model = makeModelDir(dir);
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, DRHARD_LOG_LEVEL: 'warn', DRHARD_NUM_THREADS: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const corpus = path.join(dir, 'corpus.emb');
const dev = path.join(dir, 'dev.emb');

test('encode → search: the run holds the library search results with their scores, original ids', () => {
  for (const [split, out] of [['corpus', corpus], ['dev', dev]] as const) {
    const r = cli(['encode', '--model', model, '--data', ds, '--split', split, '--out', out, '--no-progress']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { count: number }).count, readEmbeddingsManifest(out).count);
  }
  const runFile = path.join(dir, 'dev.run');
  const r = cli(['search', '--query-embeddings', dev, '--doc-embeddings', corpus, '--topk', '7', '--data', ds, '--split', 'dev', '--out', runFile]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  const d = openDataset(ds);
  try {
    using s = DenseSearcher.fromFile(corpus);
    const m = readEmbeddingsManifest(dev);
    const q = readRows(dev, m, 0, m.count);
    const hits = s.search(q, 7);
    q.dispose();
    const lines = fs.readFileSync(runFile, 'utf8').trim().split('\n').map((l) => l.split(' '));
    assert.equal(lines.length, m.count * 7);
    const qids = d.queryIds('dev');
    const dids = d.docIds();
    for (let b = 0; b < m.count; b++) {
      const mine = lines.filter((f) => f[0] === qids[b]);
      const want = new Map(Array.from(hits.ids.subarray(b * 7, b * 7 + 7), (id, j) => [dids[id]!, hits.scores[b * 7 + j]!]));
      assert.equal(mine.length, 7);
      for (const f of mine) assert.equal(Number(f[4]), want.get(f[2]!), `query ${qids[b]} doc ${f[2]}`);
    }
  } finally {
    d.close();
  }
});

test('--max-memory below the corpus size: sharded search writes the same bytes as the in-memory search', () => {
  const a = cli(['search', '--query-embeddings', dev, '--doc-embeddings', corpus, '--topk', '20', '--format', 'trec']);
  const b = cli(['search', '--query-embeddings', dev, '--doc-embeddings', corpus, '--topk', '20', '--format', 'trec', '--max-memory', '6K']);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.ok(a.stdout.length > 0);
  assert.equal(b.stdout, a.stdout);
  // Every exact engine, in memory and sharded, returns the top 20 by score. This test model's scores agree to ~6
  // digits, so documents swap places with the last bits of the summation order: compare the score at each rank.
  const scoresOf = (out: string): number[] => out.trim().split('\n').map((l) => Number(l.split(' ')[4]));
  const want = scoresOf(a.stdout);
  for (const engine of ['bf16', 'fp32', 'torch', 'faiss', ...(T.int8ScreenSupported() ? ['int8'] : [])]) {
    for (const extra of [[], ['--max-memory', '6K']]) {
      const c = cli(['search', '--query-embeddings', dev, '--doc-embeddings', corpus, '--topk', '20', '--format', 'trec', '--exact', engine, ...extra]);
      assert.equal(c.code, 0, c.stderr);
      const got = scoresOf(c.stdout);
      assert.equal(got.length, want.length);
      got.forEach((x, i) => assert.ok(Math.abs(x - (want[i] as number)) <= 1e-5 * Math.abs(want[i] as number), `--exact ${engine} ${extra.join(' ')}: rank ${i} ${x} vs ${want[i]}`));
    }
  }
  const bad = cli(['search', '--query-embeddings', dev, '--doc-embeddings', corpus, '--exact', 'fast']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--exact/);
});

test('bm25 and mine CLIs equal the library', () => {
  const runFile = path.join(dir, 'bm25.run');
  const r = cli(['bm25', '--data', ds, '--split', 'dev', '--topk', '10', '--ids', 'offsets', '--format', 'msmarco', '--out', runFile]);
  assert.equal(r.code, 0, r.stderr);
  const d = openDataset(ds);
  try {
    const t = d.manifest.tokenizer;
    const ix = Bm25Index.build(d.corpus, { ignore: [t.clsId, t.sepId, t.padId] });
    const lines = fs.readFileSync(runFile, 'utf8').trim().split('\n');
    const q0 = lines.filter((l) => l.startsWith('0\t')).map((l) => Number(l.split('\t')[1]));
    const ref = Array.from(ix.search(d.queries('dev').get(0), 10).ids).filter((x) => x >= 0);
    assert.deepEqual(new Set(q0), new Set(ref));

    const neg = path.join(dir, 'neg.bin');
    const m = cli(['mine', '--data', ds, '--source', 'bm25', '--topk', '15', '--out', neg, '--format', 'bin', '--no-progress']);
    assert.equal(m.code, 0, m.stderr);
    const counters = JSON.parse(m.stdout) as { queries: number; queriesShort: number };
    const lib = mineNegatives({ source: { kind: 'bm25', index: ix, queries: d.queries('train') }, qrels: d.qrels('train'), topk: 15, corpus: d.corpus });
    assert.equal(counters.queries, lib.counters.queries);
    const back = readNegatives(neg, { queries: d.queries('train').count, docs: d.corpus.count });
    for (const q of d.qrels('train').keys()) assert.deepEqual(negativesOf(back, q), negativesOf(lib.negatives, q));
    const side = JSON.parse(fs.readFileSync(`${neg}.json`, 'utf8')) as { source: string; counters: { queries: number } };
    assert.equal(side.source, 'bm25');
    assert.equal(side.counters.queries, lib.counters.queries);

    const dense = path.join(dir, 'dense.jsonl');
    const md = cli(['mine', '--data', ds, '--doc-embeddings', corpus, '--query-embeddings', path.join(dir, 'nope.emb'), '--out', dense, '--no-progress']);
    assert.equal(md.code, 1);
    assert.match(md.stderr, /nope\.emb/);
    assert.ok(!fs.existsSync(dense));
  } finally {
    d.close();
  }
});

test('mine --source bm25 --threads 1 and 3 write the same negatives, equal to the library', async () => {
  // 300 training queries: enough for 3 search threads (64 queries each at least).
  const sub = path.join(dir, 'threads');
  fs.mkdirSync(sub);
  const big = await makeDataset(sub, { nTrain: 300 });
  const files = [1, 3].map((threads) => {
    const out = path.join(sub, `neg${threads}.bin`);
    const r = cli(['mine', '--data', big, '--source', 'bm25', '--topk', '20', '--threads', String(threads), '--out', out, '--format', 'bin', '--no-progress']);
    assert.equal(r.code, 0, r.stderr);
    const { seconds: _s, out: _o, ...counters } = JSON.parse(r.stdout) as Record<string, unknown>;
    const side = JSON.parse(fs.readFileSync(`${out}.json`, 'utf8')) as Record<string, unknown>;
    delete side['seconds'];
    return { bytes: fs.readFileSync(out), counters, side };
  });
  assert.deepEqual(files[1], files[0]);
  const d = openDataset(big);
  try {
    const t = d.manifest.tokenizer;
    const ix = Bm25Index.build(d.corpus, { ignore: [t.clsId, t.sepId, t.padId] });
    const lib = mineNegatives({ source: { kind: 'bm25', index: ix, queries: d.queries('train') }, qrels: d.qrels('train'), topk: 20, corpus: d.corpus, fillRandomSeed: 42 });
    const back = readNegatives(path.join(sub, 'neg3.bin'), { queries: d.queries('train').count, docs: d.corpus.count });
    assert.equal(back.qoffsets.length, 300);
    for (const q of d.qrels('train').keys()) assert.deepEqual(negativesOf(back, q), negativesOf(lib.negatives, q));
  } finally {
    d.close();
  }
});

test('bad flags exit 2 with the flag named and write nothing; --help exits 0', () => {
  const out = path.join(dir, 'never.run');
  for (const args of [
    ['search', '--query-embeddings', dev, '--doc-embeddings', corpus, '--topk', '0', '--out', out],
    ['search', '--query-embeddings', dev, '--out', out],
    ['search', '--query-embeddings', dev, '--query', 'x', '--doc-embeddings', corpus, '--out', out],
    ['search', '--query-embeddings', dev, '--doc-embeddings', corpus, '--max-memory', 'lots', '--out', out],
    ['bm25', '--data', ds, '--b', '2', '--out', out],
    ['mine', '--data', ds, '--out', out],
    ['mine', '--data', ds, '--source', 'bm25', '--threads', '0', '--out', out],
    ['mine', '--data', ds, '--source', 'random', '--threads', '2', '--out', out],
    ['encode', '--model', model, '--data', ds, '--out', out, '--dtype', 'int8'],
  ]) {
    const r = cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}\n${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.ok(!fs.existsSync(out));
  }
  assert.match(cli(['search', '--topk', '0', '--doc-embeddings', corpus, '--query-embeddings', dev]).stderr, /--topk/);
  const h = cli(['mine', '--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /--margin <n>/);
});

test('search --query text equals encodeTexts + library search; --save-index then --load-index give the same run', async () => {
  const { loadModel } = await import('../../src/models/checkpoint.ts');
  const { loadTokenizer } = await import('../../src/tokenizers/index.ts');
  const { encodeTexts } = await import('../../src/retrieval/encode.ts');
  const r = cli(['search', '--query', 'faiss index python', '--query', 'rust', '--model', model, '--doc-embeddings', corpus, '--topk', '4', '--data', ds]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => l.split(' '));
  assert.equal(lines.length, 8);
  const { model: m } = loadModel(model);
  const d = openDataset(ds);
  try {
    const q = await encodeTexts(m, await loadTokenizer(model), ['faiss index python', 'rust'], { maxLength: 32 });
    using s = DenseSearcher.fromFile(corpus);
    const hits = s.search(q, 4);
    q.dispose();
    const dids = d.docIds();
    for (const [b, qid] of ['1', '2'].entries()) {
      const got = new Map(lines.filter((f) => f[0] === qid).map((f) => [f[2]!, Number(f[4])]));
      for (let j = 0; j < 4; j++) assert.equal(got.get(dids[hits.ids[b * 4 + j]!]!), hits.scores[b * 4 + j]);
    }
  } finally {
    m.dispose();
    d.close();
  }

  const ix = path.join(dir, 'hnsw.faiss');
  const a = cli(['search', '--query-embeddings', dev, '--doc-embeddings', corpus, '--index', 'HNSW16', '--param', 'efSearch=64', '--save-index', ix, '--topk', '5']);
  assert.equal(a.code, 0, a.stderr);
  assert.ok(fs.existsSync(`${ix}.json`));
  const b = cli(['search', '--query-embeddings', dev, '--load-index', ix, '--doc-embeddings', corpus, '--topk', '5']);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(b.stdout, a.stdout);
  fs.truncateSync(ix, fs.statSync(ix).size - 10);
  const c = cli(['search', '--query-embeddings', dev, '--load-index', ix, '--topk', '5']);
  assert.equal(c.code, 1);
  assert.match(c.stderr, /hnsw\.faiss: index file has \d+ bytes, its manifest says \d+: truncated/);
});

test('mine --format tsv (original ids) is read by the trainer into the same lists as the jsonl output', async () => {
  const { readNegativesFile } = await import('../../src/train/data.ts');
  const tsv = path.join(dir, 'neg.tsv');
  const jsonl = path.join(dir, 'neg.jsonl');
  for (const [out, format] of [[tsv, 'tsv'], [jsonl, 'jsonl']] as const) {
    const r = cli(['mine', '--data', ds, '--doc-embeddings', corpus, '--query-embeddings', dev, '--split', 'dev', '--topk', '6', '--out', out, '--format', format, '--no-progress']);
    assert.equal(r.code, 0, r.stderr);
  }
  const d = openDataset(ds);
  try {
    const a = readNegativesFile(tsv, d, 'dev');
    const b = readNegativesFile(jsonl, d, 'dev');
    const mine = readNegatives(jsonl);
    for (const q of d.qrels('dev').keys()) {
      assert.equal(a.size(q), 6);
      assert.deepEqual(a.row(q), b.row(q));
      assert.deepEqual(a.row(q), negativesOf(mine, q));
    }
  } finally {
    d.close();
  }
});
