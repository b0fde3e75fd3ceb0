// The bfloat16-screened exact search (native screenedTopk + src/retrieval/screen.ts): exact against a float64 brute
// force on random, shifted and near-tied data; the error bound is load-bearing (without it the screen loses
// documents); ties, k > N, bad arguments, no leaked tensors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.ts';
import { ScreenCopy, hasFastBf16 } from '../../src/retrieval/screen.ts';
import { DenseSearcher, defaultEngine } from '../../src/retrieval/search.ts';
import { bruteForceTopK, rowLists } from './helpers.ts';

test('screened search equals the float64 brute force on random, shifted and norm-skewed data', () => {
  T.manualSeed(21);
  for (const [N, D, B, k, shift] of [
    [3000, 64, 20, 10, 0],
    [5000, 128, 33, 100, 4], // a large common direction: the mean shift keeps the margin tight
    [777, 24, 7, 50, -2],
  ] as const) {
    T.tidy(() => {
      // Row norms spread over two orders of magnitude, plus the shared offset.
      const docs = T.randn([N, D]).mul(T.rand([N, 1]).mul(4).exp()).add(shift);
      const q = T.randn([B, D]).add(shift / 2);
      const ref = bruteForceTopK(q, docs, k, 'float64');
      using screen = ScreenCopy.build(docs);
      const r = screen.search(q, docs, k, 1000);
      assert.deepEqual(rowLists(r.ids, B, k), ref.ids, `N=${N} D=${D}`);
      assert.deepEqual(rowLists(r.scores, B, k), ref.scores, `N=${N} D=${D}`);
      // The screen did its job: far fewer rescored than searched.
      const mean = Array.from(r.rescored, Number).reduce((a, b) => a + b, 0) / B;
      assert.ok(mean >= k && mean < N / 2, `rescored ${mean} of ${N}`);
    });
  }
});

test('near ties below bfloat16 resolution are ranked exactly; with no error bound the screen gets them wrong', () => {
  T.manualSeed(22);
  T.tidy(() => {
    const N = 4000;
    const D = 32;
    const k = 20;
    // Every document is one base vector plus a perturbation far below bfloat16's 2^-8 relative precision, so the
    // bfloat16 scores are nearly all equal and only the exact rescoring can order them.
    const base = T.randn([1, D]);
    const docs = base.add(T.randn([N, D]).mul(1e-4)).contiguous();
    const q = base.add(T.randn([6, D]).mul(0.1)).contiguous();
    const ref = bruteForceTopK(q, docs, k, 'float64');
    using screen = ScreenCopy.build(docs);
    const r = screen.search(q, docs, k, 512);
    assert.deepEqual(rowLists(r.ids, 6, k), ref.ids);
    assert.deepEqual(rowLists(r.scores, 6, k), ref.scores);

    // Small GEMMs (one query against 8 documents): libtorch would send bfloat16 products this small to a kernel
    // that rounds partial sums to bfloat16 (outside the bound), so the kernel sums them in float32 instead.
    for (let b = 0; b < 6; b++) {
      const r1 = screen.search(q.narrow(0, b, 1), docs, k, 8);
      assert.deepEqual(rowLists(r1.ids, 1, k)[0], ref.ids[b], `query ${b} alone, chunks of 8`);
    }

    // The same kernel with a zero error bound keeps only what the coarse screen ranks first: wrong answers.
    const noBound = T.screenedTopk(q, docs, q.to('bfloat16'), docs.to('bfloat16'), T.zeros([6]), 0, k, 512);
    const wrong = rowLists(noBound.indices.toBigInt64Array(), 6, k);
    assert.notDeepEqual(wrong, ref.ids, 'a zero bound should lose documents here; the test data is too easy');
  });
});

test('small GEMMs (one query × five documents, under libtorch\'s oneDNN size threshold) are exact too', () => {
  T.manualSeed(25);
  T.tidy(() => {
    const docs = T.randn([3000, 768]);
    const q = T.randn([4, 768]);
    const ref = bruteForceTopK(q, docs, 50, 'float64');
    using screen = ScreenCopy.build(docs);
    for (let b = 0; b < 4; b++) {
      // 1 × 768 × 5 = 3840 multiply-adds per GEMM: under libtorch 1.13's 16³ threshold for oneDNN.
      const r = screen.search(q.narrow(0, b, 1), docs, 50, 5);
      assert.deepEqual(rowLists(r.ids, 1, 50)[0], ref.ids[b], `query ${b}`);
    }
  });
});

test('ties go to the lower offset across chunks; k beyond N pads with -1 and -Infinity', () => {
  T.manualSeed(23);
  T.tidy(() => {
    // Integer-valued rows repeated three times: many exact ties, all representable in bfloat16.
    const base = T.randint(-2, 3, [400, 16]).to('float32');
    const docs = T.cat([base, base, base], 0).contiguous();
    const q = T.randint(-2, 3, [9, 16]).to('float32');
    const ref = bruteForceTopK(q, docs, 30, 'float64');
    using screen = ScreenCopy.build(docs);
    for (const chunk of [1, 7, 400, 5000]) {
      const r = screen.search(q, docs, 30, chunk);
      assert.deepEqual(rowLists(r.ids, 9, 30), ref.ids, `chunk ${chunk}`);
    }
    const small = docs.narrow(0, 0, 3).contiguous();
    using s3 = ScreenCopy.build(small);
    const r = s3.search(q.narrow(0, 0, 2), small, 5, 16);
    assert.deepEqual(rowLists(r.ids, 2, 5).map((x) => x.slice(3)), [[-1, -1], [-1, -1]]);
    assert.equal(r.scores[4], -Infinity);
  });
});

test('DenseSearcher bf16 engine: same run as the float64 brute force on a searcher built from a tensor', () => {
  T.manualSeed(24);
  T.tidy(() => {
    const docs = T.randn([6000, 48]);
    const q = T.randn([700, 48]); // more than one screening batch of queries
    const ref = bruteForceTopK(q, docs, 25, 'float64');
    using s = DenseSearcher.fromTensor(docs, { engine: 'bf16', chunkRows: 2048 });
    assert.equal(s.engine, 'bf16');
    const got = s.search(q, 25);
    assert.deepEqual(rowLists(got.ids, 700, 25), ref.ids);
    assert.deepEqual(rowLists(got.scores, 700, 25), ref.scores);
  });
});

test('bad arguments are clear errors; searching leaks no tensors', () => {
  T.tidy(() => {
    const docs = T.randn([50, 8]);
    const q = T.randn([3, 8]);
    const lo = docs.to('bfloat16');
    const e = T.zeros([3]);
    assert.throws(() => T.screenedTopk(q, docs, q.to('bfloat16'), docs, e, 0, 5, 16), /screening documents must be BFloat16/);
    assert.throws(() => T.screenedTopk(q, docs, q.to('bfloat16'), lo.narrow(0, 0, 40), e, 0, 5, 16), /must agree/);
    assert.throws(() => T.screenedTopk(q, docs, q.to('bfloat16'), lo, T.zeros([2]), 0, 5, 16), /errAbs must be float32 \[B\]/);
    assert.throws(() => T.screenedTopk(q, docs, q.to('bfloat16'), lo, T.full([3], -1), 0, 5, 16), /finite and >= 0/);
    assert.throws(() => T.screenedTopk(q, docs, q.to('bfloat16'), lo, e, 0.7, 5, 16), /errRel/);
    assert.throws(() => T.screenedTopk(q, docs, q.to('bfloat16'), lo, e, 0, 0, 16), /k must be >= 1/);
  });
  // Norms beyond float32 make the bound infinite: a clear error instead of a silently useless screen.
  T.tidy(() => {
    const huge = T.full([4, 8], 1e20);
    using screen = ScreenCopy.build(huge);
    assert.throws(() => screen.search(T.full([1, 8], 1e20), huge, 2, 4), /overflow float32.*'torch' or 'faiss'/);
  });
  const before = T.liveTensors();
  T.tidy(() => {
    const docs = T.randn([300, 8]);
    using screen = ScreenCopy.build(docs);
    for (let i = 0; i < 5; i++) screen.search(T.randn([4, 8]), docs, 7, 64);
  });
  assert.equal(T.liveTensors(), before);
});

test('the bf16 GEMM check: small products never count as float32-accumulating; small collections default to fp32', () => {
  // libtorch sends bfloat16 GEMMs of at most 16³ multiply-adds to its rounding fallback, whatever the CPU.
  assert.equal(T.bf16GemmIsFloat32Accumulating(16, 16, 16), false);
  assert.equal(T.bf16GemmIsFloat32Accumulating(1, 768, 5), false);
  if (hasFastBf16()) assert.equal(T.bf16GemmIsFloat32Accumulating(512, 768, 4096), true);
  // Below the calibration threshold the default is fixed (no measurement for a search of milliseconds).
  assert.equal(defaultEngine(300, 8), 'fp32');
});
