// DenseSearcher: exact top-k against a brute-force reference, deterministic ties, block-size independence,
// sharded file search equal to in-memory search, faiss mode, docVectors, input errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../src/tensor/index.ts';
import { DenseSearcher } from '../../src/retrieval/search.ts';
import { DrhardInputError } from '../../src/util/errors.ts';
import { bruteForceTopK, hitRows, writeEmbeddingsFile } from './helpers.ts';

/** Docs with exact duplicates and quantized values, so equal scores occur inside and across blocks. */
function tiedDocs(N: number, D: number): T.Tensor {
  return T.tidy(() => {
    const base = T.randint(-2, 3, [Math.ceil(N / 3), D]).to('float32');
    return T.cat([base, base, base], 0).narrow(0, 0, N).contiguous();
  });
}

test('exact search equals brute force, ties broken by lower offset, for every block layout', () => {
  T.manualSeed(11);
  T.tidy(() => {
    const docs = tiedDocs(3000, 8);
    const q = T.randint(-2, 3, [37, 8]).to('float32');
    const k = 10;
    const ref = bruteForceTopK(q, docs, k);
    for (const opts of [
      {},
      { engine: 'faiss' },
      { engine: 'torch' },
      { engine: 'torch', chunkRows: 256, queryBatch: 5, groupSize: 0 },
      { engine: 'torch', chunkRows: 1000, queryBatch: 37, groupSize: 4 },
      { engine: 'torch', chunkRows: 3000, queryBatch: 1, groupSize: 8 },
      { engine: 'torch', chunkRows: 997, queryBatch: 16, groupSize: 2 },
      { engine: 'bf16' },
      { engine: 'bf16', chunkRows: 256, queryBatch: 5 },
      { engine: 'bf16', chunkRows: 997, queryBatch: 1 },
    ] as const) {
      using s = DenseSearcher.fromTensor(docs, opts);
      const got = hitRows(s.search(q, k), 37);
      assert.deepEqual(got.ids, ref.ids, JSON.stringify(opts));
      assert.deepEqual(got.scores, ref.scores, JSON.stringify(opts));
    }
  });
});

test('random data: grouped and plain selection agree with brute force; k beyond N pads with -1', () => {
  T.manualSeed(12);
  T.tidy(() => {
    const docs = T.randn([5000, 16]);
    const q = T.randn([50, 16]);
    const ref = bruteForceTopK(q, docs, 100);
    for (const groupSize of [0, 8, 32]) {
      using s = DenseSearcher.fromTensor(docs, { engine: 'torch', chunkRows: 2048, groupSize });
      assert.deepEqual(hitRows(s.search(q, 100), 50).ids, ref.ids);
    }
    using f = DenseSearcher.fromTensor(docs, { engine: 'faiss' });
    assert.deepEqual(hitRows(f.search(q, 100), 50).ids, ref.ids);
    // Fewer than 20 queries take faiss's non-BLAS path: same answer.
    assert.deepEqual(hitRows(f.search(q.narrow(0, 0, 3), 100), 3).ids, ref.ids.slice(0, 3));
    using small = DenseSearcher.fromTensor(docs.narrow(0, 0, 3).contiguous());
    const r = small.search(q.narrow(0, 0, 2), 5);
    assert.deepEqual(Array.from(r.ids.subarray(3, 5)), [-1, -1]);
    assert.equal(r.scores[4], -Infinity);
  });
});

test('sharded search of a file over the memory budget equals the in-memory search exactly', () => {
  T.manualSeed(13);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-search-'));
  try {
    T.tidy(() => {
      const docs = T.cat([T.randn([4000, 24]), tiedDocs(1000, 24)], 0);
      const q = T.randn([20, 24]);
      for (const [dtype, engine] of [
        ['float32', 'torch'],
        ['float16', 'torch'],
        ['float32', 'faiss'],
        ['float16', 'faiss'],
        ['float32', 'bf16'],
        ['float16', 'bf16'],
      ] as const) {
        const file = path.join(dir, `d-${dtype}.emb`);
        writeEmbeddingsFile(file, docs, dtype);
        using mem = DenseSearcher.fromFile(file, { chunkRows: 512, engine });
        using sh = DenseSearcher.fromFile(file, { chunkRows: 512, queryBatch: 8, maxMemoryBytes: engine === 'faiss' ? 300_000 : 200_000, engine });
        assert.equal(sh.engine, engine);
        assert.equal(mem.mode, 'memory');
        assert.equal(sh.mode, 'sharded');
        assert.ok(sh.shards >= 3, `expected several shards, got ${sh.shards}`);
        const a = mem.search(q, 50);
        const b = sh.search(q, 50);
        assert.deepEqual(b.ids, a.ids);
        assert.deepEqual(b.scores, a.scores);
        const ids = [4999, 0, 1234, 77];
        const v1 = mem.docVectors(ids).toFloat32Array();
        const v2 = sh.docVectors(Int32Array.from(ids)).toFloat32Array();
        assert.deepEqual(v2, v1);
        // Room for faiss's copy but not a second one: rows stay only in faiss and docVectors reads the file. The
        // bf16 engine's screening copy does not fit beside the rows: it goes sharded.
        using tight = DenseSearcher.fromFile(file, { engine, maxMemoryBytes: 5000 * 24 * 4 + 1000 });
        assert.equal(tight.mode, engine === 'bf16' ? 'sharded' : 'memory');
        assert.deepEqual(tight.search(q, 50).ids, a.ids);
        assert.deepEqual(tight.docVectors(ids).toFloat32Array(), v1);
        if (dtype === 'float32') assert.deepEqual(v1, T.tidy(() => docs.indexSelect(0, T.tensor(ids, { dtype: 'int64' })).toFloat32Array()));
      }
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('faiss mode: HNSW finds the exact neighbours on easy data, scores are inner products', () => {
  T.manualSeed(14);
  T.tidy(() => {
    const raw = T.randn([2000, 16]);
    // Unit rows: then the top inner product of a slightly perturbed copy of a row is that row.
    const docs = raw.div(raw.norm(2, 1, true));
    const q = docs.narrow(0, 0, 10).add(T.randn([10, 16]).mul(0.01));
    using s = DenseSearcher.fromTensor(docs, { index: 'HNSW16', params: { efSearch: 64 } });
    assert.equal(s.mode, 'faiss');
    const r = s.search(q, 3);
    for (let b = 0; b < 10; b++) assert.equal(r.ids[b * 3], b);
    const ip = T.tidy(() => q.narrow(0, 0, 1).matmul(docs.narrow(0, 0, 1).t()).item());
    assert.ok(Math.abs((r.scores[0] as number) - ip) < 1e-3);
  });
});

test('non-finite rows are refused naming the count and first rows; bad shapes and k are input errors', () => {
  T.tidy(() => {
    const docs = T.randn([100, 4]);
    const bad = docs.clone();
    bad.select(0, 7).fill_(Number.NaN);
    bad.select(0, 42).select(0, 1).fill_(Number.POSITIVE_INFINITY);
    assert.throws(() => DenseSearcher.fromTensor(bad), /2 row\(s\) hold NaN or Inf; first: 7, 42/);
    assert.throws(() => DenseSearcher.fromTensor(bad, { index: 'HNSW8' }), /2 row\(s\) hold NaN or Inf/);
    using s = DenseSearcher.fromTensor(docs);
    assert.throws(() => s.search(T.randn([2, 5]), 3), /queries must be \[B, 4\]/);
    assert.throws(() => s.search(T.randn([2, 4]), 0), /k must be a positive integer/);
    assert.throws(() => s.search(T.full([1, 4], Number.NaN), 3), /query embeddings: 1 row/);
    assert.throws(() => s.docVectors([100]), /out of range/);
  });
});

test('sharded search checks each shard as it loads it: a non-finite row in the second shard fails the search, not the open', () => {
  T.manualSeed(15);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-search-'));
  try {
    T.tidy(() => {
      const docs = T.randn([4000, 16]);
      docs.select(0, 1100).select(0, 3).fill_(Number.NaN);
      docs.select(0, 3999).fill_(Number.NEGATIVE_INFINITY);
      const file = path.join(dir, 'bad.emb');
      writeEmbeddingsFile(file, docs);
      const q = T.randn([3, 16]);
      // Budgets for shards of 1000 rows (600 for faiss, whose shards need room for its copy): row 1100 is in the second.
      for (const [engine, maxMemoryBytes, shards] of [['fp32', 192_000, 4], ['torch', 192_000, 4], ['bf16', 288_000, 4], ['faiss', 230_400, 7]] as const) {
        // Opening reads no rows (the check is folded into the search's one pass over the file), so it succeeds.
        using sh = DenseSearcher.fromFile(file, { engine, maxMemoryBytes, chunkRows: 100 });
        assert.equal(sh.mode, 'sharded');
        assert.equal(sh.shards, shards, engine);
        // Rows of unchecked shards are checked when read directly too.
        assert.throws(() => sh.docVectors([5, 1100]), (e: unknown) => e instanceof DrhardInputError && e.message === `${file}: document embeddings: 1 row(s) hold NaN or Inf; first: 1100`);
        const want = `${file}: document embeddings: 2 row(s) hold NaN or Inf; first: 1100, 3999`;
        assert.throws(() => sh.search(q, 5), (e: unknown) => e instanceof DrhardInputError && e.message === want, engine);
        // A bad shard is never marked checked: the next search fails the same way.
        assert.throws(() => sh.search(q, 5), (e: unknown) => e instanceof DrhardInputError && e.message === want, engine);
      }
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('searching leaks no tensors', () => {
  T.tidy(() => {
    const docs = T.randn([3000, 8]);
    const q = T.randn([9, 8]);
    using s = DenseSearcher.fromTensor(docs, { engine: 'torch', chunkRows: 700, queryBatch: 4 });
    using f = DenseSearcher.fromTensor(docs, { engine: 'faiss' });
    s.search(q, 5);
    f.search(q, 5);
    const before = T.liveTensors();
    s.search(q, 5);
    s.search(q, 20);
    f.search(q, 20);
    assert.equal(T.liveTensors(), before);
  });
});
