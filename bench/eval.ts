// Evaluation speed: 7,000 queries × 1,000 docs, MRR@10 + Recall@100 + NDCG@10, drhard vs the trec_eval binary.
// Usage: node --import tsx bench/eval.ts [--quick] [--queries N] [--docs N] [--repeat R]; TREC_EVAL=/path/to/trec_eval (default
// /tmp/trec_eval/trec_eval; scripts/fixtures/eval_fixtures.sh shows how to build one from usnistgov/trec_eval).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Rng } from '../src/util/rng.ts';
import { readQrels, readRun } from '../src/data/trec.ts';
import { evaluate } from '../src/eval/evaluate.ts';
import { quickMode, recordRatio } from './summary.ts';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const NQ = arg('queries', quickMode() ? 1000 : 7000);
const ND = arg('docs', quickMode() ? 200 : 1000);
const REPEAT = arg('repeat', 3);
const METRICS = ['mrr@10', 'recall@100', 'ndcg@10'];
const TREC_EVAL = process.env['TREC_EVAL'] ?? '/tmp/trec_eval/trec_eval';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-bench-eval-'));
const qrelsPath = path.join(dir, 'qrels.txt');
const runPath = path.join(dir, 'run.trec');

// Run and qrels shaped like MS MARCO dev: numeric ids, ~1.1 relevant per query, descending float scores.
// Streams to disk without keeping the run, so the timed reads start from a small heap.
function generate(): void {
  const rng = new Rng(7);
  const qrels: string[] = [];
  const runOut = fs.openSync(runPath, 'w');
  for (let q = 0; q < NQ; q++) {
    const qid = String(1000000 + q * 13);
    const nrel = rng.int(10) === 0 ? 2 : 1;
    const docids: string[] = [];
    const used = new Set<number>();
    let score = 90 + rng.float() * 10;
    const lines: string[] = [];
    for (let r = 0; r < ND; r++) {
      let pid = rng.int(8841823);
      while (used.has(pid)) pid = rng.int(8841823);
      used.add(pid);
      score -= rng.float() * 0.05;
      docids.push(String(pid));
      lines.push(`${qid} Q0 ${pid} ${r + 1} ${Math.round(score * 1e5) / 1e5} bench\n`);
    }
    fs.writeSync(runOut, lines.join(''));
    for (let j = 0; j < nrel; j++) {
      // relevant doc inside the ranking 70% of the time, at a skewed rank
      const inRun = rng.float() < 0.7;
      const docid = inRun ? docids[Math.floor(ND * rng.float() ** 3)]! : String(9000000 + q * 3 + j);
      qrels.push(`${qid} 0 ${docid} 1\n`);
    }
  }
  fs.closeSync(runOut);
  fs.writeFileSync(qrelsPath, [...new Set(qrels)].join(''));
}

function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

process.stderr.write(`generating ${NQ} × ${ND} run in ${dir}\n`);
generate();
const sizeMb = fs.statSync(runPath).size / 1e6;
const haveTrecEval = fs.existsSync(TREC_EVAL);

function drhardOnce(): { total: number; cpu: number; parse: number; means: Record<string, number> } {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const qrels = readQrels(qrelsPath);
  const { run } = readRun(runPath);
  const parse = ms(t0);
  const means = evaluate(qrels, run, { metrics: METRICS }).mean;
  const c = process.cpuUsage(c0);
  return { total: ms(t0), cpu: (c.user + c.system) / 1000, parse, means };
}

function trecEvalOnce(): { total: number; cpu: number; out: string } {
  const t0 = process.hrtime.bigint();
  // recip_rank is uncut in trec_eval; MRR@10 would need a second pass with -M 10, so this favours trec_eval.
  // bash's `time` reports the child's user+sys CPU, which a shared machine's load does not inflate.
  const q = (x: string): string => `'${x.replace(/'/g, "'\\''")}'`;
  const cmd = `TIMEFORMAT='%U %S'; time ${q(TREC_EVAL)} -c -m recip_rank -m recall.100 -m ndcg_cut.10 ${q(qrelsPath)} ${q(runPath)}`;
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const total = ms(t0);
  if (r.status !== 0) throw new Error(`trec_eval failed: ${r.stderr}`);
  const [user, sys] = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number) as [number, number];
  return { total, cpu: (user + sys) * 1000, out: r.stdout };
}

// Alternate the two tools so both see the same machine load (this machine is shared).
const fileTimes: number[] = [];
const fileCpu: number[] = [];
const parseTimes: number[] = [];
const teTimes: number[] = [];
const teCpu: number[] = [];
let means: Record<string, number> = {};
let teOut = '';
for (let i = 0; i < REPEAT; i++) {
  const d = drhardOnce();
  fileTimes.push(d.total);
  fileCpu.push(d.cpu);
  parseTimes.push(d.parse);
  means = d.means;
  if (haveTrecEval) {
    const t = trecEvalOnce();
    teTimes.push(t.total);
    teCpu.push(t.cpu);
    teOut = t.out;
  }
}
const qrels = readQrels(qrelsPath);
const { run } = readRun(runPath);
const memTimes: number[] = [];
for (let i = 0; i < REPEAT; i++) {
  const t1 = process.hrtime.bigint();
  evaluate(qrels, run, { metrics: METRICS });
  memTimes.push(ms(t1));
}

const drFile = median(fileTimes);
console.log(`run file: ${NQ} queries × ${ND} docs, ${sizeMb.toFixed(1)} MB; metrics ${METRICS.join(', ')}; median of ${REPEAT}`);
console.log(`drhard    files → metrics   ${drFile.toFixed(0).padStart(7)} ms wall, ${median(fileCpu).toFixed(0).padStart(6)} ms CPU   (parse ${median(parseTimes).toFixed(0)} ms; walls: ${fileTimes.map((x) => x.toFixed(0)).join(', ')})`);
console.log(`drhard    in-process Run    ${median(memTimes).toFixed(0).padStart(7)} ms   (evaluate() only)`);
console.log(`drhard    means: ${METRICS.map((m) => `${m}=${means[m]!.toFixed(4)}`).join(' ')}`);
if (!haveTrecEval) {
  console.log(`trec_eval not found at ${TREC_EVAL}; skipping the ratio (set TREC_EVAL=/path/to/trec_eval)`);
} else {
  const te = median(teTimes);
  console.log(`trec_eval files → metrics   ${te.toFixed(0).padStart(7)} ms wall, ${median(teCpu).toFixed(0).padStart(6)} ms CPU   (walls: ${teTimes.map((x) => x.toFixed(0)).join(', ')}; ${TREC_EVAL})`);
  console.log(`trec_eval means: ${teOut.trim().split('\n').map((l) => l.replace(/\s+all\s+/, '=')).join(' ')}`);
  console.log(`ratio drhard/trec_eval (files → metrics): wall ${(drFile / te).toFixed(2)}, CPU ${(median(fileCpu) / median(teCpu)).toFixed(2)}  (target < 1)`);
  recordRatio({ case: `files → metrics ${NQ}x${ND} wall`, drhard: drFile, reference: te, unit: 'ms', target: '< 1' });
}
fs.rmSync(dir, { recursive: true, force: true });
