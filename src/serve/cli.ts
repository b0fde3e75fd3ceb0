// `drhard serve` behind its flags: loads the engine, binds, prints the URL on stdout, and on SIGTERM/SIGINT stops
// accepting, answers what is in flight, then exits 0 (a second signal exits at once).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { emitText } from '../cli/result.ts';
import type { FromFileOptions } from '../retrieval/search.ts';
import { DrhardInputError } from '../util/errors.ts';
import { log as rootLog } from '../util/log.ts';
import { StopSignal } from '../util/signals.ts';
import { SearchEngine, type DenseSource } from './engine.ts';
import { startServer } from './server.ts';

/** What `drhard serve` runs with: its flags, already checked and converted by the command (src/cli/commands/serve.ts). */
export interface ServeOptions {
  model?: string[] | undefined;
  docEmbeddings?: string[] | undefined;
  loadIndex?: string[] | undefined;
  name?: string[] | undefined;
  data: string;
  bm25?: boolean | undefined;
  collection?: string | undefined;
  host: string;
  port: number;
  tokenFile?: string | undefined;
  maxLength: number;
  compat28?: boolean | undefined;
  hybridMethod: 'rrf' | 'interpolate';
  hybridWeight?: number | undefined;
  maxK: number;
  maxQueries: number;
  maxQueryChars: number;
  maxBody?: number | undefined;
  requestTimeout: number;
  batchSize: number;
  batchWait: number;
  textChars: number;
  /** How each model's document vectors are searched (engine, memory budget, faiss parameters). */
  searcher: FromFileOptions;
}

/** Loopback addresses: the only ones `drhard serve` binds without a warning. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Names of the models: given, else 'dense' for one, else the directory names (numbered if they clash). */
export function modelNames(models: readonly string[], given?: readonly string[]): string[] {
  if (given !== undefined) return [...given];
  if (models.length === 1) return ['dense'];
  const base = models.map((m) => path.basename(path.resolve(m)));
  return new Set(base).size === base.length ? base : base.map((_, i) => `model${i + 1}`);
}

/** Reads a bearer token file: one line, at least 16 characters. */
export function readTokenFile(file: string): string {
  let s: string;
  try {
    s = fs.readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new DrhardInputError(`cannot read the token file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file });
  }
  if (s.length < 16 || /\s/.test(s)) throw new DrhardInputError('the token must be one line of at least 16 characters without spaces', { file });
  return s;
}

export async function openServer(o: ServeOptions): Promise<void> {
  const log = rootLog.child({ mod: 'serve' });
  const token = o.tokenFile !== undefined ? readTokenFile(o.tokenFile) : undefined;
  const models = o.model ?? [];
  const names = modelNames(models, o.name);
  const vectors = o.docEmbeddings ?? o.loadIndex ?? [];
  const dense: DenseSource[] = models.map((m, i) => ({ name: names[i] as string, model: m, ...(o.loadIndex !== undefined ? { index: vectors[i] as string } : { embeddings: vectors[i] as string }) }));
  const t0 = performance.now();
  const engine = await SearchEngine.open({
    dataset: o.data,
    dense,
    bm25: o.bm25 ?? false,
    maxQueryLength: o.maxLength,
    ...(o.compat28 !== undefined ? { compat28: o.compat28 } : {}),
    hybrid: { method: o.hybridMethod, ...(o.hybridWeight !== undefined ? { denseWeight: o.hybridWeight } : {}) },
    searcher: o.searcher,
    ...(o.collection !== undefined ? { collection: o.collection } : {}),
    textChars: o.textChars,
  });
  let running;
  try {
    running = await startServer(engine, {
      host: o.host,
      port: o.port,
      ...(token !== undefined ? { token } : {}),
      logger: log,
      limits: { maxK: o.maxK, maxQueries: o.maxQueries, maxQueryChars: o.maxQueryChars, maxBodyBytes: o.maxBody ?? 256 * 1024, requestTimeoutMs: o.requestTimeout },
      batch: { maxBatch: o.batchSize, maxWaitMs: o.batchWait },
    });
  } catch (e) {
    engine.dispose();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') throw new DrhardInputError(`cannot listen on ${o.host}:${o.port} (${code})`);
    throw e;
  }
  if (!isLoopback(o.host)) {
    log.warn(
      { host: o.host, auth: token !== undefined },
      `listening on ${o.host}: other machines can reach this server${token === undefined ? ' and nothing asks them for a token (--token-file)' : ''}`,
    );
  }
  log.info({ url: running.url, models: engine.models, bm25: engine.hasBm25, documents: engine.documents, loadSeconds: Number(((performance.now() - t0) / 1000).toFixed(3)) }, 'serving');
  await emitText(`${running.url}\n`);
  const stop = new StopSignal({ logger: log });
  try {
    const sig = await stop.stopped;
    log.info({ signal: sig, inFlight: running.serveApp.inFlight(), queued: running.serveApp.batcher.queued }, 'draining');
    await running.close();
    log.info('stopped');
  } finally {
    stop[Symbol.dispose]();
    engine.dispose();
  }
}
