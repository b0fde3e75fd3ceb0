// Distributed ADORE: each rank holds a contiguous row range of the fixed document embeddings (as sharded `search`),
// the ranks' query slices are gathered, every rank searches its shard for the whole batch, and the per-shard top-k
// lists are merged by src/dist/search.ts (ties by lower offset): the retrieval of one process with the whole index.
import * as path from 'node:path';
import * as T from '../tensor/index.ts';
import { embeddingsSha256 } from '../retrieval/ann.ts';
import { layoutOf } from '../retrieval/embeddings.ts';
import { defaultEngine, type ExactEngine, type SearchHits } from '../retrieval/search.ts';
import type { AdoreRetrieval, DocEmbeddingsIdentity } from '../train/adore.ts';
import { DrhardInputError } from '../util/errors.ts';
import { sliceRange, type Collective } from './ddp.ts';
import { openRankShard, shardedSearch, type RankShard } from './search.ts';

/** ADORE's fixed side on one rank: its shard, the whole file's identity, and the collective retrieval over it. */
export interface ShardedAdoreIndex {
  shard: RankShard;
  identity: DocEmbeddingsIdentity;
  retrieval: AdoreRetrieval;
  /** Exact search of all shards (every rank calls it with the same queries): dev evaluation's fixed index. */
  search(q: T.Tensor, k: number): SearchHits;
  dispose(): void;
}

/**
 * Opens this rank's rows [⌊rN/W⌋, ⌊(r+1)N/W⌋) of `file`. Exact search only (`index` Flat): an approximate faiss
 * index is one structure over all rows and cannot be split into shards that merge into its answers.
 */
export function openShardedAdoreIndex(file: string, pg: Collective, opts: { dim: number; count: number; index: string }): ShardedAdoreIndex {
  if (opts.index !== 'Flat' && opts.index !== 'flat') {
    throw new DrhardInputError(`distributed ADORE searches the sharded embeddings exactly (--index Flat); ${opts.index} is one index over every row: train in one process`, {
      field: 'index',
    });
  }
  const layout = layoutOf(file, { dim: opts.dim });
  if (layout.dim !== opts.dim || layout.count !== opts.count) {
    throw new DrhardInputError(`holds ${layout.count} × ${layout.dim} vectors; the model and corpus need ${opts.count} × ${opts.dim}`, { file });
  }
  const sha256 = embeddingsSha256(file);
  const shard = openRankShard(file, pg, { layout: { dim: opts.dim }, engine: agreedEngine(pg, layout.count, layout.dim) });
  const search = (q: T.Tensor, k: number): SearchHits => shardedSearch(pg, shard, q, k);
  return {
    shard,
    identity: { file: path.resolve(file), sha256, count: opts.count, dim: opts.dim },
    retrieval: {
      world: pg.world,
      slice: (B) => sliceRange(B, pg.rank, pg.world),
      gather: (local) => gatherRows(pg, local),
      search,
      docVectors: (ids) => shardedDocVectors(pg, shard, ids),
    },
    search,
    dispose: () => shard.searcher.dispose(),
  };
}

/**
 * The exact engine every rank uses: the one one process would calibrate for the whole file (fromFile), chosen by
 * rank 0 alone (ranks calibrating side by side on shared cores could choose differently) and passed through the
 * store, which has no deadline for a slow calibration. bf16 and fp32 return the same correctly rounded scores, so
 * shards merge into exactly one process's lists; torch and faiss (scores differing in the last bits with the GEMM's
 * blocking) become fp32.
 */
function agreedEngine(pg: Collective, N: number, D: number): ExactEngine {
  const key = `adore/engine/${N}x${D}`;
  if (pg.rank === 0) {
    const e = defaultEngine(N, D);
    const engine: ExactEngine = e === 'bf16' ? 'bf16' : 'fp32';
    pg.storeSet(key, engine);
    return engine;
  }
  const got = pg.waitFor(key);
  if (got !== 'bf16' && got !== 'fp32') throw new Error(`rank 0 chose an unknown search engine ${JSON.stringify(got)}`);
  return got;
}

/** Every rank's rows in rank order (no gradient): the global batch's query embeddings. */
function gatherRows(pg: Collective, local: T.Tensor): T.Tensor {
  const parts = pg.allGather(local);
  const out = T.cat(parts, 0);
  for (const p of parts) p.dispose();
  return out;
}

/**
 * Stored vectors [n, D] of global offsets `ids` (every rank passes the same ids): each rank reads the distinct ids
 * of its row range, one all-gather puts them in ascending order (rank r's range precedes rank r+1's), and each
 * id's row is picked from there. The rows are the file's, so the vectors equal one process's docVectors.
 */
export function shardedDocVectors(pg: Collective, shard: RankShard, ids: Int32Array): T.Tensor {
  const D = shard.searcher.dim;
  const lo = shard.start;
  const hi = lo + shard.searcher.count;
  const uniq = Int32Array.from(new Set(ids)).sort();
  for (const id of [uniq[0], uniq.at(-1)]) {
    if (id !== undefined && (id < 0 || id >= shard.total)) throw new RangeError(`doc offset ${id} out of range [0, ${shard.total})`);
  }
  const mine = uniq.filter((id) => id >= lo && id < hi).map((id) => id - lo);
  return T.tidy(() => {
    const local = mine.length > 0 ? shard.searcher.docVectors(mine) : T.zeros([0, D]);
    const all = gatherRows(pg, local); // [|uniq|, D]
    if ((all.shape[0] as number) !== uniq.length) throw new Error(`sharded doc vectors: gathered ${all.shape[0]} rows for ${uniq.length} ids`);
    const at = new Map<number, number>();
    uniq.forEach((id, i) => at.set(id, i));
    const pick = BigInt64Array.from(ids, (id) => BigInt(at.get(id) as number));
    return all.indexSelect(0, T.tensor(pick, { shape: [ids.length] }));
  });
}
