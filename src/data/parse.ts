// Strict parsers for MS MARCO (passage, document, query TSV) and BEIR (corpus/queries JSONL) lines.
import { DrhardInputError } from '../util/errors.ts';
import { cutCodePoints, pyIsBlank, pyRstrip, pyStrip } from '../tokenizers/pystr.ts';

export type RecordKind = 'msmarco-passage' | 'msmarco-doc' | 'msmarco-query' | 'beir-corpus' | 'beir-query';
export type IdType = 'numeric' | 'string';

export interface ParseOptions {
  kind: RecordKind;
  /** File name for error messages. */
  file: string;
  /** 'numeric': MS MARCO's integer pids/qids (and `D<digits>` docids). 'string': any id without whitespace. */
  idType: IdType;
  /** Cut text to this many code points before tokenizing (DRhard's --max_doc_character); 0 = no cut. */
  maxChars: number;
  /** BEIR corpus: text = (title + titleSep + text).strip(), as BEIR's dense models do. */
  titleSep: string;
  /** Count and report bad lines instead of failing on the first. */
  skipInvalid: boolean;
}

export interface SkippedLine {
  line: number;
  reason: string;
}

/** Records parsed from a chunk, in file order. */
export interface ParsedRecords {
  ids: string[];
  texts: string[];
  lines: number[];
  skipped: SkippedLine[];
}

const NUMERIC_ID = /^\d+$/;
const DOC_ID = /^D\d+$/;
// Ids end up in whitespace-separated TREC run files and tab-separated maps, so any whitespace breaks round trips.
const HAS_SPACE = /[\s\u0085\u001c-\u001f]/;

class LineError extends Error {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

function checkId(id: string, opts: ParseOptions, field: string, numericShape: RegExp, shapeName: string): string {
  if (id.length === 0) throw new LineError('empty id', field);
  if (opts.idType === 'numeric') {
    if (!numericShape.test(id)) {
      throw new LineError(`not a ${shapeName} id: ${JSON.stringify(id.slice(0, 40))} (use string ids for other formats)`, field);
    }
  } else if (HAS_SPACE.test(id)) {
    throw new LineError(`id contains whitespace: ${JSON.stringify(id.slice(0, 40))}`, field);
  }
  return id;
}

function cut(text: string, opts: ParseOptions): string {
  return opts.maxChars > 0 ? cutCodePoints(text, opts.maxChars) : text;
}

function splitTabs(line: string, want: number, names: string): string[] {
  const f = line.split('\t');
  if (f.length !== want) {
    throw new LineError(`expected ${want} tab-separated fields (${names}), found ${f.length}`);
  }
  return f;
}

function jsonObject(line: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(line) as unknown;
  } catch (e) {
    throw new LineError(`invalid or truncated JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new LineError('expected a JSON object');
  return v as Record<string, unknown>;
}

function jsonId(o: Record<string, unknown>, opts: ParseOptions): string {
  const raw = o['_id'];
  let id: string;
  if (typeof raw === 'string') id = raw;
  else if (typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0) id = String(raw);
  else throw new LineError(raw === undefined ? 'missing _id' : '_id must be a string', '_id');
  return checkId(id, { ...opts, idType: 'string' }, '_id', NUMERIC_ID, 'numeric');
}

function jsonText(o: Record<string, unknown>, key: string, required: boolean): string {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) throw new LineError(`missing ${key}`, key);
    return '';
  }
  if (typeof v !== 'string') throw new LineError(`${key} must be a string`, key);
  return v;
}

/** Parses one line (without its '\n' and '\r') into [id, text]. Throws LineError. */
function parseLine(line: string, opts: ParseOptions): [string, string] {
  if (line.length === 0) throw new LineError('empty line');
  switch (opts.kind) {
    case 'msmarco-passage': {
      const f = splitTabs(line, 2, 'pid, text');
      const id = checkId(f[0] as string, opts, 'pid', NUMERIC_ID, 'numeric');
      // DRhard: line.strip() then text.rstrip(); the leading strip only touches the id, which may not have spaces.
      const text = pyRstrip(f[1] as string);
      if (text.length === 0) throw new LineError('empty text', 'text');
      return [id, cut(text, opts)];
    }
    case 'msmarco-doc': {
      const f = splitTabs(line, 4, 'docid, url, title, body');
      const id = checkId(f[0] as string, opts, 'docid', DOC_ID, 'D<digits>');
      const url = pyRstrip(f[1] as string);
      const title = pyRstrip(f[2] as string);
      const body = pyRstrip(f[3] as string);
      if (url.length === 0 && title.length === 0 && body.length === 0) throw new LineError('empty document (url, title and body)', 'body');
      // DRhard (from ANCE): url <sep> title <sep> body, cut to max characters before tokenizing.
      return [id, cut(`${url}<sep>${title}<sep>${body}`, opts)];
    }
    case 'msmarco-query': {
      const f = splitTabs(line, 2, 'qid, text');
      const id = checkId(f[0] as string, opts, 'qid', NUMERIC_ID, 'numeric');
      const text = pyRstrip(f[1] as string);
      if (text.length === 0) throw new LineError('empty text', 'text');
      return [id, text];
    }
    case 'beir-corpus': {
      const o = jsonObject(line);
      const id = jsonId(o, opts);
      const text = pyStrip(jsonText(o, 'title', false) + opts.titleSep + jsonText(o, 'text', true));
      if (text.length === 0) throw new LineError('empty text (title and text)', 'text');
      return [id, cut(text, opts)];
    }
    case 'beir-query': {
      const o = jsonObject(line);
      const id = jsonId(o, opts);
      const text = pyRstrip(jsonText(o, 'text', true));
      if (pyIsBlank(text)) throw new LineError('empty text', 'text');
      return [id, text];
    }
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Parses a chunk of whole lines (see readLineChunks). A bad line throws DrhardInputError naming file:line:field,
 * or with `skipInvalid` is recorded in `skipped`. Invalid UTF-8 is reported on its own line.
 */
export function parseChunk(buf: Uint8Array, firstLine: number, opts: ParseOptions): ParsedRecords {
  const out: ParsedRecords = { ids: [], texts: [], lines: [], skipped: [] };
  const fail = (lineNo: number, reason: string, field?: string): void => {
    if (!opts.skipInvalid) {
      throw new DrhardInputError(reason, { file: opts.file, line: lineNo, ...(field !== undefined ? { field } : {}) });
    }
    out.skipped.push({ line: lineNo, reason: field !== undefined ? `${field}: ${reason}` : reason });
  };
  const handle = (line: string, lineNo: number): void => {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    try {
      const [id, text] = parseLine(line, opts);
      out.ids.push(id);
      out.texts.push(text);
      out.lines.push(lineNo);
    } catch (e) {
      if (!(e instanceof LineError)) throw e;
      fail(lineNo, e.message, e.field);
    }
  };
  let text: string | undefined;
  try {
    text = decoder.decode(buf);
  } catch {
    text = undefined;
  }
  if (text !== undefined) {
    let pos = 0;
    let lineNo = firstLine;
    while (pos < text.length) {
      let nl = text.indexOf('\n', pos);
      if (nl < 0) nl = text.length;
      handle(text.slice(pos, nl), lineNo++);
      pos = nl + 1;
    }
    return out;
  }
  // Slow path, only for chunks with invalid UTF-8: decode line by line to find the culprit(s).
  let pos = 0;
  let lineNo = firstLine;
  while (pos < buf.length) {
    let nl = buf.indexOf(10, pos);
    if (nl < 0) nl = buf.length;
    let line: string | undefined;
    try {
      line = decoder.decode(buf.subarray(pos, nl));
    } catch {
      fail(lineNo, 'invalid UTF-8');
    }
    if (line !== undefined) handle(line, lineNo);
    lineNo++;
    pos = nl + 1;
  }
  return out;
}
