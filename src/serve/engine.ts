// The retrievers behind `drhard serve`: dense models (query encoder + document embeddings or a saved faiss index),
// BM25 over the dataset's token store and their hybrid, answering batches of text queries with original doc ids
// through the same code `drhard search --query` and `--hybrid-bm25` run (encodeTexts, DenseSearcher, Bm25Index,
// fuseRuns), so one query gets the same ranking from either.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Dataset } from '../data/dataset.ts';
import { trecOrder, type Run } from '../data/trec.ts';
import type { DotModel } from '../models/dual.ts';
import type { DrTokenizer } from '../tokenizers/index.ts';
import { fuseRuns, type FusionMethod } from '../eval/fuse.ts';
import type { DenseSearcher, FromFileOptions } from '../retrieval/search.ts';
import type { Bm25Index } from '../retrieval/bm25.ts';
import { DrhardInputError } from '../util/errors.ts';

export type Mode = 'dense' | 'bm25' | 'hybrid';

export interface DenseSource {
  /** Name shown in answers and on the page; the `model` request field picks it. */
  name: string;
  /** Model directory (config, weights, tokenizer): encodes the queries. */
  model: string;
  /** Document embeddings file (drhard encode --split corpus), or … */
  embeddings?: string;
  /** … a saved faiss index (drhard search --save-index), verified against its manifest. */
  index?: string;
}

export interface EngineOptions {
  dataset: string;
  dense: DenseSource[];
  /** Also offer BM25 (and, with a dense model, the hybrid). */
  bm25: boolean;
  /** Token cap of a query, special tokens included (as `drhard search --max-length`). */
  maxQueryLength: number;
  /** Tokenize queries as transformers 2.8 (default: the dataset's setting). */
  compat28?: boolean;
  /** How the hybrid fuses dense and BM25: RRF, or min-max interpolation with the dense weight. */
  hybrid: { method: FusionMethod; denseWeight?: number };
  /** Exact engine, flat/faiss factory, memory budget (as `drhard search`). */
  searcher: FromFileOptions;
  /** `id<TAB>text` (MS MARCO) or JSON lines with _id/title/text (BEIR) for document text; default: decoded tokens. */
  collection?: string;
  /** Characters of document text returned per hit. */
  textChars: number;
}

export interface Query {
  text: string;
  k: number;
  mode: Mode;
  /** Dense model name (dense and hybrid). */
  model: string;
}

export interface Hit {
  id: string;
  score: number;
  /** Document offset in the dataset (for text). */
  offset: number;
}

export interface Answer {
  hits: Hit[];
  /** The query had more tokens than maxQueryLength and was cut, as in training. */
  truncated: boolean;
}

interface DenseRetriever {
  source: DenseSource;
  model: DotModel;
  tokenizer: DrTokenizer;
  searcher: DenseSearcher;
}

export interface RetrieverInfo {
  /** 'bm25', a dense model's name, or `hybrid:<model>`. */
  id: string;
  mode: Mode;
  model: string | null;
}

export class SearchEngine {
  readonly ds: Dataset;
  readonly opts: EngineOptions;
  readonly #dense: Map<string, DenseRetriever>;
  readonly #bm25: Bm25Index | null;
  readonly #dsTok: DrTokenizer | null;
  readonly #docIds: string[];
  readonly #text: string[] | null;
  #disposed = false;

  private constructor(ds: Dataset, opts: EngineOptions, dense: Map<string, DenseRetriever>, bm25: Bm25Index | null, dsTok: DrTokenizer | null, text: string[] | null) {
    this.ds = ds;
    this.opts = opts;
    this.#dense = dense;
    this.#bm25 = bm25;
    this.#dsTok = dsTok;
    this.#docIds = ds.docIds();
    this.#text = text;
  }

  /** Loads the dataset, every dense model and its document vectors, and the BM25 index. */
  static async open(opts: EngineOptions): Promise<SearchEngine> {
    const { openDataset } = await import('../data/index.ts');
    const { loadModel } = await import('../models/checkpoint.ts');
    const { loadTokenizer, findTokenizerDir } = await import('../tokenizers/index.ts');
    const { DenseSearcher: Searcher } = await import('../retrieval/search.ts');
    const { searcherFromIndex } = await import('../retrieval/ann.ts');
    const { Bm25Index: Bm25 } = await import('../retrieval/bm25.ts');
    if (opts.dense.length === 0 && !opts.bm25) throw new DrhardInputError('nothing to serve: give a dense model or BM25');
    const names = new Set<string>();
    for (const d of opts.dense) {
      if (names.has(d.name) || d.name === 'bm25' || d.name.startsWith('hybrid')) throw new DrhardInputError(`model name ${JSON.stringify(d.name)} is taken (or reserved)`);
      names.add(d.name);
    }
    const ds = openDataset(opts.dataset);
    const dense = new Map<string, DenseRetriever>();
    try {
      const compat28 = opts.compat28 ?? ds.manifest.tokenizer.compat28;
      for (const src of opts.dense) {
        if ((src.embeddings === undefined) === (src.index === undefined)) throw new DrhardInputError(`model ${src.name}: give exactly one of embeddings and index`);
        const searcher =
          src.index !== undefined ? searcherFromIndex(src.index, { params: opts.searcher.params ?? {} }) : Searcher.fromFile(src.embeddings as string, opts.searcher);
        let model: DotModel | undefined;
        try {
          if (searcher.count !== ds.corpus.count) {
            throw new DrhardInputError(`${searcher.count} document vectors but the dataset has ${ds.corpus.count} documents`, { file: src.index ?? src.embeddings });
          }
          model = loadModel(src.model).model;
          model.eval();
          if (model.dim !== searcher.dim) throw new DrhardInputError(`the model encodes ${model.dim}-dim queries, the documents are ${searcher.dim}-dim`, { file: src.model });
          // A model trained on a dataset may have left its tokenizer there.
          const tokDir = findTokenizerDir([src.model, ds.dir]);
          if (tokDir === undefined) throw new DrhardInputError('no tokenizer in the model directory or the dataset', { file: src.model });
          const tokenizer = await loadTokenizer(tokDir, { compat28 });
          dense.set(src.name, { source: src, model, tokenizer, searcher });
        } catch (e) {
          model?.dispose();
          searcher.dispose();
          throw e;
        }
      }
      let bm25: Bm25Index | null = null;
      let dsTok: DrTokenizer | null = null;
      const tokDir = findTokenizerDir([ds.dir]) ?? opts.dense[0]?.model;
      if (tokDir !== undefined) dsTok = await loadTokenizer(tokDir, { compat28 });
      if (opts.bm25) {
        if (dsTok === null) throw new DrhardInputError('BM25 needs the dataset tokenizer (the dataset has no tokenizer/ copy)', { file: ds.dir });
        // As `drhard bm25`: the special tokens every row carries are not terms.
        const t = ds.manifest.tokenizer;
        bm25 = Bm25.build(ds.corpus, { ignore: [t.clsId, t.sepId, t.padId] });
      }
      const text = opts.collection !== undefined ? readCollection(opts.collection, ds) : null;
      return new SearchEngine(ds, opts, dense, bm25, dsTok, text);
    } catch (e) {
      for (const d of dense.values()) {
        d.model.dispose();
        d.searcher.dispose();
      }
      ds.close();
      throw e;
    }
  }

  /** What can be asked for: each dense model, BM25, and each model's hybrid with BM25. */
  retrievers(): RetrieverInfo[] {
    const out: RetrieverInfo[] = [];
    for (const name of this.#dense.keys()) out.push({ id: name, mode: 'dense', model: name });
    if (this.#bm25 !== null) {
      out.push({ id: 'bm25', mode: 'bm25', model: null });
      for (const name of this.#dense.keys()) out.push({ id: `hybrid:${name}`, mode: 'hybrid', model: name });
    }
    return out;
  }

  get models(): string[] {
    return [...this.#dense.keys()];
  }
  get hasBm25(): boolean {
    return this.#bm25 !== null;
  }
  get documents(): number {
    return this.ds.corpus.count;
  }

  /** Why `q` cannot be answered (unknown model, mode not loaded), or null. */
  check(q: { mode: Mode; model?: string | undefined }): string | null {
    if (q.mode !== 'bm25') {
      if (this.#dense.size === 0) return `mode ${q.mode} needs a dense model; this server has none (modes: bm25)`;
      if (q.model !== undefined && !this.#dense.has(q.model)) return `unknown model ${JSON.stringify(q.model)}; models: ${this.models.join(', ')}`;
    }
    if (q.mode !== 'dense' && this.#bm25 === null) return `mode ${q.mode} needs BM25: start the server with --bm25`;
    return null;
  }

  /**
   * Answers a batch of queries, each with its own k/mode/model: queries of one (model, k) are encoded and searched
   * together, BM25 queries are tokenized together. Answers come back in the order asked.
   */
  async answer(queries: readonly Query[]): Promise<Answer[]> {
    if (this.#disposed) throw new Error('SearchEngine was disposed');
    const T = await import('../tensor/index.ts');
    const { encodePacked } = await import('../retrieval/encode.ts');
    const out: Answer[] = queries.map(() => ({ hits: [], truncated: false }));
    const denseHits = new Map<number, Hit[]>();
    // Dense: group by (model, k).
    const groups = new Map<string, number[]>();
    queries.forEach((q, i) => {
      if (q.mode === 'bm25') return;
      const key = `${q.model}\u0000${q.k}`;
      const g = groups.get(key);
      if (g) g.push(i);
      else groups.set(key, [i]);
    });
    for (const rows of groups.values()) {
      const first = queries[rows[0] as number] as Query;
      const r = this.#dense.get(first.model);
      if (r === undefined) throw new DrhardInputError(`unknown model ${first.model}`);
      const packed = await r.tokenizer.encodeBatch(rows.map((i) => (queries[i] as Query).text), this.opts.maxQueryLength);
      const k = first.k;
      const hits = T.tidy(() => r.searcher.search(encodePacked(r.model, packed), k));
      rows.forEach((qi, b) => {
        if (packed.cut[b] === 1) (out[qi] as Answer).truncated = true;
        const list: Hit[] = [];
        for (let j = 0; j < k; j++) {
          const d = hits.ids[b * k + j] as number;
          if (d < 0) continue;
          list.push({ id: this.#docIds[d] as string, score: hits.scores[b * k + j] as number, offset: d });
        }
        denseHits.set(qi, list);
      });
    }
    // BM25 (and the BM25 half of the hybrid).
    const lexical = queries.flatMap((q, i) => (q.mode === 'dense' ? [] : [i]));
    const bm25Hits = new Map<number, Hit[]>();
    if (lexical.length > 0) {
      const index = this.#bm25;
      if (index === null || this.#dsTok === null) throw new DrhardInputError('BM25 is not loaded');
      const packed = await this.#dsTok.encodeBatch(lexical.map((i) => (queries[i] as Query).text), this.opts.maxQueryLength);
      let off = 0;
      lexical.forEach((qi, b) => {
        const n = packed.lengths[b] as number;
        const r = index.search(packed.ids.subarray(off, off + n), (queries[qi] as Query).k);
        off += n;
        if (packed.cut[b] === 1) (out[qi] as Answer).truncated = true;
        const list: Hit[] = [];
        for (let j = 0; j < r.ids.length; j++) {
          const d = r.ids[j] as number;
          if (d >= 0) list.push({ id: this.#docIds[d] as string, score: r.scores[j] as number, offset: d });
        }
        bm25Hits.set(qi, list);
      });
    }
    queries.forEach((q, i) => {
      const a = out[i] as Answer;
      if (q.mode === 'dense') a.hits = denseHits.get(i) ?? [];
      else if (q.mode === 'bm25') a.hits = bm25Hits.get(i) ?? [];
      else a.hits = this.fuse(denseHits.get(i) ?? [], bm25Hits.get(i) ?? []);
      // The order of a run file (trec_eval's: equal scores by doc id descending), as `drhard search` writes it.
      const order = trecOrder({ docids: a.hits.map((h) => h.id), scores: a.hits.map((h) => h.score) });
      a.hits = Array.from(order, (j) => a.hits[j] as Hit);
    });
    return out;
  }

  /** One query's dense and BM25 hits fused as `drhard search --hybrid-bm25` (and `drhard fuse`) fuse two runs. */
  private fuse(dense: Hit[], bm25: Hit[]): Hit[] {
    const asRun = (hits: Hit[]): Run => (hits.length > 0 ? new Map([['q', { docids: hits.map((h) => h.id), scores: hits.map((h) => h.score) }]]) : new Map());
    const runs = [asRun(dense), asRun(bm25)];
    const depth = Math.max(dense.length, bm25.length);
    if (depth === 0) return [];
    const h = this.opts.hybrid;
    const fused = fuseRuns(runs, h.method, { names: ['dense', 'bm25'], depth, ...(h.method === 'interpolate' ? { alpha: h.denseWeight as number } : {}) });
    const r = fused.get('q');
    if (r === undefined) return [];
    const offsets = new Map<string, number>();
    for (const x of [...dense, ...bm25]) offsets.set(x.id, x.offset);
    return r.docids.map((id, j) => ({ id, score: r.scores[j] as number, offset: offsets.get(id) as number }));
  }

  /** Text of a document, cut to `textChars`: from the collection file, else its stored tokens decoded. */
  async text(offset: number): Promise<string> {
    let s: string;
    if (this.#text !== null) s = this.#text[offset] ?? '';
    else if (this.#dsTok !== null) s = await this.#dsTok.decode(this.ds.corpus.get(offset), true);
    else s = '';
    return s.length > this.opts.textChars ? `${s.slice(0, this.opts.textChars)}…` : s;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const d of this.#dense.values()) {
      d.model.dispose();
      d.searcher.dispose();
    }
    this.ds.close();
  }
}

/**
 * Document text by offset from a collection file: `id<TAB>text` lines (MS MARCO passage; msmarco-doc's
 * `id<TAB>url<TAB>title<TAB>body` keeps the title and body) or BEIR JSON lines. Ids not in the dataset are skipped.
 */
function readCollection(file: string, ds: Dataset): string[] {
  if (!fs.existsSync(file)) throw new DrhardInputError('collection file not found', { file });
  const text = new Array<string>(ds.corpus.count).fill('');
  const jsonl = path.extname(file) === '.jsonl';
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let id: string;
    let body: string;
    if (jsonl) {
      let o: { _id?: unknown; title?: unknown; text?: unknown };
      try {
        o = JSON.parse(line) as typeof o;
      } catch (e) {
        throw new DrhardInputError(`not JSON: ${(e as Error).message}`, { file, line: i + 1 });
      }
      if (typeof o._id !== 'string' || typeof o.text !== 'string') throw new DrhardInputError('expected string fields _id and text', { file, line: i + 1 });
      id = o._id;
      body = typeof o.title === 'string' && o.title !== '' ? `${o.title}. ${o.text}` : o.text;
    } else {
      const tab = line.indexOf('\t');
      if (tab < 0) throw new DrhardInputError('expected id<TAB>text', { file, line: i + 1 });
      id = line.slice(0, tab);
      const rest = line.slice(tab + 1).split('\t');
      body = rest.length >= 3 ? rest.slice(1).join(' ') : rest.join(' ');
    }
    const d = ds.docOffset(id);
    if (d !== undefined) text[d] = body;
  });
  return text;
}
