// Text corpora for tokenizer training: plain text, MS MARCO-style TSV, BEIR JSON lines (each optionally gzipped),
// streamed line by line, with the format taken from the file name or sniffed from the first non-empty line.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { DrhardInputError } from '../util/errors.ts';

export type CorpusFormat = 'text' | 'tsv' | 'jsonl';
export const CORPUS_FORMATS = ['auto', 'text', 'tsv', 'jsonl'] as const;

/**
 * The format of a corpus file. By name first (a trailing `.gz` is ignored): `.jsonl` / `.json` → jsonl, `.tsv` →
 * tsv, `.txt` → text. Otherwise by the first non-empty line: a JSON object → jsonl; `field<TAB>…` whose first field
 * has no spaces → tsv; anything else → text.
 */
export function detectCorpusFormat(file: string, firstLine: string | undefined): CorpusFormat {
  const name = file.toLowerCase().replace(/\.gz$/, '');
  if (name.endsWith('.jsonl') || name.endsWith('.json')) return 'jsonl';
  if (name.endsWith('.tsv')) return 'tsv';
  if (name.endsWith('.txt')) return 'text';
  const line = (firstLine ?? '').trim();
  if (line.startsWith('{')) {
    try {
      const v = JSON.parse(line) as unknown;
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) return 'jsonl';
    } catch {
      // not JSON: fall through
    }
  }
  const tab = line.indexOf('\t');
  if (tab > 0 && !/\s/.test(line.slice(0, tab))) return 'tsv';
  return 'text';
}

/** Lines of a file (gunzipped when it ends in .gz; a BOM dropped), without their line ends. Errors name the file. */
async function* lines(file: string): AsyncGenerator<string> {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new DrhardInputError(`cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file });
  }
  if (!st.isFile()) throw new DrhardInputError('not a regular file', { file });
  const raw = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  const gz = file.endsWith('.gz') ? zlib.createGunzip() : undefined;
  // Async iteration rejects on the iterated stream's errors; a read error upstream of gunzip is forwarded to it.
  if (gz) raw.on('error', (e) => gz.destroy(e));
  const src = gz ? raw.pipe(gz) : raw;
  const dec = new TextDecoder('utf-8');
  const strip = (l: string): string => (l.endsWith('\r') ? l.slice(0, -1) : l);
  let rest = '';
  try {
    for await (const chunk of src) {
      rest += dec.decode(chunk as Buffer, { stream: true });
      let start = 0;
      let nl: number;
      while ((nl = rest.indexOf('\n', start)) >= 0) {
        yield strip(rest.slice(start, nl));
        start = nl + 1;
      }
      rest = rest.slice(start);
    }
    rest += dec.decode();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new DrhardInputError(`cannot read${gz ? ' (gzip)' : ''}: ${err.code ?? ''}${err.code ? ' ' : ''}${err.message}`, { file });
  } finally {
    raw.destroy();
    gz?.destroy();
  }
  if (rest.length > 0) yield strip(rest);
}

export interface CorpusFileStats {
  file: string;
  format: CorpusFormat;
  /** Non-empty texts yielded. */
  texts: number;
}

/**
 * Texts of one corpus file: text → each non-blank line; tsv → the columns after the first (the id), joined by a
 * space; jsonl → `title + titleSep + text` of each object (BEIR corpus; queries have only `text`). Blank texts are
 * skipped; a malformed line is a DrhardInputError naming the file and line. `stats` is filled in as lines are read.
 */
export async function* readCorpusFile(
  file: string,
  opts: { format?: CorpusFormat | 'auto'; titleSep?: string; stats?: CorpusFileStats } = {},
): AsyncGenerator<string> {
  const sep = opts.titleSep ?? ' ';
  const stats = opts.stats ?? { file, format: 'text', texts: 0 };
  let format: CorpusFormat | undefined = opts.format === 'auto' || opts.format === undefined ? undefined : opts.format;
  let lineNo = 0;
  for await (const line of lines(file)) {
    lineNo++;
    if (line.trim().length === 0) continue;
    if (format === undefined) format = detectCorpusFormat(file, line);
    stats.format = format;
    let text: string;
    if (format === 'text') text = line;
    else if (format === 'tsv') {
      const tab = line.indexOf('\t');
      if (tab < 0) throw new DrhardInputError('expected id<TAB>text (TSV: no tab on this line)', { file, line: lineNo });
      text = line.slice(tab + 1).replace(/\t/g, ' ');
    } else {
      let obj: unknown;
      try {
        obj = JSON.parse(line) as unknown;
      } catch (e) {
        throw new DrhardInputError(`not valid JSON (${(e as Error).message})`, { file, line: lineNo });
      }
      if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new DrhardInputError('expected a JSON object', { file, line: lineNo });
      const o = obj as Record<string, unknown>;
      const t = o['text'];
      const title = o['title'];
      if (typeof t !== 'string') throw new DrhardInputError('expected a string "text" field', { file, line: lineNo, field: 'text' });
      if (title !== undefined && title !== null && typeof title !== 'string') throw new DrhardInputError('expected a string', { file, line: lineNo, field: 'title' });
      text = typeof title === 'string' && title.trim().length > 0 ? `${title}${sep}${t}` : t;
    }
    if (text.trim().length === 0) continue;
    stats.texts++;
    yield text;
  }
  if (format === undefined) stats.format = detectCorpusFormat(file, undefined);
}

/** Texts of several files in order; `stats` gets one entry per file. Every file is checked to exist up front. */
export async function* readCorpusFiles(
  files: readonly string[],
  opts: { format?: CorpusFormat | 'auto'; titleSep?: string; stats?: CorpusFileStats[] } = {},
): AsyncGenerator<string> {
  for (const f of files) {
    const st = fs.statSync(f, { throwIfNoEntry: false });
    if (st === undefined) throw new DrhardInputError('input file not found', { file: f });
    if (!st.isFile()) throw new DrhardInputError('not a regular file', { file: f });
  }
  for (const file of files) {
    const stats: CorpusFileStats = { file: path.resolve(file), format: 'text', texts: 0 };
    opts.stats?.push(stats);
    yield* readCorpusFile(file, { ...(opts.format !== undefined ? { format: opts.format } : {}), ...(opts.titleSep !== undefined ? { titleSep: opts.titleSep } : {}), stats });
    if (stats.texts === 0) throw new DrhardInputError('no non-empty text in the file (empty corpus)', { file });
  }
}
