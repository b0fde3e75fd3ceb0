// Glue between a ProcessGroup and the sharded commands (encode, search): rank events through the store, and the
// process group a command gets from torchrun's environment.
import type { EncodeShard } from '../retrieval/encode.ts';
import type { ProcessGroup } from './group.ts';
import { runDistributed } from './run.ts';

/** Store-backed one-shot events for a sharded encode. */
export function encodeShard(pg: ProcessGroup): EncodeShard {
  return {
    rank: pg.rank,
    world: pg.world,
    signal: (name) => pg.storeSet(name, '1'),
    waitFor: (name) => void pg.waitFor(name),
  };
}

/**
 * Runs `fn` with the environment's process group (null when not launched distributed), leaving the group cleanly
 * on success and without waiting for peers on failure: src/dist/run.ts's runDistributed, for callers that need only
 * the group.
 */
export async function withProcessGroup<T>(fn: (pg: ProcessGroup | null) => Promise<T>): Promise<T> {
  return await runDistributed(({ pg }) => fn(pg));
}
