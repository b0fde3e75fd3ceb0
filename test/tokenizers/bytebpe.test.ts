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

/** The first n passages of the bundled demo corpus. */
const demoTexts = (n: number): string[] => {
  const demo = zlib.gunzipSync(fs.readFileSync(path.join(ROOT, 'data', 'demo', 'collection.tsv.gz'))).toString('utf8');
  return demo.split('\n').filter((l) => l.length > 0).slice(0, n).map((l) => l.slice(l.indexOf('\t') + 1));
};

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
  const texts = demoTexts(3000);
  const fast = await loadTokenizer(FIX, { compat28: true });
  const slow = await loadTokenizer(FIX, { compat28: true, fastBpe: false });
  const a = await fast.encodeBatch(texts, 512);
  same(a, await slow.encodeBatch(texts, 512), texts, 'demo corpus');
  // Guards against two empty results agreeing.
  assert.ok(a.ids.length > texts.length * 10);
});

/**
 * Preprocesses 1,500 demo passages plus 500 seeded adversarial texts (tabs and newlines are field/record separators
 * in the TSV: spaces stand in) with the JavaScript BPE off, on in-process and on in 2 workers: every file written is
 * the same (the manifest's creation time aside).
 */
async function assertPreprocessSameWithFastBpe(tokenizer: { tokenizer: string; compat28?: boolean }, seed: number): Promise<void> {
  const { preprocessMsmarco } = await import('../../src/data/index.ts');
  const { createLogger } = await import('../../src/util/log.ts');
  const { rng, tag } = seededRng(seed);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-bytebpe-'));
  const texts = [...demoTexts(1500), ...randomTexts(500, rng).map((t) => t.replace(/[\t\n\r]/g, ' ').trim() || 'x')];
  const collection = path.join(dir, 'collection.tsv');
  fs.writeFileSync(collection, texts.map((t, i) => `${i * 2 + 1}\t${t}\n`).join(''));
  const outputs: Array<Map<string, Buffer>> = [];
  for (const [fastBpe, threads] of [[false, 0], [true, 0], [true, 2]] as const) {
    const out = path.join(dir, `ds-${fastBpe}-${threads}`);
    await preprocessMsmarco({ collection, splits: [], out, ...tokenizer, fastBpe, threads, progress: false, log: createLogger({ level: 'silent' }), chunkBytes: 1 << 16 });
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
}

test('preprocess output is byte-identical with and without the JavaScript BPE (worker threads and in-process)', async () => {
  await assertPreprocessSameWithFastBpe({ tokenizer: FIX, compat28: true }, 1516);
});

// The from-scratch path: a tokenizer.json written by `drhard tokenizer train`'s code, encoded without compat28.

const EDGE_TEXTS = [
  '',
  ' ',
  '   ',
  '\t',
  '\n\n',
  ' leading space',
  'trailing space ',
  '  two leading and two trailing  ',
  'multiple    spaces   inside',
  'tabs\tand\nnewlines\r\nmixed \t \n end',
  "it's they're we've I'm you'll he'd don't IT'S THEY'RE",
  "quotes '' ' 's 're",
  '!!!??? ... --- ,,, ;;; (((x))) [a] {b} @#$%^&*',
  'digits 0 12 2024 3.14159 1,000,000 x9y8 A1',
  'MiXeD CaSe WoRdS',
  'a'.repeat(300),
  'abc '.repeat(400),
  '\x01\x02 controls \x7f',
  'café naïve',
  '中文 text',
  'emoji 😀 here',
  'em—dash',
  'specials <s> and </s> and <mask> and <pad> <unk>',
  'upper <S> and <MASK>',
  'a<mask>b',
  '<',
  '</',
];

async function trainedDir(lowercase: boolean): Promise<string> {
  const { trainTokenizer } = await import('../../src/tokenizers/index.ts');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-bytebpe-train-'));
  await trainTokenizer(demoTexts(2000), { kind: 'bpe', vocabSize: 2000, outDir: dir, lowercase });
  return dir;
}

for (const lowercase of [false, true]) {
  test(`trained BPE (lowercase ${lowercase}): JavaScript path gives the library ids on the demo corpus, edge and random texts`, async () => {
    const { rng, tag } = seededRng(1517);
    const dir = await trainedDir(lowercase);
    const fast = await loadTokenizer(dir);
    const slow = await loadTokenizer(dir, { fastBpe: false });
    assert.ok(fast.fastBpeActive && !slow.fastBpeActive, 'the fast path must be the one under test');
    const texts = [...EDGE_TEXTS, ...demoTexts(3000), ...randomTexts(3000, rng)];
    for (const max of [512, 16, 2]) {
      const before = fast.fastBpeTexts;
      const a = await fast.encodeBatch(texts, max);
      same(a, await slow.encodeBatch(texts, max), texts, `${tag}, max ${max}`);
      // Pure-ASCII texts without an added token's text went through JavaScript; the others fell back.
      const eligible = texts.filter((t) => !/[^\x00-\x7f]/.test(t) && !/<\/?(s|pad|unk|mask)>/i.test(t)).length;
      assert.equal(fast.fastBpeTexts - before, eligible, `texts on the fast path (max ${max})`);
      assert.equal(slow.fastBpeTexts, 0);
      if (max === 512) assert.ok(a.ids.length > texts.length * 5, 'ids written');
      if (max === 16) assert.ok(a.cut.some((c) => c === 1), 'some texts truncated');
    }
    // One at a time too (encode, not only batches).
    for (const t of EDGE_TEXTS) assert.deepEqual(Array.from(await fast.encode(t, 64)), Array.from(await slow.encode(t, 64)), JSON.stringify(t));
    fs.rmSync(dir, { recursive: true });
  });
}

test('RoBERTa-style tokenizer (vocab.json + merges.txt) without compat28: JavaScript path gives the library ids', async () => {
  const { rng, tag } = seededRng(1518);
  const fast = await loadTokenizer(FIX);
  const slow = await loadTokenizer(FIX, { fastBpe: false });
  assert.ok(fast.fastBpeActive && !slow.fastBpeActive);
  const texts = [...EDGE_TEXTS, ...demoTexts(1000), ...randomTexts(2000, rng)];
  for (const max of [512, 8]) same(await fast.encodeBatch(texts, max), await slow.encodeBatch(texts, max), texts, `${tag}, max ${max}`);
  assert.ok(fast.fastBpeTexts > texts.length, 'the fast path was taken');
});

test('tokenizer.json stages the JavaScript BPE does not reproduce leave it off, and ids still match the library', async () => {
  const { robertaBpeJson } = await import('../../src/tokenizers/spec.ts');
  const vocab = JSON.parse(fs.readFileSync(path.join(FIX, 'vocab.json'), 'utf8')) as Record<string, number>;
  const { parseMergesTxt } = await import('../../src/tokenizers/spec.ts');
  const merges = parseMergesTxt(fs.readFileSync(path.join(FIX, 'merges.txt'), 'utf8'), 'merges.txt');
  const base = robertaBpeJson(vocab, merges);
  const variants: Array<[string, boolean, (j: typeof base) => void]> = [
    ['as is', true, () => {}],
    ['add_prefix_space', true, (j) => (j.pre_tokenizer = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true })],
    ['NFKC + Lowercase', true, (j) => (j.normalizer = { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }] })],
    ['no post-processor', true, (j) => (j.post_processor = null)],
    ['Strip normalizer', false, (j) => (j.normalizer = { type: 'Strip', strip_left: true, strip_right: true })],
    ['Replace normalizer', false, (j) => (j.normalizer = { type: 'Replace', pattern: { String: 'a' }, content: 'b' })],
    ['use_regex false', false, (j) => (j.pre_tokenizer = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false })],
    ['Whitespace pre-tokenizer', false, (j) => (j.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] })],
    ['dropout', false, (j) => (j.model['dropout'] = 0.5)],
    ['end_of_word_suffix', false, (j) => (j.model['end_of_word_suffix'] = '</w>')],
    ['non-special added token', false, (j) => j.added_tokens.push({ id: 5, content: 'ab', single_word: false, lstrip: false, rstrip: false, normalized: true, special: false })],
    ['template repeating $A', false, (j) => (j.post_processor = { type: 'TemplateProcessing', single: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], pair: [], special_tokens: {} })],
  ];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-bytebpe-variants-'));
  const texts = [...EDGE_TEXTS, ...demoTexts(200)];
  for (const [name, eligible, change] of variants) {
    const j = structuredClone(base);
    change(j);
    const file = path.join(dir, `${name.replace(/\W+/g, '_')}.json`);
    fs.writeFileSync(file, JSON.stringify(j));
    const fast = await loadTokenizer(file);
    assert.equal(fast.fastBpeActive, eligible, name);
    const slow = await loadTokenizer(file, { fastBpe: false });
    if (eligible) same(await fast.encodeBatch(texts, 64), await slow.encodeBatch(texts, 64), texts, name);
  }
  fs.rmSync(dir, { recursive: true });
});

test('preprocess with a trained tokenizer (no compat28) is byte-identical with and without the JavaScript BPE', async () => {
  const tokDir = await trainedDir(true);
  await assertPreprocessSameWithFastBpe({ tokenizer: tokDir }, 1519);
  fs.rmSync(tokDir, { recursive: true });
});
