// Refusals before scoring: a run that shares no query with the qrels, or whose document ids are evidently in
// another id space (offsets against original ids), scores 0 under trec_eval -c and would look like a real result;
// compare's paired tests are only meaningful over one query set.
import type { Qrels, Run } from '../data/trec.ts';
import { DrhardUsageError } from '../util/errors.ts';

const OFFSET = /^\d+$/;

function sample(ids: Iterable<string>, n = 3): string {
  const out: string[] = [];
  let more = false;
  for (const id of ids) {
    if (out.length === n) {
      more = true;
      break;
    }
    out.push(id);
  }
  return `${out.join(', ')}${more ? ', …' : ''}`;
}

export interface RunCoverage {
  runQueries: number;
  qrelsQueries: number;
  /** Queries in both. */
  common: number;
  /** Documents retrieved for common queries. */
  retrieved: number;
  /** Common queries that retrieve at least one document judged (any grade) for that query. */
  queriesWithJudged: number;
}

/** How much of `run` lives in the qrels' id spaces: shared queries, and how many retrieve a document judged for them. */
export function runCoverage(qrels: Qrels, run: Run): RunCoverage {
  let common = 0;
  let retrieved = 0;
  let queriesWithJudged = 0;
  for (const [qid, r] of run) {
    const judged = qrels.get(qid);
    if (judged === undefined) continue;
    common++;
    retrieved += r.docids.length;
    if (r.docids.some((d) => judged.has(d))) queriesWithJudged++;
  }
  return { runQueries: run.size, qrelsQueries: qrels.size, common, retrieved, queriesWithJudged };
}

/**
 * The evidence that document ids are in another space. Offsets and MS MARCO passage ids are both integers in the
 * same range, so exact collisions happen (7k dev queries × 1000 offsets against ~1 judged pid per query in 8.8M:
 * about one query in 7,000 "retrieves" a judged document by chance). A real run, however weak, retrieves a judged
 * document for far more than 1% of its queries; hence the rule: none at all, or fewer than 1% of at least 100.
 */
function foreignDocIds(c: RunCoverage): boolean {
  if (c.retrieved === 0) return false;
  return c.queriesWithJudged === 0 || (c.common >= 100 && c.queriesWithJudged < 0.01 * c.common);
}

/** A hint when the run's ids are all integers and the qrels' are not (or the reverse): DRhard offsets vs ids. */
function offsetHint(runIds: Iterable<string>, qrelsIds: Iterable<string>): string {
  const allInts = (ids: Iterable<string>): boolean => {
    let n = 0;
    for (const id of ids) {
      if (!OFFSET.test(id)) return false;
      if (++n >= 1000) break;
    }
    return n > 0;
  };
  const runInts = allInts(runIds);
  const qrelsInts = allInts(qrelsIds);
  if (runInts && !qrelsInts) return ' The run\'s ids are all integers, the qrels\' are not: a run in offsets needs --data DIR --split NAME (or drhard convert-ids).';
  return ' If the run holds offsets, give --data DIR --split NAME (or convert it with drhard convert-ids).';
}

function* docidsOf(run: Run): Generator<string> {
  for (const r of run.values()) yield* r.docids;
}
function* judgedDocidsOf(qrels: Qrels): Generator<string> {
  for (const m of qrels.values()) yield* m.keys();
}

/**
 * Throws a one-line DrhardUsageError when `run` (read from `file`) shares no query with the qrels, or its documents
 * are evidently in another id space (see foreignDocIds: offsets, or another collection). With `allowPartial` these
 * become warnings passed to `warn`: a run that cannot score above 0 is refused rather than reported as 0.
 */
export function checkRunAgainstQrels(qrels: Qrels, run: Run, file: string, opts: { allowPartial: boolean; warn: (msg: string) => void }): RunCoverage {
  const c = runCoverage(qrels, run);
  const refuse = (msg: string): void => {
    if (opts.allowPartial) opts.warn(`${msg} (scored anyway: --allow-partial)`);
    else throw new DrhardUsageError(`${msg}; pass --allow-partial to score it anyway`);
  };
  if (c.runQueries === 0) refuse(`${file}: the run has no results`);
  else if (c.common === 0) {
    refuse(
      `${file}: none of the run's ${c.runQueries} queries (e.g. ${sample(run.keys())}) is in the qrels' ${c.qrelsQueries} (e.g. ${sample(qrels.keys())}).${offsetHint(run.keys(), qrels.keys())}`.replace(/\.$/, ''),
    );
  } else if (foreignDocIds(c)) {
    refuse(
      `${file}: only ${c.queriesWithJudged} of the ${c.common} queries shared with the qrels retrieve any document judged for them, so every metric is about 0 (run docids e.g. ${sample(docidsOf(run))}; qrels docids e.g. ${sample(judgedDocidsOf(qrels))}).${offsetHint(docidsOf(run), judgedDocidsOf(qrels))}`.replace(/\.$/, ''),
    );
  }
  return c;
}

/**
 * Throws a one-line DrhardUsageError unless every run answers the same (judged) query set as the first (the baseline):
 * a paired test over runs where one lacks queries compares missing-scored-0 against real scores. `allow` turns it into a warning.
 */
export function checkSameQuerySets(
  runs: Array<{ file: string; run: Run }>,
  opts: { allow: boolean; warn: (msg: string) => void; qrels?: Qrels },
): void {
  const base = runs[0];
  if (base === undefined) return;
  // Queries outside the qrels are never scored, so only the judged ones have to agree.
  const scored = (run: Run): string[] => [...run.keys()].filter((q) => opts.qrels === undefined || opts.qrels.has(q));
  for (const r of runs.slice(1)) {
    const onlyBase = scored(base.run).filter((q) => !r.run.has(q));
    const onlyThis = scored(r.run).filter((q) => !base.run.has(q));
    if (onlyBase.length === 0 && onlyThis.length === 0) continue;
    const parts: string[] = [];
    if (onlyBase.length > 0) parts.push(`${onlyBase.length} queries only in ${base.file} (e.g. ${sample(onlyBase)})`);
    if (onlyThis.length > 0) parts.push(`${onlyThis.length} only in ${r.file} (e.g. ${sample(onlyThis)})`);
    const msg = `runs answer different query sets: ${parts.join(', ')}`;
    if (opts.allow) opts.warn(`${msg} (compared anyway, missing queries scored 0: --allow-different-queries)`);
    else throw new DrhardUsageError(`${msg}; pass --allow-different-queries to compare them anyway`);
  }
}
