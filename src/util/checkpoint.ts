// Crash-safe checkpoint directories: build in .tmp-*, fsync, manifest last (the commit marker), publish by rename.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DrhardInputError } from './errors.ts';
import { canonicalJson, sha256File } from './hash.ts';
import { log as rootLog, type Logger } from './log.ts';
import { acquireLock } from './lock.ts';
import { closeChecked, fsyncChecked, fsyncPath, openChecked, writeAllSync } from './fsx.ts';

export const MANIFEST_NAME = 'manifest.json';
export const CHECKPOINT_FORMAT = 'drhard-checkpoint/1';

export interface CheckpointFileEntry {
  /** Relative to the checkpoint directory, '/'-separated. */
  path: string;
  size: number;
  sha256: string;
}

export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  step: number;
  createdAt: string;
  files: CheckpointFileEntry[];
  meta: Record<string, unknown>;
}

/** A published checkpoint whose manifest has been verified. */
export interface Checkpoint {
  dir: string;
  step: number;
  meta: Record<string, unknown>;
  manifest: CheckpointManifest;
}

/** Points where a save can be observed (tests pause here and SIGKILL the process). */
export type CheckpointPhase = 'files-written' | 'manifest-written' | 'published';

export interface CheckpointManagerOptions {
  /** Keep this many newest checkpoints (counting the one just saved); 0 or absent keeps all. */
  keepLast?: number;
  /** Whether latest()/load() check sha256 as well as sizes. Default true. */
  verifyHashes?: boolean;
  logger?: Logger;
  hooks?: { onPhase?: (phase: CheckpointPhase, info: { step: number; dir: string }) => void | Promise<void> };
}

/** A checkpoint that is incomplete or corrupt; `file` names the offending file. */
export class CheckpointError extends DrhardInputError {
  constructor(message: string, file: string) {
    super(message, { file });
    this.name = 'CheckpointError';
  }
}

const STEP_RE = /^step-(\d{8,})$/;
const TMP_PREFIX = '.tmp-';
const LOCK_NAME = '.lock';

/** `step-00001234`; at least 8 digits so names sort like steps. */
export function stepDirName(step: number): string {
  if (!Number.isSafeInteger(step) || step < 0) throw new RangeError(`checkpoint step must be a non-negative integer, got ${step}`);
  return `step-${String(step).padStart(8, '0')}`;
}

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Regular files under `dir` (relative, '/'-separated, sorted) and every directory including `dir`. */
function walk(dir: string): { files: string[]; dirs: string[] } {
  const files: string[] = [];
  const dirs: string[] = [dir];
  const rec = (abs: string, rel: string): void => {
    for (const ent of fs.readdirSync(abs, { withFileTypes: true })) {
      const a = path.join(abs, ent.name);
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      if (ent.isDirectory()) {
        dirs.push(a);
        rec(a, r);
      } else if (ent.isFile()) files.push(r);
      else throw new Error(`checkpoint: ${a} is not a regular file or directory (symlinks are not allowed)`);
    }
  };
  rec(dir, '');
  files.sort();
  return { files, dirs };
}

function parseManifest(text: string, file: string): CheckpointManifest {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`invalid manifest JSON: ${errMsg(e)}`, file);
  }
  const o = m as Partial<CheckpointManifest> | null;
  if (o === null || typeof o !== 'object' || o.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(`not a ${CHECKPOINT_FORMAT} manifest`, file);
  }
  if (!Number.isSafeInteger(o.step) || (o.step as number) < 0) throw new CheckpointError('manifest: bad step', file);
  if (!Array.isArray(o.files)) throw new CheckpointError('manifest: files must be an array', file);
  for (const f of o.files as unknown[]) {
    const e = f as Partial<CheckpointFileEntry> | null;
    if (
      e === null ||
      typeof e !== 'object' ||
      typeof e.path !== 'string' ||
      !Number.isSafeInteger(e.size) ||
      typeof e.sha256 !== 'string' ||
      !/^[0-9a-f]{64}$/.test(e.sha256)
    ) {
      throw new CheckpointError('manifest: malformed file entry', file);
    }
    // A manifest must never make us read outside its own directory.
    const parts = e.path.split('/');
    if (e.path === '' || path.isAbsolute(e.path) || parts.some((p) => p === '' || p === '.' || p === '..') || e.path.includes('\\')) {
      throw new CheckpointError(`manifest: unsafe file path ${JSON.stringify(e.path)}`, file);
    }
  }
  if (o.meta === null || typeof o.meta !== 'object' || Array.isArray(o.meta)) throw new CheckpointError('manifest: meta must be an object', file);
  return o as CheckpointManifest;
}

/**
 * Manages `root/step-XXXXXXXX/` checkpoint directories for one writer process. A directory counts as a
 * checkpoint only if its manifest.json exists and every listed file matches its size (and sha256).
 */
export class CheckpointManager {
  readonly root: string;
  private readonly keepLast: number;
  private readonly verifyHashes: boolean;
  private readonly logger: Logger;
  private readonly onPhase: ((phase: CheckpointPhase, info: { step: number; dir: string }) => void | Promise<void>) | undefined;

  constructor(root: string, opts: CheckpointManagerOptions = {}) {
    this.root = path.resolve(root);
    const keep = opts.keepLast ?? 0;
    if (!Number.isSafeInteger(keep) || keep < 0) throw new RangeError(`keepLast must be a non-negative integer, got ${keep}`);
    this.keepLast = keep;
    this.verifyHashes = opts.verifyHashes ?? true;
    this.logger = opts.logger ?? rootLog.child({ mod: 'checkpoint' });
    this.onPhase = opts.hooks?.onPhase;
  }

  /** Published checkpoint directories by name, ascending step; not verified. */
  list(): Array<{ dir: string; step: number }> {
    if (!fs.existsSync(this.root)) return [];
    const out: Array<{ dir: string; step: number }> = [];
    for (const ent of fs.readdirSync(this.root, { withFileTypes: true })) {
      const m = STEP_RE.exec(ent.name);
      if (m && ent.isDirectory()) out.push({ dir: path.join(this.root, ent.name), step: Number(m[1]) });
    }
    return out.sort((a, b) => a.step - b.step);
  }

  /**
   * Writes checkpoint `step`. `writeFiles` fills the temp directory it is given (subdirectories allowed,
   * not manifest.json). On any error the temp directory is removed, earlier checkpoints are untouched and
   * the error propagates. Saving a step that already exists replaces it.
   */
  async save(
    step: number,
    writeFiles: (tmpDir: string) => Promise<void> | void,
    meta: Record<string, unknown> = {},
  ): Promise<Checkpoint> {
    const name = stepDirName(step);
    canonicalJson(meta); // rejects NaN/undefined-only/bigint meta before any work
    const created = fs.mkdirSync(this.root, { recursive: true });
    if (created !== undefined) fsyncPath(path.dirname(created)); // make the new root's own entry durable
    const unlock = this.lock();
    try {
      this.cleanStale();
      const tmp = path.join(this.root, `${TMP_PREFIX}${name}`);
      fs.mkdirSync(tmp);
      let manifest: CheckpointManifest;
      try {
        await writeFiles(tmp);
        const { files, dirs } = walk(tmp);
        if (files.includes(MANIFEST_NAME)) throw new Error(`checkpoint: writeFiles must not create ${MANIFEST_NAME}`);
        const entries: CheckpointFileEntry[] = [];
        for (const rel of files) {
          const abs = path.join(tmp, ...rel.split('/'));
          fsyncPath(abs);
          const { sha256, size } = await sha256File(abs);
          entries.push({ path: rel, size, sha256 });
        }
        for (const d of dirs.slice(1)) fsyncPath(d);
        await this.onPhase?.('files-written', { step, dir: tmp });
        manifest = { format: CHECKPOINT_FORMAT, step, createdAt: new Date().toISOString(), files: entries, meta };
        const mfile = path.join(tmp, MANIFEST_NAME);
        const mfd = openChecked(mfile, 'wx');
        let open = true;
        try {
          writeAllSync(mfd, `${JSON.stringify(manifest, null, 2)}\n`, mfile);
          fsyncChecked(mfd, mfile);
          open = false;
          closeChecked(mfd, mfile);
        } finally {
          if (open) fs.closeSync(mfd);
        }
        fsyncPath(tmp);
        await this.onPhase?.('manifest-written', { step, dir: tmp });
      } catch (e) {
        fs.rmSync(tmp, { recursive: true, force: true });
        throw e;
      }
      const target = path.join(this.root, name);
      // rename(2) cannot replace a non-empty directory: move the old one aside (a .tmp- name, so a crash
      // here leaves it to the next cleanup), publish, then delete it.
      let aside: string | null = null;
      if (fs.existsSync(target)) {
        aside = path.join(this.root, `${TMP_PREFIX}replaced-${name}`);
        fs.renameSync(target, aside);
      }
      fs.renameSync(tmp, target);
      fsyncPath(this.root);
      if (aside) fs.rmSync(aside, { recursive: true, force: true });
      this.logger.info({ step, dir: target, files: manifest.files.length }, 'checkpoint saved');
      await this.onPhase?.('published', { step, dir: target });
      this.retain(step);
      return { dir: target, step, meta, manifest };
    } finally {
      unlock();
    }
  }

  /**
   * The newest checkpoint that verifies, or null. Corrupt or incomplete directories are skipped with a
   * warning naming the reason, so a resume falls back to the previous good one.
   */
  async latest(opts: { verifyHashes?: boolean } = {}): Promise<Checkpoint | null> {
    const all = this.list().reverse();
    for (let i = 0; i < all.length; i++) {
      const c = all[i] as { dir: string; step: number };
      try {
        const ck = await this.load(c.dir, opts);
        if (i > 0) this.logger.warn({ dir: ck.dir, step: ck.step, skipped: i }, 'falling back to an older checkpoint');
        return ck;
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw e;
        this.logger.warn({ dir: c.dir, reason: e.message }, 'skipping invalid checkpoint');
      }
    }
    return null;
  }

  /**
   * Verifies and returns the checkpoint in `dir` (a path, or a name under root). Throws CheckpointError
   * naming the file: "missing", or "checksum mismatch" for a size or sha256 difference.
   */
  async load(dir: string, opts: { verifyHashes?: boolean } = {}): Promise<Checkpoint> {
    let abs = path.resolve(dir);
    if (!fs.existsSync(abs) && fs.existsSync(path.join(this.root, dir))) abs = path.join(this.root, dir);
    const mfile = path.join(abs, MANIFEST_NAME);
    if (!fs.existsSync(abs) || !fs.statSync(abs).isDirectory()) throw new CheckpointError('checkpoint directory not found', abs);
    if (!fs.existsSync(mfile)) throw new CheckpointError('missing: the checkpoint is incomplete (no manifest)', mfile);
    const manifest = parseManifest(fs.readFileSync(mfile, 'utf8'), mfile);
    const m = STEP_RE.exec(path.basename(abs));
    if (m && Number(m[1]) !== manifest.step) {
      throw new CheckpointError(`manifest step ${manifest.step} does not match directory name`, mfile);
    }
    const hashes = opts.verifyHashes ?? this.verifyHashes;
    for (const f of manifest.files) {
      const file = path.join(abs, ...f.path.split('/'));
      let st: fs.Stats;
      try {
        st = fs.statSync(file);
      } catch {
        throw new CheckpointError('missing (listed in manifest)', file);
      }
      if (!st.isFile()) throw new CheckpointError('not a regular file', file);
      if (st.size !== f.size) {
        throw new CheckpointError(`checksum mismatch: size is ${st.size} bytes, manifest says ${f.size}`, file);
      }
      if (hashes) {
        const got = await sha256File(file);
        if (got.sha256 !== f.sha256) {
          throw new CheckpointError(`checksum mismatch: sha256 ${got.sha256}, manifest says ${f.sha256}`, file);
        }
      }
    }
    return { dir: abs, step: manifest.step, meta: manifest.meta, manifest };
  }

  /**
   * Deletes checkpoints with step > `step`. Call when resuming from an explicitly chosen older checkpoint,
   * so that latest() cannot later jump to the abandoned run's newer steps. Returns the deleted directories.
   */
  removeAfter(step: number): string[] {
    const gone: string[] = [];
    for (const c of this.list()) {
      if (c.step > step) {
        this.remove(c.dir);
        gone.push(c.dir);
      }
    }
    if (gone.length) this.logger.info({ after: step, removed: gone }, 'removed checkpoints newer than the resume point');
    return gone;
  }

  /** Removes leftover `.tmp-*` entries from interrupted saves or deletions. Returns what was removed. */
  cleanStale(): string[] {
    if (!fs.existsSync(this.root)) return [];
    const gone: string[] = [];
    for (const n of fs.readdirSync(this.root)) {
      if (!n.startsWith(TMP_PREFIX)) continue;
      const p = path.join(this.root, n);
      fs.rmSync(p, { recursive: true, force: true });
      gone.push(p);
    }
    if (gone.length) this.logger.warn({ removed: gone }, 'removed stale temporary checkpoint directories');
    return gone;
  }

  // keepLast counts the checkpoint just saved plus older ones that pass the size check; directories with a
  // higher step (another run's future) are not ours to judge and are left alone.
  private retain(savedStep: number): void {
    if (this.keepLast <= 0) return;
    const older = this.list()
      .filter((c) => c.step < savedStep)
      .reverse();
    let kept = 1;
    for (const c of older) {
      if (kept < this.keepLast && this.sizesOk(c.dir)) {
        kept++;
        continue;
      }
      this.remove(c.dir);
      this.logger.debug({ dir: c.dir }, 'retention: removed old checkpoint');
    }
  }

  private sizesOk(dir: string): boolean {
    try {
      const mfile = path.join(dir, MANIFEST_NAME);
      const manifest = parseManifest(fs.readFileSync(mfile, 'utf8'), mfile);
      return manifest.files.every((f) => {
        const st = fs.statSync(path.join(dir, ...f.path.split('/')), { throwIfNoEntry: false });
        return st !== undefined && st.isFile() && st.size === f.size;
      });
    } catch {
      return false;
    }
  }

  // Rename first so the directory disappears in one step; a crash mid-delete leaves only a .tmp- entry.
  private remove(dir: string): void {
    const trash = path.join(this.root, `${TMP_PREFIX}deleted-${path.basename(dir)}`);
    fs.rmSync(trash, { recursive: true, force: true });
    fs.renameSync(dir, trash);
    fsyncPath(this.root);
    fs.rmSync(trash, { recursive: true, force: true });
  }

  // One writer per root: a second process's stale-temp cleanup would delete the first one's save in flight. A lock
  // left by a dead process is taken over (see util/lock.ts).
  private lock(): () => void {
    const l = acquireLock(path.join(this.root, LOCK_NAME), {
      what: 'checkpoint save',
      heldMessage: (h, f) => `checkpoint: another process (pid ${h.pid}) is saving into ${this.root} (lock ${f})`,
      selfMessage: () => `checkpoint: a save into ${this.root} is already in progress in this process`,
    });
    return () => l.release();
  }
}
