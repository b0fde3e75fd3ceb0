// `drhard evaluate` and `drhard compare` end to end: outputs vs reference tools' files, exit codes, JSON contract.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FIX = path.join(ROOT, 'test/fixtures/eval');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-eval-cli-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function drhard(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function trecEvalAll(file: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of fs.readFileSync(path.join(FIX, file), 'utf8').split('\n')) {
    const [m, q, v] = l.split('\t');
    if (q === 'all') out.set(m!.trim(), v!);
  }
  return out;
}

test('evaluate (text): msmarco_eval.py block byte for byte, then a trec_eval-style table', () => {
  const r = drhard('evaluate', '--qrels', path.join(FIX, 'marco.qrels.tsv'), '--run', path.join(FIX, 'marco.run.tsv'), '--rel-threshold', 'any');
  assert.equal(r.code, 0, r.stderr);
  const expected = fs.readFileSync(path.join(FIX, 'marco.msmarco_eval.txt'), 'utf8').replace(/^Eval Started\n/, '');
  assert.ok(r.stdout.startsWith(expected), r.stdout);
  assert.match(r.stdout, /^num_q {17}\tall\t80$/m);
  assert.match(r.stderr, /5 qrels queries have no results in the run \(scored 0\)/);
  assert.match(r.stderr, /1 run queries are not in the qrels \(ignored\): 999999/);
});

test('evaluate --format json: the documented keys, values equal to trec_eval at its precision', () => {
  const r = drhard('evaluate', '--qrels', path.join(FIX, 'marco.qrels.tsv'), '--run', path.join(FIX, 'marco.run.trec'), '--format', 'json', '--metrics', 'P.10,rprec');
  assert.equal(r.code, 0, r.stderr);
  const obj = JSON.parse(r.stdout) as Record<string, number>;
  assert.deepEqual(Object.keys(obj).sort(), ['map', 'mrr@10', 'ndcg@10', 'p@10', 'queries', 'recall@100', 'rprec']);
  const te = trecEvalAll('marco.trec_eval.c.txt');
  const m10 = trecEvalAll('marco.trec_eval.c.M10.txt');
  const c = (x: number): string => x.toFixed(4);
  assert.equal(c(obj['recall@100']!), te.get('recall_100'));
  assert.equal(c(obj['ndcg@10']!), te.get('ndcg_cut_10'));
  assert.equal(c(obj['map']!), te.get('map'));
  assert.equal(c(obj['p@10']!), te.get('P_10'));
  assert.equal(c(obj['rprec']!), te.get('Rprec'));
  assert.equal(c(obj['mrr@10']!), m10.get('recip_rank'));
  assert.equal(obj['queries'], 80);
});

test('evaluate --per-query: trec_eval -q rows appear verbatim; --output writes the same report', () => {
  const out = path.join(tmp, 'report.txt');
  const args = ['evaluate', '--qrels', path.join(FIX, 'graded.qrels'), '--run', path.join(FIX, 'ties.run'), '--per-query', '--metrics', 'P.10,Rprec,recip_rank'];
  const r = drhard(...args);
  assert.equal(r.code, 0, r.stderr);
  const teLines = new Set(fs.readFileSync(path.join(FIX, 'ties.trec_eval.c.txt'), 'utf8').split('\n'));
  const rows = r.stdout.split('\n').filter((l) => /^(map|Rprec|recip_rank|P_10|recall_100|ndcg_cut_10) /.test(l));
  assert.ok(rows.length > 300, `${rows.length} rows`);
  for (const l of rows) assert.ok(teLines.has(l), `not in trec_eval output: ${JSON.stringify(l)}`);
  const w = drhard(...args, '--out', out);
  assert.equal(w.code, 0, w.stderr);
  assert.equal(w.stdout, '');
  assert.equal(fs.readFileSync(out, 'utf8'), r.stdout);
});

test('evaluate: bad input exits 1 naming file:line, usage errors exit 2, stdout stays empty', () => {
  const bad = path.join(tmp, 'bad.run');
  fs.writeFileSync(bad, '1 Q0 a 1 0.5 t\n1 Q0 b 2 0,4 t\n');
  const r1 = drhard('evaluate', '--qrels', path.join(FIX, 'graded.qrels'), '--run', bad);
  assert.equal(r1.code, 1);
  assert.equal(r1.stdout, '');
  assert.match(r1.stderr, /bad\.run:2: score: not a number: "0,4"/);
  const r2 = drhard('evaluate', '--qrels', path.join(FIX, 'graded.qrels'), '--run', path.join(FIX, 'ties.run'), '--metrics', 'ndcg@x');
  assert.equal(r2.code, 2);
  assert.equal(r2.stdout, '');
  assert.match(r2.stderr, /--metrics: unknown metric/);
  const r3 = drhard('evaluate', '--run', path.join(FIX, 'ties.run'), '--bogus');
  assert.equal(r3.code, 2);
  const r4 = drhard('evaluate', '--run', path.join(FIX, 'ties.run'));
  assert.equal(r4.code, 2);
  assert.match(r4.stderr, /--qrels/);
  const r5 = drhard('evaluate', '--run', path.join(FIX, 'ties.run'), '--data', tmp);
  assert.equal(r5.code, 2);
  assert.match(r5.stderr, /--split/);
  const r6 = drhard('evaluate', '--qrels', path.join(FIX, 'graded.qrels'), '--run', path.join(FIX, 'ties.run'), '--rel-threshold', 'high');
  assert.equal(r6.code, 2);
});

test('compare --format json: same seed → identical report; the baseline against itself is p = 1', () => {
  const args = ['compare', '--qrels', path.join(FIX, 'marco.qrels.tsv'), path.join(FIX, 'marco.run.tsv'), path.join(FIX, 'marco.run.trec'), '--format', 'json', '--trials', '500', '--seed', '3'];
  const a = drhard(...args);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(drhard(...args).stdout, a.stdout);
  const rep = JSON.parse(a.stdout) as { comparisons: Array<{ metric: string; diff: number; pT: number; pRandomization: number }>; queries: number };
  assert.equal(rep.queries, 80);
  assert.deepEqual(rep.comparisons.map((c) => c.metric), ['mrr@10', 'recall@100', 'ndcg@10', 'map']);
  for (const c of rep.comparisons) {
    assert.equal(c.diff, 0);
    assert.equal(c.pT, 1);
    assert.equal(c.pRandomization, 1);
  }
  const one = drhard('compare', '--qrels', path.join(FIX, 'marco.qrels.tsv'), path.join(FIX, 'marco.run.tsv'));
  assert.equal(one.code, 2);
});
