// On a terminal, a line logged while a progress bar is drawn must appear whole above the bar (not be overwritten or
// cut by it), at the widths people use (100–160 columns), and read as text; --log-format json keeps JSON there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { renderScreen } from '../helpers/terminal.ts';

const ROOT = path.join(import.meta.dirname, '..', '..');
const CHILD = path.join(import.meta.dirname, 'fixtures', 'bar-and-log.ts');
const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

/** Runs the child on a pseudo-terminal of `columns` columns (util-linux `script`); returns what the terminal got. */
function onTerminal(columns: number, env: Record<string, string> = {}): string {
  const cmd = `stty cols ${columns} rows 40; exec ${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(CHILD)}`;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, DRHARD_LOG_LEVEL: 'info', DRHARD_LOG_FORMAT: '', ...env },
  });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  return r.stdout;
}

for (const columns of [100, 132, 160]) {
  test(`${columns} columns: "checkpoint saved" and "dev evaluation" survive an active progress bar`, { skip: hasScript ? false : 'util-linux script is not installed (no pseudo-terminal)' }, () => {
    const screen = renderScreen(onTerminal(columns), columns);
    const saved = screen.filter((l) => l.includes('checkpoint saved'));
    assert.equal(saved.length, 1, screen.join('\n'));
    assert.match(saved[0]!, /^\d\d:\d\d:\d\d INFO +checkpoint saved step=50 dir=runs\/star\/checkpoints\/step-50$/, screen.join('\n'));
    const dev = screen.filter((l) => l.includes('dev evaluation'));
    assert.equal(dev.length, 1, screen.join('\n'));
    assert.match(dev[0]!, /dev evaluation step=80 dev\/mrr@10=0\.3141$/);
    // The bar ends on its own line below the logged lines, complete, and no line is wider than the terminal.
    assert.ok(screen.indexOf(saved[0]!) < screen.indexOf(dev[0]!));
    const last = screen.filter((l) => l.trim() !== '').at(-1)!;
    assert.match(last, /^train \[█{24}\] 100\/100 \(100\.0%\)/, screen.join('\n'));
    assert.equal(screen.filter((l) => l.startsWith('train [')).length, 1, `one bar line expected:\n${screen.join('\n')}`);
    assert.ok(screen.every((l) => l.length <= columns));
  });
}

test('--log-format json (DRHARD_LOG_FORMAT=json) keeps JSON lines on a terminal, still above the bar', { skip: hasScript ? false : 'util-linux script is not installed' }, () => {
  const screen = renderScreen(onTerminal(120, { DRHARD_LOG_FORMAT: 'json' }), 120);
  // A JSON line longer than the terminal wraps: join the screen's lines to read it back.
  const saved = /\{"level":"info"[^{}]*"msg":"checkpoint saved"\}/.exec(screen.join(''));
  assert.ok(saved !== null, screen.join('\n'));
  const o = JSON.parse(saved[0]) as Record<string, unknown>;
  assert.equal(o['msg'], 'checkpoint saved');
  assert.equal(o['step'], 50);
});
