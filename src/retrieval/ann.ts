// faiss indexes on disk: build from an embeddings file, write with a sidecar manifest (sha256 of index and
// embeddings, ntotal, dim, metric, factory), and verify all of it before and after faiss reads the file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import * as T from '../tensor/index.ts';
import { DrhardFsError, DrhardInputError, fsError } from '../util/errors.ts';
import { AtomicWriter, fsyncPath, tempPathFor } from '../util/fsx.ts';
import { sha256FileSync } from '../util/hash.ts';
import { assertFileFinite, layoutOf, readEmbeddingsManifest, manifestPathFor as embManifestPath, readRows, verifyEmbeddings } from './embeddings.ts';
import { DenseSearcher, FAISS_TRAIN_ROWS } from './search.ts';

export const INDEX_FORMAT = 'drhard-faiss-index';

export const indexManifestSchema = z.object({
  format: z.literal(INDEX_FORMAT),
  version: z.literal(1),
  factory: z.string(),
  metric: z.enum(['ip', 'l2']),
  dim: z.number().int().positive(),
  ntotal: z.number().int().nonnegative(),
  /** The index file's own checksum and size: faiss has none, and reads truncated files as garbage or aborts. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().nonnegative(),
  /** The embeddings the index was built from (row i = doc offset i). */
  embeddings: z.object({ path: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/), count: z.number().int().nonnegative(), dim: z.number().int().positive() }),
  params: z.record(z.string(), z.number()).default({}),
  buildSeconds: z.number().nonnegative().optional(),
});
export type IndexManifest = z.infer<typeof indexManifestSchema>;

export const indexManifestPath = (file: string): string => `${file}.json`;

/** sha256 of an embeddings file: from its manifest once the file is checked against it, else by reading the file. */
export function embeddingsSha256(file: string): string {
  if (fs.existsSync(embManifestPath(file))) {
    verifyEmbeddings(file);
    return readEmbeddingsManifest(file).sha256;
  }
  return sha256FileSync(file).sha256;
}

export interface BuildIndexOptions {
  /** faiss index_factory string, e.g. 'HNSW32', 'IVF4096,PQ64', 'Flat'. */
  factory: string;
  /** Runtime parameters stored with the index and applied on load (nprobe, efSearch …). */
  params?: Record<string, number>;
  /** dim for a bare embeddings file. */
  dim?: number;
}

/**
 * Builds a faiss inner-product index over an embeddings file and writes it to `out` (+ `out.json`). Non-finite rows
 * are refused before anything reaches faiss. The written file is re-read and checked (ntotal, dim, same top-k on
 * probe rows) before the manifest is published, so a manifest always describes a loadable index.
 */
export function buildIndex(embeddings: string, out: string, opts: BuildIndexOptions): IndexManifest {
  const t0 = performance.now();
  const layout = layoutOf(embeddings, opts.dim === undefined ? undefined : { dim: opts.dim });
  const { count: N, dim: D } = layout;
  const embSha = embeddingsSha256(embeddings);
  const ix = T.FaissIndex.create(D, opts.factory, 'ip');
  try {
    const block = 65536;
    // Check every block before the first add: a refused file must leave no index behind.
    assertFileFinite(embeddings, layout, block);
    if (!ix.isTrained) {
      const x = readRows(embeddings, layout, 0, Math.min(N, FAISS_TRAIN_ROWS));
      try {
        ix.train(x);
      } finally {
        x.dispose();
      }
    }
    for (let s = 0; s < N; s += block) {
      const x = readRows(embeddings, layout, s, Math.min(block, N - s));
      try {
        ix.add(x);
      } finally {
        x.dispose();
      }
    }
    const params = opts.params ?? {};
    for (const [k, v] of Object.entries(params)) ix.setParam(k, v);
    // faiss writes with fwrite/fclose and only prints a failed fclose: write beside the target, check the temp file
    // (non-empty, read back by faiss with the same ntotal/dim and top-k), and only then replace the old index, so a
    // save that fails on a full disk leaves the previous index and its manifest as they were.
    const tmp = tempPathFor(out);
    let manifest: IndexManifest;
    let mw: AtomicWriter | undefined;
    try {
      try {
        ix.write(tmp);
      } catch (e) {
        throw fsError('write faiss index', out, e);
      }
      const size = fs.statSync(tmp, { throwIfNoEntry: false })?.size ?? 0;
      if (size === 0) throw new DrhardFsError('write faiss index', out, 'faiss wrote an empty file (disk full?)');
      verifyRoundTrip(ix, tmp, embeddings, layout, params, out);
      fsyncPath(tmp);
      const { sha256, size: bytes } = sha256FileSync(tmp);
      if (bytes !== size) throw new DrhardFsError('verify faiss index', out, `the file changed size while being checked (${size} → ${bytes} bytes)`);
      manifest = {
        format: INDEX_FORMAT,
        version: 1,
        factory: opts.factory,
        metric: 'ip',
        dim: D,
        ntotal: ix.ntotal,
        sha256,
        bytes,
        embeddings: { path: embeddings, sha256: embSha, count: N, dim: D },
        params,
        buildSeconds: (performance.now() - t0) / 1000,
      };
      // The manifest's bytes go to disk before the old index is replaced, so a disk too full for them fails here.
      mw = new AtomicWriter(indexManifestPath(out));
      mw.write(`${JSON.stringify(manifest, null, 2)}\n`);
      try {
        fs.renameSync(tmp, out);
      } catch (e) {
        throw fsError('rename', out, e);
      }
    } catch (e) {
      mw?.abort();
      fs.rmSync(tmp, { force: true });
      throw e;
    }
    // Index first, then its manifest: a crash in between leaves an index whose sha256 its (old) manifest refuses.
    mw.commit();
    return manifest;
  } catch (e) {
    if (e instanceof DrhardInputError) throw e;
    throw new DrhardInputError(`building faiss index '${opts.factory}': ${(e as Error).message}`, { file: out });
  } finally {
    ix.dispose();
  }
}

/** Same top-k from the written file as from the index in memory, on up to 20 stored rows as probe queries. */
function verifyRoundTrip(ix: T.FaissIndex, file: string, embeddings: string, layout: ReturnType<typeof layoutOf>, params: Record<string, number>, target = file): void {
  let back: T.FaissIndex;
  try {
    back = T.FaissIndex.read(file);
  } catch (e) {
    let room = '';
    try {
      const st = fs.statfsSync(path.dirname(path.resolve(file)));
      room = ` (${Math.floor((st.bavail * st.bsize) / 1024)} KiB left on the disk)`;
    } catch {
      /* statfs unsupported */
    }
    throw new DrhardFsError('verify faiss index', target, `the written file does not read back${room}: ${(e as Error).message}`);
  }
  if (ix.ntotal === 0) {
    const ok = back.ntotal === 0 && back.dim === ix.dim;
    back.dispose();
    if (!ok) throw new DrhardFsError('verify faiss index', target, 'the index read back differs from the one written');
    return;
  }
  try {
    for (const [k, v] of Object.entries(params)) back.setParam(k, v);
    const probe = readRows(embeddings, layout, 0, Math.min(20, layout.count));
    try {
      const a = ix.search(probe, 5);
      const b = back.search(probe, 5);
      if (back.ntotal !== ix.ntotal || back.dim !== ix.dim || a.ids.some((v, i) => v !== b.ids[i])) {
        throw new DrhardFsError('verify faiss index', target, 'the index read back differs from the one written');
      }
    } finally {
      probe.dispose();
    }
  } finally {
    back.dispose();
  }
}

export interface LoadIndexOptions {
  /** The embeddings the caller pairs with the index: their sha256 must be the one recorded at build time. */
  embeddings?: string;
  /** Memory-map instead of reading (read-only). */
  mmap?: boolean;
  /** Override the stored runtime parameters. */
  params?: Record<string, number>;
}

/**
 * Reads an index written by buildIndex after checking its manifest: file size and sha256 (a truncated or swapped
 * file is refused before faiss sees it), then ntotal/dim/metric as faiss reports them, and optionally that the
 * paired embeddings are the ones it was built from.
 */
export function loadIndex(file: string, opts: LoadIndexOptions = {}): { index: T.FaissIndex; manifest: IndexManifest } {
  const mp = indexManifestPath(file);
  if (!fs.existsSync(file)) throw new DrhardInputError('index file not found', { file });
  if (!fs.existsSync(mp)) throw new DrhardInputError(`no index manifest ${mp}; rebuild the index with drhard search --save-index`, { file });
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(mp, 'utf8'));
  } catch (e) {
    throw new DrhardInputError(`unreadable index manifest: ${(e as Error).message}`, { file: mp });
  }
  const r = indexManifestSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new DrhardInputError(`invalid index manifest: ${issue?.message ?? 'bad shape'}`, { file: mp, field: issue?.path.join('.') ?? '' });
  }
  const m = r.data;
  const size = fs.statSync(file).size;
  if (size !== m.bytes) throw new DrhardInputError(`index file has ${size} bytes, its manifest says ${m.bytes}: truncated or replaced`, { file });
  const sha = sha256FileSync(file).sha256;
  if (sha !== m.sha256) throw new DrhardInputError(`index file sha256 ${sha.slice(0, 12)}… does not match its manifest (${m.sha256.slice(0, 12)}…): corrupt or replaced`, { file });
  if (opts.embeddings !== undefined) {
    const e = embeddingsSha256(opts.embeddings);
    if (e !== m.embeddings.sha256) {
      throw new DrhardInputError(`index was built from embeddings with sha256 ${m.embeddings.sha256.slice(0, 12)}…, but ${opts.embeddings} has ${e.slice(0, 12)}…`, { file });
    }
  }
  let index: T.FaissIndex;
  try {
    index = T.FaissIndex.read(file, { mmap: opts.mmap ?? false });
  } catch (e) {
    throw new DrhardInputError((e as Error).message, { file });
  }
  const got = { ntotal: index.ntotal, dim: index.dim, metric: index.metric };
  if (got.ntotal !== m.ntotal || got.dim !== m.dim || got.metric !== m.metric) {
    index.dispose();
    throw new DrhardInputError(`faiss reports ntotal ${got.ntotal}, dim ${got.dim}, metric ${got.metric}; the manifest says ${m.ntotal}, ${m.dim}, ${m.metric}`, { file });
  }
  for (const [k, v] of Object.entries({ ...m.params, ...(opts.params ?? {}) })) index.setParam(k, v);
  return { index, manifest: m };
}

/** A DenseSearcher over a saved index; docVectors() reads rows from `embeddings` when given. */
export function searcherFromIndex(file: string, opts: LoadIndexOptions = {}): DenseSearcher {
  const { index } = loadIndex(file, opts);
  return DenseSearcher.fromFaiss(index, opts.embeddings === undefined ? undefined : { file: opts.embeddings });
}
