// The int8 screened engine, with each kernel this CPU runs (AVX512-VNNI, the 256-bit VNNI kernel, AVX2): the same ids and scores as the fp32 engine and the float64 brute force, to
// the bit, on seeded data with ties, near duplicates below the screen's resolution, wildly different norms, zero
// vectors, k > N, D not a multiple of 4 and N not a multiple of the 32-document panel; its error bound holds on
// random and adversarial pairs and is tight enough that half of it fails; the bound is load-bearing; sharded search.
// Skipped on CPUs without AVX2 (the engine is not offered there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../../src/tensor/index.ts';
import { DenseSearcher } from '../../src/retrieval/search.ts';
import { INT8_REL, Int8Copy, int8Isa, int8QueryLevels, int8Tiny } from '../../src/retrieval/screen.ts';
import { testSeed } from '../helpers/seed.ts';
import { bruteForceTopK, hitRows, rowLists, tmpDir, writeEmbeddingsFile } from './helpers.ts';

const skip = T.int8ScreenSupported() ? false : 'this CPU lacks AVX2: no int8 engine';

/** Runs `fn` with every int8 kernel this CPU has (DRHARD_INT8_ISA), restoring the variable after. */
function forEachIsa(fn: (isa: string) => void): void {
  const saved = process.env['DRHARD_INT8_ISA'];
  try {
    for (const isa of T.int8ScreenIsas()) {
      process.env['DRHARD_INT8_ISA'] = isa;
      fn(isa);
    }
  } finally {
    if (saved === undefined) delete process.env['DRHARD_INT8_ISA'];
    else process.env['DRHARD_INT8_ISA'] = saved;
  }
}

function padded(ref: { scores: number[][]; ids: number[][] }, k: number): { scores: number[][]; ids: number[][] } {
  const pad = <X>(row: X[], fill: X): X[] => [...row, ...Array.from({ length: k - row.length }, () => fill)];
  return { scores: ref.scores.map((r) => pad(r, -Infinity)), ids: ref.ids.map((r) => pad(r, -1)) };
}

/** int8, fp32 and the float64 brute force (rounded once to float32) agree on every id and score. */
function assertSameAsFp32(docs: T.Tensor, q: T.Tensor, k: number, what: string, opts: { queryBatch?: number } = {}): BigInt64Array {
  const B = q.size(0);
  const ref = padded(bruteForceTopK(q, docs, k, 'float64'), k);
  using s8 = DenseSearcher.fromTensor(docs, { engine: 'int8', ...opts });
  using s32 = DenseSearcher.fromTensor(docs, { engine: 'fp32' });
  assert.equal(s8.engine, 'int8');
  const got = hitRows(s8.search(q, k), B);
  const fp32 = hitRows(s32.search(q, k), B);
  assert.deepEqual(got.ids, fp32.ids, `ids vs fp32: ${what}`);
  assert.deepEqual(got.scores, fp32.scores, `scores vs fp32: ${what}`);
  assert.deepEqual(got.ids, ref.ids, `ids vs brute force: ${what}`);
  assert.deepEqual(got.scores, ref.scores, `scores vs brute force: ${what}`);
  using c = Int8Copy.build(docs);
  return c.search(q, docs, k).rescored;
}

test('int8 equals the fp32 engine and the brute force at D = 3, 64, 128, 130, 768 (ties, k > N, ragged panels), every kernel', { skip }, () => {
  const seed = testSeed(171);
  forEachIsa((isa) => {
    T.manualSeed(seed);
    const tag = `isa=${isa} seed=${seed} (DRHARD_TEST_SEED=${seed} to replay)`;
    for (const [N, D, B, k] of [
      [1001, 3, 13, 10],
      [3001, 64, 25, 100],
      [2050, 128, 12, 50],
      [999, 130, 7, 30],
      [1500, 768, 9, 40],
      [50, 24, 5, 64], // k > N
    ] as const) {
      T.tidy(() => {
        // Small integers repeated three times: exact ties inside a panel, across panels and at the k-th place.
        const base = T.randint(-3, 4, [Math.ceil(N / 3), D]).to('float32');
        const ints = T.cat([base, base, base], 0).narrow(0, 0, N).contiguous();
        const qi = T.randint(-3, 4, [B, D]).to('float32');
        assertSameAsFp32(ints, qi, k, `integers N=${N} D=${D} k=${k} ${tag}`, { queryBatch: 5 });
        // Gaussian rows with norms spread over e^0…e^6, plus zero rows (a zero document, a zero query).
        const g = T.randn([N, D]).mul(T.rand([N, 1]).mul(6).exp());
        const zeroDoc = T.zeros([1, D]);
        const docs = T.cat([g.narrow(0, 0, N - 1), zeroDoc], 0).contiguous();
        const q = T.cat([T.randn([B - 1, D]), T.zeros([1, D])], 0).contiguous();
        const rescored = assertSameAsFp32(docs, q, k, `gaussian N=${N} D=${D} k=${k} ${tag}`);
        // The rescored count is reported per query: at least the k (or N) results, at most every document.
        for (const r of rescored) assert.ok(Number(r) >= Math.min(k, N) && Number(r) <= N, `rescored ${r} ${tag}`);
      });
    }
  });
});

test('near duplicates straddling the k-th place, below int8 resolution: only the bound keeps them exact, every kernel', { skip }, () => {
  const seed = testSeed(172);
  forEachIsa((isa) => {
    T.manualSeed(seed);
    const tag = `isa=${isa} seed=${seed} (DRHARD_TEST_SEED=${seed} to replay)`;
    for (const D of [130, 300]) T.tidy(() => {
      const N = 3000;
      const k = 20;
      // Documents within 1e-4 of one base vector: they all get (nearly) the same codes, so the int8 screen cannot
      // order them, and the k-th place falls among thousands of candidates.
      const baseVec = T.randn([1, D]).mul(10);
      const docs = T.cat([baseVec.add(T.randn([N - 500, D]).mul(1e-4)), T.randn([500, D])], 0).contiguous();
      const q = baseVec.add(T.randn([6, D]).mul(0.1)).contiguous();
      const rescored = assertSameAsFp32(docs, q, k, `near duplicates D=${D} ${tag}`);
      assert.ok(Math.min(...Array.from(rescored, Number)) > 100, `the near duplicates must all be rescored ${tag}`);
      // Without the bound (scaled to 0) the screen keeps its own top-k, ordered by quantization noise: wrong here.
      using c = Int8Copy.build(docs);
      const noBound = c.search(q, docs, k, 0);
      const ref = bruteForceTopK(q, docs, k, 'float64');
      assert.notDeepEqual(rowLists(noBound.ids, 6, k), ref.ids, `the data should defeat an unbounded screen D=${D} ${tag}`);
  });
  });
});

/**
 * The largest |rescored − screen| / bound over every pair of q and docs, recomputing the kernel's screen value
 * fl(fl(q̂·d̂)·fl(s_q·s_d)) from the codes and the bound from the copy's per-document terms; and the same for the
 * refinement the kernel applies at D >= 256, R = s_d·(q·d̂) with the float32 query, whose bound has only the
 * document's residual term (plus (γ_D + 2^-50)·||q||·c_d for R's own rounding).
 */
function maxBoundRatio(q: T.Tensor, docs: T.Tensor, levels: number): { screen: number; refined: number } {
  return T.tidy(() => {
    const [N, D] = docs.shape as [number, number];
    const B = q.size(0);
    const Dp = Math.ceil(D / 4) * 4;
    using c = Int8Copy.build(docs);
    const Np = c.codes.scale.size(0);
    const qc = T.int8Quantize(q, false, levels);
    const qHat = qc.codes.to('float64').sub(levels + 1);
    const dHat = c.codes.codes.view([Np / 32, Dp / 4, 32, 4]).permute([0, 2, 1, 3]).reshape([Np, Dp]).narrow(0, 0, N).to('float64');
    const I = qHat.matmul(dHat.t()).toFloat64Array(); // exact: integers below 2^53
    const qd = q.to('float64').matmul(dHat.narrow(1, 0, D).t()).toFloat64Array();
    const u = 2 ** -24;
    const gammaR = (D * u) / (1 - D * u) + 2 ** -50;
    const exact = q.to('float64').matmul(docs.to('float64').t()).toFloat64Array();
    const sq = qc.scale.toFloat32Array();
    const sd = c.codes.scale.toFloat32Array();
    const qn = qc.norms.toFloat64Array();
    const de = c.codes.err.toFloat32Array();
    const tiny = int8Tiny(D);
    let worst = 0;
    let worstR = 0;
    for (let b = 0; b < B; b++) {
      for (let d = 0; d < N; d++) {
        const s = Math.fround(Math.fround(I[b * N + d] as number) * Math.fround((sq[b] as number) * (sd[d] as number)));
        const f = Math.fround(exact[b * N + d] as number);
        const bound = (qn[3 * b] as number) * (de[d] as number) + (qn[3 * b + 1] as number) * (de[Np + d] as number) + tiny + INT8_REL * Math.abs(s);
        worst = Math.max(worst, Math.abs(f - s) / bound);
        const R = (sd[d] as number) * (qd[b * N + d] as number);
        const boundR = (qn[3 * b] as number) * ((de[d] as number) + gammaR * (de[Np + d] as number)) + tiny;
        worstR = Math.max(worstR, Math.abs(f - R) / boundR);
      }
    }
    return { screen: worst, refined: worstR };
  });
}

test('the int8 bound holds on random and adversarial pairs, and half of it does not (8- and 7-bit query codes)', { skip }, () => {
  const seed = testSeed(173);
  T.manualSeed(seed);
  for (const [D, levels] of [[3, 127], [64, 127], [130, 127], [768, 127], [64, 63], [768, 63]] as const) {
    const tag = `D=${D} levels=${levels} seed=${seed} (DRHARD_TEST_SEED=${seed} to replay)`;
    T.tidy(() => {
      // Random pairs: far inside the bound (Cauchy–Schwarz is loose for unrelated vectors).
      const docs = T.randn([400, D]).mul(T.rand([400, 1]).mul(4).exp());
      const random = maxBoundRatio(T.randn([40, D]), docs, levels);
      assert.ok(random.screen <= 1, `|exact − screen| exceeds the bound on random pairs (ratio ${random.screen}) ${tag}`);
      assert.ok(random.refined <= 1, `|exact − refined| exceeds its bound on random pairs (ratio ${random.refined}) ${tag}`);
      // Adversarial pairs: each query an integer vector (its own codes are exact: s_q = 1, no query residual)
      // pointing along one document's quantization residual d − s_d·d̂, so q·(d − s_d·d̂) is nearly ||q||·||r_d||.
      using c = Int8Copy.build(docs);
      const Dp = Math.ceil(D / 4) * 4;
      const Np = c.codes.scale.size(0);
      const dHat = c.codes.codes.view([Np / 32, Dp / 4, 32, 4]).permute([0, 2, 1, 3]).reshape([Np, Dp]).narrow(0, 0, 400).narrow(1, 0, D).to('float32');
      const resid = docs.sub(dHat.mul(c.codes.scale.narrow(0, 0, 400).unsqueeze(1)));
      const dir = resid.div(resid.abs().max(1).unsqueeze(1).clamp(1e-30, null)).mul(levels).add(0.5).floor();
      const qAdv = T.cat([dir, dir.neg()], 0).narrow(0, 0, 60).contiguous();
      const adversarial = maxBoundRatio(qAdv, docs, levels);
      for (const [what, r] of Object.entries(adversarial)) {
        assert.ok(r <= 1, `|exact − ${what}| exceeds its bound on adversarial pairs (ratio ${r}) ${tag}`);
        // Not vacuous: adversarial pairs reach more than half of it, so halving it would fail just above.
        assert.ok(r > 0.5, `adversarial pairs reach only ${r} of the ${what} bound ${tag}`);
      }
    });
  }
});

test('int8 engine: sharded file search equals the in-memory search; non-finite rows are refused; nothing leaks', { skip }, () => {
  const seed = testSeed(174);
  T.manualSeed(seed);
  const dir = tmpDir();
  try {
    T.tidy(() => {
      const docs = T.randn([4000, 26]);
      const q = T.randn([7, 26]);
      const file = path.join(dir, 'docs.emb');
      writeEmbeddingsFile(file, docs);
      using mem = DenseSearcher.fromTensor(docs, { engine: 'int8' });
      using sharded = DenseSearcher.fromFile(file, { engine: 'int8', maxMemoryBytes: (4000 * 26 * 4) / 2 });
      assert.equal(sharded.mode, 'sharded');
      assert.equal(sharded.engine, 'int8');
      assert.ok(sharded.shards > 1);
      assert.deepEqual(hitRows(sharded.search(q, 30), 7), hitRows(mem.search(q, 30), 7), `seed=${seed}`);
      const bad = docs.clone();
      bad.narrow(0, 17, 1).fill_(Number.NaN);
      assert.throws(() => T.int8Quantize(bad, true), /row 17 holds a non-finite value/);
      assert.throws(() => DenseSearcher.fromTensor(bad, { engine: 'int8' }), /NaN or Inf/);
      assert.throws(() => mem.search(T.full([1, 26], Number.POSITIVE_INFINITY), 5), /NaN or Inf/);
      // Scores that could leave float32's range are refused, not screened into NaN.
      assert.throws(() => mem.search(T.full([1, 26], 1e36), 5), /overflow float32 in the int8 engine/);
      using big = DenseSearcher.fromTensor(docs.mul(1e36), { engine: 'int8' });
      assert.throws(() => big.search(q, 5), /overflow float32 in the int8 engine/);
      // A kernel this CPU lacks (or a typo) is named; the AVX2 kernel refuses 8-bit query codes (its int16 pair
      // sums would saturate) rather than screen wrongly.
      assert.throws(() => int8Isa({ DRHARD_INT8_ISA: 'sse9' }), /DRHARD_INT8_ISA=sse9: this CPU runs only avx/);
      if (T.int8ScreenIsas().includes('avx2')) {
        using c = Int8Copy.build(docs);
        const qc = T.int8Quantize(q, false, 127);
        assert.throws(
          () => T.int8ScreenedTopk(q, docs, { ...qc, err: T.zeros([14]) }, c.codes, 0, INT8_REL, 5, { isa: 'avx2', qOffset: 128 }),
          /'avx2' screen needs query codes <= 127/,
        );
        assert.equal(int8QueryLevels('avx2'), 63);
      }
    });
    const before = T.liveTensors();
    T.tidy(() => {
      const docs = T.randn([300, 8]);
      for (let i = 0; i < 3; i++) {
        using c = Int8Copy.build(docs);
        c.search(T.randn([4, 8]), docs, 7);
      }
    });
    assert.equal(T.liveTensors(), before);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
