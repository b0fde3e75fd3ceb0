// Glue between a ProcessGroup and the sharded commands (encode, search): rank events through the store, and the
// process group a command gets from torchrun's environment.
import type { EncodeShard } from '../retrieval/encode.ts';
import { ProcessGroup } from './group.ts';

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
 * on success and without waiting for peers on failure (a stuck peer must not hang this process's exit).
 */
export async function withProcessGroup<T>(fn: (pg: ProcessGroup | null) => Promise<T>): Promise<T> {
  const pg = ProcessGroup.fromEnv();
  try {
    const r = await fn(pg);
    pg?.destroy();
    return r;
  } catch (e) {
    pg?.destroy({ destroy: false });
    throw e;
  }
}
