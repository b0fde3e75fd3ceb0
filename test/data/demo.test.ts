// Demo data: the builder's dedup/drop/split rules on a small apt Translation file, and the shipped data/demo's integrity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { buildDemoData } from '../../src/data/demo.ts';
import { readQrels } from '../../src/data/trec.ts';

const long = (s: string): string => ` ${s} and enough further words to pass the trivial filter here`;
const TRANSLATION = [
  'Package: alpha',
  'Description-md5: 00000000000000000000000000000001',
  'Description-en: first synopsis of alpha',
  long('Alpha does things.'),
  ' .',
  ' Second paragraph   with  spaces.',
  '',
  'Package: alpha-dev',
  'Description-md5: 00000000000000000000000000000002',
  'Description-en: development files for alpha',
  long('Alpha does things.'),
  ' .',
  ' Second paragraph   with  spaces.',
  '',
  'Package: beta',
  'Description-md5: 00000000000000000000000000000003',
  'Description-en: first synopsis of alpha',
  long('Beta is different.'),
  '',
  'Package: tiny',
  'Description-md5: 00000000000000000000000000000004',
  'Description-en: too short to keep',
  ' Short.',
  '',
  'Package: gamma',
  'Description-md5: 00000000000000000000000000000005',
  'Description-en: gamma',
  long('Gamma has a one-word synopsis.'),
  '',
  ...Array.from({ length: 6 }, (_, i) => [`Package: p${i}`, 'Description-en: plain package number synopsis ' + i, long(`Package ${i} text.`), ''].join('\n')),
].join('\n');

test('builder: identical descriptions merge, shared synopses relate to all docs, trivial and one-word dropped, seeded split', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-demo-'));
  try {
    const src = path.join(dir, 'x_i18n_Translation-en.gz');
    fs.writeFileSync(src, zlib.gzipSync(TRANSLATION));
    const out = path.join(dir, 'demo');
    const s = await buildDemoData({ out, sources: [src], devQueries: 2, seed: 7 });
    assert.equal(s.packages, 11);
    assert.equal(s.trivial, 1);
    assert.equal(s.duplicatePackages, 1, 'alpha-dev has alpha’s description');
    assert.equal(s.documents, 9);
    assert.equal(s.queries.dropped.short, 1);
    assert.equal(s.queries.train + s.queries.dev, 8);
    assert.equal(s.queries.dev, 2);
    const docs = zlib.gunzipSync(fs.readFileSync(path.join(out, 'collection.tsv.gz'))).toString('utf8').trimEnd().split('\n');
    assert.equal(docs.length, 9);
    assert.ok(docs[0]!.startsWith('0\tAlpha does things. and enough'));
    assert.ok(docs[0]!.endsWith('Second paragraph with spaces.'), 'paragraph marks dropped, spaces normalized');
    const queries = new Map<string, string>();
    for (const f of ['queries.train.tsv.gz', 'queries.dev.tsv.gz']) {
      for (const l of zlib.gunzipSync(fs.readFileSync(path.join(out, f))).toString('utf8').trimEnd().split('\n')) {
        const [qid, text] = l.split('\t');
        queries.set(text!, qid!);
      }
    }
    const qrels = new Map([...readQrels(path.join(out, 'qrels.train.tsv')), ...readQrels(path.join(out, 'qrels.dev.tsv'))]);
    const shared = qrels.get(queries.get('first synopsis of alpha')!)!;
    assert.deepEqual([...shared.keys()].sort(), ['0', '1'], 'alpha and beta docs');
    assert.equal(qrels.get(queries.get('development files for alpha')!)!.size, 1);
    // Same seed → same files; another seed → another split.
    const again = await buildDemoData({ out: path.join(dir, 'again'), sources: [src], devQueries: 2, seed: 7 });
    assert.deepEqual(again.files, s.files);
    const other = await buildDemoData({ out: path.join(dir, 'other'), sources: [src], devQueries: 2, seed: 8 });
    assert.notEqual(other.files['queries.dev.tsv.gz']!.sha256, s.files['queries.dev.tsv.gz']!.sha256);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('shipped data/demo: counts match its README, qrels point at existing ids, splits are disjoint', () => {
  const dir = path.join(import.meta.dirname, '..', '..', 'data', 'demo');
  const readme = fs.readFileSync(path.join(dir, 'README.md'), 'utf8');
  const count = (label: string): number => Number(new RegExp(`\\| ${label} \\| ([\\d,]+) \\|`).exec(readme)![1]!.replace(/,/g, ''));
  const lines = (f: string): string[] => {
    const buf = fs.readFileSync(path.join(dir, f));
    return (f.endsWith('.gz') ? zlib.gunzipSync(buf) : buf).toString('utf8').trimEnd().split('\n');
  };
  const pids = new Set(lines('collection.tsv.gz').map((l) => l.slice(0, l.indexOf('\t'))));
  assert.equal(pids.size, count('documents'));
  assert.ok(pids.size > 50_000);
  const seen = new Set<string>();
  for (const split of ['train', 'dev']) {
    const qids = lines(`queries.${split}.tsv.gz`).map((l) => l.split('\t')[0]!);
    const here = new Set(qids);
    assert.equal(qids.length, count(`${split} queries`));
    for (const q of qids) {
      assert.ok(!seen.has(q), `qid ${q} in two splits`);
      seen.add(q);
    }
    const qr = readQrels(path.join(dir, `qrels.${split}.tsv`));
    let judgments = 0;
    for (const [q, docs] of qr) {
      assert.ok(here.has(q), `qrels qid ${q} not in queries.${split}`);
      for (const d of docs.keys()) assert.ok(pids.has(d), `qrels pid ${d} not in collection`);
      judgments += docs.size;
    }
    assert.equal(qr.size, qids.length, 'every query has judgments');
    assert.equal(judgments, count(`${split} judgments`));
  }
});
