// One rank (or the single process) of bench/dist.ts: STAR steps via trainDualEncoder's pieces is too coupled to a
// dataset on disk, so this times what a rank does per step: samplePairBatch → pairStep (local slice) → bucketed
// gradient all-reduce → AdamW; and the all-reduce alone for a base-size model's gradients. Prints one JSON line.
// Usage: node --import tsx bench/dist-worker.ts star|allreduce <steps>
import { manualSeed, getNumThreads } from '../src/tensor/index.ts';
import { createConfig } from '../src/models/config.ts';
import { createModel } from '../src/models/dual.ts';
import { AdamW, paramGroups } from '../src/optim/index.ts';
import { ProcessGroup } from '../src/dist/group.ts';
import { averageGradients, sliceBatch, sliceRange } from '../src/dist/ddp.ts';
import { openDataset } from '../src/data/dataset.ts';
import { loadTrainData } from '../src/train/data.ts';
import { pairStep, samplePairBatch } from '../src/train/star.ts';
import { Rng } from '../src/util/rng.ts';

const [what, stepsArg, dataDir, negatives] = process.argv.slice(2) as [string, string, string?, string?];
const steps = Number(stepsArg);
const pg = ProcessGroup.fromEnv({ timeoutMs: 600_000 });
const rank = pg?.rank ?? 0;
const world = pg?.world ?? 1;
manualSeed(1);

if (what === 'allreduce') {
  // hidden 768, 12 layers, vocab 8192 (bench/train.ts's base): ~92M parameters, 367 MB of float32 gradients.
  const model = createModel(createConfig({ modelType: 'roberta', vocabSize: 8192, hiddenSize: 768, numHiddenLayers: 12, numAttentionHeads: 12, intermediateSize: 3072 }), { seed: 1 });
  const params = model.parameters();
  for (const p of params) p.setGrad(p.detach().clone());
  const times: number[] = [];
  for (let i = 0; i < steps + 1; i++) {
    pg?.barrier();
    const t0 = performance.now();
    if (pg) averageGradients(pg, params);
    if (i > 0) times.push((performance.now() - t0) / 1000);
  }
  const numel = params.reduce((a, p) => a + p.numel, 0);
  process.stdout.write(`${JSON.stringify({ what, rank, world, params: numel, seconds: times })}\n`);
} else {
  if (dataDir === undefined || negatives === undefined) throw new Error('star needs <data> <negatives>');
  const data = loadTrainData({ data: dataDir, split: 'train', minRel: 1, negatives });
  const model = createModel(createConfig({ modelType: 'roberta', vocabSize: 561, hiddenSize: 256, numHiddenLayers: 4, numAttentionHeads: 4, intermediateSize: 1024, maxPositionEmbeddings: 48 }), { seed: 1 });
  model.train();
  const opt = new AdamW(paramGroups(model.namedParameters(), { weightDecay: 0.01 }), { lr: 1e-4 });
  const rng = new Rng(7);
  const B = 32;
  const times: number[] = [];
  const cpu: number[] = [];
  for (let s = 0; s < steps + 1; s++) {
    const qs = Array.from({ length: B }, (_, i) => data.queryRows[(s * B + i) % data.queryRows.length] as number);
    pg?.barrier();
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const batch = samplePairBatch(data, qs, rng, { method: 'star', hardNum: 1, randNum: 0 });
    const local = sliceBatch(batch, ...sliceRange(B, rank, world));
    pairStep(model, data, local, { method: 'star', loss: 'listwise', temperature: 1, maxQueryLength: 16, maxDocLength: 40, padToMax: true, device: 'cpu', gradCacheChunk: 0 });
    if (pg) averageGradients(pg, model.parameters());
    opt.step();
    model.zeroGrad();
    if (s > 0) {
      times.push((performance.now() - t0) / 1000);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1e6);
    }
  }
  process.stdout.write(`${JSON.stringify({ what, rank, world, threads: getNumThreads(), batch: B, seconds: times, cpu })}\n`);
  data.dataset.close();
  void openDataset;
}
pg?.destroy();
