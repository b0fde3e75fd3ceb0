// Text renderings that match the reference tools' bytes: trec_eval's "%6.4f" table and msmarco_eval.py's block.
import { parseMetric, trecEvalName } from './metrics.ts';
import type { EvaluationResult } from './evaluate.ts';

/**
 * C printf("%.Nf") on a double: rounds the exact binary value, ties to even (glibc). JS toFixed breaks exact ties
 * upward (1/32 → "0.0313" where trec_eval prints "0.0312"), so ties are detected from the exact expansion.
 */
export function formatFixedC(x: number, digits = 4): string {
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : x < 0 ? '-inf' : 'nan';
  if (Math.abs(x) >= 1e21) return x.toFixed(digits);
  const exact = Math.abs(x).toFixed(100);
  const dot = exact.indexOf('.');
  const tail = exact.slice(dot + 1 + digits);
  if (!/^50*$/.test(tail)) return x.toFixed(digits);
  // Exact tie: truncate, then round to even.
  const truncated = exact.slice(0, dot + 1 + digits);
  const lastDigit = Number(truncated.charAt(truncated.length - 1));
  let out = truncated;
  if (lastDigit % 2 === 1) {
    const step = 10 ** -digits;
    out = (Number(truncated) + step).toFixed(digits);
  }
  return x < 0 ? `-${out}` : out;
}

/** Python 3 repr() of a float (shortest round-trip digits; exponent below 1e-4 or from 1e16). */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const ax = Math.abs(x);
  if (ax < 1e-4 || ax >= 1e16) {
    const [mant, exp] = x.toExponential().split('e') as [string, string];
    const sign = exp.startsWith('-') ? '-' : '+';
    const digits = exp.replace(/^[+-]/, '');
    return `${mant}e${sign}${digits.padStart(2, '0')}`;
  }
  const s = String(x);
  return s.includes('.') || s.includes('e') ? s : `${s}.0`;
}

/** msmarco_eval.py's output block (without its "Eval Started" banner). */
export function formatMsmarcoBlock(mrr: number, k: number, queriesRanked: number): string {
  return `#####################\nMRR @${k}: ${pyFloatRepr(mrr)}\nQueriesRanked: ${queriesRanked}\n#####################\n`;
}

/** Column-1 label: trec_eval's measure name where one exists, else ours (mrr@10 has no trec_eval name). */
export function tableName(metric: string): string {
  return trecEvalName(parseMetric(metric)) ?? metric;
}

/**
 * trec_eval's table ("%-22s\t%s\t%6.4f"): with perQuery, each query's rows (queries in byte order) then the "all"
 * rows, as `trec_eval -q` prints them; num_q comes first in the summary like trec_eval's default measure order.
 */
export function formatTrecTable(res: EvaluationResult, opts: { perQuery?: boolean; runid?: string } = {}): string {
  const lines: string[] = [];
  const row = (name: string, qid: string, v: string): void => {
    lines.push(`${name.padEnd(22)}\t${qid}\t${v}`);
  };
  if (opts.perQuery) {
    for (let qi = 0; qi < res.queries.length; qi++) {
      for (const m of res.metrics) row(tableName(m), res.queries[qi]!, formatFixedC(res.values[m]![qi]!));
    }
  }
  if (opts.runid !== undefined) row('runid', 'all', opts.runid);
  row('num_q', 'all', String(res.queries.length));
  for (const m of res.metrics) row(tableName(m), 'all', formatFixedC(res.mean[m]!));
  return `${lines.join('\n')}\n`;
}
