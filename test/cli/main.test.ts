// The drhard entry point: --version from package.json; a file-system failure is one "drhard: error:" line naming the
// path and the operation, exit 1, no stack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(import.meta.dirname, '..', '..');
const MAIN = path.join(ROOT, 'src', 'cli', 'main.ts');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };

function drhard(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { encoding: 'utf8', env: { ...process.env, DRHARD_LOG_LEVEL: 'silent' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('drhard --version and -V print the package.json version and exit 0', () => {
  for (const flag of ['--version', '-V']) {
    const r = drhard([flag]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `${pkg.version}\n`);
    assert.equal(r.err, '');
  }
  assert.match(drhard(['--help']).out, /-V, --version +print the drhard version/);
});

test('an output path that cannot be written is one line with the path and the operation, exit 1, no stack', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-main-'));
  try {
    const out = path.join(dir, 'metrics.json');
    fs.mkdirSync(out); // a directory where the output file should go
    const fx = path.join(ROOT, 'test', 'fixtures', 'eval');
    const r = drhard(['evaluate', '--qrels', path.join(fx, 'marco.qrels.tsv'), '--run', path.join(fx, 'marco.run.trec'), '--out', out]);
    assert.equal(r.code, 1, r.err);
    const errors = r.err.split('\n').filter((l) => l.startsWith('drhard: error:'));
    assert.deepEqual(errors, [`drhard: error: ${out}: rename failed: is a directory (EISDIR)`], r.err);
    assert.doesNotMatch(r.err, /^\s+at /m);
    assert.deepEqual(fs.readdirSync(dir), ['metrics.json'], 'a temp file was left beside the output');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
