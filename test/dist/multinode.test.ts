// Multi-node on loopback: two `drhard launch --nnodes 2 --node-rank 0|1 --nproc-per-node 1` (one per "node", as on
// two machines) form one world of 2; their sharded encode is byte-identical to a single-process encode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeDataset, saveFreshModel } from '../train/helpers.ts';
import { LOG_RESULTS, freePort, runDrhard } from '../helpers/dist.ts';

const BIN = path.resolve(import.meta.dirname, '../../bin/drhard.js');

const run = (args: string[]): ReturnType<typeof runDrhard> => runDrhard(args, { ...process.env, DRHARD_NUM_THREADS: '1', ...LOG_RESULTS });

test('two launchers (--nnodes 2, one rank each) form one world; sharded encode equals one process', async () => {
  const d = await makeDataset();
  try {
    const model = saveFreshModel(path.join(d.dir, 'model'), 5);
    const enc = (out: string): string[] => ['encode', '--model', model, '--data', d.data, '--out', out, '--chunk-rows', '32', '--batch-size', '16', '--no-progress'];
    const one = path.join(d.dir, 'one.f32');
    const two = path.join(d.dir, 'two.f32');
    const r = spawnSync(process.execPath, [BIN, ...enc(one)], { encoding: 'utf8', env: { ...process.env, DRHARD_NUM_THREADS: '1' }, timeout: 300_000 });
    assert.equal(r.status, 0, r.stderr);
    const port = await freePort();
    const node = (rank: number): string[] => ['launch', '--nnodes', '2', '--node-rank', String(rank), '--nproc-per-node', '1', '--master-addr', '127.0.0.1', '--master-port', String(port), '--', ...enc(two)];
    const res = await Promise.all([run(node(0)), run(node(1))]);
    for (const [i, x] of res.entries()) assert.equal(x.code, 0, `launcher ${i}: ${x.stderr}`);
    // Each launcher's one rank carries its global rank; both report the same published file, half the rows each:
    // rank 0 on its launcher's stdout, rank 1 (whose launcher prints no data) in its debug log on stderr.
    assert.equal(res[1]?.stdout, '', 'the node of rank 1 prints nothing on stdout');
    const outs = res.map((x, i) => {
      const from = i === 0 ? x.stdout : x.stderr;
      // Rank 0's stdout is the command's own (no prefix); rank 1's log lines carry their rank.
      const prefix = i === 0 ? '' : `[rank ${i}] `;
      const line = from
        .trim()
        .split('\n')
        .filter((l) => l.startsWith(`${prefix}{`))
        .map((l) => JSON.parse(l.slice(prefix.length)) as { count: number; encoded: number; result?: { count: number; encoded: number } })
        .map((o) => (i === 0 ? o : o.result))
        .find((o) => o !== undefined);
      assert.ok(line !== undefined, `launcher ${i} gave no [rank ${i}] result:\n${from}`);
      return line;
    });
    assert.deepEqual(outs.map((o) => o.count), [d.nDocs, d.nDocs]);
    assert.equal((outs[0]?.encoded ?? 0) + (outs[1]?.encoded ?? 0), d.nDocs);
    assert.ok((outs[0]?.encoded ?? 0) > 0 && (outs[1]?.encoded ?? 0) > 0, 'both nodes encoded parts');
    assert.ok(fs.readFileSync(one).equals(fs.readFileSync(two)), 'embeddings differ');
  } finally {
    fs.rmSync(d.dir, { recursive: true, force: true });
  }
});
