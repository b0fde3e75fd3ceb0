// `drhard tokenizer train`: every input format (plain text, TSV, BEIR JSON lines, gzipped) trains the same tokenizer
// from the same texts; the derived default vocabulary size and min-frequency; bad input exits non-zero naming the file.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { defaultVocabSize, loadTokenizer } from '../../src/tokenizers/index.ts';
import { Rng } from '../../src/util/rng.ts';

const ROOT = path.join(import.meta.dirname, '..', '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-tokcli-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, DRHARD_LOG_LEVEL: 'info', DRHARD_NUM_THREADS: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Summary {
  out: string;
  kind: string;
  vocabSize: number;
  requestedVocabSize: number;
  vocabSizeDerived: boolean;
  minFrequency: number;
  texts: number;
  words: number;
  distinctWords: number | null;
  inputs: Array<{ file: string; format: string; texts: number }>;
}

// 300 texts over 150 invented words (enough repetition for a few hundred merges), each with one word of its own
// (whose merges occur once: what --min-frequency 2 cuts).
const rng = new Rng(11);
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const word = (n: number): string => Array.from({ length: n }, () => LETTERS[rng.int(26)]).join('');
const words = Array.from({ length: 150 }, () => word(3 + rng.int(6)));
const texts = Array.from({ length: 300 }, () => [...Array.from({ length: 6 + rng.int(10) }, () => words[rng.int(words.length)]), word(9)].join(' '));
const textsWords = texts.reduce((n, t) => n + t.split(' ').length, 0);

const files = {
  txt: path.join(dir, 'corpus.txt'),
  tsv: path.join(dir, 'collection.tsv'),
  tsvGz: path.join(dir, 'collection.tsv.gz'),
  jsonl: path.join(dir, 'corpus.jsonl'),
  jsonlGz: path.join(dir, 'corpus.jsonl.gz'),
  sniffed: path.join(dir, 'queries-no-extension'),
};
fs.writeFileSync(files.txt, `${texts.join('\n')}\n\n`);
const tsv = texts.map((t, i) => `D${1000 + i}\t${t}\n`).join('');
fs.writeFileSync(files.tsv, tsv);
fs.writeFileSync(files.tsvGz, zlib.gzipSync(tsv));
fs.writeFileSync(files.sniffed, tsv);
// BEIR: the first word as the title, the rest as the text (title + ' ' + text is the same line).
const jsonl = texts
  .map((t, i) => {
    const sp = t.indexOf(' ');
    return `${JSON.stringify({ _id: `doc${i}`, title: t.slice(0, sp), text: t.slice(sp + 1), metadata: {} })}\n`;
  })
  .join('');
fs.writeFileSync(files.jsonl, jsonl);
fs.writeFileSync(files.jsonlGz, zlib.gzipSync(jsonl));

function train(name: string, args: string[]): { summary: Summary; out: string; stderr: string } {
  const out = path.join(dir, name);
  const r = cli(['tokenizer', 'train', '--out-dir', out, ...args]);
  assert.equal(r.code, 0, r.stderr);
  return { summary: JSON.parse(r.stdout) as Summary, out, stderr: r.stderr };
}

test('every input format gives the same BPE tokenizer from the same texts; exact vocabulary size; it encodes', async () => {
  const cases: Array<[keyof typeof files, string]> = [
    ['txt', 'text'],
    ['tsv', 'tsv'],
    ['tsvGz', 'tsv'],
    ['jsonl', 'jsonl'],
    ['jsonlGz', 'jsonl'],
    ['sniffed', 'tsv'],
  ];
  let reference: Buffer | undefined;
  for (const [key, format] of cases) {
    const { summary, out } = train(`bpe-${key}`, ['--input', files[key], '--vocab-size', '400']);
    assert.equal(summary.vocabSize, 400, key);
    assert.equal(summary.texts, texts.length, key);
    assert.equal(summary.words, textsWords, key);
    assert.deepEqual(summary.inputs.map((i) => [i.format, i.texts]), [[format, texts.length]], key);
    assert.deepEqual(fs.readdirSync(out), ['tokenizer.json'], key);
    const bytes = fs.readFileSync(path.join(out, 'tokenizer.json'));
    reference ??= bytes;
    assert.ok(bytes.equals(reference), `${key}: the tokenizer differs from the plain-text one (ids or titles leaked in?)`);
    const tok = await loadTokenizer(out);
    assert.equal(tok.vocabSize, 400);
    assert.deepEqual([tok.clsId, tok.padId, tok.sepId], [0, 1, 2]);
    const ids = Array.from(await tok.encode(`${texts[0]} Ünseen ✓`, 128));
    assert.equal(ids[0], 0);
    assert.equal(ids.at(-1), 2);
    assert.ok(ids.every((i) => i >= 0 && i < 400), key);
    // Learned merges: a corpus word takes fewer tokens than its bytes.
    const w = words[0] as string;
    assert.ok((await tok.encode(` ${w}`, 64)).length - 2 < w.length + 1, key);
    assert.equal((await tok.decode(await tok.encode(texts[1] as string, 512))).trim(), texts[1]);
  }
});

test('several inputs at once; WordPiece layout with --kind wordpiece', async () => {
  const { summary, out } = train('wp', ['--input', files.txt, files.jsonlGz, '--kind', 'wordpiece', '--vocab-size', '300', '--min-frequency', '0']);
  assert.equal(summary.kind, 'wordpiece');
  assert.equal(summary.texts, 2 * texts.length);
  assert.deepEqual(summary.inputs.map((i) => i.format), ['text', 'jsonl']);
  const tok = await loadTokenizer(out);
  assert.equal(tok.vocabSize, 300);
  assert.deepEqual([tok.padId, tok.clsId, tok.sepId], [0, 2, 3]);
  const ids = Array.from(await tok.encode(texts[2] as string, 128));
  assert.equal(ids[0], 2);
  assert.equal(ids.at(-1), 3);
  assert.ok(!ids.includes(1), 'no [UNK] for text of the corpus');
});

test('default vocabulary size is derived from the corpus and logged; --min-frequency trims to what the corpus supports', async () => {
  const { summary, stderr } = train('derived', ['--input', files.tsv]);
  assert.equal(summary.vocabSizeDerived, true);
  assert.equal(summary.requestedVocabSize, defaultVocabSize(textsWords));
  assert.equal(summary.requestedVocabSize, 4096, 'a small corpus gets the floor');
  assert.match(stderr, /vocabulary size 4096 derived from \d+ words/);
  assert.equal(summary.minFrequency, 2);
  assert.ok(summary.distinctWords !== null && summary.distinctWords >= words.length);
  // 150 distinct words cannot support 4096 tokens that each occur twice.
  assert.ok(summary.vocabSize < 4096 && summary.vocabSize > 261, String(summary.vocabSize));
  assert.match(stderr, /the corpus supports \d+ tokens \(min frequency 2\)/);
  // A higher threshold keeps fewer tokens; 0 keeps whatever the trainer learned (up to the size asked for).
  const strict = train('derived-strict', ['--input', files.tsv, '--min-frequency', '20']).summary;
  const off = train('derived-off', ['--input', files.tsv, '--min-frequency', '0']).summary;
  assert.ok(strict.vocabSize < summary.vocabSize, `${strict.vocabSize} < ${summary.vocabSize}`);
  assert.ok(off.vocabSize > summary.vocabSize, `${off.vocabSize} > ${summary.vocabSize}`);
});

test('default sizes: 8192 at 5M words, BERT-size 30000 for large corpora, 4096 floor', () => {
  assert.equal(defaultVocabSize(5_000_000), 8192);
  assert.equal(defaultVocabSize(20_000_000), 16384);
  assert.equal(defaultVocabSize(500_000_000), 30_000);
  assert.equal(defaultVocabSize(1_000_000), 4096);
  assert.equal(defaultVocabSize(0), 4096);
  for (const n of [1e5, 2e6, 7e6, 3e7, 1e8]) assert.equal(defaultVocabSize(n) % 256 === 0 || defaultVocabSize(n) === 30_000, true);
});

test('bad input exits non-zero naming the file or flag, and writes nothing', () => {
  const empty = path.join(dir, 'empty.txt');
  fs.writeFileSync(empty, '\n  \n');
  const badJson = path.join(dir, 'bad.jsonl');
  fs.writeFileSync(badJson, '{"_id": "1", "text": "fine"}\n{"_id": "2", "text": \n');
  const noText = path.join(dir, 'notext.jsonl');
  fs.writeFileSync(noText, '{"_id": "1", "title": "t"}\n');
  const noTab = path.join(dir, 'notab.tsv');
  fs.writeFileSync(noTab, '1\tfine\nno tab here\n');
  const corrupt = path.join(dir, 'corrupt.tsv.gz');
  fs.writeFileSync(corrupt, zlib.gzipSync(tsv).subarray(0, 200));
  const missing = path.join(dir, 'missing.txt');
  const out = path.join(dir, 'never');
  const cases: Array<[string[], number, RegExp]> = [
    [['--input', empty], 1, new RegExp(`${empty}: no non-empty text`)],
    [['--input', files.txt, missing], 1, new RegExp(`${missing}: input file not found`)],
    [['--input', badJson], 1, new RegExp(`${badJson}:2: not valid JSON`)],
    [['--input', noText], 1, new RegExp(`${noText}:1: text: expected a string "text" field`)],
    [['--input', noTab], 1, new RegExp(`${noTab}:2: expected id<TAB>text`)],
    [['--input', corrupt], 1, new RegExp(`${corrupt}: cannot read \\(gzip\\)`)],
    [['--input', files.txt, '--vocab-size', '0'], 2, /--vocab-size: must be a positive integer/],
    [['--input', files.txt, '--vocab-size', '100'], 2, /--vocab-size: must be in \[261, 30000\] for bpe/],
    [['--input', files.txt, '--vocab-size', '40000'], 2, /--vocab-size: must be in/],
    [['--input', files.txt, '--kind', 'unigram'], 2, /--kind/],
    [['--input', files.txt, '--min-frequency', '-1'], 2, /--min-frequency/],
  ];
  for (const [args, code, msg] of cases) {
    const r = cli(['tokenizer', 'train', '--out-dir', out, ...args]);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg, args.join(' '));
    assert.ok(!fs.existsSync(out), `${args.join(' ')}: wrote output`);
  }
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('.')), [], 'no temp directory left');
  // An existing output needs --overwrite, and --overwrite never replaces a directory with other files.
  const existing = path.join(dir, 'bpe-txt');
  assert.equal(cli(['tokenizer', 'train', '--input', files.txt, '--out-dir', existing, '--vocab-size', '300']).code, 2);
  const r = cli(['tokenizer', 'train', '--input', files.txt, '--out-dir', existing, '--vocab-size', '300', '--overwrite']);
  assert.equal(r.code, 0, r.stderr);
  const model = path.join(dir, 'model-like');
  fs.mkdirSync(model);
  fs.writeFileSync(path.join(model, 'config.json'), '{}');
  const r2 = cli(['tokenizer', 'train', '--input', files.txt, '--out-dir', model, '--overwrite']);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /refusing to overwrite .*config\.json/);
  assert.ok(fs.existsSync(path.join(model, 'config.json')));
});
