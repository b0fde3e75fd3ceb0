// Pid lock files: one holder at a time for a directory (a training run's --out-dir, a checkpoint root's save). A lock
// whose holder is gone (pid not alive, or alive but a different process that reused the pid) is taken over; the
// takeover itself is serialized by a second, short-lived lock so two processes cannot both break the same stale lock.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DrhardInputError, fsError } from './errors.ts';
import { writeAllSync, writeFileAtomic } from './fsx.ts';

/** What a lock file records about its holder (first line: the pid alone, as older drhard versions wrote it). */
export interface LockHolder {
  pid: number;
  host?: string;
  /** Process start time in clock ticks since boot (/proc/<pid>/stat field 22), to tell a reused pid apart. */
  start?: number;
  /** What the holder is doing (e.g. "drhard train"). */
  what?: string;
  since?: string;
}

/** The lock is held by a live process (or by this process, `self`). */
export class LockHeldError extends DrhardInputError {
  readonly lockFile: string;
  readonly holder: LockHolder;
  readonly self: boolean;
  constructor(message: string, lockFile: string, holder: LockHolder, self: boolean) {
    super(message);
    this.name = 'LockHeldError';
    this.lockFile = lockFile;
    this.holder = holder;
    this.self = self;
  }
}

export interface FileLock extends Disposable {
  readonly file: string;
  /** Removes the lock file if it is still ours; idempotent. */
  release(): void;
}

export interface AcquireLockOptions {
  /** Recorded in the lock file for the error message a second process gets. */
  what?: string;
  /** Message when a live process holds the lock. */
  heldMessage?: (holder: LockHolder, lockFile: string) => string;
  /** Message when this process already holds it. */
  selfMessage?: (lockFile: string) => string;
}

const heldHere = new Set<string>();

/** Start time of a process in clock ticks since boot, from /proc (Linux); undefined elsewhere or if it is gone. */
export function processStartTicks(pid: number | 'self'): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces and parentheses: split after its closing parenthesis. Field 22 is starttime.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(rest[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the process that wrote `h` is still running (on another host: assumed so, it cannot be checked). */
export function holderAlive(h: LockHolder): boolean {
  if (h.host !== undefined && h.host !== os.hostname()) return true;
  if (!Number.isInteger(h.pid) || h.pid <= 0) return false;
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // The pid is taken; by the same process only if its start time matches the one recorded.
  if (h.start !== undefined) {
    const now = processStartTicks(h.pid);
    if (now !== undefined && now !== h.start) return false;
  }
  return true;
}

export function parseLockFile(text: string): LockHolder {
  const [first, second] = text.split('\n');
  const pid = Number.parseInt(first ?? '', 10);
  let extra: Partial<LockHolder> = {};
  try {
    if (second) extra = JSON.parse(second) as Partial<LockHolder>;
  } catch {
    /* an older or damaged lock: the pid alone decides */
  }
  const h: LockHolder = { pid };
  if (typeof extra.host === 'string') h.host = extra.host;
  if (typeof extra.start === 'number') h.start = extra.start;
  if (typeof extra.what === 'string') h.what = extra.what;
  if (typeof extra.since === 'string') h.since = extra.since;
  return h;
}

function lockText(what: string | undefined): string {
  const start = processStartTicks('self');
  const meta: LockHolder = { pid: process.pid, host: os.hostname(), ...(start !== undefined ? { start } : {}), ...(what ? { what } : {}), since: new Date().toISOString() };
  const { pid: _pid, ...rest } = meta;
  return `${process.pid}\n${JSON.stringify(rest)}\n`;
}

let tmpCounter = 0;

/**
 * Creates `file` holding `text` if it does not exist; false if it does. The text is written to a private temp file
 * first and hard-linked into place (link(2) fails if the name exists), so the lock appears with its whole content and
 * no reader ever sees an empty or half-written pid. Where hard links are unsupported, falls back to O_EXCL + write.
 */
function createExclusive(file: string, text: string): boolean {
  const tmp = `${file}.${process.pid}.${(tmpCounter++).toString(36)}.tmp`;
  try {
    writeFileAtomic(tmp, text, { sync: false });
  } catch (e) {
    throw fsError('create lock', file, e);
  }
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw fsError('create lock', file, e);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw fsError('create lock', file, e);
  }
  try {
    try {
      writeAllSync(fd, text, file);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    fs.rmSync(file, { force: true }); // ours: created with O_EXCL just now
    throw e;
  }
  return true;
}

function readOrNull(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fsError('read lock', file, e);
  }
}

function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Removes the stale lock whose content was `seen`, unless it changed meanwhile. Serialized by `<lock>.break`: of two
 * processes that both found the same stale lock, the second re-reads it under the break lock, finds the first one's
 * live lock and stops there.
 */
export function breakStale(lockFile: string, seen: string): void {
  const brk = `${lockFile}.break`;
  if (!createExclusive(brk, lockText('breaking a stale lock'))) {
    const text = readOrNull(brk);
    // A breaker that died within its few microseconds of work: remove its mark and retry.
    if (text !== null && !holderAlive(parseLockFile(text))) fs.rmSync(brk, { force: true });
    return;
  }
  try {
    if (readOrNull(lockFile) === seen) fs.rmSync(lockFile, { force: true });
  } finally {
    fs.rmSync(brk, { force: true });
  }
}

/**
 * Takes `lockFile` (created with O_EXCL) or throws LockHeldError naming the holder. A lock left by a dead process is
 * taken over. The lock is released by `release()`/`using`, and on process exit.
 */
export function acquireLock(lockFile: string, opts: AcquireLockOptions = {}): FileLock {
  const file = path.resolve(lockFile);
  const mine = lockText(opts.what);
  for (let attempt = 0; attempt < 100; attempt++) {
    if (!createExclusive(file, mine)) {
      const text = readOrNull(file);
      if (text === null) continue; // released between our create and our read: try again
      const holder = parseLockFile(text);
      const self = holder.pid === process.pid && heldHere.has(file);
      if (self) throw new LockHeldError(opts.selfMessage?.(file) ?? `${file} is already held by this process`, file, holder, true);
      if (holder.pid !== process.pid && holderAlive(holder)) {
        throw new LockHeldError(opts.heldMessage?.(holder, file) ?? `${file} is held by another process (pid ${holder.pid})`, file, holder, false);
      }
      breakStale(file, text);
      if (attempt > 0) pause(Math.min(50, attempt * 2));
      continue;
    }
    heldHere.add(file);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      heldHere.delete(file);
      process.removeListener('exit', release);
      try {
        if (readOrNull(file) === mine) fs.rmSync(file, { force: true });
      } catch {
        /* the lock is gone or unreadable: nothing of ours to remove */
      }
    };
    process.on('exit', release);
    return { file, release, [Symbol.dispose]: release };
  }
  throw new DrhardInputError(`could not take the lock ${file} (it keeps changing hands)`);
}

export const RUN_LOCK_NAME = '.drhard-run.lock';

/**
 * A run-level lock on an output directory (created if missing, and removed again on release if the run left it
 * empty): a second `drhard train`/`pretrain` on the same --out-dir fails at once instead of training alongside the
 * first one (duplicate metrics lines and event files, checkpoints of two runs interleaved).
 */
export function lockOutputDir(dir: string, what: string): FileLock {
  const abs = path.resolve(dir);
  let created: string | undefined;
  try {
    created = fs.mkdirSync(abs, { recursive: true });
  } catch (e) {
    throw fsError('create directory', abs, e);
  }
  let lock: FileLock;
  try {
    lock = acquireLock(path.join(abs, RUN_LOCK_NAME), {
      what,
      heldMessage: (h, f) =>
        `${abs} is in use by another ${h.what ?? 'drhard run'} (pid ${h.pid}${h.host && h.host !== os.hostname() ? ` on ${h.host}` : ''}${h.since ? `, since ${h.since}` : ''}); ` +
        `wait for it to finish or choose another output directory (if no such run exists, delete ${f})`,
      selfMessage: () => `${abs} is already in use by a run in this process`,
    });
  } catch (e) {
    if (created !== undefined) removeIfEmpty(abs);
    throw e;
  }
  const release = (): void => {
    lock.release();
    if (created !== undefined) removeIfEmpty(abs);
  };
  return { file: lock.file, release, [Symbol.dispose]: release };
}

/** rmdir, which only succeeds on an empty directory: never removes anything another process put there. */
function removeIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    /* not empty (or gone) */
  }
}
