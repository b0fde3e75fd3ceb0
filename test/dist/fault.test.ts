// Faults in a 2-rank `drhard train` (loopback Gloo): SIGKILL one rank after the first checkpoint; the other exits
// within 60 s with a message naming the dead rank; `--resume` on 2 ranks then ends with exactly the parameters of
// an uninterrupted 2-rank run (dropout on, so every rank's generator state must come back).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { readStateDict } from '../../src/models/checkpoint.ts';
import { makeDataset, TINY_CONFIG, tmpDir, type SyntheticData } from '../train/helpers.ts';
import { runRanks } from '../helpers/dist.ts';

const BIN = path.resolve(import.meta.dirname, '../../bin/drhard.js');
let d: SyntheticData;
let configFile: string;
const dirs: string[] = [];

const flags = (out: string, extra: string[] = []): string[] => [
  BIN, 'train', '--method', 'star', '--data', d.data, '--negatives', d.negatives, '--init-config', configFile, '--out-dir', out,
  '--batch-size', '8', '--max-steps', '8', '--warmup-steps', '1', '--log-every', '1', '--save-every', '2', '--keep-last', '0',
  '--max-query-length', '12', '--max-doc-length', '32', '--no-progress', '--threads', '1', '--negatives-x-device', ...extra,
];
const env = (): NodeJS.ProcessEnv => ({ DRHARD_LOG_LEVEL: 'warn', DRHARD_DIST_TIMEOUT_S: '20' });

before(async () => {
  d = await makeDataset();
  dirs.push(d.dir);
  configFile = path.join(d.dir, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify(TINY_CONFIG)); // dropout on (HF defaults 0.1)
});
after(() => {
  for (const x of dirs) fs.rmSync(x, { recursive: true, force: true });
});

test('a killed rank ends the other within 60 s naming it; --resume completes bit-exactly', async (t) => {
  const [ref, out] = [tmpDir(), tmpDir()];
  dirs.push(ref, out);
  const full = await runRanks(flags(ref), 2, { env, killAfterMs: 300_000 });
  for (const r of full) assert.equal(r.code, 0, `rank ${r.rank}: ${r.stderr}`);

  const children: ChildProcess[] = [];
  let killedAt = 0;
  const watch = setInterval(() => {
    const ck = path.join(out, 'checkpoints');
    if (killedAt === 0 && fs.existsSync(ck) && fs.readdirSync(ck).some((n) => /^step-0*2$/.test(n))) {
      killedAt = Date.now();
      children[1]?.kill('SIGKILL');
    }
  }, 50);
  const broken = await runRanks(flags(out), 2, { env, killAfterMs: 300_000, onSpawn: (r, c) => (children[r] = c) });
  clearInterval(watch);
  const ended = Date.now();
  assert.ok(killedAt > 0, 'rank 1 was never killed');
  assert.equal(broken[1]?.signal, 'SIGKILL');
  const r0 = broken[0] as { code: number | null; stderr: string };
  if (r0.code === 0) {
    // Rank 0 may have finished every step before rank 1 died (nothing left to wait for): then there is nothing to test.
    assert.fail(`rank 0 finished before rank 1 was killed; stderr: ${r0.stderr}`);
  }
  assert.equal(r0.code, 1, r0.stderr);
  t.diagnostic(`rank 0 exited ${((ended - killedAt) / 1000).toFixed(1)} s after rank 1 was killed: ${r0.stderr.trim().split('\n').at(-1)}`);
  assert.match(r0.stderr, /rank 1 stopped responding/);
  assert.ok(ended - killedAt < 60_000, `rank 0 took ${(ended - killedAt) / 1000} s to exit`);

  const resumed = await runRanks(flags(out, ['--resume']), 2, { env, killAfterMs: 300_000 });
  for (const r of resumed) assert.equal(r.code, 0, `rank ${r.rank}: ${r.stderr}`);
  const a = readStateDict(path.join(ref, 'model', 'model.safetensors'));
  const b = readStateDict(path.join(out, 'model', 'model.safetensors'));
  for (const [k, t] of a) assert.ok(Buffer.from(t.toFloat32Array().buffer).equals(Buffer.from((b.get(k) as typeof t).toFloat32Array().buffer)), `${k} differs after resume`);
});
