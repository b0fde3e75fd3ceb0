// Atomic writers under injected faults: short writes are continued, a write that makes no progress, ENOSPC, a failed
// fsync or close, and a temp file whose size differs from what was written all end in a DrhardFsError that names the
// target and the operation, with the old file untouched and no temp file left.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { AtomicWriter, publishDir, writeFileAtomic } from '../../src/util/fsx.ts';
import { DrhardFsError, DrhardInputError } from '../../src/util/errors.ts';
import { seededRng } from '../helpers/seed.ts';

// The ESM namespace of node:fs mirrors the CommonJS module; syncBuiltinESMExports() publishes a patched function to
// every `import * as fs from 'node:fs'`, so the writers under test see the fault.
const cjs = createRequire(import.meta.url)('node:fs') as Record<string, unknown>;
const saved = new Map<string, unknown>();
function patch(name: 'writeSync' | 'fsyncSync' | 'closeSync', fn: unknown): void {
  if (!saved.has(name)) saved.set(name, cjs[name]);
  cjs[name] = fn;
  syncBuiltinESMExports();
}
afterEach(() => {
  for (const [k, v] of saved) cjs[k] = v;
  saved.clear();
  syncBuiltinESMExports();
});
const origWrite = fs.writeSync as (fd: number, b: Uint8Array, off: number, len: number, pos: number | null) => number;

function errno(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected, ${syscall}`), { code, syscall, errno: -1 });
}

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-fsx-'));
}

/** Entries of `dir` other than `keep`: temp files a failed write must not leave behind. */
function leftovers(dir: string, keep: string[] = []): string[] {
  return fs.readdirSync(dir).filter((n) => !keep.includes(n));
}

test('AtomicWriter and writeFileAtomic continue after short writes (strings and bytes)', () => {
  const dir = tmp();
  const { rng, tag } = seededRng(14);
  try {
    // Every write(2) takes 1..13 bytes, as a nearly full disk or a signal-interrupted write may.
    patch('writeSync', (fd: number, b: Uint8Array, off: number, len: number, pos: number | null) => {
      if (typeof b === 'string') throw new Error('writers must pass bytes, so that the byte count is checkable');
      return origWrite(fd, b, off, Math.min(len, 1 + rng.int(13)), pos);
    });
    const text = Array.from({ length: 200 }, (_, i) => `line ${i} ✓ ünïcode\n`).join('');
    const bytes = Uint8Array.from({ length: 3001 }, (_, i) => (i * 31) & 255);
    const a = path.join(dir, 'a.txt');
    const w = new AtomicWriter(a);
    w.write(text);
    w.write(bytes);
    w.write(text);
    w.commit();
    assert.deepEqual(fs.readFileSync(a), Buffer.concat([Buffer.from(text), bytes, Buffer.from(text)]), tag);
    const b = path.join(dir, 'b.txt');
    writeFileAtomic(b, text);
    assert.equal(fs.readFileSync(b, 'utf8'), text, tag);
    assert.deepEqual(leftovers(dir, ['a.txt', 'b.txt']), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('ENOSPC during a write: DrhardFsError naming the target and "write", old file kept, temp removed at once', () => {
  const dir = tmp();
  try {
    const target = path.join(dir, 'run.trec');
    fs.writeFileSync(target, 'old\n');
    let n = 0;
    patch('writeSync', (fd: number, b: Uint8Array, off: number, len: number, pos: number | null) => {
      if (++n === 1) return origWrite(fd, b, off, Math.min(len, 10), pos); // a short write, then the disk is full
      throw errno('ENOSPC', 'write');
    });
    const w = new AtomicWriter(target);
    assert.throws(
      () => w.write('x'.repeat(100)),
      (e: unknown) => {
        assert.ok(e instanceof DrhardFsError && e instanceof DrhardInputError, String(e));
        assert.equal(e.message, `${target}: write failed: no space left on device (ENOSPC)`);
        assert.equal(e.op, 'write');
        assert.equal(e.code, 'ENOSPC');
        return true;
      },
    );
    // The failed write already removed the temp file (a full disk gets its space back before the caller reacts).
    assert.deepEqual(leftovers(dir, ['run.trec']), []);
    w.abort();
    assert.equal(fs.readFileSync(target, 'utf8'), 'old\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a write(2) that makes no progress is an error, not an endless loop', () => {
  const dir = tmp();
  try {
    patch('writeSync', () => 0);
    const target = path.join(dir, 'x.txt');
    assert.throws(() => writeFileAtomic(target, 'abc'), (e: unknown) => e instanceof DrhardFsError && e.message.startsWith(`${target}: write failed: no progress`));
    assert.deepEqual(leftovers(dir), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a temp file that does not hold every byte written is never renamed into place', () => {
  const dir = tmp();
  try {
    const target = path.join(dir, 'conv.trec');
    fs.writeFileSync(target, 'good\n');
    // A lying file system: reports the whole length, stores half.
    patch('writeSync', (fd: number, b: Uint8Array, off: number, len: number, pos: number | null) => {
      origWrite(fd, b, off, Math.ceil(len / 2), pos);
      return len;
    });
    const w = new AtomicWriter(target);
    w.write('0123456789'.repeat(10));
    assert.throws(() => w.commit(), (e: unknown) => e instanceof DrhardFsError && e.op === 'verify' && e.message.includes(target) && /expected 100/.test(e.message));
    assert.equal(fs.readFileSync(target, 'utf8'), 'good\n');
    assert.deepEqual(leftovers(dir, ['conv.trec']), []);
    assert.throws(() => writeFileAtomic(target, 'abcdef'), (e: unknown) => e instanceof DrhardFsError && e.op === 'verify');
    assert.equal(fs.readFileSync(target, 'utf8'), 'good\n');
    assert.deepEqual(leftovers(dir, ['conv.trec']), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('fsync and close errors fail the commit with the path; nothing is renamed', () => {
  const dir = tmp();
  try {
    const target = path.join(dir, 'emb.json');
    fs.writeFileSync(target, '{}\n');
    for (const [name, op, code] of [
      ['fsyncSync', 'fsync', 'EIO'],
      ['closeSync', 'close', 'EDQUOT'],
    ] as const) {
      const orig = cjs[name] as (fd: number) => void;
      let failed = false;
      patch(name, (fd: number) => {
        if (!failed) {
          failed = true;
          orig(fd); // the descriptor is released either way; the error is what the kernel reported for it
          throw errno(code, name === 'fsyncSync' ? 'fsync' : 'close');
        }
        orig(fd);
      });
      const w = new AtomicWriter(target);
      w.write('{"new":true}\n');
      assert.throws(() => w.commit(), (e: unknown) => e instanceof DrhardFsError && e.op === op && e.code === code && e.message.startsWith(`${target}: ${op} failed:`), name);
      assert.equal(fs.readFileSync(target, 'utf8'), '{}\n', name);
      assert.deepEqual(leftovers(dir, ['emb.json']), [], name);
      cjs[name] = orig;
      syncBuiltinESMExports();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('publishDir: a failure inside the build names the published directory and keeps the previous one', async () => {
  const dir = tmp();
  try {
    const target = path.join(dir, 'ds');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'manifest.json'), 'old');
    patch('writeSync', () => {
      throw errno('ENOSPC', 'write');
    });
    await assert.rejects(
      publishDir(target, (t) => writeFileAtomic(path.join(t, 'pid2offset.tsv'), 'a\t0\n')),
      (e: unknown) => e instanceof DrhardFsError && e.message === `${target}: write pid2offset.tsv failed: no space left on device (ENOSPC)`,
    );
    assert.deepEqual(fs.readdirSync(dir), ['ds']);
    assert.equal(fs.readFileSync(path.join(target, 'manifest.json'), 'utf8'), 'old');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
