// Training data: negatives in every accepted format load to the same lists; bad lines and short lists are refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadTrainData, readNegativesFile, type Csr } from '../../src/train/data.ts';
import { checkNegatives } from '../../src/train/star.ts';
import { writeNegatives } from '../../src/retrieval/negatives.ts';
import { DrhardInputError } from '../../src/util/errors.ts';
import { makeDataset, type SyntheticData } from './helpers.ts';

let d: SyntheticData;
before(async () => {
  d = await makeDataset({ train: 16, dev: 4, docs: 60 });
});
after(() => fs.rmSync(d.dir, { recursive: true, force: true }));

const rows = (c: Csr): number[][] => Array.from({ length: c.rows }, (_, i) => Array.from(c.row(i)));

test('negatives from `qid docid` lines, drhard mine JSONL/binary, DRhard hard.json and a TREC run agree', () => {
  const data = loadTrainData({ data: d.data, split: 'train', minRel: 1, negatives: d.negatives });
  try {
    const ref = data.negatives!;
    assert.ok(ref.size(data.queryRows[0]!) > 0);
    const qs = data.queryRows;
    const start = new Float64Array(qs.length + 1);
    qs.forEach((q, i) => (start[i + 1] = start[i]! + ref.size(q)));
    const n = { qoffsets: Int32Array.from(qs), start, docs: Int32Array.from(Array.from(qs, (q) => Array.from(ref.row(q))).flat()) };
    const files: Record<string, string> = {};
    for (const f of ['jsonl', 'bin'] as const) {
      files[f] = path.join(d.dir, `neg.${f}`);
      writeNegatives(files[f]!, n, f);
    }
    files['hard.json'] = path.join(d.dir, 'hard.json');
    fs.writeFileSync(files['hard.json']!, JSON.stringify(Object.fromEntries(Array.from(qs, (q) => [String(q), Array.from(ref.row(q))]))));
    const docIds = data.dataset.docIds();
    files['trec'] = path.join(d.dir, 'neg.trec');
    fs.writeFileSync(files['trec']!, Array.from(qs, (q) => Array.from(ref.row(q), (x, r) => `${data.queryId(q)} Q0 ${docIds[x]} ${r + 1} ${-r} bm25\n`).join('')).join(''));
    for (const [name, file] of Object.entries(files)) assert.deepEqual(rows(readNegativesFile(file, data.dataset, 'train')), rows(ref), name);
  } finally {
    data.dataset.close();
  }
});

test('unknown ids name file:line; lists shorter than --hard-num are refused before training', () => {
  const data = loadTrainData({ data: d.data, split: 'train', minRel: 1 });
  try {
    const bad = path.join(d.dir, 'bad.tsv');
    fs.writeFileSync(bad, '1\t1000\n1\tnope\n');
    assert.throws(() => readNegativesFile(bad, data.dataset, 'train'), (e: unknown) => e instanceof DrhardInputError && e.message.startsWith(`${bad}:2: docid:`));
    fs.writeFileSync(bad, '999999\t1000\n');
    assert.throws(() => readNegativesFile(bad, data.dataset, 'train'), /bad\.tsv:1: qid: query "999999" is not in split "train"/);
    fs.writeFileSync(bad, '1\t1001\t1\n1\t1002\t2\n');
    const withShort = { ...data, negatives: readNegativesFile(bad, data.dataset, 'train') };
    assert.throws(() => checkNegatives(withShort, 1, bad), /15 training queries have fewer than 1 negatives/);
  } finally {
    data.dataset.close();
  }
});
