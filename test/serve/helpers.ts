// Test fixtures for `drhard serve`: the retrieval tests' tiny dataset and models, corpus embeddings encoded by the
// library, a CLI runner, and an engine + server started in-process on a free loopback port.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { openDataset } from '../../src/data/index.ts';
import { loadModel } from '../../src/models/checkpoint.ts';
import { encodeSplit } from '../../src/retrieval/encode.ts';
import { SearchEngine, type EngineOptions } from '../../src/serve/engine.ts';
import { startServer, type AppOptions, type RunningServer } from '../../src/serve/server.ts';
import { makeDataset, makeModelDir, tmpDir, ROOT } from '../retrieval/helpers.ts';

export { ROOT };

export interface ServeFixture {
  dir: string;
  ds: string;
  /** Two models (different seeds) and their corpus embeddings. */
  models: Array<{ dir: string; emb: string }>;
  collection: string;
}

/** The dataset (300 docs, 40 train / 20 dev queries), two random tiny models and their corpus embeddings. */
export async function makeServeFixture(): Promise<ServeFixture> {
  const dir = tmpDir('drhard-serve-');
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const ds = await makeDataset(dir);
  const models: ServeFixture['models'] = [];
  for (const seed of [3, 11]) {
    const mdir = makeModelDir(path.join(dir, `m${seed}`), { seed });
    const emb = path.join(dir, `m${seed}`, 'corpus.f32');
    const d = openDataset(ds);
    const { model } = loadModel(mdir);
    try {
      await encodeSplit(model, d.corpus, { out: emb, maxLength: 40, progress: false });
    } finally {
      model.dispose();
      d.close();
    }
    models.push({ dir: mdir, emb });
  }
  return { dir, ds, models, collection: path.join(dir, 'raw', 'collection.tsv') };
}

export function engineOptions(f: ServeFixture, o: Partial<EngineOptions> = {}): EngineOptions {
  return {
    dataset: f.ds,
    dense: [
      { name: 'a', model: f.models[0]!.dir, embeddings: f.models[0]!.emb },
      { name: 'b', model: f.models[1]!.dir, embeddings: f.models[1]!.emb },
    ],
    bm25: true,
    maxQueryLength: 32,
    hybrid: { method: 'rrf' },
    searcher: {},
    collection: f.collection,
    textChars: 600,
    ...o,
  };
}

/** An engine and a server on 127.0.0.1 (free port); `close` drains and disposes both. */
export async function serveInProcess(f: ServeFixture, app: AppOptions = {}, eo: Partial<EngineOptions> = {}): Promise<{ engine: SearchEngine; server: RunningServer; close: () => Promise<void> }> {
  const engine = await SearchEngine.open(engineOptions(f, eo));
  const server = await startServer(engine, { host: '127.0.0.1', port: 0, ...app });
  return {
    engine,
    server,
    close: async () => {
      await server.close(2000);
      engine.dispose();
    },
  };
}

/** Runs the CLI without blocking the event loop (an in-process server keeps answering meanwhile). */
export function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args],
      { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, DRHARD_LOG_LEVEL: 'warn', DRHARD_NUM_THREADS: '1', ...env } },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr }),
    );
  });
}

export interface SearchAnswer {
  mode: string;
  model: string | null;
  k: number;
  tookMs: number;
  results: Array<{ query: string; truncated: boolean; hits: Array<{ rank: number; id: string; score: number; text?: string }> }>;
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: unknown; headers: Headers }> {
  const res = await fetch(`${url}/v1/search`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json, headers: res.headers };
}
