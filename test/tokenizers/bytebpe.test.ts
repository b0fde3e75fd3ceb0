// The JavaScript ASCII byte-level BPE (src/tokenizers/bytebpe.ts) against the tokenizers library it stands in for:
// identical packed ids, cut flags and lengths for adversarial ASCII (quotes, whitespace runs, controls, repeats that
// exercise stale merges), mixed ASCII/non-ASCII batches, and the demo corpus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { loadTokenizer, type PackedIds } from '../../src/tokenizers/index.ts';
import { seededRng } from '../helpers/seed.ts';

const FIX = path.join(import.meta.dirname, '..', 'fixtures', 'tokenizers', 'roberta-tiny');
const ROOT = path.join(import.meta.dirname, '..', '..');

function randomTexts(n: number, rng: { int(n: number): number }): string[] {
  const atoms = [' ', '  ', '\t', '\n', '\r\n', '\x0b', '\x0c', '\x01', '\x7f', "'", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "''", '!', '?!', '.', ',', '-', '--', '<', '>', '</', 'a', 'aa', 'aaaa', 'the', 'The', 'THE', 'ing', 'tion', 'abcabc', 'lll', '0', '12', '2024', '3.5', 'x9', 'é', '—', '中文', '😀', 'Σ'];
  return Array.from({ length: n }, () => {
    let s = '';
    const k = 1 + rng.int(12);
    for (let i = 0; i < k; i++) s += atoms[rng.int(atoms.length)];
    return s.trim().length === 0 ? `${s}x` : s;
  });
}

function same(a: PackedIds, b: PackedIds, texts: string[], tag: string): void {
  assert.deepEqual(Array.from(a.lengths), Array.from(b.lengths), tag);
  assert.deepEqual(Array.from(a.cut), Array.from(b.cut), tag);
  let o = 0;
  texts.forEach((t, i) => {
    const n = a.lengths[i]!;
    assert.deepEqual(Array.from(a.ids.subarray(o, o + n)), Array.from(b.ids.subarray(o, o + n)), `${JSON.stringify(t)} (${tag})`);
    o += n;
  });
}

test('compat28: JavaScript ASCII BPE gives the tokenizers library ids on adversarial text', async () => {
  const { rng, tag } = seededRng(1515);
  const fast = await loadTokenizer(FIX, { compat28: true });
  const slow = await loadTokenizer(FIX, { compat28: true, fastBpe: false });
  assert.ok(fast.fastBpeActive && !slow.fastBpeActive, 'the fast path must be the one under test');
  const texts = randomTexts(3000, rng);
  // Both ASCII-only and mixed texts: the fast path must hand the non-ASCII ones back without reordering.
  assert.ok(texts.some((t) => /[^\x00-\x7f]/.test(t)) && texts.some((t) => !/[^\x00-\x7f]/.test(t)));
  for (const max of [512, 8]) same(await fast.encodeBatch(texts, max), await slow.encodeBatch(texts, max), texts, `${tag}, max ${max}`);
});

test('compat28: JavaScript ASCII BPE gives the tokenizers library ids on the demo corpus', async () => {
  const demo = zlib.gunzipSync(fs.readFileSync(path.join(ROOT, 'data', 'demo', 'collection.tsv.gz'))).toString('utf8');
  const texts = demo.split('\n').filter((l) => l.length > 0).slice(0, 3000).map((l) => l.slice(l.indexOf('\t') + 1));
  const fast = await loadTokenizer(FIX, { compat28: true });
  const slow = await loadTokenizer(FIX, { compat28: true, fastBpe: false });
  const a = await fast.encodeBatch(texts, 512);
  same(a, await slow.encodeBatch(texts, 512), texts, 'demo corpus');
  // Guards against two empty results agreeing.
  assert.ok(a.ids.length > texts.length * 10);
});

test('preprocess output is byte-identical with and without the JavaScript BPE (worker threads and in-process)', async () => {
  const { preprocessMsmarco } = await import('../../src/data/index.ts');
  const { createLogger } = await import('../../src/util/log.ts');
  const { rng, tag } = seededRng(1516);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-bytebpe-'));
  const demo = zlib.gunzipSync(fs.readFileSync(path.join(ROOT, 'data', 'demo', 'collection.tsv.gz'))).toString('utf8');
  const lines = demo.split('\n').filter((l) => l.length > 0).slice(0, 1500).map((l) => l.slice(l.indexOf('\t') + 1));
  // Plus adversarial texts (tabs and newlines are field/record separators in the TSV: spaces stand in).
  const texts = [...lines, ...randomTexts(500, rng).map((t) => t.replace(/[\t\n\r]/g, ' ').trim() || 'x')];
  const collection = path.join(dir, 'collection.tsv');
  fs.writeFileSync(collection, texts.map((t, i) => `${i * 2 + 1}\t${t}\n`).join(''));
  const outputs: Array<Map<string, Buffer>> = [];
  for (const [fastBpe, threads] of [[false, 0], [true, 0], [true, 2]] as const) {
    const out = path.join(dir, `ds-${fastBpe}-${threads}`);
    await preprocessMsmarco({ collection, splits: [], out, tokenizer: FIX, compat28: true, fastBpe, threads, progress: false, log: createLogger({ level: 'silent' }), chunkBytes: 1 << 16 });
    const files = new Map<string, Buffer>();
    for (const f of fs.readdirSync(out, { recursive: true }) as string[]) {
      const p = path.join(out, f);
      if (fs.statSync(p).isFile()) files.set(f, f === 'manifest.json' ? Buffer.from(fs.readFileSync(p, 'utf8').replace(/"createdAt":\s*"[^"]*"/, '')) : fs.readFileSync(p));
    }
    outputs.push(files);
  }
  const [ref, ...rest] = outputs as [Map<string, Buffer>, ...Array<Map<string, Buffer>>];
  assert.ok((ref.get('corpus.tokens.i32')?.length ?? 0) > texts.length * 4 * 10, 'tokens written');
  for (const o of rest) {
    assert.deepEqual([...o.keys()].sort(), [...ref.keys()].sort());
    for (const [f, b] of ref) assert.ok(b.equals(o.get(f)!), `${f} differs (${tag})`);
  }
  fs.rmSync(dir, { recursive: true });
});
