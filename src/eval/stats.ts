// Paired significance tests on per-query metrics: t-test, randomization test, bootstrap/t intervals, Holm/Bonferroni.
import { Rng } from '../util/rng.ts';
import { DrhardInputError } from '../util/errors.ts';

// ---------------------------------------------------------------------------------------------------------------
// Special functions

const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos, |rel err| ≲ 1e-15). */
export function logGamma(x: number): number {
  if (!(x > 0)) throw new RangeError(`logGamma: x must be > 0, got ${x}`);
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0]!;
  const t = z + LANCZOS_G + 0.5;
  for (let i = 1; i < LANCZOS.length; i++) a += LANCZOS[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction for I_x(a, b) (modified Lentz), valid where x < (a + 1) / (a + b + 2). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const TINY = 1e-300;
  const EPS = 1e-16;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 100000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) return h;
  }
  throw new Error(`incomplete beta: continued fraction did not converge (x=${x}, a=${a}, b=${b})`);
}

/** Regularized incomplete beta function I_x(a, b) for a, b > 0 and 0 ≤ x ≤ 1. */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (!(a > 0) || !(b > 0)) throw new RangeError(`incomplete beta: a, b must be > 0 (a=${a}, b=${b})`);
  if (!(x >= 0 && x <= 1)) throw new RangeError(`incomplete beta: x must be in [0, 1], got ${x}`);
  if (x === 0) return 0;
  if (x === 1) return 1;
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  const front = Math.exp(lnFront);
  // The continued fraction converges fast on this side; use the symmetry I_x(a,b) = 1 − I_{1−x}(b,a) on the other.
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** Student t CDF P(T ≤ t) with `df` degrees of freedom (df > 0, may be fractional). */
export function studentTCdf(t: number, df: number): number {
  if (!(df > 0)) throw new RangeError(`studentTCdf: df must be > 0, got ${df}`);
  if (Number.isNaN(t)) return NaN;
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  const x = df / (df + t * t);
  const tail = 0.5 * regularizedIncompleteBeta(x, df / 2, 0.5);
  return t > 0 ? 1 - tail : tail;
}

/** Two-sided p-value P(|T| ≥ |t|), computed without the 1 − CDF cancellation. */
export function studentTTwoSided(t: number, df: number): number {
  if (Number.isNaN(t)) return NaN;
  if (!Number.isFinite(t)) return 0;
  return regularizedIncompleteBeta(df / (df + t * t), df / 2, 0.5);
}

/** The t quantile: smallest t with CDF(t) ≥ p (bisection to machine precision; p in (0, 1)). */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`studentTQuantile: p must be in (0, 1), got ${p}`);
  if (p === 0.5) return 0;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  let lo = 0;
  let hi = 1;
  while (studentTCdf(hi, df) < p) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) return Infinity;
  }
  for (let i = 0; i < 2000 && hi - lo > 1e-15 * Math.max(1, hi); i++) {
    const mid = 0.5 * (lo + hi);
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

// ---------------------------------------------------------------------------------------------------------------
// Paired tests

type Numbers = ArrayLike<number>;

function pairedDiffs(a: Numbers, b: Numbers): Float64Array {
  if (a.length !== b.length) {
    throw new DrhardInputError(`paired test needs equal lengths, got ${a.length} and ${b.length}`, { field: 'per-query values' });
  }
  const d = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      throw new DrhardInputError(`non-finite value at index ${i} (${x}, ${y})`, { field: 'per-query values' });
    }
    d[i] = x - y;
  }
  return d;
}

function meanOf(d: Float64Array): number {
  let s = 0;
  for (let i = 0; i < d.length; i++) s += d[i]!;
  return s / d.length;
}

/** Sample standard deviation (n − 1), two-pass for accuracy. */
function sdOf(d: Float64Array, mean: number): number {
  let ss = 0;
  for (let i = 0; i < d.length; i++) ss += (d[i]! - mean) ** 2;
  return Math.sqrt(ss / (d.length - 1));
}

export interface TTestResult {
  n: number;
  /** mean(a − b) */
  meanDiff: number;
  sdDiff: number;
  t: number;
  df: number;
  /** two-sided */
  p: number;
  /** Cohen's d_z = meanDiff / sdDiff (paired effect size). */
  effectSize: number;
  /** t-based confidence interval for meanDiff at level 1 − alpha. */
  ci: [number, number];
  alpha: number;
}

/**
 * Paired two-sided t-test of a vs b (arrays aligned by query). Identical arrays give t = 0, p = 1; a constant
 * non-zero difference gives t = ±Infinity, p = 0.
 */
export function pairedTTest(a: Numbers, b: Numbers, opts: { alpha?: number } = {}): TTestResult {
  const alpha = opts.alpha ?? 0.05;
  const d = pairedDiffs(a, b);
  const n = d.length;
  if (n < 2) throw new DrhardInputError(`paired t-test needs at least 2 queries, got ${n}`, { field: 'per-query values' });
  const mean = meanOf(d);
  const sd = sdOf(d, mean);
  const df = n - 1;
  const se = sd / Math.sqrt(n);
  let t: number;
  if (se === 0) t = mean === 0 ? 0 : mean > 0 ? Infinity : -Infinity;
  else t = mean / se;
  const p = t === 0 ? 1 : studentTTwoSided(t, df);
  const q = studentTQuantile(1 - alpha / 2, df);
  const effectSize = sd === 0 ? (mean === 0 ? 0 : mean > 0 ? Infinity : -Infinity) : mean / sd;
  return { n, meanDiff: mean, sdDiff: sd, t, df, p, effectSize, ci: [mean - q * se, mean + q * se], alpha };
}

export function tConfidenceInterval(values: Numbers, opts: { alpha?: number } = {}): [number, number] {
  const alpha = opts.alpha ?? 0.05;
  const d = Float64Array.from(values);
  if (d.length < 2) throw new DrhardInputError(`confidence interval needs at least 2 values, got ${d.length}`);
  const mean = meanOf(d);
  const se = sdOf(d, mean) / Math.sqrt(d.length);
  const q = studentTQuantile(1 - alpha / 2, d.length - 1);
  return [mean - q * se, mean + q * se];
}

export interface RandomizationResult {
  n: number;
  meanDiff: number;
  /** two-sided p-value: (#{|permuted mean| ≥ |observed|} + 1) / (trials + 1), or exact when enumerated. */
  p: number;
  trials: number;
  exact: boolean;
  seed: number;
}

/**
 * Paired randomization (sign-flip permutation) test on mean(a − b). Each trial swaps each query's pair with
 * probability 1/2. When 2^n ≤ trials every assignment is enumerated and p is exact. Seeded (util/rng), so a seed
 * always gives the same p.
 */
export function randomizationTest(a: Numbers, b: Numbers, opts: { trials?: number; seed?: number } = {}): RandomizationResult {
  const trials = opts.trials ?? 10000;
  const seed = opts.seed ?? 42;
  if (!Number.isSafeInteger(trials) || trials < 1) throw new DrhardInputError(`trials must be a positive integer, got ${trials}`, { field: 'trials' });
  const d = pairedDiffs(a, b);
  const n = d.length;
  if (n < 1) throw new DrhardInputError('randomization test needs at least 1 query', { field: 'per-query values' });
  let obs = 0;
  let absSum = 0;
  for (let i = 0; i < n; i++) {
    obs += d[i]!;
    absSum += Math.abs(d[i]!);
  }
  // Sums of the same magnitudes in another order differ by rounding only; count those as ties, not as smaller.
  const tol = 1e-9 * absSum + 1e-300;
  const target = Math.abs(obs) - tol;
  if (n <= 20 && 2 ** n <= trials) {
    let hits = 0;
    const total = 2 ** n;
    for (let mask = 0; mask < total; mask++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += (mask >>> i) & 1 ? -d[i]! : d[i]!;
      if (Math.abs(s) >= target) hits++;
    }
    return { n, meanDiff: obs / n, p: hits / total, trials: total, exact: true, seed };
  }
  const rng = new Rng(seed);
  let hits = 0;
  for (let t = 0; t < trials; t++) {
    let s = 0;
    let bits = 0;
    for (let i = 0; i < n; i++) {
      if ((i & 31) === 0) bits = rng.next();
      s += bits & 1 ? -d[i]! : d[i]!;
      bits >>>= 1;
    }
    if (Math.abs(s) >= target) hits++;
  }
  return { n, meanDiff: obs / n, p: (hits + 1) / (trials + 1), trials, exact: false, seed };
}

/** Percentile bootstrap CI of mean(values) (resampling queries with replacement), seeded. */
export function bootstrapCI(
  values: Numbers,
  opts: { trials?: number; seed?: number; alpha?: number } = {},
): [number, number] {
  const trials = opts.trials ?? 10000;
  const alpha = opts.alpha ?? 0.05;
  const n = values.length;
  if (n < 1) throw new DrhardInputError('bootstrap needs at least 1 value');
  if (!Number.isSafeInteger(trials) || trials < 1) throw new DrhardInputError(`trials must be a positive integer, got ${trials}`, { field: 'trials' });
  const rng = new Rng(opts.seed ?? 42);
  const means = new Float64Array(trials);
  for (let t = 0; t < trials; t++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[rng.int(n)]!;
    means[t] = s / n;
  }
  means.sort();
  return [quantileSorted(means, alpha / 2), quantileSorted(means, 1 - alpha / 2)];
}

/** Linear-interpolated quantile of sorted data (numpy's default "linear" method). */
export function quantileSorted(sorted: Numbers, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo]! + (pos - lo) * (sorted[hi]! - sorted[lo]!);
}

// ---------------------------------------------------------------------------------------------------------------
// Multiple comparisons

/** Bonferroni-adjusted p-values: min(1, p · m). */
export function bonferroni(pvals: readonly number[]): number[] {
  const m = pvals.length;
  return pvals.map((p) => Math.min(1, p * m));
}

/** Holm–Bonferroni step-down adjusted p-values, in the input order (monotone, capped at 1). */
export function holm(pvals: readonly number[]): number[] {
  const m = pvals.length;
  const order = pvals.map((p, i) => [p, i] as const).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const out = new Array<number>(m).fill(0);
  let running = 0;
  for (let r = 0; r < m; r++) {
    const [p, i] = order[r]!;
    running = Math.max(running, Math.min(1, (m - r) * p));
    out[i] = running;
  }
  return out;
}
