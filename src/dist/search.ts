// Sharded exact search: each rank holds a contiguous row range of the document embeddings, searches it, and the
// ranks' top-k lists are merged into the run one process would produce (score descending, ties by lower offset).
// Identical because the exact engines score each (query, document) pair independently of the other documents
// (the bf16 screen only selects candidates; every survivor is rescored in float64 and rounded once).
import * as T from '../tensor/index.ts';
import { layoutOf, type EmbeddingsLayout } from '../retrieval/embeddings.ts';
import { DenseSearcher, type DenseSearcherOptions, type SearchHits } from '../retrieval/search.ts';
import { DrhardInputError } from '../util/errors.ts';
import { sliceRange, type Collective } from './ddp.ts';

export interface RankShard {
  searcher: DenseSearcher;
  /** Global offset of the shard's first row. */
  start: number;
  /** Rows in the whole file. */
  total: number;
}

/** This rank's rows [⌊rN/W⌋, ⌊(r+1)N/W⌋) of an embeddings file, in memory, as an exact searcher. */
export function openRankShard(
  file: string,
  pg: Pick<Collective, 'rank' | 'world'>,
  opts: DenseSearcherOptions & { layout?: Partial<EmbeddingsLayout> } = {},
): RankShard {
  const layout = layoutOf(file, opts.layout);
  const [start, end] = sliceRange(layout.count, pg.rank, pg.world);
  if (end <= start) throw new DrhardInputError(`${layout.count} documents cannot be split over ${pg.world} ranks`, { file });
  const bpv = layout.dtype === 'float16' ? 2 : 4;
  const rows = T.fromFile(file, start * layout.dim * bpv, [end - start, layout.dim], layout.dtype);
  const docs = rows.dtype === 'float32' ? rows : T.keep(rows.to('float32'));
  if (docs !== rows) rows.dispose();
  return { searcher: DenseSearcher.fromTensor(docs, opts), start, total: layout.count };
}

/**
 * Merges per-rank top-k lists (each best first, ids global) into the global top-k: score descending, ties by lower
 * offset; -1 ids (a shard with fewer than k rows) are ignored.
 */
export function mergeTopk(parts: Array<{ scores: Float32Array; ids: Int32Array }>, B: number, k: number): SearchHits {
  const scores = new Float32Array(B * k).fill(Number.NEGATIVE_INFINITY);
  const ids = new Int32Array(B * k).fill(-1);
  for (let b = 0; b < B; b++) {
    const cand: Array<[number, number]> = [];
    for (const p of parts) {
      const kk = p.ids.length / B;
      for (let j = 0; j < kk; j++) {
        const id = p.ids[b * kk + j] as number;
        if (id >= 0) cand.push([p.scores[b * kk + j] as number, id]);
      }
    }
    cand.sort((x, y) => (y[0] - x[0]) || (x[1] - y[1]));
    for (let j = 0; j < Math.min(k, cand.length); j++) {
      scores[b * k + j] = (cand[j] as [number, number])[0];
      ids[b * k + j] = (cand[j] as [number, number])[1];
    }
  }
  return { scores, ids, k } as SearchHits;
}

/** Every rank searches its shard for the same queries q [B, D]; every rank returns the merged global top-k. */
export function shardedSearch(pg: Collective, shard: RankShard, q: T.Tensor, k: number): SearchHits {
  const B = q.shape[0] as number;
  const kk = Math.min(k, shard.searcher.count);
  const local = shard.searcher.search(q, kk);
  const scores = new Float32Array(B * k).fill(Number.NEGATIVE_INFINITY);
  const ids = new Int32Array(B * k).fill(-1);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < local.k; j++) {
      const id = local.ids[b * local.k + j] as number;
      if (id < 0) continue;
      scores[b * k + j] = local.scores[b * local.k + j] as number;
      ids[b * k + j] = id + shard.start;
    }
  }
  const st = T.tensor(scores, { shape: [B, k], dtype: 'float32' });
  const it = T.tensor(ids, { shape: [B, k], dtype: 'int32' });
  const allS = pg.allGather(st);
  const allI = pg.allGather(it);
  st.dispose();
  it.dispose();
  const parts = allS.map((s, r) => ({ scores: s.toFloat32Array(), ids: (allI[r] as T.Tensor).toInt32Array() }));
  for (const x of [...allS, ...allI]) x.dispose();
  return mergeTopk(parts, B, k);
}

/** A searcher-shaped view of the sharded search (what `mine` needs): every rank calls search with the same queries. */
export type SearcherView = Pick<DenseSearcher, 'search' | 'count' | 'mode' | 'dim'>;

export function shardedSearcherView(pg: Collective, shard: RankShard): SearcherView {
  return {
    search: (q: T.Tensor, k: number) => shardedSearch(pg, shard, q, k),
    count: shard.total,
    mode: shard.searcher.mode,
    dim: shard.searcher.dim,
  };
}
