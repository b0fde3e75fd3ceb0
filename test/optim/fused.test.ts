// The fused native optimizer step (one call per step, clip scaling folded in) against the op-by-op path: parameters,
// moments and clipped gradients bit-identical after several steps, at sizes that exercise the vector tails and the
// multi-threaded split; plus the deferred clip's bookkeeping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getNumThreads, manualSeed, noGrad, randn, zeros, type Tensor } from '../../src/tensor/index.ts';
import { AdamW, Lamb, LinearSchedule, paramGroups, type AdamLike } from '../../src/optim/index.ts';
import { testSeed } from '../helpers/seed.ts';

const SEED = testSeed(15);
const TAG = `seed=${SEED} (DRHARD_TEST_SEED=${SEED} to replay), ${getNumThreads()} thread(s)`;
// Odd sizes leave scalar tails after the 16-wide vector loops; 70001 elements is split across threads by libtorch.
const SHAPES: Array<[string, number[]]> = [
  ['enc.dense.weight', [37, 29]],
  ['enc.dense.bias', [29]],
  ['enc.LayerNorm.weight', [17]],
  ['enc.LayerNorm.bias', [1]],
  ['emb.weight', [70001]],
  ['zero.weight', [33]],
  ['frozen.weight', [5]],
];

function bits(t: Tensor): Buffer {
  const d = t.data();
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

function make(kind: 'adamw' | 'lamb', fused: boolean, dtype: 'float32' | 'float64' = 'float32'): { opt: AdamLike; params: Array<[string, Tensor]> } {
  manualSeed(SEED);
  const params = SHAPES.map(([n, s]): [string, Tensor] => [n, (n === 'zero.weight' ? zeros(s, { dtype }) : randn(s, { dtype })).keep().setRequiresGrad(true)]);
  const groups = paramGroups(params, { weightDecay: 0.01 });
  const opts = { lr: 3e-3, betas: [0.9, 0.999] as [number, number], eps: 1e-8, fused };
  return { opt: kind === 'lamb' ? new Lamb(groups, opts) : new AdamW(groups, opts), params };
}

/** Steps with seeded gradients (large ones, so clipping bites); `frozen.weight` gets no gradient on odd steps. */
function run(kind: 'adamw' | 'lamb', fused: boolean, steps: number, clip: number | null, dtype: 'float32' | 'float64' = 'float32') {
  const { opt, params } = make(kind, fused, dtype);
  const sched = new LinearSchedule(opt, { warmupSteps: 2, totalSteps: steps + 2 });
  manualSeed(SEED + 1);
  const norms: number[] = [];
  let grads: Buffer[] = [];
  for (let s = 0; s < steps; s++) {
    for (const [n, p] of params) p.setGrad(n === 'frozen.weight' && s % 2 === 1 ? null : noGrad(() => randn(p.shape, { dtype }).mul(s + 1)));
    if (clip !== null) norms.push(opt.clipGradNorm(params.map(([, p]) => p), clip));
    opt.step();
    // The gradients as step() left them (clipped in place on both paths).
    grads = params.map(([, p]) => {
      const g = p.grad;
      return g ? bits(g) : Buffer.alloc(0);
    });
    sched.step();
    opt.zeroGrad();
  }
  const { tensors } = opt.stateDict();
  const state = new Map([...tensors].map(([k, t]) => [k, bits(t)]));
  const out = { params: params.map(([n, p]) => [n, bits(p)] as const), state, norms, grads, steps: opt.stateDict().meta.steps };
  opt.dispose();
  for (const [, p] of params) p.dispose();
  return out;
}

for (const kind of ['adamw', 'lamb'] as const) {
  for (const clip of [null, 1.0]) {
    test(`${kind}${clip === null ? '' : ' + clip'}: fused step bit-identical to the op-by-op path after 5 steps`, () => {
      const a = run(kind, false, 5, clip);
      const b = run(kind, true, 5, clip);
      assert.deepEqual(b.norms, a.norms, TAG);
      assert.deepEqual(b.steps, a.steps, TAG);
      a.params.forEach(([n, bytes], i) => assert.ok(bytes.equals(b.params[i]![1]), `${n} differs (${TAG})`));
      for (const [k, bytes] of a.state) assert.ok(bytes.equals(b.state.get(k) ?? Buffer.alloc(0)), `state ${k} differs (${TAG})`);
      a.grads.forEach((g, i) => assert.ok(g.equals(b.grads[i]!), `gradient of ${SHAPES[i]![0]} differs (${TAG})`));
      // Guards against two no-op paths agreeing: the parameters moved.
      const { params: init } = make(kind, false);
      init.forEach(([n, p], i) => {
        if (n !== 'zero.weight' || kind === 'adamw') assert.ok(!bits(p).equals(b.params[i]![1]), `${n} did not move (${TAG})`);
        p.dispose();
      });
    });
  }
}

// float64 is not fused: the native call runs libtorch's ops in the op-by-op order (the path CUDA tensors take too).
for (const kind of ['adamw', 'lamb'] as const) {
  test(`${kind} + clip, float64: the native op-by-op fallback is bit-identical to the JavaScript op-by-op path`, () => {
    const a = run(kind, false, 4, 1.0, 'float64');
    const b = run(kind, true, 4, 1.0, 'float64');
    assert.deepEqual(b.norms, a.norms, TAG);
    a.params.forEach(([n, bytes], i) => assert.ok(bytes.equals(b.params[i]![1]), `${n} differs (${TAG})`));
    for (const [k, bytes] of a.state) assert.ok(bytes.equals(b.state.get(k) ?? Buffer.alloc(0)), `state ${k} differs (${TAG})`);
    a.grads.forEach((g, i) => assert.ok(g.equals(b.grads[i]!), `gradient of ${SHAPES[i]![0]} differs (${TAG})`));
  });
}

test('deferred clip: applied by the next step only; zeroGrad discards it; a mismatched set is scaled eagerly', () => {
  const { opt, params } = make('adamw', true);
  const ps = params.map(([, p]) => p);
  manualSeed(SEED + 2);
  for (const p of ps) p.setGrad(noGrad(() => randn(p.shape).mul(100)));
  const before = ps.map((p) => bits(p.grad!));
  const norm = opt.clipGradNorm(ps, 1.0);
  assert.ok(norm > 1, `norm ${norm}`);
  // Not yet scaled: the scale rides on step().
  ps.forEach((p, i) => assert.ok(bits(p.grad!).equals(before[i]!)));
  opt.zeroGrad();
  for (const p of ps) p.setGrad(noGrad(() => randn(p.shape)));
  const g2 = ps.map((p) => bits(p.grad!));
  opt.step();
  ps.forEach((p, i) => assert.ok(bits(p.grad!).equals(g2[i]!), 'a discarded clip must not scale later gradients'));
  // Clip over all, then one gradient disappears before step(): the clipped ones are scaled, none is lost.
  opt.clipGradNorm(ps, 1e-3);
  ps[0]!.setGrad(null);
  opt.step();
  ps.slice(1).forEach((p, i) => assert.ok(!bits(p.grad!).equals(g2[i + 1]!), 'clipped gradient left unscaled'));
  opt.dispose();
});
