// Seeds for randomized tests: fixed by default so a run is reproducible, overridable with DRHARD_TEST_SEED to explore,
// and printed in every assertion message that depends on them (`seed=… (DRHARD_TEST_SEED=… to replay)`).
import { Rng } from '../../src/util/rng.ts';

/** DRHARD_TEST_SEED when set (an integer), else `fallback`. */
export function testSeed(fallback: number): number {
  const env = process.env['DRHARD_TEST_SEED'];
  if (env === undefined || env === '') return fallback;
  const n = Number(env);
  if (!Number.isSafeInteger(n)) throw new Error(`DRHARD_TEST_SEED must be an integer, got ${JSON.stringify(env)}`);
  return n;
}

/** A seeded Rng plus the text to put in assertion messages. */
export function seededRng(fallback: number): { rng: Rng; seed: number; tag: string } {
  const seed = testSeed(fallback);
  return { rng: new Rng(seed), seed, tag: `seed=${seed} (DRHARD_TEST_SEED=${seed} to replay)` };
}

/** fast-check parameters with a fixed seed; on failure fast-check reports `{ seed: …, path: … }` to replay it. */
export function fcParams<T extends Record<string, unknown>>(fallback: number, extra: T = {} as T): T & { seed: number } {
  return { ...extra, seed: testSeed(fallback) };
}
