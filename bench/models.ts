// Encoder and training-step speed, drhard vs PyTorch (scripts/fixtures/models_bench.py, same thread count) in one
// run: encode N docs × 128 tokens, and a STAR step (queries len 24 + positive and hard-negative docs len 120,
// pairwise loss, backward, clip, LAMB) for a tiny config and a base-size config. Prints seconds and ratios.
// Usage: node --import tsx bench/models.ts [--quick] [--repeat R] [--only tiny|base]
// Runs alternate between the two processes and the best of R is reported: the machine is shared.
import { PythonReference } from './pyref.ts';
import { recordRatio } from './summary.ts';
import * as path from 'node:path';
import { getNumThreads, manualSeed, noGrad, ones, randint, tensor, tidy, type Tensor } from '../src/tensor/index.ts';
import { configToJson, createConfig, type EncoderConfig } from '../src/models/config.ts';
import { createModel, type DotModel } from '../src/models/dual.ts';
import { Lamb, paramGroups } from '../src/optim/index.ts';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const repeatArg = argv.indexOf('--repeat');
const REPEAT = repeatArg >= 0 ? Number(argv[repeatArg + 1]) : quick ? 3 : 5;
const onlyArg = argv.indexOf('--only');
const ONLY = onlyArg >= 0 ? argv[onlyArg + 1] : undefined;

const TINY = createConfig({ modelType: 'roberta', vocabSize: 8192, hiddenSize: 256, numHiddenLayers: 4, numAttentionHeads: 4, intermediateSize: 1024 });
const BASE = createConfig({ modelType: 'roberta', vocabSize: 50265, hiddenSize: 768, numHiddenLayers: 12, numAttentionHeads: 12, intermediateSize: 3072 });

interface Case {
  name: string;
  kind: 'encode' | 'star';
  config: EncoderConfig;
  docs?: number;
  length?: number;
  batch: number;
  qlen?: number;
  dlen?: number;
  /** Mixed precision: drhard's setMixedPrecision('bfloat16') vs PyTorch bf16 autocast. */
  bf16?: boolean;
}

const cases: Case[] = [];
if (ONLY !== 'base') {
  cases.push({ name: `tiny encode ${quick ? 256 : 1024}x128`, kind: 'encode', config: TINY, docs: quick ? 256 : 1024, length: 128, batch: 128 });
  cases.push({ name: 'tiny STAR step B=32', kind: 'star', config: TINY, batch: 32, qlen: 24, dlen: 120 });
  // This CPU has AMX/AVX512-BF16: bf16 products are ~4x faster, so mixed precision is worth timing here.
  cases.push({ name: `tiny encode ${quick ? 256 : 1024}x128 bf16`, kind: 'encode', config: TINY, docs: quick ? 256 : 1024, length: 128, batch: 128, bf16: true });
  cases.push({ name: 'tiny STAR step B=32 bf16', kind: 'star', config: TINY, batch: 32, qlen: 24, dlen: 120, bf16: true });
}
if (ONLY !== 'tiny') {
  // Base size on a few CPU cores: the batch is 8 (the setting) and the corpus small, to finish in minutes.
  cases.push({ name: `base encode ${quick ? 16 : 64}x128`, kind: 'encode', config: BASE, docs: quick ? 16 : 64, length: 128, batch: 8 });
  cases.push({ name: 'base STAR step B=8', kind: 'star', config: BASE, batch: 8, qlen: 24, dlen: 120 });
}

function starLoss(q: Tensor, d: Tensor, n: Tensor, rel: Tensor, hard: Tensor): Tensor {
  const b = q.size(0);
  const scores = q.matmul(d.t());
  const pos = scores.gather(1, tensor(BigInt64Array.from({ length: b }, (_, i) => BigInt(i)), { shape: [b, 1] }));
  const first = scores.sub(pos).softplus().mul(rel).sum();
  const second = q.matmul(n.t()).sub(pos).softplus().mul(hard).sum();
  return first.add(second).div(rel.sum().add(hard.sum()));
}

function caseFn(c: Case, model: DotModel): () => void {
  const v = model.config.vocabSize;
  if (c.kind === 'encode') {
    model.eval();
    const n = c.docs!;
    const ids = randint(3, v, [n, c.length!]).keep();
    const mask = ones([n, c.length!], { dtype: 'int64' }).keep();
    return () => {
      for (let s = 0; s < n; s += c.batch) {
        tidy(() => {
          noGrad(() => void model.encode(ids.narrow(0, s, Math.min(c.batch, n - s)), mask.narrow(0, s, Math.min(c.batch, n - s))));
        });
      }
    };
  }
  model.train();
  const b = c.batch;
  const opt = new Lamb(paramGroups(model.namedParameters(), { weightDecay: 0.01 }), { lr: 1e-4, eps: 1e-8 });
  const params = model.parameters();
  const qIds = randint(3, v, [b, c.qlen!]).keep();
  const dIds = randint(3, v, [b, c.dlen!]).keep();
  const nIds = randint(3, v, [b, c.dlen!]).keep();
  const qMask = ones([b, c.qlen!], { dtype: 'int64' }).keep();
  const dMask = ones([b, c.dlen!], { dtype: 'int64' }).keep();
  const rel = tensor(Array.from({ length: b }, (_, i) => Array.from({ length: b }, (_, j) => (i === j ? 0 : 1)))).keep();
  const hard = ones([b, b]).keep();
  return () => {
    model.zeroGrad();
    tidy(() => {
      const q = model.encode(qIds, qMask);
      const d = model.encode(dIds, dMask);
      const n = model.encode(nIds, dMask);
      starLoss(q, d, n, rel, hard).backward();
    });
    opt.clipGradNorm(params, 1.0);
    opt.step();
  };
}

/** Wall and CPU seconds (all threads) of one run. CPU time is steadier when other jobs share the cores. */
function timeOnce(run: () => void): [number, number] {
  const t = process.hrtime.bigint();
  const c = process.cpuUsage();
  run();
  const u = process.cpuUsage(c);
  return [Number(process.hrtime.bigint() - t) / 1e9, (u.user + u.system) / 1e6];
}

const threads = getNumThreads();
console.error(`bench/models: ${threads} thread(s); drhard and PyTorch runs alternate; best of ${REPEAT} after a warm-up`);
const ref = new PythonReference(path.join(import.meta.dirname, '..', 'scripts', 'fixtures', 'models_bench.py'), threads);
const rows: Array<[string, number, number, number, number]> = [];
for (const c of cases) {
  manualSeed(0);
  const model = createModel(c.config).setMixedPrecision(c.bf16 ? 'bfloat16' : null);
  const run = caseFn(c, model);
  run();
  await ref.ask(`setup ${JSON.stringify({ ...c, config: configToJson(c.config) })}`);
  const ours: Array<[number, number]> = [];
  const theirs: Array<[number, number]> = [];
  for (let i = 0; i < REPEAT; i++) {
    ours.push(timeOnce(run));
    theirs.push((await ref.ask(`run ${c.name}`)).split(' ').map(Number) as [number, number]);
  }
  // Minimum over runs: the run least disturbed by other load on a shared machine.
  const best = (xs: Array<[number, number]>, k: 0 | 1): number => Math.min(...xs.map((x) => x[k]));
  const fmt = (xs: Array<[number, number]>): string => xs.map(([w, u]) => `${w.toFixed(2)}/${u.toFixed(2)}`).join(' ');
  console.error(`  ${c.name} (wall/cpu s): drhard ${fmt(ours)} | pytorch ${fmt(theirs)}`);
  rows.push([c.name, best(ours, 0), best(theirs, 0), best(ours, 1), best(theirs, 1)]);
  model.dispose();
}
ref.close();

const w = Math.max(...rows.map(([n]) => n.length));
console.log(`${'case'.padEnd(w)}  wall: drhard  pytorch  ratio | cpu: drhard  pytorch  ratio   (target ratio <= 1.05)`);
for (const [n, a, b, ca, cb] of rows) {
  const f = (x: number, width: number): string => x.toFixed(3).padStart(width);
  console.log(`${n.padEnd(w)}  ${f(a, 12)} ${f(b, 8)} ${f(a / b, 6)} | ${f(ca, 11)} ${f(cb, 8)} ${f(ca / cb, 6)}`);
  recordRatio({ case: `${n} wall`, drhard: a, reference: b, unit: 's', target: '<= 1.05' });
}
