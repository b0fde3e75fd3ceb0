// cvt_back: rewrite a run file's query/document offsets to the original ids of a dataset, streaming, line for line.
import { DrhardInputError, DrhardUsageError } from '../util/errors.ts';
import { AtomicWriter } from '../util/fsx.ts';
import { openDataset, type Dataset } from './dataset.ts';
import { forEachLine, parseScore } from './trec.ts';

export interface ConvertIdsOptions {
  /** Dataset directory (or an open Dataset). */
  dataset: string | Dataset;
  /** Query split whose offsets the run's qids are (train, dev, test, lead, ...). */
  split: string;
  input: string;
  output: string;
  /** 'trec' (`qid Q0 docid rank score tag`), 'msmarco' (`qid docid rank`), or 'auto' (by the first line). */
  format?: 'trec' | 'msmarco' | 'auto';
}

export interface ConvertIdsResult {
  format: 'trec' | 'msmarco';
  lines: number;
  queries: number;
}

const OFFSET = /^\d+$/;

/**
 * Replaces offsets by ids and keeps everything else byte for byte (separators, rank, score, tag, line order), so
 * the output is the run DRhard's cvt_back.py writes. Memory is bounded by the id maps, not the run size. A bad line
 * (field count, non-integer or out-of-range offset, bad rank/score) is an error naming file:line; the output file
 * only appears when the whole input converted.
 */
export function convertRunIds(opts: ConvertIdsOptions): ConvertIdsResult {
  const ds = typeof opts.dataset === 'string' ? openDataset(opts.dataset) : opts.dataset;
  try {
    if (!ds.splits().includes(opts.split)) {
      throw new DrhardUsageError(`dataset has no split ${JSON.stringify(opts.split)} (have: ${ds.splits().join(', ')})`);
    }
    const qids = ds.queryIds(opts.split);
    const pids = ds.docIds();
    let format: 'trec' | 'msmarco' | undefined = opts.format === 'auto' || opts.format === undefined ? undefined : opts.format;
    const file = opts.input;
    const w = new AtomicWriter(opts.output);
    let lines = 0;
    const seenQ = new Set<number>();
    try {
      let parts: string[] = [];
      let size = 0;
      forEachLine(file, (line, lineNo) => {
        const trimmed = line.trim();
        if (trimmed.length === 0 || trimmed.startsWith('#')) {
          parts.push(line, '\n');
          return;
        }
        // Field positions, so the output keeps the input's separators exactly.
        const spans = Array.from(line.matchAll(/\S+/g), (m) => [m.index, m.index + m[0].length] as const);
        const nFields = spans.length;
        if (format === undefined) {
          if (nFields === 6) format = 'trec';
          else if (nFields === 3) format = 'msmarco';
          else throw new DrhardInputError(`cannot detect run format: expected 6 fields (TREC) or 3 (MS MARCO), found ${nFields}`, { file, line: lineNo });
        }
        const want = format === 'trec' ? 6 : 3;
        if (nFields !== want) {
          throw new DrhardInputError(`expected ${want} fields (${format === 'trec' ? 'qid Q0 docid rank score tag' : 'qid docid rank'}), found ${nFields}`, { file, line: lineNo });
        }
        const field = (k: number): string => line.slice(spans[k]![0], spans[k]![1]);
        const replaced = new Map<number, string>();
        const mapOffset = (k: number, ids: string[], name: string): void => {
          const raw = field(k);
          const off = OFFSET.test(raw) ? Number(raw) : -1;
          if (off < 0 || off >= ids.length) {
            throw new DrhardInputError(`not an offset in [0, ${ids.length}): ${JSON.stringify(raw)}`, { file, line: lineNo, field: name });
          }
          replaced.set(k, ids[off] as string);
          if (k === 0) seenQ.add(off);
        };
        if (format === 'trec') {
          parseScore(field(4), { file, line: lineNo, field: 'score' });
          mapOffset(2, pids, 'docid');
        } else {
          const rank = field(2);
          if (!/^\d+$/.test(rank)) throw new DrhardInputError(`not a rank: ${JSON.stringify(rank)}`, { file, line: lineNo, field: 'rank' });
          mapOffset(1, pids, 'docid');
        }
        mapOffset(0, qids, 'qid');
        let outLine = '';
        let pos = 0;
        for (const [k, id] of [...replaced].sort((a, b) => a[0] - b[0])) {
          outLine += line.slice(pos, spans[k]![0]) + id;
          pos = spans[k]![1];
        }
        outLine += line.slice(pos);
        parts.push(outLine, '\n');
        size += outLine.length;
        lines++;
        if (size > 1 << 20) {
          w.write(parts.join(''));
          parts = [];
          size = 0;
        }
      });
      if (parts.length > 0) w.write(parts.join(''));
      w.commit();
    } catch (e) {
      w.abort();
      throw e;
    }
    return { format: format ?? 'trec', lines, queries: seenQ.size };
  } finally {
    if (typeof opts.dataset === 'string') ds.close();
  }
}
