// Plain-line mode must show step/total, payload, throughput and ETA at a bounded rate; bar mode must draw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Progress, formatDuration, formatValue, type ProgressStream } from '../../src/util/progress.ts';

function sink(isTTY = false): ProgressStream & { text: () => string } {
  const chunks: string[] = [];
  return { isTTY, columns: 200, write: (c: string) => (chunks.push(c), true), text: () => chunks.join('') };
}

test('formatValue and formatDuration', () => {
  assert.equal(formatValue(0.341234), '0.3412');
  assert.equal(formatValue(2e-5), '2.00e-5');
  assert.equal(formatValue(1234), '1234');
  assert.equal(formatValue(0), '0');
  assert.equal(formatValue(Number.NaN), 'NaN');
  assert.equal(formatValue('warmup'), 'warmup');
  assert.equal(formatDuration(5), '5s');
  assert.equal(formatDuration(75), '1m15s');
  assert.equal(formatDuration(4000), '1h06m40s');
  assert.equal(formatDuration(Number.NaN), '?');
});

test('non-TTY: one plain line per interval with step/total, payload, rate and ETA', () => {
  let t = 1_000_000;
  const out = sink(false);
  const p = new Progress({ total: 100, label: 'train', stream: out, plainIntervalMs: 10_000, now: () => t });
  for (let step = 1; step <= 100; step++) {
    t += 500; // 2 steps/s
    p.update(step, { loss: 1 / step, lr: 2e-5 });
  }
  p.stop();
  p.stop();
  const lines = out.text().trimEnd().split('\n');
  // Start line, then one every 10 s of 50 s total (5), then the final line.
  assert.equal(lines.length, 7, lines.join('\n'));
  assert.match(lines[0]!, /^train 0\/100 \(0\.0%\)/);
  assert.match(lines[1]!, /^train 20\/100 \(20\.0%\) \| loss=0\.05 lr=2\.00e-5 \| 2\.0 it\/s \| elapsed 10s \| ETA 40s$/);
  assert.match(lines[6]!, /^train 100\/100 \(100\.0%\) \| loss=0\.01 lr=2\.00e-5 \| 2\.0 it\/s \| done in 50s$/);
  p.update(200);
  assert.equal(out.text().trimEnd().split('\n').length, 7, 'no output after stop');
});

test('resume start step: rate counts only this run; unknown total omits ETA', () => {
  let t = 0;
  const out = sink(false);
  const p = new Progress({ total: 0, start: 1000, unit: 'docs', stream: out, plainIntervalMs: 1, now: () => t });
  t += 1000;
  p.update(1010);
  assert.equal(p.rate(), 10);
  assert.ok(Number.isNaN(p.eta()));
  assert.doesNotMatch(p.line(), /ETA|%/);
  assert.match(p.line(), /^1010 \| 10\.0 docs\/s/);
  const q = new Progress({ total: 2000, start: 1000, stream: sink(false), now: () => t });
  t += 10_000;
  q.update(1500);
  assert.equal(q.rate(), 50);
  assert.equal(q.eta(), 10);
});

test('rate uses a recent window, so an early stall stops counting', () => {
  let t = 0;
  const p = new Progress({ total: 1000, stream: sink(false), now: () => t });
  t += 60_000; // first step took a minute
  p.update(1);
  for (let i = 2; i <= 500; i++) { // 50 s at 10 steps/s, longer than the 30 s window
    t += 100;
    p.update(i);
  }
  assert.ok(Math.abs(p.rate() - 10) < 0.5, `rate ${p.rate()}`);
});

test('TTY mode draws a bar with payload; enabled:false prints nothing', () => {
  const out = sink(true);
  const p = new Progress({ total: 10, label: 'enc', stream: out, tty: true });
  p.update(5, { loss: 0.5 });
  p.stop();
  const text = out.text();
  assert.match(text, /enc \[█+░+\] 5\/10 \(50\.0%\) \| loss=0\.5 \|/);
  const quiet = sink(false);
  const q = new Progress({ total: 10, stream: quiet, enabled: false });
  q.update(3);
  q.stop();
  assert.equal(quiet.text(), '');
  assert.throws(() => new Progress({ total: -1, stream: quiet }), RangeError);
});
