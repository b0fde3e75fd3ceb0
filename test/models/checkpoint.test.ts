// Checkpoint I/O: formats (safetensors, zip and legacy torch.save), bit-exact save → load, Python reading
// drhard's output, key normalization, and clear errors for mismatched, truncated or corrupt files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cudaIsAvailable, noGrad, randn, tidy, type Tensor } from '../../src/tensor/index.ts';
import { loadModel, readStateDict, saveModel, saveStateDict } from '../../src/models/checkpoint.ts';
import { createModel } from '../../src/models/dual.ts';
import { DrhardInputError } from '../../src/util/errors.ts';
import { FIX, maxAbsDiff } from './helpers.ts';
import { fcParams } from '../helpers/seed.ts';

const ROBERTA = path.join(FIX, 'roberta-tiny');

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-ckpt-'));
}

function assertSameTensors(a: Map<string, Tensor>, b: Map<string, Tensor>): void {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [k, t] of a) {
    const u = b.get(k)!;
    assert.equal(u.dtype, t.dtype, k);
    assert.deepEqual(u.shape, t.shape, k);
    assert.deepEqual(Buffer.from(u.data().buffer), Buffer.from(t.data().buffer), `${k} differs`);
  }
}

/** A model directory holding ROBERTA's config and the given state dict. */
function dirWith(sd: Map<string, Tensor>, config = path.join(ROBERTA, 'config.json')): string {
  const d = tmp();
  fs.copyFileSync(config, path.join(d, 'config.json'));
  saveStateDict(path.join(d, 'model.safetensors'), sd);
  return d;
}

test('zip .bin, legacy .bin and .safetensors hold the same tensors', () => {
  const st = readStateDict(path.join(ROBERTA, 'model.safetensors'));
  const zip = readStateDict(path.join(ROBERTA, 'pytorch_model.bin'));
  const legacy = readStateDict(path.join(FIX, 'roberta-tiny.legacy.bin'));
  // .bin files carry HF's position_ids buffer (int64 [1, 36]); the safetensors file does not.
  assert.deepEqual(zip.get('roberta.embeddings.position_ids')!.shape, [1, 36]);
  zip.delete('roberta.embeddings.position_ids');
  legacy.delete('roberta.embeddings.position_ids');
  assertSameTensors(zip, st);
  assertSameTensors(legacy, st);
  const { model, report } = loadModel(ROBERTA, { file: path.join(FIX, 'roberta-tiny.legacy.bin') });
  assert.deepEqual(report.ignored, ['roberta.embeddings.position_ids']);
  model.dispose();
});

test('save → load round-trips bit-exactly, and re-saving gives identical bytes', () => {
  const model = createModel(
    { modelType: 'bert', vocabSize: 50, hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 32, maxPositionEmbeddings: 20 },
    { seed: 5 },
  );
  noGrad(() => {
    for (const p of model.parameters()) p.add_(randn(p.shape));
  });
  const d = tmp();
  saveModel(model, d);
  const { model: back } = loadModel(d);
  assertSameTensors(back.stateDict(), model.stateDict());
  assert.deepEqual(back.config, model.config);
  const d2 = tmp();
  saveModel(back, d2);
  for (const f of ['model.safetensors', 'config.json']) assert.ok(fs.readFileSync(path.join(d, f)).equals(fs.readFileSync(path.join(d2, f))), f);
  const cfg = JSON.parse(fs.readFileSync(path.join(d, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(cfg['architectures'], ['BertDot']);
  assert.equal(cfg['pooling'], 'first');
  for (const m of [model, back]) m.dispose();
});

test('Python reads a drhard-saved checkpoint and gets the same embeddings (committed check)', () => {
  // drhard-saved/ was written by scripts/fixtures/models_drhard_save.ts; python-embeddings.safetensors by
  // `models_make.py --check-drhard`, which loaded it into the PyTorch reference (mean pooling, 16-d head).
  const dir = path.join(FIX, 'drhard-saved');
  const { model } = loadModel(dir);
  model.eval();
  const ref = readStateDict(path.join(FIX, 'roberta-tiny.ref.safetensors'));
  const emb = noGrad(() => model.encode(ref.get('emb_ids')!, ref.get('emb_mask')!));
  const py = readStateDict(path.join(dir, 'python-embeddings.safetensors')).get('emb')!;
  assert.deepEqual(emb.shape, [5, 16]);
  const err = maxAbsDiff(emb, py);
  assert.ok(err <= 1e-5, `max abs error ${err}`);
  // The committed file is what today's writer produces, so the Python check covers the current code.
  const d = tmp();
  saveModel(model, d);
  assert.ok(fs.readFileSync(path.join(d, 'model.safetensors')).equals(fs.readFileSync(path.join(dir, 'model.safetensors'))));
  model.dispose();
});

test('missing and unexpected keys are reported by name', () => {
  const sd = readStateDict(path.join(ROBERTA, 'model.safetensors'));
  sd.delete('norm.weight');
  sd.delete('norm.bias');
  sd.set('lm_head.bias', randn([80]));
  const d = dirWith(sd);
  assert.throws(
    () => loadModel(d),
    (e: unknown) =>
      e instanceof DrhardInputError &&
      /model\.safetensors: checkpoint does not match the roberta config: missing keys: norm\.weight, norm\.bias; unexpected keys: lm_head\.bias/.test(e.message),
  );
  const { model, report } = loadModel(d, { strict: false });
  assert.deepEqual(report.missing, ['norm.weight', 'norm.bias']);
  assert.deepEqual(report.unexpected, ['lm_head.bias']);
  // Missing parameters keep their fresh init (LayerNorm: ones).
  assert.deepEqual(model.stateDict().get('norm.weight')!.toArray(), new Array(24).fill(1));
  model.dispose();
});

test('shape mismatches name the tensor', () => {
  const sd = readStateDict(path.join(ROBERTA, 'model.safetensors'));
  sd.set('embeddingHead.weight', randn([8, 24]));
  assert.throws(() => loadModel(dirWith(sd)), /model\.safetensors: embeddingHead\.weight: shape \[8, 24\] does not match the config's \[24, 24\]/);
});

test('bare-encoder, DataParallel and TF-era key spellings are normalized', () => {
  const sd = readStateDict(path.join(ROBERTA, 'model.safetensors'));
  const renamed = new Map<string, Tensor>();
  for (const [k, t] of sd) {
    const bare = k.replace(/^roberta\./, '').replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta');
    renamed.set(`module.${bare}`, t);
  }
  const { model } = loadModel(dirWith(renamed));
  assertSameTensors(model.stateDict(), readStateDict(path.join(ROBERTA, 'model.safetensors')));
  model.dispose();
});

test('half-precision checkpoints load into float32 parameters', () => {
  const sd = readStateDict(path.join(ROBERTA, 'model.safetensors'));
  const half = new Map([...sd].map(([k, t]) => [k, t.to('float16')] as [string, Tensor]));
  const { model } = loadModel(dirWith(half));
  for (const [k, p] of model.stateDict()) {
    assert.equal(p.dtype, 'float32');
    assert.ok(maxAbsDiff(p, sd.get(k)!) <= 2e-3, k);
  }
  model.dispose();
});

test('truncated, corrupt or absent files are clear input errors', () => {
  const d = tmp();
  fs.copyFileSync(path.join(ROBERTA, 'config.json'), path.join(d, 'config.json'));
  assert.throws(() => loadModel(d), /no model\.safetensors or pytorch_model\.bin/);
  const bin = fs.readFileSync(path.join(ROBERTA, 'pytorch_model.bin'));
  for (const cut of [10, 1000, bin.byteLength - 30]) {
    fs.writeFileSync(path.join(d, 'pytorch_model.bin'), bin.subarray(0, cut));
    assert.throws(() => loadModel(d), (e: unknown) => e instanceof DrhardInputError && /pytorch_model\.bin: cannot read torch\.save file/.test(e.message));
  }
  const legacy = fs.readFileSync(path.join(FIX, 'roberta-tiny.legacy.bin'));
  fs.writeFileSync(path.join(d, 'pytorch_model.bin'), legacy.subarray(0, legacy.byteLength - 50));
  assert.throws(() => loadModel(d), /pytorch_model\.bin: cannot read torch\.save file: storage data ends early/);
  fs.writeFileSync(path.join(d, 'pytorch_model.bin'), 'not a checkpoint at all');
  assert.throws(() => loadModel(d), DrhardInputError);
  const st = fs.readFileSync(path.join(ROBERTA, 'model.safetensors'));
  fs.writeFileSync(path.join(d, 'model.safetensors'), st.subarray(0, st.byteLength - 4));
  assert.throws(() => loadModel(d), /model\.safetensors: .*truncated/);
  fs.writeFileSync(path.join(d, 'config.json'), '{"model_type": "roberta", "vocab_size": "big"}');
  assert.throws(() => loadModel(d), /config\.json: vocab_size: /);
  fs.writeFileSync(path.join(d, 'config.json'), '{"model_type": "gpt2"}');
  assert.throws(() => loadModel(d), /config\.json: model_type: /);
});

test('device option moves every parameter of the loaded model (meta device on any machine, CUDA where present)', () => {
  // Models are created on the CPU, so asserting 'cpu' after loading on 'cpu' could never fail. libtorch's 'meta'
  // device (shapes without storage) exists on every build: a loader that ignored `device` would leave parameters
  // on the CPU and fail here.
  const ref = loadModel(ROBERTA).model;
  const { model } = loadModel(ROBERTA, { device: 'meta' });
  try {
    const moved = model.namedParameters();
    const orig = new Map(ref.namedParameters());
    assert.equal(moved.length, orig.size);
    for (const [n, t] of moved) {
      assert.equal(t.device, 'meta', n);
      assert.deepEqual(t.shape, orig.get(n)?.shape, n);
    }
    assert.equal(model.device, 'meta');
  } finally {
    model.dispose();
  }
  // A device libtorch does not know is an error, not a model silently left on the CPU.
  assert.throws(() => loadModel(ROBERTA, { device: 'nope' }), /device/);
  try {
    if (cudaIsAvailable()) {
      const { model: g } = loadModel(ROBERTA, { device: 'cuda' });
      try {
        for (const [n, t] of g.namedParameters()) {
          assert.equal(t.device, 'cuda:0', n);
          const back = tidy(() => t.to('cpu').sub(ref.namedParameters().find(([m]) => m === n)![1]).abs().max().item());
          assert.equal(back, 0, `${n} changed on the way to the GPU`);
        }
      } finally {
        g.dispose();
      }
    } else {
      assert.throws(() => loadModel(ROBERTA, { device: 'cuda' }), /cuda/i);
    }
  } finally {
    ref.dispose();
  }
});

test('fuzz: mutated torch.save files give DrhardInputError or a valid read, never a crash', async () => {
  const fc = (await import('fast-check')).default;
  const { parseTorchBin } = await import('../../src/tensor/torchbin.ts');
  for (const file of [path.join(ROBERTA, 'pytorch_model.bin'), path.join(FIX, 'roberta-tiny.legacy.bin')]) {
    const base = new Uint8Array(fs.readFileSync(file));
    fc.assert(
      fc.property(
        // Bias flips toward the pickle (file start) and the zip directory (file end), where structure lives.
        fc.array(
          fc.tuple(
            fc.oneof(fc.nat({ max: 4095 }), fc.nat({ max: base.byteLength - 1 }), fc.integer({ min: base.byteLength - 2000, max: base.byteLength - 1 })),
            fc.integer({ min: 0, max: 255 }),
          ),
          { minLength: 1, maxLength: 4 },
        ),
        fc.nat({ max: base.byteLength }),
        (flips, cut) => {
          const b = base.slice(0, Math.max(cut, base.byteLength - 2000));
          for (const [i, v] of flips) if (i < b.byteLength) b[i] = v;
          try {
            for (const t of parseTorchBin(b, 'x.bin').values()) t.dispose();
          } catch (e) {
            assert.ok(e instanceof DrhardInputError, String(e));
          }
        },
      ),
      fcParams(2102, { numRuns: 400 }),
    );
  }
});

test('torch.save views: tied, transposed, offset, 0-d and half tensors read as dense copies', () => {
  const got = readStateDict(path.join(FIX, 'views.bin'));
  const want = readStateDict(path.join(FIX, 'views.ref.safetensors'));
  assertSameTensors(got, want);
  assert.deepEqual(got.get('t')!.shape, [6, 4]);
  assert.deepEqual(got.get('col')!.toArray(), [3, 9, 15, 21]);
  assert.deepEqual(got.get('scalar')!.shape, []);
});
