// drhard's CPU dropout noise (native/src/dropout_core.cpp): values, keep rate, independence of thread split and of
// the range generated, seeding through libtorch's generator, and the Dropout module's forward/backward and parity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dropoutNoise, getNumThreads, getRngState, manualSeed, ones, randn, setNumThreads, setRngState, tidy } from '../../src/tensor/index.ts';
import { Dropout } from '../../src/nn/layers.ts';
import { testSeed } from '../helpers/seed.ts';

const SEED = testSeed(20261206);
const tag = `seed=${SEED} (DRHARD_TEST_SEED=${SEED} to replay)`;
const seed64 = (s: number): bigint => BigInt.asUintN(64, BigInt(s) * 0x9e3779b97f4a7c15n);

test('noise is 0 or float32(1/(1-p)), kept at rate 1-p, adjacent elements independent', () => {
  tidy(() => {
    for (const p of [0.1, 0.5, 0.9]) {
      const n = 200_001; // odd: the last pair's second half is not written
      const v = dropoutNoise(ones([n]), p, seed64(SEED)).toArray();
      const scale = Math.fround(1 / Math.fround(1 - p));
      assert.ok(v.every((x) => x === 0 || x === scale), `p=${p}: values other than 0 and ${scale} (${tag})`);
      const kept = v.filter((x) => x !== 0).length;
      const sd = Math.sqrt(n * p * (1 - p));
      assert.ok(Math.abs(kept - n * (1 - p)) < 5 * sd, `p=${p}: kept ${kept} of ${n} (${tag})`);
      // Both halves of one 64-bit draw: dropped together at rate p², not more.
      let both = 0;
      for (let i = 0; i + 1 < n; i += 2) if (v[i] === 0 && v[i + 1] === 0) both++;
      const pairs = (n - 1) / 2;
      assert.ok(Math.abs(both - pairs * p * p) < 5 * Math.sqrt(pairs * p * p * (1 - p * p)), `p=${p}: ${both} pairs both dropped of ${pairs} (${tag})`);
    }
  });
});

test('noise depends only on (seed, element): same for any thread count and any length prefix', () => {
  const before = getNumThreads();
  try {
    tidy(() => {
      const s = seed64(SEED + 1);
      const long = dropoutNoise(ones([3, 70_001]), 0.1, s).toArray();
      setNumThreads(1);
      const one = dropoutNoise(ones([3, 70_001]), 0.1, s).toArray();
      assert.deepEqual(one, long, tag);
      setNumThreads(Math.max(2, before));
      const short = dropoutNoise(ones([40_001]), 0.1, s).toArray();
      assert.deepEqual(short, long.slice(0, 40_001), tag);
      const other = dropoutNoise(ones([40_001]), 0.1, s + 1n).toArray();
      assert.notDeepEqual(other, short, tag);
    });
  } finally {
    setNumThreads(before);
  }
});

test("without a seed, one draw of libtorch's generator decides the noise: manualSeed and saved states replay it", () => {
  tidy(() => {
    const x = ones([10_000]);
    manualSeed(SEED);
    const a = dropoutNoise(x, 0.2).toArray();
    const state = getRngState();
    const b = dropoutNoise(x, 0.2).toArray();
    manualSeed(SEED);
    assert.deepEqual(dropoutNoise(x, 0.2).toArray(), a, tag);
    setRngState(state);
    assert.deepEqual(dropoutNoise(x, 0.2).toArray(), b, tag);
    assert.notDeepEqual(a, b, tag);
  });
});

test('noise keeps the dtype of its input (mixed precision) and rejects p outside [0, 1)', () => {
  tidy(() => {
    const n = dropoutNoise(ones([1000], { dtype: 'bfloat16' }), 0.1, 7n);
    assert.equal(n.dtype, 'bfloat16');
    assert.throws(() => dropoutNoise(ones([4]), 1, 7n), /p must be in \[0, 1\)/);
    assert.throws(() => dropoutNoise(ones([4]), -0.1, 7n), /p must be in \[0, 1\)/);
  });
});

test('Dropout: input · noise forward, noise backward; parity uses libtorch (PyTorch stream), eval is identity', () => {
  tidy(() => {
    const d = new Dropout(0.25).train();
    manualSeed(SEED);
    const x = randn([64, 33]).setRequiresGrad();
    const y = d.forward(x);
    y.sum().backward();
    const g = x.grad ?? assert.fail('no gradient');
    const scale = Math.fround(1 / 0.75);
    const ys = y.toArray();
    const xs = x.toArray();
    g.toArray().forEach((gi: number, i: number) => {
      assert.ok(gi === 0 || gi === scale, `gradient ${gi} at ${i} (${tag})`);
      assert.equal(ys[i], Math.fround(xs[i]! * gi), `output at ${i} (${tag})`);
    });
    // The same seed and shape through libtorch's dropout: a different (PyTorch's) stream.
    manualSeed(SEED);
    const x2 = randn([64, 33]);
    d.parity = true;
    const mask = d.forward(x2).ne(0).toArray();
    d.parity = false;
    assert.notDeepEqual(mask, y.ne(0).toArray(), tag);
    d.eval();
    assert.deepEqual(d.forward(x2).toArray(), x2.toArray());
  });
});
