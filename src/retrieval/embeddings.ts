// Embeddings files: raw little-endian float32/float16 rows in offset order, described by a `<file>.json` manifest.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { z } from 'zod';
import * as T from '../tensor/index.ts';
import { DrhardInputError } from '../util/errors.ts';
import { assertNotPointer } from '../util/pointer.ts';
import { writeFileAtomic } from '../util/fsx.ts';
import { sha256FileSync } from '../util/hash.ts';
import { log } from '../util/log.ts';

export type EmbeddingDType = 'float32' | 'float16';
export const EMBEDDINGS_FORMAT = 'drhard-embeddings';

export const embeddingsManifestSchema = z.object({
  format: z.literal(EMBEDDINGS_FORMAT),
  version: z.literal(1),
  dim: z.number().int().positive(),
  count: z.number().int().nonnegative(),
  dtype: z.enum(['float32', 'float16']),
  /** sha256 of the data file's bytes. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().nonnegative(),
  /** What produced the vectors; absent for embeddings written by other tools. */
  model: z.object({ path: z.string(), checksum: z.string() }).optional(),
  dataset: z.object({ path: z.string(), checksum: z.string(), split: z.string() }).optional(),
  maxLength: z.number().int().positive().optional(),
  pooling: z.string().optional(),
  /** sha256 of evenly spaced sampled blocks (see sampleDigest): the fast check of files above FULL_CHECK_BYTES. */
  sample: z.object({ blocks: z.number().int().positive(), blockBytes: z.number().int().positive(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).optional(),
  /** The data file's mtime when the manifest was written; a different mtime sends the fast check to the full one. */
  mtimeMs: z.number().optional(),
});
export type EmbeddingsManifest = z.infer<typeof embeddingsManifestSchema>;

export const manifestPathFor = (file: string): string => `${file}.json`;
export const bytesPerValue = (dt: EmbeddingDType): number => (dt === 'float16' ? 2 : 4);

/** Reads and validates `<file>.json`, and checks the data file's size against it (sha256 is checked on demand). */
export function readEmbeddingsManifest(file: string): EmbeddingsManifest {
  const mp = manifestPathFor(file);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(mp, 'utf8'));
  } catch (e) {
    throw new DrhardInputError(`cannot read the embeddings manifest: ${(e as Error).message}`, { file: mp });
  }
  const r = embeddingsManifestSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new DrhardInputError(`invalid embeddings manifest: ${issue?.message ?? 'bad shape'}`, { file: mp, field: issue?.path.join('.') ?? '' });
  }
  const m = r.data;
  const expect = m.count * m.dim * bytesPerValue(m.dtype);
  if (m.bytes !== expect) throw new DrhardInputError(`bytes ${m.bytes} != count × dim × ${bytesPerValue(m.dtype)} = ${expect}`, { file: mp });
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    throw new DrhardInputError('embeddings data file is missing', { file });
  }
  if (size !== expect) {
    throw new DrhardInputError(`expected ${expect} bytes (${m.count} × ${m.dim} ${m.dtype}), found ${size}: truncated or not this manifest's file`, { file });
  }
  return m;
}

/** Writes `<file>.json` once the data file is in place; fills in the sampled digest and the data file's mtime. */
export function writeEmbeddingsManifest(file: string, m: EmbeddingsManifest): void {
  const full: EmbeddingsManifest = { ...m, sample: sampleDigest(file, m.bytes), mtimeMs: fs.statSync(file).mtimeMs };
  writeFileAtomic(manifestPathFor(file), `${JSON.stringify(full, null, 2)}\n`);
}

/**
 * Files up to this size get a full sha256 on every search; larger ones the sampled check unless --verify.
 * bench/embeddings-verify.ts (AMD EPYC, 2 shared cores at load 19): sha256 at 0.54 GB/s from the page cache, as
 * Python's hashlib (ratio 1.05); so a full check costs ≤ 2 s up to 1 GiB, but ~50 s (more from disk) for MS MARCO's
 * 27 GB of passage vectors on every search, against 8 ms for the 4 MiB of sampled blocks.
 */
export const FULL_CHECK_BYTES = 1 << 30;
const SAMPLE_BLOCKS = 256;
const SAMPLE_BLOCK_BYTES = 1 << 14;

/**
 * sha256 over the byte size and `blocks` blocks of `blockBytes` at evenly spaced offsets, first and last included
 * (4 MiB read by default, whatever the file's size). Catches truncation, a swapped or re-encoded file of the same
 * size (every row changes) and corruption that touches a sampled block; bit rot elsewhere needs the full check.
 */
export function sampleDigest(file: string, bytes: number, blocks = SAMPLE_BLOCKS, blockBytes = SAMPLE_BLOCK_BYTES): { blocks: number; blockBytes: number; sha256: string } {
  const h = createHash('sha256');
  h.update(`${bytes}\n`);
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(blockBytes);
    const span = Math.max(0, bytes - blockBytes);
    let last = -1;
    for (let i = 0; i < blocks; i++) {
      const off = blocks === 1 ? 0 : Math.floor((span * i) / (blocks - 1));
      if (off === last) continue;
      last = off;
      const want = Math.min(blockBytes, bytes - off);
      let got = 0;
      while (got < want) {
        const n = fs.readSync(fd, buf, got, want - got, off + got);
        if (n === 0) throw new DrhardInputError(`unexpected end of file at byte ${off + got}`, { file });
        got += n;
      }
      h.update(buf.subarray(0, want));
    }
  } finally {
    fs.closeSync(fd);
  }
  return { blocks, blockBytes, sha256: h.digest('hex') };
}

export type EmbeddingsCheck = 'full' | 'sampled' | 'unverified';

/**
 * Checks an embeddings file against its manifest before it is searched: size always; then a full sha256 for files up
 * to `fullCheckBytes`, with `full`, for manifests without a sampled digest (written before it existed) or when the
 * file's mtime moved since the manifest was written; else the sampled digest. A file without a manifest is searched
 * with a warning (nothing to check it against). Throws DrhardInputError naming the file on a mismatch.
 */
export function verifyEmbeddings(
  file: string,
  opts: { full?: boolean; fullCheckBytes?: number; warn?: (msg: string) => void } = {},
): EmbeddingsCheck {
  const warn = opts.warn ?? ((msg: string) => log.warn({ file }, msg));
  if (!fs.existsSync(manifestPathFor(file))) {
    warn(`${file}: no manifest ${manifestPathFor(file)}, so its contents cannot be verified (drhard encode writes one)`);
    return 'unverified';
  }
  const m = readEmbeddingsManifest(file);
  const moved = m.mtimeMs !== undefined && fs.statSync(file).mtimeMs !== m.mtimeMs;
  const fullCheck = opts.full === true || m.bytes <= (opts.fullCheckBytes ?? FULL_CHECK_BYTES) || m.sample === undefined || moved;
  if (fullCheck) {
    if (m.sample === undefined && m.bytes > (opts.fullCheckBytes ?? FULL_CHECK_BYTES) && opts.full !== true) {
      warn(`${file}: manifest has no sampled digest (written by an older drhard): checking the full sha256; re-encode to get the fast check`);
    } else if (moved && opts.full !== true && m.bytes > (opts.fullCheckBytes ?? FULL_CHECK_BYTES)) {
      warn(`${file}: modified (mtime) since its manifest was written: checking the full sha256`);
    }
    const sha = sha256FileSync(file).sha256;
    if (sha !== m.sha256) {
      throw new DrhardInputError(`sha256 ${sha.slice(0, 12)}… does not match its manifest (${m.sha256.slice(0, 12)}…): corrupt or replaced; re-encode it`, { file });
    }
    return 'full';
  }
  const s = sampleDigest(file, m.bytes, m.sample!.blocks, m.sample!.blockBytes);
  if (s.sha256 !== m.sample!.sha256) {
    throw new DrhardInputError(`sampled-block sha256 does not match its manifest: corrupt or replaced (--verify checks the full file); re-encode it`, { file });
  }
  return 'sampled';
}

/** Layout of an embeddings file: from its manifest, or given explicitly for bare files. */
export interface EmbeddingsLayout {
  dim: number;
  count: number;
  dtype: EmbeddingDType;
}

export function layoutOf(file: string, given?: Partial<EmbeddingsLayout>): EmbeddingsLayout {
  assertNotPointer(file);
  if (fs.existsSync(manifestPathFor(file))) {
    const m = readEmbeddingsManifest(file);
    if (given?.dim !== undefined && given.dim !== m.dim) throw new DrhardInputError(`dim ${given.dim} requested, manifest says ${m.dim}`, { file });
    return { dim: m.dim, count: m.count, dtype: m.dtype };
  }
  if (given?.dim === undefined) throw new DrhardInputError(`no manifest ${manifestPathFor(file)}; pass the dimension for a bare file`, { file });
  const dtype = given.dtype ?? 'float32';
  const size = fs.statSync(file).size;
  const row = given.dim * bytesPerValue(dtype);
  if (size % row !== 0) throw new DrhardInputError(`size ${size} is not a multiple of the row size ${row}`, { file });
  return { dim: given.dim, count: size / row, dtype };
}

/** Rows [start, start+n) of an embeddings file as a float32 tensor [n, D] (float16 files are widened). */
export function readRows(file: string, layout: EmbeddingsLayout, start: number, n: number): T.Tensor {
  const t = T.fromFile(file, start * layout.dim * bytesPerValue(layout.dtype), [n, layout.dim], layout.dtype);
  if (layout.dtype === 'float32') return t;
  const f = t.to('float32');
  t.dispose();
  return f;
}

/**
 * Rows [start, start + target.size(0)) of an embeddings file into `target` (a contiguous float32 [n, D] tensor,
 * reused across calls). float16 files go through `staging` (float16, at least n rows) when given.
 */
export function readRowsInto(file: string, layout: EmbeddingsLayout, start: number, target: T.Tensor, staging?: T.Tensor): void {
  const n = target.size(0);
  const offset = start * layout.dim * bytesPerValue(layout.dtype);
  if (layout.dtype === 'float32') {
    T.readFileInto(file, offset, target);
    return;
  }
  T.tidy(() => {
    const half = staging !== undefined ? staging.narrow(0, 0, n) : T.empty([n, layout.dim], { dtype: 'float16' });
    T.readFileInto(file, offset, half);
    target.copy_(half);
  });
}

/** Offsets (plus `base`) of the rows of `x` [N, D] holding NaN or ±Inf. */
export function nonFiniteRows(x: T.Tensor, base = 0): number[] {
  // A finite sum means every value is finite (NaN and ±Inf propagate), at the memory cost of a reduction; only a
  // non-finite sum (or an overflow of huge values) pays for the row-by-row mask.
  if (Number.isFinite(T.tidy(() => x.sum().item()))) return [];
  const bad = T.tidy(() => x.isFinite().logicalNot().any(1).toInt32Array());
  const rows: number[] = [];
  bad.forEach((v, i) => {
    if (v !== 0) rows.push(i + base);
  });
  return rows;
}

export function nonFiniteError(rows: number[], what: string): DrhardInputError {
  return new DrhardInputError(`${rows.length} row(s) hold NaN or Inf; first: ${rows.slice(0, 8).join(', ')}`, { field: what });
}

/**
 * Throws DrhardInputError if `x` [N, D] holds NaN or ±Inf, naming how many rows are bad and the first few
 * (offset by `base`). faiss and topk would otherwise rank garbage silently.
 */
export function assertFinite(x: T.Tensor, what: string, base = 0): void {
  const rows = nonFiniteRows(x, base);
  if (rows.length > 0) throw nonFiniteError(rows, what);
}

/** The same check over a whole embeddings file, at most `blockRows` rows (and 8 MiB) in memory at a time. */
export function assertFileFinite(file: string, layout: EmbeddingsLayout, blockRows: number): void {
  blockRows = Math.max(1, Math.min(blockRows, layout.count, Math.floor((8 << 20) / (layout.dim * 4))));
  const bad: number[] = [];
  // One block buffer for the whole file: a fresh one per block left ~40 MB of freed blocks behind in the
  // allocator, on top of which sharded search then built its own buffers.
  const buf = T.keep(T.empty([blockRows, layout.dim]));
  const staging = layout.dtype === 'float16' ? T.keep(T.empty([blockRows, layout.dim], { dtype: 'float16' })) : undefined;
  try {
    for (let s = 0; s < layout.count; s += blockRows) {
      const n = Math.min(blockRows, layout.count - s);
      T.tidy(() => {
        const x = n === blockRows ? buf : buf.narrow(0, 0, n);
        readRowsInto(file, layout, s, x, staging);
        bad.push(...nonFiniteRows(x, s));
      });
    }
  } finally {
    buf.dispose();
    staging?.dispose();
  }
  if (bad.length > 0) throw nonFiniteError(bad, `${file}: document embeddings`);
}
