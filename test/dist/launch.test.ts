// drhard launch: torchrun's environment per rank, rank-prefixed output, first failure ends the others and sets the
// exit code, SIGKILL after the grace period for a rank that ignores SIGTERM; a launched command's result is on
// stdout once (rank 0's), the other ranks' only in their debug log on stderr.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { launch } from '../../src/dist/launch.ts';
import { makeDataset, saveFreshModel } from '../train/helpers.ts';
import { LOG_RESULTS, freePort, runDrhard } from '../helpers/dist.ts';

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, text: () => text };
}

const node = (code: string): string[] => [process.execPath, '-e', code];

test("each rank gets torchrun variables; logs are prefixed by rank; only rank 0's stdout is stdout", async () => {
  const out = sink();
  const err = sink();
  const r = await launch({
    nprocPerNode: 3, nnodes: 2, nodeRank: 1, masterAddr: '10.0.0.1', masterPort: 29999,
    program: node("const e = process.env; console.log([e.RANK, e.LOCAL_RANK, e.WORLD_SIZE, e.LOCAL_WORLD_SIZE, e.GROUP_RANK, e.MASTER_ADDR, e.MASTER_PORT, process.argv[1]].join(' ')); console.error('partial'); process.stderr.write('no newline')"),
    command: ['arg'],
    stdout: out.stream, stderr: err.stream, env: { PATH: process.env['PATH'] },
  });
  assert.equal(r.exitCode, 0);
  assert.deepEqual(r.codes, [0, 0, 0]);
  // Ranks 3-5 are not rank 0: what they print on stdout is not data and goes to stderr, prefixed.
  assert.equal(out.text(), '');
  const lines = err.text().trim().split('\n').filter((l) => / arg$/.test(l)).sort();
  assert.deepEqual(lines, [
    '[rank 3] 3 0 6 3 1 10.0.0.1 29999 arg',
    '[rank 4] 4 1 6 3 1 10.0.0.1 29999 arg',
    '[rank 5] 5 2 6 3 1 10.0.0.1 29999 arg',
  ]);
  // Rank 0's stdout passes through untouched (a run file piped from launch is the command's own).
  const out0 = sink();
  const r0 = await launch({
    nprocPerNode: 2, nnodes: 1, nodeRank: 0, masterAddr: '127.0.0.1', masterPort: 29998,
    program: node("process.stdout.write(process.env.RANK === '0' ? 'q1 Q0 d7 1 2.5 run\\nq2' : 'not data\\n')"),
    command: [], stdout: out0.stream, stderr: err.stream, env: { PATH: process.env['PATH'] },
  });
  assert.equal(r0.exitCode, 0);
  assert.equal(out0.text(), 'q1 Q0 d7 1 2.5 run\nq2');
  assert.ok(err.text().includes('[rank 1] not data\n'), err.text());
  for (const rank of [3, 4, 5]) {
    assert.ok(err.text().includes(`[rank ${rank}] partial\n`), err.text());
    assert.ok(err.text().includes(`[rank ${rank}] no newline\n`), err.text());
  }
});

test("the first rank's failure ends the others and is the exit code", async () => {
  const err = sink();
  const r = await launch({
    nprocPerNode: 2, nnodes: 1, nodeRank: 0, masterAddr: '127.0.0.1', masterPort: 29500,
    program: node("if (process.env.RANK === '1') setTimeout(() => process.exit(7), 200); else setTimeout(() => {}, 60000)"),
    command: [], stdout: sink().stream, stderr: err.stream,
  });
  assert.equal(r.exitCode, 7);
  assert.equal(r.failedRank, 1);
  assert.equal(r.codes[0], 143, 'rank 0 ended by SIGTERM');
  assert.match(err.text(), /\[launch\] rank 1 exited with code 7; stopping the other ranks/);
});

test('a rank that ignores SIGTERM is killed after the grace period', async () => {
  const r = await launch({
    nprocPerNode: 2, nnodes: 1, nodeRank: 0, masterAddr: '127.0.0.1', masterPort: 29500, graceMs: 300,
    program: node("process.on('SIGTERM', () => {}); if (process.env.RANK === '0') setTimeout(() => process.exit(3), 200); else setInterval(() => {}, 1000)"),
    command: [], stdout: sink().stream, stderr: sink().stream,
  });
  assert.equal(r.exitCode, 3);
  assert.equal(r.codes[1], 137, 'rank 1 ended by SIGKILL');
});

test('drhard launch runs a drhard command per rank (CLI)', () => {
  const bin = path.resolve(import.meta.dirname, '../../bin/drhard.js');
  const r = spawnSync(process.execPath, [bin, 'launch', '--nproc-per-node', '2', '--', '--version'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  // Rank 0's output is stdout; rank 1's went to stderr with its prefix.
  assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
  assert.match(r.stderr, /^\[rank 1\] \d+\.\d+\.\d+$/m);
  const bad = spawnSync(process.execPath, [bin, 'launch', '--nproc-per-node', '0', '--', '--version'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--nproc-per-node/);
});

test('drhard launch -- encode: one result line on stdout (rank 0), the other rank\'s in its debug log', async () => {
  const d = await makeDataset({ docs: 64 });
  try {
    const model = saveFreshModel(path.join(d.dir, 'model'), 7);
    const out = path.join(d.dir, 'emb.f32');
    const args = ['launch', '--nproc-per-node', '2', '--master-port', String(await freePort()), '--', 'encode', '--model', model, '--data', d.data, '--out', out, '--chunk-rows', '16', '--batch-size', '16', '--no-progress'];
    const r = await runDrhard(args, { ...process.env, ...LOG_RESULTS });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, `one result on stdout, got:\n${r.stdout}`);
    const r0 = JSON.parse(lines[0] as string) as { count: number; encoded: number };
    // Rank 1's result is in its debug log on stderr; the two encoded the corpus between them.
    const logged = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('[rank 1] {'))
      .map((l) => JSON.parse(l.slice('[rank 1] '.length)) as { msg: string; result?: { count: number; encoded: number } })
      .find((o) => o.result !== undefined);
    assert.ok(logged !== undefined, `rank 1 logged no result:\n${r.stderr}`);
    assert.equal(r0.count, d.nDocs);
    assert.equal(logged.result?.count, d.nDocs);
    assert.equal(r0.encoded + (logged.result?.encoded ?? 0), d.nDocs);
    assert.ok(fs.existsSync(out));
  } finally {
    fs.rmSync(d.dir, { recursive: true, force: true });
  }
});
