// Run-level lock on --out-dir: while one `drhard train` runs, a second `drhard train --resume` or `drhard pretrain` on the
// same directory fails at once (exit 1, one line naming the directory and the holder's pid) and writes nothing; once
// the first run is SIGKILLed, its stale lock is taken over and the resumed run finishes with every step logged once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { RUN_LOCK_NAME, parseLockFile } from '../../src/util/lock.ts';
import { makeDataset, TINY_CONFIG, tmpDir, type SyntheticData } from './helpers.ts';
import { lossesOf } from './child.ts';

const MAIN = path.join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const CHILD = path.join(import.meta.dirname, 'fixtures', 'train-child.ts');
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

test('two runs on one --out-dir: the second fails fast and writes nothing; a dead run\'s lock is taken over', async () => {
  const out = tmpDir();
  dirs.push(out);
  const opts = {
    method: 'star',
    data: d.data,
    negatives: d.negatives,
    initConfig: TINY_CONFIG,
    outDir: out,
    batchSize: 8,
    maxSteps: 6,
    warmupSteps: 2,
    logEvery: 1,
    saveEvery: 2,
    maxQueryLength: 12,
    maxDocLength: 32,
    progress: false,
    threads: 1,
  };
  // Run A hangs inside its step-4 checkpoint save: alive, holding the run lock, with steps 1-4 logged.
  const a = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(opts)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DRHARD_LOG_LEVEL: 'silent', DRHARD_NUM_THREADS: '1', PAUSE_SAVE_STEP: '4' },
  });
  const safety = setTimeout(() => a.kill('SIGKILL'), 180_000);
  let aOut = '';
  let aErr = '';
  a.stderr.setEncoding('utf8').on('data', (s: string) => (aErr += s));
  const aClosed = new Promise<void>((r) => a.on('close', () => r()));
  await new Promise<void>((resolve, reject) => {
    a.stdout.setEncoding('utf8').on('data', (s: string) => {
      aOut += s;
      if (/^PAUSED 4$/m.test(aOut)) resolve();
    });
    a.on('close', (code) => reject(new Error(`run A ended (exit ${code}) before pausing: ${aOut}${aErr}`)));
  });
  try {
    const snapshot = (): Record<string, string> =>
      Object.fromEntries(['metrics.jsonl', 'train-config.json'].map((n) => [n, fs.readFileSync(path.join(out, n), 'utf8')]));
    const before = snapshot();
    const logsBefore = fs.readdirSync(path.join(out, 'log'));

    const cfg = path.join(path.dirname(out), `${path.basename(out)}.json`);
    dirs.push(cfg);
    fs.writeFileSync(cfg, JSON.stringify({ ...opts, outDir: undefined, progress: undefined }));
    const b = drhard(['train', '--config', cfg, '--out-dir', out, '--resume', '--no-progress']);
    assert.equal(b.code, 1, `second train: ${b.out}${b.err}`);
    assert.equal(b.out, '');
    assert.match(b.err, new RegExp(`^drhard: error: ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by another drhard train \\(pid ${a.pid}[,)]`, 'm'));
    assert.doesNotMatch(b.err, /^\s+at /m, b.err);
    const p = drhard(['pretrain', '--data', d.data, '--out-dir', out, '--init-config', JSON.stringify(TINY_CONFIG), '--max-steps', '2', '--warmup-steps', '1', '--resume', '--no-progress']);
    assert.equal(p.code, 1, `pretrain: ${p.out}${p.err}`);
    assert.match(p.err, new RegExp(`in use by another drhard train \\(pid ${a.pid}[,)]`));
    assert.deepEqual(snapshot(), before, 'a refused run wrote into the directory');
    assert.deepEqual(fs.readdirSync(path.join(out, 'log')), logsBefore, 'a refused run created an event file');
    assert.equal(parseLockFile(fs.readFileSync(path.join(out, RUN_LOCK_NAME), 'utf8')).pid, a.pid);
  } finally {
    a.kill('SIGKILL');
    await aClosed;
    clearTimeout(safety);
  }
  // A is dead; its lock is stale.
  assert.equal(parseLockFile(fs.readFileSync(path.join(out, RUN_LOCK_NAME), 'utf8')).pid, a.pid);
  const cfg = path.join(path.dirname(out), `${path.basename(out)}.json`);
  const c = drhard(['train', '--config', cfg, '--out-dir', out, '--resume', '--no-progress']);
  assert.equal(c.code, 0, c.err);
  assert.equal((JSON.parse(c.out) as { step: number }).step, 6);
  assert.ok(!fs.existsSync(path.join(out, RUN_LOCK_NAME)), 'the finished run released its lock');
  const steps = lossesOf(out).map(([s]) => s);
  assert.deepEqual(steps, [...new Set(steps)].sort((x, y) => x - y), `duplicate or unordered metrics lines: ${steps.join(',')}`);
  assert.equal(steps.at(-1), 6);
});
