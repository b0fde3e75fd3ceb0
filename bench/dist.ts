// Data-parallel throughput on this machine: 2 ranks × 1 thread (loopback Gloo, drhard launch's environment) against
// 1 process × 2 threads, for a STAR step (hidden 256, 4 layers, batch 32 = 2 × 16, listwise, AdamW) and for corpus
// encoding (drhard encode, sharded by parts); and the all-reduce time per step of a base-size model's gradients.
// There is no PyTorch side: the comparison is drhard with itself. Prints medians and the ratio (2 ranks / 1 process).
// Usage: node --import tsx bench/dist.ts [--steps N] [--docs N]
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeDataset, saveFreshModel } from '../test/train/helpers.ts';
import { runRanks } from '../test/helpers/dist.ts';

const argv = process.argv.slice(2);
const flag = (n: string, d: number): number => (argv.includes(`--${n}`) ? Number(argv[argv.indexOf(`--${n}`) + 1]) : d);
const STEPS = flag('steps', 6);
const DOCS = flag('docs', 4000);
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
const one = last(await runOne([WORKER, 'star', String(STEPS), d.data, d.negatives], 2));
const two = await runRanks([WORKER, 'star', String(STEPS), d.data, d.negatives], 2, { env: () => ({ DRHARD_NUM_THREADS: '1' }) });
for (const r of two) if (r.code !== 0) throw new Error(`rank ${r.rank}: ${r.stderr}`);
const s1 = median(one['seconds'] as number[]);
const s2 = median(two.map((r) => last(r.stdout)).map((o) => median(o['seconds'] as number[])));
console.log(`STAR step (batch 32): 1 process × 2 threads ${s1.toFixed(3)} s, 2 ranks × 1 thread ${s2.toFixed(3)} s → ${(32 / s1).toFixed(1)} vs ${(32 / s2).toFixed(1)} queries/s, ratio (2 ranks / 1 process) ${(s1 / s2).toFixed(2)}×`);

// Encoding
const out1 = path.join(d.dir, 'one.f32');
const out2 = path.join(d.dir, 'two.f32');
const enc = (out: string): string[] => [BIN, 'encode', '--model', model, '--data', d.data, '--out', out, '--chunk-rows', '500', '--batch-size', '64', '--no-progress'];
const e1 = spawnSync(process.execPath, enc(out1), { encoding: 'utf8', env: { ...process.env, DRHARD_NUM_THREADS: '2' } });
if (e1.status !== 0) throw new Error(e1.stderr);
const t0 = performance.now();
const e2 = await runRanks(enc(out2), 2, { env: () => ({ DRHARD_NUM_THREADS: '1' }) });
const wall2 = (performance.now() - t0) / 1000;
for (const r of e2) if (r.code !== 0) throw new Error(`rank ${r.rank}: ${r.stderr}`);
const sec1 = last(e1.stdout)['seconds'] as number;
const sec2 = Math.max(...e2.map((r) => last(r.stdout)['seconds'] as number));
const same = fs.readFileSync(out1).equals(fs.readFileSync(out2));
console.log(`encode ${DOCS} passages (≤40 tokens, hidden 32 model): 1 process × 2 threads ${sec1.toFixed(2)} s, 2 ranks × 1 thread ${sec2.toFixed(2)} s (slowest rank; ${wall2.toFixed(1)} s wall incl. start-up) → ratio ${(sec1 / sec2).toFixed(2)}×; files identical: ${same}`);

// All-reduce of base-size gradients
const ar = await runRanks([WORKER, 'allreduce', '3'], 2, { env: () => ({ DRHARD_NUM_THREADS: '1' }) });
for (const r of ar) if (r.code !== 0) throw new Error(`rank ${r.rank}: ${r.stderr}`);
const a0 = last((ar[0] as { stdout: string }).stdout);
console.log(`all-reduce (average) of ${(a0['params'] as number / 1e6).toFixed(1)}M float32 gradients, 2 ranks, loopback Gloo, 25 MiB buckets: ${median(a0['seconds'] as number[]).toFixed(3)} s per step (median of 3)`);
console.log(`load average at end: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
fs.rmSync(d.dir, { recursive: true, force: true });
