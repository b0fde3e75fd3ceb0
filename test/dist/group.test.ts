// ProcessGroup over loopback Gloo with 2 ranks as child processes: collectives' values, config-hash refusal, and
// bounded failure (a dead or stopped peer ends the collective with a message naming it).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lastJson, runRanks } from '../helpers/dist.ts';
import { distEnv } from '../../src/dist/group.ts';

const worker = path.join(import.meta.dirname, 'group-worker.ts');

test('distEnv reads torchrun variables and refuses bad ones', () => {
  assert.equal(distEnv({}), null);
  const e = distEnv({ RANK: '1', WORLD_SIZE: '4', LOCAL_RANK: '1', MASTER_ADDR: 'node0', MASTER_PORT: '1234' });
  assert.deepEqual(e, { rank: 1, world: 4, localRank: 1, localWorld: 4, init: 'tcp://node0:1234', externalStore: false, restart: 0 });
  assert.throws(() => distEnv({ RANK: '4', WORLD_SIZE: '4' }), /RANK=4 is not below WORLD_SIZE=4/);
  assert.throws(() => distEnv({ WORLD_SIZE: '2' }), /RANK is not set/);
  assert.equal(distEnv({ RANK: '0', WORLD_SIZE: '2', DRHARD_DIST_INIT: 'file:///tmp/x' })?.init, 'file:///tmp/x');
});

for (const init of ['tcp', 'file'] as const) {
  test(`2 ranks (${init} rendezvous): allReduce, variable-size allGather, broadcast, barrier, config hashes`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-dist-'));
    try {
      const res = await runRanks([worker, 'collectives'], 2, {
        env: () => (init === 'file' ? { DRHARD_DIST_INIT: `file://${path.join(dir, 'store')}` } : {}),
      });
      for (const r of res) assert.equal(r.code, 0, `rank ${r.rank} failed:\n${r.stderr}`);
      for (const r of res) {
        const o = lastJson<Record<string, unknown>>(r);
        assert.deepEqual(o['sum'], [3, 30, 1]);
        assert.deepEqual(o['avg'], [1.5, 3]);
        assert.equal(o['max'], 1);
        assert.deepEqual(o['gather'], [
          { shape: [1, 2], values: [0, 1] },
          { shape: [2, 2], values: [100, 101, 102, 103] },
        ]);
        assert.deepEqual(o['bcast'], [7, 8, 9]);
        assert.equal(o['same'], true);
        assert.match(String(o['mismatch']), /config differs between ranks: rank 1 disagrees with rank 0/);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a clean leave waits for every rank: the store host outlives a peer still reading from it', async () => {
  const res = await runRanks([worker, 'late-reader'], 2, { killAfterMs: 60_000 });
  for (const r of res) assert.equal(r.code, 0, `rank ${r.rank} failed:\n${r.stderr}`);
  assert.equal(lastJson<{ read: string }>(res[1] as never).read, 'v');
});

for (const scenario of ['dead', 'stopped'] as const) {
  test(`a ${scenario} rank fails the others' collective within the timeout, naming it`, async () => {
    const timeoutMs = 4000;
    const children: Array<import('node:child_process').ChildProcess> = [];
    const res = await runRanks([worker, scenario], 2, {
      env: () => ({ TEST_TIMEOUT_MS: String(timeoutMs) }),
      killAfterMs: 60_000,
      onSpawn: (rank, child) => {
        children[rank] = child;
        // The stopped rank never resumes: end it once rank 0 has reported.
        if (rank === 0) child.on('exit', () => children[1]?.kill('SIGKILL'));
      },
    });
    const r0 = lastJson<{ error: string | null; seconds: number; ranks: number[]; isDistError: boolean }>(res[0] as never);
    assert.ok(r0.error !== null, 'rank 0 should have failed');
    assert.equal(r0.isDistError, true);
    assert.match(r0.error, /rank 1 stopped responding/);
    assert.deepEqual(r0.ranks, [1]);
    assert.ok(r0.seconds < 60, `took ${r0.seconds} s`);
  });
}

test('a rank alive but stuck in JavaScript before a collective is named by the others within the timeout plus a few seconds', async (t) => {
  const timeoutMs = 4000;
  const children: Array<import('node:child_process').ChildProcess> = [];
  const res = await runRanks([worker, 'stuck'], 2, {
    env: () => ({ TEST_TIMEOUT_MS: String(timeoutMs) }),
    killAfterMs: 60_000,
    onSpawn: (rank, child) => {
      children[rank] = child;
      if (rank === 0) child.on('exit', () => children[1]?.kill('SIGKILL'));
    },
  });
  const r0 = lastJson<{ error: string | null; seconds: number; ranks: number[]; isDistError: boolean }>(res[0] as never);
  assert.ok(r0.error !== null, 'rank 0 should have failed');
  assert.equal(r0.isDistError, true);
  // Its heartbeat still beats, so only the sequence numbers can name it: barrier #1 was its last collective.
  assert.match(r0.error, /rank 1 \(last entered: barrier #1\) never entered allReduce #2/);
  assert.deepEqual(r0.ranks, [1]);
  assert.ok(r0.seconds < timeoutMs / 1000 + 8, `took ${r0.seconds} s`);
  t.diagnostic(`rank 0 failed ${r0.seconds} s after entering the collective (timeout ${timeoutMs / 1000} s): ${r0.error}`);
});
