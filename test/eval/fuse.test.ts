// Run fusion (src/eval/fuse.ts, `drhard fuse`): RRF and min-max interpolation against hand-computed fusions, tie
// order consistent with the evaluator, depth cuts, weight tuning on a constructed example, and the CLI end to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseQrels, rankedDocs, readRun, runFromDocs, writeTrecRun, type Qrels, type Run } from '../../src/data/trec.ts';
import { evaluate } from '../../src/eval/evaluate.ts';
import {
  fuseInterpolate,
  fuseRrf,
  minMaxNormalize,
  pickBestAlpha,
  resolveWeights,
  tuneInterpolation,
} from '../../src/eval/fuse.ts';
import { DrhardInputError } from '../../src/util/errors.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-fuse-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function drhard(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Run A ("dense"):                          Run B ("BM25", another scale):
//   q1: d1 3, d2 2, d3 1                      q1: d2 -1, d4 -2, d1 -5
//   q2: x 1, y 1, z 0.5   (A only; x/y tie)   q3: u 5, v 4             (B only)
//   q4: a 2, b 1                              q4: b 2, a 1             (mirror images: fused tie)
//   q5: p 7, q 7          (all tied in q5's top) q5: q 3, r 1
// Input ranks follow the evaluator: score descending, ties by docid DESCENDING, so in A's q2 y is 1st, x 2nd, and in
// A's q5 q is 1st, p 2nd.
const A: Run = runFromDocs({
  q1: [{ docid: 'd1', score: 3 }, { docid: 'd2', score: 2 }, { docid: 'd3', score: 1 }],
  q2: [{ docid: 'x', score: 1 }, { docid: 'y', score: 1 }, { docid: 'z', score: 0.5 }],
  q4: [{ docid: 'a', score: 2 }, { docid: 'b', score: 1 }],
  q5: [{ docid: 'p', score: 7 }, { docid: 'q', score: 7 }],
});
const B: Run = runFromDocs({
  q1: [{ docid: 'd2', score: -1 }, { docid: 'd4', score: -2 }, { docid: 'd1', score: -5 }],
  q3: [{ docid: 'u', score: 5 }, { docid: 'v', score: 4 }],
  q4: [{ docid: 'b', score: 2 }, { docid: 'a', score: 1 }],
  q5: [{ docid: 'q', score: 3 }, { docid: 'r', score: 1 }],
});

function pairs(run: Run): Array<[string, Array<[string, number]>]> {
  return [...run].map(([qid, r]) => [qid, r.docids.map((d, i): [string, number] => [d, r.scores[i]!])]);
}

/** Exact docid order and scores within 1e-15 (sums of the same terms may round differently than the expressions). */
function assertFused(actual: Run, expected: Array<[string, Array<[string, number]>]>): void {
  const got = pairs(actual);
  assert.deepEqual(
    got.map(([q, ds]) => [q, ds.map(([d]) => d)]),
    expected.map(([q, ds]) => [q, ds.map(([d]) => d)]),
    'query and document order',
  );
  for (let i = 0; i < expected.length; i++) {
    for (let j = 0; j < expected[i]![1].length; j++) {
      const g = got[i]![1][j]![1];
      const e = expected[i]![1][j]![1];
      assert.ok(Math.abs(g - e) <= 1e-15, `${expected[i]![0]} ${expected[i]![1][j]![0]}: ${g} != ${e}`);
    }
  }
}

function throwsInput(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof DrhardInputError && re.test(e.message));
}

test('RRF, k = 60: hand-computed scores; docs in one run, queries in one run, input and fused ties in evaluator order', () => {
  const fused = fuseRrf([A, B], { depth: Infinity });
  // 1/61 = 0.01639344262295082, 1/62 = 0.016129032258064516, 1/63 = 0.015873015873015872
  assertFused(fused, [
    // d2: A rank 2 + B rank 1 = 1/62 + 1/61 = 0.03252247488101534
    // d1: A rank 1 + B rank 3 = 1/61 + 1/63 = 0.032266458495966696
    // d4: only B (rank 2) = 1/62; d3: only A (rank 3) = 1/63
    ['q1', [['d2', 0.03252247488101534], ['d1', 0.032266458495966696], ['d4', 0.016129032258064516], ['d3', 0.015873015873015872]]],
    // only A; x and y tie at 1 → y ranks 1st (docid descending), x 2nd, z 3rd
    ['q2', [['y', 0.01639344262295082], ['x', 0.016129032258064516], ['z', 0.015873015873015872]]],
    // a = 1/61 + 1/62, b = 1/62 + 1/61: an exact tie → b (docid descending) first
    ['q4', [['b', 0.03252247488101534], ['a', 0.03252247488101534]]],
    // A: q 1st, p 2nd (tie 7, 7); B: q 1st, r 2nd → q = 2/61 = 0.03278688524590164; p = r = 1/62 → r first
    ['q5', [['q', 0.03278688524590164], ['r', 0.016129032258064516], ['p', 0.016129032258064516]]],
    // only B: queries keep first-appearance order, so q3 comes after A's queries
    ['q3', [['u', 0.01639344262295082], ['v', 0.016129032258064516]]],
  ]);
  const q4 = fused.get('q4')!;
  assert.equal(q4.scores[0], q4.scores[1], 'mirror-image contributions must tie exactly');
});

test('RRF: weights and k change the fusion as the formula says', () => {
  // weights [2, 1], k = 60 on q1: d1 = 2/61 + 1/63 = 0.04865990111891751 now beats d2 = 2/62 + 1/61 = 0.048651507139079855;
  // d3 = 2/63 = 0.031746031746031744 beats d4 = 1/62
  const w = fuseRrf([A, B], { weights: [2, 1], depth: Infinity });
  assertFused(new Map([['q1', w.get('q1')!]]), [
    ['q1', [['d1', 0.04865990111891751], ['d2', 0.048651507139079855], ['d3', 0.031746031746031744], ['d4', 0.016129032258064516]]],
  ]);
  // k = 0: d2 = 1/2 + 1/1 = 1.5, d1 = 1/1 + 1/3 = 1.3333…, d4 = 1/2, d3 = 1/3
  const k0 = fuseRrf([A, B], { k: 0, depth: Infinity });
  assertFused(new Map([['q1', k0.get('q1')!]]), [['q1', [['d2', 1.5], ['d1', 4 / 3], ['d4', 0.5], ['d3', 1 / 3]]]]);
  // three runs: the third repeats B; terms are summed in ascending order, so equal multisets stay exact ties
  const three = fuseRrf([A, B, B], { depth: Infinity });
  const t4 = three.get('q4')!; // a = 1/61 + 1/62 + 1/62, b = 1/62 + 1/61 + 1/61 → b first
  assert.deepEqual(t4.docids, ['b', 'a']);
  const t5 = fuseRrf([A, B, A], { depth: Infinity }).get('q4')!; // a = 1/61+1/62+1/61, b = 1/62+1/61+1/62
  assert.deepEqual(t5.docids, ['a', 'b']);
  const swapped = fuseRrf([B, A, A], { depth: Infinity }).get('q4')!;
  assert.equal(swapped.scores[0], t5.scores[0], 'the sum does not depend on the run order');
  // where association matters: m has ranks (1, 2, 7) in runs 1-3 and n (7, 1, 2). Summed in run order,
  // (1/61 + 1/62) + 1/67 = 0.0474478480153437 but (1/67 + 1/61) + 1/62 = 0.04744784801534369; summed in ascending
  // order both are 1/67 + 1/62 + 1/61, a tie, so n (docid descending) ranks first.
  const at = (ranks: Record<string, number>): Run => {
    const docs = Array.from({ length: 7 }, (_, i) => ({ docid: `f${i + 1}`, score: 100 - (i + 1) }));
    for (const [d, rank] of Object.entries(ranks)) docs[rank - 1] = { docid: d, score: 100 - rank };
    return runFromDocs({ qt: docs });
  };
  const mn = fuseRrf([at({ m: 1, n: 7 }), at({ n: 1, m: 2 }), at({ n: 2, m: 7 })], { depth: Infinity }).get('qt')!;
  const im = mn.docids.indexOf('m');
  const iN = mn.docids.indexOf('n');
  assert.equal(mn.scores[im], mn.scores[iN]);
  assert.equal(iN + 1, im, 'n directly before m');
});

test('RRF depth: default = deepest input ranking (3); an explicit depth cuts in the evaluator order, ties included', () => {
  const def = fuseRrf([A, B]);
  assert.deepEqual(def.get('q1')!.docids, ['d2', 'd1', 'd4']);
  const two = fuseRrf([A, B], { depth: 2 });
  assert.deepEqual(
    [...two].map(([q, r]) => [q, r.docids]),
    [['q1', ['d2', 'd1']], ['q2', ['y', 'x']], ['q4', ['b', 'a']], ['q5', ['q', 'r']], ['q3', ['u', 'v']]],
  );
  // p ties with r at the cut and loses by docid order: the kept set is the evaluator's top 2 of the full fusion
  const qrels = parseQrels('q5 0 p 1\n');
  const full = fuseRrf([A, B], { depth: Infinity });
  assert.equal(evaluate(qrels, two, { metrics: ['mrr@10'] }).mean['mrr@10'], 0);
  assert.equal(evaluate(qrels, full, { metrics: ['mrr@10'], maxDocs: 2 }).mean['mrr@10'], 0);
  assert.equal(evaluate(qrels, full, { metrics: ['mrr@10'] }).mean['mrr@10'], 1 / 3);
});

test('min-max normalization: (s − min)/(max − min); max == min gives 1; non-finite scores refused', () => {
  assert.deepEqual([...minMaxNormalize([3, 1, 2])], [1, 0, 0.5]);
  assert.deepEqual([...minMaxNormalize([-1, -2, -5])], [1, 0.75, 0]);
  assert.deepEqual([...minMaxNormalize([7, 7])], [1, 1]);
  assert.deepEqual([...minMaxNormalize([4.2])], [1]);
  throwsInput(() => minMaxNormalize([Infinity, 1], { qid: 'q9', run: 'dense.trec' }), /dense\.trec: query q9: score Infinity is not finite/);
});

test('interpolation, alpha = 0.3: hand-computed fusion; missing documents get 0 from that run', () => {
  const fused = fuseInterpolate([A, B], { alpha: 0.3, depth: Infinity });
  // q1: A norm d1 1, d2 0.5, d3 0; B norm (min −5, max −1) d2 1, d4 0.75, d1 0
  //   d2 = 0.3·0.5 + 0.7·1 = 0.85; d4 = 0 + 0.7·0.75 = 0.525; d1 = 0.3·1 + 0.7·0 = 0.3; d3 = 0.3·0 + 0 = 0
  // q2 (A only): x = y = 0.3·1 → y first; z = 0
  // q4: a = 0.3·1 + 0.7·0 = 0.3, b = 0.3·0 + 0.7·1 = 0.7
  // q5: A's p, q tie (max == min) → both 1; B q 1, r 0: q = 0.3 + 0.7 = 1, p = 0.3, r = 0
  // q3 (B only): u = 0.7·1 = 0.7, v = 0
  assertFused(fused, [
    ['q1', [['d2', 0.85], ['d4', 0.525], ['d1', 0.3], ['d3', 0]]],
    ['q2', [['y', 0.3], ['x', 0.3], ['z', 0]]],
    ['q4', [['b', 0.7], ['a', 0.3]]],
    ['q5', [['q', 1], ['p', 0.3], ['r', 0]]],
    ['q3', [['u', 0.7], ['v', 0]]],
  ]);
  // alpha = 0.8 reverses q1's top: d1 = 0.8, d2 = 0.8·0.5 + 0.2·1 = 0.6, d4 = 0.2·0.75 = 0.15, d3 = 0
  assertFused(new Map([['q1', fuseInterpolate([A, B], { alpha: 0.8, depth: Infinity }).get('q1')!]]), [
    ['q1', [['d1', 0.8], ['d2', 0.6], ['d4', 0.15], ['d3', 0]]],
  ]);
  // default (alpha 0.5): q4's a = b = 0.5, a fused tie → b first; weights [1, 1] double every score
  const half = fuseInterpolate([A, B], { depth: Infinity });
  assertFused(new Map([['q4', half.get('q4')!]]), [['q4', [['b', 0.5], ['a', 0.5]]]]);
  const ones = fuseInterpolate([A, B], { weights: [1, 1], depth: Infinity });
  assertFused(new Map([['q1', ones.get('q1')!]]), [['q1', [['d2', 1.5], ['d1', 1], ['d4', 0.75], ['d3', 0]]]]);
});

test('weights: alpha needs two runs, one weight per run, finite and ≥ 0, not all 0', () => {
  assert.deepEqual(resolveWeights(2, { alpha: 0.25 }), [0.25, 0.75]);
  assert.deepEqual(resolveWeights(3, {}), [1, 1, 1]);
  throwsInput(() => resolveWeights(3, { alpha: 0.3 }), /alpha needs exactly two runs/);
  throwsInput(() => resolveWeights(2, { weights: [1] }), /1 weight\(s\) for 2 runs/);
  throwsInput(() => resolveWeights(2, { weights: [1, -1] }), /≥ 0/);
  throwsInput(() => resolveWeights(2, { weights: [0, 0] }), /at least one weight/);
  throwsInput(() => fuseInterpolate([A, runFromDocs({ q1: [{ docid: 'd1', score: -Infinity }, { docid: 'd2', score: 1 }] })], { names: ['a.trec', 'b.trec'] }), /b\.trec: query q1: score -Infinity/);
});

// Tuning example. Normalized values (A = first run, weight alpha; B = second, weight 1 − alpha):
//   tq1 (relevant r1): A x 1, r1 0.5, y 0;  B r1 1, y 0.5, x 0
//       x = α, r1 = 0.5α + (1 − α) = 1 − 0.5α, y = 0.5(1 − α)  → r1 1st iff α < 2/3, else 2nd (x first)
//   tq2 (relevant r2): A r2 1, z 0.25, w 0; B z 1, r2 0
//       r2 = α, z = 0.25α + (1 − α) = 1 − 0.75α, w = 0        → r2 1st iff α > 4/7 ≈ 0.571, else 2nd — but at
//       α = 0, r2 = w = 0 tie and w (docid descending) goes first, so r2 is 3rd
//   MRR@10: α = 0 → (1 + 1/3)/2 = 2/3; 0.05 … 0.55 → (1 + 0.5)/2 = 0.75; 0.6, 0.65 → 1; 0.7 … 1 → (0.5 + 1)/2 = 0.75.
//   Best: 0.6 and 0.65 tie at 1 → the one closer to 0.5: alpha = 0.6.
const TA: Run = runFromDocs({
  tq1: [{ docid: 'x', score: 2 }, { docid: 'r1', score: 1 }, { docid: 'y', score: 0 }],
  tq2: [{ docid: 'r2', score: 4 }, { docid: 'z', score: 1 }, { docid: 'w', score: 0 }],
});
const TB: Run = runFromDocs({
  tq1: [{ docid: 'r1', score: 2 }, { docid: 'y', score: 1 }, { docid: 'x', score: 0 }],
  tq2: [{ docid: 'z', score: 5 }, { docid: 'r2', score: 2 }],
});
const TQRELS: Qrels = parseQrels('tq1 0 r1 1\ntq2 0 r2 1\n');
const EXPECTED_CURVE = [2 / 3, ...new Array<number>(11).fill(0.75), 1, 1, ...new Array<number>(7).fill(0.75)];

test('tuning: the alpha sweep gives the hand-computed curve and picks alpha = 0.6', () => {
  const t = tuneInterpolation([TA, TB], TQRELS);
  assert.equal(t.metric, 'mrr@10');
  assert.deepEqual(t.curve.map((c) => c.alpha), Array.from({ length: 21 }, (_, i) => i / 20));
  for (let i = 0; i < 21; i++) assert.ok(Math.abs(t.curve[i]!.value - EXPECTED_CURVE[i]!) < 1e-12, `alpha ${t.curve[i]!.alpha}: ${t.curve[i]!.value}`);
  assert.equal(t.alpha, 0.6);
  assert.deepEqual(t.weights, [0.6, 1 - 0.6]);
  assert.equal(t.value, 1);
  assert.equal(t.queries, 2);
  // depth 1 keeps only each query's top document (cut without ordering, as tuning evaluates): MRR is 1 or 0 per query,
  // so the curve is 0.5 except 1 at 0.6 and 0.65
  const d1 = tuneInterpolation([TA, TB], TQRELS, { depth: 1 });
  assert.deepEqual(d1.curve.map((c) => c.value), EXPECTED_CURVE.map((v) => (v === 1 ? 1 : 0.5)));
  assert.equal(d1.alpha, 0.6);
  // swapping the runs mirrors the curve: the best alphas become 0.35 and 0.4, and 0.4 is closer to 0.5
  assert.equal(tuneInterpolation([TB, TA], TQRELS).alpha, 0.4);
  throwsInput(() => tuneInterpolation([TA, TB], parseQrels('other 0 r1 1\n')), /no tuning run query appears in the tuning qrels/);
  throwsInput(() => tuneInterpolation([TA, TB], TQRELS, { metric: 'bogus@3' }), /unknown metric/);
});

test('tuning ties: values within 1e-12 tie; nearest 0.5 wins, then the smaller alpha', () => {
  const c = (xs: Array<[number, number]>) => xs.map(([alpha, value]) => ({ alpha, value }));
  assert.equal(pickBestAlpha(c([[0, 0.2], [0.45, 0.9], [0.5, 0.8], [0.55, 0.9], [1, 0.9]])).alpha, 0.45);
  assert.equal(pickBestAlpha(c([[0, 0.5], [0.5, 0.5], [1, 0.5]])).alpha, 0.5);
  assert.equal(pickBestAlpha(c([[0.3, 0.7], [0.5, 0.7 - 1e-15], [0.9, 0.8 - 0.1 - 1e-14]])).alpha, 0.5);
  assert.equal(pickBestAlpha(c([[0.3, 0.7], [0.5, 0.7 - 1e-9]])).alpha, 0.3);
});

test('written run: rank column = evaluator order, and its metrics equal the in-memory fusion', () => {
  const fused = fuseRrf([A, B], { depth: Infinity });
  const file = path.join(tmp, 'lib-fused.trec');
  writeTrecRun(file, fused, { tag: 'fused' });
  const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => l.split(' '));
  const back = readRun(file).run;
  for (const [qid, r] of back) {
    const mine = lines.filter((f) => f[0] === qid);
    assert.deepEqual(mine.map((f) => f[2]), rankedDocs(r).map((d) => d.docid), `query ${qid}: rank column vs evaluator order`);
    assert.deepEqual(mine.map((f) => Number(f[3])), mine.map((_, i) => i + 1));
    assert.deepEqual(mine.map((f) => f[2]), fused.get(qid)!.docids);
  }
  const qrels = parseQrels('q1 0 d1 1\nq2 0 x 1\nq3 0 u 1\nq4 0 a 1\nq5 0 p 1\n');
  const a = evaluate(qrels, fused, { metrics: ['mrr@10', 'ndcg@10'] });
  const b = evaluate(qrels, back, { metrics: ['mrr@10', 'ndcg@10'] });
  assert.deepEqual(b.mean, a.mean);
  // d1 2nd, x 2nd, u 1st, a 2nd (tie lost), p 3rd: (1/2 + 1/2 + 1 + 1/2 + 1/3) / 5
  assert.ok(Math.abs(a.mean['mrr@10']! - (0.5 + 0.5 + 1 + 0.5 + 1 / 3) / 5) < 1e-15);
});

// ---------------------------------------------------------------------------------------------------------------
// CLI

function writeRunFile(name: string, run: Run, tag: string): string {
  const file = path.join(tmp, name);
  const lines: string[] = [];
  for (const [qid, r] of run) rankedDocs(r).forEach((d, i) => lines.push(`${qid} Q0 ${d.docid} ${i + 1} ${d.score} ${tag}`));
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

test('CLI fuse --method rrf --out: the hand-computed run file, which drhard evaluate scores as expected', () => {
  const a = writeRunFile('dense.trec', A, 'dense');
  const b = writeRunFile('bm25.trec', B, 'bm25');
  const out = path.join(tmp, 'out', 'rrf.trec');
  const r = drhard('fuse', a, b, '--method', 'rrf', '--depth', '2', '--out', out, '--tag', 'hyb');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(
    fs.readFileSync(out, 'utf8'),
    [
      'q1 Q0 d2 1 0.03252247488101534 hyb', // 1/62 + 1/61
      'q1 Q0 d1 2 0.032266458495966696 hyb', // 1/61 + 1/63
      'q2 Q0 y 1 0.01639344262295082 hyb', // A only, y before x on the input tie
      'q2 Q0 x 2 0.016129032258064516 hyb',
      'q4 Q0 b 1 0.03252247488101534 hyb', // fused tie, b before a
      'q4 Q0 a 2 0.03252247488101534 hyb',
      'q5 Q0 q 1 0.03278688524590164 hyb', // 2/61
      'q5 Q0 r 2 0.016129032258064516 hyb', // 1/62, ties with p, which the depth-2 cut drops
      'q3 Q0 u 1 0.01639344262295082 hyb', // B only
      'q3 Q0 v 2 0.016129032258064516 hyb',
      '',
    ].join('\n'),
  );
  assert.deepEqual(fs.readdirSync(path.dirname(out)), ['rrf.trec'], 'no temp file left beside the output');
  // MRR@10: q1 d1 at 2 → 1/2; q2 x at 2 → 1/2; q3 u at 1 → 1; q4 a at 2 → 1/2; q5 p cut → 0: mean 2.5 / 5 = 0.5
  const qrelsFile = path.join(tmp, 'fused.qrels');
  fs.writeFileSync(qrelsFile, 'q1 0 d1 1\nq2 0 x 1\nq3 0 u 1\nq4 0 a 1\nq5 0 p 1\n');
  assert.equal(evaluate(parseQrels(fs.readFileSync(qrelsFile, 'utf8')), readRun(out).run, { metrics: ['mrr@10'] }).mean['mrr@10'], 0.5);
  const e = drhard('evaluate', '--qrels', qrelsFile, '--run', out, '--format', 'json');
  assert.equal(e.code, 0, e.stderr);
  assert.equal((JSON.parse(e.stdout) as Record<string, number>)['mrr@10'], 0.5);
});

test('CLI fuse --method interpolate with --tune-qrels/--tune-runs: alpha 0.6 chosen, logged, reported, applied', () => {
  const a = writeRunFile('dense.trec', A, 'dense');
  const b = writeRunFile('bm25.trec', B, 'bm25');
  const ta = writeRunFile('dense.tune.trec', TA, 'dense');
  const tb = writeRunFile('bm25.tune.trec', TB, 'bm25');
  const tq = path.join(tmp, 'tune.qrels');
  fs.writeFileSync(tq, 'tq1 0 r1 1\ntq2 0 r2 1\n');
  const report = path.join(tmp, 'fuse-report.json');
  const r = drhard('fuse', a, b, '--method', 'interpolate', '--tune-qrels', tq, '--tune-runs', `${ta},${tb}`, '--report', report);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /tuned alpha = 0\.6 \(mrr@10 1\.0000 on 2 tuning queries\)/);
  assert.doesNotMatch(r.stderr, /tuning queries also occur/);
  const rep = JSON.parse(fs.readFileSync(report, 'utf8')) as {
    weights: number[];
    depth: number;
    tuning: { alpha: number; value: number; metric: string; curve: Array<{ alpha: number; value: number }> };
  };
  assert.equal(rep.tuning.alpha, 0.6);
  assert.equal(rep.tuning.metric, 'mrr@10');
  assert.deepEqual(rep.weights, [0.6, 1 - 0.6]);
  assert.equal(rep.depth, 3);
  assert.equal(rep.tuning.curve.length, 21);
  for (let i = 0; i < 21; i++) assert.ok(Math.abs(rep.tuning.curve[i]!.value - EXPECTED_CURVE[i]!) < 1e-12);
  // stdout: the fused run at alpha 0.6, depth 3 (deepest input). q1: d2 = 0.6·0.5 + 0.4·1 = 0.7, d1 = 0.6, d4 = 0.4·0.75 = 0.3
  const out = r.stdout.trimEnd().split('\n').map((l) => l.split(' '));
  const q1 = out.filter((f) => f[0] === 'q1');
  assert.deepEqual(q1.map((f) => [f[2], f[3], f[5]]), [['d2', '1', 'fuse-interpolate'], ['d1', '2', 'fuse-interpolate'], ['d4', '3', 'fuse-interpolate']]);
  assert.ok(Math.abs(Number(q1[0]![4]) - 0.7) < 1e-15 && Math.abs(Number(q1[1]![4]) - 0.6) < 1e-15 && Math.abs(Number(q1[2]![4]) - 0.3) < 1e-15);
  assert.deepEqual([...new Set(out.map((f) => f[0]))], ['q1', 'q2', 'q4', 'q5', 'q3']);
});

test('CLI fuse: a malformed run exits 1 naming file:line; bad flag combinations exit 2; nothing written', () => {
  const a = writeRunFile('dense.trec', A, 'dense');
  const bad = path.join(tmp, 'bad.run');
  fs.writeFileSync(bad, 'q1 Q0 d1 1 0.5 t\nq1 Q0 d2 2 0,4 t\n');
  const out = path.join(tmp, 'never.trec');
  const r1 = drhard('fuse', a, bad, '--out', out);
  assert.equal(r1.code, 1);
  assert.equal(r1.stdout, '');
  assert.match(r1.stderr, /bad\.run:2: score: not a number: "0,4"/);
  assert.equal(fs.existsSync(out), false);
  const r2 = drhard('fuse', a, a, a, '--method', 'interpolate', '--alpha', '0.3', '--out', out);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /--alpha needs exactly two runs/);
  assert.equal(fs.existsSync(out), false);
});
