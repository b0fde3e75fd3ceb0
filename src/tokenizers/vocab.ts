// Vocabulary sizing for tokenizers trained from scratch: the default size derived from the corpus size, and
// --min-frequency, which keeps only the learned tokens the corpus supports (the node binding's trainer has no
// min_frequency of its own, so the merges are replayed here over the corpus's word counts).

/** Anchor of the default vocabulary size: BabyBERTa's 8,192 BPE tokens for ~5M words (Huebner et al., 2021). */
export const VOCAB_ANCHOR = { words: 5_000_000, vocab: 8192 } as const;
/** The default size never goes below this (the demo's quick preset) nor above the trainer's 30,000 (BERT's). */
export const DEFAULT_VOCAB_MIN = 4096;
export const DEFAULT_VOCAB_MAX = 30_000;
/** Default sizes are rounded to a multiple of this (embedding rows in whole tiles). */
export const DEFAULT_VOCAB_MULTIPLE = 256;

/**
 * The default vocabulary size for a corpus of `words` whitespace-separated words: 8192 × √(words / 5M), rounded to a
 * multiple of 256 and clamped to [4096, 30000]. The word vocabulary of a corpus grows roughly as √N (Heaps' law,
 * β ≈ 0.5), and so, at a fixed coverage, does a useful subword vocabulary: anchored at BabyBERTa's 8,192 for ~5M
 * words, it reaches BERT's 30k at ~67M words (MS MARCO's 500M-word passage corpus gets 30,000). Small corpora get
 * 4096, which --min-frequency then trims to the tokens the data actually supports.
 */
export function defaultVocabSize(words: number): number {
  const raw = VOCAB_ANCHOR.vocab * Math.sqrt(Math.max(0, words) / VOCAB_ANCHOR.words);
  const rounded = Math.round(raw / DEFAULT_VOCAB_MULTIPLE) * DEFAULT_VOCAB_MULTIPLE;
  return Math.min(DEFAULT_VOCAB_MAX, Math.max(DEFAULT_VOCAB_MIN, rounded));
}

/** GPT-2's byte → printable character table (the ByteLevel pre-tokenizer's alphabet), by byte value. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const table = new Array<string>(256);
  bs.forEach((b, i) => (table[b] = String.fromCodePoint(cs[i] as number)));
  return table;
}

// GPT-2's pre-tokenization pattern, as the ByteLevel pre-tokenizer (use_regex) applies it.
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
// BERT's punctuation: ASCII punctuation plus Unicode P*; each one becomes its own pre-token.
const BERT_PUNCT = /([\p{P}!-/:-@[-`{-~])/u;
const CONTROL = /[\p{Cc}\p{Cf}\u0000\uFFFD]/gu;
const CJK = /([\u4E00-\u9FFF\u3400-\u4DBF\uF900-\uFAFF\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B820}-\u{2CEAF}\u{2F800}-\u{2FA1F}])/gu;

/**
 * Counts the pre-tokens ("words") of training lines the way the trainer does: BPE lowercases (optionally) and splits
 * with GPT-2's pattern (each line keeps its newline, as the trainer reads it); WordPiece applies BERT's normalizer
 * (clean text, CJK spacing, accent stripping and lowercasing together) and splits on whitespace and punctuation.
 */
export class PreTokenCounter {
  readonly counts = new Map<string, number>();
  constructor(
    readonly kind: 'bpe' | 'wordpiece',
    readonly lowercase: boolean,
  ) {}

  add(line: string): void {
    if (this.kind === 'bpe') {
      const s = this.lowercase ? `${line.toLowerCase()}\n` : `${line}\n`;
      for (const m of s.matchAll(GPT2_SPLIT)) this.bump(m[0]);
      return;
    }
    let s = line.replace(CONTROL, (c) => (c === '\t' || c === '\n' || c === '\r' ? ' ' : '')).replace(CJK, ' $1 ');
    if (this.lowercase) s = s.normalize('NFD').replace(/\p{Mn}/gu, '').toLowerCase();
    for (const piece of s.split(/\s+/)) {
      if (piece.length === 0) continue;
      for (const w of piece.split(BERT_PUNCT)) if (w.length > 0) this.bump(w);
    }
  }

  private bump(w: string): void {
    this.counts.set(w, (this.counts.get(w) ?? 0) + 1);
  }
}

const KEY = 2 ** 21;

/**
 * Replays BPE merges over a word-count table and reports each merge's pair count at the moment it is applied
 * (what the trainer compared with min_frequency). Words are sequences of symbols; merging is left to right, as
 * the trainer's.
 */
export class MergeReplay {
  private readonly ids = new Map<string, number>();
  private readonly pool: Int32Array;
  private readonly start: Int32Array;
  private readonly len: Int32Array;
  private readonly freq: Float64Array;
  private readonly pairCount = new Map<number, number>();
  private readonly where = new Map<number, number[]>();
  private readonly stamp: Int32Array;
  private epoch = 0;

  constructor(words: ReadonlyArray<readonly [readonly string[], number]>) {
    let total = 0;
    for (const [s] of words) total += s.length;
    this.pool = new Int32Array(total);
    this.start = new Int32Array(words.length);
    this.len = new Int32Array(words.length);
    this.freq = new Float64Array(words.length);
    this.stamp = new Int32Array(words.length);
    let o = 0;
    words.forEach(([syms, f], w) => {
      this.start[w] = o;
      this.len[w] = syms.length;
      this.freq[w] = f;
      for (let i = 0; i < syms.length; i++) {
        const id = this.id(syms[i] as string);
        this.pool[o + i] = id;
        if (i > 0) this.addPair(this.pool[o + i - 1] as number, id, f, w);
      }
      o += syms.length;
    });
  }

  /** The symbol id of a token, created on first use. */
  private id(tok: string): number {
    let id = this.ids.get(tok);
    if (id === undefined) {
      id = this.ids.size;
      if (id >= KEY) throw new RangeError('too many symbols');
      this.ids.set(tok, id);
    }
    return id;
  }

  has(tok: string): boolean {
    return this.ids.has(tok);
  }

  private addPair(a: number, b: number, f: number, w: number): void {
    const k = a * KEY + b;
    this.pairCount.set(k, (this.pairCount.get(k) ?? 0) + f);
    let list = this.where.get(k);
    if (list === undefined) this.where.set(k, (list = []));
    if (list[list.length - 1] !== w) list.push(w);
  }

  private subPair(a: number, b: number, f: number): void {
    const k = a * KEY + b;
    const c = (this.pairCount.get(k) ?? 0) - f;
    if (c > 0) this.pairCount.set(k, c);
    else this.pairCount.delete(k);
  }

  /** Current count of the adjacent pair (a, b); 0 when either token is unknown. */
  count(a: string, b: string): number {
    const ia = this.ids.get(a);
    const ib = this.ids.get(b);
    if (ia === undefined || ib === undefined) return 0;
    return this.pairCount.get(ia * KEY + ib) ?? 0;
  }

  /** Merges every (a, b) occurrence into `merged`; returns the pair's count before the merge. */
  merge(a: string, b: string, merged: string): number {
    const ia = this.ids.get(a);
    const ib = this.ids.get(b);
    const n = this.id(merged);
    if (ia === undefined || ib === undefined) return 0;
    const k = ia * KEY + ib;
    const before = this.pairCount.get(k) ?? 0;
    const list = this.where.get(k) ?? [];
    this.where.delete(k);
    this.epoch++;
    for (const w of list) {
      if (this.stamp[w] === this.epoch) continue;
      this.stamp[w] = this.epoch;
      const s = this.start[w] as number;
      const end = s + (this.len[w] as number);
      const f = this.freq[w] as number;
      const p = this.pool;
      let out = s;
      let i = s;
      while (i < end) {
        if (i + 1 < end && p[i] === ia && p[i + 1] === ib) {
          this.subPair(ia, ib, f);
          if (out > s) {
            const prev = p[out - 1] as number;
            this.subPair(prev, ia, f);
            this.addPair(prev, n, f, w);
          }
          if (i + 2 < end) {
            const next = p[i + 2] as number;
            this.subPair(ib, next, f);
            this.addPair(n, next, f, w);
          }
          p[out++] = n;
          i += 2;
        } else p[out++] = p[i++] as number;
      }
      this.len[w] = out - s;
    }
    return before;
  }
}

function codePoints(s: string): string[] {
  return Array.from(s);
}

/**
 * How many of the trained BPE `merges` (in order) keep a pair count >= `minFrequency` when replayed over the
 * corpus's words: the trainer merges the most frequent pair first, so counts only fall and the rest are cut.
 */
export function bpeMergesAbove(counts: ReadonlyMap<string, number>, merges: ReadonlyArray<readonly [string, string]>, minFrequency: number): number {
  const table = bytesToUnicode();
  const enc = new TextEncoder();
  const words: Array<[string[], number]> = [];
  for (const [w, f] of counts) words.push([Array.from(enc.encode(w), (b) => table[b] as string), f]);
  const sim = new MergeReplay(words);
  for (let i = 0; i < merges.length; i++) {
    const [a, b] = merges[i] as readonly [string, string];
    if (sim.count(a, b) < minFrequency) return i;
    sim.merge(a, b, a + b);
  }
  return merges.length;
}

/**
 * How many leading entries of a trained WordPiece vocabulary (in id order: the alphabet, `##`-continuations, then
 * one token per merge) survive `minFrequency`. A merged token's pair is found by replaying: of its splits into two
 * current tokens, the one with the highest count (the trainer took the most frequent pair).
 */
export function wordPieceTokensAbove(counts: ReadonlyMap<string, number>, vocabInOrder: readonly string[], minFrequency: number): number {
  const words: Array<[string[], number]> = [];
  for (const [w, f] of counts) words.push([codePoints(w).map((c, i) => (i === 0 ? c : `##${c}`)), f]);
  const sim = new MergeReplay(words);
  for (let i = 0; i < vocabInOrder.length; i++) {
    const tok = vocabInOrder[i] as string;
    const cont = tok.startsWith('##') && tok.length > 2;
    const body = codePoints(cont ? tok.slice(2) : tok);
    if (body.length <= 1) continue; // alphabet symbol: always kept, as the trainer keeps its whole alphabet
    let best: [string, string] | undefined;
    let bestCount = -1;
    for (let k = 1; k < body.length; k++) {
      const a = (cont ? '##' : '') + body.slice(0, k).join('');
      const b = `##${body.slice(k).join('')}`;
      if (!sim.has(a) || !sim.has(b)) continue;
      const c = sim.count(a, b);
      if (c > bestCount) {
        bestCount = c;
        best = [a, b];
      }
    }
    if (best === undefined || bestCount < minFrequency) return i;
    sim.merge(best[0], best[1], tok);
  }
  return vocabInOrder.length;
}
