// Loading qrels and runs for the evaluate/compare commands, including offset runs mapped through a dataset directory.
import { DrhardInputError, DrhardUsageError } from '../util/errors.ts';
import { readQrels, readRun, type IdMapper, type Qrels, type ReadRunResult, type RunFormat } from '../data/trec.ts';

/** Offset ↔ id maps of one dataset split (see src/data/dataset.ts). */
export interface DatasetIds {
  queryIds: string[];
  docIds: string[];
  /** Qrels of the split with original ids. */
  qrels: () => Qrels;
  close: () => void;
}

/** Opens `dir` (written by `drhard preprocess`) for split `split`; the data layer is loaded only when asked for. */
export async function openDatasetIds(dir: string, split: string): Promise<DatasetIds> {
  const { openDataset } = await import('../data/dataset.ts');
  const ds = openDataset(dir);
  if (!ds.splits().includes(split)) {
    ds.close();
    throw new DrhardUsageError(`dataset has no split ${JSON.stringify(split)} (have: ${ds.splits().join(', ')})`);
  }
  const queryIds = ds.queryIds(split);
  const docIds = ds.docIds();
  return {
    queryIds,
    docIds,
    qrels: () => {
      const out: Qrels = new Map();
      for (const [q, m] of ds.qrels(split)) {
        const judged = new Map<string, number>();
        for (const [d, rel] of m) judged.set(docIds[d]!, rel);
        out.set(queryIds[q]!, judged);
      }
      return out;
    },
    close: () => ds.close(),
  };
}

const OFFSET = /^\d+$/;

/** Maps run offsets (DRhard's qoffset/doffset) to the dataset's ids; a bad offset names file:line. */
export function offsetMapper(ids: DatasetIds): IdMapper {
  const map = (table: string[], what: string) => (raw: string, where: { file: string; line: number }): string => {
    const off = OFFSET.test(raw) ? Number(raw) : -1;
    const id = off >= 0 ? table[off] : undefined;
    if (id === undefined) {
      throw new DrhardInputError(`${what} offset ${JSON.stringify(raw)} is not in [0, ${table.length})`, { ...where, field: what });
    }
    return id;
  };
  return { qid: map(ids.queryIds, 'qid'), docid: map(ids.docIds, 'docid') };
}

export interface LoadedInputs {
  qrels: Qrels;
  runs: Array<ReadRunResult & { file: string }>;
}

/**
 * Reads qrels (from `qrelsFile`, or from the dataset split when only a dataset is given) and every run. With a
 * dataset, run ids are offsets and are mapped to original ids.
 */
export async function loadInputs(o: {
  qrels?: string | undefined;
  runs: string[];
  runFormat: RunFormat | 'auto';
  dataset?: string | undefined;
  split?: string | undefined;
}): Promise<LoadedInputs> {
  if (o.dataset !== undefined && o.split === undefined) throw new DrhardUsageError('--data needs --split (the query set the run was made for)');
  if (o.dataset === undefined && o.split !== undefined) throw new DrhardUsageError('--split only applies with --data');
  if (o.dataset === undefined && o.qrels === undefined) throw new DrhardUsageError('give --qrels (or --data and --split to use the split\'s qrels)');
  const ids = o.dataset !== undefined ? await openDatasetIds(o.dataset, o.split!) : undefined;
  try {
    const qrels = o.qrels !== undefined ? readQrels(o.qrels) : ids!.qrels();
    const mapper = ids ? offsetMapper(ids) : undefined;
    const runs = o.runs.map((file) => ({ file, ...readRun(file, { format: o.runFormat, ...(mapper ? { ids: mapper } : {}) }) }));
    return { qrels, runs };
  } finally {
    ids?.close();
  }
}

/** Parses "--rel-threshold": a non-negative integer or 'any'. */
export function parseThreshold(raw: string): number | 'any' {
  const s = raw.trim().toLowerCase();
  if (s === 'any' || s === 'all') return 'any';
  if (/^\d+$/.test(s)) return Number(s);
  throw new DrhardUsageError(`--rel-threshold: expected an integer ≥ 0 or "any", got ${JSON.stringify(raw)}`);
}

/** Splits a comma/space separated metric list; empty entries dropped. */
export function splitMetricList(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  return raw
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
