// runDistributed: rank 0 writes the real output, the other ranks a scratch file removed when the run ends (on
// success and on failure); a failure is rethrown.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lastJson, runRanks } from '../helpers/dist.ts';
import { runDistributed } from '../../src/dist/run.ts';

const worker = path.join(import.meta.dirname, 'run-worker.ts');

test('one process (no torchrun environment): no group, lead, output is the path given', async () => {
  const saved = process.env['WORLD_SIZE'];
  delete process.env['WORLD_SIZE'];
  try {
    const r = await runDistributed(async (d) => ({ pg: d.pg, lead: d.lead, out: d.output('/x/run.trec'), stdout: d.output(null) }));
    assert.deepEqual(r, { pg: null, lead: true, out: '/x/run.trec', stdout: null });
    await assert.rejects(runDistributed(async () => Promise.reject(new Error('boom'))), /boom/);
  } finally {
    if (saved !== undefined) process.env['WORLD_SIZE'] = saved;
  }
});

test('not distributed under a launched environment: only RANK 0 leads; the others write a scratch file, not stdout', async () => {
  const saved = { WORLD_SIZE: process.env['WORLD_SIZE'], RANK: process.env['RANK'] };
  try {
    process.env['WORLD_SIZE'] = '2';
    for (const rank of ['0', '1']) {
      process.env['RANK'] = rank;
      const r = await runDistributed(async (d) => ({ pg: d.pg, lead: d.lead, out: d.output('/x/run.trec'), stdout: d.output(null) }), { distributed: false, name: 'test' });
      assert.equal(r.pg, null);
      assert.equal(r.lead, rank === '0', `rank ${rank}`);
      if (rank === '0') assert.deepEqual([r.out, r.stdout], ['/x/run.trec', null]);
      else for (const p of [r.out, r.stdout]) assert.ok(p !== null && p.startsWith(os.tmpdir()) && p.includes('rank'), String(p));
    }
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

for (const mode of ['ok', 'fail'] as const) {
  test(`2 ranks (${mode}): rank 0 writes the output, rank 1 a scratch file that is gone afterwards`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-run-'));
    try {
      const out = path.join(dir, 'out.txt');
      const res = await runRanks([worker, out, mode], 2, { killAfterMs: 60_000 });
      for (const r of res) assert.equal(r.code, 0, `rank ${r.rank}:\n${r.stderr}`);
      const [r0, r1] = res.map((r) => lastJson<{ lead: boolean; wrote: string; exists: boolean; error: string | null }>(r));
      assert.equal(r0?.lead, true);
      assert.equal(r0?.wrote, out);
      assert.equal(r0?.exists, true);
      assert.equal(fs.readFileSync(out, 'utf8'), 'rank 0\n');
      assert.equal(r1?.lead, false);
      assert.notEqual(r1?.wrote, out);
      assert.equal(r1?.exists, false, 'scratch output removed');
      for (const r of [r0, r1]) assert.equal(r?.error, mode === 'fail' ? 'boom' : null);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
