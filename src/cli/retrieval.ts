// Shared plumbing for the encode/search/mine/bm25 commands: size and faiss-parameter flags, checksums, id mapping,
// and the dataset-derived defaults they have in common.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import type { Dataset } from '../data/dataset.ts';
import type { FromFileOptions } from '../retrieval/search.ts';
import { DrhardInputError, DrhardUsageError } from '../util/errors.ts';
import { sha256, sha256File } from '../util/hash.ts';

/** '512M', '2G', '1.5GiB', '1000000' → bytes. */
export function parseSize(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(s);
  if (m === null) throw new DrhardUsageError(`cannot read ${JSON.stringify(s)} as a size (e.g. 512M, 2G)`);
  const unit = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[(m[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.floor(Number(m[1]) * unit);
}

export const sizeSchema = z.string().transform((s, ctx) => {
  try {
    return parseSize(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});

/** `name=value` pairs (faiss runtime parameters) → record. */
export const paramsSchema = z.array(z.string()).transform((list, ctx) => {
  const out: Record<string, number> = {};
  for (const p of list) {
    const m = /^([A-Za-z_][\w.]*)=(-?\d+(?:\.\d+)?)$/.exec(p);
    if (m === null) {
      ctx.addIssue({ code: 'custom', message: `expected name=number, got ${JSON.stringify(p)}` });
      return z.NEVER;
    }
    out[m[1] as string] = Number(m[2]);
  }
  return out;
});

/** `--exact`: the exact engine of a flat search (search, mine). */
export const exactSchema = z
  .enum(['auto', 'bf16', 'fp32', 'int8', 'torch', 'faiss'])
  .default('auto')
  .describe(
    'exact engine for --index flat: bf16 (bfloat16 screen + exact rescoring), fp32 (float32 sgemm screen + exact rescoring), ' +
      'int8 (int8 screen + exact rescoring; CPUs with AVX2, fastest with AVX512-VNNI or AVX-VNNI), ' +
      'torch (float32 GEMM + topk), faiss (IndexFlatIP); auto (default): the fastest in a one-time calibration of this machine, ' +
      'cached in $XDG_CACHE_HOME/drhard/engine-calibration.json (fp32 instead of faiss when sharded)',
  );

/** DenseSearcher.fromFile options from the shared --index/--param/--exact/--max-memory flags. */
export function searcherOptions(o: { index: string; param?: Record<string, number> | undefined; exact: z.infer<typeof exactSchema>; maxMemory?: number | undefined; verify?: boolean | undefined }): FromFileOptions {
  return {
    ...(o.verify === true ? { verify: true } : {}),
    index: o.index,
    params: o.param ?? {},
    ...(o.exact !== 'auto' ? { engine: o.exact } : {}),
    ...(o.maxMemory !== undefined ? { maxMemoryBytes: o.maxMemory } : {}),
  };
}

/** Identity of a dataset: sha256 of its manifest (which holds the source files' sha256s and the tokenizer). */
export function datasetChecksum(ds: Dataset): string {
  return sha256(fs.readFileSync(path.join(ds.dir, 'manifest.json')));
}

/** Identity of a model directory: sha256 over config.json and the weights file's sha256. */
export async function modelDirChecksum(dir: string, weights: string): Promise<string> {
  const cfg = fs.readFileSync(path.join(dir, 'config.json'));
  const w = await sha256File(weights);
  return sha256(`${sha256(cfg)}\n${w.sha256}\n`);
}

/**
 * Query and doc id writers for run files: offsets as they are, or the dataset's original ids (loaded on first use).
 * Without a split only doc ids can be mapped.
 */
export function idWriters(ids: 'offsets' | 'original', ds: Dataset | undefined, split: string | undefined): { qid?: (q: number) => string; docid?: (d: number) => string } {
  if (ids === 'offsets') return {};
  if (ds === undefined) throw new DrhardUsageError('--ids original needs --data (or use --ids offsets)');
  let q: string[] | undefined;
  let d: string[] | undefined;
  return {
    ...(split !== undefined
      ? {
          qid: (o: number): string => {
            q ??= ds.queryIds(split);
            const v = q[o];
            if (v === undefined) throw new DrhardInputError(`query offset ${o} is not in split ${split} (${q.length} queries)`);
            return v;
          },
        }
      : {}),
    docid: (o: number): string => {
      d ??= ds.docIds();
      const v = d[o];
      if (v === undefined) throw new DrhardInputError(`doc offset ${o} is not in the corpus (${d.length} documents)`);
      return v;
    },
  };
}

/** The token store of `split` ('corpus' = the documents). */
export function storeOf(ds: Dataset, split: string): Dataset['corpus'] {
  return split === 'corpus' ? ds.corpus : ds.queries(split);
}
