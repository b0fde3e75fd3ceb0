// Property tests (fast-check): metrics against a brute-force sort-everything reference, bounds, tie invariance, monotonicity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { rankedDocs, type Qrels, type Ranking, type Run } from '../../src/data/trec.ts';
import { evaluate } from '../../src/eval/evaluate.ts';

const RUNS = 150;

// Few distinct scores and short docids so ties and byte-order tie-breaks happen often.
const docidArb = fc.constantFrom('a', 'b', 'c', 'd9', 'd10', 'D1', 'e', 'f', 'g', 'h', 'ü', 'zz', '10', '9');
const scoreArb = fc.constantFrom(0, 0.5, 1, 1.5, 2, -1);
const rankingArb = fc.uniqueArray(fc.record({ docid: docidArb, score: scoreArb }), { selector: (d) => d.docid, maxLength: 14 });
const judgmentsArb = fc.uniqueArray(fc.tuple(docidArb, fc.integer({ min: -1, max: 3 })), { selector: (t) => t[0], maxLength: 8 });
const caseArb = fc.record({
  queries: fc.array(fc.tuple(rankingArb, judgmentsArb, fc.boolean()), { minLength: 1, maxLength: 6 }),
  threshold: fc.constantFrom<number | 'any'>(0, 1, 2, 'any'),
  k: fc.integer({ min: 1, max: 16 }),
});

function build(queries: Array<[Array<{ docid: string; score: number }>, Array<[string, number]>, boolean]>): { qrels: Qrels; run: Run } {
  const qrels: Qrels = new Map();
  const run: Run = new Map();
  queries.forEach(([docs, judg, inRun], i) => {
    qrels.set(`q${i}`, new Map(judg));
    if (inRun) run.set(`q${i}`, { docids: docs.map((d) => d.docid), scores: docs.map((d) => d.score) });
  });
  return { qrels, run };
}

/** trec_eval's loops over a fully sorted ranking (form_res_rels.c + m_*.c), written independently of src/eval. */
function reference(r: Ranking | undefined, judg: Map<string, number>, t: number | 'any', k: number): Record<string, number> {
  const ranked = r ? rankedDocs(r) : [];
  const rels = ranked.map((d) => judg.get(d.docid));
  const isRel = (g: number | undefined): boolean => g !== undefined && (t === 'any' || (g >= 0 && g >= t));
  let numRel = 0;
  for (const g of judg.values()) if (isRel(g)) numRel++;
  let rr = 0;
  for (let i = 0; i < ranked.length && i < k; i++) {
    if (isRel(rels[i])) {
      rr = 1 / (i + 1);
      break;
    }
  }
  let relK = 0;
  for (let i = 0; i < Math.min(k, ranked.length); i++) if (isRel(rels[i])) relK++;
  let sum = 0;
  let soFar = 0;
  for (let i = 0; i < ranked.length; i++) {
    if (isRel(rels[i])) {
      soFar++;
      sum += soFar / (i + 1);
    }
  }
  let relR = 0;
  for (let i = 0; i < Math.min(numRel, ranked.length); i++) if (isRel(rels[i])) relR++;
  let dcg = 0;
  for (let i = 0; i < Math.min(k, ranked.length); i++) {
    const g = rels[i] ?? 0;
    if (g > 0) dcg += g / Math.log2(i + 2);
  }
  const ideal = [...judg.values()].filter((g) => g > 0).sort((a, b) => b - a);
  let idcg = 0;
  for (let i = 0; i < Math.min(k, ideal.length); i++) idcg += ideal[i]! / Math.log2(i + 2);
  return {
    [`mrr@${k}`]: rr,
    [`recall@${k}`]: numRel > 0 ? relK / numRel : 0,
    [`p@${k}`]: relK / k,
    map: numRel > 0 ? sum / numRel : 0,
    rprec: numRel > 0 ? relR / numRel : 0,
    [`ndcg@${k}`]: idcg > 0 ? dcg / idcg : 0,
  };
}

test('every metric equals a brute-force sort-everything reference (ties, grades, thresholds, missing queries)', () => {
  fc.assert(
    fc.property(caseArb, ({ queries, threshold, k }) => {
      const { qrels, run } = build(queries);
      const metrics = [`mrr@${k}`, `recall@${k}`, `p@${k}`, 'map', 'rprec', `ndcg@${k}`];
      const res = evaluate(qrels, run, { metrics, relThreshold: threshold });
      for (const [qid, judg] of qrels) {
        const want = reference(run.get(qid), judg, threshold, k);
        const got = res.perQuery.get(qid)!;
        for (const m of metrics) assert.ok(Math.abs(got[m]! - want[m]!) < 1e-12, `${qid} ${m}: ${got[m]} vs ${want[m]}`);
      }
    }),
    { numRuns: RUNS, seed: 20210711 },
  );
});

test('bounds: every metric lies in [0, 1]', () => {
  fc.assert(
    fc.property(caseArb, ({ queries, threshold, k }) => {
      const { qrels, run } = build(queries);
      const res = evaluate(qrels, run, { metrics: [`mrr@${k}`, `recall@${k}`, `p@${k}`, 'map', 'rprec', `ndcg@${k}`, `success@${k}`, `map@${k}`], relThreshold: threshold });
      for (const col of Object.values(res.values)) for (const v of col) assert.ok(v >= 0 && v <= 1 + 1e-12, `out of bounds: ${v}`);
    }),
    { numRuns: RUNS, seed: 7 },
  );
});

test('tie handling is invariant to the order documents arrive in', () => {
  fc.assert(
    fc.property(caseArb, fc.integer(), ({ queries, threshold, k }, seed) => {
      const { qrels, run } = build(queries);
      const shuffled: Run = new Map();
      let s = seed >>> 0;
      for (const [qid, r] of run) {
        const idx = r.docids.map((_, i) => i);
        for (let i = idx.length - 1; i > 0; i--) {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          const j = s % (i + 1);
          [idx[i], idx[j]] = [idx[j]!, idx[i]!];
        }
        shuffled.set(qid, { docids: idx.map((i) => r.docids[i]!), scores: idx.map((i) => r.scores[i]!) });
      }
      const metrics = [`mrr@${k}`, `ndcg@${k}`, 'map', `recall@${k}`];
      assert.deepEqual(evaluate(qrels, shuffled, { metrics, relThreshold: threshold }).values, evaluate(qrels, run, { metrics, relThreshold: threshold }).values);
    }),
    { numRuns: RUNS, seed: 11 },
  );
});

test('MRR@k, Recall@k and Success@k are monotone non-decreasing in k', () => {
  fc.assert(
    fc.property(caseArb, ({ queries, threshold }) => {
      const { qrels, run } = build(queries);
      const ks = [1, 2, 3, 5, 8, 13, 20];
      const metrics = ks.flatMap((k) => [`mrr@${k}`, `recall@${k}`, `success@${k}`]);
      const res = evaluate(qrels, run, { metrics, relThreshold: threshold });
      for (const kind of ['mrr', 'recall', 'success']) {
        for (let i = 1; i < ks.length; i++) {
          const lo = res.values[`${kind}@${ks[i - 1]}`]!;
          const hi = res.values[`${kind}@${ks[i]}`]!;
          lo.forEach((v, q) => assert.ok(hi[q]! >= v, `${kind}@${ks[i]} < ${kind}@${ks[i - 1]}`));
        }
      }
    }),
    { numRuns: RUNS, seed: 13 },
  );
});

test('maxDocs = k equals evaluating the run truncated to its top k; complete = false equals restricting the qrels', () => {
  fc.assert(
    fc.property(caseArb, ({ queries, threshold, k }) => {
      const { qrels, run } = build(queries);
      const truncated: Run = new Map();
      for (const [qid, r] of run) {
        const top = rankedDocs(r, k);
        truncated.set(qid, { docids: top.map((d) => d.docid), scores: top.map((d) => d.score) });
      }
      const metrics = ['mrr', 'map', 'rprec', 'ndcg@5', 'p@3'];
      assert.deepEqual(
        evaluate(qrels, run, { metrics, relThreshold: threshold, maxDocs: k }).values,
        evaluate(qrels, truncated, { metrics, relThreshold: threshold }).values,
      );
      const restricted: Qrels = new Map([...qrels].filter(([q]) => run.has(q)));
      const a = evaluate(qrels, run, { metrics, relThreshold: threshold, complete: false });
      const b = evaluate(restricted, run, { metrics, relThreshold: threshold, complete: true });
      assert.deepEqual(a.values, b.values);
      assert.deepEqual(a.queries, b.queries);
    }),
    { numRuns: RUNS, seed: 17 },
  );
});
