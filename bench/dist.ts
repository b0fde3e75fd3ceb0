// Data-parallel throughput on this machine: 2 ranks × 1 thread (loopback Gloo, drhard launch's environment) against
// 1 process × 2 threads, for a STAR step (hidden 256, 4 layers, batch 32 = 2 × 16, listwise, AdamW) and for corpus
// encoding (drhard encode, sharded by parts); and the all-reduce time per step of a base-size model's gradients.
// There is no PyTorch side: the comparison is drhard with itself. Prints medians and the ratio (2 ranks / 1 process).
// Besides wall time it prints CPU time (all threads): on a shared machine wall time measures the scheduler's share
// as much as drhard, while CPU seconds per row say whether the sharded run does more work. Encoding also runs a
// control without any process group: 2 independent 1-thread processes at once, each encoding the whole corpus.
// Usage: node --import tsx bench/dist.ts [--steps N] [--docs N] [--reps N] [--only star,encode,allreduce]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeDataset, saveFreshModel } from '../test/train/helpers.ts';
import { runRanks } from '../test/helpers/dist.ts';

const argv = process.argv.slice(2);
const flag = (n: string, d: number): number => (argv.includes(`--${n}`) ? Number(argv[argv.indexOf(`--${n}`) + 1]) : d);
const STEPS = flag('steps', 6);
const DOCS = flag('docs', 4000);
const REPS = flag('reps', 3);
const ONLY = argv.includes('--only') ? (argv[argv.indexOf('--only') + 1] as string).split(',') : ['star', 'encode', 'allreduce'];
const here = import.meta.dirname;
const WORKER = path.join(here, 'dist-worker.ts');
const BIN = path.resolve(here, '../bin/drhard.js');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const cpu = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? os.cpus()[0]?.model ?? '?';

function runOne(args: string[], threads: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', ...args], { env: { ...process.env, DRHARD_NUM_THREADS: String(threads), DRHARD_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')} exited ${code}`))));
  });
}
const last = (s: string): Record<string, unknown> => JSON.parse(s.trim().split('\n').at(-1) as string) as Record<string, unknown>;

const d = await makeDataset({ docs: DOCS, train: 512, dev: 8 });
const model = saveFreshModel(path.join(d.dir, 'model'), 1);
console.log(`CPU: ${cpu}; ${os.availableParallelism()} cores; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} at start (shared machine)`);

// STAR step
if (ONLY.includes('star')) {
  const one = last(await runOne([WORKER, 'star', String(STEPS), d.data, d.negatives], 2));
  const two = await runRanks([WORKER, 'star', String(STEPS), d.data, d.negatives], 2, { env: () => ({ DRHARD_NUM_THREADS: '1' }) });
  for (const r of two) if (r.code !== 0) throw new Error(`rank ${r.rank}: ${r.stderr}`);
  const s1 = median(one['seconds'] as number[]);
  const s2 = median(two.map((r) => last(r.stdout)).map((o) => median(o['seconds'] as number[])));
  console.log(`STAR step (batch 32): 1 process × 2 threads ${s1.toFixed(3)} s, 2 ranks × 1 thread ${s2.toFixed(3)} s → ${(32 / s1).toFixed(1)} vs ${(32 / s2).toFixed(1)} queries/s, ratio (2 ranks / 1 process) ${(s1 / s2).toFixed(2)}×`);
  const c1 = median(one['cpu'] as number[]);
  const c2 = two.map((r) => median(last(r.stdout)['cpu'] as number[])).reduce((a, b) => a + b, 0);
  console.log(`  CPU per step (all threads, all ranks): 1 process ${c1.toFixed(3)} s, 2 ranks ${c2.toFixed(3)} s (${(c2 / c1).toFixed(2)}× the work)`);
}

// Encoding: `seconds` of drhard encode (from the start of the encode to the published file, after model load and
// rendezvous), its CPU time, and the whole run's wall time including process start-up.
if (ONLY.includes('encode')) {
  const enc = (out: string): string[] => [BIN, 'encode', '--model', model, '--data', d.data, '--out', out, '--chunk-rows', '500', '--batch-size', '64', '--no-progress'];
  type Enc = { seconds: number; cpu: number; wall: number };
  const encOne = (out: string, threads: number): Promise<Enc> => {
    const t = performance.now();
    return new Promise((resolve, reject) => {
      const p = spawn(process.execPath, enc(out), { env: { ...process.env, DRHARD_NUM_THREADS: String(threads), DRHARD_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let o = '';
      let e = '';
      p.stdout.on('data', (b: Buffer) => (o += b.toString()));
      p.stderr.on('data', (b: Buffer) => (e += b.toString()));
      p.on('close', (code) => {
        if (code !== 0) return reject(new Error(e));
        const j = last(o);
        resolve({ seconds: j['seconds'] as number, cpu: j['cpuSeconds'] as number, wall: (performance.now() - t) / 1000 });
      });
    });
  };
  const rows: Record<string, Enc[]> = { '1 process × 1 thread': [], '1 process × 2 threads': [], '2 ranks × 1 thread': [], 'control: 2 independent processes × 1 thread, whole corpus each': [] };
  let same = true;
  let ref: Buffer | null = null;
  for (let rep = 0; rep < REPS; rep++) {
    const o = (n: string): string => path.join(d.dir, `${n}-${rep}.f32`);
    const check = (f: string): void => {
      const b = fs.readFileSync(f);
      ref ??= b;
      same &&= ref.equals(b);
    };
    rows['1 process × 1 thread']?.push(await encOne(o('one1'), 1));
    rows['1 process × 2 threads']?.push(await encOne(o('one2'), 2));
    check(o('one2'));
    const t0 = performance.now();
    const e2 = await runRanks(enc(o('two')), 2, { env: () => ({ DRHARD_NUM_THREADS: '1', DRHARD_LOG_LEVEL: 'warn' }) });
    const wall = (performance.now() - t0) / 1000;
    for (const r of e2) if (r.code !== 0) throw new Error(`rank ${r.rank}: ${r.stderr}`);
    const js = e2.map((r) => last(r.stdout));
    rows['2 ranks × 1 thread']?.push({ seconds: Math.max(...js.map((j) => j['seconds'] as number)), cpu: js.reduce((a, j) => a + (j['cpuSeconds'] as number), 0), wall });
    check(o('two'));
    const t1 = performance.now();
    const ind = await Promise.all([encOne(o('ind0'), 1), encOne(o('ind1'), 1)]);
    // Twice the rows in the same run: per corpus, half the time and half the CPU.
    rows['control: 2 independent processes × 1 thread, whole corpus each']?.push({ seconds: Math.max(...ind.map((x) => x.seconds)) / 2, cpu: (ind[0]!.cpu + ind[1]!.cpu) / 2, wall: (performance.now() - t1) / 1000 / 2 });
    for (const f of fs.readdirSync(d.dir)) if (f.endsWith(`-${rep}.f32`) || f.endsWith(`-${rep}.f32.json`)) fs.rmSync(path.join(d.dir, f), { force: true });
}
const base = median(rows['1 process × 2 threads']!.map((x) => x.seconds));
console.log(`encode ${DOCS} passages (≤40 tokens, hidden 32 model), median of ${REPS} (runs interleaved); files identical: ${same}`);
for (const [name, xs] of Object.entries(rows)) {
  const sec = median(xs.map((x) => x.seconds));
  const cpu = median(xs.map((x) => x.cpu));
  console.log(`  ${name}: ${sec.toFixed(2)} s (throughput ${(base / sec).toFixed(2)}× of 1 process × 2 threads), CPU ${cpu.toFixed(2)} s (${((cpu / DOCS) * 1e6).toFixed(0)} µs per passage), ${median(xs.map((x) => x.wall)).toFixed(1)} s wall incl. start-up`);
}
}

// All-reduce of base-size gradients
if (ONLY.includes('allreduce')) {
  const ar = await runRanks([WORKER, 'allreduce', '3'], 2, { env: () => ({ DRHARD_NUM_THREADS: '1' }) });
  for (const r of ar) if (r.code !== 0) throw new Error(`rank ${r.rank}: ${r.stderr}`);
  const a0 = last((ar[0] as { stdout: string }).stdout);
  console.log(`all-reduce (average) of ${(a0['params'] as number / 1e6).toFixed(1)}M float32 gradients, 2 ranks, loopback Gloo, 25 MiB buckets: ${median(a0['seconds'] as number[]).toFixed(3)} s per step (median of 3)`);
}
console.log(`load average at end: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
fs.rmSync(d.dir, { recursive: true, force: true });
