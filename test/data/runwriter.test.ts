// The one run writer (src/data/runwriter.ts) and the metrics commands log: every logged metric equals what
// `evaluate` computes on the file that was written (bm25's logged numbers, the demo's run files), and every caller
// (search's RunWriter, writeTrecRun, fuse's stdout, the demo) writes the same bytes for the same run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readRun, writeTrecRun, type Qrels, type Run } from '../../src/data/trec.ts';
import { RunFileWriter } from '../../src/data/runwriter.ts';
import { evaluate } from '../../src/eval/evaluate.ts';
import { RunWriter, evaluateHits } from '../../src/retrieval/runs.ts';
import { writeTrecRun as writeDemoRun, scoreRun } from '../../src/demo/evaluate.ts';
import { offsetMapper } from '../../src/eval/load.ts';
import { seededRng } from '../helpers/seed.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-runwriter-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

/** Random hits with many tied scores (few distinct values), the case where id order decides ranks. */
function tiedHits(rng: { int(n: number): number }, B: number, k: number, nDocs: number): { ids: Int32Array; scores: Float32Array; k: number } {
  const ids = new Int32Array(B * k);
  const scores = new Float32Array(B * k);
  for (let b = 0; b < B; b++) {
    const picked = new Set<number>();
    while (picked.size < k) picked.add(rng.int(nDocs));
    [...picked].forEach((d, j) => {
      ids[b * k + j] = d;
      scores[b * k + j] = rng.int(3) * 0.5;
    });
  }
  return { ids, scores, k };
}

test('bm25: the logged metrics equal evaluate() on the written run when ids are original ids (ties broken on them)', () => {
  const { rng, tag } = seededRng(1401);
  const B = 30;
  const k = 10;
  const nDocs = 40;
  const hits = tiedHits(rng, B, k, nDocs);
  // Original ids sort opposite to their offsets, so offset-order and id-order tie breaks disagree.
  const docIds = Array.from({ length: nDocs }, (_, i) => `D${String(nDocs - i).padStart(3, '0')}`);
  const queryIds = Array.from({ length: B }, (_, i) => `q${i}`);
  const ids = { qid: (o: number) => queryIds[o]!, docid: (o: number) => docIds[o]! };
  const qrelsOff = new Map<number, Map<number, number>>();
  for (let b = 0; b < B; b++) qrelsOff.set(b, new Map([[hits.ids[b * k + rng.int(k)]!, 1]]));
  const file = path.join(tmp, 'bm25.trec');
  const w = new RunWriter(file, { format: 'trec', tag: 'bm25', ...ids });
  w.add(0, hits);
  w.close();
  const qrels: Qrels = new Map();
  for (const [q, m] of qrelsOff) qrels.set(queryIds[q]!, new Map([...m].map(([d, r]) => [docIds[d]!, r])));
  const metrics = ['mrr@10', 'recall@100', 'ndcg@10'];
  const fromFile = evaluate(qrels, readRun(file).run, { metrics, complete: true }).mean;
  const logged = evaluateHits(qrelsOff, Int32Array.from({ length: B }, (_, i) => i), hits, metrics, ids);
  for (const m of metrics) assert.equal(logged[m], fromFile[m], `${m}: logged ${logged[m]} vs evaluate ${fromFile[m]}; ${tag}`);
  // The fixture really exercises tie order: offsets-based scoring differs from the file's.
  const byOffsets = evaluateHits(qrelsOff, Int32Array.from({ length: B }, (_, i) => i), hits, metrics);
  assert.notEqual(byOffsets['mrr@10'], fromFile['mrr@10'], `fixture has no decisive ties; ${tag}`);
});

test('demo run files keep every score digit: evaluate() on the file equals the scores the demo reports', () => {
  const { rng, tag } = seededRng(1402);
  const run: Run = new Map();
  const qrels: Qrels = new Map();
  for (let q = 0; q < 40; q++) {
    const docids = Array.from({ length: 20 }, (_, i) => String(q * 100 + i));
    // Scores that differ only below 1e-6: rounding to 6 decimals would tie them and let docid order decide.
    const scores = docids.map(() => 10 + rng.int(4) * 1e-7);
    run.set(String(q), { docids, scores });
    qrels.set(String(q), new Map([[docids[rng.int(20)]!, 1]]));
  }
  const file = path.join(tmp, 'demo.run.trec');
  writeDemoRun(file, run, 'drhard');
  const reported = scoreRun(qrels, run);
  const fromFile = scoreRun(qrels, readRun(file).run);
  assert.deepEqual(fromFile.mean, reported.mean, tag);
  assert.deepEqual(fromFile.values, reported.values, tag);
});

test('one format: search RunWriter, writeTrecRun, RunFileWriter to stdout-less file and the demo write identical bytes', () => {
  const { rng, tag } = seededRng(1403);
  const hits = tiedHits(rng, 5, 7, 30);
  const run: Run = new Map();
  for (let b = 0; b < 5; b++) {
    run.set(String(b), { docids: Array.from(hits.ids.subarray(b * 7, b * 7 + 7), String), scores: Array.from(hits.scores.subarray(b * 7, b * 7 + 7)) });
  }
  const files = ['a', 'b', 'c', 'd'].map((n) => path.join(tmp, `same-${n}.trec`));
  const w = new RunWriter(files[0]!, { format: 'trec', tag: 'x' });
  w.add(0, hits);
  w.close();
  writeTrecRun(files[1]!, run, { tag: 'x' });
  const fw = new RunFileWriter(files[2]!, { format: 'trec', tag: 'x' });
  fw.addRun(run);
  fw.close();
  writeDemoRun(files[3]!, run, 'x');
  const bytes = files.map((f) => fs.readFileSync(f, 'utf8'));
  for (let i = 1; i < bytes.length; i++) assert.equal(bytes[i], bytes[0], `${files[i]} differs; ${tag}`);
  assert.equal(bytes[0]!.split('\n').length - 1, 35);
});

test('demo: scoreRun with the split ids equals evaluate --data on the written offsets file (ties on original ids)', () => {
  const { rng, tag } = seededRng(1409);
  const nDocs = 60;
  // Original ids sort opposite to offsets, as `drhard evaluate --data` sees them.
  const ids = { queryIds: Array.from({ length: 25 }, (_, i) => `q${i}`), docIds: Array.from({ length: nDocs }, (_, i) => `P${String(nDocs - i).padStart(3, '0')}`) };
  const run: Run = new Map();
  const qrels: Qrels = new Map();
  for (let q = 0; q < 25; q++) {
    const picked = new Set<number>();
    while (picked.size < 12) picked.add(rng.int(nDocs));
    const docids = [...picked].map(String);
    run.set(String(q), { docids, scores: docids.map(() => rng.int(3)) });
    qrels.set(String(q), new Map([[docids[rng.int(12)]!, 1]]));
  }
  const file = path.join(tmp, 'demo-offsets.run.trec');
  writeDemoRun(file, run, 'drhard');
  // What `drhard evaluate --data DIR --split dev --run FILE` computes (eval/load.ts maps offsets to ids).
  const mapper = offsetMapper({ queryIds: ids.queryIds, docIds: ids.docIds, qrels: () => new Map(), close: () => {} });
  const mappedQrels: Qrels = new Map([...qrels].map(([q, m]) => [ids.queryIds[Number(q)]!, new Map([...m].map(([d, g]) => [ids.docIds[Number(d)]!, g]))]));
  const cli = evaluate(mappedQrels, readRun(file, { ids: mapper }).run, { metrics: ['mrr@10', 'recall@100', 'ndcg@10'] }).mean;
  const reported = scoreRun(qrels, run, ids);
  for (const m of ['mrr@10', 'recall@100', 'ndcg@10'] as const) assert.equal(reported.mean[m], cli[m], `${m}; ${tag}`);
  // Per-query values stay keyed by offset, in offset order, for the paired tests.
  const byOffsets = scoreRun(qrels, run);
  assert.deepEqual(reported.queries, byOffsets.queries);
  assert.notEqual(byOffsets.mean['mrr@10'], cli['mrr@10'], `fixture has no decisive ties; ${tag}`);
});
