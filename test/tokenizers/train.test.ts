// trainTokenizer: vocabulary size and layout, special-token ids, and that the result encodes any text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadTokenizer, trainTokenizer } from '../../src/tokenizers/index.ts';

const base = [
  'This package provides the runtime library for the toolkit.',
  'Development files and headers for building programs that use the library.',
  'A fast, secure and flexible command-line tool to transfer data with URLs.',
  'Documentation for the package, in HTML and plain text formats.',
  'The quick brown fox jumps over the lazy dog while the programs run.',
];
const texts: string[] = [];
for (let i = 0; i < 200; i++) texts.push(`${base[i % base.length]} Variant ${i % 13} of text number ${i}.`);

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-train-'));
}

test('BPE: RoBERTa layout, exact vocab size, byte fallback for unseen characters', async () => {
  const dir = tmpDir();
  try {
    const tok = await trainTokenizer(texts, { kind: 'bpe', vocabSize: 300, outDir: dir });
    assert.ok(fs.existsSync(path.join(dir, 'tokenizer.json')));
    assert.equal(tok.vocabSize, 300);
    assert.deepEqual([tok.clsId, tok.padId, tok.sepId], [0, 1, 2]);
    assert.equal(tok.tokenToId('<mask>'), 299);
    const ids = await tok.encode('The PACKAGE provides ünïcode 😀 text', 64);
    assert.equal(ids[0], 0);
    assert.equal(ids[ids.length - 1], 2);
    assert.ok(Array.from(ids).every((i) => i >= 0 && i < 300));
    // Lowercased, and every byte is representable so decoding gives the text back.
    assert.equal((await tok.decode(ids)).trim(), 'the package provides ünïcode 😀 text');
    // Merges were learned: a frequent word takes fewer tokens than its bytes.
    assert.ok((await tok.encode('package', 64)).length < 'package'.length + 2);
    // Reloading the written file gives the same ids.
    const again = await loadTokenizer(dir);
    assert.deepEqual(Array.from(await again.encode('programs use the library', 64)), Array.from(await tok.encode('programs use the library', 64)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('WordPiece: BERT layout, exact vocab size, [UNK] for unseen characters', async () => {
  const dir = tmpDir();
  try {
    const tok = await trainTokenizer(texts, { kind: 'wordpiece', vocabSize: 120, outDir: dir });
    assert.equal(tok.vocabSize, 120);
    assert.deepEqual([tok.padId, tok.clsId, tok.sepId], [0, 2, 3]);
    const ids = Array.from(await tok.encode('The Library 😀', 64));
    assert.equal(ids[0], 2);
    assert.equal(ids[ids.length - 1], 3);
    assert.ok(ids.includes(1), 'emoji is [UNK]');
    assert.ok(ids.every((i) => i >= 0 && i < 120));
    const larger = await trainTokenizer(texts, { kind: 'wordpiece', vocabSize: 300, outDir: dir });
    assert.ok((await larger.encode('documentation', 64)).length <= (await tok.encode('documentation', 64)).length);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('vocabSize out of range is a usage error', async () => {
  await assert.rejects(trainTokenizer(texts, { kind: 'bpe', vocabSize: 100, outDir: '/nonexistent' }), /vocabSize/);
  await assert.rejects(trainTokenizer(texts, { kind: 'wordpiece', vocabSize: 40_000, outDir: '/nonexistent' }), /vocabSize/);
});
