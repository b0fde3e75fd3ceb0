// First signal = graceful flag (exit 130/143 after the step), second = immediate exit; dispose restores defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { StopSignal, exitCodeForSignal } from '../../src/util/signals.ts';
import { createLogger } from '../../src/util/log.ts';

const child = new URL('./fixtures/stop-child.ts', import.meta.url).pathname;
const quiet = createLogger({ level: 'silent' });

test('exit codes follow 128 + signal number', () => {
  assert.equal(exitCodeForSignal('SIGINT'), 130);
  assert.equal(exitCodeForSignal('SIGTERM'), 143);
  assert.equal(exitCodeForSignal('SIGHUP'), 129);
});

test('in-process: flag on first signal, exit on second, listeners removed on dispose', async () => {
  const before = { int: process.listenerCount('SIGINT'), term: process.listenerCount('SIGTERM') };
  const exits: number[] = [];
  {
    using stop = new StopSignal({ logger: quiet, exit: (c) => void exits.push(c) });
    assert.equal(process.listenerCount('SIGINT'), before.int + 1);
    assert.equal(process.listenerCount('SIGTERM'), before.term + 1);
    assert.equal(stop.requested, false);
    assert.equal(stop.exitCode, null);
    process.emit('SIGTERM', 'SIGTERM');
    assert.equal(stop.requested, true);
    assert.equal(stop.signal, 'SIGTERM');
    assert.equal(stop.exitCode, 143);
    assert.equal(await stop.stopped, 'SIGTERM');
    assert.equal(exits.length, 0);
    process.emit('SIGINT', 'SIGINT');
    assert.deepEqual(exits, [130]);
  }
  assert.equal(process.listenerCount('SIGINT'), before.int);
  assert.equal(process.listenerCount('SIGTERM'), before.term);
  const s = new StopSignal({ logger: quiet, signals: ['SIGUSR2'], exit: (c) => void exits.push(c) });
  s.request();
  assert.equal(s.exitCode, 143);
  process.emit('SIGUSR2', 'SIGUSR2'); // after request(), a real signal counts as the second one
  assert.equal(exits.at(-1), 128 + 12);
  s.dispose();
  s.dispose();
  assert.equal(process.listenerCount('SIGUSR2'), 0);
});

function runChild(stepMs: number, send: NodeJS.Signals[]): Promise<{ out: string; code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, String(stepMs)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DRHARD_LOG_LEVEL: 'silent' },
    });
    let out = '';
    let sent = 0;
    p.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      // The first signal goes once the loop is inside a step; each further one after the child acknowledged
      // the previous (the kernel merges a signal that arrives while the same one is still pending).
      const ready = stepMs > 1000 ? out.includes('READY') : out.includes('step 2\n');
      if (sent === 0 && ready) p.kill(send[sent++]);
      else if (sent > 0 && sent < send.length && out.includes('STOP ')) p.kill(send[sent++]);
    });
    // A safety net only (a hung child shows up as signal SIGKILL), not a timing assertion.
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ out, code, signal });
    });
  });
}

test('child: SIGTERM finishes the step, checkpoints, exits 143', async () => {
  const r = await runChild(20, ['SIGTERM']);
  assert.equal(r.signal, null);
  assert.equal(r.code, 143);
  assert.match(r.out, /checkpoint at step \d+\n$/);
});

test('child: SIGINT twice during a long step exits 130 at once, without the checkpoint', async () => {
  // The step lasts ten minutes: the child can only have exited because the second signal cut the step short, which
  // the output shows by order (READY, the first signal's STOP, and no "step 1" line), with no clock involved.
  const r = await runChild(600_000, ['SIGINT', 'SIGINT']);
  assert.equal(r.signal, null, `killed by the safety net: the second signal did not end the step (${r.out})`);
  assert.equal(r.code, 130);
  assert.equal(r.out, 'READY\nSTOP SIGINT\n', 'the step finished (or checkpointed) before the exit');
});
