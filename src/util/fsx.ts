// Crash-safe file output: write beside the target, fsync, rename, fsync the directory.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** fsyncs a file or directory by path (a rename is durable only once its directory is synced). */
export function fsyncPath(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** A unique temporary path in the same directory as `target` (rename must not cross filesystems). */
export function tempPathFor(target: string): string {
  const dir = path.dirname(target);
  return path.join(dir, `.${path.basename(target)}.tmp-${process.pid}-${Date.now().toString(36)}`);
}

/**
 * Atomically replace `target` with `data`. Readers see the old file or the new one, never a torn one. `sync: false`
 * skips the fsyncs, for files whose loss in a crash is detected and redone anyway (encode's part manifests).
 */
export function writeFileAtomic(target: string, data: string | Uint8Array, opts: { sync?: boolean } = {}): void {
  const sync = opts.sync ?? true;
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = tempPathFor(target);
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeFileSync(fd, data);
    if (sync) fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, target);
  if (sync) fsyncPath(path.dirname(target));
}

/**
 * Streams output into a temp file; `commit()` fsyncs and renames it to `target`, `abort()` deletes it.
 * Use for large outputs (run files, embeddings) that must not appear half-written.
 */
export class AtomicWriter {
  readonly target: string;
  readonly tmp: string;
  private fd: number;
  private done = false;
  constructor(target: string) {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    this.target = target;
    this.tmp = tempPathFor(target);
    this.fd = fs.openSync(this.tmp, 'w');
  }
  write(data: string | Uint8Array): void {
    if (typeof data === 'string') fs.writeSync(this.fd, data);
    else {
      let off = 0;
      while (off < data.byteLength) off += fs.writeSync(this.fd, data, off, data.byteLength - off);
    }
  }
  commit(): void {
    if (this.done) return;
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    fs.renameSync(this.tmp, this.target);
    fsyncPath(path.dirname(this.target));
    this.done = true;
  }
  abort(): void {
    if (this.done) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      /* already closed */
    }
    fs.rmSync(this.tmp, { force: true });
    this.done = true;
  }
}

/**
 * Builds a directory under a temp name and publishes it with one rename; the directory appears complete or not
 * at all. `build` receives the temp directory path.
 */
export async function publishDir(target: string, build: (tmpDir: string) => Promise<void> | void): Promise<void> {
  const parent = path.dirname(target);
  fs.mkdirSync(parent, { recursive: true });
  const tmp = tempPathFor(target);
  fs.mkdirSync(tmp);
  try {
    await build(tmp);
    if (fs.existsSync(target)) fs.rmSync(target, { recursive: true, force: true });
    fs.renameSync(tmp, target);
    fsyncPath(parent);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
