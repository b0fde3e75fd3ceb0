// Text → dataset directory (DRhard preprocess.py): token stores, id maps, qrels remapped to offsets, manifest.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DrhardFsError, DrhardInputError, DrhardUsageError } from '../util/errors.ts';
import { closeChecked, fsyncChecked, openChecked, publishDir, writeAllSync, writeFileAtomic } from '../util/fsx.ts';
import { sha256FileSync } from '../util/hash.ts';
import { log as rootLog, type Logger } from '../util/log.ts';
import { Progress } from '../util/progress.ts';
import { loadTokenizer, type TokenizerInfo } from '../tokenizers/index.ts';
import { DATASET_TOKENIZER_DIR, copyTokenizerFiles } from '../tokenizers/files.ts';
import { fileSize } from './chunks.ts';
import { DATASET_FORMAT, MANIFEST_FILE, type DatasetManifest } from './dataset.ts';
import { IdIndex } from './idindex.ts';
import type { IdType, RecordKind } from './parse.ts';
import { TokenizePool, defaultThreads, tokenizeFile, type ChunkResult } from './pipeline.ts';
import { loadBeirQrels, loadTrecQrels, type LoadedQrels, type QrelsCheck } from './qrels.ts';
import { TokenStoreWriter } from './tokenstore.ts';

/** Options shared by every input format. */
export interface PreprocessOptions {
  /** Output dataset directory. Built in a temp dir beside it and renamed into place when complete. */
  out: string;
  /** Model directory (tokenizer.json, vocab.json + merges.txt, or vocab.txt) or a tokenizer.json path. */
  tokenizer: string;
  /** DRhard's transformers-2.8 RoBERTa tokenization (needed for DRhard's published checkpoints). */
  compat28?: boolean;
  /** vocab.txt only: override do_lower_case. */
  lowercase?: boolean;
  /** Truncation length of documents, special tokens included (DRhard --max_seq_length, default 512). */
  maxDocLength?: number;
  /** Truncation length of queries (DRhard --max_query_length, default 64). */
  maxQueryLength?: number;
  /** Documents are cut to this many characters before tokenizing (DRhard --max_doc_character, default 10000). */
  maxDocChars?: number;
  /** The JavaScript ASCII BPE where it reproduces the tokenizer (default true; false is for the tests that compare outputs). */
  fastBpe?: boolean;
  /** Worker threads (default: min(2, cores)); 0 tokenizes in the calling thread. */
  threads?: number;
  /** Count and report bad lines instead of failing on the first. */
  skipInvalid?: boolean;
  /** Replace an existing dataset directory at `out` (never a directory that is not a dataset). */
  overwrite?: boolean;
  /** Progress lines on stderr (default true). */
  progress?: boolean;
  /** Bytes of input per parse/tokenize job (default 1 MiB; tests use tiny chunks to cross chunk boundaries). */
  chunkBytes?: number;
  log?: Logger;
}

export interface MsmarcoSplit {
  name: string;
  /** `qid<TAB>text` file. */
  queries: string;
  /** TREC qrels (`qid 0 docid rel`); absent → keep every query (DRhard's "lead" set). */
  qrels?: string;
}

export interface MsmarcoOptions extends PreprocessOptions {
  /** 'passage' (`pid text`) or 'doc' (`docid url title body`). Default 'passage'. */
  kind?: 'passage' | 'doc';
  /** Directory holding the standard file names; used to find the collection and default splits. */
  input?: string;
  /** Collection file (default: collection.tsv[.gz] / msmarco-docs.tsv[.gz] in `input`). */
  collection?: string;
  /** Query sets (default: DRhard's train/dev/test/lead sets found in `input`). */
  splits?: MsmarcoSplit[];
  /** 'numeric' (default): integer pids/qids and D<digits> docids, as the official files. 'string': any id. */
  idType?: IdType;
}

export interface BeirOptions extends PreprocessOptions {
  /** BEIR dataset directory: corpus.jsonl, queries.jsonl, qrels/<split>.tsv. */
  input: string;
  /** Which qrels/<split>.tsv to use (default: all of them). */
  splits?: string[];
  /** Joins title and text (default ' ', as BEIR's dense models). */
  titleSep?: string;
}

export interface PreprocessReport {
  out: string;
  manifest: DatasetManifest;
  seconds: number;
}

interface SplitSpec {
  name: string;
  queries: string;
  qrels: string | null;
  qrelsFormat: 'trec' | 'beir';
}

interface CoreSpec {
  format: DatasetManifest['source']['format'];
  corpusFile: string;
  corpusKind: RecordKind;
  queryKind: RecordKind;
  idType: IdType;
  titleSep: string;
  splits: SplitSpec[];
}

// Progress lines for small files are only noise (tests, the demo's query sets).
const PROGRESS_MIN_BYTES = 8 << 20;
const SPLIT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function firstExisting(dir: string, names: string[]): string | undefined {
  for (const n of names) {
    for (const cand of [n, `${n}.gz`]) {
      const p = path.join(dir, cand);
      if (fs.existsSync(p)) return p;
    }
  }
  return undefined;
}

// DRhard's preprocess.py file names; the `dev` fallbacks are the full dev set names (the demo data uses them).
const MSMARCO_DEFAULTS = {
  passage: {
    collection: ['collection.tsv'],
    splits: [
      { name: 'train', queries: ['queries.train.tsv'], qrels: ['qrels.train.tsv'] },
      { name: 'dev', queries: ['queries.dev.small.tsv', 'queries.dev.tsv'], qrels: ['qrels.dev.small.tsv', 'qrels.dev.tsv'] },
      { name: 'test', queries: ['msmarco-test2019-queries.tsv'], qrels: ['2019qrels-pass.txt'] },
      { name: 'lead', queries: ['queries.eval.small.tsv'], qrels: null },
    ],
  },
  doc: {
    collection: ['msmarco-docs.tsv'],
    splits: [
      { name: 'train', queries: ['msmarco-doctrain-queries.tsv'], qrels: ['msmarco-doctrain-qrels.tsv'] },
      { name: 'dev', queries: ['msmarco-docdev-queries.tsv'], qrels: ['msmarco-docdev-qrels.tsv'] },
      { name: 'test', queries: ['msmarco-test2019-queries.tsv'], qrels: ['2019qrels-docs.txt'] },
      { name: 'lead', queries: ['docleaderboard-queries.tsv'], qrels: null },
    ],
  },
} as const;

/**
 * MS MARCO passage or document ranking data → dataset directory, as DRhard's preprocess.py: only queries that appear
 * in a split's qrels are kept (all of them for a split without qrels); ids may be strings.
 */
export async function preprocessMsmarco(opts: MsmarcoOptions): Promise<PreprocessReport> {
  const kind = opts.kind ?? 'passage';
  const defaults = MSMARCO_DEFAULTS[kind];
  let collection = opts.collection;
  if (collection === undefined) {
    if (opts.input === undefined) throw new DrhardUsageError('give the input directory or the collection file');
    collection = firstExisting(opts.input, [...defaults.collection]);
    if (collection === undefined) throw new DrhardInputError(`no ${defaults.collection.join(' / ')}[.gz] in the input directory`, { file: opts.input });
  }
  let splits: SplitSpec[];
  if (opts.splits !== undefined) {
    splits = opts.splits.map((s) => ({ name: s.name, queries: s.queries, qrels: s.qrels ?? null, qrelsFormat: 'trec' }));
  } else {
    if (opts.input === undefined) throw new DrhardUsageError('give the input directory or explicit splits');
    const input = opts.input;
    splits = [];
    for (const d of defaults.splits) {
      const q = firstExisting(input, [...d.queries]);
      if (q === undefined) continue;
      // A query file's qrels are the one with the same position in the fallback list (dev.small ↔ dev.small).
      const idx = d.queries.findIndex((n) => q.endsWith(n) || q.endsWith(`${n}.gz`));
      const qr = d.qrels === null ? null : (firstExisting(input, [d.qrels[idx] ?? d.qrels[0]]) ?? null);
      if (d.qrels !== null && qr === null) continue;
      splits.push({ name: d.name, queries: q, qrels: qr, qrelsFormat: 'trec' });
    }
  }
  return preprocessCore(
    {
      format: kind === 'passage' ? 'msmarco-passage' : 'msmarco-doc',
      corpusFile: collection,
      corpusKind: kind === 'passage' ? 'msmarco-passage' : 'msmarco-doc',
      queryKind: 'msmarco-query',
      idType: opts.idType ?? 'numeric',
      titleSep: '',
      splits,
    },
    opts,
  );
}

/** BEIR dataset (corpus.jsonl, queries.jsonl, qrels/*.tsv) → dataset directory, one split per qrels file. */
export async function preprocessBeir(opts: BeirOptions): Promise<PreprocessReport> {
  const corpus = firstExisting(opts.input, ['corpus.jsonl']);
  const queries = firstExisting(opts.input, ['queries.jsonl']);
  if (corpus === undefined) throw new DrhardInputError('no corpus.jsonl[.gz]', { file: opts.input });
  if (queries === undefined) throw new DrhardInputError('no queries.jsonl[.gz]', { file: opts.input });
  const qdir = path.join(opts.input, 'qrels');
  let names = opts.splits;
  if (names === undefined) {
    names = fs.existsSync(qdir)
      ? fs
          .readdirSync(qdir)
          .filter((f) => /\.tsv(\.gz)?$/.test(f))
          .map((f) => f.replace(/\.tsv(\.gz)?$/, ''))
          .sort()
      : [];
    if (names.length === 0) throw new DrhardInputError('no qrels/*.tsv files', { file: qdir });
  }
  const splits: SplitSpec[] = names.map((name) => {
    const q = firstExisting(qdir, [`${name}.tsv`]);
    if (q === undefined) throw new DrhardInputError(`no qrels/${name}.tsv`, { file: qdir });
    return { name, queries, qrels: q, qrelsFormat: 'beir' };
  });
  return preprocessCore(
    { format: 'beir', corpusFile: corpus, corpusKind: 'beir-corpus', queryKind: 'beir-query', idType: 'string', titleSep: opts.titleSep ?? ' ', splits },
    opts,
  );
}

function positiveInt(v: number | undefined, def: number, name: string, min: number): number {
  const x = v ?? def;
  if (!Number.isInteger(x) || x < min) throw new DrhardUsageError(`${name} must be an integer >= ${min}, got ${x}`);
  return x;
}

function isDatasetDir(dir: string): boolean {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST_FILE), 'utf8')) as { format?: unknown };
    return m.format === DATASET_FORMAT;
  } catch {
    return false;
  }
}

/** Removes temp dirs left beside `out` by killed runs (their pid is gone), so restarts do not pile them up. */
function removeStaleTemps(out: string, log: Logger): void {
  const parent = path.dirname(out);
  const prefix = `.${path.basename(out)}.tmp-`;
  let entries: string[];
  try {
    entries = fs.readdirSync(parent);
  } catch {
    return;
  }
  for (const e of entries) {
    if (!e.startsWith(prefix)) continue;
    const pid = Number(e.slice(prefix.length).split('-')[0]);
    let alive = false;
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 0);
        alive = true;
      } catch (err) {
        alive = (err as NodeJS.ErrnoException).code === 'EPERM';
      }
    }
    if (!alive) {
      fs.rmSync(path.join(parent, e), { recursive: true, force: true });
      log.info({ removed: e }, 'removed the temp directory of an interrupted run');
    }
  }
}

/** Buffered text output for id maps and qrels inside the temp dir; short writes and fsync/close errors are checked. */
class TextOut {
  private readonly file: string;
  private fd: number;
  private parts: string[] = [];
  private size = 0;
  private bytes = 0;
  constructor(file: string) {
    this.file = file;
    this.fd = openChecked(file, 'w');
  }
  write(s: string): void {
    this.parts.push(s);
    this.size += s.length;
    if (this.size > 1 << 20) this.flush();
  }
  private flush(): void {
    if (this.parts.length > 0) this.bytes += writeAllSync(this.fd, this.parts.join(''), this.file);
    this.parts = [];
    this.size = 0;
  }
  close(): void {
    this.flush();
    fsyncChecked(this.fd, this.file);
    closeChecked(this.fd, this.file);
    const size = fs.statSync(this.file).size;
    if (size !== this.bytes) throw new DrhardFsError('verify', this.file, `the written file has ${size} bytes, expected ${this.bytes}`);
  }
}

function fileRef(file: string): { path: string; sha256: string; bytes: number } {
  const h = sha256FileSync(file);
  return { path: path.resolve(file), sha256: h.sha256, bytes: h.size };
}

/** Counts skipped lines; keeps only the first few reasons so a badly broken file cannot exhaust memory. */
class SkipLog {
  count = 0;
  readonly first: Array<{ line: number; reason: string }> = [];
  add(it: { line: number; reason: string }): void {
    this.count++;
    if (this.first.length < 20) this.first.push(it);
  }
  addAll(items: ReadonlyArray<{ line: number; reason: string }>): void {
    for (const it of items) this.add(it);
  }
}

function skipReport(log: Logger, file: string, skipped: SkipLog): void {
  if (skipped.count === 0) return;
  const shown = skipped.first.slice(0, 5).map((s) => `${file}:${s.line}: ${s.reason}`);
  log.warn({ file, skipped: skipped.count, first: shown }, `skipped ${skipped.count} invalid line(s) in ${file}`);
}

/**
 * Copies the tokenizer into `<dataset>/tokenizer/`, so models trained on the dataset can carry it (the source may
 * move or change later). The copy must be what was tokenized with: each file read is checked against the sha256
 * recorded when loading. A vocab.txt tokenizer's effective lowercasing is written to tokenizer_config.json.
 */
function copyDatasetTokenizer(src: string, info: TokenizerInfo, tmp: string): string {
  const dir = path.join(tmp, DATASET_TOKENIZER_DIR);
  copyTokenizerFiles(src, dir);
  const fromFile = fs.statSync(src).isFile();
  for (const [name, sha] of Object.entries(info.files)) {
    const copy = path.join(dir, fromFile ? 'tokenizer.json' : name);
    if (!fs.existsSync(copy) || sha256FileSync(copy).sha256 !== sha) {
      throw new DrhardInputError('the tokenizer changed while preprocessing; run again', { file: path.join(fromFile ? path.dirname(src) : src, name) });
    }
  }
  if (info.format === 'vocab.txt' && info.lowercase !== undefined) {
    const cfgFile = path.join(dir, 'tokenizer_config.json');
    let cfg: Record<string, unknown> = {};
    if (fs.existsSync(cfgFile)) {
      try {
        const parsed = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as unknown;
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) cfg = parsed as Record<string, unknown>;
      } catch {
        // loadTokenizer already rejected invalid JSON; keep {} to be safe
      }
    }
    if (cfg['do_lower_case'] !== info.lowercase) writeFileAtomic(cfgFile, `${JSON.stringify({ ...cfg, do_lower_case: info.lowercase }, null, 2)}\n`);
  }
  return DATASET_TOKENIZER_DIR;
}

async function preprocessCore(spec: CoreSpec, opts: PreprocessOptions): Promise<PreprocessReport> {
  const t0 = Date.now();
  const log = opts.log ?? rootLog.child({ mod: 'preprocess' });
  const maxDocLength = positiveInt(opts.maxDocLength, 512, 'maxDocLength', 2);
  const maxQueryLength = positiveInt(opts.maxQueryLength, 64, 'maxQueryLength', 2);
  const maxDocChars = positiveInt(opts.maxDocChars, 10_000, 'maxDocChars', 0);
  const threads = positiveInt(opts.threads, defaultThreads(), 'threads', 0);
  const skipInvalid = opts.skipInvalid === true;
  const showProgress = opts.progress !== false;
  const chunkBytes = positiveInt(opts.chunkBytes, 1 << 20, 'chunkBytes', 1);
  const out = path.resolve(opts.out);

  const names = new Set<string>();
  for (const s of spec.splits) {
    if (!SPLIT_NAME.test(s.name) || s.name === 'corpus') throw new DrhardUsageError(`bad split name ${JSON.stringify(s.name)}`);
    if (names.has(s.name)) throw new DrhardUsageError(`split ${s.name} given twice`);
    names.add(s.name);
  }
  for (const f of [spec.corpusFile, ...spec.splits.flatMap((s) => [s.queries, ...(s.qrels !== null ? [s.qrels] : [])])]) {
    if (!fs.existsSync(f)) throw new DrhardInputError('input file not found', { file: f });
  }
  if (fs.existsSync(out)) {
    const empty = fs.statSync(out).isDirectory() && fs.readdirSync(out).length === 0;
    if (!empty) {
      if (opts.overwrite !== true) throw new DrhardUsageError(`output directory ${out} exists; pass --overwrite to replace it`);
      if (!isDatasetDir(out)) throw new DrhardUsageError(`refusing to overwrite ${out}: it is not a drhard dataset directory`);
    }
  }
  removeStaleTemps(out, log);

  const tokOpts = {
    ...(opts.compat28 !== undefined ? { compat28: opts.compat28 } : {}),
    ...(opts.lowercase !== undefined ? { lowercase: opts.lowercase } : {}),
    ...(opts.fastBpe !== undefined ? { fastBpe: opts.fastBpe } : {}),
  };
  const tokInfo: TokenizerInfo = (await loadTokenizer(opts.tokenizer, tokOpts)).info;
  const pool = await TokenizePool.create({ src: opts.tokenizer, options: tokOpts }, threads);
  let manifest: DatasetManifest | undefined;
  try {
    await publishDir(out, async (tmp) => {
      const parseBase = { idType: spec.idType, titleSep: spec.titleSep, skipInvalid };

      // ---- corpus
      const corpusWriter = new TokenStoreWriter(tmp, 'corpus');
      const pidOut = new TextOut(path.join(tmp, 'pid2offset.tsv'));
      const docIndex = new IdIndex();
      const corpusSkipped = new SkipLog();
      let truncated = 0;
      const mb = (b: number): number => Math.round(b / 1e5) / 10;
      const bar = new Progress({ total: mb(fileSize(spec.corpusFile)), label: 'corpus MB', unit: 'MB', enabled: showProgress && fileSize(spec.corpusFile) >= PROGRESS_MIN_BYTES });
      let corpusSrc;
      try {
        corpusSrc = await tokenizeFile(
          pool,
          spec.corpusFile,
          { ...parseBase, kind: spec.corpusKind, maxChars: maxDocChars },
          maxDocLength,
          (r: ChunkResult) => {
            const keep = new Uint8Array(r.ids.length);
            let offset = corpusWriter.count;
            for (let i = 0; i < r.ids.length; i++) {
              const id = r.ids[i] as string;
              if (!docIndex.add(id, offset)) {
                const where = { file: spec.corpusFile, line: r.lines[i] as number, field: 'id' };
                if (!skipInvalid) throw new DrhardInputError(`duplicate id ${id}`, where);
                corpusSkipped.add({ line: where.line, reason: `id: duplicate id ${id}` });
                continue;
              }
              keep[i] = 1;
              if (r.cut[i] === 1) truncated++;
              pidOut.write(`${id}\t${offset}\n`);
              offset++;
            }
            corpusSkipped.addAll(r.skipped);
            corpusWriter.appendPacked(r.tokens, r.lengths, (row) => keep[row] === 1);
          },
          (raw) => bar.update(mb(raw), { docs: corpusWriter.count }),
          chunkBytes,
        );
      } catch (e) {
        corpusWriter.abort();
        throw e;
      } finally {
        bar.stop();
      }
      corpusWriter.finish();
      pidOut.close();
      skipReport(log, spec.corpusFile, corpusSkipped);
      if (corpusWriter.count === 0) throw new DrhardInputError('no documents', { file: spec.corpusFile });
      log.info({ docs: corpusWriter.count, tokens: corpusWriter.totalTokens, truncated }, 'corpus tokenized');
      const corpusInfo: DatasetManifest['corpus'] = {
        name: 'corpus',
        count: corpusWriter.count,
        tokens: corpusWriter.totalTokens,
        maxLength: maxDocLength,
        longest: corpusWriter.longest,
        truncated,
        idMap: 'pid2offset.tsv',
        file: { path: path.resolve(spec.corpusFile), sha256: corpusSrc.sha256, bytes: corpusSrc.bytes },
        skipped: corpusSkipped.count,
      };

      // ---- query sets
      const splitsInfo: DatasetManifest['splits'] = {};
      const check: QrelsCheck = {
        docid: (id) => (docIndex.has(id) ? undefined : `document ${id} is not in ${path.basename(spec.corpusFile)}`),
        skipInvalid,
      };
      for (const s of spec.splits) {
        let loaded: LoadedQrels | null = null;
        if (s.qrels !== null) {
          loaded = s.qrelsFormat === 'beir' ? loadBeirQrels(s.qrels, check) : loadTrecQrels(s.qrels, check);
        }
        const keepIds = loaded?.qrels;
        const name = `${s.name}-query`;
        const writer = new TokenStoreWriter(tmp, name);
        const qidOut = new TextOut(path.join(tmp, `${s.name}-qid2offset.tsv`));
        const seen = new IdIndex();
        const kept = new IdIndex();
        const qSkipped = new SkipLog();
        let qTrunc = 0;
        const qbar = new Progress({ total: mb(fileSize(s.queries)), label: `${s.name} queries MB`, unit: 'MB', enabled: showProgress && fileSize(s.queries) >= PROGRESS_MIN_BYTES });
        let qSrc;
        try {
          qSrc = await tokenizeFile(
            pool,
            s.queries,
            { ...parseBase, kind: spec.queryKind, maxChars: 0 },
            maxQueryLength,
            (r: ChunkResult) => {
              const keep = new Uint8Array(r.ids.length);
              for (let i = 0; i < r.ids.length; i++) {
                const id = r.ids[i] as string;
                if (!seen.add(id, 0)) {
                  const where = { file: s.queries, line: r.lines[i] as number, field: 'id' };
                  if (!skipInvalid) throw new DrhardInputError(`duplicate id ${id}`, where);
                  qSkipped.add({ line: where.line, reason: `id: duplicate id ${id}` });
                  continue;
                }
                if (keepIds !== undefined && !keepIds.has(id)) continue;
                const offset = kept.size;
                kept.add(id, offset);
                keep[i] = 1;
                if (r.cut[i] === 1) qTrunc++;
                qidOut.write(`${id}\t${offset}\n`);
              }
              qSkipped.addAll(r.skipped);
              writer.appendPacked(r.tokens, r.lengths, (row) => keep[row] === 1);
            },
            (raw) => qbar.update(mb(raw), { queries: writer.count }),
            chunkBytes,
          );
        } catch (e) {
          writer.abort();
          throw e;
        } finally {
          qbar.stop();
        }
        writer.finish();
        qidOut.close();
        skipReport(log, s.queries, qSkipped);

        let qrelFile: string | null = null;
        let judgments = 0;
        const qrelSkipped = new SkipLog();
        qrelSkipped.addAll(loaded?.skipped ?? []);
        if (loaded !== null && s.qrels !== null) {
          qrelFile = `${s.name}-qrel.tsv`;
          const qo = new TextOut(path.join(tmp, qrelFile));
          for (const [qid, docs] of loaded.qrels) {
            const qoff = kept.get(qid);
            if (qoff === undefined) {
              const where = { file: s.qrels, line: loaded.qidLine.get(qid) ?? 0, field: 'qid' };
              if (!skipInvalid) throw new DrhardInputError(`query ${qid} is not in ${path.basename(s.queries)}`, where);
              qrelSkipped.add({ line: where.line, reason: `qid: query ${qid} is not in ${path.basename(s.queries)} (${docs.size} judgment(s) dropped)` });
              continue;
            }
            for (const [docid, rel] of docs) {
              qo.write(`${qoff}\t0\t${docIndex.get(docid) as number}\t${rel}\n`);
              judgments++;
            }
          }
          qo.close();
          skipReport(log, s.qrels, qrelSkipped);
        }
        log.info({ split: s.name, queries: writer.count, judgments }, 'query set tokenized');
        splitsInfo[s.name] = {
          name,
          count: writer.count,
          tokens: writer.totalTokens,
          maxLength: maxQueryLength,
          longest: writer.longest,
          truncated: qTrunc,
          idMap: `${s.name}-qid2offset.tsv`,
          queries: { path: path.resolve(s.queries), sha256: qSrc.sha256, bytes: qSrc.bytes },
          qrels: s.qrels === null ? null : fileRef(s.qrels),
          qrelFile,
          judgments,
          skipped: { queries: qSkipped.count, qrels: qrelSkipped.count },
        };
      }

      const tokenizerDir = copyDatasetTokenizer(opts.tokenizer, tokInfo, tmp);
      manifest = {
        format: DATASET_FORMAT,
        version: 1,
        createdAt: new Date().toISOString(),
        source: { format: spec.format, idType: spec.idType, maxDocChars, ...(spec.format === 'beir' ? { titleSep: spec.titleSep } : {}) },
        tokenizer: { ...tokInfo, source: path.resolve(tokInfo.source), dir: tokenizerDir },
        corpus: corpusInfo,
        splits: splitsInfo,
      };
      // The manifest is written last: a directory without one is never mistaken for a finished dataset.
      const mo = new TextOut(path.join(tmp, MANIFEST_FILE));
      mo.write(`${JSON.stringify(manifest, null, 2)}\n`);
      mo.close();
    });
  } finally {
    await pool.close();
  }
  const seconds = (Date.now() - t0) / 1000;
  log.info({ out, seconds }, 'dataset written');
  return { out, manifest: manifest as DatasetManifest, seconds };
}
