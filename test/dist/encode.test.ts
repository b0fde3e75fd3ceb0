// Sharded `drhard encode` on 2 loopback Gloo ranks: one output byte-identical to a single-process encode (rank r
// encodes parts r, r+2, …; rank 0 publishes), and a rerun over a half-finished parts directory reuses what is there.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { makeDataset, saveFreshModel, tmpDir, type SyntheticData } from '../train/helpers.ts';
import { LOG_RESULTS, resultOf, runRanks } from '../helpers/dist.ts';

const BIN = path.resolve(import.meta.dirname, '../../bin/drhard.js');
let d: SyntheticData;
let model: string;
const dirs: string[] = [];

const args = (out: string, chunk = 32): string[] => ['encode', '--model', model, '--data', d.data, '--out', out, '--chunk-rows', String(chunk), '--batch-size', String(Math.min(16, chunk)), '--no-progress'];

before(async () => {
  d = await makeDataset();
  dirs.push(d.dir);
  model = saveFreshModel(path.join(d.dir, 'model'), 3);
});
after(() => {
  for (const x of dirs) fs.rmSync(x, { recursive: true, force: true });
});

test('2 ranks write one embeddings file byte-identical to one process', async () => {
  const dir = tmpDir('drhard-dist-encode-');
  dirs.push(dir);
  const one = path.join(dir, 'one.f32');
  const two = path.join(dir, 'two.f32');
  const r = spawnSync(process.execPath, [BIN, ...args(one)], { encoding: 'utf8', env: { ...process.env, DRHARD_NUM_THREADS: '1' }, timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  const res = await runRanks([BIN, ...args(two)], 2, { killAfterMs: 300_000, env: () => LOG_RESULTS });
  for (const x of res) assert.equal(x.code, 0, `rank ${x.rank}: ${x.stderr}`);
  assert.ok(fs.readFileSync(one).equals(fs.readFileSync(two)), 'embeddings differ');
  const m1 = JSON.parse(fs.readFileSync(`${one}.json`, 'utf8')) as { sha256: string; count: number };
  const m2 = JSON.parse(fs.readFileSync(`${two}.json`, 'utf8')) as { sha256: string; count: number };
  assert.equal(m2.sha256, m1.sha256);
  assert.equal(m2.count, d.nDocs);
  // Every rank reports the same published file (rank 0 on stdout, rank 1 only in its log: stdout carries one
  // result); each encoded its own parts only (200 rows: 7 parts of 32).
  assert.equal(res[1]?.stdout, '', 'rank 1 prints nothing on stdout');
  const outs = res.map((x) => resultOf<{ encoded: number; count: number }>(x));
  assert.deepEqual(outs.map((o) => o.count), [d.nDocs, d.nDocs]);
  assert.equal((outs[0]?.encoded ?? 0) + (outs[1]?.encoded ?? 0), d.nDocs);
  assert.ok((outs[0]?.encoded ?? 0) > 0 && (outs[1]?.encoded ?? 0) > 0);
});

test('an interrupted encode resumes on 2 ranks from the verified parts, byte-identical', async () => {
  const dir = tmpDir('drhard-dist-encode-');
  dirs.push(dir);
  const one = path.join(dir, 'one.f32');
  const two = path.join(dir, 'two.f32');
  const r = spawnSync(process.execPath, [BIN, ...args(one, 4)], { encoding: 'utf8', env: { ...process.env, DRHARD_NUM_THREADS: '1' }, timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  // One process, stopped with SIGINT once its first part is published: finished parts stay in <out>.parts/.
  const p = spawn(process.execPath, [BIN, ...args(two, 4)], { env: { ...process.env, DRHARD_NUM_THREADS: '1' }, stdio: 'ignore' });
  const parts = `${two}.parts`;
  const watch = setInterval(() => {
    if (fs.existsSync(parts) && fs.readdirSync(parts).some((f) => !f.startsWith('.') && f.endsWith('.json') && f !== 'identity.json')) p.kill('SIGINT');
  }, 20);
  const code = await new Promise<number | null>((resolve) => p.on('close', (c) => resolve(c)));
  clearInterval(watch);
  assert.ok(!fs.existsSync(two), `the stopped run should not have finished (exit ${code})`);
  const res = await runRanks([BIN, ...args(two, 4)], 2, { killAfterMs: 300_000, env: () => LOG_RESULTS });
  for (const x of res) assert.equal(x.code, 0, `rank ${x.rank}: ${x.stderr}`);
  const outs = res.map((x) => resultOf<{ encoded: number; reused: number }>(x));
  assert.ok(outs.reduce((a, o) => a + o.reused, 0) > 0, `no part was reused: ${JSON.stringify(outs)}`);
  assert.equal(outs.reduce((a, o) => a + o.encoded + o.reused, 0), d.nDocs);
  assert.ok(fs.readFileSync(one).equals(fs.readFileSync(two)), 'embeddings differ after resuming');
});
