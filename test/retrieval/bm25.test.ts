// BM25: scores and rankings against an independent Python implementation (committed fixture), CSR invariants,
// ties by lower offset, batch search, and a real preprocessed store against a brute-force reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Bm25Index, bm25Idf } from '../../src/retrieval/bm25.ts';
import { openDataset } from '../../src/data/index.ts';
import { makeDataset, memoryStore, tmpDir } from './helpers.ts';
import { seededRng } from '../helpers/seed.ts';

interface Fixture { k1: number; b: number; special: number[]; avgdl: number; docs: number[][]; queries: number[][]; scores: number[][]; top10: number[][] }
const FIX = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'retrieval', 'bm25.json'), 'utf8')) as Fixture;

test('scores match the Python reference to 1e-12; top-10 lists (ties by lower offset) match exactly', () => {
  const ix = Bm25Index.build(memoryStore(FIX.docs), { k1: FIX.k1, b: FIX.b, ignore: FIX.special });
  assert.ok(Math.abs(ix.avgdl - FIX.avgdl) < 1e-12);
  FIX.queries.forEach((q, i) => {
    const all = ix.scoreAll(q);
    const ref = FIX.scores[i] as number[];
    for (let d = 0; d < ref.length; d++) assert.ok(Math.abs((all[d] as number) - (ref[d] as number)) <= 1e-12 * Math.max(1, ref[d] as number), `q${i} d${d}: ${all[d]} vs ${ref[d]}`);
    const top = ix.search(q, 10);
    const want = FIX.top10[i] as number[];
    assert.deepEqual(Array.from(top.ids.subarray(0, want.length)), want, `query ${i}`);
    assert.ok(top.ids.subarray(want.length).every((x) => x === -1));
    want.forEach((d, j) => assert.ok(Math.abs((top.scores[j] as number) - (ref[d] as number)) <= 1e-12 * (ref[d] as number)));
  });
  // The fixture must contain ties for this test to mean anything.
  assert.ok(FIX.top10.some((t, i) => t.some((d, j) => j > 0 && FIX.scores[i]![d] === FIX.scores[i]![t[j - 1]!])));
});

test('CSR invariants: postings sorted by doc, df/tf from the rows, special tokens never indexed', () => {
  const ix = Bm25Index.build(memoryStore(FIX.docs), { ignore: FIX.special });
  for (const t of FIX.special) assert.equal(ix.df(t), 0);
  let total = 0;
  for (let t = 0; t < ix.vocab; t++) {
    const s = ix.start[t]!;
    const e = ix.start[t + 1]!;
    for (let p = s + 1; p < e; p++) assert.ok(ix.docs[p - 1]! < ix.docs[p]!);
    for (let p = s; p < e; p++) {
      const d = ix.docs[p]!;
      assert.equal(ix.tfs[p], FIX.docs[d]!.filter((x) => x === t).length);
      total += ix.tfs[p]!;
    }
  }
  assert.equal(total, FIX.docs.reduce((a, d) => a + d.filter((x) => !FIX.special.includes(x)).length, 0));
  assert.ok(bm25Idf(10, 10) > 0);
  const batch = ix.searchBatch(memoryStore(FIX.queries), 5);
  FIX.queries.forEach((q, i) => assert.deepEqual(Array.from(batch.ids.subarray(i * 5, i * 5 + 5)), Array.from(ix.search(q, 5).ids)));
  assert.throws(() => ix.search([5], 0), /k must be a positive integer/);
});

test('preprocessed dataset: BM25 top-k equals a brute-force ranking of scoreAll', async () => {
  const dir = tmpDir();
  try {
    const ds = openDataset(await makeDataset(dir));
    const t = ds.manifest.tokenizer;
    const ix = Bm25Index.build(ds.corpus, { ignore: [t.clsId, t.sepId, t.padId] });
    const qs = ds.queries('dev');
    for (let i = 0; i < qs.count; i++) {
      const q = qs.get(i);
      const all = ix.scoreAll(q);
      const ref = Array.from(all.keys()).filter((d) => all[d]! > 0).sort((a, b) => all[b]! - all[a]! || a - b).slice(0, 20);
      assert.deepEqual(Array.from(ix.search(q, 20).ids.subarray(0, ref.length)), ref);
    }
    ds.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('searchBatchParallel on 2 and 3 worker threads equals searchBatch to the bit (row subsets, progress, repeated terms)', async () => {
  const { rng, tag } = seededRng(191);
  // A Zipf-ish vocabulary: frequent terms with long postings, rare ones, and repeated query terms.
  const term = (): number => 3 + Math.floor(300 * rng.float() ** 3);
  const docs = Array.from({ length: 3000 }, () => [0, ...Array.from({ length: 5 + Math.floor(40 * rng.float()) }, term), 2]);
  const queries = Array.from({ length: 400 }, () => [0, ...Array.from({ length: 1 + Math.floor(6 * rng.float()) }, term), 2]);
  const ix = Bm25Index.build(memoryStore(docs), { ignore: [0, 1, 2] });
  const qs = memoryStore(queries);
  const rows = Int32Array.from({ length: 300 }, (_, i) => (i * 7) % 400);
  for (const threads of [2, 3]) {
    const seen: number[] = [];
    const par = await ix.searchBatchParallel(qs, 25, { rows, threads, onProgress: (d) => seen.push(d) });
    const seq = ix.searchBatch(qs, 25, { rows });
    assert.deepEqual(par.ids, seq.ids, `threads=${threads} ${tag}`);
    assert.deepEqual(par.scores, seq.scores, `threads=${threads} ${tag}`);
    assert.equal(seen.at(-1), rows.length, `progress ends at every row, threads=${threads}`);
  }
  // Too few queries for the threads: searched here, same answer.
  const few = await ix.searchBatchParallel(qs, 10, { rows: rows.subarray(0, 20), threads: 4 });
  assert.deepEqual(few.ids, ix.searchBatch(qs, 10, { rows: rows.subarray(0, 20) }).ids);
});
