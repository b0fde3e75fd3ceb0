// Preprocess throughput: a synthetic MS MARCO-sized collection (1M passages of ~60 words) → passages/s and peak RSS.
// Usage: node --import tsx bench/preprocess.ts [--passages N] [--words W] [--threads T] [--no-compat28 | --scratch] [--no-fast-bpe] [--keep DIR]
//   --scratch: the from-scratch path (`drhard tokenizer train` defaults: lowercased 30k byte-level BPE, no compat28).
//   --no-fast-bpe: every text through the tokenizers library (the JavaScript ASCII BPE off), for before/after.
// Targets (issue 4): ≥ 10,000 passages/s on 2 cores, peak RSS < 1.5 GB. Prints numbers, never fails on them.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { peakRssBytes } from './rss.ts';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const ROOT = path.join(import.meta.dirname, '..');

// Child mode: preprocess only, so its peak RSS is not mixed with data generation or tokenizer training.
if (process.argv[2] === '--child') {
  const [collection, tokDir, out, threads, compat, fastBpe] = process.argv.slice(3) as [string, string, string, string, string, string];
  const { preprocessMsmarco } = await import('../src/data/index.ts');
  const { createLogger } = await import('../src/util/log.ts');
  const t0 = performance.now();
  const r = await preprocessMsmarco({
    collection,
    splits: [],
    out,
    tokenizer: tokDir,
    compat28: compat === '1',
    fastBpe: fastBpe === '1',
    maxDocLength: 512,
    threads: Number(threads),
    overwrite: true,
    progress: false,
    log: createLogger({ level: 'warn' }),
  });
  const seconds = (performance.now() - t0) / 1000;
  // Peak RSS and CPU time cover the worker threads and the tokenizer's native threads (one process).
  const u = process.resourceUsage();
  const cpuSeconds = (u.userCPUTime + u.systemCPUTime) / 1e6;
  process.stdout.write(`${JSON.stringify({ seconds, cpuSeconds, docs: r.manifest.corpus.count, tokens: r.manifest.corpus.tokens, maxRssMiB: peakRssBytes() / 2 ** 20 })}\n`);
  process.exit(0);
}

const N = arg('passages', process.argv.includes('--quick') ? 20_000 : 1_000_000); // --quick: npm run bench
const WORDS = arg('words', 60);
const THREADS = arg('threads', Math.min(2, os.availableParallelism()));
const SCRATCH = process.argv.includes('--scratch');
const COMPAT = !process.argv.includes('--no-compat28') && !SCRATCH;
const FAST = !process.argv.includes('--no-fast-bpe');
const keepIdx = process.argv.indexOf('--keep');
const dir = keepIdx >= 0 ? (process.argv[keepIdx + 1] as string) : fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-bench-pre-'));
fs.mkdirSync(dir, { recursive: true });

// Words with their natural frequencies: the demo corpus's running text, sampled uniformly by position.
const demo = zlib.gunzipSync(fs.readFileSync(path.join(ROOT, 'data', 'demo', 'collection.tsv.gz'))).toString('utf8');
const texts = demo.split('\n').filter((l) => l.length > 0).map((l) => l.slice(l.indexOf('\t') + 1));
const words = texts.join(' ').split(' ');

// compat28 lowercases by itself; the from-scratch tokenizer lowercases in its normalizer, as `tokenizer train` does.
const tokDir = path.join(dir, SCRATCH ? 'tokenizer-scratch' : 'tokenizer');
if (!fs.existsSync(path.join(tokDir, 'tokenizer.json'))) {
  const { trainTokenizer } = await import('../src/tokenizers/index.ts');
  const t0 = performance.now();
  // A RoBERTa-sized byte-level BPE so per-token costs are realistic.
  await trainTokenizer(texts, { kind: 'bpe', vocabSize: 30_000, outDir: tokDir, lowercase: SCRATCH });
  process.stderr.write(`trained a 30k BPE tokenizer on the demo corpus in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}

const collection = path.join(dir, `collection-${N}x${WORDS}.tsv`);
if (!fs.existsSync(collection)) {
  const t0 = performance.now();
  const fd = fs.openSync(`${collection}.tmp`, 'w');
  let s = 12345;
  const rnd = (): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 4294967296;
  };
  let parts: string[] = [];
  // Sparse, shuffled pids as in MS MARCO-like data with holes.
  for (let i = 0; i < N; i++) {
    const n = WORDS - 10 + Math.floor(rnd() * 21);
    const w: string[] = [];
    for (let k = 0; k < n; k++) w.push(words[Math.floor(rnd() * words.length)] as string);
    parts.push(`${i * 3 + 1}\t${w.join(' ')}\n`);
    if (parts.length === 10_000) {
      fs.writeSync(fd, parts.join(''));
      parts = [];
    }
  }
  if (parts.length > 0) fs.writeSync(fd, parts.join(''));
  fs.closeSync(fd);
  fs.renameSync(`${collection}.tmp`, collection);
  process.stderr.write(`generated ${N} passages in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}
const bytes = fs.statSync(collection).size;

const out = path.join(dir, 'dataset');
const child = spawnSync(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--child', collection, tokDir, out, String(THREADS), COMPAT ? '1' : '0', FAST ? '1' : '0'], {
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'inherit'],
  maxBuffer: 1 << 20,
});
if (child.status !== 0) {
  process.stderr.write(`preprocess failed (exit ${child.status})\n`);
  process.exit(1);
}
const r = JSON.parse(child.stdout.trim().split('\n').pop() as string) as { seconds: number; cpuSeconds: number; docs: number; tokens: number; maxRssMiB: number };
const rate = r.docs / r.seconds;
const fmt = (x: number, d = 0): string => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
process.stdout.write(
  [
    `preprocess bench: ${fmt(r.docs)} passages (~${WORDS} words, ${fmt(bytes / 1e6, 1)} MB), ${THREADS} worker thread(s), ${COMPAT ? 'compat28 RoBERTa' : SCRATCH ? 'from-scratch (lowercased)' : 'plain'} BPE 30k, JavaScript ASCII BPE ${FAST ? 'on' : 'off'}, cores ${os.availableParallelism()}, load avg ${os.loadavg()[0]!.toFixed(2)}`,
    `  time        ${fmt(r.seconds, 1)} s`,
    `  throughput  ${fmt(rate)} passages/s   (target >= 10,000: ${rate >= 10_000 ? 'met' : 'NOT met'})`,
    `  tokens      ${fmt(r.tokens / r.docs, 1)} per passage, ${fmt(r.tokens / r.seconds / 1e6, 2)} M tokens/s`,
    // The machine may be shared: CPU time shows what the work costs whatever else is running.
    `  cpu time    ${fmt(r.cpuSeconds, 1)} s = ${fmt(r.docs / r.cpuSeconds)} passages per CPU-second (${THREADS} cores fully ours: ~${fmt((THREADS * r.docs) / r.cpuSeconds)} passages/s)`,
    `  peak RSS    ${fmt(r.maxRssMiB)} MiB   (target < 1,536 MiB: ${r.maxRssMiB < 1536 ? 'met' : 'NOT met'})`,
    '',
  ].join('\n'),
);
if (keepIdx < 0) fs.rmSync(dir, { recursive: true, force: true });
