// Dev evaluation during distributed training, once per evaluation: rank 0 encodes the dev queries and scores the
// run; the other ranks wait on the store (no collective deadline: evaluation may take minutes) and, when the
// documents are a fixed sharded index (ADORE), join the sharded search of rank 0's query embeddings.
import { zeros } from '../tensor/index.ts';
import type { DotModel } from '../models/dual.ts';
import type { SearchHits } from '../retrieval/search.ts';
import { DEV_DEPTH, type DevEvaluator } from '../train/deveval.ts';
import type { Collective } from './ddp.ts';

/** A search every rank must join (the sharded fixed index), or null for STAR-style evaluation (rank 0 alone). */
export type CollectiveSearch = ((q: import('../tensor/index.ts').Tensor, k: number) => SearchHits) | null;

/**
 * Runs `devEval` for `step`: rank 0 returns the metrics, every other rank null (so only rank 0 logs and writes
 * them). A failure on rank 0 ends its heartbeat, which ends the others' wait with its rank named.
 */
export function distributedDevEval(pg: Collective, devEval: DevEvaluator, model: DotModel, step: number, search: CollectiveSearch): Record<string, number> | null {
  const key = `deveval/${step}`;
  if (pg.rank === 0) {
    if (search === null) {
      const m = devEval.run(model);
      pg.storeSet(key, 'done');
      return m;
    }
    let joined = false;
    const m = devEval.run(model, {
      search: (q, k) => {
        // The others wait until the queries are encoded, then take them and search their shards.
        pg.storeSet(key, 'search');
        joined = true;
        pg.broadcast(q, 0);
        return search(q, k);
      },
    });
    if (!joined) pg.storeSet(key, 'done');
    return m;
  }
  if (pg.waitFor(key) !== 'search' || search === null) return null;
  const q = zeros([devEval.size, model.dim]);
  try {
    pg.broadcast(q, 0);
    search(q, DEV_DEPTH);
  } finally {
    q.dispose();
  }
  return null;
}
