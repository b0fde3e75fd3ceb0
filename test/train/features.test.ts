// Trainer features that must not change the training itself: dev evaluation (no RNG draws, same weights), gradient
// caching (same weights as the plain step when dropout is off), and the logs (metrics.jsonl, TensorBoard tags).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { liveTensors } from '../../src/tensor/index.ts';
import { trainDualEncoder } from '../../src/train/index.ts';
import { readEvents } from '../../src/train/tensorboard.ts';
import { makeDataset, quiet, TINY_CONFIG, tmpDir, type SyntheticData } from './helpers.ts';
import { assertSameModel } from './child.ts';

let d: SyntheticData;
const dirs: string[] = [];

function options(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const outDir = tmpDir();
  dirs.push(outDir);
  return {
    method: 'star',
    data: d.data,
    negatives: d.negatives,
    initConfig: TINY_CONFIG,
    outDir,
    batchSize: 8,
    maxSteps: 6,
    warmupSteps: 2,
    logEvery: 2,
    saveEvery: 0,
    maxQueryLength: 12,
    maxDocLength: 32,
    progress: false,
    threads: 1,
    ...extra,
  };
}

before(async () => {
  d = await makeDataset();
  dirs.push(d.dir);
});
after(() => {
  for (const x of dirs) fs.rmSync(x, { recursive: true, force: true });
});

test('dev evaluation logs dev/mrr@10 and dev/recall@100 (JSONL + TensorBoard) without changing the trained weights', async () => {
  const plain = await trainDualEncoder(options() as never, { logger: quiet });
  const withEval = await trainDualEncoder(options({ evalEvery: 3, evalQueries: 8, evalDocs: 40 }) as never, { logger: quiet });
  assertSameModel(withEval.modelDir!, plain.modelDir!, 'evaluation must not draw from the training RNGs');
  const dev = withEval.history.filter((h) => h['dev/mrr@10'] !== undefined);
  assert.deepEqual(dev.map((h) => h.step), [3, 6]);
  for (const h of dev) {
    assert.ok(h['dev/mrr@10']! >= 0 && h['dev/mrr@10']! <= 1);
    assert.ok(h['dev/recall@100']! > 0, 'the sampled corpus holds every positive of the sampled queries');
  }
  const out = withEval.options.outDir;
  const lines = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  assert.deepEqual(lines, withEval.history);
  const logDir = path.join(out, 'log');
  const events = readEvents(path.join(logDir, fs.readdirSync(logDir)[0] as string));
  const tags = new Set(events.flatMap((e) => (e.summary ?? []).map((s) => s.tag)));
  for (const t of ['train/loss', 'train/lr', 'train/grad_norm', 'train/samplesPerSec', 'dev/mrr@10', 'dev/recall@100']) assert.ok(tags.has(t), `no ${t} in ${[...tags].join(', ')}`);
});

test('gradient caching trains the same weights as the plain step (dropout off)', async () => {
  const noDropout = { ...TINY_CONFIG, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 };
  // DRhard's recipe (LAMB, pairwise), pinned: a fresh config would otherwise get the from-scratch defaults.
  const drhard = { initConfig: noDropout, maxSteps: 3, optimizer: 'lamb', loss: 'pairwise', lr: 1e-4 };
  const plain = await trainDualEncoder(options(drhard) as never, { logger: quiet });
  const cached = await trainDualEncoder(options({ ...drhard, gradCacheChunk: 3 }) as never, { logger: quiet });
  // Float rounding differs (chunked encoder GEMMs); LAMB's normalized step amplifies it on near-zero gradients.
  assertSameModel(cached.modelDir!, plain.modelDir!, 'grad cache', 1e-4);
  const a = plain.history.map((h) => h['loss']);
  const b = cached.history.map((h) => h['loss']);
  a.forEach((x, i) => assert.ok(Math.abs(x! - b[i]!) <= 1e-5 * Math.abs(x!), `loss ${x} vs ${b[i]}`));
});

test('inbatch, randneg and bm25neg train and write a loadable model; no tensor outlives a run', async () => {
  const live = liveTensors();
  for (const method of ['inbatch', 'randneg', 'bm25neg']) {
    const r = await trainDualEncoder(options({ method, maxSteps: 2, negatives: method === 'bm25neg' ? d.negatives : undefined }) as never, { logger: quiet });
    assert.equal(r.step, 2, method);
    assert.ok(fs.existsSync(path.join(r.modelDir!, 'model.safetensors')), method);
    assert.ok(r.history.every((h) => Number.isFinite(h['loss'])), method);
  }
  assert.equal(liveTensors(), live, 'tensors leaked by training');
});
