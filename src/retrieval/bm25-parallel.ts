// BM25 search on worker threads: the index's arrays are SharedArrayBuffers (src/retrieval/bm25.ts), so each worker
// searches a contiguous slice of the queries against the same memory with its own accumulator (12 bytes per
// document). One query's work is the sync path's code, so the hits are the same to the bit.
import * as os from 'node:os';
import type { TokenStore } from '../data/tokenstore.ts';
import { DrhardInputError } from '../util/errors.ts';
import { startTsWorker } from '../util/worker.ts';
import type { Bm25Hits, Bm25Index } from './bm25.ts';

/** Below this many queries per thread a worker's start (tsx bootstrap, ~0.3 s) costs more than it saves. */
const MIN_QUERIES_PER_THREAD = 64;

export async function searchParallel(
  index: Bm25Index,
  queries: TokenStore,
  k: number,
  opts: { rows?: ArrayLike<number>; threads?: number; onProgress?: (done: number) => void } = {},
): Promise<Bm25Hits> {
  if (!Number.isInteger(k) || k < 1) throw new DrhardInputError(`k must be a positive integer, got ${k}`);
  const rows = opts.rows ?? Int32Array.from({ length: queries.count }, (_, i) => i);
  const B = rows.length;
  const threads = Math.max(1, Math.min(opts.threads ?? os.availableParallelism(), Math.floor(B / MIN_QUERIES_PER_THREAD)));
  if (threads <= 1) return index.searchBatch(queries, k, opts);
  const out: Bm25Hits = { scores: new Float64Array(B * k), ids: new Int32Array(B * k), k };
  const done = new Array<number>(threads).fill(0);
  const report = (): void => opts.onProgress?.(done.reduce((a, c) => a + c, 0));
  const slices = Array.from({ length: threads }, (_, w) => [Math.floor((w * B) / threads), Math.floor(((w + 1) * B) / threads)] as const);
  const workers = slices.map(([b0, b1]) => {
    // The slice's query tokens, packed: a TokenStore cannot cross threads.
    const offsets = new Float64Array(b1 - b0 + 1);
    const parts: ArrayLike<number>[] = [];
    for (let b = b0; b < b1; b++) {
      const t = queries.get(rows[b] as number);
      parts.push(t);
      offsets[b - b0 + 1] = (offsets[b - b0] as number) + t.length;
    }
    const tokens = new Int32Array(offsets[b1 - b0] as number);
    parts.forEach((t, i) => tokens.set(t, offsets[i] as number));
    return startTsWorker(new URL('./bm25-worker.ts', import.meta.url).href, { parts: index.parts(), tokens, offsets, k });
  });
  try {
    await Promise.all(
      workers.map(
        (worker, w) =>
          new Promise<void>((resolve, reject) => {
            const b0 = slices[w]?.[0] as number;
            worker.on('message', (m: { type: 'progress'; done: number } | { type: 'done'; ids: Int32Array; scores: Float64Array } | { type: 'error'; message: string; name: string }) => {
              if (m.type === 'progress') {
                done[w] = m.done;
                report();
              } else if (m.type === 'done') {
                out.ids.set(m.ids, b0 * k);
                out.scores.set(m.scores, b0 * k);
                done[w] = (slices[w]?.[1] as number) - b0;
                report();
                resolve();
              } else reject(m.name === 'DrhardInputError' ? new DrhardInputError(m.message) : new Error(`BM25 search worker: ${m.message}`));
            });
            worker.on('error', reject);
            worker.on('exit', (code) => reject(new Error(`BM25 search worker exited with code ${code} before finishing`)));
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return out;
}
