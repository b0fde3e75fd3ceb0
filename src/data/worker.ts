// Worker thread of TokenizePool: loads the tokenizer once, then parses + tokenizes chunks posted by the main thread.
import { parentPort, workerData } from 'node:worker_threads';
import { loadTokenizer, type DrTokenizer } from '../tokenizers/index.ts';
import { processChunk, toWireError, type ChunkJob, type TokenizerSpec } from './pipeline.ts';

const port = parentPort;
if (port === null) throw new Error('worker.ts must run in a worker thread');
const spec = workerData as TokenizerSpec;

let tok: DrTokenizer;
try {
  tok = await loadTokenizer(spec.src, spec.options);
  port.postMessage({ type: 'ready' });
} catch (e) {
  port.postMessage({ type: 'init-error', error: toWireError(e) });
  throw e;
}

// Jobs run concurrently: while one chunk is in the tokenizer (libuv thread), the next one is parsed here.
port.on('message', (job: ChunkJob) => {
  processChunk(tok, job).then(
    (result) => port.postMessage({ type: 'result', result }, [result.tokens.buffer as ArrayBuffer, result.lengths.buffer as ArrayBuffer, result.lines.buffer as ArrayBuffer, result.cut.buffer as ArrayBuffer]),
    (e: unknown) => port.postMessage({ type: 'error', seq: job.seq, error: toWireError(e) }),
  );
});
