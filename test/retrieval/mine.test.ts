// Mining: DRhard's prepare_hardneg semantics (top k+margin, judged docs removed, first k kept), positive copies,
// BM25 and random sources, counters; negatives files round-trip (jsonl, bin, DRhard hard.json) and bad files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../../src/tensor/index.ts';
import { openDataset } from '../../src/data/index.ts';
import { Bm25Index } from '../../src/retrieval/bm25.ts';
import { mineNegatives, mineNegativesParallel } from '../../src/retrieval/mine.ts';
import { negativesOf, readNegatives, writeNegatives } from '../../src/retrieval/negatives.ts';
import { DenseSearcher } from '../../src/retrieval/search.ts';
import { makeDataset, memoryStore, tmpDir } from './helpers.ts';
import { seededRng } from '../helpers/seed.ts';

const dir = tmpDir();
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

test('dense mining: top (k + margin) minus judged docs, first k kept, counters', () => {
  T.manualSeed(21);
  T.tidy(() => {
    const docs = T.randn([500, 8]);
    const q = T.randn([30, 8]);
    using s = DenseSearcher.fromTensor(docs);
    const full = s.search(q, 500);
    // Qrels: query i's positives are its rank-(i % 5) hit and a random doc; queries 0..19 only.
    const qrels = new Map<number, Map<number, number>>();
    for (let i = 0; i < 20; i++) qrels.set(i, new Map([[full.ids[i * 500 + (i % 5)]!, 1], [(i * 37) % 500, 1]]));
    const r = mineNegatives({ source: { kind: 'dense', searcher: s, queryEmbeddings: q }, qrels, topk: 12, margin: 3, batch: 7 });
    assert.deepEqual(Array.from(r.negatives.qoffsets), Array.from({ length: 20 }, (_, i) => i));
    let removed = 0;
    for (let i = 0; i < 20; i++) {
      const cand = Array.from(full.ids.subarray(i * 500, i * 500 + 15));
      const pos = qrels.get(i)!;
      removed += cand.filter((d) => pos.has(d)).length;
      const want = cand.filter((d) => !pos.has(d)).slice(0, 12);
      assert.deepEqual(Array.from(negativesOf(r.negatives, i)), want);
    }
    assert.equal(r.counters.queries, 20);
    assert.equal(r.counters.positivesRemoved, removed);
    assert.equal(r.counters.queriesWithPositiveRetrieved, 20);
    assert.equal(r.counters.queriesShort, 0);
    assert.equal(r.counters.meanNegatives, 12);
    assert.equal(negativesOf(r.negatives, 25).length, 0);
  });
});

test('BM25 and random sources on a dataset; copies of a positive are dropped', async () => {
  const ds = openDataset(await makeDataset(dir));
  try {
    const t = ds.manifest.tokenizer;
    const qrels = ds.qrels('train');
    const index = Bm25Index.build(ds.corpus, { ignore: [t.clsId, t.sepId, t.padId] });
    const plain = mineNegatives({ source: { kind: 'bm25', index, queries: ds.queries('train') }, qrels, topk: 20 });
    const dedup = mineNegatives({ source: { kind: 'bm25', index, queries: ds.queries('train') }, qrels, topk: 20, corpus: ds.corpus });
    assert.ok(dedup.counters.positiveCopiesRemoved > 0, 'the fixture has duplicate passages next to positives');
    for (const [q, pos] of qrels) {
      const negs = Array.from(negativesOf(dedup.negatives, q));
      const posRows = [...pos.keys()].map((p) => ds.corpus.get(p).join(','));
      for (const d of negs) {
        assert.ok(!pos.has(d));
        assert.ok(!posRows.includes(ds.corpus.get(d).join(',')), `query ${q}: negative ${d} is a copy of a positive`);
      }
      assert.equal(new Set(negs).size, negs.length);
      const ref = Array.from(index.search(ds.queries('train').get(q), 30).ids).filter((d) => d >= 0 && !pos.has(d)).slice(0, 20);
      assert.deepEqual(Array.from(negativesOf(plain.negatives, q)), ref);
    }

    const rnd = mineNegatives({ source: { kind: 'random', docs: ds.corpus.count, seed: 7 }, qrels, topk: 50 });
    const rnd2 = mineNegatives({ source: { kind: 'random', docs: ds.corpus.count, seed: 7 }, qrels, topk: 50, queries: [...qrels.keys()].sort((a, b) => a - b).slice(3, 5) });
    for (const [q, pos] of qrels) {
      const negs = Array.from(negativesOf(rnd.negatives, q));
      assert.equal(negs.length, 50);
      assert.equal(new Set(negs).size, 50);
      assert.ok(negs.every((d) => !pos.has(d) && d >= 0 && d < ds.corpus.count));
    }
    // A query's random list does not depend on which other queries are mined.
    const q3 = rnd2.negatives.qoffsets[0]!;
    assert.deepEqual(negativesOf(rnd2.negatives, q3), negativesOf(rnd.negatives, q3));
  } finally {
    ds.close();
  }
});

test('negatives files: jsonl, bin and DRhard hard.json read back equal; bad files are refused', () => {
  const n = { qoffsets: Int32Array.from([0, 3, 9]), start: Float64Array.from([0, 2, 2, 5]), docs: Int32Array.from([5, 1, 7, 8, 0]) };
  for (const fmt of ['jsonl', 'bin'] as const) {
    const f = path.join(dir, `n.${fmt}`);
    writeNegatives(f, n, fmt, { source: 'test' });
    const back = readNegatives(f, { queries: 10, docs: 9 });
    assert.deepEqual(back, n);
    assert.equal((JSON.parse(fs.readFileSync(`${f}.json`, 'utf8')) as { source: string }).source, 'test');
    assert.throws(() => readNegatives(f, { docs: 8 }), /doc offset 8 is not in \[0, 8\)/);
  }
  const hard = path.join(dir, 'hard.json');
  fs.writeFileSync(hard, JSON.stringify({ 9: [7, 8, 0], 0: [5, 1], 3: [] }));
  assert.deepEqual(readNegatives(hard), n);
  const bin = fs.readFileSync(path.join(dir, 'n.bin'));
  const cut = path.join(dir, 'cut.bin');
  fs.writeFileSync(cut, bin.subarray(0, bin.length - 4));
  assert.throws(() => readNegatives(cut), /truncated or corrupt/);
  const bad = path.join(dir, 'bad.jsonl');
  fs.writeFileSync(bad, '{"qoffset":1,"negatives":[2]}\n{"qoffset":"2","negatives":[3]}\n');
  assert.throws(() => readNegatives(bad), /bad\.jsonl:2: qoffset: expected a non-negative integer/);
  fs.writeFileSync(bad, '{"qoffset":1,"negatives":[2]}\n{"qoffset":1,"negatives":[3]}\n');
  assert.throws(() => readNegatives(bad), /query offset 1 appears twice/);
});

test('fillRandomSeed tops up a short BM25 list with random non-judged documents; without it the list stays short', async () => {
  const sub = path.join(dir, 'fill');
  fs.mkdirSync(sub);
  const ds = openDataset(await makeDataset(sub, { nDocs: 60 }));
  try {
    const t = ds.manifest.tokenizer;
    const index = Bm25Index.build(ds.corpus, { ignore: [t.clsId, t.sepId, t.padId] });
    const qrels = ds.qrels('train');
    // BM25 finds nothing for a query none of whose terms is in the corpus: ask for more negatives than hits exist.
    const topk = ds.corpus.count - 1;
    const plain = mineNegatives({ source: { kind: 'bm25', index, queries: ds.queries('train') }, qrels, topk, margin: 0 });
    assert.ok(plain.counters.queriesShort > 0, 'some list is short without filling');
    assert.equal(plain.counters.queriesFilledRandom, 0);
    const filled = mineNegatives({ source: { kind: 'bm25', index, queries: ds.queries('train') }, qrels, topk, margin: 0, fillRandomSeed: 5 });
    for (const q of filled.negatives.qoffsets) {
      const list = Array.from(negativesOf(filled.negatives, q));
      const judged = qrels.get(q)!;
      assert.equal(new Set(list).size, list.length, `query ${q}: no repeats`);
      assert.ok(list.every((x) => !judged.has(x)), `query ${q}: no judged document`);
      assert.equal(list.length, Math.min(topk, ds.corpus.count - judged.size), `query ${q}: topped up`);
      // The BM25 hits come first, in BM25 order.
      const hits = Array.from(negativesOf(plain.negatives, q));
      assert.deepEqual(list.slice(0, hits.length), hits);
    }
    assert.equal(filled.counters.queriesFilledRandom, plain.counters.queriesShort);
  } finally {
    ds.close();
  }
});

test('BM25 mining on 1, 2 and 3 worker threads gives the sequential negatives and counters (batches, copies, top-up)', async () => {
  const { rng, tag } = seededRng(313);
  // A Zipf-ish vocabulary (long postings for frequent terms, repeated query terms); every 50th document a copy of
  // the one before (copies of a positive are dropped), and queries of unknown terms only (topped up at random).
  const term = (): number => 3 + Math.floor(300 * rng.float() ** 3);
  const docs: number[][] = [];
  for (let d = 0; d < 2000; d++) docs.push(d % 50 === 49 ? [...(docs[d - 1] as number[])] : [0, ...Array.from({ length: 5 + Math.floor(40 * rng.float()) }, term), 2]);
  const queries = Array.from({ length: 500 }, (_, i) => [0, ...Array.from({ length: 1 + Math.floor(6 * rng.float()) }, () => (i % 97 === 0 ? 5000 : term())), 2]);
  const index = Bm25Index.build(memoryStore(docs), { ignore: [0, 1, 2] });
  const qs = memoryStore(queries);
  // 420 of the 500 queries have judgments: positives near the top of their own BM25 list, and a copied document.
  const qrels = new Map<number, Map<number, number>>();
  for (let q = 0; q < 500; q++) {
    if (q % 6 === 5) continue;
    const top = index.search(qs.get(q), 5).ids.filter((d) => d >= 0);
    qrels.set(q, new Map([[top.length > 0 ? (top[q % top.length] as number) : q, 1], [48 + 50 * (q % 40), 1]]));
  }
  const common = { qrels, topk: 30, margin: 5, corpus: memoryStore(docs), fillRandomSeed: 9 };
  const seq = mineNegatives({ source: { kind: 'bm25', index, queries: qs }, ...common });
  assert.ok(seq.counters.positiveCopiesRemoved > 0 && seq.counters.queriesFilledRandom > 0, `the fixture exercises copies and top-ups ${tag}`);
  const searchBatch = index.searchBatch.bind(index);
  for (const threads of [1, 2, 3]) {
    for (const batch of [undefined, 210]) {
      // With more than one thread (and ≥ 64 queries per thread in each batch) the workers search, never the main thread.
      index.searchBatch = threads > 1 ? () => assert.fail(`threads=${threads}: searched on the main thread`) : searchBatch;
      const seen: number[] = [];
      const par = await mineNegativesParallel({ source: { kind: 'bm25', index, queries: qs }, ...common, threads, ...(batch !== undefined ? { batch } : {}), onProgress: (d) => seen.push(d) });
      const what = `threads=${threads} batch=${batch ?? 'default'} ${tag}`;
      assert.deepEqual(par.negatives, seq.negatives, what);
      assert.deepEqual(par.counters, seq.counters, what);
      assert.equal(seen.at(-1), qrels.size, `progress ends at every query, ${what}`);
      assert.ok(seen.every((d, i) => i === 0 || d >= (seen[i - 1] as number)), `progress never goes back, ${what}`);
    }
  }
  index.searchBatch = searchBatch;
});
