// Per-query examples of the report's compared pair (src/report/examples.ts, src/demo/examples.ts): which queries
// are picked, the documents in the evaluator's order with relevant ones marked, and how the report shows them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseQrels, parseRun, writeTrecRun } from '../../src/data/trec.ts';
import { pairExamples } from '../../src/report/examples.ts';
import { exampleReportData } from '../../src/report/example.ts';
import { renderReportHtml } from '../../src/report/index.ts';
import { demoPairExamples } from '../../src/demo/examples.ts';
import type { Dataset } from '../../src/data/index.ts';

// q1: b gains (a ranks the relevant doc 3rd, b 1st); q2: b loses; q3: tie; q4: b gains a little (3rd → 2nd).
const qrels = parseQrels('q1 0 d1 1\nq2 0 d5 1\nq3 0 d9 1\nq4 0 d2 1\nq4 0 d7 0\n');
const a = parseRun(
  ['q1 Q0 d3 1 9 a', 'q1 Q0 d4 2 8 a', 'q1 Q0 d1 3 7 a', 'q2 Q0 d5 1 9 a', 'q3 Q0 d9 1 9 a', 'q4 Q0 d8 1 5 a', 'q4 Q0 d7 2 4 a', 'q4 Q0 d2 3 3 a'].join('\n'),
).run;
const b = parseRun(
  // q1's tie (d1, d0 both 9) ranks by docid descending as trec_eval does: d1 first.
  ['q1 Q0 d1 1 9 b', 'q1 Q0 d0 2 9 b', 'q2 Q0 d6 1 9 b', 'q2 Q0 d5 2 8 b', 'q3 Q0 d9 1 9 b', 'q4 Q0 d2 1 5 b', 'q4 Q0 d7 2 6 b'].join('\n'),
).run;
const text = (s: string): string => `text of ${s}`;

test('pairExamples: biggest gains first, then biggest losses; ties skipped; documents in trec_eval order, relevant marked', () => {
  const ex = pairExamples({ a, b, qrels, queryText: text, docText: text, count: 3, k: 2 });
  assert.deepEqual(ex.map((e) => e.qid), ['q1', 'q4', 'q2']);
  assert.deepEqual(ex.map((e) => Number(e.delta.toFixed(4))), [0.6667, 0.1667, -0.5]);
  const q1 = ex[0]!;
  assert.equal(q1.query, 'text of q1');
  assert.equal(q1.relevant, 1);
  assert.deepEqual(q1.a.map((d) => [d.docid, d.relevant]), [['d3', false], ['d4', false]]);
  assert.deepEqual(q1.b.map((d) => [d.docid, d.relevant, d.text]), [['d1', true, 'text of d1'], ['d0', false, 'text of d0']]);
  // q4's b run: d7 scores 6 > d2's 5, so d7 (judged 0, not relevant) is first whatever the file's rank column says.
  assert.deepEqual(ex[1]!.b.map((d) => [d.docid, d.relevant]), [['d7', false], ['d2', true]]);
  assert.deepEqual(pairExamples({ a, b, qrels, queryText: text, docText: text, count: 3, k: 2 }), ex, 'deterministic');
  // Only losses left for the second half; count 1 → the biggest gain alone.
  assert.deepEqual(pairExamples({ a, b, qrels, queryText: text, docText: text, count: 1 }).map((e) => e.qid), ['q1']);
  assert.deepEqual(pairExamples({ a: b, b: a, qrels, queryText: text, docText: text, count: 2 }).map((e) => e.qid), ['q2', 'q1']);
});

test('report: the pair section shows each example\'s query text and both top-document lists (escaped); none without examples', async () => {
  const data = exampleReportData(3, 50);
  assert.ok(data.pair);
  const plain = await renderReportHtml(data);
  assert.ok(!plain.includes('Example queries'));
  data.pair.examples = pairExamples({ a, b, qrels, queryText: (q) => `<b>${q}</b> & co`, docText: (d) => `doc ${d}`, count: 2, k: 2 });
  const html = await renderReportHtml(data);
  assert.ok(html.includes('Example queries'));
  assert.ok(html.includes('&lt;b&gt;q1&lt;/b&gt; &amp; co'));
  assert.ok(!html.includes('<b>q1</b>'));
  const section = html.slice(html.indexOf('<table class="examples">'));
  assert.match(section, new RegExp(`<th scope="col">${data.pair.a.replace(/[()]/g, '\\$&')}</th><th scope="col">${data.pair.b.replace(/[()]/g, '\\$&')}</th>`));
  assert.match(section, /<li class="rel"><span class="mark" title="relevant">✓<\/span> <span class="docid">d1<\/span> doc d1<\/li>/);
  assert.match(section, /Δ MRR@10 \+0\.667/);
});

test('demoPairExamples: reads the two stage runs (offsets) and the raw texts, shows original ids; null when a run is missing', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-demo-examples-'));
  try {
    const queryIds = ['Q-a', 'Q-b'];
    const docIds = ['P-0', 'P-1', 'P-2', 'P-3'];
    const ds = { queryIds: () => queryIds, docIds: () => docIds } as unknown as Dataset;
    const devQrels = parseQrels('0 0 2 1\n1 0 0 1\n');
    assert.equal(demoPairExamples(out, ds, devQrels, 'star', 'adore-star'), null);
    fs.mkdirSync(path.join(out, 'star'));
    fs.mkdirSync(path.join(out, 'adore-star'));
    fs.mkdirSync(path.join(out, 'data', 'raw'), { recursive: true });
    writeTrecRun(path.join(out, 'star', 'dev.run.trec'), parseRun('0 Q0 1 1 3 x\n0 Q0 2 2 2 x\n1 Q0 0 1 3 x\n').run);
    writeTrecRun(path.join(out, 'adore-star', 'dev.run.trec'), parseRun('0 Q0 2 1 3 x\n0 Q0 1 2 2 x\n1 Q0 0 1 3 x\n').run);
    fs.writeFileSync(path.join(out, 'data', 'raw', 'queries.dev.tsv'), 'Q-a\tfirst query\nQ-b\tsecond query\n');
    fs.writeFileSync(path.join(out, 'data', 'raw', 'collection.tsv'), 'P-0\tzero\nP-1\tone\nP-2\ttwo\nP-3\tthree\n');
    const ex = demoPairExamples(out, ds, devQrels, 'star', 'adore-star');
    assert.ok(ex);
    assert.equal(ex.length, 1, 'the tied query is not an example');
    assert.equal(ex[0]!.qid, 'Q-a');
    assert.equal(ex[0]!.query, 'first query');
    assert.deepEqual(ex[0]!.a.map((d) => [d.docid, d.text, d.relevant]), [['P-1', 'one', false], ['P-2', 'two', true]]);
    assert.deepEqual(ex[0]!.b.map((d) => [d.docid, d.text, d.relevant]), [['P-2', 'two', true], ['P-1', 'one', false]]);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
