// Corpus pretraining (`drhard pretrain` = trainDualEncoder with method 'pretrain'): crop views, the MLM head kept in
// checkpoints and dropped from the final model, learning on a synthetic corpus, and bit-exact resume after SIGKILL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { trainDualEncoder } from '../../src/train/index.ts';
import { cropView } from '../../src/train/pretrain.ts';
import { readStateDict } from '../../src/models/checkpoint.ts';
import { Rng } from '../../src/util/rng.ts';
import { CheckpointManager } from '../../src/util/checkpoint.ts';
import { makeDataset, quiet, TINY_CONFIG, tmpDir, type SyntheticData } from './helpers.ts';
import { assertSameModel, lossesOf, runChild } from './child.ts';

let d: SyntheticData;
let reference: string;
const dirs: string[] = [];
const TOTAL = 12;
const SEED = 20261206;

function options(outDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    method: 'pretrain',
    objective: 'both',
    data: d.data,
    initConfig: TINY_CONFIG,
    outDir,
    batchSize: 8,
    maxSteps: TOTAL,
    warmupSteps: 2,
    logEvery: 2,
    saveEvery: 3,
    keepLast: 2,
    maxQueryLength: 12,
    maxDocLength: 32,
    optimizer: 'adamw',
    lr: 1e-3,
    progress: false,
    threads: 1,
    ...extra,
  };
}

before(async () => {
  d = await makeDataset();
  reference = tmpDir();
  dirs.push(d.dir, reference);
  const r = await trainDualEncoder(options(reference) as never, { logger: quiet });
  assert.equal(r.step, TOTAL);
});
after(() => {
  for (const x of dirs) fs.rmSync(x, { recursive: true, force: true });
});

test('cropView: a contiguous span of the content within the fraction range, re-wrapped in the row\'s first and last token', () => {
  const rng = new Rng(SEED);
  const row = Int32Array.from([0, ...Array.from({ length: 40 }, (_, i) => 100 + i), 2]);
  for (let t = 0; t < 200; t++) {
    const v = cropView(row, { min: 0.1, max: 0.5 }, 0, rng);
    assert.equal(v[0], 0, `seed ${SEED}`);
    assert.equal(v.at(-1), 2);
    const inner = v.slice(1, -1);
    assert.ok(inner.length >= 4 && inner.length <= 20, `length ${inner.length} outside ⌈0.1·40⌉…⌈0.5·40⌉ (seed ${SEED})`);
    for (let i = 1; i < inner.length; i++) assert.equal(inner[i], (inner[i - 1] as number) + 1, 'contiguous');
  }
  // Deletion drops tokens (never all of them); the kept ones stay in order.
  let dropped = 0;
  for (let t = 0; t < 200; t++) {
    const v = cropView(row, { min: 1, max: 1 }, 0.5, rng).slice(1, -1);
    assert.ok(v.length >= 1);
    for (let i = 1; i < v.length; i++) assert.ok((v[i] as number) > (v[i - 1] as number));
    dropped += 40 - v.length;
  }
  const rate = dropped / (200 * 40);
  assert.ok(Math.abs(rate - 0.5) < 0.05, `deletion rate ${rate} (seed ${SEED})`);
  // A row with one content token comes back whole.
  assert.deepEqual(cropView(Int32Array.from([0, 7, 2]), { min: 0.1, max: 0.5 }, 0.9, rng), [0, 7, 2]);
});

test('checkpoints keep the MLM head; the final model drops it and `train --init` starts from it', async () => {
  const ck = await new CheckpointManager(path.join(reference, 'checkpoints'), { logger: quiet }).latest();
  assert.ok(ck);
  const withHead = readStateDict(path.join(ck.dir, 'model', 'model.safetensors'));
  const final = readStateDict(path.join(reference, 'model', 'model.safetensors'));
  try {
    assert.ok(withHead.has('lm_head.dense.weight') && withHead.has('lm_head.bias'), [...withHead.keys()].join(','));
    assert.ok(![...final.keys()].some((k) => k.startsWith('lm_head.')), 'final model has no lm_head');
    assert.ok(final.has('roberta.embeddings.word_embeddings.weight'));
  } finally {
    for (const t of [...withHead.values(), ...final.values()]) t.dispose();
  }
  const config = JSON.parse(fs.readFileSync(path.join(reference, 'model', 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config['mlm_head'], undefined);
  assert.equal(config['drhard_from_scratch'], true, 'the from-scratch lineage is kept, so `train` picks its from-scratch defaults');
  const out = tmpDir();
  dirs.push(out);
  const r = await trainDualEncoder(
    { method: 'inbatch', loss: 'listwise', data: d.data, init: path.join(reference, 'model'), outDir: out, batchSize: 8, maxSteps: 2, warmupSteps: 0, maxQueryLength: 12, maxDocLength: 32, progress: false, threads: 1 },
    { logger: quiet },
  );
  assert.equal(r.step, 2);
});

test('both objectives are logged, and contrastive pretraining learns on the corpus (loss falls well below ln B)', async () => {
  const lines = fs
    .readFileSync(path.join(reference, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number>);
  assert.ok(lines.every((l) => Number.isFinite(l['contrastive']) && Number.isFinite(l['mlm'])));
  const out = tmpDir();
  dirs.push(out);
  // Mean pooling: from random weights a first-token embedding carries no document content to contrast (it collapses).
  const r = await trainDualEncoder(
    options(out, {
      objective: 'contrastive',
      initConfig: { ...TINY_CONFIG, pooling: 'mean' },
      batchSize: 16,
      maxSteps: 80,
      warmupSteps: 5,
      lr: 3e-3,
      cropQuery: [0.3, 0.6],
      cropDoc: [0.5, 1],
      saveEvery: 0,
      logEvery: 10,
    }) as never,
    { logger: quiet },
  );
  const losses = r.history.filter((h) => h['loss'] !== undefined).map((h) => h['loss'] as number);
  // Views of 16 unrelated documents score alike at first: loss near ln 16 = 2.77 (2.3 measured, mean pooling already
  // sees shared words). Matching crops of one document drives it down (1.2 measured); a broken loss, or a gradient
  // that never reaches the encoder, stays near the start.
  const first = losses[0] as number;
  const last = losses.at(-1) as number;
  assert.ok(first > 2, `first window ${first}`);
  assert.ok(last < 1.5 && last < first - 0.6, `losses ${losses.map((x) => x.toFixed(3)).join(', ')}`);
});

test('SIGKILL at a step, then --resume: final parameters (MLM head included) and every logged loss equal the uninterrupted run', async () => {
  const out = tmpDir();
  dirs.push(out);
  const killAt = 2 + new Rng(SEED).int(8);
  const first = await runChild(options(out), { killAtStep: killAt });
  assert.equal(first.signal, 'SIGKILL', `kill at step ${killAt} (seed ${SEED}): ${first.out}`);
  const second = await runChild({ ...options(out), resume: true });
  assert.equal(second.code, 0, second.out + second.err);
  assertSameModel(path.join(out, 'model'), path.join(reference, 'model'), `kill at step ${killAt}`, 0);
  const last = (dir: string): string => path.join(dir, 'checkpoints', fs.readdirSync(path.join(dir, 'checkpoints')).filter((n) => n.startsWith('step-')).sort().at(-1) as string, 'model');
  assertSameModel(last(out), last(reference), `kill at step ${killAt}, last checkpoint`, 0);
  assert.deepEqual(lossesOf(out), lossesOf(reference), `kill at step ${killAt}`);
});
