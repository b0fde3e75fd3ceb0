// A BM25 search worker (src/retrieval/bm25-parallel.ts): searches its slice of the queries against the shared index.
import { parentPort, workerData } from 'node:worker_threads';
import { Bm25Index, type Bm25Parts } from './bm25.ts';

const { parts, tokens, offsets, k } = workerData as { parts: Bm25Parts; tokens: Int32Array; offsets: Float64Array; k: number };
const port = parentPort;
if (port === null) throw new Error('bm25-worker.ts must run in a worker thread');
try {
  const index = Bm25Index.fromParts(parts);
  const B = offsets.length - 1;
  const ids = new Int32Array(B * k);
  const scores = new Float64Array(B * k);
  for (let b = 0; b < B; b++) {
    const r = index.search(tokens.subarray(offsets[b] as number, offsets[b + 1] as number), k);
    ids.set(r.ids, b * k);
    scores.set(r.scores, b * k);
    if ((b & 255) === 255) port.postMessage({ type: 'progress', done: b + 1 });
  }
  port.postMessage({ type: 'done', ids, scores }, [ids.buffer, scores.buffer]);
} catch (e) {
  port.postMessage({ type: 'error', message: (e as Error).message, name: (e as Error).name });
}
