// Metric values on hand-computed cases, query-set rules (complete / missing / unjudged), metric-name parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseQrels, parseRun, runFromDocs } from '../../src/data/trec.ts';
import { evaluate, msmarcoMrr } from '../../src/eval/evaluate.ts';
import { parseMetric, trecEvalName } from '../../src/eval/metrics.ts';
import { formatFixedC, pyFloatRepr } from '../../src/eval/format.ts';
import { DrhardInputError } from '../../src/util/errors.ts';

const close = (a: number, b: number, msg?: string): void => assert.ok(Math.abs(a - b) < 1e-12, `${msg ?? ''} ${a} vs ${b}`);

// q1: ranking x, a(2), c(0), b(1) → relevant at ranks 2 and 4; q2: judged, not retrieved; q3: only grade 0.
const qrels = parseQrels('q1 0 a 2\nq1 0 b 1\nq1 0 c 0\nq2 0 z 1\nq3 0 y 0\n');
const run = runFromDocs({
  q1: [
    { docid: 'b', score: 2 },
    { docid: 'x', score: 5 },
    { docid: 'c', score: 3 },
    { docid: 'a', score: 4 },
  ],
  q3: [{ docid: 'y', score: 1 }],
  q9: [{ docid: 'a', score: 1 }],
});
const ALL = ['mrr@10', 'mrr@1', 'mrr', 'recall@3', 'recall@100', 'p@2', 'p@10', 'map', 'map@3', 'rprec', 'ndcg@3', 'ndcg@10', 'success@1', 'success@2'];

test('hand-computed values for one query (threshold 1)', () => {
  const r = evaluate(qrels, run, { metrics: ALL }).perQuery.get('q1')!;
  close(r['mrr@10']!, 1 / 2);
  close(r['mrr@1']!, 0);
  close(r['mrr']!, 1 / 2);
  close(r['recall@3']!, 1 / 2);
  close(r['recall@100']!, 1);
  close(r['p@2']!, 1 / 2);
  close(r['p@10']!, 2 / 10);
  close(r['map']!, (1 / 2 + 2 / 4) / 2);
  close(r['map@3']!, 1 / 2 / 2);
  close(r['rprec']!, 1 / 2);
  close(r['ndcg@3']!, 2 / Math.log2(3) / (2 + 1 / Math.log2(3)));
  close(r['ndcg@10']!, (2 / Math.log2(3) + 1 / Math.log2(5)) / (2 + 1 / Math.log2(3)));
  close(r['success@1']!, 0);
  close(r['success@2']!, 1);
});

test("'any' relevance counts grade-0 lines (msmarco_eval.py); nDCG gains stay graded", () => {
  const r = evaluate(qrels, run, { metrics: ALL, relThreshold: 'any' }).perQuery.get('q1')!;
  close(r['recall@3']!, 2 / 3);
  close(r['map']!, (1 / 2 + 2 / 3 + 3 / 4) / 3);
  close(r['rprec']!, 2 / 3);
  close(r['ndcg@3']!, 2 / Math.log2(3) / (2 + 1 / Math.log2(3)));
  const r2 = evaluate(qrels, run, { metrics: ['recall@10', 'ndcg@3'], relThreshold: 2 }).perQuery.get('q1')!;
  close(r2['recall@10']!, 1);
  close(r2['ndcg@3']!, 2 / Math.log2(3) / (2 + 1 / Math.log2(3)));
});

test('complete: qrels queries missing from the run score 0 and count; run-only queries are ignored', () => {
  const c = evaluate(qrels, run, { metrics: ['mrr@10', 'recall@100'] });
  assert.deepEqual(c.queries, ['q1', 'q2', 'q3']);
  assert.deepEqual(c.missingFromRun, ['q2']);
  assert.deepEqual(c.notInQrels, ['q9']);
  assert.deepEqual(c.noRelevant, ['q3']);
  close(c.mean['mrr@10']!, 0.5 / 3);
  assert.deepEqual(Array.from(c.values['recall@100']!), [1, 0, 0]);
  const nc = evaluate(qrels, run, { metrics: ['mrr@10'], complete: false });
  assert.deepEqual(nc.queries, ['q1', 'q3']);
  close(nc.mean['mrr@10']!, 0.5 / 2);
});

test('queries are ordered like trec_eval (byte order), not numerically', () => {
  const q = parseQrels('10 0 a 1\n9 0 a 1\n100 0 a 1\n');
  const r = parseRun('9 Q0 a 1 1 t\n10 Q0 a 1 1 t\n100 Q0 b 1 1 t\n');
  assert.deepEqual(evaluate(q, r.run).queries, ['10', '100', '9']);
});

test('ties: equal scores rank by docid descending; k larger than the run', () => {
  const q = parseQrels('q 0 d10 1\n');
  // d9 > d10 > D5 in byte order, so d10 is second
  const r = runFromDocs({ q: ['D5', 'd10', 'd9'].map((docid) => ({ docid, score: 0 })) });
  const v = evaluate(q, r, { metrics: ['mrr@10', 'p@1000', 'recall@1000', 'ndcg@1000'] }).mean;
  close(v['mrr@10']!, 1 / 2);
  close(v['p@1000']!, 1 / 1000);
  close(v['recall@1000']!, 1);
  close(v['ndcg@1000']!, 1 / Math.log2(3));
});

test('maxDocs truncates like trec_eval -M; Float32Array scores work', () => {
  const q = parseQrels('q 0 c 1\n');
  const r = new Map([['q', { docids: ['a', 'b', 'c'], scores: new Float32Array([0.3, 0.2, 0.1]) }]]);
  close(evaluate(q, r, { metrics: ['mrr'] }).mean['mrr']!, 1 / 3);
  close(evaluate(q, r, { metrics: ['mrr'], maxDocs: 2 }).mean['mrr']!, 0);
});

test('msmarcoMrr divides by the number of qrels queries and counts every run query as ranked', () => {
  const m = msmarcoMrr(qrels, run, { k: 10, relThreshold: 1 });
  close(m.mrr, 0.5 / 3);
  // default relevance is msmarco_eval.py's: q3's grade-0 line makes y relevant
  close(msmarcoMrr(qrels, run, { k: 10 }).mrr, 1.5 / 3);
  assert.equal(m.queriesRanked, 3);
  assert.throws(() => msmarcoMrr(qrels, runFromDocs({ zz: [{ docid: 'a', score: 1 }] })), DrhardInputError);
});

test('NaN scores and mismatched columns are input errors', () => {
  assert.throws(() => evaluate(qrels, runFromDocs({ q1: [{ docid: 'a', score: NaN }] })), /NaN/);
  assert.throws(() => evaluate(qrels, new Map([['q1', { docids: ['a'], scores: [] }]])), /1 docids but 0 scores/);
  assert.throws(() => evaluate(qrels, run, { relThreshold: -1 }), /threshold/);
});

test('metric names: ours, trec_eval spellings, and rejections', () => {
  const cases: Array<[string, string]> = [
    ['MRR@10', 'mrr@10'],
    ['recip_rank', 'mrr'],
    ['ndcg_cut.10', 'ndcg@10'],
    ['ndcg_cut_10', 'ndcg@10'],
    ['recall.100', 'recall@100'],
    ['R@100', 'recall@100'],
    ['P.10', 'p@10'],
    ['P_10', 'p@10'],
    ['map_cut.10', 'map@10'],
    ['Rprec', 'rprec'],
    ['success.1', 'success@1'],
    ['map', 'map'],
  ];
  for (const [raw, name] of cases) assert.equal(parseMetric(raw).name, name, raw);
  for (const bad of ['mrr@0', 'foo@10', 'ndcg@', 'rprec@5', 'p', '']) assert.throws(() => parseMetric(bad), DrhardInputError, bad);
  assert.equal(trecEvalName(parseMetric('ndcg@10')), 'ndcg_cut_10');
  assert.equal(trecEvalName(parseMetric('mrr@10')), undefined);
});

test('number formatting: C %6.4f ties round half to even; Python float repr', () => {
  assert.equal(formatFixedC(1 / 32), '0.0312'); // exact tie 0.03125
  assert.equal(formatFixedC(3 / 32), '0.0938'); // exact tie 0.09375 → even 8
  assert.equal(formatFixedC(0.03125000000000001), '0.0313');
  assert.equal(formatFixedC(0.12345), '0.1235'); // 0.12345 is slightly above the tie in binary
  assert.equal(formatFixedC(0), '0.0000');
  assert.equal(formatFixedC(1), '1.0000');
  assert.equal(pyFloatRepr(0.2057936507936508), '0.2057936507936508');
  assert.equal(pyFloatRepr(0), '0.0');
  assert.equal(pyFloatRepr(1), '1.0');
  assert.equal(pyFloatRepr(1e-5), '1e-05');
  assert.equal(pyFloatRepr(1.5e-7), '1.5e-07');
  assert.equal(pyFloatRepr(0.0001), '0.0001');
});
