// `npm run bench`: runs every bench in bench/ at its quick, bounded size (each gets --quick and DRHARD_BENCH_QUICK=1;
// one without a quick mode just runs), one after another, and prints one summary table of drhard/reference ratios.
// Benches record ratios through bench/summary.ts; for one that does not, the lines of its output that report a ratio
// are shown instead. Usage: node --import tsx bench/run.ts [--only a,b] [--full] [--timeout S] [--dir DIR]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RatioRecord } from './summary.ts';

export interface BenchResult {
  name: string;
  code: number | null;
  timedOut: boolean;
  seconds: number;
  records: Array<RatioRecord & { bench: string }>;
  /** Output lines that mention a ratio or target (used when the bench records none). */
  ratioLines: string[];
}

/** Bench files in `dir`: every .ts except run.ts and the helpers other benches import (pyref.ts, summary.ts). */
export function discoverBenches(dir: string): string[] {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.endsWith('.d.ts'));
  const imported = new Set<string>();
  for (const f of files) {
    for (const m of fs.readFileSync(path.join(dir, f), 'utf8').matchAll(/from '\.\/([\w.-]+\.ts)'/g)) imported.add(m[1]!);
  }
  return files.filter((f) => !imported.has(f)).sort();
}

/** Lines of a bench's output that report a ratio: they mention one, or are rows under a header that does. */
export function ratioLines(output: string): string[] {
  const out: string[] = [];
  let inTable = false;
  for (const line of output.split('\n')) {
    if (line.trim() === '') {
      inTable = false;
      continue;
    }
    if (/ratio|target|\/py|\/pytorch|\/python|\/trec_eval/i.test(line)) {
      out.push(line.trimEnd());
      inTable = /ratio|drhard\/|\/py/i.test(line);
    } else if (inTable) out.push(line.trimEnd());
  }
  return out;
}

/** '<= 1.05', '< 1', '>= 0.95' → whether `x` meets it; undefined without a target. */
export function meets(x: number, target: string | undefined): boolean | undefined {
  const m = /^\s*(<=|>=|<|>|≤|≥)\s*([0-9.]+)/.exec(target ?? '');
  if (m === null) return undefined;
  const t = Number(m[2]);
  return { '<=': x <= t, '≤': x <= t, '<': x < t, '>=': x >= t, '≥': x >= t, '>': x > t }[m[1]!];
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(2) : String(Number(x.toPrecision(4)));
}

/** The summary: one row per recorded ratio, then each bench's status and its ratio lines where it recorded none. */
export function summaryTable(results: BenchResult[]): string {
  const rows: string[][] = [['bench', 'case', 'drhard', 'reference', 'unit', 'ratio', 'target', 'ok']];
  for (const r of results) {
    for (const x of r.records) {
      const ok = meets(x.ratio, x.target);
      rows.push([r.name, x.case, fmt(x.drhard), fmt(x.reference), x.unit, x.ratio.toFixed(3), x.target ?? '', ok === undefined ? '' : ok ? 'yes' : 'NO']);
    }
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => row.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd());
  lines.splice(1, 0, w.map((n) => '-'.repeat(n)).join('  '));
  lines.push('');
  for (const r of results) {
    const status = r.timedOut ? 'TIMED OUT' : r.code === 0 ? 'ok' : `FAILED (exit ${r.code})`;
    lines.push(`${r.name}: ${status} in ${r.seconds.toFixed(0)} s, ${r.records.length} ratio(s) recorded`);
    if (r.records.length === 0) for (const l of r.ratioLines) lines.push(`  | ${l}`);
  }
  return `${lines.join('\n')}\n`;
}

/** CPU model and the SIMD flags speed depends on, and the load average: every speed figure is printed with them. */
export function machineLine(): string {
  let model = os.cpus()[0]?.model ?? 'unknown CPU';
  let flags: string[] = [];
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    model = /^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? model;
    const all = new Set((/^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? '').split(/\s+/));
    flags = ['avx2', 'avx512f', 'avx512_bf16', 'avx512_vnni', 'amx_tile', 'amx_bf16'].filter((f) => all.has(f));
  } catch {
    // not Linux: the model from os.cpus() is all there is
  }
  const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  return `${model}, ${os.cpus().length} CPUs, flags ${flags.join(' ') || '(none of avx2/avx512/amx)'}; load average ${load}`;
}

async function runOne(dir: string, file: string, quick: boolean, timeoutS: number): Promise<BenchResult> {
  const summary = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-bench-')), 'summary.jsonl');
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(dir, file), ...(quick ? ['--quick'] : [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DRHARD_BENCH_SUMMARY: summary, ...(quick ? { DRHARD_BENCH_QUICK: '1' } : {}) },
    detached: true,
  });
  let out = '';
  // The benches' own output goes to stderr as it comes; stdout carries only the summary.
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
    process.stderr.write(b);
  });
  child.stderr.on('data', (b: Buffer) => process.stderr.write(b));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    // The bench's process group: its Python reference and children too.
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }, timeoutS * 1000);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  let records: BenchResult['records'] = [];
  if (fs.existsSync(summary)) {
    records = fs.readFileSync(summary, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as BenchResult['records'][number]);
  }
  fs.rmSync(path.dirname(summary), { recursive: true, force: true });
  return { name: path.basename(file, '.ts'), code, timedOut, seconds: (performance.now() - t0) / 1000, records, ratioLines: ratioLines(out) };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const dir = path.resolve(value('dir') ?? path.dirname(fileURLToPath(import.meta.url)));
  const quick = !argv.includes('--full');
  const timeoutS = Number(value('timeout') ?? (quick ? 900 : 7200));
  const only = value('only')?.split(',');
  const benches = discoverBenches(dir).filter((f) => only === undefined || only.includes(path.basename(f, '.ts')));
  const before = machineLine();
  process.stderr.write(`bench: ${benches.join(', ')} (${quick ? 'quick' : 'full'} sizes, ${timeoutS} s limit each)\n`);
  const results: BenchResult[] = [];
  for (const f of benches) {
    process.stderr.write(`\n=== ${f}\n`);
    results.push(await runOne(dir, f, quick, timeoutS));
  }
  process.stdout.write(`\nmachine at start: ${before}\nmachine at end:   ${machineLine()}\n(speed depends on the load above; benches that interleave drhard and reference runs say so in their output)\n\n`);
  process.stdout.write(summaryTable(results));
  if (results.some((r) => r.code !== 0)) process.exitCode = 1;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
