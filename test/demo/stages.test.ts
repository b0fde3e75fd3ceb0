// StageRunner: a finished stage is reused while its config is unchanged, redone when it changes or never finished.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StageRunner } from '../../src/demo/stages.ts';
import { createLogger } from '../../src/util/log.ts';

test('stages are skipped on a matching marker and redone otherwise', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-stages-'));
  const log = createLogger({ level: 'silent' });
  let runs = 0;
  const work = async (dir: string): Promise<number> => {
    runs++;
    fs.writeFileSync(path.join(dir, 'out.txt'), 'x');
    return 7;
  };
  assert.equal(await new StageRunner(root, log).run('a', { x: 1 }, work), 7);
  const again = new StageRunner(root, log);
  assert.equal(await again.run('a', { x: 1 }, work), 7);
  assert.equal(runs, 1);
  assert.equal(again.timings[0]?.resumed, true);
  assert.equal(await new StageRunner(root, log).run('a', { x: 2 }, work), 7);
  assert.equal(runs, 2, 'changed config redoes the stage');
  // A stage that throws leaves no marker, so the next run redoes it.
  await assert.rejects(new StageRunner(root, log).run('b', {}, async () => { throw new Error('killed'); }), /killed/);
  await new StageRunner(root, log).run('b', {}, work);
  assert.equal(runs, 3);
  fs.rmSync(root, { recursive: true, force: true });
});
