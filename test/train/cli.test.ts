// `drhard train` CLI contract: help, usage errors (exit 2, nothing written), a --config file with flag overrides,
// and the same result as the library call with the same options.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { trainDualEncoder } from '../../src/train/index.ts';
import { makeDataset, quiet, TINY_CONFIG, tmpDir, type SyntheticData } from './helpers.ts';
import { assertSameModel } from './child.ts';

const MAIN = path.join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
let d: SyntheticData;
const dirs: string[] = [];

function drhard(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, DRHARD_LOG_LEVEL: 'silent', DRHARD_NUM_THREADS: '1' },
    timeout: 120_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

before(async () => {
  d = await makeDataset();
  dirs.push(d.dir);
});
after(() => {
  for (const x of dirs) fs.rmSync(x, { recursive: true, force: true });
});

test('--help lists every option with its help text and exits 0', () => {
  const r = drhard(['train', '--help']);
  assert.equal(r.code, 0, r.err);
  for (const f of ['--method <method>', '--negatives <file>', '--doc-embeddings <file>', '--resume [checkpoint]', '--allow-config-change', '--on-nonfinite <policy>', '--no-progress', '--metric-cut <n>']) {
    assert.ok(r.out.includes(f), `help lacks ${f}`);
  }
});

test('invalid values exit 2 with the flags named, stdout empty and nothing created', () => {
  const out = path.join(d.dir, 'never');
  const r = drhard(['train', '--method', 'star', '--data', d.data, '--out-dir', out, '--init-config', JSON.stringify(TINY_CONFIG), '--batch-size', '-3', '--lr', 'abc']);
  assert.equal(r.code, 2, r.err);
  assert.equal(r.out, '');
  assert.match(r.err, /--batch-size/);
  assert.match(r.err, /--lr/);
  assert.match(r.err, /--negatives/);
  assert.ok(!fs.existsSync(out));
  const bad = drhard(['train', '--method', 'nope', '--data', d.data, '--out-dir', out]);
  assert.equal(bad.code, 2);
});

test('a --config file plus flags trains the same model as trainDualEncoder with the same options', async () => {
  const opts = {
    method: 'star',
    data: d.data,
    negatives: d.negatives,
    initConfig: TINY_CONFIG,
    batchSize: 8,
    maxSteps: 5,
    warmupSteps: 2,
    logEvery: 1,
    maxQueryLength: 12,
    maxDocLength: 32,
    progress: false,
    threads: 1,
  };
  const lib = tmpDir();
  const cli = tmpDir();
  dirs.push(lib, cli);
  const r = await trainDualEncoder({ ...opts, outDir: lib } as never, { logger: quiet });
  const cfg = path.join(cli, '..', `${path.basename(cli)}.json`);
  dirs.push(cfg);
  // The file says 9 steps and seed 1; the flags override both.
  fs.writeFileSync(cfg, JSON.stringify({ ...opts, maxSteps: 9, seed: 1, progress: undefined }));
  const c = drhard(['train', '--config', cfg, '--out-dir', cli, '--max-steps', '5', '--seed', '42', '--no-progress']);
  assert.equal(c.code, 0, c.err);
  const summary = JSON.parse(c.out) as { modelDir: string; step: number; lastTrain: { loss: number } };
  assert.equal(summary.step, 5);
  assert.equal(summary.modelDir, path.join(cli, 'model'));
  assert.equal(summary.lastTrain.loss, r.history.at(-1)?.['loss']);
  assertSameModel(path.join(cli, 'model'), r.modelDir!);
});
