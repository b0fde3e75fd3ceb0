// Graceful stop for long loops: the first SIGINT/SIGTERM raises a flag (finish the step, checkpoint, exit 130/143),
// the second exits at once.
import * as os from 'node:os';
import { log as rootLog, type Logger } from './log.ts';

/** Shell convention: 128 + signal number (SIGINT → 130, SIGTERM → 143). */
export function exitCodeForSignal(sig: NodeJS.Signals): number {
  const n = os.constants.signals[sig];
  return 128 + (typeof n === 'number' ? n : 15);
}

export interface StopSignalOptions {
  /** Default ['SIGINT', 'SIGTERM']. */
  signals?: NodeJS.Signals[];
  logger?: Logger;
  /** Called on the second signal; default process.exit. Tests inject their own. */
  exit?: (code: number) => void;
}

/**
 * While alive, replaces Node's default "die on SIGINT/SIGTERM" with a flag. Poll `requested` between
 * steps; after saving, exit with `exitCode`. Dispose (or `using`) to restore default signal handling.
 */
export class StopSignal implements Disposable {
  private sig: NodeJS.Signals | null = null;
  private disposed = false;
  private readonly handlers = new Map<NodeJS.Signals, (s: NodeJS.Signals) => void>();
  private readonly logger: Logger;
  private readonly exit: (code: number) => void;
  private resolveStopped: (s: NodeJS.Signals) => void = () => {};
  /** Resolves with the first signal; lets async code race a stop against a long wait. */
  readonly stopped: Promise<NodeJS.Signals>;

  constructor(opts: StopSignalOptions = {}) {
    this.logger = opts.logger ?? rootLog.child({ mod: 'signals' });
    this.exit = opts.exit ?? ((code: number) => process.exit(code));
    this.stopped = new Promise<NodeJS.Signals>((r) => (this.resolveStopped = r));
    for (const s of opts.signals ?? (['SIGINT', 'SIGTERM'] as NodeJS.Signals[])) {
      const h = (got: NodeJS.Signals): void => this.onSignal(got);
      this.handlers.set(s, h);
      process.on(s, h);
    }
  }

  /** True once a stop was requested (by a signal or `request()`). */
  get requested(): boolean {
    return this.sig !== null;
  }

  /** The first signal received, or null. */
  get signal(): NodeJS.Signals | null {
    return this.sig;
  }

  /** The exit code to use after a graceful stop (130 for SIGINT, 143 for SIGTERM), or null if none. */
  get exitCode(): number | null {
    return this.sig === null ? null : exitCodeForSignal(this.sig);
  }

  /** Requests a stop as if `sig` had arrived once (e.g. a time limit); does not count towards "second". */
  request(sig: NodeJS.Signals = 'SIGTERM'): void {
    if (this.sig !== null) return;
    this.sig = sig;
    this.resolveStopped(sig);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const [s, h] of this.handlers) process.removeListener(s, h);
    this.handlers.clear();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  private onSignal(got: NodeJS.Signals): void {
    if (this.sig === null) {
      this.sig = got;
      this.logger.warn({ signal: got }, `${got} received: stopping after the current step (send again to exit now)`);
      this.resolveStopped(got);
      return;
    }
    this.logger.warn({ signal: got }, `second signal (${got}): exiting now without saving`);
    this.exit(exitCodeForSignal(got));
  }
}
