// Distributed pretraining on 2 loopback Gloo ranks (child processes through `drhard pretrain`), dropout off, a batch
// of 7 documents (slices of 3 and 4), contrastive + MLM: with --negatives-x-device the final parameters equal one
// process with the whole batch (every rank draws the whole batch's crops and masks from the shared RNG; the
// contrastive loss is the whole batch's, W × it backpropagated; the MLM loss is the slice's summed cross-entropy over
// the whole batch's masked count, × W). Without it each rank's in-batch negatives are its slice's: the run of one
// process with --micro-batches 2 (and a different run from the whole batch's).
// Also: dev evaluation (STAR-style, re-encoding documents) runs on rank 0 alone, which logs and writes it once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { readStateDict } from '../../src/models/checkpoint.ts';
import { makeDataset, TINY_CONFIG, tmpDir, type SyntheticData } from '../train/helpers.ts';
import { runRanks } from '../helpers/dist.ts';

const BIN = path.resolve(import.meta.dirname, '../../bin/drhard.js');
let d: SyntheticData;
let configFile: string;
const dirs: string[] = [];

function flags(out: string, extra: string[] = []): string[] {
  return [
    'pretrain', '--data', d.data, '--init-config', configFile, '--out-dir', out, '--objective', 'both',
    '--batch-size', '7', '--max-steps', '4', '--warmup-steps', '1', '--lr', '1e-3', '--log-every', '1', '--save-every', '2',
    '--max-query-length', '12', '--max-doc-length', '32', '--no-progress', '--threads', '1', ...extra,
  ];
}

function maxDiff(a: string, b: string): { max: number; key: string } {
  const sa = readStateDict(path.join(a, 'model', 'model.safetensors'));
  const sb = readStateDict(path.join(b, 'model', 'model.safetensors'));
  assert.deepEqual([...sa.keys()].sort(), [...sb.keys()].sort());
  let max = 0;
  let key = '';
  for (const [k, t] of sa) {
    const x = t.toFloat32Array();
    const y = (sb.get(k) as typeof t).toFloat32Array();
    for (let i = 0; i < x.length; i++) {
      const e = Math.abs((x[i] as number) - (y[i] as number));
      if (e > max || Number.isNaN(e)) [max, key] = [Number.isNaN(e) ? Infinity : e, k];
    }
  }
  return { max, key };
}

before(async () => {
  d = await makeDataset();
  dirs.push(d.dir);
  configFile = path.join(d.dir, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify({ ...TINY_CONFIG, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 }));
});
after(() => {
  for (const x of dirs) fs.rmSync(x, { recursive: true, force: true });
});

function single(out: string, extra: string[] = []): void {
  const r = spawnSync(process.execPath, [BIN, ...flags(out, extra)], { encoding: 'utf8', env: { ...process.env, DRHARD_LOG_LEVEL: 'warn', DRHARD_NUM_THREADS: '1' }, timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
}

test('pretrain, 2 ranks × slices of 7: --negatives-x-device = 1 process × 7, without = --micro-batches 2 (contrastive + MLM); dev evaluation on rank 0 only', async (t) => {
  const [one, micro, xdev, local] = [tmpDir(), tmpDir(), tmpDir(), tmpDir()];
  dirs.push(one, micro, xdev, local);
  single(one);
  single(micro, ['--micro-batches', '2']);
  const info = { DRHARD_LOG_LEVEL: 'info', DRHARD_LOG_FORMAT: 'json' };
  const res = await runRanks([BIN, ...flags(xdev, ['--negatives-x-device', '--eval-every', '2', '--eval-queries', '0'])], 2, { env: () => info, killAfterMs: 300_000 });
  for (const x of res) assert.equal(x.code, 0, `rank ${x.rank}: ${x.stderr}`);
  const res2 = await runRanks([BIN, ...flags(local)], 2, { env: () => ({ DRHARD_LOG_LEVEL: 'warn' }), killAfterMs: 300_000 });
  for (const x of res2) assert.equal(x.code, 0, `rank ${x.rank}: ${x.stderr}`);
  const a = maxDiff(xdev, one);
  const b = maxDiff(local, micro);
  const c = maxDiff(micro, one);
  t.diagnostic(`max |Δ| after 4 steps: cross-rank negatives vs 1 process ${a.max} (${a.key}); per-rank negatives vs micro-batches ${b.max} (${b.key}); between the two semantics ${c.max}`);
  assert.ok(a.max <= 1e-5, `cross-rank negatives vs one process: max |Δ| ${a.max} at ${a.key}`);
  assert.ok(b.max <= 1e-5, `per-rank negatives vs --micro-batches 2: max |Δ| ${b.max} at ${b.key}`);
  assert.ok(c.max > 1e-4, `per-slice in-batch negatives should train differently from the whole batch's (max |Δ| ${c.max})`);
  // The logged losses are the whole batch's: the mean over ranks of each rank's share.
  const losses = (dir: string): Array<Record<string, number>> =>
    fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"loss"')).map((l) => JSON.parse(l) as Record<string, number>);
  for (const [i, x] of losses(one).entries()) {
    const y = losses(xdev)[i] as Record<string, number>;
    for (const k of ['loss', 'contrastive', 'mlm']) assert.ok(Math.abs((y[k] as number) - (x[k] as number)) <= 1e-5, `step ${x['step']} ${k}: ${y[k]} vs ${x[k]}`);
  }
  // Dev evaluation: once per evaluation step, logged and written by rank 0 only.
  const devLogs = res.map((x) => x.stderr.split('\n').filter((l) => l.includes('"dev evaluation"')).length);
  assert.deepEqual(devLogs, [2, 0], 'dev evaluation logged by rank 0 only, at steps 2 and 4');
  const dev = fs.readFileSync(path.join(xdev, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"dev/'));
  assert.deepEqual(dev.map((l) => (JSON.parse(l) as { step: number }).step), [2, 4]);
});

test('pretrain on 2 ranks with dropout on: resuming from its step-2 checkpoint ends bit-identical to the uninterrupted run', async () => {
  const dropoutConfig = path.join(d.dir, 'config-dropout.json');
  fs.writeFileSync(dropoutConfig, JSON.stringify({ ...TINY_CONFIG, hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1 }));
  const [full, resumed] = [tmpDir(), tmpDir()];
  dirs.push(full, resumed);
  const args = (out: string, extra: string[] = []): string[] => [BIN, ...flags(out, ['--keep-last', '0', ...extra]).map((a) => (a === configFile ? dropoutConfig : a))];
  const a = await runRanks(args(full), 2, { env: () => ({ DRHARD_LOG_LEVEL: 'warn' }), killAfterMs: 300_000 });
  for (const x of a) assert.equal(x.code, 0, `rank ${x.rank}: ${x.stderr}`);
  fs.rmSync(resumed, { recursive: true, force: true });
  fs.cpSync(full, resumed, { recursive: true });
  fs.rmSync(path.join(resumed, 'model'), { recursive: true, force: true });
  const ck = fs.readdirSync(path.join(resumed, 'checkpoints')).filter((n) => !n.startsWith('.')).sort()[0] as string;
  const b = await runRanks(args(resumed, ['--resume', path.join(resumed, 'checkpoints', ck)]), 2, { env: () => ({ DRHARD_LOG_LEVEL: 'warn' }), killAfterMs: 300_000 });
  for (const x of b) assert.equal(x.code, 0, `rank ${x.rank}: ${x.stderr}`);
  const m = maxDiff(full, resumed);
  assert.equal(m.max, 0, `resumed vs uninterrupted: max |Δ| ${m.max} at ${m.key} (from ${ck})`);
});
