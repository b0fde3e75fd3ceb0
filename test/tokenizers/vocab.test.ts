// Min-frequency replay (pair counts at merge time), corpus format detection, and findTokenizerDir/copyTokenizerFiles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  PreTokenCounter,
  bpeMergesAbove,
  copyTokenizerFiles,
  detectCorpusFormat,
  findTokenizerDir,
  trainTokenizerWithReport,
  wordPieceTokensAbove,
} from '../../src/tokenizers/index.ts';
import { MergeReplay, bytesToUnicode } from '../../src/tokenizers/vocab.ts';
import { Rng } from '../../src/util/rng.ts';

const FIX = path.join(import.meta.dirname, '..', 'fixtures', 'tokenizers');

test('MergeReplay: pair counts at merge time, weighted by word frequency, overlapping pairs left to right', () => {
  const sim = new MergeReplay([
    [['a', 'b', 'a', 'b'], 3],
    [['a', 'b', 'c'], 2],
    [['a', 'a', 'a'], 1],
  ]);
  assert.equal(sim.count('a', 'b'), 3 * 2 + 2);
  assert.equal(sim.count('b', 'a'), 3);
  assert.equal(sim.count('a', 'a'), 2);
  assert.equal(sim.merge('a', 'b', 'ab'), 8);
  assert.equal(sim.count('a', 'b'), 0);
  assert.equal(sim.count('b', 'a'), 0);
  assert.equal(sim.count('ab', 'ab'), 3);
  assert.equal(sim.count('ab', 'c'), 2);
  // "a a a" merges once (left to right), leaving "aa a".
  assert.equal(sim.merge('a', 'a', 'aa'), 2);
  assert.equal(sim.count('aa', 'a'), 1);
  assert.equal(sim.count('a', 'a'), 0);
  assert.equal(sim.merge('ab', 'c', 'abc'), 2);
  assert.equal(sim.count('x', 'y'), 0);
});

test('bpeMergesAbove / wordPieceTokensAbove cut at the first token below the threshold', () => {
  const t = bytesToUnicode();
  const counts = new Map([
    ['low', 5],
    ['lower', 2],
    ['newest', 1],
  ]);
  const merges: Array<[string, string]> = [
    ['l', 'o'],
    ['lo', 'w'],
    ['e', 'r'],
    ['n', 'e'],
  ];
  assert.equal(t['l'.charCodeAt(0)], 'l');
  assert.equal(bpeMergesAbove(counts, merges, 0), 4);
  assert.equal(bpeMergesAbove(counts, merges, 2), 3);
  assert.equal(bpeMergesAbove(counts, merges, 3), 2);
  assert.equal(bpeMergesAbove(counts, merges, 8), 0);
  // WordPiece: alphabet entries are always kept; merged pieces are found by their split.
  const order = ['l', 'o', 'w', 'e', 'r', 'n', 's', 't', '##o', '##w', '##e', '##r', '##s', '##t', 'lo', 'low', '##er', 'ne'];
  assert.equal(wordPieceTokensAbove(counts, order, 1), order.length);
  assert.equal(wordPieceTokensAbove(counts, order, 2), order.length - 1);
  assert.equal(wordPieceTokensAbove(counts, order, 7), order.indexOf('##er'));
  assert.equal(wordPieceTokensAbove(counts, order, 8), order.indexOf('lo'));
});

test('the replayed counts of a trained tokenizer never rise: the replay sees what the trainer saw', async () => {
  const rng = new Rng(5);
  const letters = 'abcdefghijklmnopqrstuvwxyzéü';
  const vocab = Array.from({ length: 80 }, () => Array.from({ length: 2 + rng.int(8) }, () => letters[rng.int(letters.length)]).join(''));
  const texts = Array.from({ length: 400 }, () => Array.from({ length: 4 + rng.int(12) }, () => (rng.int(5) === 0 ? vocab[rng.int(vocab.length)]!.toUpperCase() : vocab[rng.int(vocab.length)])).join(rng.int(9) === 0 ? ', ' : ' '));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-replay-'));
  try {
    for (const kind of ['bpe', 'wordpiece'] as const) {
      const { report } = await trainTokenizerWithReport(texts, { kind, vocabSize: 30_000, outDir: dir, minFrequency: 0 });
      const json = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')) as { model: { merges?: Array<[string, string]>; vocab: Record<string, number> } };
      const counter = new PreTokenCounter(kind, true);
      for (const t of texts) counter.add(t);
      if (kind === 'bpe') {
        const merges = json.model.merges!;
        const enc = new TextEncoder();
        const tbl = bytesToUnicode();
        const sim = new MergeReplay([...counter.counts].map(([w, f]) => [Array.from(enc.encode(w), (b) => tbl[b]!), f] as const));
        let prev = Infinity;
        for (const [a, b] of merges) {
          const c = sim.merge(a, b, a + b);
          assert.ok(c >= 1 && c <= prev, `${kind}: merge ${a} ${b} counted ${c} after ${prev}`);
          prev = c;
        }
        assert.equal(bpeMergesAbove(counter.counts, merges, 1), merges.length);
      } else {
        const order = Object.entries(json.model.vocab).sort((x, y) => x[1] - y[1]).map(([k]) => k).slice(5);
        assert.equal(wordPieceTokensAbove(counter.counts, order, 1), order.length, 'every learned piece has a pair in the replay');
      }
      assert.ok(report.learned > 50, `${kind}: learned ${report.learned}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('detectCorpusFormat: by name first, then by the first line', () => {
  assert.equal(detectCorpusFormat('a/corpus.jsonl.gz', 'x'), 'jsonl');
  assert.equal(detectCorpusFormat('queries.json', undefined), 'jsonl');
  assert.equal(detectCorpusFormat('collection.tsv', 'no tab'), 'tsv');
  assert.equal(detectCorpusFormat('x.txt', '1\ttext'), 'text');
  assert.equal(detectCorpusFormat('x', '{"_id": "1", "text": "t"}'), 'jsonl');
  assert.equal(detectCorpusFormat('x.gz', 'D12\tsome text'), 'tsv');
  assert.equal(detectCorpusFormat('x', 'two words\tthen tab'), 'text');
  assert.equal(detectCorpusFormat('x', '{not json'), 'text');
  assert.equal(detectCorpusFormat('x', 'plain'), 'text');
});

test('findTokenizerDir and copyTokenizerFiles: model, file and dataset candidates; stale files removed', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-tokfiles-'));
  try {
    const rob = path.join(FIX, 'roberta-tiny');
    const bert = path.join(FIX, 'bert-tiny');
    assert.equal(findTokenizerDir([undefined, null, path.join(dir, 'missing'), dir, rob, bert]), rob);
    // A model's config.json is not a tokenizer.json.
    fs.writeFileSync(path.join(dir, 'config.json'), '{"model_type": "roberta"}');
    assert.equal(findTokenizerDir([path.join(dir, 'config.json')]), undefined);
    const target = path.join(dir, 'model');
    assert.deepEqual(copyTokenizerFiles(rob, target).sort(), ['merges.txt', 'vocab.json']);
    assert.ok(fs.readFileSync(path.join(target, 'vocab.json')).equals(fs.readFileSync(path.join(rob, 'vocab.json'))));
    // Copying another tokenizer over it removes the first one's files.
    assert.deepEqual(copyTokenizerFiles(bert, target), ['vocab.txt']);
    assert.deepEqual(fs.readdirSync(target).sort(), ['vocab.txt']);
    assert.deepEqual(copyTokenizerFiles(target, target), ['vocab.txt'], 'onto itself: nothing to do');
    // A tokenizer.json file is copied as tokenizer.json.
    const tj = path.join(dir, 'my-tok.json');
    fs.writeFileSync(tj, JSON.stringify({ model: { type: 'BPE', vocab: {}, merges: [] } }));
    assert.equal(findTokenizerDir([path.join(dir, 'config.json'), tj]), tj);
    assert.deepEqual(copyTokenizerFiles(tj, target), ['tokenizer.json']);
    assert.deepEqual(fs.readdirSync(target).sort(), ['tokenizer.json']);
    assert.throws(() => copyTokenizerFiles(path.join(dir, 'nothing'), target), new RegExp(`${path.join(dir, 'nothing')}: no tokenizer here`));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
