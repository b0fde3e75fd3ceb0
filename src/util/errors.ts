// Error types shared by every module: input errors name file, line and field; CLI maps them to exit codes.

/** Bad user input (a file's content, a flag's value). The CLI prints the message and exits 1. */
export class DrhardInputError extends Error {
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly field: string | undefined;
  constructor(message: string, where: { file?: string; line?: number; field?: string } = {}) {
    const loc = where.file ? `${where.file}${where.line !== undefined ? `:${where.line}` : ''}: ` : '';
    const fld = where.field ? `${where.field}: ` : '';
    super(`${loc}${fld}${message}`);
    this.name = 'DrhardInputError';
    this.file = where.file;
    this.line = where.line;
    this.field = where.field;
  }
}

/** Wrong usage of a command (bad flag combination). The CLI exits 2. */
export class DrhardUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DrhardUsageError';
  }
}

const ERRNO_TEXT: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EEXIST: 'already exists',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
  EXDEV: 'cannot rename across file systems',
};

/**
 * A file-system operation failed (disk full, permission, I/O). The message names the path and the operation on one
 * line, e.g. `out/run.trec: write failed: no space left on device (ENOSPC)`. A DrhardInputError, so the CLI prints it
 * without a stack and exits 1.
 */
export class DrhardFsError extends DrhardInputError {
  readonly op: string;
  readonly path: string;
  readonly reason: string;
  readonly code: string | undefined;
  constructor(op: string, file: string, reason: string, code?: string) {
    super(`${op} failed: ${reason}${code !== undefined && !reason.includes(code) ? ` (${code})` : ''}`, { file });
    this.name = 'DrhardFsError';
    this.op = op;
    this.path = file;
    this.reason = reason;
    this.code = code;
  }
}

/** Wraps a Node system error (or anything thrown by an fs call) as a DrhardFsError naming `file` and `op`. */
export function fsError(op: string, file: string, e: unknown): DrhardInputError {
  if (e instanceof DrhardInputError) return e;
  let code = (e as NodeJS.ErrnoException | null)?.code;
  // Native code (faiss, libtorch) reports errno only as strerror text inside its message.
  if (code === undefined && e instanceof Error && /No space left on device/.test(e.message)) code = 'ENOSPC';
  const known = code === undefined ? undefined : ERRNO_TEXT[code];
  const reason = known ?? (e instanceof Error ? e.message : String(e));
  return new DrhardFsError(op, file, reason, code);
}

/** True for errors Node's fs raises (they carry `code` and `syscall`). */
export function isSystemError(e: unknown): e is NodeJS.ErrnoException & { syscall: string } {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && typeof (e as NodeJS.ErrnoException).syscall === 'string';
}
