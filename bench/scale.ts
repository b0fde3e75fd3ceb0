// MS MARCO-scale rehearsal (issue 15): synthetic MS MARCO-shaped data (src/data/synth.ts) through preprocess, BM25,
// exact sharded search of 8.8M × 768 float32 under a memory budget, and ADORE steps through the sharded and ANN
// engines. Not in CI: hours of CPU and ~35 GB of disk. Each stage appends its figures to DIR/results.json; `table`
// prints them as the README's table, each figure marked measured or projected (with its formula).
// Usage: node --import tsx bench/scale.ts --dir DIR [--stage gen|tokenizer|preprocess|bm25|search|ann|adore|table]...
//        [--stages preprocess,bm25] [--fractions 250000,1000000|full] [--results FILE] [--steps N] [--engines exact,sharded,ann]
//        [--factory IVF256,PQ64] [--sample Q] [--nice 19]
// A fraction `full` (or 8841823) runs preprocess/BM25 on the whole generated collection (DIR/msmarco) rather than a
// prefix; each stage and fraction records on its own, so stages can be run (and rerun) one at a time.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(import.meta.dirname, '..');
const FULL = 8_841_823;
const DIM = 768;
const SEARCH_QUERIES = 1000;
const BUDGET = '8G';

function opt(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
// nice 19 by default (a shared machine); --nice 10 where 19 starves the run (the figures say which was used).
const NICE = opt('nice') ?? '19';
const stages = process.argv.flatMap((a, i) => (a === '--stage' ? [process.argv[i + 1] as string] : a === '--stages' ? (process.argv[i + 1] as string).split(',') : []));
const dir = opt('dir');

// ---------- child mode: ADORE steps in one process, so its peak RSS is the step's alone ----------
if (process.argv[2] === '--adore-child') {
  const [dsDir, corpus, engine, indexFile, stepsArg, factoryArg] = process.argv.slice(3) as [string, string, string, string, string, string];
  await adoreChild(dsDir, corpus, engine, indexFile, Number(stepsArg), factoryArg);
  process.exit(0);
}

if (dir === undefined || stages.length === 0) {
  process.stderr.write('usage: bench/scale.ts --dir DIR --stage gen|preprocess|bm25|search|ann|adore|table ...\n');
  process.exit(2);
}
const fractions = (opt('fractions') ?? '250000,1000000').split(',').map((f) => (f === 'full' ? FULL : Number(f)));
const resultsFile = opt('results') ?? path.join(dir, 'results.json');
const results: Record<string, unknown> = fs.existsSync(resultsFile) ? (JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as Record<string, unknown>) : {};
function record(key: string, value: unknown): void {
  // Stages may run in parallel processes: merge into what is on disk now.
  if (fs.existsSync(resultsFile)) Object.assign(results, JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as Record<string, unknown>);
  results[key] = value;
  fs.writeFileSync(`${resultsFile}.tmp`, `${JSON.stringify(results, null, 2)}\n`);
  fs.renameSync(`${resultsFile}.tmp`, resultsFile);
  process.stderr.write(`${key}: ${JSON.stringify(value)}\n`);
}

interface Timed {
  seconds: number;
  /** User + system CPU seconds: on a loaded machine the steadier figure. */
  cpuSeconds: number;
  maxRssMiB: number;
  stdout: string;
  stderr: string;
  load: string;
}
/** Runs a command at nice NICE under /usr/bin/time -v; wall seconds, peak RSS, and the 1-minute load before/after. */
function timed(cmd: string, args: string[]): Timed {
  const before = os.loadavg()[0]?.toFixed(1);
  process.stderr.write(`$ ${cmd} ${args.join(' ')}\n`);
  const r = spawnSync('nice', ['-n', NICE, '/usr/bin/time', '-v', cmd, ...args], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 30 });
  const err = r.stderr ?? '';
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${err.slice(-4000)}`);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(err);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)/.exec(err);
  const parts = (wall?.[1] ?? '0').split(':').map(Number);
  const seconds = parts.reduce((s, x) => s * 60 + x, 0);
  const cpu = (what: string): number => Number(new RegExp(`${what} time \\(seconds\\): ([\\d.]+)`).exec(err)?.[1] ?? 0);
  return { seconds, cpuSeconds: cpu('User') + cpu('System'), maxRssMiB: Number(rss?.[1] ?? 0) / 1024, stdout: r.stdout ?? '', stderr: err, load: `${before}→${os.loadavg()[0]?.toFixed(1)} (nice ${NICE})` };
}
const drhard = (args: string[]): Timed => timed('node', [path.join(ROOT, 'bin', 'drhard.js'), ...args]);
const round = (x: number, d = 1): number => Number(x.toFixed(d));
/** The last pino JSON line on stderr whose msg is `msg`. */
function logLine(stderr: string, msg: string): Record<string, unknown> {
  const l = stderr.split('\n').filter((s) => s.includes(`"msg":"${msg}"`)).pop();
  if (l === undefined) throw new Error(`no "${msg}" log line in:\n${stderr.slice(-2000)}`);
  return JSON.parse(l) as Record<string, unknown>;
}

const textDir = path.join(dir, 'msmarco');
// The full size is the generated collection itself: a prefix of every passage is the whole file.
const fracDir = (n: number): string => (n === FULL ? textDir : path.join(dir, `frac-${n}`));
const dsDir = (n: number): string => path.join(dir, `ds-${n}`);
const tokDir = path.join(dir, 'tok');
const corpusEmb = path.join(dir, 'emb', 'corpus.f32');
const queryEmb = path.join(dir, 'emb', 'queries.f32');
const annIndex = path.join(dir, 'emb', 'ann.faiss');
const factory = opt('factory') ?? 'IVF256,PQ64';

/** A 30k byte-level BPE trained on the first 250,000 passages (as a from-scratch user would). */
function trainTokenizer(): void {
  const input = path.join(dir as string, 'tok-input', 'collection.tsv');
  if (!fs.existsSync(input)) {
    // The collection's first lines are its first passages: a prefix of the file is the 250k fraction's collection.
    fs.mkdirSync(path.dirname(input), { recursive: true });
    const head = spawnSync('sh', ['-c', `head -n 250000 "$0" > "$1.tmp" && mv "$1.tmp" "$1"`, path.join(textDir, 'collection.tsv'), input]);
    if (head.status !== 0) throw new Error(`head of ${textDir}/collection.tsv failed: ${head.stderr}`);
  }
  const tok = drhard(['tokenizer', 'train', '--input', input, '--out-dir', tokDir, '--vocab-size', '30000', '--overwrite']);
  record('gen.tokenizer', { seconds: tok.seconds, cpuSeconds: tok.cpuSeconds, maxRssMiB: round(tok.maxRssMiB), load: tok.load });
}

for (const stage of stages) {
  if (stage === 'gen') {
    const g = (args: string[]): Timed => timed('node', ['--import', 'tsx', path.join(ROOT, 'scripts', 'gen-msmarco.ts'), ...args]);
    const full = g([textDir]);
    record('gen.text', { seconds: full.seconds, maxRssMiB: round(full.maxRssMiB), load: full.load, files: JSON.parse(full.stdout) as unknown });
    for (const n of fractions) if (n !== FULL) g([fracDir(n), '--passages', String(n)]);
    const t = timed('node', ['--import', 'tsx', '-e', `
      const { writeSyntheticEmbeddings } = await import(${JSON.stringify(path.join(ROOT, 'src', 'data', 'synth.ts'))});
      writeSyntheticEmbeddings(${JSON.stringify(corpusEmb)}, ${FULL}, ${DIM}, 1);
      writeSyntheticEmbeddings(${JSON.stringify(queryEmb)}, ${SEARCH_QUERIES}, ${DIM}, 2);`]);
    record('gen.embeddings', { seconds: t.seconds, bytes: fs.statSync(corpusEmb).size, load: t.load });
    trainTokenizer();
  } else if (stage === 'tokenizer') trainTokenizer();
  else if (stage === 'preprocess') {
    // Fractions with the full query sets: time = a + b·passages fits the fixed query work and the per-passage work.
    const pts: Array<{ passages: number; seconds: number; maxRssMiB: number; load: string }> = [];
    for (const n of fractions) {
      const r = drhard(['preprocess', '--input', fracDir(n), '--out-dir', dsDir(n), '--tokenizer', tokDir, '--max-doc-length', '256', '--max-query-length', '32', '--overwrite']);
      pts.push({ passages: n, seconds: r.seconds, maxRssMiB: round(r.maxRssMiB), load: r.load });
      record(`preprocess.${n}`, { ...pts[pts.length - 1], cpuSeconds: r.cpuSeconds, passagesPerSecond: round(n / r.seconds, 0), summary: JSON.parse(r.stdout) as unknown });
    }
  } else if (stage === 'bm25') {
    for (const n of fractions) {
      const r = drhard(['bm25', '--data', dsDir(n), '--split', 'dev', '--topk', '1000', '--out', path.join(dir, `bm25-${n}.trec`)]);
      const s = logLine(r.stderr, 'bm25 done');
      record(`bm25.${n}`, { passages: n, seconds: r.seconds, cpuSeconds: r.cpuSeconds, maxRssMiB: round(r.maxRssMiB), load: r.load, ...s });
    }
  } else if (stage === 'search') {
    const run = path.join(dir, 'search.trec');
    const r = drhard(['search', '--query-embeddings', queryEmb, '--doc-embeddings', corpusEmb, '--topk', '100', '--max-memory', BUDGET, '--ids', 'offsets', '--out', run]);
    // 'resident' (the int8 copy in memory, the rows it rescores read from the file) where the copy fits the budget, else 'sharded'.
    const done = logLine(r.stderr, 'search done');
    record(`search.${String(done['mode'])}`, { queries: SEARCH_QUERIES, seconds: r.seconds, cpuSeconds: r.cpuSeconds, maxRssMiB: round(r.maxRssMiB), load: r.load, openSeconds: done['loadSeconds'], searchSeconds: done['searchSeconds'] });
    // ANN-free reference: float64 brute force in NumPy over the same file for a sample of queries.
    const sample = Number(opt('sample') ?? '8');
    const ref = timed('/usr/bin/python3', [path.join(ROOT, 'bench', 'scale_ref.py'), corpusEmb, queryEmb, String(DIM), String(sample), '100']);
    const want = JSON.parse(ref.stdout) as Record<string, number[]>;
    const got = new Map<string, number[]>();
    for (const l of fs.readFileSync(run, 'utf8').split('\n')) {
      const f = l.split(' ');
      if (f.length < 6) continue;
      const list = got.get(f[0] as string) ?? [];
      list.push(Number(f[2]));
      got.set(f[0] as string, list);
    }
    let equal = 0;
    const diffs: string[] = [];
    for (const [q, ids] of Object.entries(want)) {
      const g = got.get(q) ?? [];
      if (g.length === ids.length && g.every((x, i) => x === ids[i])) equal++;
      else diffs.push(q);
    }
    record('search.reference', { sample, equal, differing: diffs, seconds: ref.seconds, maxRssMiB: round(ref.maxRssMiB) });
  } else if (stage === 'ann') {
    const r = drhard(['search', '--query-embeddings', queryEmb, '--doc-embeddings', corpusEmb, '--topk', '100', '--index', factory, '--save-index', annIndex, '--ids', 'offsets', '--out', path.join(dir, 'ann.trec')]);
    record('ann.build', { factory, seconds: r.seconds, cpuSeconds: r.cpuSeconds, maxRssMiB: round(r.maxRssMiB), load: r.load, bytes: fs.statSync(annIndex).size });
  } else if (stage === 'adore') {
    const steps = opt('steps') ?? '3';
    const ds = dsDir(fractions[0] as number);
    // exact: what DenseSearcher.fromFile picks (the resident int8 copy where it fits); sharded: the file read at every
    // search (an engine other than int8 named); ann: a faiss index.
    for (const engine of (opt('engines') ?? 'exact,ann').split(',')) {
      // ann: the saved index of the ann stage, else one built here from the file (streamed, within the budget).
      const r = timed('node', ['--import', 'tsx', path.join(ROOT, 'bench', 'scale.ts'), '--adore-child', ds, corpusEmb, engine, annIndex, steps, factory]);
      record(`adore.${engine}`, { ...(JSON.parse(r.stdout) as object), processSeconds: r.seconds, cpuSeconds: r.cpuSeconds, maxRssMiB: round(r.maxRssMiB), load: r.load });
    }
  } else if (stage === 'table') printTable();
  else throw new Error(`unknown stage ${stage}`);
}

function printTable(): void {
  const get = (k: string): Record<string, number> | undefined => results[k] as Record<string, number> | undefined;
  const rows: string[] = ['| step | figure | value | how |', '|---|---|---|---|'];
  const add = (step: string, fig: string, v: string, how: string): void => void rows.push(`| ${step} | ${fig} | ${v} | ${how} |`);
  const n = (x: number, d = 0): string => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const dirBytes = (d: string): number => fs.readdirSync(d).filter((f) => f.endsWith('.tsv')).reduce((t, f) => t + fs.statSync(path.join(d, f)).size, 0);
  const g = get('gen.text');
  const loadOf = (x: Record<string, number>): string => (x['load'] !== undefined ? `measured (load ${String((x as Record<string, unknown>)['load'])})` : 'measured');
  if (g !== undefined) add('generate 8.8M passages + 500k train + 6,980 dev queries (3.5 GB of TSV)', 'time (CPU) / peak RSS', `${n(g['seconds'] as number)} s (${n(g['cpuSeconds'] as number)} CPU-s) / ${n(g['maxRssMiB'] as number)} MiB`, loadOf(g));
  const gt = get('gen.tokenizer');
  if (gt !== undefined) add('train the 30k byte-level BPE on the first 250,000 passages', 'time (CPU) / peak RSS', `${n(gt['seconds'] as number)} s (${n(gt['cpuSeconds'] as number)} CPU-s) / ${n(gt['maxRssMiB'] as number)} MiB`, loadOf(gt));
  const ge = get('gen.embeddings');
  if (ge !== undefined) add('generate 8.8M × 768 float32 embeddings (27 GB, sha256 on the way)', 'time', `${n(ge['seconds'] as number)} s`, 'measured');
  const full = fs.existsSync(textDir) ? dirBytes(textDir) : 0;
  for (const f of fractions) {
    const p = get(`preprocess.${f}`);
    if (p === undefined) continue;
    add(`preprocess ${n(f)} passages + 500k train + 6,980 dev queries`, 'time (CPU) / passages/s / peak RSS', `${n(p['seconds'] as number)} s (${n(p['cpuSeconds'] as number)} CPU-s) / ${n(p['passagesPerSecond'] as number)} / ${n(p['maxRssMiB'] as number)} MiB`, loadOf(p));
    // A measured full-size run replaces the projections from fractions.
    if (full > 0 && f !== FULL && get(`preprocess.${FULL}`) === undefined) {
      const r = full / dirBytes(fracDir(f));
      add('preprocess 8.8M passages + the same queries', 'time (CPU)', `${n((p['seconds'] as number) * r / 3600, 1)} h (${n((p['cpuSeconds'] as number) * r / 60)} CPU-min)`, `projected: measured × input bytes ratio (${n(full / 1e9, 2)} GB / ${n(full / r / 1e6)} MB = ${n(r, 1)}); tokenizing is linear in the text`);
    }
  }
  for (const f of fractions) {
    const b = get(`bm25.${f}`);
    if (b === undefined) continue;
    add(`BM25 ${n(f)} passages, 6,980 dev queries, k 1000`, 'index / search (wall) / CPU / peak RSS / MRR@10', `${n(b['indexSeconds'] as number)} s / ${n(b['searchSeconds'] as number)} s / ${n(b['cpuSeconds'] as number)} CPU-s / ${n(b['maxRssMiB'] as number)} MiB / ${(b['mrr@10'] as number).toFixed(3)}`, loadOf(b));
    if (f === FULL || get(`bm25.${FULL}`) !== undefined) continue;
    const r = FULL / f;
    add('BM25 8.8M passages', 'index / dev search / CPU', `${n(((b['indexSeconds'] as number) * r) / 60)} min / ${n(((b['searchSeconds'] as number) * r) / 60)} min / ${n(((b['cpuSeconds'] as number) * r) / 60)} CPU-min`, `projected: measured × N ratio (${n(r, 1)}): postings, and the postings a query walks, grow with N`);
    const rss = (b['maxRssMiB'] as number) + ((b['postings'] as number) * (r - 1) * 6 + (FULL - f) * 28) / 2 ** 20;
    add('BM25 8.8M passages', 'peak RSS', `${n(rss / 1024, 1)} GiB`, `projected: measured + 6 B per extra posting (${n(((b['postings'] as number) * r) / 1e6)}M postings) + 28 B per extra document`);
  }
  const sm = get('search.resident');
  if (sm !== undefined) add(`exact search 8.8M × 768 float32 (27 GB), ${n(SEARCH_QUERIES)} queries, k 100, --max-memory ${BUDGET}: int8 copy in memory, rescored rows read from the file`, 'time (CPU) / open + search / peak RSS', `${n(sm['seconds'] as number)} s (${n(sm['cpuSeconds'] as number)} CPU-s) / ${n(sm['openSeconds'] as number)} s + ${n(sm['searchSeconds'] as number)} s / ${n(sm['maxRssMiB'] as number)} MiB`, loadOf(sm));
  const s = get('search.sharded');
  if (s !== undefined) add(`exact search 8.8M × 768 float32 (27 GB), ${n(SEARCH_QUERIES)} queries, k 100, --max-memory ${BUDGET}`, 'time (CPU) / peak RSS', `${n(s['seconds'] as number)} s (${n(s['cpuSeconds'] as number)} CPU-s) / ${n(s['maxRssMiB'] as number)} MiB`, 'measured');
  const s2 = get('search.sharded.rerun');
  if (s2 !== undefined) add('the same search, rerun at a lower load (hand-run; the run file came out identical)', 'time (CPU) / peak RSS', `${n(s2['seconds'] as number)} s (${n(s2['cpuSeconds'] as number)} CPU-s) / ${n(s2['maxRssMiB'] as number)} MiB`, `measured (load ${String((s2 as Record<string, unknown>)['load'])})`);
  const ref = get('search.reference');
  if (ref !== undefined) add('exact search vs a float64 NumPy brute force', 'identical top-100 lists', `${ref['equal']} of ${ref['sample']} queries`, 'measured');
  const ann = get('ann.build');
  if (ann !== undefined) add(`faiss ${(results['ann.build'] as { factory: string }).factory} built over 8.8M (streamed from the file) + ${n(SEARCH_QUERIES)} queries`, 'time (CPU) / peak RSS / index', `${n(ann['seconds'] as number)} s (${n(ann['cpuSeconds'] as number)} CPU-s) / ${n(ann['maxRssMiB'] as number)} MiB / ${n((ann['bytes'] as number) / 2 ** 20)} MiB`, 'measured');
  const how: Record<string, (a: Record<string, unknown>) => string> = {
    exact: (a) => `exact, ${String(a['mode'])} (--max-memory ${BUDGET})`,
    sharded: () => `exact sharded (--max-memory ${BUDGET})`,
    ann: (a) => `faiss ${String(a['factory'])} built streaming from the file (--max-memory ${BUDGET})`,
  };
  for (const e of ['exact', 'sharded', 'ann']) {
    const a = get(`adore.${e}`);
    if (a === undefined) continue;
    add(`ADORE step, B 32, top-200, roberta-base-sized query encoder, ${(how[e] as (a: Record<string, unknown>) => string)(a)}`, 'step (encode / search / loss+backward / AdamW)', `${n(a['step'] as number, 1)} s (${n(a['encode'] as number, 1)} / ${n(a['search'] as number, 1)} / ${n(a['loss'] as number, 1)} / ${n(a['optim'] as number, 1)})`, `measured (load ${String((a as Record<string, unknown>)['load'])}), mean of ${a['steps']} step(s) after a warm-up step; opening the index ${n(a['openSeconds'] as number)} s; peak RSS ${n(a['maxRssMiB'] as number)} MiB`);
    add(`ADORE epoch (500k queries = 15,625 steps), ${e}`, 'time', `${n(((a['step'] as number) * 15625) / 3600, 1)} h`, 'projected: 15,625 × measured step');
  }
  process.stdout.write(`${rows.join('\n')}\n`);
}

async function adoreChild(ds: string, corpus: string, engine: string, indexFile: string, steps: number, factory: string): Promise<void> {
  const { loadTrainData } = await import('../src/train/data.ts');
  const { adoreStep } = await import('../src/train/adore.ts');
  const { DenseSearcher } = await import('../src/retrieval/search.ts');
  const { loadIndex } = await import('../src/retrieval/ann.ts');
  const { createModel } = await import('../src/models/index.ts');
  const { AdamW } = await import('../src/optim/adamw.ts');
  const { readEmbeddingsManifest } = await import('../src/retrieval/embeddings.ts');
  const data = loadTrainData({ data: ds, split: 'train', minRel: 1 });
  const tok = data.dataset.manifest.tokenizer;
  // roberta-base's shape: the query encoder DRhard trains with ADORE.
  const model = createModel(
    { modelType: 'roberta', vocabSize: tok.vocabSize, padTokenId: tok.padId, maxPositionEmbeddings: 66, hiddenSize: 768, numHiddenLayers: 12, numAttentionHeads: 12, intermediateSize: 3072 },
    { seed: 1 },
  );
  model.train();
  const opt = new AdamW(model.namedParameters(), { lr: 5e-6 });
  const m = readEmbeddingsManifest(corpus);
  const t0 = performance.now();
  // The dataset is a fraction of the corpus the embeddings stand for; its positives are offsets below its size, so
  // they index the 8.8M rows too. (drhard train checks count equality; this bench pairs them on purpose.)
  const searcher =
    engine === 'ann' && fs.existsSync(indexFile)
      ? DenseSearcher.fromFaiss(loadIndex(indexFile, { embeddings: corpus }).index, { file: corpus })
      : DenseSearcher.fromFile(corpus, { maxMemoryBytes: 8 * 2 ** 30, ...(engine === 'ann' ? { index: factory } : engine === 'sharded' ? { engine: 'fp32' as const } : {}) });
  const openSeconds = (performance.now() - t0) / 1000;
  const idx = { searcher, identity: { file: corpus, sha256: m.sha256, count: m.count, dim: m.dim } };
  const acc = { step: 0, encode: 0, search: 0, loss: 0, optim: 0 };
  for (let s = 0; s < steps; s++) {
    const queries = Array.from({ length: 32 }, (_, i) => data.queryRows[(s * 32 + i) % data.queryRows.length] as number);
    const a = performance.now();
    const r = adoreStep(model, data, queries, idx, { maxQueryLength: 32, padToMax: false, device: 'cpu', negTopk: 200, metricCut: 200, appendMissingPositives: true });
    const b = performance.now();
    opt.step();
    model.zeroGrad();
    const c = performance.now();
    process.stderr.write(`step ${s}: ${((c - a) / 1000).toFixed(2)} s (encode ${r.tEncode.toFixed(2)}, search ${r.tSearch.toFixed(2)}, loss ${r.tLoss.toFixed(2)}, optim ${((c - b) / 1000).toFixed(2)}), loss ${r.loss.toFixed(4)}\n`);
    // The first step warms allocators and caches; it is reported on stderr, not averaged (unless it is the only one).
    if (s === 0 && steps > 1) continue;
    acc.step += (c - a) / 1000;
    acc.encode += r.tEncode;
    acc.search += r.tSearch;
    acc.loss += r.tLoss;
    acc.optim += (c - b) / 1000;
  }
  const k = steps > 1 ? steps - 1 : 1;
  process.stdout.write(
    `${JSON.stringify({ engine, factory: engine === 'ann' ? factory : null, mode: searcher.mode, shards: searcher.shards, steps: k, openSeconds, step: acc.step / k, encode: acc.encode / k, search: acc.search / k, loss: acc.loss / k, optim: acc.optim / k })}\n`,
  );
  searcher.dispose();
}
