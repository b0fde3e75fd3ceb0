// nn: parameter names equal HF checkpoint keys, init statistics, train/eval, state dicts, dtype/device moves,
// and the basic layers against direct tensor math.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { liveTensors, noGrad, ones, randn, tensor, tidy } from '../../src/tensor/index.ts';
import { Dropout, Embedding, LayerNorm, Linear } from '../../src/nn/layers.ts';
import { Module, StateDictError } from '../../src/nn/module.ts';
import { createModel } from '../../src/models/dual.ts';
import { readSafetensors } from '../../src/models/safetensors.ts';
import { maxAbsDiff } from '../models/helpers.ts';

const FIX = path.join(import.meta.dirname, '..', 'fixtures', 'models');
const TINY = { vocabSize: 80, hiddenSize: 24, numHiddenLayers: 2, numAttentionHeads: 3, intermediateSize: 48, maxPositionEmbeddings: 36 };

test('RobertaDot/BertDot parameter names and order equal the HF checkpoint keys', () => {
  for (const family of ['roberta', 'bert'] as const) {
    const model = createModel({ modelType: family, ...TINY, typeVocabSize: family === 'roberta' ? 1 : 2 });
    const keys = [...readSafetensors(path.join(FIX, `${family}-tiny`, 'model.safetensors')).tensors.keys()];
    assert.deepEqual(model.namedParameters().map(([n]) => n), keys);
    assert.ok(keys.includes(`${family}.encoder.layer.0.attention.self.query.weight`) && keys.includes('embeddingHead.weight'));
    model.dispose();
  }
});

test('init: N(0, 0.02) weights, zero biases, LayerNorm 1/0, zero padding rows', () => {
  const model = createModel({ modelType: 'roberta', ...TINY, vocabSize: 2000, hiddenSize: 64, numAttentionHeads: 4, intermediateSize: 128 }, { seed: 1 });
  const sd = model.stateDict();
  const w = sd.get('roberta.embeddings.word_embeddings.weight')!;
  const vals = w.toArray().filter((_, i) => Math.floor(i / 64) !== 1); // row 1 is padding
  const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
  const std = Math.sqrt(vals.reduce((a, b) => a + (b - mean) ** 2, 0) / vals.length);
  assert.ok(Math.abs(mean) < 1e-3 && Math.abs(std - 0.02) < 1e-3, `mean ${mean} std ${std}`);
  assert.deepEqual(w.select(0, 1).toArray(), new Array(64).fill(0));
  assert.deepEqual(sd.get('roberta.embeddings.position_embeddings.weight')!.select(0, 1).toArray(), new Array(64).fill(0));
  for (const [n, t] of sd) {
    if (n.endsWith('.bias')) assert.equal(maxAbsDiff(t, t.mul(0)), 0, n);
    if (n.endsWith('LayerNorm.weight') || n === 'norm.weight') assert.deepEqual(new Set(t.toArray()), new Set([1]), n);
    assert.equal(t.requiresGrad, true, n);
  }
  model.dispose();
});

test('same seed → same init; different seed → different init', () => {
  const a = createModel({ modelType: 'bert', ...TINY }, { seed: 9 });
  const b = createModel({ modelType: 'bert', ...TINY }, { seed: 9 });
  const c = createModel({ modelType: 'bert', ...TINY }, { seed: 10 });
  const k = 'bert.encoder.layer.1.output.dense.weight';
  assert.equal(maxAbsDiff(a.stateDict().get(k)!, b.stateDict().get(k)!), 0);
  assert.ok(maxAbsDiff(a.stateDict().get(k)!, c.stateDict().get(k)!) > 0);
  for (const m of [a, b, c]) m.dispose();
});

class Toy extends Module {
  readonly fc: Linear;
  readonly LayerNorm: LayerNorm;
  readonly drop: Dropout;
  constructor() {
    super();
    this.fc = this.registerModule('fc', new Linear(4, 3));
    this.LayerNorm = this.registerModule('LayerNorm', new LayerNorm(3));
    this.drop = this.registerModule('drop', new Dropout(0.5));
  }
}

test('train/eval propagate to children; dropout is identity in eval', () => {
  const m = new Toy();
  assert.equal(m.drop.training, true);
  m.eval();
  assert.equal(m.drop.training, false);
  tidy(() => {
    const x = randn([64, 64]);
    assert.equal(maxAbsDiff(m.drop.forward(x), x), 0);
    m.train();
    const y = m.drop.forward(ones([1000]));
    const zeros = y.toArray().filter((v) => v === 0).length;
    assert.ok(zeros > 400 && zeros < 600, `${zeros} dropped of 1000`);
    assert.ok(y.toArray().every((v) => v === 0 || v === 2), 'kept values are scaled by 1/(1-p)');
  });
});

test('loadStateDict: strict reports missing/unexpected by name; shape mismatch throws; copies values', () => {
  const m = new Toy();
  const full = new Map([
    ['fc.weight', randn([3, 4])],
    ['fc.bias', randn([3])],
    ['LayerNorm.weight', randn([3])],
    ['LayerNorm.bias', randn([3])],
  ]);
  const partial = new Map([...full].filter(([k]) => k !== 'fc.bias'));
  partial.set('extra.weight', randn([1]));
  assert.throws(
    () => m.loadStateDict(partial),
    (e: unknown) => e instanceof StateDictError && e.message === 'missing keys: fc.bias; unexpected keys: extra.weight',
  );
  const report = m.loadStateDict(partial, { strict: false });
  assert.deepEqual(report, { missing: ['fc.bias'], unexpected: ['extra.weight'] });
  assert.equal(maxAbsDiff(m.fc.weight, full.get('fc.weight')!), 0);
  assert.throws(() => m.loadStateDict(new Map([['fc.weight', randn([4, 3])]]), { strict: false }), /fc\.weight: checkpoint shape \[4, 3\] != model shape \[3, 4\]/);
  m.loadStateDict(full);
  assert.equal(maxAbsDiff(m.fc.bias!, full.get('fc.bias')!), 0);
  // The parameter tensor is the same object (optimizers holding it see the new values).
  assert.equal(m.stateDict().get('fc.weight'), m.fc.weight);
});

test('to(dtype) replaces parameters with leaf tensors of that dtype', () => {
  const m = new Toy();
  const before = m.fc.weight.toArray();
  m.to('float64');
  assert.equal(m.fc.weight.dtype, 'float64');
  assert.equal(m.fc.weight.requiresGrad, true);
  assert.deepEqual(m.fc.weight.toArray(), before);
  assert.equal(m.to('cpu').device, 'cpu');
});

test('Linear, Embedding, LayerNorm agree with direct tensor math', () => {
  tidy(() => {
    const lin = new Linear(5, 2);
    const x = randn([3, 5]);
    assert.ok(maxAbsDiff(lin.forward(x), x.matmul(lin.weight.t()).add(lin.bias!)) < 1e-6);
    const emb = new Embedding(10, 4, { paddingIdx: 0 });
    const ids = tensor([[3, 0, 9]], { dtype: 'int64' });
    const out = emb.forward(ids);
    assert.deepEqual(out.shape, [1, 3, 4]);
    assert.equal(maxAbsDiff(out.select(1, 2), emb.weight.select(0, 9).unsqueeze(0)), 0);
    out.sum().backward();
    const g = emb.weight.grad!;
    assert.deepEqual(g.select(0, 0).toArray(), [0, 0, 0, 0], 'padding row gets no gradient');
    assert.deepEqual(g.select(0, 3).toArray(), [1, 1, 1, 1]);
    const ln = new LayerNorm(6, 1e-12);
    const y = ln.forward(randn([2, 6]).mul(3).add(1));
    noGrad(() => {
      assert.ok(y.mean(-1).abs().max().item() < 1e-6);
      assert.ok(y.pow(2).mean(-1).sub(1).abs().max().item() < 1e-4);
    });
    lin.dispose();
    emb.dispose();
    ln.dispose();
  });
});

test('creating, running and disposing a model leaks no tensors', () => {
  const before = liveTensors();
  const model = createModel({ modelType: 'roberta', ...TINY }, { seed: 2 });
  tidy(() => {
    noGrad(() => model.encode(tensor([[0, 5, 2, 1]], { dtype: 'int64' }), tensor([[1, 1, 1, 0]], { dtype: 'int64' })));
  });
  model.dispose();
  assert.equal(liveTensors(), before);
});
