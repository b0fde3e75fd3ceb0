// Optimizer-phase speed at STAR base size (the phase bench/train.ts times inside a whole step): clip + LAMB/AdamW
// step + schedule + zero-grad over the base model's parameters, drhard fused vs drhard op-by-op vs PyTorch
// (bench/optim_ref.py), steps interleaved in one run on the same thread count; fresh random gradients each step,
// generated outside the timing. Prints medians/minima of wall and CPU seconds and ratios to PyTorch.
// Usage: node --import tsx bench/optim.ts [--only lamb|adamw] [--steps N] [--warmup W] [--config base|tiny]
import * as os from 'node:os';
import * as path from 'node:path';
import { PythonReference } from './pyref.ts';
import { getNumThreads, manualSeed, noGrad, randn } from '../src/tensor/index.ts';
import { createConfig } from '../src/models/config.ts';
import { createModel } from '../src/models/dual.ts';
import { AdamW, Lamb, LinearSchedule, paramGroups, type AdamLike } from '../src/optim/index.ts';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const STEPS = Number(flag('steps') ?? 5);
const WARMUP = Number(flag('warmup') ?? 2);
const KINDS = (flag('only') ?? 'lamb,adamw').split(',') as Array<'lamb' | 'adamw'>;
const SIZE = flag('config') ?? 'base';
const config = createConfig(
  SIZE === 'tiny'
    ? { modelType: 'roberta', vocabSize: 8192, hiddenSize: 256, numHiddenLayers: 4, numAttentionHeads: 4, intermediateSize: 1024 }
    : { modelType: 'roberta', vocabSize: 8192, hiddenSize: 768, numHiddenLayers: 12, numAttentionHeads: 12, intermediateSize: 3072 },
);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const threads = getNumThreads();
const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
console.error(`bench/optim: ${SIZE} size, ${threads} thread(s), ${cpuModel}, load avg ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
const ref = new PythonReference(path.join(import.meta.dirname, 'optim_ref.py'), threads);
const rows: string[] = [];
for (const kind of KINDS) {
  manualSeed(0);
  const model = createModel(config).train();
  const named = model.namedParameters();
  const params = named.map(([, p]) => p);
  const numel = params.reduce((a, p) => a + p.numel, 0);
  const make = (fused: boolean): { opt: AdamLike; sched: LinearSchedule } => {
    const groups = paramGroups(named, { weightDecay: 0.01 });
    const opt = kind === 'lamb' ? new Lamb(groups, { lr: 1e-4, eps: 1e-8, fused }) : new AdamW(groups, { lr: 5e-6, eps: 1e-8, fused });
    return { opt, sched: new LinearSchedule(opt, { warmupSteps: 1000, totalSteps: 100_000 }) };
  };
  const sides = { fused: make(true), ops: make(false) };
  const ack = await ref.ask(`setup ${JSON.stringify({ kind, shapes: named.map(([n, p]) => [n, p.shape]) })}`);
  if (ack !== 'ok') throw new Error(`reference setup failed: ${ack}`);
  const time = (side: 'fused' | 'ops'): { optim: number; cpu: number } => {
    noGrad(() => params.forEach((p) => p.setGrad(randn(p.shape))));
    const { opt, sched } = sides[side];
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    opt.clipGradNorm(params, 1.0);
    opt.step();
    sched.step();
    model.zeroGrad();
    const t = (performance.now() - t0) / 1000;
    const cu = process.cpuUsage(c0);
    return { optim: t, cpu: (cu.user + cu.system) / 1e6 };
  };
  const res = { fused: [] as Array<{ optim: number; cpu: number }>, ops: [] as Array<{ optim: number; cpu: number }>, torch: [] as Array<{ optim: number; cpu: number }> };
  for (let i = 0; i < WARMUP + STEPS; i++) {
    const f = time('fused');
    const o = time('ops');
    const t = JSON.parse(await ref.ask('step')) as { optim: number; cpu: number };
    if (i >= WARMUP) {
      res.fused.push(f);
      res.ops.push(o);
      res.torch.push(t);
    }
    console.error(`  ${kind} step ${i + 1}/${WARMUP + STEPS}${i < WARMUP ? ' (warm-up)' : ''}: fused ${f.optim.toFixed(3)} s, op-by-op ${o.optim.toFixed(3)} s, pytorch ${t.optim.toFixed(3)} s`);
  }
  const tm = median(res.torch.map((r) => r.optim));
  const tc = median(res.torch.map((r) => r.cpu));
  for (const side of ['fused', 'ops', 'torch'] as const) {
    const w = res[side].map((r) => r.optim);
    const c = res[side].map((r) => r.cpu);
    rows.push(
      `${kind.padEnd(6)} ${(side === 'ops' ? 'drhard op-by-op' : side === 'fused' ? 'drhard fused' : 'pytorch').padEnd(16)} ${median(w).toFixed(3).padStart(8)} / ${Math.min(...w).toFixed(3).padEnd(8)} ${median(c).toFixed(3).padStart(8)}   ${(median(w) / tm).toFixed(3).padStart(6)}   ${(median(c) / tc).toFixed(3).padStart(6)}`,
    );
  }
  console.error(`  ${kind}: ${(numel / 1e6).toFixed(1)}M parameters in ${params.length} tensors`);
  sides.fused.opt.dispose();
  sides.ops.opt.dispose();
  model.dispose();
}
ref.close();
console.log(`optimizer phase, ${SIZE} size, ${threads} thread(s), ${cpuModel}, load avg at end ${os.loadavg()[0]!.toFixed(2)}`);
console.log('kind   side             wall s (median/min)  cpu s   wall/pytorch  cpu/pytorch  (target <= 0.8)');
for (const r of rows) console.log(r);
