// Seeded PRNG (xoshiro128**) whose whole state is four uint32s, so data order can be saved in checkpoints.
import { DrhardInputError } from './errors.ts';

/** JSON form of an Rng; stored in training checkpoints (`rng.json`). */
export interface RngState {
  alg: 'xoshiro128**';
  s: [number, number, number, number];
}

const TWO_32 = 4294967296;
const TWO_53 = 9007199254740992;

// SplitMix32 (Mulberry-style finalizer) spreads a small seed over all four words; xoshiro must never be all-zero.
function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

// Injective in (lo, hi): s0 determines lo, and given s0, s1 determines hi; every word depends on both halves
// (xoshiro128**'s first output reads only s1).
function seedWords(lo: number, hi: number): [number, number, number, number] {
  const s0 = splitmix32(lo);
  const s1 = splitmix32((hi ^ splitmix32((s0 ^ 0x5bd1e995) >>> 0)) >>> 0);
  const s2 = splitmix32((s0 ^ s1 ^ 0x27d4eb2d) >>> 0);
  const s3 = splitmix32((s2 + s1 + 0x632be5ab) >>> 0);
  const out: [number, number, number, number] = [s0, s1, s2, s3];
  if ((s0 | s1 | s2 | s3) === 0) out[3] = 1;
  return out;
}

// FNV-1a over UTF-16 code units: fork labels only need to be spread apart, not be cryptographic.
function fnv1a(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** `seed` is any safe integer; it is split into two 32-bit words (two's complement for negative seeds). */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new DrhardInputError(`seed must be a safe integer, got ${seed}`, { field: 'seed' });
    const lo = seed >>> 0;
    const hi = Math.floor(seed / TWO_32) >>> 0;
    [this.s0, this.s1, this.s2, this.s3] = seedWords(lo, hi);
  }

  /** Restores a generator saved with `state()`; throws DrhardInputError on a malformed state. */
  static fromState(state: unknown): Rng {
    const st = state as Partial<RngState> | null;
    if (st === null || typeof st !== 'object' || st.alg !== 'xoshiro128**') {
      throw new DrhardInputError(`expected {alg: "xoshiro128**", s: [4 uint32]}`, { field: 'rng' });
    }
    const s = st.s;
    if (!Array.isArray(s) || s.length !== 4 || !s.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_32)) {
      throw new DrhardInputError('rng.s must be 4 uint32 values', { field: 'rng.s' });
    }
    if ((s[0] | s[1] | s[2] | s[3]) === 0) throw new DrhardInputError('rng.s must not be all zero', { field: 'rng.s' });
    const r = Object.create(Rng.prototype) as Rng;
    r.s0 = s[0];
    r.s1 = s[1];
    r.s2 = s[2];
    r.s3 = s[3];
    return r;
  }

  state(): RngState {
    return { alg: 'xoshiro128**', s: [this.s0, this.s1, this.s2, this.s3] };
  }

  /** Next uint32. */
  next(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1) with 53 random bits (two draws). */
  float(): number {
    const a = this.next() >>> 5; // 27 bits
    const b = this.next() >>> 6; // 26 bits
    return (a * 67108864 + b) / TWO_53;
  }

  /** Uniform integer in [0, n), n a positive safe integer; rejection sampling keeps it unbiased. */
  int(n: number): number {
    if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`Rng.int: n must be a positive safe integer, got ${n}`);
    if (n <= TWO_32) {
      const limit = TWO_32 - (TWO_32 % n);
      for (;;) {
        const x = this.next();
        if (x < limit) return x % n;
      }
    }
    const limit = TWO_53 - (TWO_53 % n);
    for (;;) {
      const x = (this.next() >>> 11) * TWO_32 + this.next();
      if (x < limit) return x % n;
    }
  }

  /** In-place Fisher–Yates shuffle; returns the same array. */
  shuffle<T>(arr: T[]): T[] {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = arr[i] as T;
      arr[i] = arr[j] as T;
      arr[j] = tmp;
    }
    return arr;
  }

  /** `k` distinct integers from [0, n) in random order; O(k) memory, so fine for k ≪ n (negative sampling). */
  sample(n: number, k: number): number[] {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`Rng.sample: n must be a non-negative integer, got ${n}`);
    if (!Number.isSafeInteger(k) || k < 0 || k > n) throw new RangeError(`Rng.sample: need 0 <= k <= n, got k=${k}, n=${n}`);
    // Partial Fisher–Yates over a virtual identity array; the map holds only swapped slots.
    const swapped = new Map<number, number>();
    const out: number[] = new Array<number>(k);
    for (let i = 0; i < k; i++) {
      const j = i + this.int(n - i);
      const vj = swapped.get(j) ?? j;
      const vi = swapped.get(i) ?? i;
      swapped.set(j, vi);
      out[i] = vj;
    }
    return out;
  }

  /**
   * An independent generator named by `label`, derived from this one's current state without advancing it:
   * the same state and label always give the same stream, different labels give unrelated streams.
   */
  fork(label: string): Rng {
    const h = fnv1a(label);
    const r = Object.create(Rng.prototype) as Rng;
    const words = [this.s0, this.s1, this.s2, this.s3];
    let acc = h;
    const s: number[] = [];
    for (let i = 0; i < 4; i++) {
      acc = splitmix32((acc ^ (words[i] as number) ^ Math.imul(i + 1, 0x9e3779b9)) >>> 0);
      s.push(splitmix32((acc + h) >>> 0));
    }
    r.s0 = s[0] as number;
    r.s1 = s[1] as number;
    r.s2 = s[2] as number;
    r.s3 = s[3] as number;
    if ((r.s0 | r.s1 | r.s2 | r.s3) === 0) r.s0 = 1;
    return r;
  }
}
