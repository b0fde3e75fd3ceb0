// Loads a tokenizer from a model directory (tokenizer.json, vocab.json+merges.txt, or vocab.txt) into DrTokenizer.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from 'tokenizers';
import { DrhardInputError } from '../util/errors.ts';
import { sha256 } from '../util/hash.ts';
import { AsciiByteBpe, type FullPipelineBpe } from './bytebpe.ts';
import { compat28Pieces } from './compat28.ts';
import { bertWordPieceJson, parseMergesTxt, parseVocabTxt, robertaBpeJson, type TokenizerJson } from './spec.ts';

export type TokenizerFormat = 'tokenizer.json' | 'vocab.json+merges.txt' | 'vocab.txt';

/** What a dataset manifest records about the tokenizer that produced its ids. */
export interface TokenizerInfo {
  /** Directory or file it was loaded from, as given. */
  source: string;
  format: TokenizerFormat;
  /** File name → sha256 of every file read. */
  files: Record<string, string>;
  /** tokenizer.json model type: 'BPE', 'WordPiece', 'Unigram', 'WordLevel'. */
  model: string;
  compat28: boolean;
  /** Only for vocab.txt (BERT): whether text is lowercased and accents stripped. */
  lowercase?: boolean;
  vocabSize: number;
  clsId: number;
  sepId: number;
  padId: number;
}

export interface LoadTokenizerOptions {
  /**
   * Reproduce DRhard's frozen transformers-2.8 RobertaTokenizer (do_lower_case=True): lowercase non-special text,
   * prepend a space, split on special tokens right-stripping the pieces, then byte-level BPE. DRhard's published
   * checkpoints expect these ids. Needs a byte-level BPE model.
   */
  compat28?: boolean;
  /** vocab.txt only: lowercase + strip accents (default: tokenizer_config.json's do_lower_case, else true). */
  lowercase?: boolean;
  /** Pad id when the tokenizer defines none (no padding config, no <pad>/[PAD] token). */
  padId?: number;
  /**
   * BPE pure-ASCII text in JavaScript (src/tokenizers/bytebpe.ts, the same ids) instead of the tokenizers library:
   * compat28 pieces, and whole texts of a byte-level BPE tokenizer.json the JavaScript reproduces (default true;
   * false is for the test that compares the two).
   */
  fastBpe?: boolean;
}

/** Token ids of many texts, concatenated: text i is ids[starts[i] .. starts[i] + lengths[i]). */
export interface PackedIds {
  ids: Int32Array;
  lengths: Int32Array;
  /** 1 for each text that was longer than maxLength and got cut. */
  cut: Uint8Array;
}

// The transformers-2.8 all_special_tokens order for RoBERTa (bos, eos, unk, pad, mask); it decides which special
// token the lowercasing regex tries first.
const ORDER_28 = ['<s>', '</s>', '<unk>', '<pad>', '<mask>'];

function readJsonFile(file: string): unknown {
  const text = fs.readFileSync(file, 'utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new DrhardInputError(`invalid JSON: ${(e as Error).message}`, { file });
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function asTokenizerJson(x: unknown, file: string): TokenizerJson {
  if (!isRecord(x) || !isRecord(x['model']) || typeof x['model']['type'] !== 'string') {
    throw new DrhardInputError('not a tokenizer.json (no model.type)', { file });
  }
  const j = x as TokenizerJson;
  if (!Array.isArray(j.added_tokens)) j.added_tokens = [];
  return j;
}

/** The vocabulary of a tokenizer.json model as token → id (Unigram stores [token, score] pairs). */
function modelVocab(j: TokenizerJson): Map<string, number> {
  const m = new Map<string, number>();
  const v = j.model.vocab;
  if (Array.isArray(v)) v.forEach((e, i) => Array.isArray(e) && typeof e[0] === 'string' && m.set(e[0], i));
  else if (isRecord(v)) for (const [k, id] of Object.entries(v)) if (typeof id === 'number') m.set(k, id);
  for (const a of j.added_tokens) m.set(a.content, a.id);
  return m;
}

function findPaddingId(j: TokenizerJson): number | undefined {
  const p = j.padding;
  if (isRecord(p) && typeof p['pad_id'] === 'number') return p['pad_id'];
  const vocab = modelVocab(j);
  for (const t of ['<pad>', '[PAD]', '<|pad|>']) {
    const id = vocab.get(t);
    if (id !== undefined) return id;
  }
  return undefined;
}

/**
 * A tokenizer producing DRhard-style inputs: `CLS X SEP` (or whatever the post-processor adds), truncated to a max
 * length that includes the special tokens, keeping the trailing special token(s).
 */
export class DrTokenizer {
  readonly info: TokenizerInfo;
  private readonly full: Tokenizer;
  /** compat28: BPE without normalizer/post-processor, fed the pieces compat28Pieces makes. */
  private readonly core: Tokenizer | undefined;
  private readonly fastBpe: AsciiByteBpe | undefined;
  /** Not compat28: the whole pipeline for pure-ASCII texts, when the tokenizer.json is one it reproduces. */
  private readonly fastFull: FullPipelineBpe | undefined;
  private readonly specials28: string[];
  private readonly specialIds28: Map<string, number>;
  /** Special tokens the post-processor adds before / after a single sequence. */
  private readonly prefixLen: number;
  private readonly suffixLen: number;
  /** The ids of those special tokens (not compat28). */
  private readonly prefixIds: number[] = [];
  private readonly suffixIds: number[] = [];

  private constructor(
    json: TokenizerJson,
    info: Omit<TokenizerInfo, 'vocabSize' | 'clsId' | 'sepId' | 'padId' | 'model'>,
    opts: LoadTokenizerOptions,
    full: Tokenizer,
    probe: { withSpecial: number[]; without: number[] },
  ) {
    // Truncation and padding belong to the caller (per call max length); a saved config must not interfere.
    const clean: TokenizerJson = { ...json, truncation: null, padding: null };
    const where = { file: info.source };
    this.full = full;
    const vocab = modelVocab(json);
    this.specials28 = [];
    this.specialIds28 = new Map();
    let clsId: number;
    let sepId: number;
    if (info.compat28) {
      if (json.model.type !== 'BPE' || vocab.get('\u0120') === undefined) {
        throw new DrhardInputError('compat28 needs a byte-level BPE (RoBERTa/GPT-2) tokenizer', where);
      }
      const specialSet = new Set(json.added_tokens.filter((a) => a.special).map((a) => a.content));
      for (const t of ORDER_28) if (vocab.has(t)) specialSet.add(t);
      this.specials28 = [...ORDER_28.filter((t) => specialSet.has(t)), ...[...specialSet].filter((t) => !ORDER_28.includes(t))];
      for (const t of this.specials28) this.specialIds28.set(t, vocab.get(t) as number);
      const s = vocab.get('<s>');
      const e = vocab.get('</s>');
      if (s === undefined || e === undefined) throw new DrhardInputError('compat28 needs <s> and </s> in the vocabulary', where);
      clsId = s;
      sepId = e;
      const coreJson: TokenizerJson = {
        ...clean,
        normalizer: null,
        pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
        post_processor: null,
      };
      this.core = Tokenizer.fromString(JSON.stringify(coreJson));
      this.fastBpe = opts.fastBpe === false ? undefined : AsciiByteBpe.fromJson(coreJson);
      this.fastFull = undefined;
      this.prefixLen = 1;
      this.suffixLen = 1;
    } else {
      this.core = undefined;
      this.fastBpe = undefined;
      this.fastFull = opts.fastBpe === false ? undefined : AsciiByteBpe.forPipeline(clean);
      const withSp = probe.withSpecial;
      const without = probe.without;
      let p = -1;
      for (let i = 0; i + without.length <= withSp.length; i++) {
        if (without.every((v, k) => withSp[i + k] === v)) {
          p = i;
          break;
        }
      }
      if (p < 0) throw new DrhardInputError('the post-processor changes the content tokens; cannot truncate', where);
      this.prefixLen = p;
      this.suffixLen = withSp.length - p - without.length;
      clsId = p > 0 ? (withSp[0] as number) : -1;
      sepId = this.suffixLen > 0 ? (withSp[withSp.length - 1] as number) : -1;
      this.prefixIds = withSp.slice(0, p);
      this.suffixIds = withSp.slice(withSp.length - this.suffixLen);
    }
    const padId = findPaddingId(json) ?? opts.padId;
    if (padId === undefined) {
      throw new DrhardInputError('no pad token (<pad> or [PAD]) and no padding config; pass padId', where);
    }
    this.info = {
      ...info,
      model: json.model.type,
      vocabSize: this.full.getVocabSize(true),
      clsId,
      sepId,
      padId,
    };
  }

  /** Builds the tokenizer; the probe tells which ids the post-processor wraps a sequence with. */
  static async create(
    json: TokenizerJson,
    info: Omit<TokenizerInfo, 'vocabSize' | 'clsId' | 'sepId' | 'padId' | 'model'>,
    opts: LoadTokenizerOptions,
  ): Promise<DrTokenizer> {
    let full: Tokenizer;
    try {
      full = Tokenizer.fromString(JSON.stringify({ ...json, truncation: null, padding: null }));
    } catch (e) {
      throw new DrhardInputError(`tokenizers could not load it: ${(e as Error).message}`, { file: info.source });
    }
    const probe = 'a';
    const withSpecial = (await full.encode(probe, null, { addSpecialTokens: true })).getIds();
    const without = (await full.encode(probe, null, { addSpecialTokens: false })).getIds();
    return new DrTokenizer(json, info, opts, full, { withSpecial, without });
  }

  /** Whether pure-ASCII text goes through the JavaScript BPE (see LoadTokenizerOptions.fastBpe). */
  get fastBpeActive(): boolean {
    return this.fastBpe !== undefined || this.fastFull !== undefined;
  }

  /** Not compat28: how many texts the JavaScript BPE has encoded (the rest went to the library). */
  get fastBpeTexts(): number {
    return this.fastFull?.fastTexts ?? 0;
  }

  get padId(): number {
    return this.info.padId;
  }
  get clsId(): number {
    return this.info.clsId;
  }
  get sepId(): number {
    return this.info.sepId;
  }
  get vocabSize(): number {
    return this.info.vocabSize;
  }
  /** Special tokens added around every sequence (2 for `<s> X </s>` and `[CLS] X [SEP]`). */
  get numSpecial(): number {
    return this.prefixLen + this.suffixLen;
  }

  /** Ids of one text with special tokens, at most `maxLength` long. */
  async encode(text: string, maxLength: number): Promise<Int32Array> {
    const { ids } = await this.encodeBatch([text], maxLength);
    return ids;
  }

  /**
   * Ids of many texts (special tokens included, each cut to `maxLength`), packed into one array. Truncation drops
   * content tokens from the end and keeps the specials, as transformers does with truncation=True.
   */
  async encodeBatch(texts: readonly string[], maxLength: number): Promise<PackedIds> {
    if (!Number.isInteger(maxLength) || maxLength < this.numSpecial) {
      throw new RangeError(`maxLength must be an integer >= ${this.numSpecial}, got ${maxLength}`);
    }
    if (texts.length === 0) return { ids: new Int32Array(0), lengths: new Int32Array(0), cut: new Uint8Array(0) };
    return this.core !== undefined ? this.encode28(texts, maxLength) : this.encodeFull(texts, maxLength);
  }

  private async encodeFull(texts: readonly string[], maxLength: number): Promise<PackedIds> {
    const lists: number[][] = new Array<number[]>(texts.length);
    const slow: number[] = [];
    const fast = this.fastFull;
    for (let i = 0; i < texts.length; i++) {
      // The post-processor's tokens, known from the probe (forPipeline accepts only constant ones).
      const ids = fast?.encode(texts[i] as string, this.prefixIds.slice());
      if (ids === undefined) slow.push(i);
      else {
        for (const id of this.suffixIds) ids.push(id);
        lists[i] = ids;
      }
    }
    if (slow.length > 0) {
      const encs = await this.full.encodeBatch(slow.length === texts.length ? (texts as string[]) : slow.map((i) => texts[i] as string), { addSpecialTokens: true });
      slow.forEach((i, j) => (lists[i] = (encs[j] as (typeof encs)[number]).getIds()));
    }
    const lengths = new Int32Array(texts.length);
    let total = 0;
    const cut = new Uint8Array(texts.length);
    for (let i = 0; i < texts.length; i++) {
      const ids = lists[i] as number[];
      if (ids.length > maxLength) cut[i] = 1;
      const n = Math.min(ids.length, maxLength);
      lengths[i] = n;
      total += n;
    }
    const out = new Int32Array(total);
    const keepHead = maxLength - this.suffixLen;
    let o = 0;
    for (let i = 0; i < lists.length; i++) {
      const ids = lists[i] as number[];
      if (ids.length <= maxLength) {
        for (let k = 0; k < ids.length; k++) out[o++] = ids[k] as number;
      } else {
        for (let k = 0; k < keepHead; k++) out[o++] = ids[k] as number;
        for (let k = ids.length - this.suffixLen; k < ids.length; k++) out[o++] = ids[k] as number;
      }
    }
    return { ids: out, lengths, cut };
  }

  private async encode28(texts: readonly string[], maxLength: number): Promise<PackedIds> {
    const core = this.core as Tokenizer;
    // plan: per text, a run of entries; >= 0 is an index into pieceTexts, < 0 is -(special id) - 1.
    const plan: number[] = [];
    const planEnd = new Int32Array(texts.length);
    const pieceTexts: string[] = [];
    for (let i = 0; i < texts.length; i++) {
      for (const p of compat28Pieces(texts[i] as string, this.specials28)) {
        if (p.special) plan.push(-(this.specialIds28.get(p.token) as number) - 1);
        else {
          plan.push(pieceTexts.length);
          pieceTexts.push(p.text);
        }
      }
      planEnd[i] = plan.length;
    }
    const pieceIds: number[][] = new Array<number[]>(pieceTexts.length);
    const slow: number[] = [];
    for (let k = 0; k < pieceTexts.length; k++) {
      const ids = this.fastBpe?.encode(pieceTexts[k] as string);
      if (ids) pieceIds[k] = ids;
      else slow.push(k);
    }
    if (slow.length > 0) {
      const encs = await core.encodeBatch(slow.map((k) => pieceTexts[k] as string), { addSpecialTokens: false });
      slow.forEach((k, j) => (pieceIds[k] = (encs[j] as (typeof encs)[number]).getIds()));
    }
    const content = maxLength - 2;
    const lengths = new Int32Array(texts.length);
    let total = 0;
    const cut = new Uint8Array(texts.length);
    let start = 0;
    for (let i = 0; i < texts.length; i++) {
      let n = 0;
      for (let k = start; k < (planEnd[i] as number); k++) {
        const e = plan[k] as number;
        n += e < 0 ? 1 : (pieceIds[e] as number[]).length;
      }
      if (n > content) cut[i] = 1;
      lengths[i] = Math.min(n, content) + 2;
      total += lengths[i] as number;
      start = planEnd[i] as number;
    }
    const out = new Int32Array(total);
    let o = 0;
    start = 0;
    for (let i = 0; i < texts.length; i++) {
      const stop = o + (lengths[i] as number) - 1;
      out[o++] = this.info.clsId;
      for (let k = start; k < (planEnd[i] as number) && o < stop; k++) {
        const e = plan[k] as number;
        if (e < 0) out[o++] = -e - 1;
        else {
          const ids = pieceIds[e] as number[];
          for (let m = 0; m < ids.length && o < stop; m++) out[o++] = ids[m] as number;
        }
      }
      out[o++] = this.info.sepId;
      start = planEnd[i] as number;
    }
    return { ids: out, lengths, cut };
  }

  /** Text for ids (special tokens dropped unless `skipSpecial` is false). */
  async decode(ids: ArrayLike<number>, skipSpecial = true): Promise<string> {
    return this.full.decode(Array.from(ids), skipSpecial);
  }

  /** Token strings for ids (unknown ids → '<?>'). */
  tokens(ids: ArrayLike<number>): string[] {
    return Array.from(ids, (id) => this.full.idToToken(id) ?? '<?>');
  }

  tokenToId(token: string): number | undefined {
    return this.full.tokenToId(token) ?? undefined;
  }
}

/** Files that make up a tokenizer in `dir`, in the order they are tried. */
function resolveFormat(src: string): { format: TokenizerFormat; dir: string; file?: string } {
  let st: fs.Stats;
  try {
    st = fs.statSync(src);
  } catch {
    throw new DrhardInputError('tokenizer directory not found', { file: src });
  }
  if (st.isFile()) {
    if (src.endsWith('.json')) return { format: 'tokenizer.json', dir: path.dirname(src), file: src };
    throw new DrhardInputError('expected a model directory or a tokenizer.json file', { file: src });
  }
  if (fs.existsSync(path.join(src, 'tokenizer.json'))) return { format: 'tokenizer.json', dir: src, file: path.join(src, 'tokenizer.json') };
  if (fs.existsSync(path.join(src, 'vocab.json')) && fs.existsSync(path.join(src, 'merges.txt'))) return { format: 'vocab.json+merges.txt', dir: src };
  if (fs.existsSync(path.join(src, 'vocab.txt'))) return { format: 'vocab.txt', dir: src };
  throw new DrhardInputError('no tokenizer.json, vocab.json + merges.txt, or vocab.txt in the directory', { file: src });
}

/** Loads the tokenizer of a model directory (or a tokenizer.json path). */
export async function loadTokenizer(src: string, opts: LoadTokenizerOptions = {}): Promise<DrTokenizer> {
  const r = resolveFormat(src);
  const files: Record<string, string> = {};
  const read = (name: string): string => {
    const file = path.join(r.dir, name);
    const buf = fs.readFileSync(file);
    files[name] = sha256(buf);
    return buf.toString('utf8');
  };
  let json: TokenizerJson;
  let lowercase: boolean | undefined;
  if (r.format === 'tokenizer.json') {
    const file = r.file as string;
    const text = read(path.basename(file));
    let parsed: unknown;
    try {
      parsed = JSON.parse(text) as unknown;
    } catch (e) {
      throw new DrhardInputError(`invalid JSON: ${(e as Error).message}`, { file });
    }
    json = asTokenizerJson(parsed, file);
  } else if (r.format === 'vocab.json+merges.txt') {
    const vfile = path.join(r.dir, 'vocab.json');
    let vocab: unknown;
    try {
      vocab = JSON.parse(read('vocab.json')) as unknown;
    } catch (e) {
      throw new DrhardInputError(`invalid JSON: ${(e as Error).message}`, { file: vfile });
    }
    if (!isRecord(vocab) || !Object.values(vocab).every((v) => Number.isInteger(v))) {
      throw new DrhardInputError('expected an object token → integer id', { file: vfile });
    }
    let merges: Array<[string, string]>;
    try {
      merges = parseMergesTxt(read('merges.txt'), path.join(r.dir, 'merges.txt'));
    } catch (e) {
      throw new DrhardInputError((e as Error).message);
    }
    try {
      json = robertaBpeJson(vocab as Record<string, number>, merges);
    } catch (e) {
      throw new DrhardInputError((e as Error).message, { file: vfile });
    }
  } else {
    const cfgFile = path.join(r.dir, 'tokenizer_config.json');
    let cfgLower: boolean | undefined;
    if (fs.existsSync(cfgFile)) {
      const cfg = readJsonFile(cfgFile);
      files['tokenizer_config.json'] = sha256(fs.readFileSync(cfgFile));
      if (isRecord(cfg) && typeof cfg['do_lower_case'] === 'boolean') cfgLower = cfg['do_lower_case'];
    }
    lowercase = opts.lowercase ?? cfgLower ?? true;
    try {
      json = bertWordPieceJson(parseVocabTxt(read('vocab.txt'), path.join(r.dir, 'vocab.txt')), lowercase);
    } catch (e) {
      throw new DrhardInputError((e as Error).message, { file: path.join(r.dir, 'vocab.txt') });
    }
  }
  const info = {
    source: src,
    format: r.format,
    files,
    compat28: opts.compat28 === true,
    ...(lowercase !== undefined ? { lowercase } : {}),
  };
  return DrTokenizer.create(json, info, opts);
}
