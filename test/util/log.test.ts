// The logger must write JSON lines to stderr only, honour DRHARD_LOG_LEVEL, and survive a bad level name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { parseLogLevel } from '../../src/util/log.ts';

const root = new URL('../..', import.meta.url).pathname;

function runChild(code: string, env: Record<string, string>): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

test('parseLogLevel', () => {
  assert.equal(parseLogLevel('DEBUG'), 'debug');
  assert.equal(parseLogLevel(' warn '), 'warn');
  assert.equal(parseLogLevel('silent'), 'silent');
  assert.equal(parseLogLevel('loud'), 'info');
  assert.equal(parseLogLevel(undefined, 'error'), 'error');
});

test('logs go to stderr as JSON, stdout stays clean, level comes from the environment', () => {
  const code = `import { log } from './src/util/log.ts';
    log.child({ mod: 'train' }).debug({ step: 3 }, 'dbg');
    log.info({ step: 4 }, 'hello');
    process.stdout.write('DATA\\n');`;
  const info = runChild(code, { DRHARD_LOG_LEVEL: 'info' });
  assert.equal(info.status, 0, info.stderr);
  assert.equal(info.stdout, 'DATA\n');
  const lines = info.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!['msg'], 'hello');
  assert.equal(lines[0]!['level'], 'info');
  assert.equal(lines[0]!['step'], 4);
  const dbg = runChild(code, { DRHARD_LOG_LEVEL: 'debug' });
  const dl = dbg.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(dl.length, 2);
  assert.equal(dl[0]!['mod'], 'train');
  assert.equal(dl[0]!['level'], 'debug');
  const bad = runChild(code, { DRHARD_LOG_LEVEL: 'loud' });
  assert.equal(bad.status, 0);
  assert.match(bad.stderr, /unknown DRHARD_LOG_LEVEL/);
  assert.match(bad.stderr, /hello/);
  const silent = runChild(code, { DRHARD_LOG_LEVEL: 'silent' });
  assert.equal(silent.stderr, '');
});

test('a line logged right before process.exit is not lost (synchronous destination)', () => {
  const r = runChild(`import { log } from './src/util/log.ts'; log.error('bye'); process.exit(3);`, { DRHARD_LOG_LEVEL: 'info' });
  assert.equal(r.status, 3);
  assert.match(r.stderr, /"msg":"bye"/);
});

test('text format: time, level, module, message and exact field values on one line', async () => {
  const { formatLogLine, parseLogFormat } = await import('../../src/util/log.ts');
  const line = JSON.stringify({ level: 'info', time: '2026-12-06T11:02:03.456Z', mod: 'bm25', 'mrr@10': 0.0483726123, queries: 80, file: 'runs/a b.trec', msg: 'bm25 done' });
  assert.equal(formatLogLine(line), '11:02:03 INFO  [bm25] bm25 done mrr@10=0.0483726123 queries=80 file="runs/a b.trec"');
  assert.equal(formatLogLine('not json'), 'not json');
  assert.equal(parseLogFormat(' JSON '), 'json');
  assert.equal(parseLogFormat('xml'), null);
});

test('DRHARD_LOG_FORMAT=text gives text lines even when stderr is not a terminal', () => {
  const r = runChild(`import { log } from './src/util/log.ts'; log.warn({ step: 7 }, 'warmup exceeds the run');`, { DRHARD_LOG_LEVEL: 'info', DRHARD_LOG_FORMAT: 'text' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^\d\d:\d\d:\d\d WARN  warmup exceeds the run step=7\n$/);
});
