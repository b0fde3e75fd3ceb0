// The process-wide structured logger: JSON lines on stderr (stdout carries data), level from DRHARD_LOG_LEVEL.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

const LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Parses a level name; unknown names give `fallback` so a typo in the environment cannot crash the CLI. */
export function parseLogLevel(s: string | undefined, fallback: LevelWithSilent = 'info'): LevelWithSilent {
  const v = (s ?? '').trim().toLowerCase();
  return (LEVELS as readonly string[]).includes(v) ? (v as LevelWithSilent) : fallback;
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
    pino.destination({ dest: opts.dest ?? 2, sync: true }),
  );
}

/** The shared logger. Use `log.child({ mod: 'train' })` for per-module context. */
export const log: Logger = createLogger();

const envLevel = process.env['DRHARD_LOG_LEVEL'];
if (envLevel !== undefined && envLevel.trim() !== '' && !(LEVELS as readonly string[]).includes(envLevel.trim().toLowerCase())) {
  log.warn({ DRHARD_LOG_LEVEL: envLevel }, `unknown DRHARD_LOG_LEVEL, using info; expected one of ${LEVELS.join(', ')}`);
}
