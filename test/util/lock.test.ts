// Pid lock files (util/lock.ts): a live holder in another process refuses the lock; a dead holder's lock (or one whose
// pid now belongs to a different process) is taken over; of many processes racing for one stale lock exactly one
// wins; release only removes our own lock. Ordering is by events (child output), never by elapsed time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { acquireLock, breakStale, LockHeldError, lockOutputDir, parseLockFile, processStartTicks, RUN_LOCK_NAME } from '../../src/util/lock.ts';

const ROOT = path.join(import.meta.dirname, '..', '..');

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-lock-'));
}

/** A pid that was just in use and is now free (a child that has exited and been reaped). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

/**
 * A child that tries to take `file` (at once, or with `gated` when the parent writes a line to its stdin, so that many
 * children try at the same moment): prints "OK" and holds the lock until its stdin closes, or prints
 * "HELD <name> <message>" and exits 3.
 */
function holder(file: string, gated = false): { proc: ReturnType<typeof spawn>; ready: Promise<void>; line: Promise<string>; exit: Promise<number | null> } {
  const code = `
    import { acquireLock } from './src/util/lock.ts';
    let l;
    const take = () => {
      try { l = acquireLock(${JSON.stringify(file)}, { what: 'test holder' }); }
      catch (e) { process.stdout.write('HELD ' + e.name + ' ' + e.message + '\\n'); process.exit(3); }
      process.stdout.write('OK\\n');
    };
    process.stdin.on('end', () => { l?.release(); process.exit(0); });
    if (${gated}) { process.stdin.once('data', take); process.stdout.write('READY\\n'); } else take();
    process.stdin.resume();`;
  const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const lines = (): string[] => out.split('\n').filter((l) => l !== 'READY');
  let onReady: () => void = () => {};
  const ready = new Promise<void>((r) => (onReady = r));
  const line = new Promise<string>((resolve) => {
    proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (out.includes('READY\n')) onReady();
      if (lines().length > 1) resolve(lines()[0] as string);
    });
    proc.on('close', () => resolve(lines()[0] ?? ''));
  });
  const exit = new Promise<number | null>((resolve) => proc.on('close', (c) => resolve(c)));
  return { proc, ready, line, exit };
}

test('a lock held by a live process refuses a second process with the holder named; released, it can be taken', async () => {
  const dir = tmp();
  try {
    const file = path.join(dir, 'x.lock');
    const a = holder(file);
    assert.equal(await a.line, 'OK');
    const holderInfo = parseLockFile(fs.readFileSync(file, 'utf8'));
    assert.equal(holderInfo.pid, a.proc.pid);
    assert.equal(holderInfo.what, 'test holder');
    const b = holder(file);
    assert.match(await b.line, new RegExp(`^HELD LockHeldError .*pid ${a.proc.pid}`));
    assert.equal(await b.exit, 3);
    // And in this process too.
    assert.throws(() => acquireLock(file), (e: unknown) => e instanceof LockHeldError && !e.self && e.holder.pid === a.proc.pid);
    a.proc.stdin!.end();
    assert.equal(await a.exit, 0);
    assert.ok(!fs.existsSync(file), 'release removes the lock file');
    const mine = acquireLock(file);
    assert.throws(() => acquireLock(file), (e: unknown) => e instanceof LockHeldError && e.self);
    mine.release();
    mine.release();
    assert.ok(!fs.existsSync(file));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('stale locks are taken over: a dead pid, a reused pid (other start time), an old pid-only lock', () => {
  const dir = tmp();
  try {
    const file = path.join(dir, 'x.lock');
    const dead = deadPid();
    fs.writeFileSync(file, `${dead}\n${JSON.stringify({ host: os.hostname(), what: 'drhard train' })}\n`);
    let l = acquireLock(file);
    assert.equal(parseLockFile(fs.readFileSync(file, 'utf8')).pid, process.pid, `the lock of dead pid ${dead} was not taken over`);
    l.release();
    // pid 1 is alive, but it is not the process that wrote this lock: its start time differs.
    const start1 = processStartTicks(1);
    if (start1 !== undefined) {
      fs.writeFileSync(file, `1\n${JSON.stringify({ host: os.hostname(), start: start1 + 12345 })}\n`);
      l = acquireLock(file);
      assert.equal(parseLockFile(fs.readFileSync(file, 'utf8')).pid, process.pid);
      l.release();
      // With the right start time (or none, as older drhard versions wrote it) pid 1 holds it.
      fs.writeFileSync(file, `1\n${JSON.stringify({ host: os.hostname(), start: start1 })}\n`);
      assert.throws(() => acquireLock(file), LockHeldError);
    }
    fs.writeFileSync(file, '1\n');
    assert.throws(() => acquireLock(file), (e: unknown) => e instanceof LockHeldError && e.holder.pid === 1);
    fs.writeFileSync(file, `${dead}\n`);
    l = acquireLock(file);
    l.release();
    // A lock from another host cannot be checked and is respected.
    fs.writeFileSync(file, `${dead}\n${JSON.stringify({ host: `${os.hostname()}-elsewhere` })}\n`);
    assert.throws(() => acquireLock(file), LockHeldError);
    // Release never removes a lock that is no longer ours.
    fs.rmSync(file);
    l = acquireLock(file);
    fs.writeFileSync(file, '1\n');
    l.release();
    assert.equal(fs.readFileSync(file, 'utf8'), '1\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('breaking a stale lock is compare-and-delete under a second lock: a lock taken meanwhile survives', () => {
  const dir = tmp();
  try {
    const file = path.join(dir, 'x.lock');
    const stale = `${deadPid()}\n`;
    fs.writeFileSync(file, stale);
    // Process B read `stale`, then process A broke it and took the lock; B's late break must not delete A's lock.
    const a = acquireLock(file);
    const mine = fs.readFileSync(file, 'utf8');
    breakStale(file, stale);
    assert.equal(fs.readFileSync(file, 'utf8'), mine, 'a late breaker removed the live lock');
    a.release();
    // While another live process is breaking (its .break mark exists), nobody else deletes anything.
    fs.writeFileSync(file, stale);
    fs.writeFileSync(`${file}.break`, '1\n');
    breakStale(file, stale);
    assert.equal(fs.readFileSync(file, 'utf8'), stale);
    // A .break mark of a dead breaker is cleared, and the next attempt breaks the stale lock.
    fs.writeFileSync(`${file}.break`, `${deadPid()}\n`);
    breakStale(file, stale);
    assert.ok(!fs.existsSync(`${file}.break`));
    breakStale(file, stale);
    assert.ok(!fs.existsSync(file));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('six processes racing to take over one stale lock: exactly one gets it', async () => {
  const dir = tmp();
  try {
    const file = path.join(dir, 'x.lock');
    fs.writeFileSync(file, `${deadPid()}\n`);
    const kids = Array.from({ length: 6 }, () => holder(file, true));
    await Promise.all(kids.map((k) => k.ready));
    for (const k of kids) k.proc.stdin!.write('go\n');
    const lines = await Promise.all(kids.map((k) => k.line));
    const winners = lines.filter((l) => l === 'OK');
    assert.equal(winners.length, 1, lines.join('\n'));
    for (const l of lines) if (l !== 'OK') assert.match(l, /^HELD LockHeldError /);
    const w = kids[lines.indexOf('OK')]!;
    assert.equal(parseLockFile(fs.readFileSync(file, 'utf8')).pid, w.proc.pid);
    for (const k of kids) k.proc.stdin!.end();
    await Promise.all(kids.map((k) => k.exit));
    assert.deepEqual(fs.readdirSync(dir), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('lockOutputDir creates the directory, and removes it again on release only if the run left it empty', () => {
  const dir = tmp();
  try {
    const out = path.join(dir, 'run');
    let l = lockOutputDir(out, 'drhard train');
    assert.deepEqual(fs.readdirSync(out), [RUN_LOCK_NAME]);
    assert.throws(() => lockOutputDir(out, 'drhard train'), (e: unknown) => e instanceof LockHeldError && /already in use by a run in this process/.test(e.message));
    l.release();
    assert.ok(!fs.existsSync(out), 'an empty directory the lock created is removed');
    l = lockOutputDir(out, 'drhard train');
    fs.writeFileSync(path.join(out, 'metrics.jsonl'), '');
    l.release();
    assert.deepEqual(fs.readdirSync(out), ['metrics.jsonl']);
    fs.writeFileSync(path.join(out, RUN_LOCK_NAME), `1\n${JSON.stringify({ host: os.hostname(), what: 'drhard pretrain', since: '2025-01-01T00:00:00.000Z' })}\n`);
    assert.throws(
      () => lockOutputDir(out, 'drhard train'),
      (e: unknown) =>
        e instanceof LockHeldError &&
        e.message === `${out} is in use by another drhard pretrain (pid 1, since 2025-01-01T00:00:00.000Z); wait for it to finish or choose another output directory (if no such run exists, delete ${path.join(out, RUN_LOCK_NAME)})`,
    );
    assert.deepEqual(fs.readdirSync(out).sort(), [RUN_LOCK_NAME, 'metrics.jsonl']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
