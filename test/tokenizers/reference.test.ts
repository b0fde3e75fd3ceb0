// Token ids from the tokenizers binding vs an independent Python implementation (scripts/fixtures/tok_make_fixtures.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadTokenizer, type DrTokenizer } from '../../src/tokenizers/index.ts';

const FIX = path.join(import.meta.dirname, '..', 'fixtures', 'tokenizers');

interface Case {
  text: string;
  maxLength: number;
  roberta: number[];
  compat28: number[];
  bert: number[];
}
const { cases } = JSON.parse(fs.readFileSync(path.join(FIX, 'cases.json'), 'utf8')) as { cases: Case[] };

async function check(tok: DrTokenizer, key: 'roberta' | 'compat28' | 'bert'): Promise<void> {
  const failures: string[] = [];
  for (const c of cases) {
    const got = Array.from(await tok.encode(c.text, c.maxLength));
    if (JSON.stringify(got) !== JSON.stringify(c[key])) {
      failures.push(`${JSON.stringify(c.text)} max=${c.maxLength}\n  want ${JSON.stringify(c[key])}\n  got  ${JSON.stringify(got)}`);
    }
  }
  assert.equal(failures.length, 0, `${key}: ${failures.length} mismatches\n${failures.join('\n')}`);
}

test('fixture covers the tricky inputs', () => {
  assert.ok(cases.length >= 40);
  assert.ok(cases.some((c) => c.text.includes('<sep>')));
  assert.ok(cases.some((c) => c.text.startsWith('  ') && c.text.endsWith(' ')));
  assert.ok(cases.some((c) => c.text.includes('\n')));
  // The compat mode must really differ from the modern pipeline on these texts, or the test proves nothing.
  assert.ok(cases.filter((c) => JSON.stringify(c.roberta) !== JSON.stringify(c.compat28)).length > cases.length / 2);
});

test('RoBERTa BPE from vocab.json + merges.txt matches the reference', async () => {
  const tok = await loadTokenizer(path.join(FIX, 'roberta-tiny'));
  assert.equal(tok.info.format, 'vocab.json+merges.txt');
  assert.equal(tok.clsId, 0);
  assert.equal(tok.padId, 1);
  assert.equal(tok.sepId, 2);
  await check(tok, 'roberta');
});

test('transformers-2.8 compat mode matches the reference', async () => {
  const tok = await loadTokenizer(path.join(FIX, 'roberta-tiny'), { compat28: true });
  assert.equal(tok.info.compat28, true);
  await check(tok, 'compat28');
});

test('BERT WordPiece from vocab.txt matches the reference', async () => {
  const tok = await loadTokenizer(path.join(FIX, 'bert-tiny'));
  assert.equal(tok.info.format, 'vocab.txt');
  assert.equal(tok.info.lowercase, true);
  assert.deepEqual([tok.padId, tok.clsId, tok.sepId], [0, 2, 3]);
  await check(tok, 'bert');
});

test('a tokenizer.json saved from the same model gives the same ids', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-tok-'));
  try {
    const { robertaBpeJson, parseMergesTxt } = await import('../../src/tokenizers/spec.ts');
    const vocab = JSON.parse(fs.readFileSync(path.join(FIX, 'roberta-tiny', 'vocab.json'), 'utf8')) as Record<string, number>;
    const merges = parseMergesTxt(fs.readFileSync(path.join(FIX, 'roberta-tiny', 'merges.txt'), 'utf8'), 'merges.txt');
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(robertaBpeJson(vocab, merges)));
    const tok = await loadTokenizer(dir);
    assert.equal(tok.info.format, 'tokenizer.json');
    await check(tok, 'roberta');
    const tok28 = await loadTokenizer(dir, { compat28: true });
    await check(tok28, 'compat28');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('encodeBatch packs the same ids as one-by-one encode', async () => {
  for (const opts of [{}, { compat28: true }]) {
    const tok = await loadTokenizer(path.join(FIX, 'roberta-tiny'), opts);
    const texts = cases.map((c) => c.text);
    const packed = await tok.encodeBatch(texts, 8);
    let o = 0;
    for (let i = 0; i < texts.length; i++) {
      const one = await tok.encode(texts[i] as string, 8);
      const n = packed.lengths[i] as number;
      assert.deepEqual(Array.from(packed.ids.subarray(o, o + n)), Array.from(one));
      o += n;
    }
    assert.equal(o, packed.ids.length);
  }
});
