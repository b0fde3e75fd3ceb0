// MLM head + loss against PyTorch (HF's RobertaLMHead / BertOnlyMLMHead restated in
// scripts/fixtures/make_mlm_fixture.py), RoBERTa dynamic masking (statistics, exclusions, determinism), and the
// listwise contrastive loss against a per-query PyTorch reference from the same script.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { arange, liveTensors, noGrad, tensor, tidy, zeros, type Tensor } from '../../src/tensor/index.ts';
import { readStateDict } from '../../src/models/checkpoint.ts';
import { createConfig } from '../../src/models/config.ts';
import { createModel } from '../../src/models/dual.ts';
import { MlmHead } from '../../src/models/mlm.ts';
import { gatherMasked, IGNORE_INDEX, maskedBatchTensors, maskTokens, mlmLoss, type MaskOptions } from '../../src/losses/mlm.ts';
import { listwiseLoss } from '../../src/losses/listwise.ts';
import { Rng } from '../../src/util/rng.ts';

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
    assert.deepEqual(a.shape, b.shape);
    const d = a.to('float64').sub(b.to('float64')).abs().max().item();
    const s = b.to('float64').abs().max().item();
    return s === 0 ? d : d / s;
  });
}
function leaf(t: Tensor): Tensor {
  return t.detach().clone().setRequiresGrad(true);
}
function disposeAll(m: Map<string, Tensor>): void {
  for (const t of m.values()) t.dispose();
}

// ---- (i) MLM head + loss parity ----------------------------------------------------------------------------------

const HEAD_KEYS = {
  roberta: ['lm_head.bias', 'lm_head.dense.weight', 'lm_head.dense.bias', 'lm_head.layer_norm.weight', 'lm_head.layer_norm.bias'],
  bert: [
    'cls.predictions.bias',
    'cls.predictions.transform.dense.weight',
    'cls.predictions.transform.dense.bias',
    'cls.predictions.transform.LayerNorm.weight',
    'cls.predictions.transform.LayerNorm.bias',
  ],
};

/** A 0-layer tower (only its word embedding matters here) and a head tied to it, loaded from the fixture. */
function setup(f: Map<string, Tensor>, family: 'roberta' | 'bert', dtype: 'float32' | 'float64') {
  const emb = get(f, `${family}.embeddings.word_embeddings.weight`);
  const [V, H] = emb.shape as [number, number];
  const config = createConfig({ modelType: family, vocabSize: V, hiddenSize: H, numHiddenLayers: 0, layerNormEps: get(f, 'layer_norm_eps').item() });
  const model = createModel(config, { seed: 1 });
  const head = MlmHead.forModel(model);
  // Cast after tying: to() replaces the model's tensors, and the head must follow the Embedding, not a stale tensor.
  if (dtype === 'float64') {
    model.to('float64');
    head.to('float64');
  }
  model.loadStateDict(new Map([[`${family}.embeddings.word_embeddings.weight`, emb]]), { strict: false });
  head.loadStateDict(head.headState(f)); // strict: exactly the head's keys, tied aliases dropped
  return { model, head, config };
}

for (const [name, family, dtype] of [
  ['mlm_head_roberta_f32', 'roberta', 'float32'],
  ['mlm_head_roberta_f64', 'roberta', 'float64'],
  ['mlm_head_bert_f32', 'bert', 'float32'],
] as const) {
  const tol = dtype === 'float64' ? 1e-12 : 1e-5;

  test(`MLM head + loss (gathered masked positions) match HF ${family} (${dtype}): logits, loss, gradients`, () => {
    const f = load(name);
    const { model, head } = setup(f, family, dtype);
    assert.deepEqual(head.namedParameters().map(([k]) => k), HEAD_KEYS[family], 'HF parameter names, HF state_dict order');
    assert.equal(head.prefix, family === 'roberta' ? 'lm_head.' : 'cls.predictions.');
    // The tied decoder weight is the model's parameter, not a second copy in the head.
    const embKey = `${family}.embeddings.word_embeddings.weight`;
    const embParam = model.stateDict().get(embKey)!;
    assert.equal(head.decoderWeight, embParam);
    assert.equal(embParam.dtype, dtype);
    const before = liveTensors();
    tidy(() => {
      const hidden = leaf(get(f, 'hidden'));
      const labels = get(f, 'labels');
      const [B, L] = labels.shape as [number, number];
      const g = gatherMasked(hidden, labels.toInt32Array());
      const M = labels.toArray().filter((y) => y !== IGNORE_INDEX).length;
      assert.deepEqual(g.hidden.shape, [M, hidden.size(2)]);
      const logits = head.forward(g.hidden);
      assert.equal(logits.dtype, dtype);
      const V = embParam.size(0);
      const refLogits = get(f, 'logits').reshape([B * L, V]).indexSelect(0, g.index);
      assert.ok(rel(logits, refLogits) <= tol, `logits: ${rel(logits, refLogits)}`);
      const loss = mlmLoss(logits, g.labels);
      const refLoss = get(f, 'loss');
      assert.ok(rel(loss.reshape([1]), refLoss) <= tol, `loss ${loss.item()} vs ${refLoss.item()}`);
      loss.backward();
      assert.ok(rel(hidden.grad!, get(f, 'grad.hidden')) <= tol, `grad.hidden: ${rel(hidden.grad!, get(f, 'grad.hidden'))}`);
      for (const [k, p] of [...head.namedParameters(), [embKey, embParam] as [string, Tensor]]) {
        const gk = p.grad ?? assert.fail(`${k} has no gradient`);
        const err = rel(gk, get(f, `grad.${k}`));
        assert.ok(err <= tol, `grad.${k}: ${err}`);
      }
    });
    assert.equal(liveTensors(), before, 'head/loss/gather leak tensors');
    model.dispose();
    head.dispose();
    disposeAll(f);
  });

  test(`MLM loss over all B·L positions ignores label −100 (${name})`, () => {
    const f = load(name);
    const { model, head } = setup(f, family, dtype);
    tidy(() => {
      const hidden = get(f, 'hidden');
      const labels = get(f, 'labels');
      const logits = head.forward(hidden); // [B, L, V]: the head works on any leading shape
      assert.ok(rel(logits, get(f, 'logits')) <= tol);
      const V = logits.size(2);
      const loss = mlmLoss(logits.reshape([-1, V]), labels.flatten());
      assert.ok(rel(loss.reshape([1]), get(f, 'loss')) <= tol, `loss ${loss.item()} vs ${get(f, 'loss').item()}`);
      // Not a plain mean over B·L: a label at an ignored position would change it.
      const all = mlmLoss(logits.reshape([-1, V]), labels.flatten().clamp(0));
      assert.ok(Math.abs(all.item() - loss.item()) > 1e-3);
    });
    model.dispose();
    head.dispose();
    disposeAll(f);
  });
}

test('MlmHead.headState: drops tied aliases and other keys; an old layout with only decoder.bias still loads', () => {
  const f = load('mlm_head_roberta_f32');
  const { model, head } = setup(f, 'roberta', 'float32');
  const picked = head.headState(f);
  assert.deepEqual([...picked.keys()].sort(), [...HEAD_KEYS.roberta].sort());
  tidy(() => {
    const old = new Map(f);
    old.delete('lm_head.bias');
    old.set('lm_head.decoder.bias', get(f, 'lm_head.bias').add(1));
    const h2 = MlmHead.forModel(model);
    h2.loadStateDict(h2.headState(old));
    assert.ok(rel(h2.bias, get(f, 'lm_head.bias').add(1)) === 0);
    h2.dispose();
    // Without a head in the checkpoint, strict loading names every head key as missing.
    assert.throws(() => head.loadStateDict(head.headState(new Map([['roberta.embeddings.word_embeddings.weight', get(f, 'hidden')]]))), /lm_head\.bias/);
  });
  model.dispose();
  head.dispose();
  disposeAll(f);
});

test('MlmHead: a bare tensor tie goes stale after model.to(), and says so', () => {
  const config = createConfig({ modelType: 'roberta', vocabSize: 20, hiddenSize: 8, numHiddenLayers: 0, numAttentionHeads: 2 });
  const model = createModel(config, { seed: 3 });
  const head = new MlmHead(config, model.backbone.embeddings.word_embeddings.weight);
  model.to('float64');
  assert.throws(() => head.forward(zeros([2, 8], { dtype: 'float64' })), /disposed/);
  head.dispose();
  model.dispose();
});

test('MlmHead in bf16 mixed precision: bf16 logits, float32 loss close to the float32 one', () => {
  const f = load('mlm_head_bert_f32');
  const { model, head } = setup(f, 'bert', 'float32');
  tidy(() => {
    const g = gatherMasked(get(f, 'hidden'), get(f, 'labels'));
    const ref = mlmLoss(head.forward(g.hidden), g.labels).item();
    head.setMixedPrecision('bfloat16');
    const logits = head.forward(g.hidden);
    assert.equal(logits.dtype, 'bfloat16');
    const loss = mlmLoss(logits, g.labels);
    assert.equal(loss.dtype, 'float32');
    assert.ok(Math.abs(loss.item() - ref) <= 0.05 * Math.abs(ref), `${loss.item()} vs ${ref}`);
  });
  model.dispose();
  head.dispose();
  disposeAll(f);
});

test('mlmLoss with no predicted position is 0 with zero gradients (torch would give NaN)', () => {
  tidy(() => {
    const z = leaf(tensor([[1, 2, 3], [0, 1, 0]]));
    const loss = mlmLoss(z, tensor([IGNORE_INDEX, IGNORE_INDEX], { dtype: 'int64' }));
    assert.equal(loss.item(), 0);
    loss.backward();
    assert.deepEqual(z.grad!.toArray(), [0, 0, 0, 0, 0, 0]);
    const empty = mlmLoss(zeros([0, 3]), zeros([0], { dtype: 'int64' }));
    assert.equal(empty.item(), 0);
    // One real label: exactly −log softmax.
    const one = mlmLoss(tensor([[1, 2, 3], [0, 1, 0]], { dtype: 'float64' }), tensor([2, IGNORE_INDEX], { dtype: 'int64' }));
    const want = -(3 - Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)));
    assert.ok(Math.abs(one.item() - want) < 1e-12);
  });
});

test('gatherMasked picks the rows of the labelled positions, from a tensor or an array of labels', () => {
  tidy(() => {
    const hidden = arange(0, 2 * 3 * 2, 1, { dtype: 'float32' }).reshape([2, 3, 2]);
    const labels = [IGNORE_INDEX, 7, IGNORE_INDEX, 5, IGNORE_INDEX, 9];
    for (const l of [labels, tensor([labels], { dtype: 'int64' }).reshape([2, 3])]) {
      const g = gatherMasked(hidden, l);
      assert.deepEqual(g.hidden.toArray(), [2, 3, 6, 7, 10, 11]);
      assert.deepEqual(g.labels.toArray(), [7, 5, 9]);
      assert.equal(g.labels.dtype, 'int64');
      assert.deepEqual(g.index.toArray(), [1, 3, 5]);
    }
    assert.throws(() => gatherMasked(hidden, [1, 2, 3]), /labels/);
  });
});

// ---- (ii) dynamic masking ------------------------------------------------------------------------------------------

// A RoBERTa-like id layout: <s>=0 <pad>=1 </s>=2 <unk>=3 <mask>=4, content ids 5…999.
const BOS = 0;
const PAD = 1;
const EOS = 2;
const UNK = 3;
const MASK = 4;
const SPECIALS = [BOS, PAD, EOS, UNK, MASK];
const OPTS: MaskOptions = { vocabSize: 1000, maskTokenId: MASK, padTokenId: PAD, specialTokenIds: SPECIALS };

function corpus(seed: number, n: number): number[][] {
  const r = new Rng(seed);
  return Array.from({ length: n }, () => {
    const len = 3 + r.int(120);
    const s = [BOS];
    for (let i = 0; i < len; i++) s.push(r.int(50) === 0 ? UNK : 5 + r.int(995));
    s.push(EOS);
    return s;
  });
}

test('maskTokens: ≈15% of maskable tokens selected, split 80/10/10, never specials or padding', () => {
  const seqs = corpus(11, 500);
  const m = maskTokens(seqs, new Rng(12345), OPTS);
  const [B, L] = m.shape;
  assert.equal(B, 500);
  assert.equal(L, Math.max(...seqs.map((s) => s.length)));
  let maskable = 0;
  let selected = 0;
  let toMask = 0;
  let changed = 0;
  let same = 0;
  let randomSum = 0;
  for (let b = 0; b < B; b++) {
    const s = seqs[b]!;
    for (let j = 0; j < L; j++) {
      const i = b * L + j;
      const orig = j < s.length ? s[j]! : PAD;
      assert.equal(m.attention[i], j < s.length ? 1 : 0);
      const label = m.labels[i]!;
      const id = m.ids[i]!;
      if (j >= s.length || SPECIALS.includes(orig)) {
        assert.equal(label, IGNORE_INDEX, `special/pad selected at ${b},${j}`);
        assert.equal(id, orig);
        continue;
      }
      maskable++;
      if (label === IGNORE_INDEX) {
        assert.equal(id, orig, 'an unselected token changed');
        continue;
      }
      selected++;
      assert.equal(label, orig);
      if (id === MASK) toMask++;
      else if (id === orig) same++;
      else {
        changed++;
        randomSum += id;
      }
    }
  }
  assert.equal(m.numMaskable, maskable);
  assert.equal(m.numMasked, selected);
  assert.ok(maskable > 25000, `${maskable}`);
  const rate = selected / maskable;
  assert.ok(Math.abs(rate - 0.15) < 0.01, `selection rate ${rate}`);
  assert.equal(m.counts.mask, toMask);
  assert.equal(m.counts.mask + m.counts.random + m.counts.kept, selected);
  // A random draw equal to the original id is indistinguishable from "kept" (probability 1/V each).
  assert.ok(changed <= m.counts.random && m.counts.random - changed <= 5);
  assert.ok(Math.abs(toMask / selected - 0.8) < 0.03, `mask share ${toMask / selected}`);
  assert.ok(Math.abs(m.counts.random / selected - 0.1) < 0.02, `random share ${m.counts.random / selected}`);
  assert.ok(Math.abs(m.counts.kept / selected - 0.1) < 0.02, `kept share ${m.counts.kept / selected}`);
  assert.ok(same >= m.counts.kept);
  // Random ids are uniform over the whole vocabulary [0, 1000) (HF), mean ≈ 499.5.
  assert.ok(Math.abs(randomSum / changed - 499.5) < 50, `random id mean ${randomSum / changed}`);
});

test('maskTokens: other probabilities are honoured (p = 1 selects every maskable token; 0/0 replacement keeps all)', () => {
  const seqs = corpus(5, 20);
  const all = maskTokens(seqs, new Rng(1), { ...OPTS, mlmProbability: 1, maskReplaceProb: 1, randomReplaceProb: 0 });
  assert.equal(all.numMasked, all.numMaskable);
  assert.equal(all.counts.mask, all.numMasked);
  const keep = maskTokens(seqs, new Rng(1), { ...OPTS, mlmProbability: 0.5, maskReplaceProb: 0, randomReplaceProb: 0 });
  assert.equal(keep.counts.kept, keep.numMasked);
  const flat = seqs.map((s) => [...s, ...new Array<number>(keep.shape[1] - s.length).fill(PAD)]).flat();
  assert.deepEqual(Array.from(keep.ids), flat);
});

test('maskTokens is deterministic in the Rng state, and the state after masking restores exactly', () => {
  const seqs = corpus(21, 64);
  const rng = new Rng(777);
  const s0 = rng.state();
  const a = maskTokens(seqs, rng, OPTS);
  const s1 = rng.state();
  assert.notDeepEqual(s1, s0, 'masking must advance the Rng');
  const again = Rng.fromState(JSON.parse(JSON.stringify(s0)));
  const b = maskTokens(seqs, again, OPTS);
  assert.deepEqual(b, a);
  assert.deepEqual(again.state(), s1);
  // Resume: a run restored from s1 masks the next batch exactly as the uninterrupted one.
  const next = maskTokens(seqs, rng, OPTS);
  const resumed = maskTokens(seqs, Rng.fromState(s1), OPTS);
  assert.deepEqual(resumed, next);
  assert.notDeepEqual(Array.from(next.labels), Array.from(a.labels), 'a later batch gets a different mask');
  const other = maskTokens(seqs, new Rng(778), OPTS);
  assert.notDeepEqual(Array.from(other.labels), Array.from(a.labels));
});

test('maskTokens: a padded batch (ids + mask, or pads by id) masks exactly as the same ragged batch', () => {
  const seqs = corpus(8, 16);
  const ragged = maskTokens(seqs, new Rng(4), OPTS);
  const [B, L] = ragged.shape;
  const ids = new Int32Array(B * L).fill(PAD);
  const mask = new Int32Array(B * L);
  seqs.forEach((s, b) => s.forEach((x, j) => ((ids[b * L + j] = x), (mask[b * L + j] = 1))));
  assert.deepEqual(maskTokens({ ids, shape: [B, L], mask }, new Rng(4), OPTS), ragged);
  assert.deepEqual(maskTokens({ ids: BigInt64Array.from(ids, (x) => BigInt(x)), shape: [B, L] }, new Rng(4), OPTS), ragged);
  const t = maskedBatchTensors(ragged);
  assert.deepEqual(t.ids.shape, [B, L]);
  assert.equal(t.ids.dtype, 'int64');
  assert.deepEqual(t.ids.toArray(), Array.from(ragged.ids));
  assert.deepEqual(t.mask.toArray(), Array.from(mask));
  assert.deepEqual(t.labels.toArray(), Array.from(ragged.labels));
  for (const x of Object.values(t)) x.dispose();
});

test('maskTokens selects at least one token per batch when any is maskable', () => {
  let forced = 0;
  for (let seed = 0; seed < 300; seed++) {
    const m = maskTokens([[BOS, 42, EOS], [BOS, EOS]], new Rng(seed), { ...OPTS, mlmProbability: 0.05 });
    assert.equal(m.numMasked, 1);
    assert.equal(m.labels[1], 42);
    assert.equal(m.labels.filter((y) => y !== IGNORE_INDEX).length, 1);
    if (m.forced) forced++;
  }
  assert.ok(forced > 250 && forced < 300, `forced ${forced}`); // P(natural) = 0.05
  // The forced pick is uniform over the maskable positions.
  const hits = new Array<number>(6).fill(0);
  for (let seed = 0; seed < 600; seed++) {
    const m = maskTokens([[BOS, 10, 11, 12, EOS], [BOS, 13, 14, 15, EOS]], new Rng(seed), { ...OPTS, mlmProbability: 1e-9 });
    assert.ok(m.forced);
    const i = m.labels.findIndex((y) => y !== IGNORE_INDEX);
    hits[(m.labels[i] as number) - 10]!++;
  }
  assert.ok(hits.every((h) => h > 60), `forced picks ${hits}`);
  // Nothing maskable: nothing selected, and the loss over it is 0.
  const none = maskTokens([[BOS, UNK, EOS], [BOS, EOS]], new Rng(1), OPTS);
  assert.equal(none.numMasked, 0);
  assert.ok(none.labels.every((y) => y === IGNORE_INDEX));
});

test('maskTokens rejects bad options', () => {
  const r = new Rng(1);
  assert.throws(() => maskTokens([[5, 6]], r, { ...OPTS, mlmProbability: 0 }), /mlmProbability/);
  assert.throws(() => maskTokens([[5, 6]], r, { ...OPTS, mlmProbability: 1.5 }), /mlmProbability/);
  assert.throws(() => maskTokens([[5, 6]], r, { ...OPTS, maskReplaceProb: 0.9, randomReplaceProb: 0.2 }), /> 1/);
  assert.throws(() => maskTokens([[5, 6]], r, { ...OPTS, maskTokenId: 1000 }), /maskTokenId/);
  assert.throws(() => maskTokens({ ids: [5, 6, 7], shape: [2, 2] }, r, OPTS), /3 ids/);
});

// ---- (iii) listwise loss parity ------------------------------------------------------------------------------------

for (const name of ['listwise_f32', 'listwise_f64', 'listwise_noinbatch_f32', 'listwise_noextra_f32', 'listwise_nomask_f32']) {
  test(`listwiseLoss matches the PyTorch reference: ${name}`, () => {
    const f = load(name);
    const tol = name.endsWith('f64') ? 1e-12 : 1e-6;
    const before = liveTensors();
    tidy(() => {
      const q = leaf(get(f, 'q'));
      const d = leaf(get(f, 'd'));
      const n = f.has('n') ? leaf(get(f, 'n')) : null;
      const temperature = get(f, 'temperature').item();
      assert.notEqual(temperature, 1);
      const loss = listwiseLoss({
        queries: q,
        positives: d,
        extra: n,
        inbatch: get(f, 'inbatch').item() === 1,
        inbatchMask: f.get('inbatch_mask') ?? null,
        extraMask: f.get('extra_mask') ?? null,
        temperature,
      });
      assert.equal(loss.dtype, q.dtype);
      assert.ok(rel(loss.reshape([1]), get(f, 'loss')) <= tol, `loss ${loss.item()} vs ${get(f, 'loss').item()}`);
      loss.backward();
      assert.ok(rel(q.grad!, get(f, 'dq')) <= tol, `dq: ${rel(q.grad!, get(f, 'dq'))}`);
      assert.ok(rel(d.grad!, get(f, 'dd')) <= tol, `dd: ${rel(d.grad!, get(f, 'dd'))}`);
      if (n) assert.ok(rel(n.grad!, get(f, 'dn')) <= tol, `dn: ${rel(n.grad!, get(f, 'dn'))}`);
    });
    assert.equal(liveTensors(), before, 'listwiseLoss leaks tensors');
    disposeAll(f);
  });
}

test('listwise fixtures are sensitive to masks, inbatch and temperature', () => {
  const f = load('listwise_f32');
  noGrad(() =>
    tidy(() => {
      const base = { queries: get(f, 'q'), positives: get(f, 'd'), extra: get(f, 'n'), temperature: get(f, 'temperature').item() };
      const masks = { inbatchMask: get(f, 'inbatch_mask'), extraMask: get(f, 'extra_mask') };
      const ref = get(f, 'loss').item();
      const variants = [
        listwiseLoss({ ...base }).item(),
        listwiseLoss({ ...base, extraMask: masks.extraMask }).item(),
        listwiseLoss({ ...base, inbatchMask: masks.inbatchMask }).item(),
        listwiseLoss({ ...base, ...masks, inbatch: false }).item(),
        listwiseLoss({ ...base, ...masks, temperature: 1 }).item(),
      ];
      for (const v of variants) assert.ok(Math.abs(v - ref) > 1e-4, `variant ${v} equals the reference ${ref}`);
    }),
  );
  disposeAll(f);
});
