// Resume promises (STAR): SIGKILL at a random step, SIGKILL mid-checkpoint-write, and SIGINT all resume to the same
// final parameters and losses as an uninterrupted run with the same seed — with dropout on, so the torch RNG state,
// the TS sampling RNG, the data order and the optimizer/schedule state must all come back exactly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { trainDualEncoder } from '../../src/train/index.ts';
import { readEvents, SessionStatus } from '../../src/train/tensorboard.ts';
import { CheckpointManager } from '../../src/util/checkpoint.ts';
import { makeDataset, quiet, TINY_CONFIG, tmpDir, type SyntheticData } from './helpers.ts';
import { assertSameModel, lossesOf, runChild } from './child.ts';
import { seededRng } from '../helpers/seed.ts';

let d: SyntheticData;
let reference: string;
const dirs: string[] = [];
const TOTAL = 14;

function options(outDir: string): Record<string, unknown> {
  return {
    method: 'star',
    data: d.data,
    negatives: d.negatives,
    initConfig: TINY_CONFIG,
    outDir,
    batchSize: 8,
    maxSteps: TOTAL,
    warmupSteps: 3,
    logEvery: 2,
    saveEvery: 3,
    keepLast: 2,
    maxQueryLength: 12,
    maxDocLength: 32,
    progress: false,
    threads: 1,
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

test('SIGKILL at a random step, then --resume: final parameters and every logged loss equal the uninterrupted run', async () => {
  const out = tmpDir();
  dirs.push(out);
  // Steps 2…11: before and after the first checkpoint, across epoch boundaries (6 steps per epoch) and the
  // padded-first-batches window (10).
  const { rng, tag } = seededRng(1401);
  const killAt = 2 + rng.int(10);
  const first = await runChild(options(out), { killAtStep: killAt });
  assert.equal(first.signal, 'SIGKILL', `kill at step ${killAt} (${tag}): ${first.out}`);
  const second = await runChild({ ...options(out), resume: true });
  assert.equal(second.code, 0, `${tag}: ${second.out}${second.err}`);
  assert.match(second.out, new RegExp(`DONE .*"step":${TOTAL}`));
  const resumedFrom = Number(/STEP (\d+)/.exec(second.out)?.[1]) - 1;
  assert.ok(resumedFrom <= killAt, `resumed from ${resumedFrom} after a kill at ${killAt} (${tag})`);
  assertSameModel(path.join(out, 'model'), path.join(reference, 'model'), `kill at step ${killAt} (${tag})`);
  assert.deepEqual(lossesOf(out), lossesOf(reference), `kill at step ${killAt} (${tag})`);
});

test('SIGKILL in the middle of a checkpoint write: the partial checkpoint is never picked, the run resumes exactly', async () => {
  const out = tmpDir();
  dirs.push(out);
  const first = await runChild(options(out), { env: { PAUSE_SAVE_STEP: '6' } });
  assert.equal(first.signal, 'SIGKILL');
  assert.match(first.out, /PAUSED 6/);
  const ckDir = path.join(out, 'checkpoints');
  assert.ok(fs.readdirSync(ckDir).includes('.tmp-step-00000006'), 'the interrupted save left its temp dir');
  const mgr = new CheckpointManager(ckDir, { logger: quiet });
  assert.equal((await mgr.latest())?.step, 3, 'latest() must skip the half-written step 6');
  const second = await runChild({ ...options(out), resume: true });
  assert.equal(second.code, 0, second.out + second.err);
  assert.match(second.out, /^STEP 4$/m, 'resumed after step 3');
  assert.ok(!fs.readdirSync(ckDir).some((n) => n.startsWith('.tmp-')), 'the stale temp dir is cleaned by the next save');
  assertSameModel(path.join(out, 'model'), path.join(reference, 'model'));
  assert.deepEqual(lossesOf(out), lossesOf(reference));
});

test('SIGINT finishes the step, checkpoints and exits 130; resuming ends identical; TensorBoard purges the stale steps', async () => {
  const out = tmpDir();
  dirs.push(out);
  const first = await runChild(options(out), { signalAtStep: { step: 4, signal: 'SIGINT' } });
  assert.equal(first.code, 130, first.out + first.err);
  const stoppedAt = Number(/DONE .*"step":(\d+)/.exec(first.out)?.[1]);
  assert.ok(stoppedAt >= 4 && stoppedAt < TOTAL, first.out);
  assert.match(first.out, /"modelDir":null/);
  const mgr = new CheckpointManager(path.join(out, 'checkpoints'), { logger: quiet });
  assert.equal((await mgr.latest())?.step, stoppedAt, 'the stop wrote a checkpoint of the last finished step');
  const second = await runChild({ ...options(out), resume: true });
  assert.equal(second.code, 0, second.out + second.err);
  assertSameModel(path.join(out, 'model'), path.join(reference, 'model'));
  assert.deepEqual(lossesOf(out), lossesOf(reference));
  const files = fs.readdirSync(path.join(out, 'log')).sort();
  assert.equal(files.length, 2, 'one event file per process');
  const resumed = readEvents(path.join(out, 'log', files[1] as string));
  const purge = resumed.find((e) => e.sessionLog?.status === SessionStatus.START);
  assert.equal(purge?.step, stoppedAt + 1);
});
