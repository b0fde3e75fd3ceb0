// Writes an MS MARCO-shaped synthetic passage dataset (src/data/synth.ts) that `drhard preprocess --input DIR` reads
// as real data; optionally a synthetic float32 embeddings file for the same passages. Prints the file sizes.
// Run: node --import tsx scripts/gen-msmarco.ts DIR [--passages N] [--train N] [--dev N] [--seed S] [--embeddings FILE --dim D]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MSMARCO_PASSAGE, demoHeadWords, writeSynthMsmarco, writeSyntheticEmbeddings } from '../src/data/synth.ts';

const argv = process.argv.slice(2);
const dir = argv[0];
if (dir === undefined || dir.startsWith('--')) {
  process.stderr.write('usage: gen-msmarco.ts DIR [--passages N] [--train N] [--dev N] [--seed S] [--embeddings FILE --dim D]\n');
  process.exit(2);
}
function opt(name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}
function num(name: string, dflt: number): number {
  const v = opt(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    process.stderr.write(`--${name}: expected a non-negative integer, got ${JSON.stringify(v)}\n`);
    process.exit(2);
  }
  return n;
}
const spec = {
  ...MSMARCO_PASSAGE,
  passages: num('passages', MSMARCO_PASSAGE.passages),
  trainQueries: num('train', MSMARCO_PASSAGE.trainQueries),
  devQueries: num('dev', MSMARCO_PASSAGE.devQueries),
  seed: num('seed', MSMARCO_PASSAGE.seed),
};
const t0 = performance.now();
let last = 0;
const files = writeSynthMsmarco(dir, spec, demoHeadWords(path.join(import.meta.dirname, '..')), (what, done, total) => {
  const now = performance.now();
  if (now - last > 5000 || done === total) {
    last = now;
    process.stderr.write(`${what}: ${done}/${total} (${((now - t0) / 1000).toFixed(0)} s)\n`);
  }
});
const textSeconds = (performance.now() - t0) / 1000;
const out: Record<string, unknown> = { spec, textSeconds: Number(textSeconds.toFixed(1)) };
for (const [k, f] of Object.entries(files)) out[k] = { file: f, bytes: fs.statSync(f).size };
const emb = opt('embeddings');
if (emb !== undefined) {
  const t1 = performance.now();
  const dim = num('dim', 768);
  writeSyntheticEmbeddings(emb, spec.passages, dim, spec.seed, (done, total) => {
    const now = performance.now();
    if (now - last > 10000 || done === total) {
      last = now;
      process.stderr.write(`embeddings: ${done}/${total} rows (${((now - t1) / 1000).toFixed(0)} s)\n`);
    }
  });
  out['embeddings'] = { file: emb, dim, bytes: fs.statSync(emb).size, seconds: Number(((performance.now() - t1) / 1000).toFixed(1)) };
}
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
