// Trainer safety and bookkeeping: non-finite policy, resume with changed options, output-directory rules, option
// validation, retention, data order and DRhard's per-visit sampling with false-negative masks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NonFiniteError, resolveTrainOptions, trainDualEncoder } from '../../src/train/index.ts';
import { loadTrainData } from '../../src/train/data.ts';
import { EpochOrder } from '../../src/train/sampler.ts';
import { samplePairBatch } from '../../src/train/star.ts';
import { pairMask } from '../../src/losses/star.ts';
import { CheckpointManager } from '../../src/util/checkpoint.ts';
import { DrhardInputError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { makeDataset, quiet, TINY_CONFIG, tmpDir, type SyntheticData } from './helpers.ts';

let d: SyntheticData;
const dirs: string[] = [];

function options(outDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    method: 'star',
    data: d.data,
    negatives: d.negatives,
    initConfig: TINY_CONFIG,
    outDir,
    batchSize: 8,
    maxSteps: 8,
    warmupSteps: 2,
    logEvery: 2,
    saveEvery: 2,
    keepLast: 2,
    maxQueryLength: 12,
    maxDocLength: 32,
    progress: false,
    ...extra,
  };
}
function out(): string {
  const x = tmpDir();
  dirs.push(x);
  return x;
}
const checkpointSteps = (o: string): number[] => new CheckpointManager(path.join(o, 'checkpoints'), { logger: quiet }).list().map((c) => c.step);

before(async () => {
  d = await makeDataset();
  dirs.push(d.dir);
});
after(() => {
  for (const x of dirs) fs.rmSync(x, { recursive: true, force: true });
});

test('a NaN loss aborts by default, naming the step, the batch query ids and the last checkpoint; nothing is saved after it', async () => {
  const o = out();
  await assert.rejects(
    trainDualEncoder(options(o) as never, { logger: quiet, hooks: { poisonStep: (s) => s === 4 } }),
    (e: unknown) => {
      assert.ok(e instanceof NonFiniteError);
      assert.equal(e.step, 5);
      assert.match(e.message, /non-finite loss \(NaN\) at step 5/);
      assert.match(e.message, /batch query ids: \d+(, \d+){7}/);
      assert.match(e.message, /last checkpoint: .*step-00000004/);
      assert.equal(e.queryIds.length, 8);
      return true;
    },
  );
  assert.deepEqual(checkpointSteps(o), [2, 4]);
  assert.ok(!fs.existsSync(path.join(o, 'model')));
});

test('--on-nonfinite skip skips and counts the update; more than --max-nonfinite consecutive skips abort', async () => {
  const o = out();
  let poisoned = 0;
  const r = await trainDualEncoder(options(o, { onNonfinite: 'skip', maxNonfinite: 2 }) as never, {
    logger: quiet,
    hooks: { poisonStep: (s) => s === 3 && poisoned++ < 2 },
  });
  assert.equal(r.step, 8);
  assert.equal(r.nonfiniteSkipped, 2);
  assert.equal(r.history.find((h) => h.step === 4)?.['skipped'], 2);
  let calls = 0;
  await assert.rejects(
    trainDualEncoder(options(out(), { onNonfinite: 'skip', maxNonfinite: 2 }) as never, { logger: quiet, hooks: { poisonStep: (s) => s === 3 && calls++ < 3 } }),
    /3 consecutive non-finite steps exceed --max-nonfinite 2/,
  );
});

test('resume with changed options is refused with every differing key listed, and writes nothing; --allow-config-change proceeds', async () => {
  const o = out();
  await trainDualEncoder(options(o, { maxSteps: 4 }) as never, { logger: quiet });
  const metrics = fs.readFileSync(path.join(o, 'metrics.jsonl'), 'utf8');
  const before = fs.readdirSync(path.join(o, 'checkpoints')).sort();
  await assert.rejects(trainDualEncoder(options(o, { maxSteps: 6, lr: 2e-4, hardNum: 2, resume: true }) as never, { logger: quiet }), (e: unknown) => {
    assert.ok(e instanceof DrhardInputError);
    for (const k of ['hardNum', 'lr', 'maxSteps']) assert.match(e.message, new RegExp(`${k}: checkpoint`));
    assert.match(e.message, /--allow-config-change/);
    return true;
  });
  assert.equal(fs.readFileSync(path.join(o, 'metrics.jsonl'), 'utf8'), metrics);
  assert.deepEqual(fs.readdirSync(path.join(o, 'checkpoints')).sort(), before);
  // Same options, changed negatives file content: listed like an option change.
  const neg = path.join(o, '..', `${path.basename(o)}-neg.tsv`);
  dirs.push(neg);
  fs.writeFileSync(neg, fs.readFileSync(d.negatives, 'utf8').split('\n').reverse().join('\n'));
  await assert.rejects(trainDualEncoder(options(o, { maxSteps: 4, negatives: neg, resume: true }) as never, { logger: quiet }), /negatives: checkpoint[\s\S]*negatives \(sha256\): checkpoint/);
  const r = await trainDualEncoder(options(o, { maxSteps: 6, resume: true, allowConfigChange: true }) as never, { logger: quiet });
  assert.equal(r.step, 6);
  assert.deepEqual(checkpointSteps(o), [4, 6], 'keep-last 2');
});

test('a non-empty output directory needs --resume or --overwrite, and --overwrite touches only drhard files', async () => {
  const o = out();
  await trainDualEncoder(options(o, { maxSteps: 2 }) as never, { logger: quiet });
  await assert.rejects(trainDualEncoder(options(o, { maxSteps: 2 }) as never, { logger: quiet }), /not empty.*--resume.*--overwrite/);
  const r = await trainDualEncoder(options(o, { maxSteps: 2, overwrite: true }) as never, { logger: quiet });
  assert.equal(r.step, 2);
  fs.writeFileSync(path.join(o, 'notes.txt'), 'mine');
  await assert.rejects(trainDualEncoder(options(o, { maxSteps: 2, overwrite: true }) as never, { logger: quiet }), /notes\.txt/);
  assert.ok(fs.existsSync(path.join(o, 'notes.txt')));
  fs.rmSync(path.join(o, 'notes.txt'));
  // An --overwrite run that fails on its inputs leaves the previous run in place.
  await assert.rejects(trainDualEncoder(options(o, { maxSteps: 2, overwrite: true, negatives: path.join(o, 'missing.tsv') }) as never, { logger: quiet }), /missing\.tsv/);
  assert.ok(fs.existsSync(path.join(o, 'model', 'model.safetensors')));
});

test('option validation reports every problem at once; DRhard defaults per method', () => {
  assert.throws(
    () => resolveTrainOptions({ method: 'star', data: 'x', outDir: 'y', batchSize: -1, lr: 0 }),
    (e: unknown) => e instanceof DrhardInputError && /batchSize/.test(e.message) && /lr/.test(e.message),
  );
  assert.throws(() => resolveTrainOptions({ method: 'star', data: 'x', outDir: 'y', init: 'm' }), /needs --negatives/);
  assert.throws(() => resolveTrainOptions({ method: 'adore', data: 'x', outDir: 'y', initConfig: {} }), /--doc-embeddings[\s\S]*needs --init/);
  const s = resolveTrainOptions({ method: 'star', data: 'x', outDir: 'y', init: 'm', negatives: 'n' });
  assert.deepEqual([s.optimizer, s.lr, s.warmupSteps, s.batchSize, s.maxQueryLength, s.maxDocLength, s.hardNum, s.weightDecay, s.maxGradNorm, s.seed], [
    'lamb', 1e-4, 1000, 256, 24, 120, 1, 0.01, 1, 42,
  ]);
  const a = resolveTrainOptions({ method: 'adore', data: 'x', outDir: 'y', init: 'm', docEmbeddings: 'e' });
  assert.deepEqual([a.optimizer, a.lr, a.warmupSteps, a.batchSize, a.maxQueryLength, a.negTopk, a.metricCut], ['adamw', 5e-6, 2000, 32, 64, 200, 200]);
});

test('data order: every epoch is a fresh permutation, and an order restored mid-epoch continues identically', () => {
  const a = new EpochOrder(20, 6, 42);
  const seq = Array.from({ length: 12 }, () => a.next());
  assert.deepEqual(seq[3]?.length, 2, 'the last batch of an epoch keeps the remainder');
  const epoch0 = seq.slice(0, 4).flat();
  const epoch1 = seq.slice(4, 8).flat();
  assert.deepEqual([...epoch0].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i));
  assert.notDeepEqual(epoch0, epoch1);
  const b = new EpochOrder(20, 6, 42);
  for (let i = 0; i < 5; i++) b.next();
  const c = new EpochOrder(20, 6, 42, b.state());
  assert.deepEqual(Array.from({ length: 7 }, () => c.next()), seq.slice(5));
});

test('STAR sampling: one positive and hard negatives drawn per visit from the mined list; relevant in-batch docs masked', () => {
  const data = loadTrainData({ data: d.data, split: 'train', minRel: 1, negatives: d.negatives });
  try {
    const q3 = data.dataset.queryOffset('train', '4') as number; // qid 4: positive doc 1003
    const q4 = data.dataset.queryOffset('train', '5') as number; // qid 5: positives 1004 and 1003
    const rng = new Rng(1);
    const visits = Array.from({ length: 30 }, () => samplePairBatch(data, [q3, q4], rng, { method: 'star', hardNum: 2, randNum: 1 }));
    const hardOfQ3 = new Set(visits.map((v) => v.negatives.slice(0, 2).join(',')));
    assert.ok(hardOfQ3.size > 5, 'hard negatives are redrawn at each visit');
    const mined = new Set(data.negatives!.row(q3));
    for (const v of visits) for (const n of v.negatives.slice(0, 2)) assert.ok(mined.has(n));
    const posOfQ4 = new Set(visits.map((v) => v.positives[1]));
    assert.equal(posOfQ4.size, 2, 'the positive is drawn among all of the query\'s positives');
    const v = visits.find((x) => x.positives[1] !== x.positives[0])!;
    const m = pairMask(v.queries.map((q) => new Set(data.positives.row(q))), v.positives).toArray();
    // Row 1 (qid 5) judges doc 1003 (row 0's positive) relevant: masked like its own diagonal.
    assert.deepEqual(m, [0, 1, 0, 0]);
  } finally {
    data.dataset.close();
  }
});
