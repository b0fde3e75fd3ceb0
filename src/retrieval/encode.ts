// Encoding a token store into an embeddings file: length-sorted batches, streaming part files that survive a
// crash (each with its own manifest), and a final file byte-identical to an uninterrupted run.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../tensor/index.ts';
import type { TokenStore } from '../data/tokenstore.ts';
import type { DotModel } from '../models/dual.ts';
import { encodeIds } from '../models/encode.ts';
import { DrhardInputError } from '../util/errors.ts';
import { hashJson } from '../util/hash.ts';
import { log as rootLog } from '../util/log.ts';
import { Progress } from '../util/progress.ts';
import { fsyncChecked, fsyncPath, writeAllSync, writeFileAtomic } from '../util/fsx.ts';
import {
  EMBEDDINGS_FORMAT,
  bytesPerValue,
  manifestPathFor,
  readEmbeddingsManifest,
  writeEmbeddingsManifest,
  type EmbeddingDType,
  type EmbeddingsManifest,
} from './embeddings.ts';

const log = rootLog.child({ mod: 'encode' });

export interface EncodeOptions {
  /**
   * Output embeddings file; the manifest goes to `<out>.json`. Work in progress lives in `<out>.parts/`: the data
   * file being filled (renamed to `out` at the end) and one small manifest per finished part.
   */
  out: string;
  /** Sequence length cap (DRhard's read-time truncation keeps the first and last token). */
  maxLength: number;
  /** Sequences per forward pass. */
  batchSize?: number;
  /** Rows per part file: the unit of crash recovery and of length sorting (default 16384). */
  chunkRows?: number;
  dtype?: EmbeddingDType;
  /** Padding id (default the model config's pad_token_id). */
  padId?: number;
  /** Reuse completed parts of an interrupted run with the same identity (default true). */
  resume?: boolean;
  /** Provenance recorded in the manifest and part identity. */
  model?: { path: string; checksum?: string };
  dataset?: { path: string; checksum: string; split: string };
  /** Progress bar on stderr (default true). */
  progress?: boolean;
  /** Polled between batches; when true, throws EncodeStopped (finished parts are kept, the current one is redone). */
  shouldStop?: () => boolean;
  /** Test hook: called after each part is published, with its index. */
  onPart?: (index: number) => void;
  /**
   * Sharded over ranks sharing the output's filesystem (src/dist/encode.ts): rank r encodes parts r, r+W, …;
   * rank 0 prepares the parts directory and publishes the one output, which every rank returns.
   */
  shard?: EncodeShard;
}

/** Rank coordination for a sharded encode: named one-shot events (the process group's store). */
export interface EncodeShard {
  rank: number;
  world: number;
  /** Marks event `name` as happened (idempotent). */
  signal(name: string): void;
  /** Blocks until event `name` has happened (fails when a peer is found dead). */
  waitFor(name: string): void;
}

export interface EncodeResult {
  manifest: EmbeddingsManifest;
  /** Rows encoded in this call (0 when the output was already complete). */
  encoded: number;
  /** Rows taken from parts of an earlier interrupted run. */
  reused: number;
  seconds: number;
  /** Of `seconds`, the time spent encoding this rank's parts (the rest: setup, waiting for peers, hashing, publishing). */
  encodeSeconds?: number;
  /** CPU time of the whole process (every thread) during the call: below `seconds` × threads when it waited. */
  cpuSeconds?: number;
}

export class EncodeStopped extends Error {
  constructor(readonly done: number) {
    super(`encoding stopped after ${done} rows; rerun the same command to resume`);
    this.name = 'EncodeStopped';
  }
}

export const DEFAULT_ENCODE_CHUNK_ROWS = 16384;

/** sha256 over the parameters' names, shapes, dtypes and bytes: what the vectors depend on, whatever the file. */
export function modelChecksum(model: DotModel): string {
  const h = createHash('sha256');
  for (const [name, t] of model.stateDict()) {
    h.update(`${name}|${t.shape.join(',')}|${t.dtype}\n`);
    const d = T.tidy(() => (t.device === 'cpu' ? t : t.to('cpu')).contiguous().data());
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest('hex');
}

interface PartManifest {
  key: string;
  index: number;
  /** Byte range [offset, offset + bytes) of the part in the data file. */
  offset: number;
  bytes: number;
  sha256: string;
}

const partName = (i: number): string => `part-${String(i).padStart(6, '0')}`;

/**
 * Encodes every row of `store` with `model` (eval mode, no grad) into `opts.out`, rows in offset order.
 *
 * Rows are processed in parts of `chunkRows` consecutive offsets; within a part, batches take rows in length order
 * (less padding) and results are scattered back to offset order. Each finished part is written atomically with a
 * small manifest (identity key, sha256), so a killed run resumes by re-checking the parts and encoding only the
 * rest. Batches depend only on the part's rows and the batch size, so a resumed run computes exactly the same
 * numbers and the final file is byte-identical to an uninterrupted one.
 */
export async function encodeSplit(model: DotModel, store: TokenStore, opts: EncodeOptions): Promise<EncodeResult> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let encodeMs = 0;
  const timing = (): { encodeSeconds: number; cpuSeconds: number } => {
    const c = process.cpuUsage(cpu0);
    return { encodeSeconds: Number((encodeMs / 1000).toFixed(3)), cpuSeconds: Number(((c.user + c.system) / 1e6).toFixed(3)) };
  };
  const batchSize = opts.batchSize ?? 64;
  const chunkRows = opts.chunkRows ?? DEFAULT_ENCODE_CHUNK_ROWS;
  const dtype = opts.dtype ?? 'float32';
  const padId = opts.padId ?? model.config.padTokenId;
  for (const [k, v] of [['batchSize', batchSize], ['chunkRows', chunkRows], ['maxLength', opts.maxLength]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new DrhardInputError(`${k} must be a positive integer, got ${v}`);
  }
  if (opts.maxLength < 2) throw new DrhardInputError(`maxLength must be >= 2, got ${opts.maxLength}`);
  // RoBERTa's positions start after padding_idx, so its table holds max_position_embeddings - pad - 1 tokens.
  const posLimit = model.config.maxPositionEmbeddings - (model.config.modelType === 'roberta' ? model.config.padTokenId + 1 : 0);
  const maxLength = Math.min(opts.maxLength, posLimit);
  const N = store.count;
  const D = model.dim;
  const bpv = bytesPerValue(dtype);
  const modelSum = opts.model?.checksum ?? modelChecksum(model);
  const identity = {
    format: EMBEDDINGS_FORMAT,
    model: modelSum,
    dataset: opts.dataset ? { checksum: opts.dataset.checksum, split: opts.dataset.split } : null,
    count: N,
    dim: D,
    dtype,
    maxLength,
    batchSize,
    chunkRows,
    pooling: model.config.pooling,
    padId,
  };
  const key = hashJson(identity);
  const manifestBase: Omit<EmbeddingsManifest, 'sha256' | 'bytes'> = {
    format: EMBEDDINGS_FORMAT,
    version: 1,
    dim: D,
    count: N,
    dtype,
    model: { path: opts.model?.path ?? '', checksum: modelSum },
    ...(opts.dataset ? { dataset: opts.dataset } : {}),
    maxLength,
    pooling: model.config.pooling,
  };

  const shard = opts.shard && opts.shard.world > 1 ? opts.shard : null;
  const lead = shard === null || shard.rank === 0;
  // An existing complete output with the same provenance is the answer already.
  if ((opts.resume ?? true) && fs.existsSync(opts.out) && fs.existsSync(manifestPathFor(opts.out))) {
    try {
      const m = readEmbeddingsManifest(opts.out);
      // pooling too: --pooling on a plain encoder changes the vectors, not the weights the checksum covers.
      if (m.model?.checksum === modelSum && m.count === N && m.dim === D && m.dtype === dtype && m.maxLength === maxLength && m.pooling === model.config.pooling &&
        (opts.dataset === undefined || (m.dataset?.checksum === opts.dataset.checksum && m.dataset.split === opts.dataset.split))) {
        log.info({ out: opts.out }, 'embeddings already complete; nothing to do');
        return { manifest: m, encoded: 0, reused: N, seconds: (performance.now() - t0) / 1000 };
      }
    } catch {
      // Unreadable or mismatched: re-encode.
    }
  }

  const partsDir = `${opts.out}.parts`;
  const idFile = path.join(partsDir, 'identity.json');
  const dataFile = path.join(partsDir, DATA_FILE);
  const totalBytes = N * D * bpv;
  // Only rank 0 prepares (or discards) the parts directory; the others open it once it is ready.
  if (lead) prepareParts();
  shard?.[lead ? 'signal' : 'waitFor'](`encode/${key}/ready`);
  function prepareParts(): void {
  fs.mkdirSync(partsDir, { recursive: true });
  const prevKey = fs.existsSync(idFile) ? (JSON.parse(fs.readFileSync(idFile, 'utf8')) as { key?: string }).key : undefined;
  if (prevKey !== key || !(opts.resume ?? true) || !fs.existsSync(dataFile) || fs.statSync(dataFile).size !== totalBytes) {
    if (prevKey !== undefined && prevKey !== key) log.warn({ partsDir }, 'parts from a different model/dataset/settings found; discarding them');
    for (const f of fs.readdirSync(partsDir)) fs.rmSync(path.join(partsDir, f), { force: true, recursive: true });
    // One file of the final size (sparse until written): parts land at their own offsets, so publishing is a rename
    // and the disk never holds the embeddings twice.
    const fd = fs.openSync(dataFile, 'w');
    try {
      fs.ftruncateSync(fd, totalBytes);
    } finally {
      fs.closeSync(fd);
    }
    writeFileAtomic(idFile, `${JSON.stringify({ key, identity }, null, 2)}\n`, { sync: false });
  }
  // Temp files of a killed writer are never valid parts.
  for (const f of fs.readdirSync(partsDir)) if (f.startsWith('.')) fs.rmSync(path.join(partsDir, f), { force: true });
  }

  const nParts = Math.ceil(N / chunkRows);
  const done = new Array<boolean>(nParts).fill(false);
  let reused = 0;
  const rowBytes = D * bpv;
  const fd = fs.openSync(dataFile, 'r+');
  try {
    for (let p = 0; p < nParts; p++) {
      const start = p * chunkRows;
      const count = Math.min(chunkRows, N - start);
      if ((shard === null || p % shard.world === shard.rank) && verifyPart(partsDir, fd, p, key, start * rowBytes, count * rowBytes)) {
        done[p] = true;
        reused += count;
      }
    }
    if (reused > 0) log.info({ reused, parts: done.filter(Boolean).length }, 'resuming: completed parts verified and kept');

    const progress = new Progress({ total: N, label: 'encode', unit: 'row', start: reused, enabled: opts.progress ?? true });
    let rowsDone = reused;
    let encoded = 0;
    const wasTraining = model.training;
    model.eval();
    const tEncode = performance.now();
    try {
      for (let p = 0; p < nParts; p++) {
        if (done[p] || (shard !== null && p % shard.world !== shard.rank)) continue;
        if (opts.shouldStop?.() === true) throw new EncodeStopped(reused + encoded);
        const start = p * chunkRows;
        const count = Math.min(chunkRows, N - start);
        const buf = await encodePart(model, store, start, count, { batchSize, maxLength, padId, dtype }, (n) => {
          rowsDone += n;
          progress.update(rowsDone);
          return opts.shouldStop?.() === true;
        });
        if (buf === null) throw new EncodeStopped(reused + encoded);
        writePart(partsDir, fd, p, key, start * rowBytes, buf);
        encoded += count;
        opts.onPart?.(p);
      }
    } finally {
      model.train(wasTraining);
      progress.stop();
      encodeMs = performance.now() - tEncode;
    }

    if (shard !== null) {
      shard.signal(`encode/${key}/done/${shard.rank}`);
      if (!lead) {
        // Rank 0 publishes; the result is the same file for every rank.
        shard.waitFor(`encode/${key}/published`);
        const seconds = (performance.now() - t0) / 1000;
        return { manifest: readEmbeddingsManifest(opts.out), encoded, reused, seconds, ...timing() };
      }
      for (let r = 1; r < shard.world; r++) shard.waitFor(`encode/${key}/done/${r}`);
    }
    // The manifest's sha256 is computed from the bytes on disk, not from what we meant to write. A sharded run also
    // checks every part (other ranks wrote them) in the same read: a separate pass read the whole file twice.
    const parts = shard === null ? null : Array.from({ length: nParts }, (_, p) => ({ index: p, offset: p * chunkRows * rowBytes, bytes: Math.min(chunkRows, N - p * chunkRows) * rowBytes }));
    const hashed = hashDataFile(fd, dataFile, totalBytes, parts === null ? null : { dir: partsDir, key, parts });
    if (hashed.badPart !== null) {
      throw new Error(`${partsDir}: part ${hashed.badPart} (rank ${hashed.badPart % (shard?.world ?? 1)}) is missing or does not verify after every rank reported done`);
    }
    fsyncChecked(fd, dataFile);
    const manifest: EmbeddingsManifest = { ...manifestBase, sha256: hashed.sha256, bytes: totalBytes };
    // Data first, then its manifest: a crash in between leaves data without a manifest, never the reverse.
    fs.renameSync(dataFile, opts.out);
    fsyncPath(path.dirname(path.resolve(opts.out)));
    writeEmbeddingsManifest(opts.out, manifest);
    fs.rmSync(partsDir, { recursive: true, force: true });
    shard?.signal(`encode/${key}/published`);
    const seconds = (performance.now() - t0) / 1000;
    log.info({ out: opts.out, rows: N, encoded, reused, seconds: Number(seconds.toFixed(2)) }, 'embeddings written');
    return { manifest, encoded, reused, seconds, ...timing() };
  } finally {
    fs.closeSync(fd);
  }
}

const DATA_FILE = 'data.partial';


/**
 * Encodes rows [start, start+count) in length-sorted batches; returns their vectors in offset order as bytes, or
 * null when `onBatch` asks to stop before the part is complete.
 */
async function encodePart(
  model: DotModel,
  store: TokenStore,
  start: number,
  count: number,
  o: { batchSize: number; maxLength: number; padId: number; dtype: EmbeddingDType },
  onBatch: (rows: number) => boolean,
): Promise<Uint8Array | null> {
  const D = model.dim;
  const bpv = bytesPerValue(o.dtype);
  const out = new Uint8Array(count * D * bpv);
  // Stable sort by length: ties keep offset order, so the batches are a pure function of the part.
  const order = Array.from({ length: count }, (_, i) => start + i).sort((a, b) => store.length(a) - store.length(b));
  const device = model.device;
  for (let s = 0; s < count; s += o.batchSize) {
    const rows = order.slice(s, s + o.batchSize);
    const b = store.batch(rows, o.maxLength, o.padId);
    const vec = T.tidy(() =>
      T.noGrad(() => {
        const ids = T.tensor(b.ids, { shape: [rows.length, b.L] }).to({ dtype: 'int64', device });
        const mask = T.tensor(b.mask, { shape: [rows.length, b.L] }).to({ dtype: 'int64', device });
        const e = model.encode(ids, mask).to({ dtype: o.dtype, device: 'cpu' }).contiguous(); // [B, D]
        return e.data();
      }),
    );
    const bytes = new Uint8Array(vec.buffer, vec.byteOffset, vec.byteLength);
    const rowBytes = D * bpv;
    rows.forEach((r, i) => out.set(bytes.subarray(i * rowBytes, (i + 1) * rowBytes), (r - start) * rowBytes));
    if (onBatch(rows.length) && s + o.batchSize < count) return null;
    // Let signals, timers and the progress bar run between batches.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return out;
}

/**
 * Writes a part's bytes at `offset` of the data file, then its manifest (the "done" mark) by rename. No fsync:
 * a resume re-hashes every part against its manifest, so data lost to a crash is found and redone; only the final
 * publish is synced.
 */
function writePart(dir: string, fd: number, index: number, key: string, offset: number, data: Uint8Array): void {
  writeAllSync(fd, data, path.join(dir, DATA_FILE), offset);
  const m: PartManifest = { key, index, offset, bytes: data.byteLength, sha256: createHash('sha256').update(data).digest('hex') };
  writeFileAtomic(path.join(dir, `${partName(index)}.json`), `${JSON.stringify(m)}\n`, { sync: false });
}

/**
 * The sha256 of the data file's first `totalBytes`, read once; with `check`, each part's range (contiguous, in order,
 * covering the file) is also hashed on the way and compared with its manifest. Returns the first bad part, if any.
 */
function hashDataFile(
  fd: number,
  dataFile: string,
  totalBytes: number,
  check: { dir: string; key: string; parts: Array<Omit<PartManifest, 'key' | 'sha256'>> } | null,
): { sha256: string; badPart: number | null } {
  const h = createHash('sha256');
  const chunk = Buffer.allocUnsafe(1 << 22);
  const ranges = check?.parts ?? [{ index: -1, offset: 0, bytes: totalBytes }];
  for (const r of ranges) {
    let expected: string | null = null;
    if (check !== null) {
      try {
        const m = JSON.parse(fs.readFileSync(path.join(check.dir, `${partName(r.index)}.json`), 'utf8')) as PartManifest;
        if (m.key === check.key && m.index === r.index && m.offset === r.offset && m.bytes === r.bytes) expected = m.sha256;
      } catch {
        // Missing or unreadable manifest: the part is bad.
      }
      if (expected === null) return { sha256: '', badPart: r.index };
    }
    const ph = check !== null ? createHash('sha256') : null;
    for (let off = r.offset, end = r.offset + r.bytes; off < end; ) {
      const n = fs.readSync(fd, chunk, 0, Math.min(chunk.length, end - off), off);
      if (n === 0) throw new Error(`${dataFile}: unexpected end of file at byte ${off}`);
      h.update(chunk.subarray(0, n));
      ph?.update(chunk.subarray(0, n));
      off += n;
    }
    if (ph !== null && ph.digest('hex') !== expected) {
      log.warn({ part: r.index }, 'part checksum mismatch');
      return { sha256: '', badPart: r.index };
    }
  }
  return { sha256: h.digest('hex'), badPart: null };
}

/** Write beside, then rename: readers see the old file or the new one, never a torn one (not synced; see writePart). */
/** A part is done if its manifest matches this run and its byte range in the data file still hashes to it. */
function verifyPart(dir: string, fd: number, index: number, key: string, offset: number, bytes: number): boolean {
  const mf = path.join(dir, `${partName(index)}.json`);
  if (!fs.existsSync(mf)) return false;
  try {
    const m = JSON.parse(fs.readFileSync(mf, 'utf8')) as PartManifest;
    if (m.key !== key || m.index !== index || m.offset !== offset || m.bytes !== bytes) return false;
    const data = Buffer.allocUnsafe(bytes);
    let got = 0;
    while (got < bytes) {
      const n = fs.readSync(fd, data, got, bytes - got, offset + got);
      if (n === 0) return false;
      got += n;
    }
    const ok = createHash('sha256').update(data).digest('hex') === m.sha256;
    if (!ok) log.warn({ part: index }, 'part checksum mismatch; re-encoding it');
    return ok;
  } catch {
    return false;
  }
}

/**
 * Embeddings [n, D] (float32, CPU) of raw texts for ad-hoc queries: tokenized with `tok` (special tokens added, cut
 * to `maxLength`), then encoded in length-sorted batches.
 */
export async function encodeTexts(
  model: DotModel,
  tok: { encodeBatch(texts: readonly string[], maxLength: number): Promise<{ ids: Int32Array; lengths: Int32Array }> },
  texts: readonly string[],
  opts: { maxLength: number; batchSize?: number },
): Promise<T.Tensor> {
  return encodePacked(model, await tok.encodeBatch(texts, opts.maxLength), opts);
}

/** Embeddings [n, D] of already tokenized texts (a tokenizer's packed ids), as encodeTexts encodes them. */
export function encodePacked(model: DotModel, packed: { ids: Int32Array; lengths: Int32Array }, opts: { batchSize?: number } = {}): T.Tensor {
  const seqs: Int32Array[] = [];
  let off = 0;
  for (const n of packed.lengths) {
    seqs.push(packed.ids.subarray(off, off + n));
    off += n;
  }
  const flat = encodeIds(model, seqs, { batchSize: opts.batchSize ?? 64 });
  return T.tensor(flat, { shape: [packed.lengths.length, model.dim] });
}
