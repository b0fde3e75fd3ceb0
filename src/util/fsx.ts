// Crash-safe file output: write beside the target, check every byte count, fsync, verify, rename, fsync the directory.
// Every failure is a DrhardFsError naming the path and the operation, and no temp file is left behind.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DrhardFsError, fsError } from './errors.ts';

/** fsyncs a file or directory by path (a rename is durable only once its directory is synced). */
export function fsyncPath(dir: string): void {
  let fd: number;
  try {
    fd = fs.openSync(dir, 'r');
  } catch (e) {
    throw fsError('open for fsync', dir, e);
  }
  try {
    fs.fsyncSync(fd);
  } catch (e) {
    throw fsError('fsync', dir, e);
  } finally {
    closeQuietly(fd);
  }
}

let tempCounter = 0;

/** A unique temporary path in the same directory as `target` (rename must not cross filesystems). */
export function tempPathFor(target: string): string {
  const dir = path.dirname(target);
  return path.join(dir, `.${path.basename(target)}.tmp-${process.pid}-${Date.now().toString(36)}${(tempCounter++).toString(36)}`);
}

/**
 * Writes all of `data` to `fd`, continuing after short writes (a write(2) may write fewer bytes than asked, e.g. when
 * the disk fills up). `position` writes at that file offset instead of the current one. A write that makes no
 * progress or fails is a DrhardFsError naming `file`. Returns the number of bytes written.
 */
export function writeAllSync(fd: number, data: string | Uint8Array, file: string, position?: number): number {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let off = 0;
  while (off < buf.byteLength) {
    let n: number;
    try {
      n = fs.writeSync(fd, buf, off, buf.byteLength - off, position === undefined ? null : position + off);
    } catch (e) {
      throw fsError('write', file, e);
    }
    if (!(n > 0)) throw new DrhardFsError('write', file, `no progress after ${off} of ${buf.byteLength} bytes (disk full?)`);
    off += n;
  }
  return buf.byteLength;
}

/** fs.fsyncSync with the path in the error. */
export function fsyncChecked(fd: number, file: string): void {
  try {
    fs.fsyncSync(fd);
  } catch (e) {
    throw fsError('fsync', file, e);
  }
}

/** fs.closeSync with the path in the error (close can report a deferred write error, e.g. on NFS). */
export function closeChecked(fd: number, file: string): void {
  try {
    fs.closeSync(fd);
  } catch (e) {
    throw fsError('close', file, e);
  }
}

/** fs.openSync with the path in the error. */
export function openChecked(file: string, flags: fs.OpenMode): number {
  try {
    return fs.openSync(file, flags);
  } catch (e) {
    throw fsError('open', file, e);
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    /* already closed, or the error that matters is being thrown */
  }
}

function mkdirChecked(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw fsError('create directory', dir, e);
  }
}

/** The temp file must hold exactly the bytes we wrote before it may replace anything. */
function verifySize(tmp: string, expected: number, target: string): void {
  let size: number;
  try {
    size = fs.statSync(tmp).size;
  } catch (e) {
    throw fsError('stat', target, e);
  }
  if (size !== expected) throw new DrhardFsError('verify', target, `the written file has ${size} bytes, expected ${expected}`);
}

function renameChecked(from: string, to: string): void {
  try {
    fs.renameSync(from, to);
  } catch (e) {
    throw fsError('rename', to, e);
  }
}

/**
 * Atomically replace `target` with `data`. Readers see the old file or the new one, never a torn one; on any error the
 * old file is untouched, the temp file removed, and a DrhardFsError names `target`. `sync: false` skips the fsyncs,
 * for files whose loss in a crash is detected and redone anyway (encode's part manifests).
 */
export function writeFileAtomic(target: string, data: string | Uint8Array, opts: { sync?: boolean } = {}): void {
  const sync = opts.sync ?? true;
  mkdirChecked(path.dirname(target));
  const tmp = tempPathFor(target);
  const fd = openChecked(tmp, 'w');
  let open = true;
  try {
    const bytes = writeAllSync(fd, data, target);
    if (sync) fsyncChecked(fd, target);
    open = false;
    closeChecked(fd, target);
    verifySize(tmp, bytes, target);
    renameChecked(tmp, target);
  } catch (e) {
    if (open) closeQuietly(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  if (sync) fsyncPath(path.dirname(target));
}

/**
 * Streams output into a temp file; `commit()` fsyncs, closes, checks the file's size against the bytes written and
 * only then renames it to `target`; `abort()` deletes it. A failed write or commit removes the temp file itself (so
 * a full disk gets its space back at once) and throws a DrhardFsError naming `target` and the operation.
 * Use for large outputs (run files, embeddings) that must not appear half-written.
 */
export class AtomicWriter {
  readonly target: string;
  readonly tmp: string;
  private fd: number;
  private open = true;
  private done = false;
  private bytes = 0;
  constructor(target: string) {
    mkdirChecked(path.dirname(target));
    this.target = target;
    this.tmp = tempPathFor(target);
    try {
      this.fd = fs.openSync(this.tmp, 'w');
    } catch (e) {
      throw fsError('create', target, e);
    }
  }

  /** Bytes written so far. */
  get written(): number {
    return this.bytes;
  }

  write(data: string | Uint8Array): void {
    if (this.done) throw new Error(`AtomicWriter(${this.target}): write after commit/abort`);
    try {
      this.bytes += writeAllSync(this.fd, data, this.target);
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  commit(): void {
    if (this.done) return;
    try {
      fsyncChecked(this.fd, this.target);
      this.open = false;
      closeChecked(this.fd, this.target);
      verifySize(this.tmp, this.bytes, this.target);
      renameChecked(this.tmp, this.target);
    } catch (e) {
      this.abort();
      throw e;
    }
    this.done = true;
    fsyncPath(path.dirname(this.target));
  }

  abort(): void {
    if (this.done) return;
    this.done = true;
    if (this.open) {
      this.open = false;
      closeQuietly(this.fd);
    }
    fs.rmSync(this.tmp, { force: true });
  }
}

/**
 * Builds a directory under a temp name and publishes it with one rename; the directory appears complete or not
 * at all, and a failed publish puts the previous directory back. `build` receives the temp directory path.
 */
export async function publishDir(target: string, build: (tmpDir: string) => Promise<void> | void): Promise<void> {
  const parent = path.dirname(target);
  mkdirChecked(parent);
  const tmp = tempPathFor(target);
  try {
    fs.mkdirSync(tmp);
  } catch (e) {
    throw fsError('create directory', target, e);
  }
  try {
    await build(tmp);
    fsyncPath(tmp);
    let aside: string | null = null;
    if (fs.existsSync(target)) {
      aside = `${tmp}-old`;
      renameChecked(target, aside);
    }
    try {
      renameChecked(tmp, target);
    } catch (e) {
      if (aside !== null) fs.renameSync(aside, target);
      throw e;
    }
    if (aside !== null) fs.rmSync(aside, { recursive: true, force: true });
    fsyncPath(parent);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    // Name what the user asked for, not the hidden temp directory the failing file lived in.
    if (e instanceof DrhardFsError && e.path.startsWith(tmp + path.sep)) {
      throw new DrhardFsError(`${e.op} ${path.relative(tmp, e.path)}`, target, e.reason, e.code);
    }
    throw e;
  }
}
