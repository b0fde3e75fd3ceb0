// `drhard serve` throughput and latency on loopback: QPS and p50/p99 latency at concurrency 1, 8 and 32 against the
// search library called directly in one process (one query per call, and c queries per call: ideal batching), with
// micro-batching on (--batch-size 32) and off (--batch-size 1), and the server's RSS sampled over each run.
// Bounded: at most --requests requests and --seconds seconds per level. The server is a `drhard serve` child process
// (so the clients here do not share its event loop); the corpus is synthetic (--docs passages, tiny tokenizer) and
// the encoder random (--layers, --hidden): speed only, not quality.
// Usage: node --import tsx bench/serve.ts [--docs 20000] [--hidden 128] [--layers 2] [--requests 600] [--seconds 8] [--soak 3] [--spin]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openDataset, preprocessMsmarco } from '../src/data/index.ts';
import { createModel } from '../src/models/dual.ts';
import { loadModel, saveModel } from '../src/models/checkpoint.ts';
import { encodeSplit } from '../src/retrieval/encode.ts';
import { SearchEngine } from '../src/serve/engine.ts';
import { createLogger } from '../src/util/log.ts';
import { Rng } from '../src/util/rng.ts';

const argv = process.argv.slice(2);

// As bench/retrieval.ts: libgomp's threads spin after each parallel region by default and, on a shared 2-core
// machine, starve the server's event loop between small ops; the variable is read when libgomp loads, so the bench
// re-runs itself with it set (the server child inherits it). --spin keeps the library default.
if (process.env['OMP_WAIT_POLICY'] === undefined && !argv.includes('--spin')) {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, [...process.execArgv, import.meta.filename, ...argv], { stdio: 'inherit', env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } });
  process.exit(r.status ?? 1);
}
const arg = (name: string, def: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : def;
};
const DOCS = arg('docs', 20000);
const HIDDEN = arg('hidden', 128);
const LAYERS = arg('layers', 2);
const REQUESTS = arg('requests', 600);
const SECONDS = arg('seconds', 8);
const SOAK = arg('soak', 3);
const LEVELS = [1, 8, 32];
const K = 10;
const ROOT = path.join(import.meta.dirname, '..');
const TOK = path.join(ROOT, 'test', 'fixtures', 'tokenizers', 'roberta-tiny');

const WORDS = (
  'dense sparse vector index faiss query passage document rank score model encoder negative hard train debian package library python rust node ' +
  'typescript retrieval search token embed cluster graph tree hash table server client batch latency memory thread kernel socket'
).split(' ');

async function fixture(dir: string): Promise<{ ds: string; model: string; emb: string; queries: string[] }> {
  const rng = new Rng(7);
  const raw = path.join(dir, 'raw');
  fs.mkdirSync(raw, { recursive: true });
  const sentence = (n: number): string => Array.from({ length: n }, () => WORDS[rng.int(WORDS.length)]).join(' ');
  fs.writeFileSync(path.join(raw, 'collection.tsv'), Array.from({ length: DOCS }, (_, i) => `${i}\t${sentence(20 + rng.int(40))}\n`).join(''));
  const queries = Array.from({ length: 512 }, () => sentence(2 + rng.int(8)));
  fs.writeFileSync(path.join(raw, 'queries.dev.tsv'), queries.map((q, i) => `${i}\t${q}\n`).join(''));
  fs.writeFileSync(path.join(raw, 'qrels.dev.tsv'), queries.map((_, i) => `${i}\t0\t${i}\t1\n`).join(''));
  const ds = path.join(dir, 'ds');
  await preprocessMsmarco({ input: raw, out: ds, tokenizer: TOK, maxDocLength: 64, maxQueryLength: 32, threads: 0, progress: false, log: createLogger({ level: 'silent' }) });
  const vocab = Object.keys(JSON.parse(fs.readFileSync(path.join(TOK, 'vocab.json'), 'utf8')) as object).length;
  const model = path.join(dir, 'model');
  const m = createModel({ modelType: 'roberta', vocabSize: vocab, hiddenSize: HIDDEN, numHiddenLayers: LAYERS, numAttentionHeads: 4, maxPositionEmbeddings: 70, outputEmbeddingSize: HIDDEN }, { seed: 1 });
  saveModel(m, model);
  m.dispose();
  for (const f of fs.readdirSync(TOK)) fs.copyFileSync(path.join(TOK, f), path.join(model, f));
  const emb = path.join(dir, 'corpus.f32');
  const d = openDataset(ds);
  const { model: enc } = loadModel(model);
  try {
    await encodeSplit(enc, d.corpus, { out: emb, maxLength: 64, progress: false });
  } finally {
    enc.dispose();
    d.close();
  }
  return { ds, model, emb, queries };
}

interface Level {
  c: number;
  n: number;
  qps: number;
  p50: number;
  p99: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** c workers, each sending one query at a time until REQUESTS are done or SECONDS passed. */
async function drive(c: number, once: (q: string) => Promise<void>, queries: string[]): Promise<Level> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  const deadline = t0 + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < REQUESTS && performance.now() < deadline) {
        const q = queries[next++ % queries.length] as string;
        const s = performance.now();
        await once(q);
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { c, n: lat.length, qps: lat.length / secs, p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) * 1024;
}

async function startServer(f: { ds: string; model: string; emb: string }, batch: number): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'serve', '--model', f.model, '--doc-embeddings', f.emb, '--data', f.ds, '--port', '0', '--batch-size', String(batch), '--max-queries', '64'],
    { cwd: ROOT, env: { ...process.env, DRHARD_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d.toString();
      const m = /^(http:\/\/\S+)\n/m.exec(out);
      if (m) resolve(m[1] as string);
    });
    void exited.then(() => reject(new Error('drhard serve exited before listening')));
  });
  return {
    url,
    pid: child.pid as number,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-bench-serve-'));
  try {
    const f = await fixture(dir);
    const cpu = (os.cpus()[0]?.model ?? 'unknown CPU').trim();
    const flags = /flags\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.split(' ').filter((x) => /avx512_bf16|avx512f|amx|avx2/.test(x)).join(' ');
    console.log(`# bench/serve.ts — ${DOCS} docs, random encoder ${LAYERS}×${HIDDEN}, k=${K}, dense, loopback; OMP_WAIT_POLICY=${process.env['OMP_WAIT_POLICY'] ?? 'default'}; ${cpu} (${os.cpus().length} cores; ${flags}); load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    // The library in this process: one query per call, and c queries per call.
    const engine = await SearchEngine.open({ dataset: f.ds, dense: [{ name: 'dense', model: f.model, embeddings: f.emb }], bm25: false, maxQueryLength: 32, hybrid: { method: 'rrf' }, searcher: {}, textChars: 0 });
    const lib: Record<string, Level> = {};
    try {
      for (const c of LEVELS) {
        lib[`one-${c}`] = await drive(c, async (q) => void (await engine.answer([{ text: q, k: K, mode: 'dense', model: 'dense' }])), f.queries);
        // c queries per call: each of the c queries waits for the whole call.
        let i = 0;
        const t0 = performance.now();
        const lat: number[] = [];
        while (i < REQUESTS && performance.now() - t0 < SECONDS * 1000) {
          const qs = Array.from({ length: c }, (_, j) => ({ text: f.queries[(i + j) % f.queries.length] as string, k: K, mode: 'dense' as const, model: 'dense' }));
          const s = performance.now();
          await engine.answer(qs);
          const ms = performance.now() - s;
          for (let j = 0; j < c; j++) lat.push(ms);
          i += c;
        }
        lat.sort((a, b) => a - b);
        lib[`batch-${c}`] = { c, n: lat.length, qps: lat.length / ((performance.now() - t0) / 1000), p50: percentile(lat, 50), p99: percentile(lat, 99) };
      }
    } finally {
      engine.dispose();
    }
    const http: Record<string, Level & { rss: [number, number, number] }> = {};
    const soaks = new Map<number, number[]>();
    for (const batch of [32, 1]) {
      const s = await startServer(f, batch);
      try {
        const post = async (q: string): Promise<void> => {
          const r = await fetch(`${s.url}/v1/search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: q, k: K }) });
          if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
          await r.arrayBuffer();
        };
        for (let i = 0; i < 20; i++) await post(f.queries[i] as string);
        for (const c of LEVELS) {
          const start = rssOf(s.pid);
          let peak = start;
          const timer = setInterval(() => (peak = Math.max(peak, rssOf(s.pid))), 100);
          const lv = await drive(c, post, f.queries);
          clearInterval(timer);
          http[`${batch}-${c}`] = { ...lv, rss: [start, peak, rssOf(s.pid)] };
        }
        // Soak: more rounds at the highest concurrency; RSS after each shows whether it keeps growing.
        const soak: number[] = [rssOf(s.pid)];
        for (let r = 0; r < SOAK; r++) {
          await drive(LEVELS[LEVELS.length - 1] as number, post, f.queries);
          soak.push(rssOf(s.pid));
        }
        soaks.set(batch, soak);
      } finally {
        await s.stop();
      }
    }
    const mb = (x: number): string => (x / 2 ** 20).toFixed(0);
    const row = (name: string, l: Level, base?: Level): string =>
      `| ${name} | ${l.c} | ${l.n} | ${l.qps.toFixed(0)} | ${l.p50.toFixed(2)} | ${l.p99.toFixed(2)} | ${base ? (l.qps / base.qps).toFixed(2) : ''} |`;
    console.log('\n| path | concurrency | queries | QPS | p50 ms | p99 ms | QPS / library (1 query per call) |');
    console.log('|---|---|---|---|---|---|---|');
    for (const c of LEVELS) {
      const base = lib[`one-${c}`] as Level;
      console.log(row('library, 1 query per call', base, base));
      if (c > 1) console.log(row(`library, ${c} queries per call`, lib[`batch-${c}`] as Level, base));
      console.log(row('HTTP, micro-batching on (32)', http[`32-${c}`] as Level, base));
      console.log(row('HTTP, micro-batching off', http[`1-${c}`] as Level, base));
    }
    console.log('\n| server | concurrency | RSS at start / peak / end MiB | batching gain (QPS on / off) |');
    console.log('|---|---|---|---|');
    for (const c of LEVELS) {
      for (const b of [32, 1]) {
        const h = http[`${b}-${c}`] as Level & { rss: [number, number, number] };
        console.log(`| batch ${b} | ${c} | ${h.rss.map(mb).join(' / ')} | ${b === 32 ? ((h.qps / (http[`1-${c}`] as Level).qps).toFixed(2)) : ''} |`);
      }
    }
    for (const [b, r] of soaks) console.log(`\nbatch ${b}: RSS before and after each of ${SOAK} more rounds at concurrency ${LEVELS[LEVELS.length - 1]}: ${r.map(mb).join(' → ')} MiB`);
    console.log(`\nload after: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
