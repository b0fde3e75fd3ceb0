// The process-wide structured logger on stderr (stdout carries data): human-readable lines on a terminal, JSON lines
// otherwise or with `--log-format json`; level from DRHARD_LOG_LEVEL. Lines go above an active progress bar.
import * as fs from 'node:fs';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { writeAbove } from './tty.ts';

export type { Logger } from 'pino';

const LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Parses a level name; unknown names give `fallback` so a typo in the environment cannot crash the CLI. */
export function parseLogLevel(s: string | undefined, fallback: LevelWithSilent = 'info'): LevelWithSilent {
  const v = (s ?? '').trim().toLowerCase();
  return (LEVELS as readonly string[]).includes(v) ? (v as LevelWithSilent) : fallback;
}

export type LogFormat = 'text' | 'json' | 'auto';

/** 'text' | 'json' | 'auto' (case-insensitive), else null. */
export function parseLogFormat(s: string | undefined): LogFormat | null {
  const v = (s ?? '').trim().toLowerCase();
  return v === 'text' || v === 'json' || v === 'auto' ? v : null;
}

let format: LogFormat = parseLogFormat(process.env['DRHARD_LOG_FORMAT']) ?? 'auto';

/** Chooses the format of every logger's lines from now on (the CLI's global --log-format). */
export function setLogFormat(f: LogFormat): void {
  format = f;
}

/** Whether lines written to `fd` now are human-readable text: 'auto' means text exactly when `fd` is a terminal. */
export function textLogs(fd = 2): boolean {
  if (format !== 'auto') return format === 'text';
  try {
    return fs.fstatSync(fd).isCharacterDevice() && (fd !== 2 || process.stderr.isTTY === true);
  } catch {
    return false;
  }
}

const SKIP = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name', 'mod']);

function showField(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v !== null && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string') return JSON.stringify((v as { message: string }).message);
  return JSON.stringify(v) ?? String(v);
}

/**
 * One JSON log line → `12:03:04 INFO  [train] checkpoint saved step=1000 dir=…`. Values are printed exactly (no
 * rounding): a logged metric must read the same as the file it describes.
 */
export function formatLogLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.trimEnd();
  }
  const time = typeof o['time'] === 'string' ? o['time'].slice(11, 19) : '';
  const level = String(o['level'] ?? '').toUpperCase().padEnd(5);
  const where = [o['name'], o['mod']].filter((x) => typeof x === 'string').join('/');
  const fields = Object.entries(o)
    .filter(([k, v]) => !SKIP.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${showField(v)}`);
  return [time, level, where ? `[${where}]` : '', String(o['msg'] ?? ''), ...fields].filter((x) => x !== '').join(' ');
}

/**
 * A new logger writing to file descriptor `dest` (default 2 = stderr). Synchronous writes: a CLI that calls
 * process.exit, or is killed, must not lose its last lines in an async buffer.
 */
export function createLogger(opts: { level?: string; dest?: number; name?: string } = {}): Logger {
  const level = parseLogLevel(opts.level ?? process.env['DRHARD_LOG_LEVEL']);
  return pino(
    {
      level,
      base: opts.name !== undefined ? { name: opts.name } : null,
      timestamp: pino.stdTimeFunctions.isoTime,
      // Level names rather than numbers: these lines are read by people in CI logs more than by machines.
      formatters: { level: (label) => ({ level: label }) },
    },
    destination(opts.dest ?? 2),
  );
}

/** pino's stream: each line as JSON or as text (formatLogLine), written synchronously above any progress bar. */
function destination(fd: number): { write: (line: string) => void } {
  return {
    write: (line: string): void => {
      const out = textLogs(fd) ? `${formatLogLine(line)}\n` : line;
      writeAbove(() => writeAllFd(fd, out));
    },
  };
}

function writeAllFd(fd: number, text: string): void {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      // A full pipe on a non-blocking stderr: try again; a closed one (EPIPE): logs have nowhere to go.
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      return;
    }
  }
}

/** The shared logger. Use `log.child({ mod: 'train' })` for per-module context. */
export const log: Logger = createLogger();

const envLevel = process.env['DRHARD_LOG_LEVEL'];
if (envLevel !== undefined && envLevel.trim() !== '' && !(LEVELS as readonly string[]).includes(envLevel.trim().toLowerCase())) {
  log.warn({ DRHARD_LOG_LEVEL: envLevel }, `unknown DRHARD_LOG_LEVEL, using info; expected one of ${LEVELS.join(', ')}`);
}
