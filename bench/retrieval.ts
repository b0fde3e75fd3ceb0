// Retrieval speed, drhard vs Python (bench/retrieval_ref.py: faiss IndexFlatIP, torch mm + topk, the reference
// encoder) side by side in one run: exact search QPS of drhard's exact engines (bf16, fp32 and int8 screens + exact
// rescoring, faiss flat, torch GEMM + topk; int8 where the CPU has AVX2, with each of its kernels this CPU runs:
// AVX512-VNNI, the 256-bit VNNI kernel that AVX-VNNI CPUs get, AVX2), the engine a fresh calibration picks as default against the fastest,
// and % of the float32 sgemm roofline (200k × 768, 1M × 128), encode
// throughput (tiny and base configs, 128 tokens), peak RSS of a sharded search over a file 4× the memory budget,
// and BM25 on the bundled demo corpus (index time, dev/train search time, MRR@10).
// Usage: node --import tsx bench/retrieval.ts [--quick] [--repeat R] [--only search|encode|shard|bm25] [--spin]
// Runs alternate between the processes and the best of R is reported: the machine is shared.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as T from '../src/tensor/index.ts';
import { PythonReference } from './pyref.ts';
import { peakRssBytes } from './rss.ts';
import { configToJson, createConfig, type EncoderConfig } from '../src/models/config.ts';
import { createModel } from '../src/models/dual.ts';
import { TokenStoreWriter, openTokenStore } from '../src/data/tokenstore.ts';
import { openDataset, preprocessMsmarco } from '../src/data/index.ts';
import { trainTokenizer } from '../src/tokenizers/index.ts';
import { Bm25Index } from '../src/retrieval/bm25.ts';
import { encodeSplit } from '../src/retrieval/encode.ts';
import { writeEmbeddingsManifest } from '../src/retrieval/embeddings.ts';
import { evaluateHits } from '../src/retrieval/runs.ts';
import { DEFAULT_CHUNK_ROWS, DenseSearcher, FP32_CHUNK_ROWS, type ExactEngine } from '../src/retrieval/search.ts';
import { Int8Copy, ScreenCopy, maxRowNorm, sgemmScreenedSearch } from '../src/retrieval/screen.ts';
import { calibration, engineFor } from '../src/retrieval/calibrate.ts';
import { createLogger } from '../src/util/log.ts';
import { sha256FileSync } from '../src/util/hash.ts';

const argv = process.argv.slice(2);

// libgomp threads spin after each parallel region by default; on a shared 2-core machine they then compete with
// OpenBLAS's own threads and every faiss/libtorch call ran 3-5x slower (both for drhard and for Python). The
// variable is read when libgomp loads, so the bench re-runs itself with it set (Python inherits it too).
// --spin keeps the library default.
if (process.env['OMP_WAIT_POLICY'] === undefined && !argv.includes('--spin') && argv[0] !== '--shard-child') {
  const env = { ...process.env, OMP_WAIT_POLICY: 'PASSIVE', DRHARD_LOG_LEVEL: process.env['DRHARD_LOG_LEVEL'] ?? 'warn' };
  const r = spawnSync(process.execPath, [...process.execArgv, import.meta.filename, ...argv], { stdio: 'inherit', env });
  process.exit(r.status ?? 1);
}

// ---- child mode: one sharded search, reporting its memory ----
if (argv[0] === '--shard-child') {
  const [file, budgetArg, engine] = argv.slice(1) as [string, string, ExactEngine];
  const budget = Number(budgetArg);
  T.manualSeed(3);
  const q = T.randn([256, 768]);
  // Loading tsx and the bench's modules leaves transpiler garbage in V8's heap; collecting it first keeps a GC during
  // the search (V8's heap growing for a moment) out of the measurement. The child runs with --expose-gc.
  (globalThis as { gc?: () => void }).gc?.();
  const baseline = process.memoryUsage().rss;
  const t0 = performance.now();
  using s = DenseSearcher.fromFile(file, { maxMemoryBytes: budget, engine });
  s.search(q, 100);
  const seconds = (performance.now() - t0) / 1000;
  const peak = peakRssBytes();
  process.stdout.write(`${JSON.stringify({ baseline, peak, shards: s.shards, mode: s.mode, seconds })}\n`);
  process.exit(0);
}

const quick = argv.includes('--quick');
const repeatArg = argv.indexOf('--repeat');
const REPEAT = repeatArg >= 0 ? Number(argv[repeatArg + 1]) : quick ? 2 : 3;
const onlyArg = argv.indexOf('--only');
const ONLY = onlyArg >= 0 ? argv[onlyArg + 1] : undefined;
const want = (s: string): boolean => ONLY === undefined || ONLY === s;
const threads = T.getNumThreads();

function timeOnce(run: () => void): number {
  const t = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - t) / 1e9;
}
const fmt = (x: number, d = 1): string => x.toFixed(d);
const table = (rows: string[][]): void => {
  const w = (rows[0] as string[]).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(w[i] as number) : c.padStart(w[i] as number))).join('  '));
};

console.error(`bench/retrieval: ${threads} thread(s), OMP_WAIT_POLICY=${process.env['OMP_WAIT_POLICY'] ?? '(default: spin)'}, best of ${REPEAT} after a warm-up; drhard and Python runs alternate`);
const ref = new PythonReference(path.join(import.meta.dirname, 'retrieval_ref.py'), threads);

// ---- exact search ----
if (want('search')) {
  const cases = quick
    ? [{ N: 50_000, D: 768, B: 256 }, { N: 250_000, D: 128, B: 512 }]
    : [{ N: 200_000, D: 768, B: 512 }, { N: 1_000_000, D: 128, B: 1024 }];
  const k = 100;
  const int8 = T.int8ScreenSupported();
  const rows: string[][] = [['case', 'drhard bf16', 'drhard fp32', 'drhard int8', 'drhard faiss', 'drhard torch', 'py faiss', 'py torch', 'best/py faiss', 'fp32/py faiss', 'int8/py faiss', 'default (calib s, final|provisional)', 'default/fastest', 'sgemm GF/s', '% roofline', 'fp32 % roofline', 'int8 % roofline', 'bf16 GF/s', 'bf16 engine % bf16 roofline', 'rescored/q bf16, fp32, int8']];
  // What a CPU without AVX512-BF16 (and AMX) would have: the best of the other engines, against Python faiss.
  const noBf16: string[] = [];
  // Each int8 kernel (DRHARD_INT8_ISA), the fastest being the engine's default: what CPUs with less than this one get.
  const isas = T.int8ScreenIsas();
  const isaRows: string[][] = [['case', ...isas.map((i) => `int8 ${i} q/s`), ...isas.map((i) => `${i}/py faiss`), ...isas.map((i) => `${i} % roofline`)]];
  const withIsa = <R>(isa: string, fn: () => R): R => {
    const saved = process.env['DRHARD_INT8_ISA'];
    process.env['DRHARD_INT8_ISA'] = isa;
    try {
      return fn();
    } finally {
      if (saved === undefined) delete process.env['DRHARD_INT8_ISA'];
      else process.env['DRHARD_INT8_ISA'] = saved;
    }
  };
  // A fresh calibration (not the user's cache) so the default shown is what this build and machine pick now.
  const calDir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-bench-calib-'));
  for (const c of cases) {
    T.manualSeed(0);
    const docs = T.randn([c.N, c.D]);
    const q = T.randn([c.B, c.D]);
    // The roofline: the best sgemm rate over cache-sized blocks, 2·N·D flops per query.
    const a = T.randn([512, c.D]);
    const b = docs.narrow(0, 0, 4096);
    let rate = 0;
    // The bf16 engine's own ceiling: the bfloat16 GEMM rate in its block shape (512 queries × 16384 docs), over the
    // whole matrix so that allocation and page faults are amortized as in the search.
    const a16 = a.to('bfloat16');
    const b16 = docs.to('bfloat16');
    let rate16 = 0;
    // Sampled between the timed searches too: on a shared machine a single sample can land in a busy moment.
    const sampleRate = (): void => {
      for (let i = 0; i < 5; i++) {
        const dt = timeOnce(() => T.tidy(() => void a.matmul(b.t())));
        rate = Math.max(rate, (2 * 512 * 4096 * c.D) / dt / 1e9);
      }
      const dt16 = timeOnce(() => {
        for (let s = 0; s < c.N; s += 16384) T.tidy(() => void a16.matmul(b16.narrow(0, s, Math.min(16384, c.N - s)).t()));
      });
      rate16 = Math.max(rate16, (2 * 512 * c.N * c.D) / dt16 / 1e9);
    };
    sampleRate();
    const tc = performance.now();
    const cal = calibration(c.D, { file: path.join(calDir, 'engine-calibration.json') });
    const defaultEngine = engineFor(cal, c.N);
    const calSeconds = (performance.now() - tc) / 1000;
    // Whether the calibration could be measured quietly (final) or only while the machine was busy (provisional).
    const cx = cal.contention;
    const calState = `${cal.provisional === true ? 'provisional' : 'final'}${cx ? `, ${cx.contended}/${cx.samples} contended, ${cx.rounds} rounds, load ${cx.load[0]}-${cx.load[1]}, CPU share ${cx.cpuShare ?? '-'}` : ''}`;
    using bs1 = DenseSearcher.fromTensor(docs, { engine: 'bf16' });
    using ps1 = DenseSearcher.fromTensor(docs, { engine: 'fp32' });
    using fs1 = DenseSearcher.fromTensor(docs, { engine: 'faiss' });
    using ts1 = DenseSearcher.fromTensor(docs, { engine: 'torch' });
    using is1 = int8 ? DenseSearcher.fromTensor(docs, { engine: 'int8' }) : null;
    if (is1 !== null) for (const isa of isas) withIsa(isa, () => is1.search(q.narrow(0, 0, 32), k));
    const tIsa = new Map(isas.map((i) => [i, Infinity]));
    bs1.search(q.narrow(0, 0, 32), k);
    ps1.search(q.narrow(0, 0, 32), k);
    fs1.search(q.narrow(0, 0, 32), k);
    ts1.search(q.narrow(0, 0, 32), k);
    // How many documents per query the screen passed on to exact rescoring (the bound's tightness).
    const screen = ScreenCopy.build(docs);
    const rescored = T.tidy(() => screen.search(q.narrow(0, 0, 64), docs, k, DEFAULT_CHUNK_ROWS).rescored);
    screen.dispose();
    const rescored32 = sgemmScreenedSearch(q.narrow(0, 0, 64), docs, maxRowNorm(docs), k, FP32_CHUNK_ROWS).rescored;
    let rescored8: BigInt64Array | null = null;
    if (int8) {
      using c8 = Int8Copy.build(docs);
      rescored8 = c8.search(q.narrow(0, 0, 64), docs, k).rescored;
    }
    await ref.ask(`search ${JSON.stringify({ ...c, k })}`);
    const t = { b: Infinity, p: Infinity, i: Infinity, f: Infinity, t: Infinity, pf: Infinity, pt: Infinity };
    for (let i = 0; i < REPEAT; i++) {
      t.b = Math.min(t.b, timeOnce(() => void bs1.search(q, k)));
      t.p = Math.min(t.p, timeOnce(() => void ps1.search(q, k)));
      if (is1 !== null) {
        for (const isa of isas) {
          const dt = withIsa(isa, () => timeOnce(() => void is1.search(q, k)));
          tIsa.set(isa, Math.min(tIsa.get(isa) as number, dt));
          if (isa === isas[0]) t.i = Math.min(t.i, dt);
        }
      }
      t.f = Math.min(t.f, timeOnce(() => void fs1.search(q, k)));
      t.pf = Math.min(t.pf, await ref.time('faiss'));
      t.t = Math.min(t.t, timeOnce(() => void ts1.search(q, k)));
      t.pt = Math.min(t.pt, await ref.time('torchmm'));
      sampleRate();
    }
    const qps = (s: number): number => c.B / s;
    const byEngine: Partial<Record<ExactEngine, number>> = { bf16: qps(t.b), fp32: qps(t.p), faiss: qps(t.f), torch: qps(t.t), ...(int8 ? { int8: qps(t.i) } : {}) };
    const best = Math.max(...Object.values(byEngine));
    const [bestNoBf16, bestNoBf16Engine] = (['fp32', 'int8', 'faiss', 'torch'] as const).reduce<[number, string]>((m, e) => ((byEngine[e] ?? 0) > m[0] ? [byEngine[e] as number, e] : m), [0, '']);
    const roof = (rate * 1e9) / (2 * c.N * c.D);
    const mean = (x: BigInt64Array): number => Array.from(x, Number).reduce((a, b) => a + b, 0) / x.length;
    const na = (x: string): string => (int8 ? x : 'n/a');
    rows.push([`${c.N}x${c.D} B=${c.B} k=${k}`, fmt(qps(t.b)), fmt(qps(t.p)), na(fmt(qps(t.i))), fmt(qps(t.f)), fmt(qps(t.t)), fmt(qps(t.pf)), fmt(qps(t.pt)), fmt(best / qps(t.pf), 2), fmt(qps(t.p) / qps(t.pf), 2), na(fmt(qps(t.i) / qps(t.pf), 2)), `${defaultEngine} (${fmt(calSeconds, 1)}, ${calState})`, fmt((byEngine[defaultEngine] ?? 0) / best, 3), fmt(rate), `${fmt((100 * best) / roof)}%`, `${fmt((100 * qps(t.p)) / roof)}%`, na(`${fmt((100 * qps(t.i)) / roof)}%`), fmt(rate16), `${fmt((100 * qps(t.b) * 2 * c.N * c.D) / (rate16 * 1e9))}%`, `${fmt(mean(rescored), 0)}, ${fmt(mean(rescored32), 0)}, ${rescored8 === null ? 'n/a' : fmt(mean(rescored8), 0)}`]);
    if (is1 !== null) isaRows.push([`${c.N}x${c.D}`, ...isas.map((i) => fmt(qps(tIsa.get(i) as number))), ...isas.map((i) => fmt(qps(tIsa.get(i) as number) / qps(t.pf), 2)), ...isas.map((i) => `${fmt((100 * qps(tIsa.get(i) as number)) / roof)}%`)]);
    noBf16.push(`  ${c.N}x${c.D}: ${bestNoBf16Engine} ${fmt(bestNoBf16)} q/s = ${fmt(bestNoBf16 / qps(t.pf), 2)}x Python faiss, ${fmt((100 * bestNoBf16) / roof)}% of the sgemm roofline`);
    T.tidy(() => [docs, q, a, a16, b16].forEach((x) => x.dispose()));
  }
  fs.rmSync(calDir, { recursive: true, force: true });
  console.log('\nexact search, queries/s (targets: best/py faiss >= 1.5, roofline >= 80%, default/fastest >= 0.95; roofline = float32 sgemm rate / 2ND)');
  table(rows);
  console.log(`best engine a CPU without AVX512-BF16 would have (fp32/int8/faiss/torch${int8 ? '' : '; int8 not on this CPU'}) ÷ Python faiss:`);
  for (const l of noBf16) console.log(l);
  if (int8) {
    console.log('int8 engine by kernel (the first is its default here; the others are what CPUs with only AVX-VNNI or AVX2 run, timed on this one):');
    table(isaRows);
  }
}

// ---- encode throughput ----
if (want('encode')) {
  const TINY = createConfig({ modelType: 'roberta', vocabSize: 8192, hiddenSize: 256, numHiddenLayers: 4, numAttentionHeads: 4, intermediateSize: 1024 });
  const BASE = createConfig({ modelType: 'roberta', vocabSize: 50265, hiddenSize: 768, numHiddenLayers: 12, numAttentionHeads: 12, intermediateSize: 3072 });
  const cases: Array<{ name: string; config: EncoderConfig; docs: number; batch: number }> = [
    { name: 'tiny', config: TINY, docs: quick ? 256 : 1024, batch: 128 },
    { name: 'base', config: BASE, docs: quick ? 16 : 64, batch: 8 },
  ];
  const L = 128;
  const rows: string[][] = [['case', 'drhard docs/s', 'py docs/s', 'drhard/py (target >= 1.0)']];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-bench-enc-'));
  try {
    for (const c of cases) {
      // A real token store on disk: encodeSplit's reads, length sort, batching and file writes are all timed.
      const w = new TokenStoreWriter(dir, c.name);
      const ids = new Int32Array(c.docs * L);
      let seed = 1;
      for (let i = 0; i < ids.length; i++) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        ids[i] = i % L === 0 ? 0 : i % L === L - 1 ? 2 : 3 + (seed % (c.config.vocabSize - 3));
      }
      w.appendPacked(ids, new Int32Array(c.docs).fill(L));
      w.finish();
      const store = openTokenStore(dir, c.name, c.docs, L);
      T.manualSeed(0);
      const model = createModel(c.config);
      let n = 0;
      const run = async (): Promise<number> => {
        const t0 = process.hrtime.bigint();
        await encodeSplit(model, store, { out: path.join(dir, `${c.name}-${n++}.emb`), maxLength: L, batchSize: c.batch, resume: false, progress: false, model: { path: 'bench', checksum: 'bench' } });
        return Number(process.hrtime.bigint() - t0) / 1e9;
      };
      await run();
      await ref.ask(`encode ${JSON.stringify({ config: configToJson(c.config), docs: c.docs, length: L, batch: c.batch })}`);
      let ours = Infinity;
      let theirs = Infinity;
      for (let i = 0; i < REPEAT; i++) {
        ours = Math.min(ours, await run());
        theirs = Math.min(theirs, await ref.time('encoderun'));
      }
      rows.push([`${c.name} ${c.docs}x${L} batch ${c.batch}`, fmt(c.docs / ours), fmt(c.docs / theirs), fmt(theirs / ours, 3)]);
      store.close();
      model.dispose();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log('\nencode throughput (encodeSplit from an on-disk token store to an embeddings file, vs reference forward)');
  table(rows);
}
ref.close();

// ---- sharded search memory ----
if (want('shard')) {
  const budget = quick ? 64 << 20 : 128 << 20;
  const D = 768;
  const N = Math.ceil((4 * budget) / (D * 4));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-bench-shard-'));
  const file = path.join(dir, 'docs.emb');
  try {
    const fd = fs.openSync(file, 'w');
    T.manualSeed(5);
    for (let s = 0; s < N; s += 16384) {
      const x = T.tidy(() => T.randn([Math.min(16384, N - s), D]).toFloat32Array());
      fs.writeSync(fd, new Uint8Array(x.buffer));
    }
    fs.closeSync(fd);
    const h = sha256FileSync(file);
    writeEmbeddingsManifest(file, { format: 'drhard-embeddings', version: 1, dim: D, count: N, dtype: 'float32', sha256: h.sha256, bytes: h.size });
    const rows: string[][] = [['engine', 'file MiB', 'budget MiB', 'shards', 'baseline RSS MiB', 'peak RSS MiB', 'peak - baseline MiB', 'under budget', 'seconds']];
    for (const engine of ['bf16', 'fp32', 'faiss', 'torch', ...(T.int8ScreenSupported() ? (['int8'] as const) : [])]) {
      const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', import.meta.filename, '--shard-child', file, String(budget), engine], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`shard child failed: ${r.stderr}`);
      const m = JSON.parse(r.stdout) as { baseline: number; peak: number; shards: number; seconds: number };
      const mib = (x: number): string => fmt(x / 2 ** 20, 0);
      rows.push([engine, mib(h.size), mib(budget), String(m.shards), mib(m.baseline), mib(m.peak), mib(m.peak - m.baseline), m.peak - m.baseline <= budget ? 'yes' : 'NO', fmt(m.seconds, 2)]);
    }
    console.log('\nsharded exact search of a file 4x the memory budget (256 queries, k=100; baseline = the process before loading)');
    table(rows);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---- BM25 on the demo corpus ----
if (want('bm25')) {
  const demo = path.join(import.meta.dirname, '..', 'data', 'demo');
  const work = path.join(os.tmpdir(), 'drhard-bench-bm25-demo');
  const dsDir = path.join(work, 'ds');
  if (!fs.existsSync(path.join(dsDir, 'manifest.json'))) {
    // A lowercase byte-level BPE tokenizer trained on the demo documents; terms are its token ids.
    const tokDir = path.join(work, 'tokenizer');
    const text = zlib.gunzipSync(fs.readFileSync(path.join(demo, 'collection.tsv.gz'))).toString('utf8');
    const docsText = text.split('\n').filter((l) => l.length > 0).map((l) => l.slice(l.indexOf('\t') + 1));
    await trainTokenizer(docsText, { kind: 'bpe', vocabSize: 30_000, outDir: tokDir, lowercase: true });
    await preprocessMsmarco({ input: demo, out: dsDir, tokenizer: tokDir, maxDocLength: 256, maxQueryLength: 32, progress: false, log: createLogger({ level: 'silent' }), overwrite: true });
  }
  const ds = openDataset(dsDir);
  try {
    const t = ds.manifest.tokenizer;
    let indexS = Infinity;
    let index: Bm25Index | undefined;
    for (let i = 0; i < REPEAT; i++) {
      const t0 = performance.now();
      index = Bm25Index.build(ds.corpus, { ignore: [t.clsId, t.sepId, t.padId] });
      indexS = Math.min(indexS, (performance.now() - t0) / 1000);
    }
    const ix = index as Bm25Index;
    const dev = ds.queries('dev');
    const train = ds.queries('train');
    let devS = Infinity;
    let hits = ix.searchBatch(dev, 1000);
    for (let i = 0; i < REPEAT; i++) {
      const t0 = performance.now();
      hits = ix.searchBatch(dev, 1000);
      devS = Math.min(devS, (performance.now() - t0) / 1000);
    }
    const t1 = performance.now();
    const trainHits = ix.searchBatch(train, 210);
    const trainS = (performance.now() - t1) / 1000;
    // The same searches on worker threads (every core; worker start-up included): the same hits, checked here.
    const threads = os.availableParallelism();
    let devP = Infinity;
    for (let i = 0; i < REPEAT; i++) {
      const t0 = performance.now();
      const h = await ix.searchBatchParallel(dev, 1000, { threads });
      devP = Math.min(devP, (performance.now() - t0) / 1000);
      if (h.ids.some((x, j) => x !== hits.ids[j])) throw new Error('parallel BM25 hits differ from the sequential ones');
    }
    const t2 = performance.now();
    const trainPar = await ix.searchBatchParallel(train, 210, { threads });
    const trainP = (performance.now() - t2) / 1000;
    if (trainPar.ids.some((x, j) => x !== trainHits.ids[j])) throw new Error('parallel BM25 train hits differ from the sequential ones');
    const m = evaluateHits(ds.qrels('dev'), Int32Array.from({ length: dev.count }, (_, i) => i), hits, ['mrr@10', 'recall@100', 'recall@1000', 'ndcg@10']);
    console.log(`\nBM25 on data/demo (k1 0.9, b 0.4; BPE-30k token ids as terms): ${ix.count} docs, ${ix.postings} postings, avgdl ${fmt(ix.avgdl)}`);
    table([
      ['what', 'value'],
      ['index build s', fmt(indexS, 3)],
      [`dev search s (${dev.count} queries, k=1000)`, fmt(devS, 3)],
      ['dev queries/s', fmt(dev.count / devS, 0)],
      [`train search s (${train.count} queries, k=210)`, fmt(trainS, 3)],
      ['train queries/s', fmt(train.count / trainS, 0)],
      [`dev search s, ${threads} worker threads`, `${fmt(devP, 3)} (${fmt(devS / devP, 2)}x)`],
      [`train search s, ${threads} worker threads`, `${fmt(trainP, 3)} (${fmt(trainS / trainP, 2)}x)`],
      ...Object.entries(m).map(([k, v]) => [`dev ${k}`, v.toFixed(4)]),
    ]);
  } finally {
    ds.close();
  }
}
