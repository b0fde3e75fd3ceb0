// The int8 screened engine, with each kernel this CPU runs (AVX512-VNNI, the 256-bit VNNI kernel, AVX2): the same ids and scores as the fp32 engine and the float64 brute force, to
// the bit, on seeded data with ties, near duplicates below the screen's resolution, wildly different norms, zero
// vectors, k > N, D not a multiple of 4 and N not a multiple of the 32-document panel; its error bound holds on
// random and adversarial pairs and is tight enough that half of it fails; the bound is load-bearing; sharded search.
// Skipped on CPUs without AVX2 (the engine is not offered there). The coding itself (T.int8Quantize) runs on every
// CPU: checked against a JavaScript reference of its definition, for 127, 63 and 1 levels, and for bit-identical
// outputs from each native path (DRHARD_INT8_QUANT_ISA).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../../src/tensor/index.ts';
import { DenseSearcher } from '../../src/retrieval/search.ts';
import { INT8_REL, Int8Copy, int8Isa, int8QueryCodes, int8QueryLevels, int8Tiny } from '../../src/retrieval/screen.ts';
import { withEnv } from '../helpers/env.ts';
import { seededRng, testSeed } from '../helpers/seed.ts';
import { bruteForceTopK, hitRows, rowLists, tmpDir, writeEmbeddingsFile } from './helpers.ts';

const skip = T.int8ScreenSupported() ? false : 'this CPU lacks AVX2: no int8 engine';

/** Runs `fn` with every int8 kernel this CPU has (DRHARD_INT8_ISA). */
function forEachIsa(fn: (isa: string) => void): void {
  for (const isa of T.int8ScreenIsas()) withEnv({ DRHARD_INT8_ISA: isa }, () => fn(isa));
}

/** forEachIsa with libtorch seeded (DRHARD_TEST_SEED, else `fallback`) before each kernel; `tag` names kernel and seed. */
function forEachIsaSeeded(fallback: number, fn: (tag: string) => void): void {
  const seed = testSeed(fallback);
  forEachIsa((isa) => {
    T.manualSeed(seed);
    fn(`isa=${isa} seed=${seed} (DRHARD_TEST_SEED=${seed} to replay)`);
  });
}

/** Round half to even (std::nearbyint under the default rounding mode); infinities and NaN pass through. */
function rne(v: number): number {
  if (!Number.isFinite(v)) return v;
  const f = Math.floor(v);
  const d = v - f;
  return d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
}

/**
 * int8Quantize's definition for one float32 row with L levels: s = fl32(max|x| / L), inv = fl32(1/s) (0 for s = 0),
 * code = nearbyint(fl32(x·inv)) clamped to ±L, where an unordered product (0·inf: s subnormal below 2^-128, so 1/s
 * overflows) takes −L as the C++ clamp max(−L, ·) does; float64 norms of x, x − s·code, s·code (summed plainly).
 */
function refRow(x: Float32Array, L: number): { codes: number[]; scale: number; sum: number; norms: number[] } {
  let mx = 0;
  for (const v of x) mx = Math.max(mx, Math.abs(v));
  const s = Math.fround(mx / L);
  const inv = s > 0 ? Math.fround(1 / s) : 0;
  const codes = Array.from(x, (v) => {
    const r = rne(Math.fround(v * inv));
    const c = r > -L ? Math.min(r, L) : -L;
    return c === 0 ? 0 : c; // −0 is code 0
  });
  let n = 0;
  let r2 = 0;
  let q2 = 0;
  codes.forEach((c, i) => {
    const v = x[i] as number;
    n += v * v;
    r2 += (v - s * c) ** 2;
    q2 += (s * c) ** 2;
  });
  return { codes, scale: s, sum: codes.reduce((a, b) => a + b, 0), norms: [Math.sqrt(n), Math.sqrt(r2), Math.sqrt(q2)] };
}

/** Seeded float32 rows [n, D] that exercise the coding: gaussians over 20 orders of magnitude, exact .5 ties, zero
 * rows, subnormal rows (s = 0, s subnormal with 1/s overflowing, half zeros), rows with one huge value. */
function quantizeCases(rng: { float(): number; int(n: number): number }, D: number, L: number): Float32Array[] {
  const rows: Float32Array[] = [];
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rng.float())) * Math.cos(2 * Math.PI * rng.float());
  for (let r = 0; r < 24; r++) {
    const scale = Math.exp(rng.float() * 46 - 23);
    rows.push(Float32Array.from({ length: D }, () => gauss() * scale));
  }
  for (const e of [-140, -20, 0, 30]) {
    // (k + 0.5)·2^e with one value L·2^e: s = 2^e exactly, so x/s = k + 0.5 is a tie for every other dimension.
    const row = Float32Array.from({ length: D }, () => (rng.int(2 * L) - L + 0.5) * 2 ** e);
    row[rng.int(D)] = (rng.int(2) === 0 ? L : -L) * 2 ** e;
    rows.push(row);
  }
  rows.push(new Float32Array(D));
  for (const m of [1e-44, 1e-40, 3e-38, 1e-37]) {
    rows.push(Float32Array.from({ length: D }, (_, i) => (i % 2 === 0 || D === 1 ? gauss() * m : 0)));
  }
  const big = Float32Array.from({ length: D }, () => gauss());
  big[rng.int(D)] = 3e38;
  rows.push(big);
  return rows;
}

test('int8Quantize equals the JavaScript reference of its definition: 127, 63 and 1 levels, rows and panels, ties, zeros, subnormals, any D', () => {
  const { rng, tag } = seededRng(175);
  for (const D of [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 100, 768]) {
    for (const L of [127, 63, 1]) {
      for (const panels of L === 127 ? [false, true] : [false]) {
        T.tidy(() => {
          const rows = quantizeCases(rng, D, L);
          const n = rows.length;
          const flat = new Float32Array(n * D);
          rows.forEach((r, i) => flat.set(r, i * D));
          const got = T.int8Quantize(T.tensor(flat, { shape: [n, D] }), panels, L);
          const Dp = Math.ceil(D / 4) * 4;
          const Np = panels ? Math.ceil(n / 32) * 32 : n;
          const bytes = panels ? new Uint8Array(got.codes.to('uint8').toInt32Array()) : new Uint8Array(got.codes.toInt32Array());
          assert.equal(bytes.length, Np * Dp);
          const scale = got.scale.toFloat32Array();
          const sum = got.sum.toInt32Array();
          const norms = got.norms.toFloat64Array();
          assert.equal(scale.length, Np);
          const what = (r: number): string => `D=${D} levels=${L} ${panels ? 'panels' : 'rows'} row ${r} ${tag}`;
          for (let r = 0; r < Np; r++) {
            const want = r < n ? refRow(rows[r] as Float32Array, L) : { codes: [], scale: 0, sum: 0, norms: [] };
            const codes = Array.from({ length: Dp }, (_, i) => {
              const b = panels ? (bytes[Math.floor(r / 32) * 32 * Dp + 128 * Math.floor(i / 4) + 4 * (r % 32) + (i % 4)] as number) : (bytes[r * Dp + i] as number);
              return panels ? (b << 24) >> 24 : b - (L + 1); // int8, or the biased byte code + L + 1
            });
            assert.deepEqual(codes, [...want.codes, ...Array.from({ length: r < n ? Dp - D : Dp }, () => 0)], `codes ${what(r)}`);
            assert.equal(scale[r], want.scale, `scale ${what(r)}`);
            assert.equal(sum[r], want.sum, `sum ${what(r)}`);
            for (let j = 0; r < n && j < 3; j++) {
              const a = norms[3 * r + j] as number;
              const b = want.norms[j] as number;
              assert.ok(Math.abs(a - b) <= D * 2 ** -52 * b + 1e-300, `norm ${j}: ${a} vs ${b} ${what(r)}`);
            }
          }
          // Query bytes lie in 1…2L + 1 (1…127 at 63 levels: vpmaddubsw's pair sums 2·127·127 stay below 2^15).
          if (!panels) for (const b of bytes) assert.ok(b >= 1 && b <= 2 * L + 1, `byte ${b} outside 1…${2 * L + 1} D=${D} levels=${L} ${tag}`);
        });
      }
    }
  }
});

test('int8Quantize: the AVX-512, AVX2 and generic paths give the same bytes (DRHARD_INT8_QUANT_ISA)', () => {
  const { rng, tag } = seededRng(176);
  const run = (isa: string, x: T.Tensor, panels: boolean, L: number): Uint8Array[] | null => {
    try {
      const r = withEnv({ DRHARD_INT8_QUANT_ISA: isa }, () => T.int8Quantize(x, panels, L));
      return [r.codes.to('uint8').toInt32Array(), r.scale.toFloat32Array(), r.sum.toInt32Array(), r.norms.toFloat64Array()].map((a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    } catch (e) {
      if (isa !== 'generic' && /this CPU lacks/.test(String(e))) return null;
      throw e;
    }
  };
  let compared = 0;
  for (const D of [1, 3, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 100, 128, 130, 768]) {
    for (const [panels, L] of [[true, 127], [false, 127], [false, 63], [false, 1]] as const) {
      T.tidy(() => {
        const rows = quantizeCases(rng, D, L);
        const n = rows.length + 40; // 73 rows: the last panel ragged, several threads' slices
        const flat = new Float32Array(n * D);
        rows.forEach((r, i) => flat.set(r, i * D));
        for (let i = rows.length * D; i < n * D; i++) flat[i] = (rng.float() - 0.5) * 10;
        const x = T.tensor(flat, { shape: [n, D] });
        const generic = run('generic', x, panels, L) as Uint8Array[];
        for (const isa of ['avx2', 'avx512', 'auto']) {
          const got = run(isa, x, panels, L);
          if (got === null) continue;
          ['codes', 'scale', 'sum', 'norms'].forEach((name, i) => assert.deepEqual(got[i], generic[i], `${name}: ${isa} vs generic, D=${D} levels=${L} ${panels ? 'panels' : 'rows'} ${tag}`));
          compared++;
        }
      });
    }
  }
  assert.ok(compared > 0);
  withEnv({ DRHARD_INT8_QUANT_ISA: 'sse9' }, () =>
    assert.throws(() => T.int8Quantize(T.zeros([2, 3]), false), /DRHARD_INT8_QUANT_ISA must be auto, generic, avx2 or avx512 \(got "sse9"\)/),
  );
  for (const isa of ['generic', 'avx2', 'avx512']) {
    const bad = T.randn([40, 19]);
    bad.narrow(0, 33, 1).narrow(1, 18, 1).fill_(Number.POSITIVE_INFINITY);
    withEnv({ DRHARD_INT8_QUANT_ISA: isa }, () => assert.throws(() => T.int8Quantize(bad, true), /row 33 holds a non-finite value|this CPU lacks/, isa));
    bad.dispose();
  }
});

test('int8Quantize refuses levels outside 1…127 and fewer levels for document panels', () => {
  const x = T.randn([5, 8]);
  try {
    for (const L of [0, -1, 128, 255]) assert.throws(() => T.int8Quantize(x, false, L), new RegExp(`int8Quantize: levels must be in 1…127 \\(got ${L}\\)`));
    assert.throws(() => T.int8Quantize(x, false, 63.5), /levels must be an integer in 1…127 \(got 63.5\)/);
    assert.throws(() => T.int8Quantize(x, true, 63), /document panels are always coded with 127 levels \(got 63\)/);
    // The default is 127: today's codes.
    T.tidy(() => assert.deepEqual(T.int8Quantize(x, false).codes.toInt32Array(), T.int8Quantize(x, false, 127).codes.toInt32Array()));
  } finally {
    x.dispose();
  }
});

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
  forEachIsaSeeded(171, (tag) => {
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

test('lowK rising with every candidate: ascending, descending and tied scores at the k-th place, every kernel', { skip }, () => {
  forEachIsaSeeded(175, (tag) => {
    // D = 64 appends screened candidates directly, D = 300 refines them first.
    for (const D of [64, 300]) T.tidy(() => {
      const R = 40;
      const q = T.randn([3, D]);
      const dir = q.narrow(0, 0, 1);
      // Documents along the first query at increasing scores, steps far wider than the int8 bound (each new candidate
      // raises lowK, and the k-th best is separated from the (k-1)-th), the same descending (the k-th place is known
      // early), and blocks of exact copies straddling the k-th place (k = 25: ~10 ramp documents score above them),
      // within a panel and across panels.
      const up = T.arange(0, R).to('float32').div(R).unsqueeze(1);
      const noise = (): T.Tensor => T.randn([R, D]).mul(0.01);
      const ramp = dir.mul(up).add(noise());
      const rampDown = dir.mul(up.neg().add(1 - 0.5 / R)).add(noise()); // half a step above each ascending one
      const copies = dir.mul(0.87).expand([40, D]);
      const docs = T.cat([ramp, copies, T.randn([300, D]).mul(0.5), rampDown, copies], 0).contiguous();
      for (const k of [1, 5, 25]) assertSameAsFp32(docs, q, k, `ramps and copies D=${D} k=${k} ${tag}`);
    });
  });
});

test('near duplicates straddling the k-th place, below int8 resolution: only the bound keeps them exact, every kernel', { skip }, () => {
  forEachIsaSeeded(172, (tag) => {
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
      const noBound = c.search(q, docs, k, { errScale: 0 });
      const ref = bruteForceTopK(q, docs, k, 'float64');
      assert.notDeepEqual(rowLists(noBound.ids, 6, k), ref.ids, `the data should defeat an unbounded screen D=${D} ${tag}`);
  });
  });
});

/**
 * The largest |rescored − screen| / bound over every pair of q and docs, recomputing the kernel's screen value
 * fl(fl(q̂·d̂)·fl(s_q·s_d)) from the codes and the bound from the copy's per-document terms; and the same for the
 * refinement the kernels apply at D >= 256, R = s_d·(s_q·q̂·d̂ + s2·q̂2·d̂) with the codes q̂2 of the query's screen
 * residual (int8QueryCodes), whose bound has the document's residual term and ||r − s2·q̂2||·c_d.
 */
function maxBoundRatio(q: T.Tensor, docs: T.Tensor, levels: number): { screen: number; refined: number } {
  return T.tidy(() => {
    const [N, D] = docs.shape as [number, number];
    const B = q.size(0);
    const Dp = Math.ceil(D / 4) * 4;
    using c = Int8Copy.build(docs);
    const Np = c.codes.scale.size(0);
    const qc = int8QueryCodes(q, levels);
    const qHat = qc.codes.to('float64').sub(levels + 1);
    const qHat2 = qc.codes2.to('float64').sub(levels + 1);
    const dHat = c.codes.codes.view([Np / 32, Dp / 4, 32, 4]).permute([0, 2, 1, 3]).reshape([Np, Dp]).narrow(0, 0, N).to('float64');
    const I = qHat.matmul(dHat.t()).toFloat64Array(); // exact: integers below 2^53
    const I2 = qHat2.matmul(dHat.t()).toFloat64Array();
    const exact = q.to('float64').matmul(docs.to('float64').t()).toFloat64Array();
    const sq = qc.scale.toFloat32Array();
    const sq2 = qc.scale2.toFloat32Array();
    const sd = c.codes.scale.toFloat32Array();
    const qn = qc.norms;
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
        const R = (sd[d] as number) * ((sq[b] as number) * (I[b * N + d] as number) + (sq2[b] as number) * (I2[b * N + d] as number));
        const boundR = (qn[3 * b] as number) * (de[d] as number) + (qn[3 * b + 2] as number) * (de[Np + d] as number) + tiny;
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
        const qc = int8QueryCodes(q, 127);
        const qc7 = int8QueryCodes(q, 63);
        const screenWith = (codes: T.Tensor, codes2: T.Tensor): unknown =>
          T.int8ScreenedTopk(q, docs, { codes, scale: qc.scale, codes2, scale2: qc.scale2, err: T.zeros([21]) }, c.codes, 0, INT8_REL, 5, { isa: 'avx2', qOffset: 128 });
        // Either set of codes: the refinement's pass through vpmaddubsw as the screen's do.
        assert.throws(() => screenWith(qc.codes, qc7.codes2), /'avx2' screen needs query codes <= 127/);
        assert.throws(() => screenWith(qc7.codes, qc.codes2), /'avx2' screen needs query codes <= 127/);
        // Refinement codes of another shape are refused, not read past their end.
        assert.throws(
          () => T.int8ScreenedTopk(q, docs, { ...qc, codes2: qc.codes2.narrow(0, 0, 3).contiguous(), err: T.zeros([21]) }, c.codes, 0, INT8_REL, 5, { isa: 'avx2', qOffset: 128 }),
          /refinement codes must be contiguous uint8 \[B, Dp\]/,
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

test('int8 engine over a file too big to load: the int8 copy in memory, rows rescored from the file; same results; bad rows named', { skip }, () => {
  const seed = testSeed(176);
  T.manualSeed(seed);
  const dir = tmpDir();
  try {
    T.tidy(() => {
      // N not a multiple of 32: the last block ends in a ragged panel.
      const [N, D] = [4001, 64];
      const docs = T.randn([N, D]).mul(T.rand([N, 1]).mul(3).exp());
      const q = T.randn([9, D]);
      const file = path.join(dir, 'docs.emb');
      writeEmbeddingsFile(file, docs);
      // The float32 rows (1,024,064 bytes) and the float16 ones (512,032 + a block) exceed the budget; the int8 copy
      // (80 bytes a row) and a block fit.
      const budget = 600_000;
      using mem = DenseSearcher.fromTensor(docs, { engine: 'int8' });
      const ref = bruteForceTopK(q, docs, 50, 'float64');
      for (const engine of [undefined, 'int8'] as const) {
        using resident = DenseSearcher.fromFile(file, { engine, maxMemoryBytes: budget });
        assert.equal(resident.mode, 'resident', `engine ${engine}`);
        assert.equal(resident.engine, 'int8');
        const got = hitRows(resident.search(q, 50), 9);
        assert.deepEqual(got, hitRows(mem.search(q, 50), 9), `resident vs in-memory, seed=${seed}`);
        assert.deepEqual(got, ref, `resident vs brute force, seed=${seed}`);
        // Again, on a part of the queries.
        assert.deepEqual(hitRows(resident.search(q.narrow(0, 2, 3), 50), 3), { scores: got.scores.slice(2, 5), ids: got.ids.slice(2, 5) });
        assert.deepEqual(resident.docVectors([4000, 0, 1234]).toFloat32Array(), docs.indexSelect(0, T.tensor(BigInt64Array.from([4000n, 0n, 1234n]))).toFloat32Array());
      }
      // A float16 file: its rows widened as the sharded search widens them (the same results as over the widened rows).
      const halfFile = path.join(dir, 'docs16.emb');
      writeEmbeddingsFile(halfFile, docs, 'float16');
      const widened = docs.to('float16').to('float32');
      using memHalf = DenseSearcher.fromTensor(widened, { engine: 'int8' });
      using half = DenseSearcher.fromFile(halfFile, { maxMemoryBytes: budget });
      using halfSharded = DenseSearcher.fromFile(halfFile, { engine: 'fp32', maxMemoryBytes: budget });
      assert.equal(half.mode, 'resident');
      const gotHalf = hitRows(half.search(q, 50), 9);
      assert.deepEqual(gotHalf, hitRows(memHalf.search(q, 50), 9), `float16 resident vs in-memory, seed=${seed}`);
      assert.deepEqual(gotHalf, hitRows(halfSharded.search(q, 50), 9), `float16 resident vs sharded, seed=${seed}`);
      assert.deepEqual(half.docVectors([5, 4000]).toFloat32Array(), widened.indexSelect(0, T.tensor(BigInt64Array.from([5n, 4000n]))).toFloat32Array());
      // A named engine other than int8 keeps the sharded search; a budget too small for the copy does too.
      using fp32 = DenseSearcher.fromFile(file, { engine: 'fp32', maxMemoryBytes: budget });
      assert.equal(fp32.mode, 'sharded');
      using small = DenseSearcher.fromFile(file, { engine: 'int8', maxMemoryBytes: 300_000 });
      assert.equal(small.mode, 'sharded');
      // Non-finite rows are found while the copy is built, in every block, and named.
      const bad = docs.clone();
      bad.narrow(0, 17, 1).fill_(Number.NaN);
      bad.narrow(0, 3001, 1).fill_(Number.POSITIVE_INFINITY);
      const badFile = path.join(dir, 'bad.emb');
      writeEmbeddingsFile(badFile, bad);
      assert.throws(() => DenseSearcher.fromFile(badFile, { maxMemoryBytes: budget }), (e: Error) => /bad\.emb/.test(e.message) && /17/.test(e.message) && /3001/.test(e.message));
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
