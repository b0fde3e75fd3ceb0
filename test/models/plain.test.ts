// Plain Hugging Face encoders (weights without DRhard's embeddingHead/norm; pooler and MLM head present, as hub
// checkpoints have them) load headless with --pooling first|mean, or fail naming the exact config keys and flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { randn, tensor, tidy, type Tensor } from '../../src/tensor/index.ts';
import { loadModel, readStateDict, saveStateDict } from '../../src/models/checkpoint.ts';
import { DrhardInputError } from '../../src/util/errors.ts';
import { FIX, maxAbsDiff } from './helpers.ts';
import { seededRng } from '../helpers/seed.ts';

const ROBERTA = path.join(FIX, 'roberta-tiny');
const ROOT = path.join(import.meta.dirname, '..', '..');
const dirs: string[] = [];
process.on('exit', () => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** roberta-tiny as a hub RobertaForMaskedLM-style directory: no head, plus pooler and lm_head weights. */
function plainDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-plain-'));
  dirs.push(d);
  const sd = readStateDict(path.join(ROBERTA, 'model.safetensors'));
  for (const k of ['embeddingHead.weight', 'embeddingHead.bias', 'norm.weight', 'norm.bias']) {
    sd.get(k)!.dispose();
    sd.delete(k);
  }
  sd.set('roberta.pooler.dense.weight', randn([24, 24]));
  sd.set('roberta.pooler.dense.bias', randn([24]));
  sd.set('lm_head.bias', randn([80]));
  saveStateDict(path.join(d, 'model.safetensors'), sd);
  for (const t of sd.values()) t.dispose();
  const cfg = JSON.parse(fs.readFileSync(path.join(ROBERTA, 'config.json'), 'utf8')) as Record<string, unknown>;
  cfg['architectures'] = ['RobertaForMaskedLM'];
  fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify(cfg));
  return d;
}

function batch(seed: number): { ids: Tensor; mask: Tensor; tag: string } {
  const { rng, tag } = seededRng(seed);
  const B = 4;
  const L = 9;
  const ids: number[] = [];
  const mask: number[] = [];
  for (let b = 0; b < B; b++) {
    const len = 3 + rng.int(L - 3);
    for (let i = 0; i < L; i++) {
      ids.push(i === 0 ? 0 : i < len ? 3 + rng.int(70) : 1);
      mask.push(i < len ? 1 : 0);
    }
  }
  return { ids: tensor(ids, { dtype: 'int64', shape: [B, L] }), mask: tensor(mask, { dtype: 'int64', shape: [B, L] }), tag };
}

test('a plain encoder without --pooling fails with the exact fix (flags and config keys), naming the files', () => {
  const d = plainDir();
  assert.throws(
    () => loadModel(d),
    (e: unknown) => {
      assert.ok(e instanceof DrhardInputError, String(e));
      assert.match(e.message, /model\.safetensors: a plain roberta encoder \(no embeddingHead\.\*\/norm\.\* weights/);
      assert.match(e.message, /--pooling first .*--pooling mean/);
      assert.ok(e.message.includes(`"embedding_head": false and "pooling": "first" (or "mean") in ${path.join(d, 'config.json')}`), e.message);
      return true;
    },
  );
});

test('--pooling first|mean loads it headless: embeddings are the backbone\'s first-token / masked-mean vectors', () => {
  const d = plainDir();
  const { ids, mask, tag } = batch(1407);
  const { model: ref } = loadModel(ROBERTA);
  ref.eval();
  for (const pooling of ['first', 'mean'] as const) {
    const { model, report } = loadModel(d, { pooling });
    model.eval();
    assert.equal(model.embeddingHead, null);
    assert.equal(model.dim, 24);
    assert.deepEqual(report.ignored.sort(), ['lm_head.bias', 'roberta.pooler.dense.bias', 'roberta.pooler.dense.weight']);
    tidy(() => {
      const got = model.encode(ids, mask);
      const h = ref.backbone.forward(ids, mask);
      const m = mask.to('float32');
      const want = pooling === 'first' ? h.select(1, 0) : h.mul(m.unsqueeze(-1)).sum(1).div(m.sum(1, true));
      assert.ok(maxAbsDiff(got, want) < 1e-5, `${pooling}: ${maxAbsDiff(got, want)}; ${tag}`);
    });
    model.dispose();
  }
  ref.dispose();
});

test('config keys alone work too ("embedding_head": false, "pooling": "mean"); a headed model ignores nothing', () => {
  const d = plainDir();
  const cfgFile = path.join(d, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
  // With the head off in config.json, the pooler/lm_head weights are HF heads the config does not describe.
  const sd = readStateDict(path.join(d, 'model.safetensors'));
  for (const k of ['roberta.pooler.dense.weight', 'roberta.pooler.dense.bias', 'lm_head.bias']) {
    sd.get(k)!.dispose();
    sd.delete(k);
  }
  saveStateDict(path.join(d, 'model.safetensors'), sd);
  for (const t of sd.values()) t.dispose();
  fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, embedding_head: false, pooling: 'mean' }));
  const { model } = loadModel(d);
  assert.equal(model.config.pooling, 'mean');
  assert.equal(model.embeddingHead, null);
  model.dispose();
  const { model: headed, report } = loadModel(ROBERTA);
  assert.notEqual(headed.embeddingHead, null);
  assert.deepEqual(report.ignored, []);
  headed.dispose();
});

test('CLI: drhard embed --pooling first on a plain encoder runs; without it exits 1 with the fix', () => {
  const d = plainDir();
  const idsFile = path.join(d, 'ids.json');
  fs.writeFileSync(idsFile, JSON.stringify([[0, 7, 9, 2], [0, 11, 2]]));
  const run = (...extra: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'embed', '--model', d, '--ids', idsFile, ...extra], { cwd: ROOT, encoding: 'utf8' });
  const bad = run();
  assert.equal(bad.status, 1, bad.stderr);
  assert.match(bad.stderr, /--pooling first/);
  const ok = run('--pooling', 'first');
  assert.equal(ok.status, 0, ok.stderr);
});

test('encode: an output encoded with --pooling first is not reused for --pooling mean (same weights, other vectors)', async () => {
  const { encodeSplit } = await import('../../src/retrieval/encode.ts');
  const { makeDataset, makeModelDir, tmpDir } = await import('../retrieval/helpers.ts');
  const { openDataset } = await import('../../src/data/index.ts');
  const { readRows, layoutOf } = await import('../../src/retrieval/embeddings.ts');
  const dir = tmpDir('drhard-plain-encode-');
  dirs.push(dir);
  const ds = openDataset(await makeDataset(dir, { nDocs: 40, nTrain: 4, nDev: 4 }));
  // makeModelDir's model without its head: a plain encoder over the dataset's tokenizer.
  const m = makeModelDir(dir);
  const sd = readStateDict(path.join(m, 'model.safetensors'));
  for (const k of ['embeddingHead.weight', 'embeddingHead.bias', 'norm.weight', 'norm.bias']) sd.delete(k);
  saveStateDict(path.join(m, 'model.safetensors'), sd);
  const out = path.join(dir, 'emb.f32');
  const vectors: number[][] = [];
  try {
    for (const pooling of ['first', 'mean'] as const) {
      const { model } = loadModel(m, { pooling });
      model.eval();
      const r = await encodeSplit(model, ds.corpus, { out, maxLength: 16, batchSize: 8, progress: false, model: { path: m } });
      assert.equal(r.encoded, 40, `${pooling}: encoded, not reused`);
      assert.equal(r.manifest.pooling, pooling);
      vectors.push(tidy(() => readRows(out, layoutOf(out), 0, 40).toArray()));
      model.dispose();
    }
  } finally {
    ds.close();
  }
  assert.notDeepEqual(vectors[0], vectors[1]);
});
