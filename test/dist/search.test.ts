// Sharded exact search on 2 loopback Gloo ranks: the merged top-k equals one process's search of the whole file,
// ids and scores, with ties (duplicated rows on both sides of the shard boundary) broken by the lower offset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DenseSearcher } from '../../src/retrieval/search.ts';
import { mergeTopk } from '../../src/dist/search.ts';
import { tensor } from '../../src/tensor/index.ts';
import { lastJson, runRanks } from '../helpers/dist.ts';
import { seededRng } from '../helpers/seed.ts';

const worker = path.join(import.meta.dirname, 'search-worker.ts');

test('mergeTopk: score descending, ties by lower id, short lists padded', () => {
  const m = mergeTopk(
    [
      { scores: Float32Array.from([3, 1, -Infinity]), ids: Int32Array.from([5, 7, -1]) },
      { scores: Float32Array.from([3, 2, 1]), ids: Int32Array.from([2, 9, 4]) },
    ],
    1,
    4,
  );
  assert.deepEqual(Array.from(m.ids), [2, 5, 9, 4]);
  assert.deepEqual(Array.from(m.scores), [3, 3, 2, 1]);
});

test('2 ranks: sharded search equals one process over the whole file (ties by lower offset)', async () => {
  const { rng, tag } = seededRng(1601);
  const [N, D, B, k] = [301, 24, 7, 20];
  const docs = new Float32Array(N * D).map(() => rng.float() * 2 - 1);
  // Rows 150 and 151 sit on either side of the boundary (⌊301/2⌋ = 150 starts rank 1): copies of rows 3 and 149.
  docs.copyWithin(150 * D, 3 * D, 4 * D);
  docs.copyWithin(151 * D, 149 * D, 150 * D);
  const queries = new Float32Array(B * D).map(() => rng.float() * 2 - 1);
  // Queries equal to rows 3 and 149 make the duplicated pairs the top hits (a tie each).
  queries.set(docs.subarray(3 * D, 4 * D), 0);
  queries.set(docs.subarray(149 * D, 150 * D), D);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-dist-search-'));
  try {
    const file = path.join(dir, 'docs.f32');
    const qfile = path.join(dir, 'q.f32');
    fs.writeFileSync(file, docs);
    fs.writeFileSync(qfile, queries);
    const ref = DenseSearcher.fromFile(file, { layout: { dim: D, dtype: 'float32' } });
    const want = ref.search(tensor(queries, { shape: [B, D] }), k);
    ref.dispose();
    const res = await runRanks([worker, file, qfile, String(D), String(k)], 2);
    for (const r of res) assert.equal(r.code, 0, `rank ${r.rank}: ${r.stderr}`);
    for (const r of res) {
      const got = lastJson<{ ids: number[]; scores: number[] }>(r);
      assert.deepEqual(got.ids, Array.from(want.ids), tag);
      assert.deepEqual(got.scores, Array.from(want.scores), tag);
    }
    assert.deepEqual([want.ids[0], want.ids[1]], [3, 150], 'tie between rows 3 and 150 goes to 3 first');
    assert.deepEqual([want.ids[k], want.ids[k + 1]], [149, 151]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('drhard search on 2 ranks writes the same run file as one process', async () => {
  const { makeDataset, saveFreshModel } = await import('../train/helpers.ts');
  const { spawnSync } = await import('node:child_process');
  const BIN = path.resolve(import.meta.dirname, '../../bin/drhard.js');
  const d = await makeDataset();
  try {
    const model = saveFreshModel(path.join(d.dir, 'model'), 5);
    const env = { ...process.env, DRHARD_NUM_THREADS: '1' };
    const corpus = path.join(d.dir, 'corpus.f32');
    const queries = path.join(d.dir, 'train.f32');
    for (const [split, out] of [['corpus', corpus], ['train', queries]] as const) {
      const r = spawnSync(process.execPath, [BIN, 'encode', '--model', model, '--data', d.data, '--split', split, '--out', out, '--no-progress'], { encoding: 'utf8', env });
      assert.equal(r.status, 0, r.stderr);
    }
    const args = (out: string): string[] => [BIN, 'search', '--query-embeddings', queries, '--doc-embeddings', corpus, '--topk', '30', '--out', out];
    const one = path.join(d.dir, 'one.run');
    const two = path.join(d.dir, 'two.run');
    const r = spawnSync(process.execPath, args(one), { encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    const res = await runRanks(args(two), 2);
    for (const x of res) assert.equal(x.code, 0, `rank ${x.rank}: ${x.stderr}`);
    const a = fs.readFileSync(one, 'utf8');
    assert.ok(a.split('\n').length > d.nTrain * 30 - 5, 'run has every query × k lines');
    assert.equal(fs.readFileSync(two, 'utf8'), a);
  } finally {
    fs.rmSync(d.dir, { recursive: true, force: true });
  }
});

test('drhard mine --source dense on 2 ranks (sharded encode + search) writes the same negatives as one process', async () => {
  const { makeDataset, saveFreshModel } = await import('../train/helpers.ts');
  const { spawnSync } = await import('node:child_process');
  const BIN = path.resolve(import.meta.dirname, '../../bin/drhard.js');
  const d = await makeDataset();
  try {
    const model = saveFreshModel(path.join(d.dir, 'model'), 6);
    const env = { ...process.env, DRHARD_NUM_THREADS: '1' };
    const args = (out: string): string[] => [BIN, 'mine', '--data', d.data, '--split', 'train', '--model', model, '--topk', '20', '--out', out, '--no-progress'];
    const one = path.join(d.dir, 'one.jsonl');
    const two = path.join(d.dir, 'two.jsonl');
    const r = spawnSync(process.execPath, args(one), { encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    const res = await runRanks(args(two), 2);
    for (const x of res) assert.equal(x.code, 0, `rank ${x.rank}: ${x.stderr}`);
    // The metadata line carries paths and timings; the negatives must be the same.
    const body = (f: string): string[] => fs.readFileSync(f, 'utf8').split('\n').filter((l) => l !== '' && !l.includes('"seconds"'));
    assert.ok(body(one).length >= d.nTrain - 1);
    assert.deepEqual(body(two), body(one));
  } finally {
    fs.rmSync(d.dir, { recursive: true, force: true });
  }
});
