// DRhard's training losses (inbatch_train, randneg_train, ADORE's per-query RankNet) against PyTorch references.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { liveTensors, tensor, tidy, type Tensor } from '../../src/tensor/index.ts';
import { readStateDict } from '../../src/models/checkpoint.ts';
import { inbatchLoss, pairMask } from '../../src/losses/star.ts';
import { randnegLoss } from '../../src/losses/randneg.ts';
import { adoreLoss, buildAdoreLists, listTensors } from '../../src/losses/adore.ts';

const FIX = path.join(import.meta.dirname, '..', 'fixtures', 'losses');

function load(name: string): Map<string, Tensor> {
  const m = readStateDict(path.join(FIX, `${name}.safetensors`));
  for (const t of m.values()) t.keep();
  return m;
}
function get(m: Map<string, Tensor>, k: string): Tensor {
  return m.get(k) ?? assert.fail(`fixture lacks ${k}`);
}
/** Max |a − b| relative to max |b| (absolute when b is all zero). */
function rel(a: Tensor, b: Tensor): number {
  return tidy(() => {
    const d = a.to('float64').sub(b.to('float64')).abs().max().item();
    const s = b.to('float64').abs().max().item();
    return s === 0 ? d : d / s;
  });
}
const tolFor = (name: string): number => (name.endsWith('f64') ? 1e-12 : 1e-6);
/** Fresh leaves with gradients, so the test computes its own backward. */
function leaf(t: Tensor): Tensor {
  return t.detach().clone().setRequiresGrad(true);
}

for (const name of ['star_f32', 'star_f64', 'star_nomask_f32', 'inbatch_f32', 'inbatch_nomask_f32']) {
  test(`inbatch_train parity: ${name}`, () => {
    const f = load(name);
    const before = liveTensors();
    tidy(() => {
      const q = leaf(get(f, 'q'));
      const d = leaf(get(f, 'd'));
      const h = f.has('h') ? leaf(get(f, 'h')) : null;
      const loss = inbatchLoss({ queries: q, positives: d, hard: h, relMask: f.get('rel') ?? null, hardMask: f.get('hard') ?? null });
      assert.equal(loss.dtype, q.dtype);
      assert.ok(rel(loss.reshape([1]), get(f, 'loss')) <= tolFor(name), `loss ${loss.item()} vs ${get(f, 'loss').item()}`);
      loss.backward();
      assert.ok(rel(q.grad!, get(f, 'dq')) <= tolFor(name), 'dq');
      assert.ok(rel(d.grad!, get(f, 'dd')) <= tolFor(name), 'dd');
      if (h) assert.ok(rel(h.grad!, get(f, 'dh')) <= tolFor(name), 'dh');
    });
    assert.equal(liveTensors(), before, 'inbatchLoss leaks tensors');
    for (const t of f.values()) t.dispose();
  });
}

test('false-negative masking changes the loss, and masks built from qrels equal the fixture masks', () => {
  const f = load('star_f32');
  tidy(() => {
    // The fixture's relevance: query i's positive is doc 100+i; doc 100 is relevant to query 3, doc 103 to query 1;
    // hard docs are 200+k, with 205 relevant to query 2 and 200 to query 0.
    const relevant = [new Set([100, 200]), new Set([101, 103]), new Set([102, 205]), new Set([103, 100]), new Set([104]), new Set([105])];
    const rm = pairMask(relevant, [100, 101, 102, 103, 104, 105]);
    const hm = pairMask(relevant, Array.from({ length: 12 }, (_, k) => 200 + k));
    assert.deepEqual(rm.toArray(), get(f, 'rel').toArray());
    assert.deepEqual(hm.toArray(), get(f, 'hard').toArray());
    const masked = inbatchLoss({ queries: get(f, 'q'), positives: get(f, 'd'), hard: get(f, 'h'), relMask: rm, hardMask: hm }).item();
    const unmasked = inbatchLoss({ queries: get(f, 'q'), positives: get(f, 'd'), hard: get(f, 'h') }).item();
    assert.ok(Math.abs(masked - get(f, 'loss').item()) <= 1e-6 * Math.abs(masked));
    assert.ok(Math.abs(masked - unmasked) > 1e-3, `masking had no effect: ${masked} vs ${unmasked}`);
  });
  for (const t of f.values()) t.dispose();
});

test('half-precision embeddings are scored in float32', () => {
  const f = load('star_f32');
  tidy(() => {
    const loss = inbatchLoss({ queries: get(f, 'q').to('bfloat16'), positives: get(f, 'd').to('bfloat16'), hard: get(f, 'h').to('bfloat16') });
    assert.equal(loss.dtype, 'float32');
  });
  for (const t of f.values()) t.dispose();
});

for (const name of ['randneg_f32', 'randneg_f64', 'randneg_nomask_f32']) {
  test(`randneg_train parity: ${name}`, () => {
    const f = load(name);
    tidy(() => {
      const q = leaf(get(f, 'q'));
      const d = leaf(get(f, 'd'));
      const r = leaf(get(f, 'r'));
      const loss = randnegLoss({ queries: q, positives: d, random: r, mask: f.get('mask') ?? null });
      assert.ok(rel(loss.reshape([1]), get(f, 'loss')) <= tolFor(name), `loss ${loss.item()} vs ${get(f, 'loss').item()}`);
      loss.backward();
      assert.ok(rel(q.grad!, get(f, 'dq')) <= tolFor(name), 'dq');
      assert.ok(rel(d.grad!, get(f, 'dd')) <= tolFor(name), 'dd');
      assert.ok(rel(r.grad!, get(f, 'dr')) <= tolFor(name), 'dr');
    });
    for (const t of f.values()) t.dispose();
  });
}

for (const name of ['adore_cut200_f32', 'adore_cut200_f64', 'adore_cut5_f32', 'adore_cut8_append_f32']) {
  test(`ADORE loss parity (labels, appended positives, metric cut): ${name}`, () => {
    const f = load(name);
    tidy(() => {
      const retrieved = get(f, 'retrieved');
      const [B, k] = retrieved.shape as [number, number];
      const posRows = get(f, 'positives').toArray();
      const P = get(f, 'positives').size(1);
      const positives = Array.from({ length: B }, (_, b) => posRows.slice(b * P, (b + 1) * P).filter((x) => x >= 0));
      const lists = buildAdoreLists(retrieved.toInt32Array(), k, positives, { appendMissingPositives: name.includes('append') });
      // Query 1 retrieved no positive: both are appended after the list (ranks k+1, k+2).
      assert.equal(lists.appended[1], 2);
      assert.equal(lists.lengths[1], k + 2);
      assert.equal(lists.appended[2], name.includes('append') ? 1 : 0);
      assert.ok(Math.abs(lists.mrr10.reduce((a, b) => a + b, 0) - get(f, 'mrr_sum').item()) < 1e-12);
      assert.equal(lists.recall10.reduce((a, b) => a + b, 0), get(f, 'recall_sum').item());
      const q = leaf(get(f, 'q'));
      const t = listTensors(lists);
      const docs = get(f, 'emb').indexSelect(0, t.ids.flatten()).reshape([B, lists.L, -1]); // [B, L, D]
      const scores = docs.bmm(q.unsqueeze(2)).squeeze(2); // [B, L]
      const { loss } = adoreLoss({ scores, labels: t.labels, valid: t.valid, metricCut: get(f, 'metric_cut').item() });
      assert.ok(rel(loss.reshape([1]), get(f, 'loss')) <= tolFor(name), `loss ${loss.item()} vs ${get(f, 'loss').item()}`);
      loss.backward();
      assert.ok(rel(q.grad!, get(f, 'dq')) <= tolFor(name), 'dq');
    });
    for (const t of f.values()) t.dispose();
  });
}

test('ADORE: a metric cut of 0 is refused (DRhard\'s None cut silently zeroes the loss)', () => {
  tidy(() => {
    const s = tensor([[1, 2, 3]]);
    const l = tensor([[1, 0, 0]]);
    assert.throws(() => adoreLoss({ scores: s, labels: l, valid: tensor([[1, 1, 1]]), metricCut: 0 }), /metricCut/);
    assert.throws(() => adoreLoss({ scores: s, labels: l, valid: tensor([[1, 1, 1]]), metricCut: Number.NaN }), /metricCut/);
  });
});

test('ADORE: padding and -1 (ANN "no result") slots are ignored', () => {
  tidy(() => {
    // Two queries; the second list has a -1 hole at the end (an ANN index returning fewer than k).
    const lists = buildAdoreLists([5, 7, 9, 4, 6, -1], 3, [[7], [6]]);
    assert.deepEqual(lists.lengths, [3, 2]);
    assert.equal(lists.L, 3);
    assert.deepEqual(Array.from(lists.valid), [1, 1, 1, 1, 1, 0]);
    const t = listTensors(lists);
    const base = tensor([[0.5, 0.2, 0.1], [0.3, 0.9, 0.0]]);
    const poisoned = tensor([[0.5, 0.2, 0.1], [0.3, 0.9, 1e4]]);
    const a = adoreLoss({ scores: base, labels: t.labels, valid: t.valid, metricCut: 200 }).loss.item();
    const b = adoreLoss({ scores: poisoned, labels: t.labels, valid: t.valid, metricCut: 200 }).loss.item();
    assert.equal(a, b);
    // By hand: query 0 has one pair (7 at rank 2 vs 5 rank 1, 9 rank 3); query 1: 6 at rank 2 vs 4 at rank 1.
    const sp = (x: number): number => Math.log1p(Math.exp(x));
    const q0 = ((1 - 1 / 2) * sp(0.5 - 0.2) + (1 / 2 - 1 / 3) * sp(0.1 - 0.2)) / 2;
    const q1 = (1 - 1 / 2) * sp(0.3 - 0.9);
    assert.ok(Math.abs(a - (q0 + q1) / 2) < 1e-6, `${a} vs ${(q0 + q1) / 2}`);
  });
});
