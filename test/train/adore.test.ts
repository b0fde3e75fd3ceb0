// ADORE training: exact resume after SIGKILL / SIGTERM, the document-embeddings pairing record, ANN indexes, and
// DRhard's train metrics in the log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkAdorePairing, trainDualEncoder } from '../../src/train/index.ts';
import { buildIndex } from '../../src/retrieval/ann.ts';
import { DrhardInputError } from '../../src/util/errors.ts';
import { makeDataset, quiet, saveFreshModel, tmpDir, writeDocEmbeddings, type SyntheticData } from './helpers.ts';
import { assertSameModel, lossesOf, runChild } from './child.ts';
import { seededRng } from '../helpers/seed.ts';

let d: SyntheticData;
let init: string;
let emb: string;
let reference: string;
const dirs: string[] = [];
const TOTAL = 12;

function options(outDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    method: 'adore',
    data: d.data,
    init,
    docEmbeddings: emb,
    outDir,
    batchSize: 8,
    maxSteps: TOTAL,
    warmupSteps: 2,
    lr: 1e-4,
    negTopk: 40,
    metricCut: 30,
    logEvery: 2,
    saveEvery: 2,
    maxQueryLength: 12,
    progress: false,
    threads: 1,
    ...extra,
  };
}

before(async () => {
  d = await makeDataset();
  init = saveFreshModel(path.join(d.dir, 'init'));
  emb = path.join(d.dir, 'docs.f32');
  writeDocEmbeddings(init, d.data, emb);
  reference = tmpDir();
  dirs.push(d.dir, reference);
  const r = await trainDualEncoder(options(reference) as never, { logger: quiet });
  assert.equal(r.step, TOTAL);
  // DRhard's per-step train metrics of the retrieved lists, and the encode/search/loss time split.
  const line = r.history.find((h) => h['loss'] !== undefined)!;
  for (const k of ['mrr10', 'recall10', 'tEncode', 'tSearch', 'tLoss', 'lr', 'gradNorm']) assert.ok(Number.isFinite(line[k]), `metrics line lacks ${k}`);
});
/** A temp directory removed after the tests. */
function scratch(): string {
  const d = tmpDir();
  dirs.push(d);
  return d;
}
after(() => {
  for (const x of dirs) fs.rmSync(x, { recursive: true, force: true });
});

test('ADORE: SIGKILL at a random step, then --resume ends with the same parameters and losses', async () => {
  const out = tmpDir();
  dirs.push(out);
  const { rng, tag } = seededRng(1402);
  const killAt = 2 + rng.int(9);
  const first = await runChild(options(out), { killAtStep: killAt });
  assert.equal(first.signal, 'SIGKILL', `kill at ${killAt} (${tag}): ${first.out}`);
  const second = await runChild({ ...options(out), resume: true });
  assert.equal(second.code, 0, `${tag}: ${second.out}${second.err}`);
  assertSameModel(path.join(out, 'model'), path.join(reference, 'model'), `kill at step ${killAt} (${tag})`);
  assert.deepEqual(lossesOf(out), lossesOf(reference), `kill at step ${killAt} (${tag})`);
});

test('ADORE: SIGTERM exits 143 after a checkpoint; resuming against different embeddings is refused', async () => {
  const out = tmpDir();
  dirs.push(out);
  const first = await runChild(options(out), { signalAtStep: { step: 3, signal: 'SIGTERM' } });
  assert.equal(first.code, 143, first.out + first.err);
  // Same size and shape, different content: only the sha256 tells them apart.
  const other = path.join(out, 'other.f32');
  const bytes = fs.readFileSync(emb);
  bytes[0] = (bytes[0] as number) ^ 1;
  fs.writeFileSync(other, bytes);
  await assert.rejects(trainDualEncoder({ ...options(out), docEmbeddings: other, resume: true, allowConfigChange: true } as never, { logger: quiet }), (e: unknown) => {
    assert.ok(e instanceof DrhardInputError);
    assert.match(e.message, /sha256/);
    return true;
  });
  const second = await runChild({ ...options(out), resume: true });
  assert.equal(second.code, 0, second.out + second.err);
  assertSameModel(path.join(out, 'model'), path.join(reference, 'model'));
  // The final model records its embeddings: pairing it with others is refused, with its own accepted.
  checkAdorePairing(path.join(out, 'model'), emb);
  assert.throws(() => checkAdorePairing(path.join(out, 'model'), other), /trained against document embeddings/);
});

test('ADORE with an ANN index (HNSW32 built here, or a saved index file) trains through DenseSearcher', async () => {
  const out = tmpDir();
  dirs.push(out);
  const r = await trainDualEncoder(options(out, { index: 'HNSW32', maxSteps: 4, saveEvery: 0 }) as never, { logger: quiet });
  assert.equal(r.step, 4);
  assert.ok(r.history.every((h) => Number.isFinite(h['loss'] ?? 0)));
  const saved = path.join(out, 'docs.hnsw');
  buildIndex(emb, saved, { factory: 'HNSW16', dim: 32 });
  const r2 = await trainDualEncoder(options(scratch(), { index: saved, maxSteps: 2, saveEvery: 0 }) as never, { logger: quiet });
  assert.equal(r2.step, 2);
  // A saved index must belong to the embeddings: one built from other vectors is refused.
  const other = path.join(out, 'other.f32');
  const bytes = fs.readFileSync(emb);
  bytes[5] = (bytes[5] as number) ^ 1;
  fs.writeFileSync(other, bytes);
  await assert.rejects(trainDualEncoder(options(scratch(), { index: saved, docEmbeddings: other, maxSteps: 2 }) as never, { logger: quiet }), /built from embeddings/);
});

test('ADORE refuses a metric cut of 0 and embeddings of the wrong size', async () => {
  await assert.rejects(trainDualEncoder(options(scratch(), { metricCut: 0 }) as never, { logger: quiet }), /metricCut/);
  const short = path.join(d.dir, 'short.f32');
  fs.writeFileSync(short, fs.readFileSync(emb).subarray(0, 32 * 4 * 10));
  await assert.rejects(trainDualEncoder(options(scratch(), { docEmbeddings: short }) as never, { logger: quiet }), /10 × 32/);
});
