// Test-side control of fixtures/train-child.ts (kill at a step, signal at a step) and result comparisons.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { readStateDict } from '../../src/models/checkpoint.ts';
import { tidy } from '../../src/tensor/index.ts';

const CHILD = path.join(import.meta.dirname, 'fixtures', 'train-child.ts');

export interface ChildResult {
  out: string;
  err: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Runs the training child; SIGKILLs it once it prints "STEP killAtStep" or "PAUSED", or signals it at a step. */
export function runChild(
  opts: Record<string, unknown>,
  ctl: { killAtStep?: number; signalAtStep?: { step: number; signal: NodeJS.Signals }; env?: Record<string, string> } = {},
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(opts)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DRHARD_LOG_LEVEL: 'silent', DRHARD_NUM_THREADS: '1', ...ctl.env },
    });
    let out = '';
    let err = '';
    let signalled = false;
    p.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (ctl.killAtStep !== undefined && new RegExp(`^STEP ${ctl.killAtStep}$`, 'm').test(out)) p.kill('SIGKILL');
      if (/^PAUSED/m.test(out)) p.kill('SIGKILL');
      if (!signalled && ctl.signalAtStep && new RegExp(`^STEP ${ctl.signalAtStep.step}$`, 'm').test(out)) {
        signalled = true;
        p.kill(ctl.signalAtStep.signal);
      }
    });
    p.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ out, err, code, signal });
    });
  });
}

/** Asserts two saved models hold the same parameters (max |a − b| ≤ tol; resumed runs on one CPU build are bit-equal). */
export function assertSameModel(a: string, b: string, what = '', tol = 1e-6): void {
  const A = readStateDict(path.join(a, 'model.safetensors'));
  const B = readStateDict(path.join(b, 'model.safetensors'));
  try {
    assert.deepEqual([...A.keys()].sort(), [...B.keys()].sort());
    let worst = 0;
    let worstName = '';
    for (const [k, t] of A) {
      const diff = tidy(() => t.sub(B.get(k)!).abs().max().item());
      if (diff > worst) {
        worst = diff;
        worstName = k;
      }
    }
    assert.ok(worst <= tol, `${what}: parameters differ by up to ${worst} (${worstName})`);
  } finally {
    for (const t of [...A.values(), ...B.values()]) t.dispose();
  }
}

/** [step, loss] of every train line in metrics.jsonl. */
export function lossesOf(outDir: string): Array<[number, number]> {
  return fs
    .readFileSync(path.join(outDir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, number>)
    .filter((r) => r['loss'] !== undefined)
    .map((r) => [r['step'] as number, r['loss'] as number]);
}
