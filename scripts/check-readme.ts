// Runs the README's user-guide commands as written (each fenced `drhard …` line, with only size-shrinking flags
// appended, which override the README's because the last value of a flag wins) on a small generated MS MARCO-format
// corpus, in README order. The PLAN below lists every command the user guide holds; test/scripts/readme.test.ts
// fails when the README and the PLAN differ, so an edited README cannot go unchecked.
// Usage: node --import tsx scripts/check-readme.ts [--keep]   (about 5–15 minutes on 2 cores)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The `drhard …` commands of the README's user guide (from "## User guide" to the next "## "), in order. */
export function readmeCommands(readme: string): string[] {
  const start = readme.indexOf('\n## User guide');
  const end = readme.indexOf('\n## ', start + 1);
  const guide = readme.slice(start, end < 0 ? undefined : end);
  const out: string[] = [];
  for (const block of guide.matchAll(/```bash\n([\s\S]*?)```/g)) {
    const joined = block[1]!.replace(/\\\n\s*/g, '');
    for (const raw of joined.split('\n')) {
      const line = raw.replace(/\s+#\s.*$/, '').trim();
      if (line.startsWith('drhard ')) out.push(line);
    }
  }
  return out;
}

/** One step: a README command as written (+ flags that only shrink it), or a setup command the README assumes. */
export interface Step {
  /** Working directory under the check's temp dir: each section its own, as a user would. */
  dir: 'repro' | 'scratch';
  readme?: string;
  extra?: string;
  setup?: string;
}

const TINY_TRAIN = '--batch-size 16 --max-steps 4 --max-query-length 16 --max-doc-length 48 --no-progress';
const CPU = '--device cpu';

export const PLAN: Step[] = [
  // Reproducing DRhard on MS MARCO passage: roberta-base/ is a small BPE tokenizer fixture, warmup/ a fresh model.
  { dir: 'repro', setup: `cp -r ${ROOT}/test/fixtures/tokenizers/roberta-tiny roberta-base` },
  { dir: 'repro', setup: 'drhard init-model --tokenizer roberta-base --out-dir warmup --hidden-size 32 --layers 1 --heads 2 --max-length 48 > /dev/null' },
  { dir: 'repro', readme: 'drhard preprocess --input msmarco --out-dir data/passage --tokenizer roberta-base --compat28 --max-doc-length 256 --max-query-length 32', extra: '--max-doc-length 48 --max-query-length 16' },
  { dir: 'repro', readme: 'drhard mine --data data/passage --split train --model warmup/ --topk 200 --out hard.jsonl --device cuda', extra: `${CPU} --topk 20 --no-progress` },
  { dir: 'repro', readme: 'drhard train --method star --data data/passage --init warmup/ --negatives hard.jsonl --out-dir star --max-query-length 24 --max-doc-length 120 --device cuda', extra: `${CPU} ${TINY_TRAIN}` },
  { dir: 'repro', readme: 'drhard encode --model star/model --data data/passage --split corpus --out star/corpus.f32 --device cuda', extra: `${CPU} --no-progress` },
  { dir: 'repro', readme: 'drhard train --method adore --data data/passage --init star/model --doc-embeddings star/corpus.f32 --metric-cut 200 --out-dir adore --device cuda', extra: `${CPU} --metric-cut 20 --neg-topk 20 ${TINY_TRAIN}` },
  { dir: 'repro', readme: 'drhard encode --model adore/model --data data/passage --split dev --out adore/dev.f32', extra: '--no-progress' },
  { dir: 'repro', readme: 'drhard search --query-embeddings adore/dev.f32 --doc-embeddings star/corpus.f32 --topk 100 --data data/passage --split dev --out dev.trec' },
  { dir: 'repro', readme: 'drhard evaluate --qrels msmarco/qrels.dev.small.tsv --run dev.trec' },
  // Training from scratch on your own corpus.
  { dir: 'scratch', readme: 'drhard tokenizer train --input msmarco/collection.tsv msmarco/queries.train.tsv --out-dir tok', extra: '--vocab-size 1000' },
  { dir: 'scratch', readme: 'drhard preprocess --input msmarco --out-dir data/passage --tokenizer tok --max-doc-length 128 --max-query-length 32', extra: '--max-doc-length 48 --max-query-length 16' },
  { dir: 'scratch', readme: 'drhard init-model --tokenizer tok --out-dir scratch --max-length 128', extra: '--max-length 48 --hidden-size 32 --layers 1 --heads 2' },
  { dir: 'scratch', readme: 'drhard pretrain --data data/passage --init scratch --out-dir pretrained --batch-size 128', extra: TINY_TRAIN },
  { dir: 'scratch', readme: 'drhard train --method inbatch --data data/passage --init pretrained/model --out-dir warmup --batch-size 128', extra: TINY_TRAIN },
  { dir: 'scratch', readme: 'drhard mine --data data/passage --split train --model warmup/model --topk 100 --out hard.bin', extra: '--topk 20 --max-query-length 16 --max-doc-length 48 --no-progress' },
  { dir: 'scratch', readme: 'drhard train --method star --data data/passage --init warmup/model --negatives hard.bin --out-dir star --batch-size 128 --lr 5e-4', extra: TINY_TRAIN },
  { dir: 'scratch', readme: 'drhard encode --model star/model --data data/passage --split corpus --out star/corpus.f32', extra: '--max-length 48 --no-progress' },
  { dir: 'scratch', readme: 'drhard train --method adore --data data/passage --init star/model --doc-embeddings star/corpus.f32 --out-dir adore --metric-cut 100 --neg-topk 100', extra: `--metric-cut 20 --neg-topk 20 ${TINY_TRAIN}` },
  { dir: 'scratch', readme: 'drhard search --model star/model --doc-embeddings star/corpus.f32 --query "what is a dense retriever" --data data/passage' },
  // Hybrid retrieval: the dev and held-out training runs it fuses, from the models trained above.
  { dir: 'scratch', setup: 'drhard encode --model adore/model --data data/passage --split dev --out adore/dev.f32 --no-progress > /dev/null' },
  { dir: 'scratch', setup: 'drhard encode --model adore/model --data data/passage --split train --out adore/train.f32 --no-progress > /dev/null' },
  { dir: 'scratch', setup: 'drhard search --query-embeddings adore/dev.f32 --doc-embeddings star/corpus.f32 --data data/passage --split dev --out dev.dense.trec' },
  { dir: 'scratch', setup: 'drhard bm25 --data data/passage --split dev --out dev.bm25.trec' },
  { dir: 'scratch', setup: 'drhard search --query-embeddings adore/train.f32 --doc-embeddings star/corpus.f32 --data data/passage --split train --out heldout.dense.trec' },
  { dir: 'scratch', setup: 'drhard bm25 --data data/passage --split train --out heldout.bm25.trec' },
  { dir: 'scratch', setup: 'cp msmarco/qrels.train.tsv heldout.qrels' },
  { dir: 'scratch', readme: 'drhard fuse dev.dense.trec dev.bm25.trec --out dev.rrf.trec' },
  { dir: 'scratch', readme: 'drhard fuse dev.dense.trec dev.bm25.trec --method interpolate --alpha 0.3 --out dev.hybrid.trec' },
  { dir: 'scratch', readme: 'drhard fuse dev.dense.trec dev.bm25.trec --method interpolate --tune-qrels heldout.qrels --tune-runs heldout.dense.trec,heldout.bm25.trec --report fuse.json --out dev.hybrid.trec' },
  { dir: 'scratch', readme: 'drhard evaluate --qrels msmarco/qrels.dev.small.tsv --run dev.hybrid.trec' },
  // Serving: the MS MARCO section's models (repro/), started in the background, asked as the README's curl lines ask, stopped.
  {
    dir: 'repro',
    readme: 'drhard serve --data data/passage --collection msmarco/collection.tsv --bm25 --model adore/model --doc-embeddings star/corpus.f32 --name adore --model star/model --doc-embeddings star/corpus.f32 --name star',
    extra: [
      '> serve.url & p=$!; for i in $(seq 600); do [ -s serve.url ] && break; sleep 0.1; done',
      `curl -sf localhost:8080/v1/search -H 'content-type: application/json' -d '{"query": "w1 w2", "k": 5, "mode": "hybrid", "model": "adore", "text": true}' | grep -q '"hits"'`,
      'curl -sf localhost:8080/metrics | grep -q "^drhard_"; kill -TERM $p; wait $p',
    ].join('; '),
  },
  // The published checkpoints: star_model/ stands in for one (a RoBERTa directory with the tokenizer files added).
  { dir: 'repro', setup: 'drhard init-model --tokenizer roberta-base --out-dir star_model --hidden-size 32 --layers 1 --heads 2 --max-length 48 > /dev/null' },
  { dir: 'repro', setup: 'cut -f2 msmarco/queries.dev.small.tsv | head -5 > queries.txt' },
  { dir: 'repro', readme: 'drhard embed --model star_model/ --text queries.txt' },
  { dir: 'repro', readme: 'drhard encode --model star_model/ --data data/passage --split corpus --out star.f32', extra: '--no-progress' },
];

/** A small MS MARCO passage layout: collection.tsv, queries/qrels for train and dev.small (seeded, deterministic). */
function writeCorpus(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  let s = 7;
  const r = (n: number): number => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % n;
  };
  const words = Array.from({ length: 300 }, (_, i) => `w${i.toString(36)}${'x'.repeat(r(3))}`);
  const docs = Array.from({ length: 400 }, () => Array.from({ length: 20 + r(20) }, () => words[r(words.length)]!));
  fs.writeFileSync(path.join(dir, 'collection.tsv'), docs.map((d, i) => `${i}\t${d.join(' ')}\n`).join(''));
  for (const [split, base, n] of [['train', 0, 300], ['dev.small', 300, 60]] as const) {
    const q: string[] = [];
    const qr: string[] = [];
    for (let i = 0; i < n; i++) {
      const d = docs[base + i]!;
      q.push(`${base + i}\t${[0, 1, 2].map(() => d[r(d.length)]).join(' ')}\n`);
      qr.push(`${base + i}\t0\t${base + i}\t1\n`);
    }
    fs.writeFileSync(path.join(dir, `queries.${split}.tsv`), q.join(''));
    fs.writeFileSync(path.join(dir, `qrels.${split}.tsv`), qr.join(''));
  }
}

function main(): void {
  const missing = readmeCommands(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')).filter((c) => !PLAN.some((p) => p.readme === c));
  if (missing.length > 0) throw new Error(`README commands missing from the PLAN in scripts/check-readme.ts:\n  ${missing.join('\n  ')}`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-readme-'));
  const bin = path.join(work, 'bin');
  fs.mkdirSync(bin);
  // `drhard` on PATH, as after the Quickstart's `npm link`, but this checkout's.
  fs.writeFileSync(path.join(bin, 'drhard'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(ROOT, 'bin', 'drhard.js'))} "$@"\n`, { mode: 0o755 });
  for (const d of ['repro', 'scratch']) writeCorpus(path.join(work, d, 'msmarco'));
  const env = { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}`, DRHARD_LOG_LEVEL: process.env['DRHARD_LOG_LEVEL'] ?? 'warn' };
  const t0 = performance.now();
  try {
    for (const [i, step] of PLAN.entries()) {
      const cmd = step.readme !== undefined ? `${step.readme}${step.extra ? ` ${step.extra}` : ''}` : step.setup!;
      process.stderr.write(`[${i + 1}/${PLAN.length}] ${step.dir}$ ${cmd}\n`);
      const r = spawnSync('bash', ['-euo', 'pipefail', '-c', cmd], { cwd: path.join(work, step.dir), env, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
      const out = r.stdout.trim();
      const lines = out === '' ? [] : out.split('\n');
      for (const l of lines.slice(0, 8)) process.stderr.write(`  ${l.length > 160 ? `${l.slice(0, 160)}…` : l}\n`);
      if (lines.length > 8) process.stderr.write(`  … (${lines.length} lines)\n`);
      if (r.status !== 0) throw new Error(`step ${i + 1} failed (exit ${r.status}): ${cmd}`);
    }
  } finally {
    if (process.argv.includes('--keep')) process.stderr.write(`kept ${work}\n`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
  const n = PLAN.filter((p) => p.readme !== undefined).length;
  process.stdout.write(`check-readme: ok, ${n} README commands run as written in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
