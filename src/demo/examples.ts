// The demo report's example queries for the pair it compares (STAR vs ADORE (STAR)): both dev runs as written
// (query/doc offsets), the dev qrels, and the texts of the raw subset the dataset was built from.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Dataset } from '../data/index.ts';
import { readRun, type Qrels } from '../data/trec.ts';
import { pairExamples } from '../report/examples.ts';
import type { PairExample } from '../report/types.ts';

function tsvTexts(file: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const tab = line.indexOf('\t');
    if (tab > 0) m.set(line.slice(0, tab), line.slice(tab + 1));
  }
  return m;
}

/**
 * Examples for `a` vs `b` from their stage directories' dev.run.trec under `out`; null when a run or the raw
 * texts are missing (a results.json from an older demo), so the report simply has no examples then.
 */
export function demoPairExamples(out: string, ds: Dataset, devQrels: Qrels, a: string, b: string): PairExample[] | null {
  const runA = path.join(out, a, 'dev.run.trec');
  const runB = path.join(out, b, 'dev.run.trec');
  const raw = path.join(out, 'data', 'raw');
  const files = [runA, runB, path.join(raw, 'queries.dev.tsv'), path.join(raw, 'collection.tsv')];
  if (!files.every((f) => fs.existsSync(f))) return null;
  const queries = tsvTexts(files[2]!);
  const docs = tsvTexts(files[3]!);
  const qids = ds.queryIds('dev');
  const pids = ds.docIds();
  return pairExamples({
    a: readRun(runA).run,
    b: readRun(runB).run,
    qrels: devQrels,
    queryText: (q) => queries.get(qids[Number(q)] ?? '') ?? '',
    docText: (d) => docs.get(pids[Number(d)] ?? '') ?? '',
  }).map((e) => ({
    ...e,
    // Offsets mean nothing to a reader: show the dataset's ids.
    qid: qids[Number(e.qid)] ?? e.qid,
    a: e.a.map((d) => ({ ...d, docid: pids[Number(d.docid)] ?? d.docid })),
    b: e.b.map((d) => ({ ...d, docid: pids[Number(d.docid)] ?? d.docid })),
  }));
}
