// Progress display on stderr: a bar redrawn in place on a terminal (log lines go above it, see tty.ts), a plain line
// every N seconds otherwise (CI logs).
import { addStatusLine, removeStatusLine, type StatusLine } from './tty.ts';

/** Extra fields shown after the counter, e.g. `{ loss: 0.31, lr: 2e-5 }`. */
export type ProgressPayload = Record<string, number | string>;

/** A writable text stream; `isTTY`/`columns` are read when present (process.stderr has them). */
export interface ProgressStream {
  write(chunk: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** Number of steps; 0 when unknown (then no bar, percentage or ETA). */
  total: number;
  /** Shown first on the line, e.g. 'train', 'encode'. */
  label?: string;
  /** Unit of throughput, default 'it' (→ "it/s"). */
  unit?: string;
  /** First step, when resuming; throughput and ETA count only steps done in this process. */
  start?: number;
  /** Default process.stderr. */
  stream?: ProgressStream;
  /** Force bar (true) or plain-line (false) mode; default: the stream's isTTY. */
  tty?: boolean;
  /** Plain mode: at most one line per this many ms (default DRHARD_PROGRESS_INTERVAL_MS or 10 000). */
  plainIntervalMs?: number;
  /** false → print nothing at all. Default true. */
  enabled?: boolean;
  /** Clock in ms; tests inject a fake one. */
  now?: () => number;
}

/** Compact number formatting for payload fields: 0.3412, 2.00e-5, 1234. */
export function formatValue(v: number | string): string {
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

/** 75 → "1m15s", 4000 → "1h06m40s"; seconds, not ms. */
export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '?';
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m${String(r).padStart(2, '0')}s`;
  if (m > 0) return `${m}m${String(r).padStart(2, '0')}s`;
  return `${r}s`;
}

function formatRate(r: number): string {
  if (!Number.isFinite(r) || r <= 0) return '?';
  if (r >= 100) return r.toFixed(0);
  if (r >= 1) return r.toFixed(1);
  return r.toPrecision(2);
}

// Throughput over the last ~30 s, so a slow first step (JIT, cache warm-up) stops dominating the ETA.
const RATE_WINDOW_MS = 30_000;
// Bar redraws at most this often (5 per second), so a fast loop does not spend its time writing to the terminal.
const BAR_INTERVAL_MS = 200;

export class Progress implements Disposable {
  private readonly total: number;
  private readonly label: string;
  private readonly unit: string;
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly enabled: boolean;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly startStep: number;
  private readonly startTime: number;
  private readonly samples: Array<{ t: number; step: number }> = [];
  private bar: StatusLine | null = null;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private step: number;
  private payload: ProgressPayload = {};
  private lastPrint = Number.NEGATIVE_INFINITY;
  private stopped = false;

  constructor(opts: ProgressOptions) {
    if (!(opts.total >= 0)) throw new RangeError(`Progress: total must be >= 0, got ${opts.total}`);
    this.total = opts.total;
    this.label = opts.label ?? '';
    this.unit = opts.unit ?? 'it';
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? this.stream.isTTY === true;
    this.enabled = opts.enabled ?? true;
    const envMs = Number(process.env['DRHARD_PROGRESS_INTERVAL_MS']);
    this.intervalMs = opts.plainIntervalMs ?? (Number.isFinite(envMs) && envMs > 0 ? envMs : 10_000);
    this.now = opts.now ?? Date.now;
    this.startStep = opts.start ?? 0;
    this.step = this.startStep;
    this.startTime = this.now();
    this.samples.push({ t: this.startTime, step: this.step });
    if (!this.enabled) return;
    if (this.tty) {
      this.bar = {
        clear: () => this.stream.write('\r\x1b[2K'),
        redraw: () => this.drawBar(),
      };
      addStatusLine(this.bar);
      this.drawBar();
    } else {
      this.printPlain();
    }
  }

  /** Sets the current step (absolute) and merges payload fields. */
  update(step: number, payload?: ProgressPayload): void {
    if (this.stopped) return;
    this.step = step;
    if (payload) Object.assign(this.payload, payload);
    const t = this.now();
    this.samples.push({ t, step });
    while (this.samples.length > 2 && t - (this.samples[1] as { t: number }).t >= RATE_WINDOW_MS) this.samples.shift();
    if (!this.enabled) return;
    if (this.bar) {
      if (t - this.lastDraw >= BAR_INTERVAL_MS) this.drawBar();
    }
    else if (t - this.lastPrint >= this.intervalMs) this.printPlain();
  }

  increment(delta = 1, payload?: ProgressPayload): void {
    this.update(this.step + delta, payload);
  }

  /** Steps per second over the recent window (0 before any progress). */
  rate(): number {
    const first = this.samples[0] as { t: number; step: number };
    const last = this.samples[this.samples.length - 1] as { t: number; step: number };
    const dt = (last.t - first.t) / 1000;
    return dt > 0 ? (last.step - first.step) / dt : 0;
  }

  /** Seconds left at the current rate; NaN when unknown. */
  eta(): number {
    const r = this.rate();
    if (this.total <= 0 || r <= 0) return Number.NaN;
    return Math.max(0, this.total - this.step) / r;
  }

  /** The status line as plain text (what plain mode prints). */
  line(): string {
    return this.render(false);
  }

  /** Final redraw (bar) or final line (plain), then no more output. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (!this.enabled) return;
    if (this.bar) {
      removeStatusLine(this.bar);
      this.drawBar();
      this.stream.write('\n');
    } else {
      this.printPlain(true);
    }
  }

  [Symbol.dispose](): void {
    this.stop();
  }

  /**
   * Rewrites the bar line in place, cut to the terminal's width less one column: a full-width line would wrap on
   * some terminals, and the next `\r` would then return to the wrapped half, leaving the first half behind.
   */
  private drawBar(): void {
    this.lastDraw = this.now();
    const width = Math.max(20, (this.stream.columns ?? 80) - 1);
    const line = this.render(true);
    this.stream.write(`\r${line.length > width ? line.slice(0, width) : line}\x1b[K`);
  }

  private printPlain(final = false): void {
    this.lastPrint = this.now();
    this.stream.write(`${this.render(false, final)}\n`);
  }

  private render(withBar: boolean, final = false): string {
    const parts: string[] = [];
    const head: string[] = [];
    if (this.label) head.push(this.label);
    const hasTotal = this.total > 0;
    if (withBar && hasTotal) {
      const width = 24;
      const frac = Math.min(1, Math.max(0, this.step / this.total));
      const full = Math.round(frac * width);
      head.push(`[${'█'.repeat(full)}${'░'.repeat(width - full)}]`);
    }
    head.push(hasTotal ? `${this.step}/${this.total}` : `${this.step}`);
    if (hasTotal) head.push(`(${((100 * this.step) / this.total).toFixed(1)}%)`);
    parts.push(head.join(' '));
    const fields = Object.entries(this.payload).map(([k, v]) => `${k}=${formatValue(v)}`);
    if (fields.length) parts.push(fields.join(' '));
    parts.push(`${formatRate(this.rate())} ${this.unit}/s`);
    const elapsed = (this.now() - this.startTime) / 1000;
    if (final) parts.push(`done in ${formatDuration(elapsed)}`);
    else {
      parts.push(`elapsed ${formatDuration(elapsed)}`);
      if (hasTotal) parts.push(`ETA ${formatDuration(this.eta())}`);
    }
    return parts.join(' | ');
  }
}
