// Data-parallel STAR on 2 loopback Gloo ranks (child processes through `drhard train`), dropout off, 5 steps:
// with cross-rank negatives the final parameters equal one process with the whole batch; without, they equal one
// process with --micro-batches 2 (the documented per-rank semantics); the two semantics differ (the test can fail).
// Also: a checkpoint from 2 ranks is refused by 1, with a clear message.
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
    'train', '--method', 'star', '--data', d.data, '--negatives', d.negatives, '--init-config', configFile, '--out-dir', out,
    '--batch-size', '8', '--max-steps', '5', '--warmup-steps', '1', '--log-every', '1', '--save-every', '2',
    '--max-query-length', '12', '--max-doc-length', '32', '--no-progress', '--threads', '1', ...extra,
  ];
}

function single(out: string, extra: string[] = []): void {
  const r = spawnSync(process.execPath, [BIN, ...flags(out, extra)], { encoding: 'utf8', env: { ...process.env, DRHARD_LOG_LEVEL: 'warn', DRHARD_NUM_THREADS: '1' }, timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
}

async function distributed(out: string, extra: string[] = []): Promise<void> {
  const res = await runRanks([BIN, ...flags(out, extra)], 2, { env: () => ({ DRHARD_LOG_LEVEL: 'warn' }), killAfterMs: 300_000 });
  for (const r of res) assert.equal(r.code, 0, `rank ${r.rank}: ${r.stderr}`);
}

function maxDiff(a: string, b: string): { max: number; key: string } {
  const sa = readStateDict(path.join(a, 'model', 'model.safetensors'));
  const sb = readStateDict(path.join(b, 'model', 'model.safetensors'));
  let max = 0;
  let key = '';
  assert.deepEqual([...sa.keys()].sort(), [...sb.keys()].sort());
  for (const [k, t] of sa) {
    const x = t.toFloat32Array();
    const y = (sb.get(k) as typeof t).toFloat32Array();
    for (let i = 0; i < x.length; i++) {
      const e = Math.abs((x[i] as number) - (y[i] as number));
      if (e > max) {
        max = e;
        key = k;
      }
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

test('STAR, 2 ranks × B/2: cross-rank negatives = 1 process × B; without = 1 process with --micro-batches 2', async (t) => {
  const [one, micro, xdev, local] = [tmpDir(), tmpDir(), tmpDir(), tmpDir()];
  dirs.push(one, micro, xdev, local);
  single(one);
  single(micro, ['--micro-batches', '2']);
  await distributed(xdev, ['--negatives-x-device']);
  await distributed(local);
  const a = maxDiff(xdev, one);
  assert.ok(a.max <= 1e-5, `cross-rank negatives vs one process: max |Δ| ${a.max} at ${a.key}`);
  const b = maxDiff(local, micro);
  assert.ok(b.max <= 1e-5, `per-rank negatives vs micro-batches: max |Δ| ${b.max} at ${b.key}`);
  const c = maxDiff(one, micro);
  t.diagnostic(`max |Δ| after 5 steps: cross-rank ${a.max}, per-rank ${b.max}, between the two semantics ${c.max}`);
  assert.ok(c.max > 1e-4, `the two semantics should give different models (max |Δ| ${c.max})`);
  // Rank 0 wrote the checkpoints, with both ranks' generator states.
  const ck = fs.readdirSync(path.join(xdev, 'checkpoints')).filter((n) => !n.startsWith('.')).sort();
  const state = JSON.parse(fs.readFileSync(path.join(xdev, 'checkpoints', ck.at(-1) as string, 'trainer.json'), 'utf8')) as { dist?: { world: number; torchRng: string[] } };
  assert.equal(state.dist?.world, 2);
  assert.equal(state.dist?.torchRng.length, 2);
  // Resuming it with one process is refused.
  const r = spawnSync(process.execPath, [BIN, ...flags(xdev, ['--resume', '--negatives-x-device'])], { encoding: 'utf8', env: { ...process.env, DRHARD_NUM_THREADS: '1' } });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /written by a run with 2 ranks, this run has 1: resume with the same world size/);
});
