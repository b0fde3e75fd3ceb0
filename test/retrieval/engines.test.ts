// Every exact engine (bf16, fp32, torch, faiss) against a brute-force reference: the same top-k ids (ties to the lower
// offset) and the same scores, on seeded random data with ties, k > N, N not a multiple of the block and D not a
// multiple of 16; the fp32 screen's error bound is load-bearing; the fp32 engine in sharded file search.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../../src/tensor/index.ts';
import { DenseSearcher, type ExactEngine } from '../../src/retrieval/search.ts';
import { maxRowNorm, sgemmScreenedSearch } from '../../src/retrieval/screen.ts';
import { testSeed } from '../helpers/seed.ts';
import { bruteForceTopK, hitRows, rowLists, tmpDir, writeEmbeddingsFile } from './helpers.ts';

const ENGINES: readonly ExactEngine[] = ['bf16', 'fp32', 'torch', 'faiss'];

/** The brute force's lists padded to k as the searcher pads them (-Infinity / -1 past N). */
function padded(ref: { scores: number[][]; ids: number[][] }, k: number): { scores: number[][]; ids: number[][] } {
  const pad = <X>(row: X[], fill: X): X[] => [...row, ...Array.from({ length: k - row.length }, () => fill)];
  return { scores: ref.scores.map((r) => pad(r, -Infinity)), ids: ref.ids.map((r) => pad(r, -1)) };
}

test('integer-valued data with many ties: all four engines equal the brute force exactly, in every block layout', () => {
  const seed = testSeed(151);
  T.manualSeed(seed);
  const tag = `seed=${seed} (DRHARD_TEST_SEED=${seed} to replay)`;
  // Small integers: every product and sum is exact in float32, so all engines must agree to the bit, and exact
  // duplicates (every row appears up to three times) put ties inside blocks, across blocks and at the k-th place.
  for (const [N, D, B, k] of [
    [3001, 24, 21, 10], // N not a multiple of any block, D not a multiple of 16
    [1000, 100, 9, 50],
    [50, 8, 5, 64], // k > N
  ] as const) {
    T.tidy(() => {
      const base = T.randint(-2, 3, [Math.ceil(N / 3), D]).to('float32');
      const docs = T.cat([base, base, base], 0).narrow(0, 0, N).contiguous();
      const q = T.randint(-2, 3, [B, D]).to('float32');
      const ref = padded(bruteForceTopK(q, docs, k), k);
      for (const engine of ENGINES) {
        for (const opts of [{}, { chunkRows: 256, queryBatch: 4 }, { chunkRows: 97, queryBatch: 1 }]) {
          using s = DenseSearcher.fromTensor(docs, { engine, ...opts });
          const got = hitRows(s.search(q, k), B);
          const what = `${engine} ${JSON.stringify(opts)} N=${N} D=${D} k=${k} ${tag}`;
          assert.deepEqual(got.ids, ref.ids, what);
          assert.deepEqual(got.scores, ref.scores, what);
        }
      }
    });
  }
});

test('gaussian data: the screened engines return the correctly rounded scores; torch and faiss the same ids', () => {
  const seed = testSeed(152);
  T.manualSeed(seed);
  const tag = `seed=${seed} (DRHARD_TEST_SEED=${seed} to replay)`;
  for (const [N, D, B, k, shift] of [
    [5003, 40, 17, 100, 0],
    [2500, 130, 8, 30, 3], // a common direction: scores bunch together
  ] as const) {
    T.tidy(() => {
      const docs = T.randn([N, D]).mul(T.rand([N, 1]).mul(3).exp()).add(shift);
      const q = T.randn([B, D]);
      // float64 products rounded once to float32: the screened engines' rescoring computes exactly this.
      const exact = padded(bruteForceTopK(q, docs, k, 'float64'), k);
      for (const engine of ['bf16', 'fp32'] as const) {
        using s = DenseSearcher.fromTensor(docs, { engine, chunkRows: 1000 });
        const got = hitRows(s.search(q, k), B);
        assert.deepEqual(got.ids, exact.ids, `${engine} N=${N} D=${D} ${tag}`);
        assert.deepEqual(got.scores, exact.scores, `${engine} N=${N} D=${D} ${tag}`);
      }
      // torch and faiss rank their float32 GEMM scores, which differ from the correctly rounded ones in the last
      // bits; with no near ties in this data the ids agree, and each score is within float32 GEMM error.
      for (const engine of ['torch', 'faiss'] as const) {
        using s = DenseSearcher.fromTensor(docs, { engine });
        const got = hitRows(s.search(q, k), B);
        assert.deepEqual(got.ids, exact.ids, `${engine} N=${N} D=${D} ${tag}`);
        got.scores.forEach((row, b) =>
          row.forEach((x, j) => {
            const e = exact.scores[b]?.[j] as number;
            assert.ok(Math.abs(x - e) <= 1e-4 * Math.max(1, Math.abs(e)), `${engine} score ${x} vs ${e} ${tag}`);
          }),
        );
      }
    });
  }
});

test('the fp32 screen is exact only through its error bound: near ties below float32 GEMM error', () => {
  const seed = testSeed(153);
  T.manualSeed(seed);
  T.tidy(() => {
    const N = 3000;
    const D = 200;
    const k = 20;
    // Documents that differ from one base vector by far less than the sgemm's rounding error of a score: the sgemm
    // orders them by rounding noise, and only the rescoring can rank them.
    const base = T.randn([1, D]).mul(10);
    const docs = base.add(T.randn([N, D]).mul(1e-6)).contiguous();
    const q = base.add(T.randn([5, D]).mul(0.1)).contiguous();
    const ref = bruteForceTopK(q, docs, k, 'float64');
    const r = sgemmScreenedSearch(q, docs, maxRowNorm(docs), k, 512);
    assert.deepEqual(rowLists(r.ids, 5, k), ref.ids, `seed=${seed}`);
    assert.deepEqual(rowLists(r.scores, 5, k), ref.scores, `seed=${seed}`);
    // A zero bound keeps only the sgemm's own top-k: a different (wrong) order here.
    const noBound = T.sgemmScreenedTopk(q, docs, T.zeros([5]), k, 512);
    assert.notDeepEqual(rowLists(noBound.indices.toBigInt64Array(), 5, k), ref.ids, `seed=${seed}: the data should defeat an unbounded screen`);
  });
});

test('fp32 engine: sharded file search equals the in-memory search; bad arguments are refused; nothing leaks', () => {
  const seed = testSeed(154);
  T.manualSeed(seed);
  const dir = tmpDir();
  try {
    T.tidy(() => {
      const docs = T.randn([4000, 24]);
      const q = T.randn([7, 24]);
      const file = path.join(dir, 'docs.emb');
      writeEmbeddingsFile(file, docs);
      using mem = DenseSearcher.fromTensor(docs, { engine: 'fp32' });
      using sharded = DenseSearcher.fromFile(file, { engine: 'fp32', maxMemoryBytes: 4000 * 24 * 4 / 2 });
      assert.equal(sharded.mode, 'sharded');
      assert.ok(sharded.shards > 1);
      assert.deepEqual(hitRows(sharded.search(q, 30), 7), hitRows(mem.search(q, 30), 7), `seed=${seed}`);
      assert.throws(() => T.sgemmScreenedTopk(q, docs, T.zeros([6]), 5, 100), /errAbs must be float32 \[B\]/);
      assert.throws(() => T.sgemmScreenedTopk(q, docs, T.zeros([7]), 0, 100), /k must be >= 1/);
      assert.throws(() => T.sgemmScreenedTopk(q, docs.narrow(1, 0, 8), T.zeros([7]), 5, 100), /must agree/);
      assert.throws(() => T.sgemmScreenedTopk(q, docs, T.full([7], Number.POSITIVE_INFINITY), 5, 100), /finite/);
    });
    const before = T.liveTensors();
    T.tidy(() => {
      const docs = T.randn([300, 8]);
      for (let i = 0; i < 3; i++) sgemmScreenedSearch(T.randn([4, 8]), docs, maxRowNorm(docs), 7, 64);
    });
    assert.equal(T.liveTensors(), before);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
