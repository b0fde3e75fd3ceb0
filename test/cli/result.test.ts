// Command results on stdout: written by a single process and by rank 0 of a launched world, never by the other
// ranks (they log it at debug level instead), whatever the launcher.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { emitResult, emitText, isLeadProcess } from '../../src/cli/result.ts';

test('only a single process or global rank 0 writes the result; other ranks write nothing on stdout', async () => {
  const cases: Array<[NodeJS.ProcessEnv, boolean]> = [
    [{}, true],
    [{ WORLD_SIZE: '' }, true],
    [{ WORLD_SIZE: '2', RANK: '0' }, true],
    [{ WORLD_SIZE: '2', RANK: '1' }, false],
    [{ WORLD_SIZE: '4', RANK: '3', LOCAL_RANK: '0' }, false],
    // A node's first local rank is not the lead unless its global rank is 0.
    [{ WORLD_SIZE: '4', RANK: '2', LOCAL_RANK: '0', GROUP_RANK: '1' }, false],
    [{ RANK: '1' }, true],
  ];
  for (const [env, lead] of cases) {
    assert.equal(isLeadProcess(env), lead, JSON.stringify(env));
    const written: string[] = [];
    await emitResult({ count: 3, out: 'x' }, { env, write: (t) => written.push(t) });
    await emitText('report\n', { env, write: (t) => written.push(t) });
    assert.deepEqual(written, lead ? ['{"count":3,"out":"x"}\n', 'report\n'] : [], JSON.stringify(env));
  }
});

test('commands print on stdout only through emitResult/emitText (no direct process.stdout.write or console.log)', () => {
  // src/data/runwriter.ts streams runs to stdout by design (a distributed run's other ranks write scratch files
  // instead: src/dist/run.ts) and src/dist/launch.ts relays rank 0's stdout; neither is under these folders.
  const src = path.join(import.meta.dirname, '..', '..', 'src');
  const offenders: string[] = [];
  for (const dir of ['cli', 'serve', 'demo', 'train', 'retrieval', 'eval']) {
    for (const rel of fs.readdirSync(path.join(src, dir), { recursive: true, encoding: 'utf8' })) {
      const file = path.join(src, dir, rel);
      if (!file.endsWith('.ts') || file === path.join(src, 'cli', 'result.ts')) continue;
      fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        if (/process\.stdout\.write|console\.(log|info)\(/.test(line.replace(/\/\/.*$/, ''))) offenders.push(`${path.relative(src, file)}:${i + 1}: ${line.trim()}`);
      });
    }
  }
  assert.deepEqual(offenders, []);
});
