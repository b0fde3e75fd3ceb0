// Significance-test library: incomplete beta / t distribution vs closed forms and tables, paired tests, corrections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bonferroni,
  bootstrapCI,
  holm,
  logGamma,
  pairedTTest,
  quantileSorted,
  randomizationTest,
  regularizedIncompleteBeta,
  studentTCdf,
  studentTQuantile,
  studentTTwoSided,
  tConfidenceInterval,
} from '../../src/eval/stats.ts';
import { compareRuns } from '../../src/eval/compare.ts';
import { evaluate } from '../../src/eval/evaluate.ts';
import { Rng } from '../../src/util/rng.ts';

const near = (a: number, b: number, tol: number, msg = ''): void => assert.ok(Math.abs(a - b) <= tol, `${msg} ${a} vs ${b} (tol ${tol})`);

function binom(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
}

test('logGamma: factorials and Γ(1/2) = √π', () => {
  let fact = 1;
  for (let n = 1; n <= 30; n++) {
    near(logGamma(n), Math.log(fact), 1e-12 * Math.max(1, Math.log(fact)), `lnΓ(${n})`);
    fact *= n;
  }
  near(logGamma(0.5), 0.5 * Math.log(Math.PI), 1e-14);
  near(logGamma(1.5), Math.log(Math.sqrt(Math.PI) / 2), 1e-14);
});

test('I_x(a, b) equals the binomial-sum closed form for integer a, b', () => {
  // I_x(a, b) = Σ_{j=a}^{a+b-1} C(a+b-1, j) x^j (1-x)^{a+b-1-j}
  for (const a of [1, 2, 3, 7, 20]) {
    for (const b of [1, 2, 5, 11, 30]) {
      for (const x of [0.001, 0.1, 0.35, 0.5, 0.77, 0.999]) {
        const n = a + b - 1;
        let want = 0;
        for (let j = a; j <= n; j++) want += binom(n, j) * x ** j * (1 - x) ** (n - j);
        near(regularizedIncompleteBeta(x, a, b), want, 1e-13, `I_${x}(${a},${b})`);
      }
    }
  }
  assert.equal(regularizedIncompleteBeta(0, 2, 3), 0);
  assert.equal(regularizedIncompleteBeta(1, 2, 3), 1);
  near(regularizedIncompleteBeta(0.3, 2.5, 2.5) + regularizedIncompleteBeta(0.7, 2.5, 2.5), 1, 1e-14, 'symmetry');
  assert.throws(() => regularizedIncompleteBeta(1.5, 1, 1), RangeError);
});

/** Abramowitz & Stegun 26.7.3/26.7.4: two-sided t tail from a finite trigonometric series (integer df). */
function tTwoSidedAS(t: number, df: number): number {
  const theta = Math.atan(Math.abs(t) / Math.sqrt(df));
  const s = Math.sin(theta);
  const c = Math.cos(theta);
  let a: number;
  if (df % 2 === 1) {
    let term = 0;
    let sum = 0;
    if (df > 1) {
      term = c;
      sum = c;
      for (let k = 3; k <= df - 2; k += 2) {
        term *= ((k - 1) / k) * c * c;
        sum += term;
      }
    }
    a = (2 / Math.PI) * (theta + s * sum);
  } else {
    let term = 1;
    let sum = 1;
    for (let k = 2; k <= df - 2; k += 2) {
      term *= ((k - 1) / k) * c * c;
      sum += term;
    }
    a = s * sum;
  }
  return 1 - a;
}

test('Student t: CDF and two-sided tail vs closed forms for df = 1..40', () => {
  for (let df = 1; df <= 40; df++) {
    for (const t of [0.1, 0.5, 1, 1.96, 2.5, 4, 8]) {
      const want = tTwoSidedAS(t, df);
      near(studentTTwoSided(t, df), want, 1e-12, `p(|T|≥${t}; ${df})`);
      near(studentTCdf(t, df), 1 - want / 2, 1e-12, `cdf(${t}; ${df})`);
      near(studentTCdf(-t, df), want / 2, 1e-12, `cdf(-${t}; ${df})`);
    }
  }
  near(studentTCdf(1.3, 1), 0.5 + Math.atan(1.3) / Math.PI, 1e-14, 'Cauchy');
  assert.equal(studentTCdf(0, 5), 0.5);
  assert.equal(studentTCdf(Infinity, 5), 1);
});

test('t quantiles: closed forms (df 1, 2) and printed t-table values', () => {
  for (const p of [0.6, 0.9, 0.975, 0.995]) {
    near(studentTQuantile(p, 1), Math.tan(Math.PI * (p - 0.5)), 1e-9 * Math.tan(Math.PI * (p - 0.5)), `q(${p}; 1)`);
    near(studentTQuantile(p, 2), (2 * p - 1) / Math.sqrt(2 * p * (1 - p)), 1e-12, `q(${p}; 2)`);
  }
  // two-sided 95% / 99% critical values as printed in t tables (3 decimals)
  const table: Array<[number, number, number]> = [
    [0.975, 5, 2.571],
    [0.975, 10, 2.228],
    [0.975, 30, 2.042],
    [0.975, 120, 1.98],
    [0.995, 10, 3.169],
    [0.995, 30, 2.75],
    [0.95, 20, 1.725],
  ];
  for (const [p, df, want] of table) near(studentTQuantile(p, df), want, 5e-4, `q(${p}; ${df})`);
  near(studentTQuantile(0.975, 1e6), 1.959963984540054, 1e-5, 'normal limit');
  near(studentTQuantile(0.025, 10), -studentTQuantile(0.975, 10), 1e-14);
});

// Cushny & Peebles sleep data (Student 1908), as in R's `t.test(extra ~ group, data = sleep, paired = TRUE)`.
const SLEEP1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
const SLEEP2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];

test('paired t-test reproduces R on the sleep data (t = 4.0621, df = 9, p = 0.002833, CI [0.700, 2.460])', () => {
  const r = pairedTTest(SLEEP2, SLEEP1);
  near(r.meanDiff, 1.58, 1e-12);
  near(r.t, 4.062127683382037, 1e-9);
  assert.equal(r.df, 9);
  near(r.p, 0.002832890197, 1e-9);
  near(r.ci[0], 0.7001142, 1e-6);
  near(r.ci[1], 2.4598858, 1e-6);
  near(r.effectSize, 1.58 / r.sdDiff, 1e-15);
  const flipped = pairedTTest(SLEEP1, SLEEP2);
  near(flipped.t, -r.t, 1e-12);
  near(flipped.p, r.p, 1e-15);
  assert.deepEqual(tConfidenceInterval(SLEEP2.map((x, i) => x - SLEEP1[i]!)), r.ci);
});

test('paired t-test edge cases: identical arrays, constant shift, too few queries, unequal lengths', () => {
  const same = pairedTTest([0.1, 0.5, 0.2], [0.1, 0.5, 0.2]);
  assert.equal(same.t, 0);
  assert.equal(same.p, 1);
  const shift = pairedTTest([1, 2, 3], [0, 1, 2]);
  assert.equal(shift.t, Infinity);
  assert.equal(shift.p, 0);
  assert.throws(() => pairedTTest([1], [0]), /at least 2/);
  assert.throws(() => pairedTTest([1, 2], [0]), /equal lengths/);
  assert.throws(() => pairedTTest([1, NaN], [0, 0]), /non-finite/);
});

test('randomization test: exact enumeration on the sleep data, seeded Monte Carlo otherwise', () => {
  // nine positive differences and one zero: only "all +" and "all −" (×2 for the zero) reach |Σ| = 15.8
  const exact = randomizationTest(SLEEP2, SLEEP1, { trials: 5000 });
  assert.equal(exact.exact, true);
  assert.equal(exact.p, 4 / 1024);
  const mc = randomizationTest(SLEEP2, SLEEP1, { trials: 500, seed: 3 });
  assert.equal(mc.exact, false);
  assert.ok(mc.p >= 1 / 501, 'Monte Carlo p counts the observed assignment');
  assert.ok(mc.p < 0.05);
  const rng = new Rng(5);
  const a = Array.from({ length: 400 }, () => rng.float());
  const b = a.map((x) => x + (rng.float() - 0.5) * 0.2);
  const r1 = randomizationTest(a, b, { trials: 2000, seed: 9 });
  const r2 = randomizationTest(a, b, { trials: 2000, seed: 9 });
  assert.equal(r1.p, r2.p, 'same seed, same p');
  const rt = pairedTTest(a, b);
  near(r1.p, rt.p, 0.05, 'randomization p ≈ t-test p for many queries');
  const null0 = randomizationTest([0.2, 0.3, 0.4], [0.2, 0.3, 0.4]);
  assert.equal(null0.p, 1);
});

test('randomization test p is (near-)uniform under the null: about 5% of p-values below 0.05', () => {
  const rng = new Rng(77);
  let below = 0;
  const reps = 200;
  for (let r = 0; r < reps; r++) {
    const a = Array.from({ length: 30 }, () => rng.float());
    const b = Array.from({ length: 30 }, () => rng.float());
    if (randomizationTest(a, b, { trials: 400, seed: r }).p < 0.05) below++;
  }
  assert.ok(below >= 3 && below <= 22, `${below} of ${reps} below 0.05`);
});

test('Holm and Bonferroni match R p.adjust', () => {
  // p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") → 0.03 0.06 0.06 0.02
  const h = holm([0.01, 0.04, 0.03, 0.005]);
  [0.03, 0.06, 0.06, 0.02].forEach((w, i) => near(h[i]!, w, 1e-15));
  bonferroni([0.01, 0.3, 0.5]).forEach((p, i) => near(p, [0.03, 0.9, 1][i]!, 1e-15));
  assert.deepEqual(holm([0.5, 0.5]), [1, 1]);
  assert.deepEqual(holm([]), []);
});

test('bootstrap CI: seeded, brackets the mean, close to the t interval for smooth data', () => {
  const rng = new Rng(1);
  const d = Array.from({ length: 500 }, () => rng.float() - 0.4);
  const b1 = bootstrapCI(d, { trials: 2000, seed: 4 });
  assert.deepEqual(bootstrapCI(d, { trials: 2000, seed: 4 }), b1);
  const mean = d.reduce((s, x) => s + x, 0) / d.length;
  assert.ok(b1[0] < mean && mean < b1[1]);
  const t = tConfidenceInterval(d);
  near(b1[0], t[0], 0.01);
  near(b1[1], t[1], 0.01);
  assert.equal(quantileSorted([1, 2, 3, 4], 0.5), 2.5);
});

test('compareRuns: per-metric Holm across runs, wins/losses, refuses misaligned query sets', () => {
  const qrels = new Map([0, 1, 2, 3, 4, 5, 6, 7].map((q) => [`q${q}`, new Map([[`rel${q}`, 1]])]));
  const mk = (pos: number[]) =>
    new Map(pos.map((p, q) => [`q${q}`, { docids: Array.from({ length: 10 }, (_, i) => (i === p ? `rel${q}` : `n${i}`)), scores: Array.from({ length: 10 }, (_, i) => 10 - i) }]));
  const base = evaluate(qrels, mk([5, 5, 5, 5, 5, 5, 5, 5]), { metrics: ['mrr@10', 'ndcg@10'] });
  const better = evaluate(qrels, mk([0, 0, 1, 0, 0, 2, 0, 6]), { metrics: ['mrr@10', 'ndcg@10'] });
  const same = evaluate(qrels, mk([5, 5, 5, 5, 5, 5, 5, 5]), { metrics: ['mrr@10', 'ndcg@10'] });
  const rows = compareRuns([base, better, same], { trials: 1000, seed: 1 });
  assert.equal(rows.length, 4);
  const mb = rows.find((r) => r.metric === 'mrr@10' && r.run === 1)!;
  assert.equal(mb.wins, 7);
  assert.equal(mb.losses, 1);
  assert.ok(mb.diff > 0 && mb.pT < 0.05 && mb.pRandomization < 0.05);
  assert.ok(mb.pTAdjusted >= mb.pT);
  const ms = rows.find((r) => r.metric === 'mrr@10' && r.run === 2)!;
  assert.equal(ms.pT, 1);
  assert.equal(ms.ties, 8);
  const partial = evaluate(qrels, mk([0, 0]), { metrics: ['mrr@10'], complete: false });
  assert.throws(() => compareRuns([base, partial]), /different query set/);
});
