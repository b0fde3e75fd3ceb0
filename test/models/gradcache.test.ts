// Gradient caching equals the plain step: same gradients and, after an AdamW step, the same parameters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { liveTensors, manualSeed, ones, randint, tensor, type Tensor } from '../../src/tensor/index.ts';
import { loadModel } from '../../src/models/checkpoint.ts';
import { gradCacheStep, plainStep, type StepInputs } from '../../src/models/gradcache.ts';
import type { DotModel, TokenBatch } from '../../src/models/dual.ts';
import { AdamW, Lamb, paramGroups } from '../../src/optim/index.ts';
import { FIX, maxAbsDiff, starLoss } from './helpers.ts';

const DIR = path.join(FIX, 'roberta-tiny');

/** A right-padded RoBERTa batch (<s> … </s>, pad 1) with the given lengths. */
function batch(lengths: number[], maxLen: number): TokenBatch {
  const ids: number[][] = [];
  const mask: number[][] = [];
  const body = randint(3, 80, [lengths.length, maxLen]).toArray();
  lengths.forEach((n, i) => {
    ids.push(Array.from({ length: maxLen }, (_, j) => (j >= n ? 1 : j === 0 ? 0 : j === n - 1 ? 2 : body[i * maxLen + j]!)));
    mask.push(Array.from({ length: maxLen }, (_, j) => (j < n ? 1 : 0)));
  });
  return { ids: tensor(ids, { dtype: 'int64' }).keep(), mask: tensor(mask, { dtype: 'int64' }).keep() };
}

manualSeed(3);
const B = 7;
const inputs: StepInputs = {
  queryBatches: [batch([8, 5, 3, 8, 2, 6, 7], 8)],
  docBatches: [batch([12, 9, 4, 12, 7, 5, 10], 12), batch([10, 6, 3, 9, 10, 4, 8], 10)],
};
const rel = tensor(Array.from({ length: B }, (_, i) => Array.from({ length: B }, (_, j) => (i === j ? 0 : 1)))).keep();
const hard = ones([B, B]).keep();
const loss = (q: Tensor[], d: Tensor[]): Tensor => starLoss(q[0]!, d[0]!, d[1]!, rel, hard);

function gradsOf(m: DotModel): Map<string, Tensor> {
  return new Map(m.namedParameters().map(([n, p]) => [n, (p.grad ?? assert.fail(`${n} has no grad`)).keep()]));
}

interface Case {
  mode: 'eval' | 'train';
  chunkSize: number;
  dtype: 'float32' | 'float64';
  optimizer: 'lamb' | 'adamw';
  lr: number;
  /** Allowed gradient error relative to each tensor's largest gradient. */
  gradTol: number;
}

function compare(c: Case): void {
  const a = loadModel(DIR).model.to(c.dtype).train(c.mode === 'train');
  const b = loadModel(DIR).model.to(c.dtype).train(c.mode === 'train');
  manualSeed(11);
  // In train mode the plain step uses the same chunks (and dropout seeds) so the masks agree; in eval mode it
  // encodes each batch whole, the real baseline.
  const la = plainStep(a, inputs, loss, c.mode === 'train' ? c.chunkSize : undefined);
  manualSeed(11);
  const lb = gradCacheStep(b, inputs, loss, c.chunkSize);
  assert.ok(Math.abs(la - lb) <= 1e-6, `loss ${la} vs ${lb}`);
  const ga = gradsOf(a);
  const gb = gradsOf(b);
  for (const [n, g] of ga) {
    const scale = maxAbsDiff(g, g.mul(0));
    const err = maxAbsDiff(g, gb.get(n)!);
    assert.ok(err <= c.gradTol * scale + 1e-9, `${n}: grad error ${err} (scale ${scale})`);
  }
  const make = (m: DotModel) => {
    const groups = paramGroups(m.namedParameters(), { weightDecay: 0.01 });
    return c.optimizer === 'lamb' ? new Lamb(groups, { lr: c.lr, eps: 1e-8 }) : new AdamW(groups, { lr: c.lr, eps: 1e-8 });
  };
  const oa = make(a);
  const ob = make(b);
  oa.step();
  ob.step();
  const pb = b.stateDict();
  let worst = 0;
  let worstName = '';
  let moved = 0;
  for (const [n, p] of a.stateDict()) {
    // A key bias adds q·b to every score of a query's row, which softmax ignores: its gradient is zero up to
    // rounding, and Adam/LAMB normalize that rounding noise into a full-size step whose sign is arbitrary.
    if (n.endsWith('attention.self.key.bias')) continue;
    const d = maxAbsDiff(p, pb.get(n)!);
    if (d > worst) [worst, worstName] = [d, n];
  }
  const fresh = loadModel(DIR).model.to(c.dtype);
  for (const [n, p] of fresh.stateDict()) moved = Math.max(moved, maxAbsDiff(p, pb.get(n)!));
  assert.ok(worst <= 1e-5, `parameters differ by ${worst} after one step (${worstName})`);
  assert.ok(moved > 1e-5, 'the step did not move the parameters');
  for (const g of [...ga.values(), ...gb.values()]) g.dispose();
  for (const m of [a, b, fresh]) m.dispose();
  oa.dispose();
  ob.dispose();
}

// float32: chunking changes GEMM shapes, so gradients agree only to rounding, amplified where per-token terms
// cancel (up to ~1e-4 of a tensor's largest gradient in this tiny model); STAR's optimizer settings (LAMB,
// lr 1e-4) then give parameters within 1e-5.
test('float32, eval: chunks of 3 vs the plain step; one LAMB step (STAR settings)', () =>
  compare({ mode: 'eval', chunkSize: 3, dtype: 'float32', optimizer: 'lamb', lr: 1e-4, gradTol: 3e-4 }));
test('float32, eval: chunk size 1 and chunk size above the batch', () => {
  compare({ mode: 'eval', chunkSize: 1, dtype: 'float32', optimizer: 'lamb', lr: 1e-4, gradTol: 3e-4 });
  compare({ mode: 'eval', chunkSize: 100, dtype: 'float32', optimizer: 'lamb', lr: 1e-4, gradTol: 1e-5 });
});
// float64 removes the rounding noise: the identity is exact up to 1e-10, and even Adam's sign-like first step
// at lr 1e-3 leaves the parameters equal.
test('float64, eval: gradients equal to 1e-10; one AdamW step at lr 1e-3 within 1e-5', () =>
  compare({ mode: 'eval', chunkSize: 3, dtype: 'float64', optimizer: 'adamw', lr: 1e-3, gradTol: 1e-10 }));
test('train mode (dropout 0.1): both passes see the same dropout masks', () =>
  compare({ mode: 'train', chunkSize: 3, dtype: 'float32', optimizer: 'adamw', lr: 1e-4, gradTol: 1e-4 }));

test('gradCacheStep frees its intermediates', () => {
  const { model } = loadModel(DIR);
  gradCacheStep(model, inputs, loss, 4); // first call creates the parameter grads
  const before = liveTensors();
  gradCacheStep(model, inputs, loss, 4);
  assert.equal(liveTensors(), before);
  model.dispose();
});

test('a loss that ignores a batch is a clear error', () => {
  const { model } = loadModel(DIR);
  assert.throws(() => gradCacheStep(model, inputs, (q, d) => q[0]!.sum().add(d[0]!.sum()), 4), /does not depend on input batch 2/);
  model.dispose();
});
