// threadsFromEnv: the thread count a process starts with (drhard's variable, OpenMP's, torchrun's per-node split).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { threadsFromEnv } from '../../src/tensor/runtime.ts';

test('DRHARD_NUM_THREADS, then OMP_NUM_THREADS (torchrun sets 1), then cores / LOCAL_WORLD_SIZE, then every core', () => {
  assert.equal(threadsFromEnv({}, 16), 16);
  assert.equal(threadsFromEnv({ DRHARD_NUM_THREADS: '3', OMP_NUM_THREADS: '1' }, 16), 3);
  assert.equal(threadsFromEnv({ OMP_NUM_THREADS: '1', WORLD_SIZE: '4', LOCAL_WORLD_SIZE: '4' }, 16), 1);
  assert.equal(threadsFromEnv({ WORLD_SIZE: '8', LOCAL_WORLD_SIZE: '4' }, 16), 4);
  assert.equal(threadsFromEnv({ WORLD_SIZE: '8', LOCAL_WORLD_SIZE: '4' }, 2), 1);
  // LOCAL_WORLD_SIZE alone (no distributed launch) and bad values change nothing.
  assert.equal(threadsFromEnv({ LOCAL_WORLD_SIZE: '4' }, 16), 16);
  assert.equal(threadsFromEnv({ DRHARD_NUM_THREADS: 'x', OMP_NUM_THREADS: '0' }, 16), 16);
});
