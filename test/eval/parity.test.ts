// Digit-for-digit parity with trec_eval and DRhard's msmarco_eval.py on committed fixtures (scripts/fixtures/eval_fixtures.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readQrels, readRun } from '../../src/data/trec.ts';
import { evaluate, msmarcoMrr, type EvaluateOptions } from '../../src/eval/evaluate.ts';
import { parseMetric } from '../../src/eval/metrics.ts';
import { formatFixedC, formatMsmarcoBlock, formatTrecTable } from '../../src/eval/format.ts';

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/eval');
const fx = (name: string): string => path.join(FIX, name);

interface TrecEvalRow {
  measure: string;
  qid: string;
  value: string;
}

function readTrecEvalOutput(file: string): TrecEvalRow[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const [measure, qid, value] = l.split('\t');
      return { measure: measure!.trim(), qid: qid!, value: value! };
    });
}

/** Checks every row trec_eval printed (per query and 'all') against ours at its printed precision. */
function checkAgainst(
  qrelsFile: string,
  runFile: string,
  expectedFile: string,
  opts: EvaluateOptions,
  rename: (trecMeasure: string) => string = (m) => parseMetric(m).name,
): number {
  const rows = readTrecEvalOutput(fx(expectedFile));
  const metrics = [...new Set(rows.map((r) => rename(r.measure)))];
  const res = evaluate(readQrels(fx(qrelsFile)), readRun(fx(runFile)).run, { ...opts, metrics });
  const mismatches: string[] = [];
  const seenQids = new Set<string>();
  for (const r of rows) {
    const metric = rename(r.measure);
    let ours: number | undefined;
    if (r.qid === 'all') ours = res.mean[metric];
    else {
      seenQids.add(r.qid);
      ours = res.perQuery.get(r.qid)?.[metric];
    }
    if (ours === undefined) mismatches.push(`${r.measure} ${r.qid}: missing in ours`);
    else if (formatFixedC(ours) !== r.value) mismatches.push(`${r.measure} ${r.qid}: ours ${formatFixedC(ours)} (${ours}), trec_eval ${r.value}`);
  }
  assert.deepEqual(mismatches, []);
  // trec_eval evaluated exactly the queries we did
  assert.deepEqual([...seenQids].sort(), [...res.queries].sort());
  return rows.length;
}

test('graded qrels with ties, -q -c: every per-query and mean value matches trec_eval', () => {
  const n = checkAgainst('graded.qrels', 'ties.run', 'ties.trec_eval.c.txt', { complete: true });
  assert.ok(n > 900, `expected many rows, got ${n}`);
});

test('relevance level 2 (trec_eval -l 2): binary metrics move, nDCG keeps graded gains', () => {
  checkAgainst('graded.qrels', 'ties.run', 'ties.trec_eval.c.l2.txt', { complete: true, relThreshold: 2 });
});

test('MRR@10 equals trec_eval -M 10 recip_rank, with and without truncating the run', () => {
  checkAgainst('graded.qrels', 'ties.run', 'ties.trec_eval.c.M10.txt', { complete: true }, () => 'mrr@10');
  checkAgainst('graded.qrels', 'ties.run', 'ties.trec_eval.c.M10.txt', { complete: true, maxDocs: 10 });
  checkAgainst('marco.qrels.tsv', 'marco.run.trec', 'marco.trec_eval.c.M10.txt', { complete: true }, () => 'mrr@10');
});

test('maxDocs = 5 (trec_eval -M 5) truncates every metric', () => {
  checkAgainst('graded.qrels', 'ties.run', 'ties.trec_eval.c.M5.txt', { complete: true, maxDocs: 5 });
});

test('MS MARCO ids, 1/rank TREC run: matches trec_eval -c', () => {
  checkAgainst('marco.qrels.tsv', 'marco.run.trec', 'marco.trec_eval.c.txt', { complete: true });
});

test('MS MARCO TSV run gives the same ranking as its TREC 1/rank version', () => {
  const qrels = readQrels(fx('marco.qrels.tsv'));
  const a = readRun(fx('marco.run.tsv'));
  const b = readRun(fx('marco.run.trec'));
  assert.equal(a.format, 'msmarco');
  assert.equal(b.format, 'trec');
  const metrics = ['mrr@10', 'ndcg@10', 'recall@100', 'map', 'rprec', 'p@10'];
  const ra = evaluate(qrels, a.run, { metrics });
  const rb = evaluate(qrels, b.run, { metrics });
  assert.deepEqual(ra.values, rb.values);
});

function msmarcoExpected(file: string): { text: string; mrr: string; k: number; ranked: number } {
  const text = fs.readFileSync(fx(file), 'utf8');
  const m = /MRR @(\d+): (\S+)\nQueriesRanked: (\d+)/.exec(text);
  assert.ok(m, `unexpected msmarco_eval output in ${file}`);
  return { text: text.replace(/^Eval Started\n/, ''), mrr: m[2]!, k: Number(m[1]), ranked: Number(m[3]) };
}

test('msmarco_eval.py parity: MRR @10 and @100 printed identically (every qrels line relevant)', () => {
  const qrels = readQrels(fx('marco.qrels.tsv'));
  const { run } = readRun(fx('marco.run.tsv'));
  for (const file of ['marco.msmarco_eval.txt', 'marco.msmarco_eval.100.txt']) {
    const exp = msmarcoExpected(file);
    const got = msmarcoMrr(qrels, run, { k: exp.k, relThreshold: 'any' });
    assert.equal(formatMsmarcoBlock(got.mrr, exp.k, got.queriesRanked), exp.text);
    // The same number through evaluate(): mean over all qrels queries (divide by |qrels|), 'any' relevance.
    const ev = evaluate(qrels, run, { metrics: [`mrr@${exp.k}`], relThreshold: 'any', complete: true });
    assert.ok(Math.abs(ev.mean[`mrr@${exp.k}`]! - Number(exp.mrr)) < 1e-12);
  }
});

test('msmarco relevance differs from trec_eval relevance when qrels hold grade-0 lines', () => {
  const qrels = readQrels(fx('marco.qrels.tsv'));
  const { run } = readRun(fx('marco.run.tsv'));
  const any = msmarcoMrr(qrels, run, { k: 100, relThreshold: 'any' }).mrr;
  const one = msmarcoMrr(qrels, run, { k: 100, relThreshold: 1 }).mrr;
  assert.ok(any > one, `grade-0 lines should add hits in 'any' mode (${any} vs ${one})`);
});

test('trec_eval-style table renders the fixture means exactly like trec_eval lines', () => {
  const qrels = readQrels(fx('graded.qrels'));
  const { run } = readRun(fx('ties.run'));
  const res = evaluate(qrels, run, { metrics: ['map', 'Rprec', 'recip_rank', 'P.10', 'ndcg_cut.10'] });
  const table = formatTrecTable(res, { perQuery: true });
  const expected = new Set(fs.readFileSync(fx('ties.trec_eval.c.txt'), 'utf8').split('\n'));
  const lines = table.split('\n').filter((l) => l.length > 0 && !l.startsWith('num_q'));
  for (const l of lines) assert.ok(expected.has(l), `line not in trec_eval output: ${JSON.stringify(l)}`);
  assert.equal(lines.length, 5 * (res.queries.length + 1));
});
