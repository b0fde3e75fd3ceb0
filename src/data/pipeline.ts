// Parse + tokenize a text file in order-preserving chunks, on worker threads (one tokenizer per worker) or in-process.
import * as os from 'node:os';
import type { Worker } from 'node:worker_threads';
import { DrhardInputError } from '../util/errors.ts';
import { startTsWorker } from '../util/worker.ts';
import { loadTokenizer, type DrTokenizer, type LoadTokenizerOptions } from '../tokenizers/index.ts';
import { readLineChunks, type ChunkSourceResult } from './chunks.ts';
import { parseChunk, type ParseOptions, type SkippedLine } from './parse.ts';

/** How workers load the tokenizer (N-API objects cannot cross threads, so each worker loads its own). */
export interface TokenizerSpec {
  src: string;
  options: LoadTokenizerOptions;
}

export interface ChunkJob {
  seq: number;
  buf: Uint8Array;
  firstLine: number;
  parse: ParseOptions;
  maxLength: number;
}

/** A chunk's records in file order: ids, source line numbers, and packed token ids. */
export interface ChunkResult {
  seq: number;
  ids: string[];
  lines: Int32Array;
  tokens: Int32Array;
  lengths: Int32Array;
  /** 1 for records whose token sequence was cut to maxLength. */
  cut: Uint8Array;
  skipped: SkippedLine[];
}

/** Parses and tokenizes one chunk; shared by the worker and the in-process path. */
export async function processChunk(tok: DrTokenizer, job: ChunkJob): Promise<ChunkResult> {
  const rec = parseChunk(job.buf, job.firstLine, job.parse);
  const packed = await tok.encodeBatch(rec.texts, job.maxLength);
  return {
    seq: job.seq,
    ids: rec.ids,
    lines: Int32Array.from(rec.lines),
    tokens: packed.ids,
    lengths: packed.lengths,
    cut: packed.cut,
    skipped: rec.skipped,
  };
}

/** An error crossing the worker boundary. */
export interface WireError {
  input: boolean;
  message: string;
  file?: string;
  line?: number;
  field?: string;
}

export function toWireError(e: unknown): WireError {
  if (e instanceof DrhardInputError) {
    return {
      input: true,
      message: e.message,
      ...(e.file !== undefined ? { file: e.file } : {}),
      ...(e.line !== undefined ? { line: e.line } : {}),
      ...(e.field !== undefined ? { field: e.field } : {}),
    };
  }
  return { input: false, message: e instanceof Error ? (e.stack ?? e.message) : String(e) };
}

function fromWireError(w: WireError): Error {
  if (!w.input) return new Error(`preprocess worker: ${w.message}`);
  // DrhardInputError prefixes "file:line: field: "; strip it so rebuilding does not double it.
  let msg = w.message;
  const loc = w.file !== undefined ? `${w.file}${w.line !== undefined ? `:${w.line}` : ''}: ` : '';
  if (loc && msg.startsWith(loc)) msg = msg.slice(loc.length);
  if (w.field !== undefined && msg.startsWith(`${w.field}: `)) msg = msg.slice(w.field.length + 2);
  return new DrhardInputError(msg, {
    ...(w.file !== undefined ? { file: w.file } : {}),
    ...(w.line !== undefined ? { line: w.line } : {}),
    ...(w.field !== undefined ? { field: w.field } : {}),
  });
}

type Pending = { resolve: (r: ChunkResult) => void; reject: (e: Error) => void };

interface WorkerSlot {
  worker: Worker;
  pending: Map<number, Pending>;
  failed: Error | undefined;
}

/**
 * Tokenizes chunks on `threads` workers (0 = in this thread). `maxInflight` chunks may be queued at once, which
 * bounds memory to about maxInflight × chunk size plus their token ids.
 */
export class TokenizePool {
  readonly threads: number;
  readonly maxInflight: number;
  private readonly slots: WorkerSlot[] = [];
  private local: Promise<DrTokenizer> | undefined;

  private constructor(
    private readonly spec: TokenizerSpec,
    threads: number,
  ) {
    this.threads = threads;
    this.maxInflight = Math.max(2, threads * 2);
  }

  /** Starts the workers and waits until each has loaded the tokenizer (so a bad tokenizer fails here, once). */
  static async create(spec: TokenizerSpec, threads = defaultThreads()): Promise<TokenizePool> {
    const pool = new TokenizePool(spec, threads);
    if (threads === 0) {
      pool.local = loadTokenizer(spec.src, spec.options);
      await pool.local;
      return pool;
    }
    try {
      await Promise.all(Array.from({ length: threads }, () => pool.spawn()));
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  private spawn(): Promise<void> {
    const worker = startTsWorker(new URL('./worker.ts', import.meta.url).href, this.spec);
    const slot: WorkerSlot = { worker, pending: new Map(), failed: undefined };
    this.slots.push(slot);
    return new Promise((resolve, reject) => {
      let ready = false;
      const failAll = (err: Error): void => {
        slot.failed = err;
        for (const p of slot.pending.values()) p.reject(err);
        slot.pending.clear();
        if (!ready) reject(err);
      };
      worker.on('message', (m: { type: 'ready' } | { type: 'init-error'; error: WireError } | { type: 'result'; result: ChunkResult } | { type: 'error'; seq: number; error: WireError }) => {
        if (m.type === 'ready') {
          ready = true;
          resolve();
        } else if (m.type === 'init-error') failAll(fromWireError(m.error));
        else if (m.type === 'result') {
          const p = slot.pending.get(m.result.seq);
          slot.pending.delete(m.result.seq);
          p?.resolve(m.result);
        } else {
          const p = slot.pending.get(m.seq);
          slot.pending.delete(m.seq);
          p?.reject(fromWireError(m.error));
        }
      });
      worker.on('error', (e) => failAll(e));
      worker.on('exit', (code) => {
        if (slot.pending.size > 0 || !ready) failAll(slot.failed ?? new Error(`preprocess worker exited with code ${code}`));
      });
    });
  }

  /** Parses and tokenizes one chunk. The buffer is copied (then transferred) so the caller may reuse its memory. */
  submit(job: ChunkJob): Promise<ChunkResult> {
    if (this.threads === 0) return (this.local as Promise<DrTokenizer>).then((tok) => processChunk(tok, job));
    let best: WorkerSlot | undefined;
    for (const s of this.slots) if (s.failed === undefined && (best === undefined || s.pending.size < best.pending.size)) best = s;
    if (best === undefined) return Promise.reject(this.slots[0]?.failed ?? new Error('no preprocess worker alive'));
    const slot = best;
    return new Promise((resolve, reject) => {
      slot.pending.set(job.seq, { resolve, reject });
      // A copy: job.buf may be a view into a stream's pooled memory, which a transfer would detach.
      const buf = new Uint8Array(job.buf.byteLength);
      buf.set(job.buf);
      slot.worker.postMessage({ ...job, buf }, [buf.buffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }
}

export function defaultThreads(): number {
  return Math.max(1, Math.min(2, os.availableParallelism()));
}

let seqCounter = 0;

/**
 * Streams `file` through the pool and calls `onResult` for each chunk in file order. Returns the raw file's
 * sha256/size/line count. The first error (bad line, worker failure) stops reading and is rethrown.
 */
export async function tokenizeFile(
  pool: TokenizePool,
  file: string,
  parse: Omit<ParseOptions, 'file'>,
  maxLength: number,
  onResult: (r: ChunkResult) => void,
  onProgress?: (rawBytes: number) => void,
  chunkBytes = 1 << 20,
): Promise<ChunkSourceResult> {
  const gen = readLineChunks(file, chunkBytes);
  const inflight: Array<Promise<ChunkResult>> = [];
  const opts: ParseOptions = { ...parse, file };
  let progressBytes = 0;
  const drainOne = async (): Promise<void> => {
    const r = await (inflight.shift() as Promise<ChunkResult>);
    onResult(r);
    onProgress?.(progressBytes);
  };
  try {
    for (;;) {
      const next = await gen.next();
      if (next.done === true) {
        while (inflight.length > 0) await drainOne();
        return next.value;
      }
      const c = next.value;
      progressBytes = c.rawBytes;
      const p = pool.submit({ seq: seqCounter++, buf: c.buf, firstLine: c.firstLine, parse: opts, maxLength });
      // Later chunks may fail before the head is awaited; they are awaited (or dropped) in order below.
      p.catch(() => undefined);
      inflight.push(p);
      while (inflight.length >= pool.maxInflight) await drainOne();
    }
  } finally {
    await gen.return(undefined as never).catch(() => undefined);
  }
}
