// torchrun's agent store without Python: the test hosts a TCPStore server (as torchrun's elastic agent does) and
// starts 2 ranks with TORCHELASTIC_USE_AGENT_STORE=True; rank 0 must connect as a client rather than host the store.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { lastJson, runRanks } from '../helpers/dist.ts';
import { StoreServer } from '../../src/dist/agent.ts';
import { distEnv } from '../../src/dist/group.ts';

const worker = path.join(import.meta.dirname, 'group-worker.ts');

test('distEnv reads torchrun agent-store variables (TORCHELASTIC_USE_AGENT_STORE, TORCHELASTIC_RESTART_COUNT)', () => {
  const e = distEnv({ RANK: '0', WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '29501', TORCHELASTIC_USE_AGENT_STORE: 'True', TORCHELASTIC_RESTART_COUNT: '3' });
  assert.equal(e?.externalStore, true);
  assert.equal(e?.restart, 3);
  // torchrun writes Python's str(bool): only "True" means the agent hosts the store.
  assert.equal(distEnv({ RANK: '0', WORLD_SIZE: '2', TORCHELASTIC_USE_AGENT_STORE: 'False' })?.externalStore, false);
});

test('2 ranks rendezvous through an agent-hosted store (rank 0 a client) and run their collectives', async () => {
  using server = StoreServer.serve(0);
  // Rank 0 hosting its own store on the agent's port would fail to bind (address in use) or split the world.
  const res = await runRanks([worker, 'collectives'], 2, {
    env: () => ({ MASTER_PORT: String(server.port), TORCHELASTIC_USE_AGENT_STORE: 'True', TORCHELASTIC_RESTART_COUNT: '1' }),
    killAfterMs: 60_000,
  });
  for (const r of res) assert.equal(r.code, 0, `rank ${r.rank} failed:\n${r.stderr}`);
  for (const r of res) {
    const o = lastJson<Record<string, unknown>>(r);
    assert.deepEqual(o['sum'], [3, 30, 1]);
    assert.deepEqual(o['bcast'], [7, 8, 9]);
    assert.equal(o['same'], true);
  }
});
