// `npm run bench` (bench/run.ts) must find every bench (not the helpers they import), pass the quick flag, tolerate
// a bench without a quick mode or without recorded ratios, report failures and timeouts, and print one table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { discoverBenches, meets, ratioLines } from '../../bench/run.ts';

const ROOT = path.join(import.meta.dirname, '..', '..');
const SUMMARY = JSON.stringify(path.join(ROOT, 'bench', 'summary.ts'));

test('discoverBenches: the real bench/ directory, helpers excluded', () => {
  const found = discoverBenches(path.join(ROOT, 'bench'));
  assert.ok(found.includes('eval.ts') && found.includes('tensor.ts'), found.join(' '));
  for (const helper of ['run.ts', 'pyref.ts', 'summary.ts']) assert.ok(!found.includes(helper), `${helper} is not a bench`);
});

test('meets and ratioLines', () => {
  assert.equal(meets(1.04, '<= 1.05'), true);
  assert.equal(meets(1.06, '<= 1.05'), false);
  assert.equal(meets(0.9, '≥ 0.95'), false);
  assert.equal(meets(1, undefined), undefined);
  const lines = ratioLines('x\ncase  drhard  pytorch  ratio\nstar  1.0  0.9  1.11\n\nother\nratio drhard/trec_eval: wall 0.8\n');
  assert.deepEqual(lines, ['case  drhard  pytorch  ratio', 'star  1.0  0.9  1.11', 'ratio drhard/trec_eval: wall 0.8']);
});

test('run.ts runs every bench with --quick, tolerates one without it, reports failures and timeouts in one table', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-benchrun-'));
  try {
    fs.writeFileSync(path.join(dir, 'helper.ts'), 'export const half = 0.5;\n');
    fs.writeFileSync(
      path.join(dir, 'alpha.ts'),
      `import { half } from './helper.ts';\nimport { quickMode, recordRatio } from ${SUMMARY};\n` +
        `console.log('alpha running');\nrecordRatio({ case: 'quick=' + quickMode(), drhard: half, reference: 1, unit: 's', target: '<= 1.05' });\n`,
    );
    fs.writeFileSync(path.join(dir, 'beta.ts'), `console.log('speed ' + (process.argv.includes('--quick') ? 'q' : 'full'));\nconsole.log('ratio drhard/ref 1.20 (target <= 1.05)');\n`);
    fs.writeFileSync(path.join(dir, 'gamma.ts'), `console.log('about to fail');\nprocess.exit(3);\n`);
    fs.writeFileSync(path.join(dir, 'delta.ts'), `setInterval(() => {}, 1000);\n`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'run.ts'), '--dir', dir, '--timeout', '4'], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    const out = r.stdout;
    assert.match(out, /machine at start: .+ CPUs, flags .*load average/);
    assert.match(out, /^alpha +quick=true +0\.5 +1 +s +0\.500 +<= 1\.05 +yes$/m, out);
    assert.match(out, /^alpha: ok in \d+ s, 1 ratio\(s\) recorded$/m);
    assert.match(out, /^beta: ok in \d+ s, 0 ratio\(s\) recorded\n {2}\| ratio drhard\/ref 1\.20 \(target <= 1\.05\)$/m, out);
    assert.match(out, /^gamma: FAILED \(exit 3\)/m);
    assert.match(out, /^delta: TIMED OUT/m);
    assert.doesNotMatch(out, /helper/);
    assert.match(r.stderr, /speed q/, 'the quick flag reaches a bench that only reads argv');
    assert.doesNotMatch(out, /alpha running/, 'bench output goes to stderr, the table to stdout');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
