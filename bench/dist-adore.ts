// Distributed ADORE on this machine: 2 ranks × 1 thread (loopback Gloo, each rank holding half of the document
// embeddings) against 1 process × 2 threads (the whole index), per training step (encode, search, loss + backward,
// all-reduce, optimizer), and the peak resident memory of each process. No PyTorch side: drhard against itself.
// Usage: node --import tsx bench/dist-adore.ts [--docs N] [--hidden H] [--steps S] [--batch B]
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeDataset } from '../test/train/helpers.ts';
import { runRanks } from '../test/helpers/dist.ts';
import { createModel } from '../src/models/dual.ts';
import { saveModel } from '../src/models/checkpoint.ts';
import { Rng } from '../src/util/rng.ts';
import { peakRssBytes } from './rss.ts';

const argv = process.argv.slice(2);
const flag = (n: string, d: number): number => (argv.includes(`--${n}`) ? Number(argv[argv.indexOf(`--${n}`) + 1]) : d);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

if (argv[0] === 'warm') {
  // Calibrates the exact engine for this thread count into DRHARD_CACHE_DIR, so the measured runs only read it.
  const { defaultEngine } = await import('../src/retrieval/search.ts');
  process.stdout.write(`${defaultEngine(Number(argv[1]), Number(argv[2]))}\n`);
  process.exit(0);
}
if (argv[0] === 'worker') {
  // One process (or rank) of the comparison: trains, then prints the per-step metrics and its peak RSS.
  const { ProcessGroup } = await import('../src/dist/group.ts');
  const { trainDualEncoder } = await import('../src/train/index.ts');
  const { createLogger } = await import('../src/util/log.ts');
  const pg = ProcessGroup.fromEnv({ timeoutMs: 300_000 });
  const options = JSON.parse(fs.readFileSync(argv[1] as string, 'utf8')) as Record<string, unknown>;
  const r = await trainDualEncoder(options as never, { logger: createLogger({ level: 'warn' }), ...(pg ? { dist: { pg, crossRankNegatives: false } } : {}) });
  process.stdout.write(`${JSON.stringify({ history: r.history, maxRssMiB: peakRssBytes() / 2 ** 20 })}\n`);
  pg?.destroy();
  process.exit(0);
}

const DOCS = flag('docs', 50_000);
const H = flag('hidden', 64);
const STEPS = flag('steps', 8);
const BATCH = flag('batch', 32);
const cpu = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? os.cpus()[0]?.model ?? '?';
const flags = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/flags\s*:\s*(.*)/)?.[1] ?? '';
const avx = flags.split(' ').filter((f) => /^avx512(f|_bf16|_vnni)$|^amx/.test(f)).join(' ');
const self = import.meta.filename;

const d = await makeDataset({ docs: DOCS, train: Math.max(64, BATCH * STEPS), dev: 8 });
try {
  const init = path.join(d.dir, 'init');
  const m = createModel({ modelType: 'roberta', vocabSize: 561, hiddenSize: H, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 2 * H, maxPositionEmbeddings: 48 }, { seed: 1 });
  saveModel(m, init);
  m.dispose();
  const rng = new Rng(5);
  const emb = path.join(d.dir, 'docs.f32');
  fs.writeFileSync(emb, new Float32Array(DOCS * H).map(() => rng.float() * 2 - 1));
  const options = (out: string): string => {
    const f = path.join(d.dir, `${path.basename(out)}.json`);
    const o = { method: 'adore', data: d.data, init, docEmbeddings: emb, outDir: out, batchSize: BATCH, maxSteps: STEPS, warmupSteps: 1, negTopk: 200, metricCut: 200, logEvery: 1, saveEvery: 0, maxQueryLength: 16, padFirstBatches: 0, progress: false };
    fs.writeFileSync(f, JSON.stringify(o));
    return f;
  };
  // One calibration cache per thread count (the cache file keeps one machine key at a time), warmed beforehand so
  // that neither the step times nor the peak RSS include the calibration.
  const cache = (threads: number): NodeJS.ProcessEnv => ({ DRHARD_CACHE_DIR: path.join(d.dir, `cache-${threads}t`), DRHARD_NUM_THREADS: String(threads), DRHARD_LOG_LEVEL: 'warn' });
  const engines = [2, 1].map((t) => spawnSync(process.execPath, ['--import', 'tsx', self, 'warm', String(DOCS), String(H)], { encoding: 'utf8', env: { ...process.env, ...cache(t) } }).stdout.trim());
  const one = await new Promise<string>((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', self, 'worker', options(path.join(d.dir, 'one'))], { env: { ...process.env, ...cache(2) }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (x: Buffer) => (out += x.toString()));
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`one process exited ${code}`))));
  });
  const two = await runRanks([self, 'worker', options(path.join(d.dir, 'two'))], 2, { env: () => cache(1), killAfterMs: 1_800_000 });
  for (const r of two) if (r.code !== 0) throw new Error(`rank ${r.rank}: ${r.stderr}`);
  type Out = { history: Array<Record<string, number>>; maxRssMiB: number };
  const parse = (s: string): Out => JSON.parse(s.trim().split('\n').at(-1) as string) as Out;
  // Steps after the first (start-up: calibration, allocations); seconds per step = batch / samples per second.
  const stats = (o: Out): { step: number; enc: number; search: number; loss: number } => {
    const h = o.history.filter((x) => x['loss'] !== undefined).slice(1);
    return { step: median(h.map((x) => BATCH / (x['samplesPerSec'] as number))), enc: median(h.map((x) => x['tEncode'] as number)), search: median(h.map((x) => x['tSearch'] as number)), loss: median(h.map((x) => x['tLoss'] as number)) };
  };
  const a = parse(one);
  const b = two.map((r) => parse(r.stdout));
  const sa = stats(a);
  const sb = b.map(stats);
  const slow = sb.reduce((x, y) => (y.step > x.step ? y : x));
  const f = (x: number): string => x.toFixed(3);
  console.log(`CPU: ${cpu} (${avx}); ${os.availableParallelism()} cores; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} at the end (shared machine)`);
  console.log(`ADORE step, ${DOCS} docs × ${H} dims, batch ${BATCH}, top-200, hidden-${H} 2-layer encoder, median of steps 2-${STEPS}; calibrated engine: ${engines[0]} (2 threads), ${engines[1]} (1 thread):`);
  console.log(`  1 process × 2 threads: ${f(sa.step)} s/step (encode ${f(sa.enc)}, search ${f(sa.search)}, loss+backward ${f(sa.loss)}); peak RSS ${a.maxRssMiB.toFixed(0)} MiB`);
  console.log(`  2 ranks × 1 thread:    ${f(slow.step)} s/step (slowest rank: encode ${f(slow.enc)}, search ${f(slow.search)}, loss+backward ${f(slow.loss)}); peak RSS ${b.map((x) => x.maxRssMiB.toFixed(0)).join(' / ')} MiB`);
  console.log(`  ratio (throughput, 2 ranks / 1 process): ${(sa.step / slow.step).toFixed(2)}×; index rows per rank ${Math.ceil(DOCS / 2)} of ${DOCS} (${((DOCS * H * 4) / 2 ** 20).toFixed(0)} MiB float32 in all)`);
} finally {
  fs.rmSync(d.dir, { recursive: true, force: true });
}
