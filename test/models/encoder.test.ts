// RoBERTa/BERT dual encoders against the PyTorch reference (scripts/fixtures/models_make.py): embeddings of
// padded batches in both checkpoint formats, and STAR-loss gradients of every parameter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { manualSeed, noGrad, rand, tidy } from '../../src/tensor/index.ts';
import { Dropout } from '../../src/nn/layers.ts';
import { loadModel, readStateDict } from '../../src/models/checkpoint.ts';
import { FIX, maxAbsDiff, maxRelDiff, starLoss } from './helpers.ts';

for (const family of ['roberta', 'bert'] as const) {
  const dir = path.join(FIX, `${family}-tiny`);
  const ref = readStateDict(path.join(FIX, `${family}-tiny.ref.safetensors`));
  const r = (k: string) => ref.get(k) ?? assert.fail(`fixture lacks ${k}`);

  for (const file of ['model.safetensors', 'pytorch_model.bin']) {
    test(`${family}: ${file} embeddings match PyTorch to 1e-5`, () => {
      const { model, report } = loadModel(dir, { file: path.join(dir, file) });
      assert.deepEqual([report.missing, report.unexpected], [[], []]);
      model.eval();
      const emb = noGrad(() => model.encode(r('emb_ids'), r('emb_mask')));
      assert.deepEqual(emb.shape, [5, 24]);
      const err = maxAbsDiff(emb, r('emb'));
      assert.ok(err <= 1e-5, `max abs error ${err}`);
      model.dispose();
    });
  }

  test(`${family}: padding does not change a sequence's embedding`, () => {
    const { model } = loadModel(dir);
    model.eval();
    tidy(() => {
      noGrad(() => {
        const ids = r('emb_ids');
        const mask = r('emb_mask');
        const full = model.encode(ids, mask);
        // Row 2 has 7 tokens: encode it alone, unpadded.
        const alone = model.encode(ids.narrow(0, 2, 1).narrow(1, 0, 7), mask.narrow(0, 2, 1).narrow(1, 0, 7));
        assert.ok(maxAbsDiff(alone, full.narrow(0, 2, 1)) <= 1e-5);
      });
    });
    model.dispose();
  });

  // 'train-first': train mode without dropoutParity (the last layer computes position 0 only) and every Dropout
  // module in eval mode, so the result is deterministic and must equal PyTorch's eval-mode gradients.
  for (const mode of ['eval', 'train', 'train-first'] as const) {
    test(`${family}: STAR-loss gradients (${mode} mode) match PyTorch to 1e-4 relative`, () => {
      const { model } = loadModel(dir);
      model.train(mode !== 'eval');
      if (mode === 'train-first') {
        for (const [, m] of model.namedModules()) if (m instanceof Dropout) m.train(false);
      }
      // Train mode relies on libtorch's CPU generator: same seed and op order → same dropout masks as Python,
      // which needs the last layer computed at every position as HF does.
      model.dropoutParity = mode === 'train';
      manualSeed(7);
      const loss = tidy(() => {
        const q = model.encode(r('q_ids'), r('q_mask'));
        const d = model.encode(r('d_ids'), r('d_mask'));
        const n = model.encode(r('n_ids'), r('n_mask'));
        const l = starLoss(q, d, n, r('rel_pair_mask'), r('hard_pair_mask'));
        l.backward();
        return l.item();
      });
      const refLoss = r(mode === 'train' ? 'train_loss' : 'loss').item();
      assert.ok(Math.abs(loss - refLoss) <= 1e-5, `loss ${loss} vs ${refLoss}`);
      const prefix = mode === 'train' ? 'train_grad.' : 'grad.';
      let checked = 0;
      for (const [name, p] of model.namedParameters()) {
        const g = p.grad ?? assert.fail(`${name} has no gradient`);
        // Relative to the tensor's largest gradient, with a floor for tensors whose exact gradient is zero
        // (attention key biases: softmax ignores a per-row constant, so only rounding noise remains).
        const want = r(prefix + name);
        const err = maxAbsDiff(g, want);
        const scale = maxAbsDiff(want, want.mul(0));
        assert.ok(err <= 1e-4 * scale + 1e-7, `${name}: gradient error ${err} (scale ${scale}, relative ${maxRelDiff(g, want)})`);
        g.dispose();
        checked++;
      }
      assert.equal(checked, [...ref.keys()].filter((k) => k.startsWith(prefix)).length);
      model.dispose();
    });
  }
}

test('training without dropoutParity draws another stream (last layer at position 0 only, drhard dropout noise), same shapes', () => {
  const dir = path.join(FIX, 'roberta-tiny');
  const ref = readStateDict(path.join(FIX, 'roberta-tiny.ref.safetensors'));
  const { model } = loadModel(dir);
  model.train();
  // The generator's next number after one training encode: PyTorch's stream with parity, a shorter one without.
  const nextDraw = (parity: boolean): number =>
    tidy(() => {
      model.dropoutParity = parity;
      manualSeed(11);
      const e = model.encode(ref.get('q_ids')!, ref.get('q_mask')!);
      assert.deepEqual(e.shape, [ref.get('q_ids')!.size(0), model.dim]);
      return rand([1]).item();
    });
  assert.equal(nextDraw(true), nextDraw(true));
  assert.notEqual(nextDraw(false), nextDraw(true));
  for (const t of ref.values()) t.dispose();
  model.dispose();
});

test('bf16 mixed precision: embeddings within bf16 rounding of float32, float32 master gradients', () => {
  const dir = path.join(FIX, 'roberta-tiny');
  const ref = readStateDict(path.join(FIX, 'roberta-tiny.ref.safetensors'));
  const { model } = loadModel(dir);
  model.eval().setMixedPrecision('bfloat16');
  assert.equal(model.backbone.encoder.layer.items[1]!.intermediate.dense.mixedPrecision, 'bfloat16');
  tidy(() => {
    const emb = model.encode(ref.get('emb_ids')!, ref.get('emb_mask')!);
    assert.equal(emb.dtype, 'float32');
    const want = ref.get('emb')!;
    const err = maxAbsDiff(emb, want);
    // LayerNorm'd outputs are O(1); bfloat16 keeps ~3 significant digits through the products.
    assert.ok(err > 0 && err < 0.05, `bf16 deviation ${err}`);
    const cos = emb.mul(want).sum(1).div(emb.norm(2, 1).mul(want.norm(2, 1))).min().item();
    assert.ok(cos > 0.999, `cosine ${cos}`);
    emb.sum().backward();
  });
  for (const [n, p] of model.namedParameters()) {
    assert.equal(p.dtype, 'float32', n);
    const g = p.grad;
    assert.ok(g && g.dtype === 'float32', `${n} gradient`);
    g.dispose();
  }
  model.setMixedPrecision(null);
  const back = noGrad(() => model.encode(ref.get('emb_ids')!, ref.get('emb_mask')!));
  assert.ok(maxAbsDiff(back, ref.get('emb')!) <= 1e-5, 'setMixedPrecision(null) restores float32');
  model.dispose();
});
