// TREC qrels files (`qid iter docid rel`): strict reader with file:line errors and an atomic writer.
import { DrhardInputError } from '../util/errors.ts';
import { AtomicWriter } from '../util/fsx.ts';
import { forEachLine, forEachLineOfText, isSkippable, parseIntStrict, splitFields } from './lines.ts';
import type { IdMapper } from './ranking.ts';

/** qid → (docid → relevance grade). Grades are integers; negative grades mean "in pool, unjudged" (trec_eval). */
export type Qrels = Map<string, Map<string, number>>;

/** Builds qrels from lines `qid iter docid rel` (exactly 4 whitespace-separated fields; MS MARCO .tsv qrels too). */
class QrelsBuilder {
  readonly qrels: Qrels = new Map();
  private fields: string[] = [];
  private lastQid = '';
  private lastMap: Map<string, number> | undefined;
  constructor(
    private readonly file: string,
    private readonly ids: IdMapper | undefined,
  ) {}
  line(text: string, lineNo: number): void {
    if (isSkippable(text)) return;
    const f = this.fields;
    const n = splitFields(text, f, 4);
    if (n !== 4) {
      throw new DrhardInputError(`expected 4 fields "qid iter docid rel", found ${n > 4 ? 'more than 4' : n}`, {
        file: this.file,
        line: lineNo,
      });
    }
    const where = { file: this.file, line: lineNo };
    const qid = this.ids?.qid ? this.ids.qid(f[0]!, where) : f[0]!;
    const docid = this.ids?.docid ? this.ids.docid(f[2]!, where) : f[2]!;
    const rel = parseIntStrict(f[3]!, { ...where, field: 'rel' });
    let m = this.lastMap;
    if (m === undefined || qid !== this.lastQid) {
      m = this.qrels.get(qid);
      if (m === undefined) {
        m = new Map();
        this.qrels.set(qid, m);
      }
      this.lastQid = qid;
      this.lastMap = m;
    }
    if (m.has(docid)) {
      throw new DrhardInputError(`duplicate judgment for query ${qid}, document ${docid}`, { ...where, field: 'docid' });
    }
    m.set(docid, rel);
  }
}

/** Reads a TREC qrels file (`qid 0 docid rel`). Blank and '#' lines are skipped; duplicates are errors. */
export function readQrels(file: string, opts: { ids?: IdMapper } = {}): Qrels {
  const b = new QrelsBuilder(file, opts.ids);
  forEachLine(file, (l, n) => b.line(l, n));
  return b.qrels;
}

/** Parses qrels text held in memory; `source` names it in errors. */
export function parseQrels(text: string, source = '<qrels>', opts: { ids?: IdMapper } = {}): Qrels {
  const b = new QrelsBuilder(source, opts.ids);
  forEachLineOfText(text, (l, n) => b.line(l, n));
  return b.qrels;
}

/** Writes a qrels file `qid 0 docid rel` atomically, in map order. */
export function writeQrels(file: string, qrels: Qrels): void {
  const parts: string[] = [];
  for (const [qid, m] of qrels) for (const [docid, rel] of m) parts.push(`${qid} 0 ${docid} ${rel}\n`);
  const w = new AtomicWriter(file);
  try {
    w.write(parts.join(''));
    w.commit();
  } catch (e) {
    w.abort();
    throw e;
  }
}
