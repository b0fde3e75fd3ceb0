// Recognizes the small text files Git LFS and git-annex leave in place of large files a clone did not fetch, so a
// reader can say so instead of reporting a truncated or malformed file.
import * as fs from 'node:fs';
import { DrhardInputError } from './errors.ts';

const LFS_PREFIX = 'version https://git-lfs.github.com/spec/';
// git-annex checks files in as symlinks into .git/annex/objects; unlocked files become pointers of this form.
const ANNEX_PREFIX = '/annex/objects/';
/** Pointer files are a few hundred bytes; anything larger is real data. */
const MAX_POINTER_BYTES = 1024;

/** 'git-lfs' or 'git-annex' when `head` (a file's first bytes, the whole file for a pointer) is a pointer. */
export function pointerKind(head: Uint8Array): 'git-lfs' | 'git-annex' | null {
  const text = Buffer.from(head.subarray(0, 64)).toString('latin1');
  if (text.startsWith(LFS_PREFIX)) return 'git-lfs';
  if (text.startsWith(ANNEX_PREFIX) || /^\.\.\/(\.\.\/)*\.git\/annex\/objects\//.test(text)) return 'git-annex';
  return null;
}

/** Throws a DrhardInputError naming `file` when it is a Git LFS / git-annex pointer; reads at most 64 bytes. */
export function assertNotPointer(file: string, fd?: number): void {
  let size: number;
  let own: number | undefined;
  try {
    own = fd === undefined ? fs.openSync(file, 'r') : undefined;
    const use = fd ?? (own as number);
    size = fs.fstatSync(use).size;
    if (size > MAX_POINTER_BYTES) return;
    const head = new Uint8Array(Math.min(64, size));
    fs.readSync(use, head, 0, head.byteLength, 0);
    const kind = pointerKind(head);
    if (kind === null) return;
    const fix = kind === 'git-lfs' ? "run 'git lfs pull' (or 'git lfs fetch && git lfs checkout') in its repository" : "run 'git annex get' on it";
    throw new DrhardInputError(`is a ${kind} pointer (${size} bytes), not the data it stands for: ${fix}`, { file });
  } catch (e) {
    if (e instanceof DrhardInputError) throw e;
    return; // unreadable files are reported by the caller's own open/read, with its context
  } finally {
    if (own !== undefined) fs.closeSync(own);
  }
}
