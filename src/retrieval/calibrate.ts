// The default exact engine, chosen by measurement: a short one-time timing of every exact engine per machine and
// shape class, cached on disk (the key holds the CPU model and flags, thread count, libtorch and faiss versions).
//
// Why measured: which engine is fastest depends on more than CPU flags: bfloat16 units (AVX512-BF16 vs AMX), the BLAS
// libtorch and faiss were built with, the core count, and the dimension (at D = 128 selection costs as much as the
// GEMM; at D = 768 the GEMM dominates). A flag test picked an engine 2x slower than the best on some machines.
//
// Cache: $DRHARD_CACHE_DIR/engine-calibration.json, else $XDG_CACHE_HOME/drhard/…, else ~/.cache/drhard/…. An
// entry whose machine key differs (new CPU, libtorch or faiss, thread count, or set of engines: a file written before
// an engine existed is measured again, never read as if that engine had lost) is measured again and replaces the
// entries of other machines (those of other thread counts on this one are kept); an unreadable or corrupt file is ignored with a warning and rewritten. Delete the file to recalibrate.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import * as T from '../tensor/index.ts';
import { writeFileAtomic } from '../util/fsx.ts';
import { log as defaultLog, type Logger } from '../util/log.ts';
import { DenseSearcher, type ExactEngine } from './search.ts';

export const EXACT_ENGINES: readonly ExactEngine[] = ['bf16', 'fp32', 'faiss', 'torch', 'int8'];

/** The exact engines this CPU runs: all but 'int8' where it lacks AVX512-VNNI. */
export function availableEngines(): ExactEngine[] {
  return EXACT_ENGINES.filter((e) => e !== 'int8' || T.int8ScreenSupported());
}

/**
 * Below this many document floats (N·D) the default is 'fp32' without measuring: the search takes milliseconds
 * whichever engine runs it, and tests and small corpora should not pay a calibration.
 */
export const CALIBRATE_MIN_FLOATS = 1 << 22;
/**
 * Synthetic documents per calibration run: 2^25 floats (128 MiB; 262144 rows at D = 128, 43690 at D = 768). Both the
 * full and the half sample must be larger than the CPU's last-level cache: with 2^24 the half sample (32 MiB) sat in
 * L3, the int8 engine's rescored rows came from cache there and from memory in the full sample, and the fitted slope
 * was 3x too steep (at 200k × 768 it predicted 225 queries/s against 513 measured, and chose faiss at 290).
 */
const SAMPLE_FLOATS = 1 << 25;
/** Queries per calibration run: the screening engines' batch (search.ts SCREEN_QUERY_BATCH). */
const SAMPLE_QUERIES = 512;
const K = 100;
/** Timed rounds (engines interleaved, best of each): the machine may be shared. */
const ROUNDS = 3;

const FORMAT = 'drhard-engine-calibration';
const entrySchema = z.object({
  machine: z.string(),
  engine: z.enum(['bf16', 'fp32', 'faiss', 'torch', 'int8']),
  /** Queries/s of every engine on the sample, best of ROUNDS. */
  qps: z.record(z.string(), z.number()),
  /**
   * Seconds for the sample's B queries: `fixed` + `perDoc`·N, fitted from the full and the half sample. The screens pay
   * a per-query cost (rescoring ~100-250 random rows) that a small sample overweights: choosing by this model at the
   * real N, not by the sample's rate, keeps faiss from winning a 20k-document sample and losing 3x at 200k.
   */
  model: z.record(z.string(), z.object({ fixed: z.number(), perDoc: z.number() })),
  shape: z.object({ N: z.number().int(), D: z.number().int(), B: z.number().int(), k: z.number().int() }),
  measuredAt: z.string(),
});
const fileSchema = z.object({
  format: z.literal(FORMAT),
  version: z.literal(1),
  /** Keyed by `<machine key> <shape class>`. */
  entries: z.record(z.string(), entrySchema),
});
export type CalibrationEntry = z.infer<typeof entrySchema>;

/** What identifies a machine for calibration: results measured elsewhere, or with other libraries, do not carry over. */
export interface MachineInfo {
  cpu: string;
  /** sha256 prefix of the CPU flags line. */
  flags: string;
  threads: number;
  torch: string;
  faiss: string;
  /** The engines calibrated (default availableEngines()). */
  engines?: readonly ExactEngine[];
}

export function machineInfo(): MachineInfo {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  let flags = '';
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    cpu = /^model name\s*:\s*(.*)$/m.exec(info)?.[1]?.trim() ?? cpu;
    flags = /^flags\s*:\s*(.*)$/m.exec(info)?.[1]?.trim() ?? '';
  } catch {
    // Not Linux: the model name from os.cpus() and no flags.
  }
  return {
    cpu: `${cpu} (${process.arch})`,
    flags: crypto.createHash('sha256').update(flags).digest('hex').slice(0, 12),
    threads: T.getNumThreads(),
    torch: T.torchVersion(),
    faiss: T.faissVersion(),
  };
}

export function machineKey(m: MachineInfo): string {
  return `cpu=${m.cpu}|flags=${m.flags}|threads=${m.threads}|torch=${m.torch}|faiss=${m.faiss}|engines=${(m.engines ?? availableEngines()).join(',')}`;
}

/** Dimensions round up to a power of two: 128 and 768 (→ 1024) calibrate separately, 760 and 768 share. */
export function shapeClass(D: number): string {
  return `D<=${2 ** Math.ceil(Math.log2(Math.max(1, D)))}`;
}

/** The cache file (see the header for the lookup order). */
export function calibrationCacheFile(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env['DRHARD_CACHE_DIR'] || path.join(env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache'), 'drhard');
  return path.join(dir, 'engine-calibration.json');
}

/** Seconds one engine takes for the calibration problem (tests substitute a fake). */
export type Measure = (engine: ExactEngine, docs: T.Tensor, q: T.Tensor, k: number) => number;

export interface CalibrationOptions {
  /** Cache file; default calibrationCacheFile(). */
  file?: string;
  log?: Logger;
  machine?: MachineInfo;
  measure?: Measure;
  /** Size of the synthetic problem (default 2^25 document floats, 512 queries); tests shrink it. */
  sample?: { floats: number; queries: number };
}

/** Entries already read or measured by this process, by file and key. */
const memo = new Map<string, CalibrationEntry>();
/** Forgets what this process read or measured (tests; a deleted cache file is otherwise noticed at restart). */
export function forgetCalibrations(): void {
  memo.clear();
}

/**
 * The default exact engine for N documents of dimension D: 'fp32' for small problems, else the engine the cached
 * calibration for this machine and D class found fastest, calibrating (a few seconds, once) when none is cached.
 */
export function calibratedEngine(N: number, D: number, opts: CalibrationOptions = {}): ExactEngine {
  if (N * D < CALIBRATE_MIN_FLOATS) return 'fp32';
  return engineFor(calibration(D, opts), N);
}

/** The engine a calibration predicts fastest for N documents. */
export function engineFor(entry: CalibrationEntry, N: number): ExactEngine {
  let best: ExactEngine = entry.engine;
  let bestT = Infinity;
  for (const e of EXACT_ENGINES) {
    const m = entry.model[e];
    if (m === undefined) continue;
    const t = m.fixed + m.perDoc * N;
    if (t < bestT) {
      bestT = t;
      best = e;
    }
  }
  return best;
}

/** The cached calibration entry for D's class on this machine, measured and cached first if missing. */
export function calibration(D: number, opts: CalibrationOptions = {}): CalibrationEntry {
  const file = opts.file ?? calibrationCacheFile();
  const logger = opts.log ?? defaultLog;
  const info = opts.machine ?? machineInfo();
  const machine = machineKey(info);
  const key = `${machine} ${shapeClass(D)}`;
  const known = memo.get(`${file}\0${key}`);
  if (known !== undefined) return known;
  const cached = readCache(file, logger);
  const hit = cached?.entries[key];
  if (hit !== undefined && hit.machine === machine) {
    memo.set(`${file}\0${key}`, hit);
    return hit;
  }
  logger.info({ D, shapeClass: shapeClass(D), file }, 'calibrating the exact search engines for this machine (once)');
  const entry = measureEngines(D, machine, info.engines ?? availableEngines(), opts.measure ?? timeSearch, opts.sample ?? { floats: SAMPLE_FLOATS, queries: SAMPLE_QUERIES });
  logger.info({ engine: entry.engine, qps: entry.qps }, 'exact engine calibrated');
  // Entries from another machine (CPU, libraries, engine set) are stale: drop them. Other thread counts of this
  // machine stay: 1-thread ranks and a 2-thread process on one machine would otherwise recalibrate each other.
  const entries: Record<string, CalibrationEntry> = {};
  for (const [k, e] of Object.entries(cached?.entries ?? {})) if (sansThreads(e.machine) === sansThreads(machine)) entries[k] = e;
  entries[key] = entry;
  try {
    writeFileAtomic(file, `${JSON.stringify({ format: FORMAT, version: 1, entries }, null, 1)}\n`, { sync: false });
  } catch (e) {
    logger.warn({ file, err: (e as Error).message }, 'could not write the engine calibration cache; it will be measured again next time');
  }
  memo.set(`${file}\0${key}`, entry);
  return entry;
}

/** A machine key without its thread count. */
function sansThreads(machine: string): string {
  return machine.replace(/\|threads=\d+/, '');
}

/** The cache's contents; null (with a warning when it exists) when missing, unreadable or not a calibration file. */
function readCache(file: string, logger: Logger): z.infer<typeof fileSchema> | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ file, err: (e as Error).message }, 'engine calibration cache unreadable; ignoring it');
    return null;
  }
  try {
    const r = fileSchema.safeParse(JSON.parse(text));
    if (r.success) return r.data;
    const issue = r.error.issues[0];
    logger.warn({ file, field: issue?.path.join('.'), err: issue?.message }, 'engine calibration cache is invalid; ignoring it and calibrating again');
  } catch (e) {
    logger.warn({ file, err: (e as Error).message }, 'engine calibration cache is not JSON; ignoring it and calibrating again');
  }
  return null;
}

/** Times every engine on seeded synthetic data of dimension D (engines interleaved, best of ROUNDS). */
function measureEngines(D: number, machine: string, engines: readonly ExactEngine[], measure: Measure, sample: { floats: number; queries: number }): CalibrationEntry {
  const N = Math.max(1, Math.round(sample.floats / D));
  const B = sample.queries;
  const best = new Map<ExactEngine, number>();
  const bestHalf = new Map<ExactEngine, number>();
  const H = Math.max(1, Math.floor(N / 2));
  T.tidy(() => {
    // The caller's RNG stream is left as it was: calibration happens at an unpredictable first search.
    const state = T.getRngState();
    try {
      T.manualSeed(0x5eed);
      const docs = T.randn([N, D]);
      const q = T.randn([B, D]);
      for (let r = 0; r < ROUNDS; r++) {
        for (const e of engines) {
          best.set(e, Math.min(best.get(e) ?? Infinity, measure(e, docs, q, K)));
          bestHalf.set(e, Math.min(bestHalf.get(e) ?? Infinity, measure(e, docs.narrow(0, 0, H), q, K)));
        }
      }
    } finally {
      T.setRngState(state);
    }
  });
  const qps: Record<string, number> = {};
  const model: Record<string, { fixed: number; perDoc: number }> = {};
  let engine: ExactEngine = 'fp32';
  for (const e of engines) {
    const full = best.get(e) as number;
    qps[e] = Math.round((10 * B) / full) / 10;
    if (full < (best.get(engine) as number)) engine = e;
    // The marginal cost of the second half, kept within [1/2, 1] of the average per document: a difference of two
    // timings on a shared machine can come out at anything.
    const avg = full / N;
    const perDoc = N > H ? Math.min(avg, Math.max(avg / 2, (full - (bestHalf.get(e) as number)) / (N - H))) : avg;
    model[e] = { fixed: Math.max(0, full - perDoc * N), perDoc };
  }
  return { machine, engine, qps, model, shape: { N, D, B, k: K }, measuredAt: new Date().toISOString() };
}

/** Builds the engine's searcher (untimed), warms it up once, then times one search of all queries. */
function timeSearch(engine: ExactEngine, docs: T.Tensor, q: T.Tensor, k: number): number {
  using s = DenseSearcher.fromTensor(docs, { engine });
  s.search(q.narrow(0, 0, 16), k);
  const t = process.hrtime.bigint();
  s.search(q, k);
  return Number(process.hrtime.bigint() - t) / 1e9;
}
