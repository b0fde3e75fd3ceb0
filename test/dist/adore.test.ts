// Distributed ADORE on 2 loopback Gloo ranks: each rank holds half of the document embeddings, searches it for the
// whole gathered batch, and the merged lists are one process's. Checked: the retrieval of one batch (ids, scores, doc
// vectors; ties straddling the shard boundary; uneven query slices), then 2 ranks × a batch of 7 (slices of 3 and 4)
// against 1 process × 7 for 5 steps: the retrieved ids of every step identical, final parameters within 1e-5 (dropout
// off). The loss is the batch mean Σ_q loss_q / B: each rank backpropagates Σ_{its q} loss_q · W/B, so the averaged
// gradient is the one-process gradient whatever the slice sizes (per-rank means would weigh 3 and 4 queries alike).
// Through the CLI: dev evaluation runs once (rank 0 logs and writes it), and resuming a 2-rank checkpoint with
// dropout on ends bit-identical to the uninterrupted run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createModel } from '../../src/models/dual.ts';
import { readStateDict, saveModel } from '../../src/models/checkpoint.ts';
import { makeDataset, tmpDir, type SyntheticData } from '../train/helpers.ts';
import { openDataset } from '../../src/data/dataset.ts';
import { openShardedAdoreIndex } from '../../src/dist/adore.ts';
import { lastJson, runRanks, type RankResult } from '../helpers/dist.ts';
import { seededRng } from '../helpers/seed.ts';

const BIN = path.resolve(import.meta.dirname, '../../bin/drhard.js');
const worker = path.join(import.meta.dirname, 'adore-worker.ts');
const env = { ...process.env, DRHARD_NUM_THREADS: '1', DRHARD_LOG_LEVEL: 'warn' };
let d: SyntheticData;
let init: string;
let initDropout: string;
let emb: string;
const dirs: string[] = [];

function tinyModel(dir: string, dropout: number): string {
  const m = createModel(
    { modelType: 'roberta', vocabSize: 561, hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 64, maxPositionEmbeddings: 48, hiddenDropoutProb: dropout, attentionProbsDropoutProb: dropout },
    { seed: 3 },
  );
  saveModel(m, dir);
  m.dispose();
  return dir;
}

function maxDiff(a: string, b: string): { max: number; key: string } {
  const sa = readStateDict(path.join(a, 'model.safetensors'));
  const sb = readStateDict(path.join(b, 'model.safetensors'));
  assert.deepEqual([...sa.keys()].sort(), [...sb.keys()].sort());
  let max = 0;
  let key = '';
  for (const [k, t] of sa) {
    const x = t.toFloat32Array();
    const y = (sb.get(k) as typeof t).toFloat32Array();
    for (let i = 0; i < x.length; i++) {
      const e = Math.abs((x[i] as number) - (y[i] as number));
      if (e > max || Number.isNaN(e)) [max, key] = [Number.isNaN(e) ? Infinity : e, k];
    }
  }
  return { max, key };
}

function ok(res: RankResult[]): void {
  for (const r of res) assert.equal(r.code, 0, `rank ${r.rank}: ${r.stderr}`);
}

before(async () => {
  d = await makeDataset();
  init = tinyModel(path.join(d.dir, 'init'), 0);
  initDropout = tinyModel(path.join(d.dir, 'init-dropout'), 0.1);
  // Random document vectors rather than the random model's own (whose embeddings of different texts nearly
  // coincide): slices of a batch encode to within an ulp of the whole batch (the GEMMs' shapes differ), and with
  // near-coincident scores such differences alone would reorder the lists. Here the scores are well apart.
  const { rng } = seededRng(1603);
  const count = openDataset(d.data);
  const N = count.corpus.count;
  count.close();
  emb = path.join(d.dir, 'docs.f32');
  fs.writeFileSync(emb, new Float32Array(N * 32).map(() => rng.float() * 2 - 1));
  dirs.push(d.dir);
});
after(() => {
  for (const x of dirs) fs.rmSync(x, { recursive: true, force: true });
});

test('distributed ADORE refuses an approximate index (one structure over every row), naming the option', () => {
  const pg = { rank: 0, world: 2 } as unknown as Parameters<typeof openShardedAdoreIndex>[1];
  assert.throws(() => openShardedAdoreIndex(emb, pg, { dim: 32, count: 200, index: 'HNSW32' }), /index: distributed ADORE searches the sharded embeddings exactly \(--index Flat\); HNSW32/);
});

test('sharded ADORE retrieval of a batch equals one process (ids, scores, doc vectors; ties across the boundary)', async () => {
  const { rng, tag } = seededRng(1602);
  const [N, D, B, k] = [301, 16, 7, 25];
  const docs = new Float32Array(N * D).map(() => rng.float() * 2 - 1);
  // Rows 150 (rank 1's first) and 151 copy rows 3 and 149 (rank 0's): equal scores on both sides of the boundary.
  docs.copyWithin(150 * D, 3 * D, 4 * D);
  docs.copyWithin(151 * D, 149 * D, 150 * D);
  const queries = new Float32Array(B * D).map(() => rng.float() * 2 - 1);
  // Query 0 sits in rank 0's slice (rows 0-2), query 5 in rank 1's (rows 3-6): each ties a duplicated pair first.
  queries.set(docs.subarray(3 * D, 4 * D), 0);
  queries.set(docs.subarray(149 * D, 150 * D), 5 * D);
  const dir = tmpDir('drhard-dist-adore-');
  dirs.push(dir);
  const file = path.join(dir, 'docs.f32');
  const qfile = path.join(dir, 'q.f32');
  fs.writeFileSync(file, docs);
  fs.writeFileSync(qfile, queries);
  const argv = [worker, 'retrieval', file, qfile, String(D), String(k)];
  const one = spawnSync(process.execPath, ['--import', 'tsx', ...argv], { encoding: 'utf8', env, timeout: 120_000 });
  assert.equal(one.status, 0, one.stderr);
  const want = JSON.parse(one.stdout.trim().split('\n').at(-1) as string) as { ids: number[]; scores: number[]; vectors: number[] };
  assert.deepEqual([want.ids[0], want.ids[1]], [3, 150], `${tag}: tie between rows 3 and 150 goes to 3 first`);
  assert.deepEqual([want.ids[5 * k], want.ids[5 * k + 1]], [149, 151], tag);
  const res = await runRanks(argv, 2);
  ok(res);
  const slices: number[][] = [];
  for (const r of res) {
    const got = lastJson<{ slice: number[]; ids: number[]; scores: number[]; vectors: number[] }>(r);
    slices.push(got.slice);
    assert.deepEqual(got.ids, want.ids, `rank ${r.rank} ids, ${tag}`);
    assert.deepEqual(got.scores, want.scores, `rank ${r.rank} scores, ${tag}`);
    assert.deepEqual(got.vectors, want.vectors, `rank ${r.rank} doc vectors, ${tag}`);
  }
  assert.deepEqual(slices, [[0, 3], [3, 7]]);
});

function adoreOptions(out: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    method: 'adore', data: d.data, init, docEmbeddings: emb, outDir: out, batchSize: 7, maxSteps: 5, warmupSteps: 1, lr: 1e-3,
    negTopk: 30, metricCut: 20, logEvery: 1, saveEvery: 0, maxQueryLength: 12, padFirstBatches: 2, progress: false, threads: 1, ...extra,
  };
}

interface StepLine {
  step: number;
  queries: number[];
  k: number;
  ids: number[];
}

function stepLines(stdout: string): StepLine[] {
  return stdout.split('\n').filter((l) => l.startsWith('{"step"')).map((l) => JSON.parse(l) as StepLine);
}

/** Trains with `extra` options in 1 process and on 2 ranks; checks every step's retrieval; returns both runs. */
async function oneVsTwo(extra: Record<string, unknown>, steps: number): Promise<{ one: string; two: string; r: { stdout: string }; res: RankResult[] }> {
  const [one, two] = [tmpDir(), tmpDir()];
  dirs.push(one, two);
  const f1 = path.join(one, '..', `${path.basename(one)}.json`);
  const f2 = path.join(two, '..', `${path.basename(two)}.json`);
  fs.writeFileSync(f1, JSON.stringify(adoreOptions(one, extra)));
  fs.writeFileSync(f2, JSON.stringify(adoreOptions(two, extra)));
  dirs.push(f1, f2);
  const r = spawnSync(process.execPath, ['--import', 'tsx', worker, 'train', f1], { encoding: 'utf8', env, timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  const want = stepLines(r.stdout);
  assert.equal(want.length, steps);
  const res = await runRanks([worker, 'train', f2], 2, { killAfterMs: 300_000 });
  ok(res);
  for (const x of res) {
    const got = stepLines(x.stdout);
    assert.equal(got.length, want.length, `rank ${x.rank}: steps`);
    for (const [i, w] of want.entries()) {
      assert.deepEqual(got[i]?.queries, w.queries, `rank ${x.rank} step ${w.step}: batch`);
      assert.deepEqual(got[i]?.ids, w.ids, `rank ${x.rank} step ${w.step}: retrieved ids`);
    }
  }
  return { one, two, r, res };
}

test('ADORE, 2 ranks × slices of a batch of 7 = 1 process × 7: the same retrieval at every step, parameters within 1e-5', async (t) => {
  const { one, two, r, res } = await oneVsTwo({}, 5);
  // The model moves: later steps retrieve differently for the same query (so the comparison sees the updates).
  const a = maxDiff(path.join(two, 'model'), path.join(one, 'model'));
  const moved = maxDiff(path.join(one, 'model'), init);
  t.diagnostic(`max |Δ| 2 ranks vs 1 process after 5 steps: ${a.max} (${a.key}); moved from init by ${moved.max}`);
  assert.ok(moved.max > 1e-4, 'training changed the parameters');
  assert.ok(a.max <= 1e-5, `2 ranks vs 1 process: max |Δ| ${a.max} at ${a.key}`);
  // Logged train metrics are the whole batch's on rank 0, as in one process.
  const h1 = lastJson<{ history: Array<Record<string, number>> }>({ ...res[0], stdout: r.stdout } as RankResult).history;
  const h2 = lastJson<{ history: Array<Record<string, number>> }>(res[0] as RankResult).history;
  for (const [i, x] of h1.entries()) {
    assert.equal(h2[i]?.['mrr10'], x['mrr10'], `step ${x['step']}: mrr10`);
    assert.ok(Math.abs((h2[i]?.['loss'] as number) - (x['loss'] as number)) <= 1e-5 * Math.max(1, Math.abs(x['loss'] as number)), `step ${x['step']}: loss ${h2[i]?.['loss']} vs ${x['loss']}`);
  }
});

test('drhard launch-style ADORE: dev evaluation once on rank 0 (same metrics as one process); resume bit-exact with dropout on', async () => {
  const [one, two] = [tmpDir(), tmpDir()];
  dirs.push(one, two);
  const flags = (out: string, model: string, extra: string[] = []): string[] => [
    BIN, 'train', '--method', 'adore', '--data', d.data, '--init', model, '--doc-embeddings', emb, '--out-dir', out,
    '--batch-size', '8', '--max-steps', '4', '--warmup-steps', '1', '--lr', '1e-3', '--neg-topk', '30', '--metric-cut', '20',
    '--log-every', '1', '--eval-every', '2', '--eval-queries', '0', '--save-every', '2', '--keep-last', '0', '--max-query-length', '12',
    '--no-progress', '--threads', '1', ...extra,
  ];
  const infoEnv = { DRHARD_LOG_LEVEL: 'info', DRHARD_LOG_FORMAT: 'json' };
  const r = spawnSync(process.execPath, flags(one, init), { encoding: 'utf8', env: { ...env, ...infoEnv }, timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  const res = await runRanks(flags(two, init), 2, { env: () => infoEnv, killAfterMs: 300_000 });
  ok(res);
  const devLogs = res.map((x) => x.stderr.split('\n').filter((l) => l.includes('"dev evaluation"')).length);
  assert.deepEqual(devLogs, [2, 0], 'dev evaluation logged by rank 0 only, at steps 2 and 4');
  const dev = (dir: string): Array<Record<string, number>> =>
    fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"dev/')).map((l) => JSON.parse(l) as Record<string, number>);
  assert.deepEqual(dev(two).map((x) => x['step']), [2, 4], 'one dev line per evaluation in metrics.jsonl');
  assert.deepEqual(dev(two), dev(one), 'sharded dev search: the metrics of one process');

  // Dropout on: 2 ranks for 4 steps; then a copy resumed from its step-2 checkpoint must end bit-identical.
  const [full, resumed] = [tmpDir(), tmpDir()];
  dirs.push(full, resumed);
  const fr = await runRanks(flags(full, initDropout, ['--eval-every', '0']), 2, { killAfterMs: 300_000 });
  ok(fr);
  fs.rmSync(resumed, { recursive: true, force: true });
  fs.cpSync(full, resumed, { recursive: true });
  fs.rmSync(path.join(resumed, 'model'), { recursive: true, force: true });
  const cks = fs.readdirSync(path.join(resumed, 'checkpoints')).filter((n) => !n.startsWith('.')).sort();
  assert.ok(cks.length >= 2, `checkpoints: ${cks.join(', ')}`);
  const rr = await runRanks(flags(resumed, initDropout, ['--eval-every', '0', '--resume', path.join(resumed, 'checkpoints', cks[0] as string)]), 2, { killAfterMs: 300_000 });
  ok(rr);
  const m = maxDiff(path.join(full, 'model'), path.join(resumed, 'model'));
  assert.equal(m.max, 0, `resumed vs uninterrupted: max |Δ| ${m.max} at ${m.key}`);
  // Dropout makes the ranks' steps differ from a dropout-free run: the resume really replayed the generators.
  const plain = maxDiff(path.join(full, 'model'), path.join(two, 'model'));
  assert.ok(plain.max > 0, 'dropout changed the run');
});

test('ADORE with a batch of 1 on 2 ranks (rank 0\'s slice is empty: it only joins the search) = 1 process', async (t) => {
  const { one, two } = await oneVsTwo({ batchSize: 1, maxSteps: 3 }, 3);
  const a = maxDiff(path.join(two, 'model'), path.join(one, 'model'));
  t.diagnostic(`max |Δ| after 3 steps of one query: ${a.max} (${a.key})`);
  assert.ok(maxDiff(path.join(one, 'model'), init).max > 1e-4, 'training changed the parameters');
  assert.ok(a.max <= 1e-5, `2 ranks vs 1 process: max |Δ| ${a.max} at ${a.key}`);
});
