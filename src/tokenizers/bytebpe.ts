// Byte-level BPE (GPT-2/RoBERTa) for pure-ASCII text in JavaScript, with a word cache: the same ids as the tokenizers
// library's ByteLevel pre-tokenizer + BPE model, at a fraction of its per-text cost (its Encoding objects, offsets and
// thread hand-offs dominated preprocess). Text with any non-ASCII character is left to the tokenizers library, so
// the Unicode classes of the GPT-2 split regex only ever meet ASCII here.
import type { TokenizerJson } from './spec.ts';

const enum Cls {
  Space = 0,
  Letter = 1,
  Digit = 2,
  Other = 3,
}
// \s, \p{L}, \p{N} of the split regex restricted to ASCII: whitespace is \t \n \v \f \r and space.
const CLS = new Uint8Array(128).fill(Cls.Other);
for (const c of [9, 10, 11, 12, 13, 32]) CLS[c] = Cls.Space;
for (let c = 65; c <= 90; c++) CLS[c] = CLS[c + 32] = Cls.Letter;
for (let c = 48; c <= 57; c++) CLS[c] = Cls.Digit;

/** GPT-2's bytes_to_unicode for the ASCII bytes: the character each byte is spelled with in the vocabulary. */
function byteChars(): string[] {
  const printable = (b: number): boolean => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const out: string[] = [];
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(printable(b) ? b : 256 + n++);
  return out.slice(0, 128);
}

/**
 * End of the pre-token starting at `i` under `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
 * (alternatives tried in order at each position, as the regex engine does).
 */
function tokenEnd(s: string, i: number): number {
  const n = s.length;
  const c = s.charCodeAt(i);
  if (c === 39 && i + 1 < n) {
    const d = s.charCodeAt(i + 1);
    if (d === 115 || d === 116 || d === 109 || d === 100) return i + 2; // 's 't 'm 'd
    if (i + 2 < n) {
      const e = s.charCodeAt(i + 2);
      if ((d === 114 && e === 101) || (d === 118 && e === 101) || (d === 108 && e === 108)) return i + 3; // 're 've 'll
    }
  }
  let j = i;
  let k = CLS[c]!;
  if (c === 32 && i + 1 < n && CLS[s.charCodeAt(i + 1)] !== Cls.Space) {
    j = i + 1;
    k = CLS[s.charCodeAt(j)]!;
  }
  if (k !== Cls.Space) {
    j++;
    while (j < n && CLS[s.charCodeAt(j)] === k) j++;
    return j;
  }
  // Whitespace: the run, less its last character when a non-space follows (that one leads the next token).
  while (j < n && CLS[s.charCodeAt(j)] === Cls.Space) j++;
  return j < n && j - i > 1 ? j - 1 : j;
}

/** A min-heap of merges ordered by (rank, position), as the tokenizers library's BPE word merge. */
class MergeHeap {
  rank: number[] = [];
  pos: number[] = [];
  id: number[] = [];
  get size(): number {
    return this.rank.length;
  }
  private less(a: number, b: number): boolean {
    const ra = this.rank[a]!;
    const rb = this.rank[b]!;
    return ra < rb || (ra === rb && this.pos[a]! < this.pos[b]!);
  }
  private swap(a: number, b: number): void {
    const { rank, pos, id } = this;
    [rank[a], rank[b]] = [rank[b]!, rank[a]!];
    [pos[a], pos[b]] = [pos[b]!, pos[a]!];
    [id[a], id[b]] = [id[b]!, id[a]!];
  }
  push(rank: number, pos: number, id: number): void {
    this.rank.push(rank);
    this.pos.push(pos);
    this.id.push(id);
    let i = this.rank.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  /** Removes the top into out[0..2] = rank, pos, id. */
  pop(out: number[]): void {
    out[0] = this.rank[0]!;
    out[1] = this.pos[0]!;
    out[2] = this.id[0]!;
    const last = this.rank.length - 1;
    this.swap(0, last);
    this.rank.pop();
    this.pos.pop();
    this.id.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < last && this.less(l, m)) m = l;
      if (r < last && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }
}

const PAIR = 1 << 21;

export class AsciiByteBpe {
  readonly charId: Int32Array;
  /** (left id · 2²¹ + right id) → rank · 2²¹ + merged id. */
  private readonly merges = new Map<number, number>();
  private readonly cache = new Map<string, readonly number[]>();
  private readonly maxCache: number;

  private constructor(vocab: Map<string, number>, merges: Array<[string, string]>, maxCache: number) {
    const chars = byteChars();
    this.charId = Int32Array.from(chars, (ch) => vocab.get(ch) ?? -1);
    merges.forEach(([a, b], rank) => {
      const ia = vocab.get(a);
      const ib = vocab.get(b);
      const m = vocab.get(a + b);
      // Later duplicates win, as in the library's merge map.
      if (ia !== undefined && ib !== undefined && m !== undefined) this.merges.set(ia * PAIR + ib, rank * PAIR + m);
    });
    this.maxCache = maxCache;
  }

  /**
   * The fast path for a tokenizer.json whose model is a plain byte-level BPE (no dropout, unk, affixes, byte
   * fallback, ignore_merges) and which has no non-special added tokens; undefined for anything else.
   */
  static fromJson(json: TokenizerJson, maxCache = 200_000): AsciiByteBpe | undefined {
    const m = json.model;
    if (m.type !== 'BPE' || m['dropout'] != null || m['byte_fallback'] === true || m['ignore_merges'] === true) return undefined;
    if (m['continuing_subword_prefix'] || m['end_of_word_suffix']) return undefined;
    if (json.added_tokens.some((a) => !a.special)) return undefined;
    const vocab = new Map<string, number>();
    const v = m.vocab;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    for (const [k, id] of Object.entries(v as Record<string, unknown>)) if (typeof id === 'number') vocab.set(k, id);
    if (vocab.size >= PAIR) return undefined;
    const raw = Array.isArray(m.merges) ? (m.merges as unknown[]) : [];
    const merges: Array<[string, string]> = [];
    for (const e of raw) {
      if (typeof e === 'string') {
        const sp = e.indexOf(' ');
        if (sp < 0 || e.indexOf(' ', sp + 1) >= 0) return undefined;
        merges.push([e.slice(0, sp), e.slice(sp + 1)]);
      } else if (Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && typeof e[1] === 'string') merges.push([e[0], e[1]]);
      else return undefined;
    }
    return new AsciiByteBpe(vocab, merges, maxCache);
  }

  /**
   * The fast path for a whole tokenizer.json pipeline (not compat28): undefined unless every stage is one this class
   * reproduces on ASCII text. Added tokens are not reproduced here: texts containing one go to the library
   * (see FullPipelineBpe.encode).
   */
  static forPipeline(json: TokenizerJson, maxCache = 200_000): FullPipelineBpe | undefined {
    const norm = asciiNormalizer(json.normalizer);
    if (norm === undefined) return undefined;
    const pre = json.pre_tokenizer;
    if (!isObj(pre) || pre['type'] !== 'ByteLevel') return undefined;
    // use_regex defaults to true in the library; anything but true/absent means another split.
    if (!(pre['use_regex'] === undefined || pre['use_regex'] === true)) return undefined;
    if (!(pre['add_prefix_space'] === undefined || typeof pre['add_prefix_space'] === 'boolean')) return undefined;
    if (!constantPostProcessor(json.post_processor)) return undefined;
    const m = json.model;
    const unk = m.unk_token;
    const bpe = AsciiByteBpe.fromJson(json, maxCache);
    if (bpe === undefined) return undefined;
    // A byte missing from the vocabulary becomes unk in the library but is dropped here.
    if (unk != null && bpe.charId.some((id) => id < 0)) return undefined;
    const added = json.added_tokens.map((a) => a.content);
    if (added.some((a) => a.length === 0)) return undefined;
    // pre['add_prefix_space'] defaults to true in the library's ByteLevel.
    return new FullPipelineBpe(bpe, norm === 'lower', pre['add_prefix_space'] !== false, added);
  }

  /** Ids of `text` (no special tokens), or undefined when it has a non-ASCII character. */
  encode(text: string, out: number[] = []): number[] | undefined {
    return isAscii(text) ? this.encodeAscii(text, out) : undefined;
  }

  /** Ids of `text`, known to be pure ASCII, appended to `out`. */
  encodeAscii(text: string, out: number[]): number[] {
    for (let i = 0; i < text.length; ) {
      const j = tokenEnd(text, i);
      const word = text.slice(i, j);
      let ids = this.cache.get(word);
      if (ids === undefined) {
        ids = this.word(word);
        if (this.cache.size >= this.maxCache) this.cache.clear();
        this.cache.set(word, ids);
      }
      for (let k = 0; k < ids.length; k++) out.push(ids[k]!);
      i = j;
    }
    return out;
  }

  /** The library's Word::merge_all: pop the lowest (rank, position) merge, skip stale entries, merge, push neighbours. */
  private word(w: string): number[] {
    const c: number[] = [];
    for (let i = 0; i < w.length; i++) {
      const id = this.charId[w.charCodeAt(i)]!;
      if (id >= 0) c.push(id); // no unk token: a character outside the vocabulary is dropped, as the library does
    }
    const n = c.length;
    if (n < 2) return c;
    const prev = Array.from({ length: n }, (_, i) => i - 1);
    const next = Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const alive = new Uint8Array(n).fill(1);
    const heap = new MergeHeap();
    for (let i = 0; i + 1 < n; i++) {
      const m = this.merges.get(c[i]! * PAIR + c[i + 1]!);
      if (m !== undefined) heap.push(Math.floor(m / PAIR), i, m % PAIR);
    }
    const top = [0, 0, 0];
    while (heap.size > 0) {
      heap.pop(top);
      const pos = top[1]!;
      const newId = top[2]!;
      if (!alive[pos] || next[pos] === -1) continue;
      const r = next[pos]!;
      const cur = this.merges.get(c[pos]! * PAIR + c[r]!);
      if (cur === undefined || cur % PAIR !== newId) continue;
      c[pos] = newId;
      alive[r] = 0;
      next[pos] = next[r]!;
      if (next[r]! >= 0) prev[next[r]!] = pos;
      const p = prev[pos]!;
      if (p >= 0) {
        const m = this.merges.get(c[p]! * PAIR + c[pos]!);
        if (m !== undefined) heap.push(Math.floor(m / PAIR), p, m % PAIR);
      }
      const q = next[pos]!;
      if (q >= 0) {
        const m = this.merges.get(c[pos]! * PAIR + c[q]!);
        if (m !== undefined) heap.push(Math.floor(m / PAIR), pos, m % PAIR);
      }
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]!) out.push(c[i]!);
    return out;
  }
}

function isAscii(text: string): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[^\x00-\x7f]/.test(text);
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * 'none' / 'lower' when the normalizer is, on ASCII text, the identity / ASCII lowercasing: null, Lowercase, the
 * four Unicode normal forms (ASCII has no decompositions) and Sequences of those; undefined for anything else.
 */
function asciiNormalizer(n: unknown): 'none' | 'lower' | undefined {
  if (n === null || n === undefined) return 'none';
  if (!isObj(n)) return undefined;
  const t = n['type'];
  if (t === 'Lowercase') return 'lower';
  if (t === 'NFC' || t === 'NFD' || t === 'NFKC' || t === 'NFKD') return 'none';
  if (t === 'Sequence' && Array.isArray(n['normalizers'])) {
    let r: 'none' | 'lower' = 'none';
    for (const x of n['normalizers'] as unknown[]) {
      const k = asciiNormalizer(x);
      if (k === undefined) return undefined;
      if (k === 'lower') r = 'lower';
    }
    return r;
  }
  return undefined;
}

/**
 * Post-processors that wrap a single sequence in the same special tokens whatever it holds, so the probe in
 * DrTokenizer.create tells them; a template repeating $A, or any other type, is not accepted.
 */
function constantPostProcessor(p: unknown): boolean {
  if (p === null || p === undefined) return true;
  if (!isObj(p)) return false;
  const t = p['type'];
  if (t === 'RobertaProcessing' || t === 'BertProcessing' || t === 'ByteLevel') return true;
  if (t === 'TemplateProcessing' && Array.isArray(p['single'])) {
    let seqs = 0;
    for (const piece of p['single'] as unknown[]) {
      if (!isObj(piece)) return false;
      if (isObj(piece['Sequence'])) {
        if (piece['Sequence']['id'] !== 'A') return false;
        seqs++;
      } else if (!isObj(piece['SpecialToken'])) return false;
    }
    return seqs === 1;
  }
  return false;
}

/**
 * A whole byte-level BPE tokenizer.json pipeline on pure-ASCII text: normalizer (identity or lowercase), ByteLevel
 * prefix space, the GPT-2 split and BPE. Special tokens around the sequence are the caller's.
 */
export class FullPipelineBpe {
  /** Texts encoded here rather than handed back (the tests check the fast path is taken). */
  fastTexts = 0;
  private readonly firstChars: Set<number>;

  constructor(
    private readonly bpe: AsciiByteBpe,
    private readonly lower: boolean,
    private readonly prefixSpace: boolean,
    private readonly added: readonly string[],
  ) {
    // Lowercasing runs before added tokens that are `normalized` are matched: compare both cases, conservatively.
    this.firstChars = new Set<number>();
    for (const a of added) {
      const c = a.charCodeAt(0);
      this.firstChars.add(c);
      if (c < 128) {
        this.firstChars.add(String.fromCharCode(c).toLowerCase().charCodeAt(0));
        this.firstChars.add(String.fromCharCode(c).toUpperCase().charCodeAt(0));
      }
    }
  }

  /**
   * Content ids of `text` appended to `out`, or undefined (out untouched) when the library must do it: non-ASCII, or
   * an added token may match.
   */
  encode(text: string, out: number[] = []): number[] | undefined {
    if (!isAscii(text)) return undefined;
    if (this.added.length > 0 && this.mayHoldAdded(text)) return undefined;
    let t = this.lower ? text.toLowerCase() : text;
    // The library's ByteLevel prepends a space unless the (normalized) text is empty or already starts with one.
    if (this.prefixSpace && t.length > 0 && t.charCodeAt(0) !== 32) t = ` ${t}`;
    this.fastTexts++;
    // ASCII stays ASCII under lowercasing and the prefix space: no second scan.
    return this.bpe.encodeAscii(t, out);
  }

  private mayHoldAdded(text: string): boolean {
    let any = false;
    for (let i = 0; i < text.length && !any; i++) any = this.firstChars.has(text.charCodeAt(i));
    if (!any) return false;
    const lower = text.toLowerCase();
    const upper = text.toUpperCase();
    for (const a of this.added) {
      if (text.includes(a) || lower.includes(a.toLowerCase()) || upper.includes(a.toUpperCase())) return true;
    }
    return false;
  }
}
