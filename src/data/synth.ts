// Deterministic MS MARCO-shaped synthetic passage data (collection, train/dev queries and qrels in MS MARCO's TSV
// formats) and synthetic embeddings files, for scale rehearsals (bench/scale.ts) where the real data is not at hand.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { DrhardInputError } from '../util/errors.ts';
import { AtomicWriter, writeFileAtomic } from '../util/fsx.ts';
import { EMBEDDINGS_FORMAT, writeEmbeddingsManifest } from '../retrieval/embeddings.ts';

/**
 * The text statistics. Sizes are MS MARCO passage v1's (8,841,823 passages; dev.small 6,980 queries with 7,437
 * judgments; train 502,939 judged queries with 532,761 judgments, i.e. ~6% of queries carry a second positive).
 * Lengths follow the published means (BEIR's table: 55.98 words per passage, 5.96 per query) with a log-normal
 * shape (word counts of web text are right-skewed); the spread (sigma) is our assumption, not a measured figure.
 * Words are drawn from a Zipf law (exponent 1, as for English running text) over `vocab` word types; ~2M types is
 * what Heaps' law (V = K·n^β, K ≈ 30, β ≈ 0.55) gives for MS MARCO's ~0.5G running words.
 */
export interface SynthSpec {
  seed: number;
  passages: number;
  trainQueries: number;
  devQueries: number;
  /** Mean words per passage / per query (before the [min, max] clamp). */
  passageWords: number;
  queryWords: number;
  /** Log-normal sigma of the word counts. */
  passageSigma: number;
  querySigma: number;
  maxPassageWords: number;
  /** Word types and the Zipf exponent. */
  vocab: number;
  zipf: number;
  /** Probability that a query has a second relevant passage. */
  extraPositive: number;
}

export const MSMARCO_PASSAGE: SynthSpec = {
  seed: 20260101,
  passages: 8_841_823,
  trainQueries: 500_000,
  devQueries: 6_980,
  passageWords: 55.98,
  queryWords: 5.96,
  passageSigma: 0.45,
  querySigma: 0.35,
  maxPassageWords: 362,
  vocab: 2_000_000,
  zipf: 1.0,
  extraPositive: 0.065,
};

// About half of MS MARCO's queries are questions opened by one of these.
const QUESTION_WORDS = ['what', 'how', 'where', 'who', 'when', 'which', 'why', 'is', 'does', 'can', 'define', 'meaning'];

/** Small, fast, seedable PRNG (mulberry32) so every passage has its own stream, regenerable from (seed, pid). */
export class Stream {
  private s: number;
  constructor(seed: number, index: number) {
    // splitmix-style mixing so neighbouring pids get unrelated streams.
    let h = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 0x632be5ab, 0xc2b2ae35)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
    this.s = (h ^ (h >>> 16)) >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  /** round(logNormal) with the given mean, clamped to [lo, hi]. */
  count(mean: number, sigma: number, lo: number, hi: number): number {
    const mu = Math.log(mean) - (sigma * sigma) / 2;
    return Math.min(hi, Math.max(lo, Math.round(Math.exp(mu + sigma * this.normal()))));
  }
}

/** Vose alias table: O(1) draws from the Zipf law over word ranks. */
class Alias {
  readonly prob: Float64Array;
  readonly alias: Int32Array;
  constructor(weights: Float64Array) {
    const n = weights.length;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += weights[i] as number;
    this.prob = new Float64Array(n);
    this.alias = new Int32Array(n);
    const scaled = new Float64Array(n);
    const small = new Int32Array(n);
    const large = new Int32Array(n);
    let ns = 0;
    let nl = 0;
    for (let i = 0; i < n; i++) {
      scaled[i] = ((weights[i] as number) * n) / sum;
      if ((scaled[i] as number) < 1) small[ns++] = i;
      else large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
      const s = small[--ns] as number;
      const l = large[nl - 1] as number;
      this.prob[s] = scaled[s] as number;
      this.alias[s] = l;
      scaled[l] = (scaled[l] as number) + (scaled[s] as number) - 1;
      if ((scaled[l] as number) < 1) {
        nl--;
        small[ns++] = l;
      }
    }
    while (nl > 0) this.prob[large[--nl] as number] = 1;
    while (ns > 0) this.prob[small[--ns] as number] = 1;
  }
  draw(r: Stream): number {
    const x = r.next() * this.prob.length;
    const i = Math.floor(x);
    return x - i < (this.prob[i] as number) ? i : (this.alias[i] as number);
  }
}

const SYLLABLES = (() => {
  const c = ['b', 'c', 'd', 'f', 'g', 'h', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'w', 'z', 'ch', 'st', 'tr'];
  const v = ['a', 'e', 'i', 'o', 'u', 'ou', 'ea'];
  const out: string[] = [];
  for (const x of c) for (const y of v) out.push(x + y);
  return out; // 140 syllables
})();

/**
 * Word types by rank: the head is the demo corpus's words by frequency (real English, so a BPE tokenizer splits
 * them as it would real text), the tail syllable words whose length grows with rank as real rare words do.
 */
export function wordTable(vocab: number, headWords: readonly string[]): string[] {
  // Filled by push: a preallocated 2M-slot array is a slow dictionary-mode array in V8.
  const words: string[] = [];
  const seen = new Set<string>();
  for (const w of headWords) {
    if (words.length >= vocab) break;
    if (!seen.has(w)) {
      seen.add(w);
      words.push(w);
    }
  }
  for (let r = 0; words.length < vocab; r++) {
    let x = r;
    let w = '';
    do {
      w += SYLLABLES[x % SYLLABLES.length] as string;
      x = Math.floor(x / SYLLABLES.length);
    } while (x > 0);
    // Two syllables at least, so tail words do not collide with short head words.
    if (w.length < 4) w += 'n';
    if (!seen.has(w)) {
      seen.add(w);
      words.push(w);
    }
  }
  return words;
}

/** The demo corpus's words (data/demo), most frequent first, those seen at least `minCount` times. */
export function demoHeadWords(root: string, minCount = 3): string[] {
  const text = zlib.gunzipSync(fs.readFileSync(path.join(root, 'data', 'demo', 'collection.tsv.gz'))).toString('utf8');
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    for (const w of line.slice(tab + 1).split(' ')) if (w.length > 0) counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  return [...counts].filter(([, c]) => c >= minCount).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([w]) => w);
}

/** The generator: passage pid's text is a pure function of (spec, pid), so queries can quote their positives. */
export class SynthCorpus {
  readonly spec: SynthSpec;
  readonly words: string[];
  // The words' UTF-8 bytes back to back: the collection is assembled as bytes, since joining 0.5G JS strings
  // measured 5x slower than drawing them.
  private readonly wordBytes: Uint8Array;
  private readonly wordStart: Int32Array;
  private readonly zipf: Alias;
  constructor(spec: SynthSpec, headWords: readonly string[]) {
    if (!(spec.passages >= 1 && spec.vocab >= 16 && spec.passageWords >= 1 && spec.queryWords >= 1)) {
      throw new DrhardInputError(`bad synthetic spec: ${JSON.stringify(spec)}`);
    }
    this.spec = spec;
    this.words = wordTable(spec.vocab, headWords);
    const enc = this.words.map((x) => Buffer.from(x, 'utf8'));
    this.wordStart = new Int32Array(spec.vocab + 1);
    for (let r = 0; r < spec.vocab; r++) this.wordStart[r + 1] = (this.wordStart[r] as number) + (enc[r] as Buffer).length;
    this.wordBytes = new Uint8Array(this.wordStart[spec.vocab] as number);
    for (let r = 0; r < spec.vocab; r++) this.wordBytes.set(enc[r] as Buffer, this.wordStart[r] as number);
    const w = new Float64Array(spec.vocab);
    for (let r = 0; r < spec.vocab; r++) w[r] = 1 / Math.pow(r + 1, spec.zipf);
    this.zipf = new Alias(w);
  }

  /** Word ranks of passage `pid`. */
  passageRanks(pid: number): Int32Array {
    const r = new Stream(this.spec.seed, pid);
    const n = r.count(this.spec.passageWords, this.spec.passageSigma, 2, this.spec.maxPassageWords);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.zipf.draw(r);
    return out;
  }

  /** The line `pid<TAB>text\n` as UTF-8 into `out` at `pos` (the caller leaves room); returns the end. */
  writePassageLine(pid: number, out: Uint8Array, pos: number): number {
    const id = String(pid);
    for (let i = 0; i < id.length; i++) out[pos++] = id.charCodeAt(i);
    out[pos++] = 9;
    const ranks = this.passageRanks(pid);
    const { wordBytes, wordStart } = this;
    for (let i = 0; i < ranks.length; i++) {
      if (i > 0) out[pos++] = 32;
      const r = ranks[i] as number;
      const a = wordStart[r] as number;
      const b = wordStart[r + 1] as number;
      if (b - a < 16) for (let j = a; j < b; j++) out[pos++] = wordBytes[j] as number;
      else {
        out.set(wordBytes.subarray(a, b), pos);
        pos += b - a;
      }
    }
    out[pos++] = 10;
    return pos;
  }

  /** Longest line writePassageLine can produce. */
  get maxLineBytes(): number {
    let longest = 0;
    for (let r = 0; r < this.spec.vocab; r++) longest = Math.max(longest, (this.wordStart[r + 1] as number) - (this.wordStart[r] as number));
    return 24 + this.spec.maxPassageWords * (longest + 1);
  }

  passage(pid: number): string {
    const ranks = this.passageRanks(pid);
    const w = new Array<string>(ranks.length);
    for (let i = 0; i < ranks.length; i++) w[i] = this.words[ranks[i] as number] as string;
    return w.join(' ');
  }

  /**
   * Query `index` of a split (streams apart per split): an optional question word, then words quoted from its first
   * positive passage, each the rarer of two positions drawn (queries name what the passage is about, not its
   * stopwords), plus a few background words. Returns the text and the relevant pids.
   */
  query(split: number, index: number): { text: string; pids: number[] } {
    const r = new Stream(this.spec.seed ^ (0x51ed27 * (split + 1)), index);
    const pid = Math.floor(r.next() * this.spec.passages);
    const pids = [pid];
    if (r.next() < this.spec.extraPositive) {
      const other = Math.floor(r.next() * this.spec.passages);
      if (other !== pid) pids.push(other);
    }
    const n = r.count(this.spec.queryWords, this.spec.querySigma, 2, 30);
    const ranks = this.passageRanks(pid);
    const out: string[] = [];
    if (r.next() < 0.5) out.push(QUESTION_WORDS[Math.floor(r.next() * QUESTION_WORDS.length)] as string);
    while (out.length < n) {
      if (r.next() < 0.8) {
        const a = ranks[Math.floor(r.next() * ranks.length)] as number;
        const b = ranks[Math.floor(r.next() * ranks.length)] as number;
        out.push(this.words[Math.max(a, b)] as string);
      } else out.push(this.words[this.zipf.draw(r)] as string);
    }
    return { text: out.join(' '), pids };
  }
}

export interface SynthFiles {
  collection: string;
  trainQueries: string;
  trainQrels: string;
  devQueries: string;
  devQrels: string;
}

export const synthFileNames = (dir: string): SynthFiles => ({
  collection: path.join(dir, 'collection.tsv'),
  trainQueries: path.join(dir, 'queries.train.tsv'),
  trainQrels: path.join(dir, 'qrels.train.tsv'),
  devQueries: path.join(dir, 'queries.dev.small.tsv'),
  devQrels: path.join(dir, 'qrels.dev.small.tsv'),
});

// MS MARCO's qids are sparse integers; train and dev never share one.
export const trainQid = (i: number): number => 2 * i + 1;
export const devQid = (i: number): number => 2 * i + 2;

/** Buffers text and hands it to an AtomicWriter in ~8 MiB writes. */
class Buffered {
  private parts: string[] = [];
  private size = 0;
  constructor(readonly w: AtomicWriter) {}
  add(s: string): void {
    this.parts.push(s);
    this.size += s.length;
    if (this.size >= 8 << 20) this.flush();
  }
  flush(): void {
    if (this.parts.length > 0) this.w.write(this.parts.join(''));
    this.parts = [];
    this.size = 0;
  }
  commit(): void {
    this.flush();
    this.w.commit();
  }
  abort(): void {
    this.w.abort();
  }
}

/**
 * Writes collection.tsv, queries.{train,dev.small}.tsv and qrels.{train,dev.small}.tsv (MS MARCO's formats: `id<TAB>text`,
 * `qid<TAB>0<TAB>pid<TAB>1`) into `dir`. Each file appears complete or not at all; files already there (from an
 * interrupted run with the same spec, recorded in synth.json) are kept, so a rerun resumes file by file.
 */
export function writeSynthMsmarco(dir: string, spec: SynthSpec, headWords: readonly string[], onProgress?: (what: string, done: number, total: number) => void): SynthFiles {
  fs.mkdirSync(dir, { recursive: true });
  const files = synthFileNames(dir);
  const specFile = path.join(dir, 'synth.json');
  const specJson = `${JSON.stringify(spec)}\n`;
  if (fs.existsSync(specFile) && fs.readFileSync(specFile, 'utf8') !== specJson) {
    throw new DrhardInputError('the directory holds synthetic data of another spec; use an empty directory', { file: specFile });
  }
  writeFileAtomic(specFile, specJson);
  const gen = new SynthCorpus(spec, headWords);
  const emit = (file: string, count: number, line: (i: number) => string, what: string): void => {
    if (fs.existsSync(file)) return;
    const out = new Buffered(new AtomicWriter(file));
    try {
      for (let i = 0; i < count; i++) {
        out.add(line(i));
        if ((i & 65535) === 0) onProgress?.(what, i, count);
      }
      out.commit();
      onProgress?.(what, count, count);
    } catch (e) {
      out.abort();
      throw e;
    }
  };
  if (!fs.existsSync(files.collection)) {
    const w = new AtomicWriter(files.collection);
    const buf = new Uint8Array(16 << 20);
    const room = buf.length - gen.maxLineBytes;
    if (room <= 0) throw new DrhardInputError('a passage line could exceed the 16 MiB write buffer');
    let pos = 0;
    try {
      for (let pid = 0; pid < spec.passages; pid++) {
        pos = gen.writePassageLine(pid, buf, pos);
        if (pos >= room) {
          w.write(buf.subarray(0, pos));
          pos = 0;
        }
        if ((pid & 65535) === 0) onProgress?.('collection', pid, spec.passages);
      }
      w.write(buf.subarray(0, pos));
      w.commit();
      onProgress?.('collection', spec.passages, spec.passages);
    } catch (e) {
      w.abort();
      throw e;
    }
  }
  for (const [split, count, qid, qf, rf] of [
    [0, spec.trainQueries, trainQid, files.trainQueries, files.trainQrels],
    [1, spec.devQueries, devQid, files.devQueries, files.devQrels],
  ] as const) {
    emit(qf, count, (i) => `${qid(i)}\t${gen.query(split, i).text}\n`, path.basename(qf));
    emit(rf, count, (i) => gen.query(split, i).pids.map((p) => `${qid(i)}\t0\t${p}\t1\n`).join(''), path.basename(rf));
  }
  return files;
}

/**
 * A synthetic embeddings file (raw float32 rows + its manifest): i.i.d. uniform(−1, 1) components from a seeded
 * xorshift stream, written in blocks with the sha256 computed on the way (hashing 27 GB again would cost minutes).
 */
export function writeSyntheticEmbeddings(file: string, count: number, dim: number, seed: number, onProgress?: (done: number, total: number) => void): void {
  const blockRows = Math.max(1, Math.floor((16 << 20) / (dim * 4)));
  const buf = new Float32Array(blockRows * dim);
  const bytes = new Uint8Array(buf.buffer);
  const hash = crypto.createHash('sha256');
  const w = new AtomicWriter(file);
  let s = (seed ^ 0x2545f491) >>> 0 || 1;
  try {
    for (let r = 0; r < count; r += blockRows) {
      const n = Math.min(blockRows, count - r);
      const m = n * dim;
      for (let i = 0; i < m; i++) {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        buf[i] = (s >>> 0) / 2147483648 - 1;
      }
      const view = bytes.subarray(0, m * 4);
      hash.update(view);
      w.write(view);
      onProgress?.(r + n, count);
    }
    w.commit();
  } catch (e) {
    w.abort();
    throw e;
  }
  writeEmbeddingsManifest(file, { format: EMBEDDINGS_FORMAT, version: 1, dim, count, dtype: 'float32', sha256: hash.digest('hex'), bytes: count * dim * 4 });
}
