// Qrels for preprocessing: TREC/MS MARCO qrels via src/data/trec.ts, BEIR qrels TSV, with line numbers kept for errors.
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { DrhardInputError } from '../util/errors.ts';
import { forEachLine, forEachLineOfText, parseQrels, readQrels, type Qrels } from './trec.ts';

export interface LoadedQrels {
  qrels: Qrels;
  /** First line mentioning each query: where a "query not found" error points. */
  qidLine: Map<string, number>;
  /** Judgment lines read (after skipping). */
  judgments: number;
  skipped: Array<{ line: number; reason: string }>;
}

export interface QrelsCheck {
  /** Returns an error message when the document id is unknown, undefined when it is fine. */
  docid: (id: string) => string | undefined;
  skipInvalid: boolean;
}

function gunzipText(file: string): string {
  try {
    return zlib.gunzipSync(fs.readFileSync(file)).toString('utf8');
  } catch (e) {
    throw new DrhardInputError(`cannot read gzip: ${(e as Error).message}`, { file });
  }
}

/**
 * Reads TREC qrels (`qid 0 docid rel`, MS MARCO's qrels.*.tsv too) with trec.ts's reader, checking every docid.
 * With `skipInvalid`, malformed lines, duplicate judgments and unknown documents are counted instead of fatal.
 */
export function loadTrecQrels(file: string, check: QrelsCheck): LoadedQrels {
  const qidLine = new Map<string, number>();
  const skipped: Array<{ line: number; reason: string }> = [];
  const gz = file.endsWith('.gz');
  if (!check.skipInvalid) {
    const ids = {
      qid: (raw: string, where: { line: number }): string => {
        if (!qidLine.has(raw)) qidLine.set(raw, where.line);
        return raw;
      },
      docid: (raw: string, where: { file: string; line: number }): string => {
        const bad = check.docid(raw);
        if (bad !== undefined) throw new DrhardInputError(bad, { ...where, field: 'docid' });
        return raw;
      },
    };
    const qrels = gz ? parseQrels(gunzipText(file), file, { ids }) : readQrels(file, { ids });
    let judgments = 0;
    for (const m of qrels.values()) judgments += m.size;
    return { qrels, qidLine, judgments, skipped };
  }
  // Skipping: each line goes through trec.ts's parser alone, so one bad line cannot abort the file.
  const qrels: Qrels = new Map();
  let judgments = 0;
  const onLine = (text: string, line: number): void => {
    let one: Qrels;
    try {
      one = parseQrels(text, file);
    } catch (e) {
      skipped.push({ line, reason: e instanceof DrhardInputError ? e.message.replace(`${file}:1: `, '') : String(e) });
      return;
    }
    for (const [qid, docs] of one) {
      for (const [docid, rel] of docs) {
        const bad = check.docid(docid);
        if (bad !== undefined) {
          skipped.push({ line, reason: `docid: ${bad}` });
          continue;
        }
        let m = qrels.get(qid);
        if (m === undefined) {
          m = new Map();
          qrels.set(qid, m);
        }
        if (m.has(docid)) {
          skipped.push({ line, reason: `docid: duplicate judgment for query ${qid}, document ${docid}` });
          continue;
        }
        m.set(docid, rel);
        judgments++;
        if (!qidLine.has(qid)) qidLine.set(qid, line);
      }
    }
  };
  if (gz) forEachLineOfText(gunzipText(file), onLine);
  else forEachLine(file, onLine);
  return { qrels, qidLine, judgments, skipped };
}

const INT = /^-?\d+$/;

/**
 * Reads BEIR qrels: a header line `query-id<TAB>corpus-id<TAB>score`, then one judgment per line. Blank lines are
 * ignored; anything else malformed is an error naming file:line (or skipped with `skipInvalid`).
 */
export function loadBeirQrels(file: string, check: QrelsCheck): LoadedQrels {
  const qrels: Qrels = new Map();
  const qidLine = new Map<string, number>();
  const skipped: Array<{ line: number; reason: string }> = [];
  let judgments = 0;
  let sawHeader = false;
  const onLine = (text: string, line: number): void => {
    if (text.trim().length === 0) return;
    if (!sawHeader) {
      const h = text.split('\t');
      if (h[0] !== 'query-id') throw new DrhardInputError('expected the BEIR header "query-id\\tcorpus-id\\tscore"', { file, line });
      sawHeader = true;
      return;
    }
    const fail = (reason: string, field?: string): void => {
      if (!check.skipInvalid) throw new DrhardInputError(reason, { file, line, ...(field !== undefined ? { field } : {}) });
      skipped.push({ line, reason: field !== undefined ? `${field}: ${reason}` : reason });
    };
    const f = text.split('\t');
    if (f.length !== 3) return fail(`expected 3 tab-separated fields (query-id, corpus-id, score), found ${f.length}`);
    const [qid, docid, score] = f as [string, string, string];
    if (qid.length === 0 || /\s/.test(qid)) return fail('empty id or id with whitespace', 'query-id');
    if (docid.length === 0 || /\s/.test(docid)) return fail('empty id or id with whitespace', 'corpus-id');
    if (!INT.test(score) || !Number.isSafeInteger(Number(score))) return fail(`not an integer: ${JSON.stringify(score)}`, 'score');
    const bad = check.docid(docid);
    if (bad !== undefined) return fail(bad, 'corpus-id');
    let m = qrels.get(qid);
    if (m === undefined) {
      m = new Map();
      qrels.set(qid, m);
    }
    if (m.has(docid)) return fail(`duplicate judgment for query ${qid}, document ${docid}`, 'corpus-id');
    m.set(docid, Number(score));
    judgments++;
    if (!qidLine.has(qid)) qidLine.set(qid, line);
  };
  if (file.endsWith('.gz')) forEachLineOfText(gunzipText(file), onLine);
  else forEachLine(file, onLine);
  if (!sawHeader) throw new DrhardInputError('empty qrels file (no header)', { file });
  return { qrels, qidLine, judgments, skipped };
}
