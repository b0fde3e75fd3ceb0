// trainDualEncoder: the library entry behind `drhard train` (STAR-style methods and ADORE), resumable and observable.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { manualSeed, setNumThreads, tidy, type Tensor } from '../tensor/index.ts';
import { createModel, type DotModel } from '../models/dual.ts';
import { loadModel, saveModel } from '../models/checkpoint.ts';
import { createConfig, parseConfig, readConfig, SCRATCH_KEY, type ConfigInit, type EncoderConfig } from '../models/config.ts';
import { AdamW, Lamb, LinearSchedule, paramGroups, type AdamLike } from '../optim/index.ts';
import { CheckpointManager, type Checkpoint, type CheckpointManagerOptions } from '../util/checkpoint.ts';
import { DrhardInputError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/fsx.ts';
import { lockOutputDir } from '../util/lock.ts';
import { canonicalJson, sha256FileSync } from '../util/hash.ts';
import { MANIFEST_FILE } from '../data/dataset.ts';
import { log as rootLog, type Logger } from '../util/log.ts';
import { Rng } from '../util/rng.ts';
import { SummaryWriter } from './tensorboard.ts';
import { ADORE_CONFIG_KEY, adoreStep, openAdoreIndex, type AdoreIndex, type AdoreRetrieval, type DocEmbeddingsIdentity } from './adore.ts';
import { loadTrainData, type TrainData } from './data.ts';
import { DevEvaluator } from './deveval.ts';
import { diffOptions, resolveTrainOptions, type TrainOptions, type TrainOptionsInput } from './options.ts';
import { defaultTemperature } from '../losses/listwise.ts';
import { contrastiveLoss, drawCropViews, drawMasks, loadCorpusData, maskVocab, maskedLoss, mlmBatchLoss, sliceMasked, viewsContrastiveLoss, type MaskVocab } from './pretrain.ts';
import { checkNegatives, pairStep, samplePairBatch, type PairMethod } from './star.ts';
import {
  emptyWindow,
  loadCheckpointModel,
  loadCheckpointOptimizer,
  readTrainState,
  restoreTorchRng,
  type MetricsRecord,
  type TrainerState,
  type TrainStateFile,
} from './state.ts';
import { runTrainLoop, type MethodRunner, type StopRequest, type TrainHooks } from './trainer.ts';
import { checkBatchSlices, checkWorldSize, gatherWithGrad, meanOverRanks, sliceBatch, sliceRange, type DistTrainContext } from '../dist/ddp.ts';
import { openShardedAdoreIndex, type ShardedAdoreIndex } from '../dist/adore.ts';
import type { CollectiveSearch } from '../dist/deveval.ts';

export { resolveTrainOptions, trainOptionsSchema, METHODS, METHOD_DEFAULTS, type Method, type TrainOptions, type TrainOptionsInput } from './options.ts';
export { NonFiniteError, type TrainHooks, type StopRequest, type MethodRunner } from './trainer.ts';
export { checkAdorePairing, ADORE_CONFIG_KEY } from './adore.ts';
export type { MetricsRecord } from './state.ts';

/** Files under the output directory. */
export const OUT_FILES = { checkpoints: 'checkpoints', model: 'model', metrics: 'metrics.jsonl', config: 'train-config.json', log: 'log' } as const;

export interface TrainRuntime {
  /** Graceful stop (the CLI passes a StopSignal): finish the step, checkpoint, return with `stopped` set. */
  stop?: StopRequest;
  hooks?: TrainHooks;
  /** Observation points inside checkpoint saves (tests pause here and SIGKILL the process). */
  checkpointHooks?: CheckpointManagerOptions['hooks'];
  logger?: Logger;
  /** Data-parallel training over a process group (src/dist/ddp.ts); rank 0 writes every file. */
  dist?: DistTrainContext;
}

export interface TrainResult {
  /** The final model directory (HF layout), or null when the run was stopped early (resume it to finish). */
  modelDir: string | null;
  /** The last checkpoint written or resumed from. */
  checkpointDir: string | null;
  step: number;
  totalSteps: number;
  /** Every metrics line of the run, resumed parts included (also in metrics.jsonl). */
  history: MetricsRecord[];
  /** The signal that stopped the run, or null if it finished. */
  stopped: NodeJS.Signals | null;
  /** 130 / 143 after a signal, else 0. */
  exitCode: number;
  nonfiniteSkipped: number;
  options: TrainOptions;
}

/** The options as stored in checkpoints and train-config.json (JSON-safe). */
function storedOptions(o: TrainOptions): Record<string, unknown> {
  return JSON.parse(JSON.stringify(o)) as Record<string, unknown>;
}

function initConfig(spec: string | Record<string, unknown>): EncoderConfig {
  if (typeof spec !== 'string') return 'modelType' in spec ? createConfig(spec as unknown as ConfigInit) : freshConfig(spec, '--init-config');
  if (spec.trimStart().startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(spec);
    } catch (e) {
      throw new DrhardInputError(`not valid JSON (${(e as Error).message})`, { field: 'initConfig' });
    }
    return freshConfig(json, '--init-config');
  }
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(spec, 'utf8'));
  } catch {
    return readConfig(spec); // its error names the file
  }
  return freshConfig(json, spec);
}

/**
 * An HF config for a model trained from random weights. Pooling defaults to the masked mean here, not HF/DRhard's
 * first token: from random weights first-token pooling collapsed (loss at ln 2, dev MRR@10 0.001, measured).
 */
function freshConfig(json: unknown, file: string): EncoderConfig {
  const obj = json !== null && typeof json === 'object' && !Array.isArray(json) && !('pooling' in json) ? { ...json, pooling: 'mean' } : json;
  return parseConfig(obj, file);
}

/** Only MLM pretraining trains the tied MLM head; every other method drops it from --init. */
function withMlmHead(o: TrainOptions): boolean {
  return o.method === 'pretrain' && o.objective !== 'contrastive';
}

function isMlmHeadKey(k: string): boolean {
  return k.startsWith('lm_head.') || k.startsWith('cls.predictions.');
}

/** The model without its MLM head (a copy): what `train --init` starts from after pretraining. */
function withoutMlmHead(model: DotModel): DotModel {
  const plain = createModel({ ...model.config, mlmHead: false });
  plain.loadStateDict(new Map([...model.stateDict()].filter(([k]) => !isMlmHeadKey(k))));
  return plain;
}

/** A fresh or loaded model (before any checkpoint restore), on the run's device. */
function initialModel(o: TrainOptions, logger: Logger): DotModel {
  // --init names a model directory, or a config.json file for a fresh model (as --init-config does).
  const fresh = o.initConfig ?? (o.init !== undefined && fs.statSync(o.init, { throwIfNoEntry: false })?.isFile() === true ? o.init : undefined);
  if (fresh !== undefined) {
    const c = initConfig(fresh);
    const model = createModel({ ...c, mlmHead: withMlmHead(o), extra: { ...c.extra, [SCRATCH_KEY]: true } }, { seed: o.seed });
    logger.info({ parameters: model.numParameters() }, 'initialized a fresh model');
    return o.device === 'cpu' ? model : model.to(o.device);
  }
  const { model, report } = loadModel(o.init as string, { strict: false, device: o.device, mlmHead: withMlmHead(o) });
  if (!withMlmHead(o)) report.unexpected = report.unexpected.filter((k) => !isMlmHeadKey(k));
  if (report.missing.length > 0) logger.warn({ missing: report.missing }, 'parameters missing from --init keep their fresh initialization');
  if (report.unexpected.length > 0) logger.warn({ unexpected: report.unexpected }, 'ignored checkpoint keys');
  return model;
}

function makeOptimizer(o: TrainOptions, model: DotModel): AdamLike {
  const groups = paramGroups(model.namedParameters(), { weightDecay: o.weightDecay });
  return o.optimizer === 'lamb' ? new Lamb(groups, { lr: o.lr, eps: o.adamEps }) : new AdamW(groups, { lr: o.lr, eps: o.adamEps });
}

/** drhard-owned entries of an output directory (what --overwrite may replace). */
function ownedEntries(o: TrainOptions): string[] {
  const own: string[] = [OUT_FILES.checkpoints, OUT_FILES.model, OUT_FILES.metrics, OUT_FILES.config];
  if (o.logDir === undefined) own.push(OUT_FILES.log);
  return own;
}

/**
 * Finds the checkpoint to resume from (null: start fresh) and refuses a fresh start over an existing run. Returns
 * what --overwrite will remove, which happens only once every input has been checked.
 */
async function pickStart(o: TrainOptions, mgr: CheckpointManager, logger: Logger): Promise<{ checkpoint: Checkpoint | null; clear: string[] }> {
  if (o.resume === false) {
    const existing = fs.existsSync(o.outDir) ? fs.readdirSync(o.outDir).filter((n) => !n.startsWith('.')) : [];
    if (existing.length === 0) return { checkpoint: null, clear: [] };
    if (!o.overwrite) {
      throw new DrhardInputError(`output directory is not empty (${existing.slice(0, 5).join(', ')}); pass --resume to continue or --overwrite to start over`, {
        file: o.outDir,
      });
    }
    const owned = new Set(ownedEntries(o));
    const foreign = existing.filter((n) => !owned.has(n));
    if (foreign.length > 0) throw new DrhardInputError(`--overwrite only replaces drhard's files, and found others: ${foreign.join(', ')}`, { file: o.outDir });
    return { checkpoint: null, clear: existing.map((n) => path.join(o.outDir, n)) };
  }
  if (typeof o.resume === 'string') return { checkpoint: await mgr.load(o.resume), clear: [] };
  const checkpoint = await mgr.latest();
  if (checkpoint === null) logger.info({ dir: mgr.root }, 'no complete checkpoint to resume from: starting fresh');
  return { checkpoint, clear: [] };
}

/** sha256 of the dataset manifest (which pins its token stores and sources) and of the negatives file. */
function inputIdentity(o: TrainOptions): Record<string, string> {
  const out: Record<string, string> = {};
  const manifest = path.join(o.data, MANIFEST_FILE);
  if (fs.existsSync(manifest)) out['dataset'] = sha256FileSync(manifest).sha256;
  if (o.negatives !== undefined && fs.existsSync(o.negatives)) out['negatives'] = sha256FileSync(o.negatives).sha256;
  return out;
}

function stepsPerEpoch(n: number, batchSize: number): number {
  return Math.ceil(n / batchSize);
}

/** Refuses to resume when options or input files changed, unless --allow-config-change (then logs them). */
function checkUnchanged(o: TrainOptions, saved: TrainStateFile, stored: Record<string, unknown>, inputs: Record<string, string>, dir: string, logger: Logger): void {
  // Changed input files count as changed options: same names, different data, different training.
  const savedInputs = (saved.identity['inputs'] ?? {}) as Record<string, unknown>;
  const diff = [...diffOptions(saved.options, stored), ...diffOptions(savedInputs, inputs).map((d) => ({ ...d, key: `${d.key} (sha256)` }))];
  if (diff.length === 0) return;
  const show = (v: unknown): string => (v === undefined ? '(unset)' : canonicalJson(v));
  const lines = diff.map((d) => `${d.key}: checkpoint ${show(d.saved)}, now ${show(d.now)}`);
  if (!o.allowConfigChange) throw new DrhardInputError(`options differ from checkpoint ${dir}:\n  ${lines.join('\n  ')}\npass --allow-config-change to resume anyway`);
  logger.warn({ changed: lines }, 'resuming with changed options (--allow-config-change)');
}

/** ADORE's queries live in the space of one set of document embeddings: a checkpoint only resumes against it. */
function checkSameEmbeddings(saved: TrainStateFile, idx: { identity: DocEmbeddingsIdentity }, dir: string): void {
  const savedSha = (saved.identity['docEmbeddings'] as { sha256?: string } | undefined)?.sha256;
  if (savedSha === idx.identity.sha256) return;
  throw new DrhardInputError(
    `the checkpoint was trained against document embeddings with sha256 ${String(savedSha)}, but ${idx.identity.file} has ${idx.identity.sha256}; ` +
      'ADORE cannot resume against a different index',
    { file: dir },
  );
}

function freshState(seed: number): TrainerState {
  return {
    step: 0,
    order: { epoch: 0, position: 0 },
    sampleRng: new Rng(seed).fork('sample').state(),
    nonfinite: { consecutive: 0, total: 0 },
    window: emptyWindow(),
    history: [],
  };
}

function devEvaluator(o: TrainOptions, data: TrainData): DevEvaluator | null {
  if (o.evalEvery === 0) return null;
  return new DevEvaluator(data, {
    split: o.evalSplit,
    queries: o.evalQueries,
    docs: o.evalDocs,
    batchSize: o.evalBatchSize,
    maxQueryLength: o.maxQueryLength,
    maxDocLength: o.maxDocLength,
    device: o.device,
    seed: o.seed,
  });
}

/**
 * Trains a dual encoder with DRhard's semantics (see docs and `drhard train --help`). Writes checkpoints, metrics
 * and the final model under `options.outDir`; resumable with `resume: true`. Throws DrhardInputError on bad input
 * and NonFiniteError on a non-finite loss or gradient (unless skipping).
 */
export async function trainDualEncoder(input: TrainOptionsInput, runtime: TrainRuntime = {}): Promise<TrainResult> {
  const o = resolveTrainOptions(input);
  const logger = runtime.logger ?? rootLog.child({ mod: 'train' });
  if (o.threads !== undefined) setNumThreads(o.threads);
  const outDir = path.resolve(o.outDir);
  const dist = runtime.dist && runtime.dist.pg.world > 1 ? runtime.dist : null;
  const writer = dist === null || dist.pg.rank === 0;
  // One run per output directory, for the whole run (the checkpoint lock only covers one save); rank 0 holds it.
  using _runLock = !writer ? null : lockOutputDir(outDir, o.method === 'pretrain' ? 'drhard pretrain' : 'drhard train');
  const mgr = new CheckpointManager(path.join(outDir, OUT_FILES.checkpoints), {
    keepLast: o.keepLast,
    logger,
    ...(runtime.checkpointHooks ? { hooks: runtime.checkpointHooks } : {}),
  });
  const { checkpoint: start, clear } = await pickStart(o, mgr, logger);
  const saved = start ? readTrainState(start.dir) : null;
  const stored = storedOptions(o);
  const inputs = inputIdentity(o);
  if (start && saved) checkWorldSize(saved, dist?.pg.world ?? 1, start.dir);
  if (start && saved) checkUnchanged(o, saved, stored, inputs, start.dir, logger);

  // Everything below is checked before the first byte is written (or an --overwrite'd run removed).
  const data: TrainData =
    o.method === 'pretrain' ? loadCorpusData(o.data) : loadTrainData({ data: o.data, split: o.trainSplit, minRel: o.minRel, negatives: o.negatives });
  let model: DotModel | null = null;
  let optimizer: AdamLike | null = null;
  let adore: AdoreIndex | null = null;
  let sharded: ShardedAdoreIndex | null = null;
  let tb: SummaryWriter | null = null;
  try {
    if (o.negatives !== undefined) checkNegatives(data, o.hardNum, o.negatives);
    if (dist && o.method !== 'adore') checkBatchSlices(data.queryRows.length, o.batchSize, dist.pg.world, o.method === 'pretrain' ? 'documents' : 'queries');
    const devEval = devEvaluator(o, data);
    model = start ? loadCheckpointModel(start.dir, o.device) : initialModel(o, logger);
    model.train();
    const vocab = withMlmHead(o) ? await maskVocab([o.data, o.init], model.config.vocabSize, model.config.padTokenId) : null;
    if (o.method === 'adore') {
      // Distributed: each rank holds its row range of the embeddings only (src/dist/adore.ts).
      const spec = { dim: model.dim, count: data.docs.count, index: o.index };
      if (dist) sharded = openShardedAdoreIndex(o.docEmbeddings as string, dist.pg, spec);
      else adore = openAdoreIndex(o.docEmbeddings as string, spec);
      if (start && saved) checkSameEmbeddings(saved, (sharded ?? adore) as { identity: DocEmbeddingsIdentity }, start.dir);
    }
    const docIdentity = (sharded ?? adore)?.identity;
    const identity: Record<string, unknown> = docIdentity ? { inputs, docEmbeddings: docIdentity } : { inputs };
    const modelExtra: Record<string, unknown> = docIdentity ? { [ADORE_CONFIG_KEY]: docIdentity } : {};

    optimizer = makeOptimizer(o, model);
    const perEpoch = stepsPerEpoch(data.queryRows.length, o.batchSize);
    const totalSteps = o.maxSteps > 0 ? o.maxSteps : Math.ceil(o.epochs * perEpoch);
    const warmup = o.warmupRatio !== undefined ? Math.round(o.warmupRatio * totalSteps) : o.warmupSteps;
    if (warmup >= totalSteps) {
      logger.warn({ warmupSteps: warmup, totalSteps }, 'the linear warmup is as long as the run: the learning rate never reaches --lr (set --warmup-steps or --warmup-ratio)');
    }
    const schedule = new LinearSchedule(optimizer, { warmupSteps: warmup, totalSteps });
    let state: TrainerState;
    if (start && saved) {
      loadCheckpointOptimizer(start.dir, optimizer, schedule);
      restoreTorchRng(saved.dist ? (saved.dist.torchRng[dist?.pg.rank ?? 0] as string) : saved.torchRng);
      if (o.device !== 'cpu') logger.warn({ device: o.device }, 'only the CPU generator is checkpointed: dropout after resuming on a GPU differs from an uninterrupted run');
      // Rank 0 alone: two ranks deleting the same directories raced (one's rename found the other's gone).
      if (typeof o.resume === 'string' && writer) mgr.removeAfter(saved.step);
      state = { step: saved.step, order: saved.order, sampleRng: saved.sampleRng, nonfinite: saved.nonfinite, window: saved.window, history: saved.history };
      logger.info({ step: saved.step, dir: start.dir }, 'resuming');
    } else {
      manualSeed(o.seed);
      state = freshState(o.seed);
    }

    // Ranks refuse to start on different options, inputs or checkpoints; this also keeps rank 0 from writing
    // before every rank has checked the output directory.
    dist?.pg.assertSame('training options, inputs and start checkpoint', canonicalJson({ stored, inputs, start: start?.step ?? null, world: dist.pg.world }));
    const metricsFile = path.join(outDir, OUT_FILES.metrics);
    if (writer) {
      for (const p of clear) fs.rmSync(p, { recursive: true, force: true });
      fs.mkdirSync(outDir, { recursive: true });
      writeFileAtomic(path.join(outDir, OUT_FILES.config), `${JSON.stringify(stored, null, 2)}\n`);
      // The metrics file restarts from the checkpoint's history, dropping lines a killed run wrote after it.
      writeFileAtomic(metricsFile, state.history.map((r) => `${JSON.stringify(r)}\n`).join(''));
      // Events a killed run wrote after its last checkpoint (or before any) are hidden from here on.
      tb = new SummaryWriter(o.logDir ?? path.join(outDir, OUT_FILES.log), { purgeStep: state.step + 1 });
    }

    const hooks = runtime.hooks ?? {};
    const runner =
      o.method === 'adore'
        ? adoreRunner(o, data, sharded ? { retrieval: sharded.retrieval, collective: sharded.search } : { retrieval: adore as AdoreIndex, collective: null }, hooks)
        : o.method === 'pretrain'
          ? pretrainRunner(o, data, vocab, dist)
          : pairRunner(o, data, dist);
    logger.info(
      { method: o.method, queries: data.queryRows.length, stepsPerEpoch: perEpoch, totalSteps, startStep: state.step, batchSize: o.batchSize },
      'training',
    );
    const res = await runTrainLoop({
      model,
      optimizer,
      schedule,
      runner,
      checkpoints: mgr,
      devEval,
      state,
      totalSteps,
      batchSize: o.batchSize,
      seed: o.seed,
      maxGradNorm: o.maxGradNorm,
      padFirstBatches: o.padFirstBatches,
      onNonfinite: o.onNonfinite,
      maxNonfinite: o.maxNonfinite,
      logEvery: o.logEvery,
      evalEvery: o.evalEvery,
      saveEvery: o.saveEvery,
      metricsFile,
      tensorboard: tb,
      progress: o.progress,
      label: `train ${o.method}`,
      logger,
      modelExtra,
      options: stored,
      identity,
      hooks,
      stop: runtime.stop ?? null,
      resumedFrom: start?.dir ?? null,
      dist,
    });
    let modelDir: string | null = null;
    if (res.stopped === null && !writer) {
      modelDir = path.join(outDir, OUT_FILES.model);
    } else if (res.stopped === null) {
      modelDir = path.join(outDir, OUT_FILES.model);
      // The dataset's tokenizer made the ids the model was trained on; --init's is the fallback (older datasets).
      const final = model.config.mlmHead ? withoutMlmHead(model) : model;
      try {
        saveModel(final, modelDir, modelExtra, { tokenizer: [o.data, o.init] });
      } finally {
        if (final !== model) final.dispose();
      }
      logger.info({ modelDir, step: res.step }, 'training finished');
    } else {
      logger.warn({ step: res.step, checkpoint: res.checkpoint, signal: res.stopped }, 'stopped: resume with --resume');
    }
    return {
      modelDir,
      checkpointDir: res.checkpoint,
      step: res.step,
      totalSteps,
      history: state.history,
      stopped: res.stopped,
      exitCode: res.stopped === null ? 0 : (runtime.stop?.exitCode ?? 130),
      nonfiniteSkipped: res.nonfiniteSkipped,
      options: o,
    };
  } finally {
    tb?.close();
    adore?.searcher.dispose();
    sharded?.dispose();
    optimizer?.dispose();
    model?.dispose();
    data.dataset.close();
  }
}

function pairRunner(o: TrainOptions, data: TrainData, dist: DistTrainContext | null): MethodRunner {
  const method = o.method as PairMethod;
  return {
    queryRows: data.queryRows,
    queryId: data.queryId,
    step: (model, queries, ctx) => {
      // The global batch is drawn as in one process (every rank holds the same sampling RNG), then sliced.
      const batch = samplePairBatch(data, queries, ctx.rng, { method, hardNum: o.hardNum, randNum: o.randNum });
      const common = {
        method,
        loss: o.loss,
        temperature: o.temperature ?? defaultTemperature(model.dim),
        maxQueryLength: o.maxQueryLength,
        maxDocLength: o.maxDocLength,
        padToMax: ctx.padToMax,
        device: o.device,
        gradCacheChunk: o.gradCacheChunk,
        poison: ctx.poison,
      };
      if (dist) {
        const { pg } = dist;
        const local = sliceBatch(batch, ...sliceRange(batch.queries.length, pg.rank, pg.world));
        // Cross-rank negatives: the whole batch's loss on every rank, world × it backpropagated through the local
        // slice, so the averaged gradient is one process's (see src/dist/ddp.ts).
        const x = dist.crossRankNegatives;
        const loss = pairStep(model, data, x ? batch : local, {
          ...common,
          shard: { local, gather: x ? (t) => gatherWithGrad(pg, t) : null, scale: x ? pg.world : 1 },
        });
        return { loss, metrics: {} };
      }
      const k = o.microBatches ?? 1;
      if (k > 1) {
        // Gradient accumulation: each micro-batch its own in-batch negatives, losses averaged (2 ranks without
        // cross-rank negatives compute exactly this).
        let sum = 0;
        for (let i = 0; i < k; i++) {
          const local = sliceBatch(batch, ...sliceRange(batch.queries.length, i, k));
          sum += pairStep(model, data, local, { ...common, shard: { local, gather: null, scale: 1 / k } });
        }
        return { loss: sum / k, metrics: {} };
      }
      const loss = pairStep(model, data, batch, common);
      return { loss, metrics: {} };
    },
  };
}

function pretrainRunner(o: TrainOptions, data: TrainData, vocab: MaskVocab | null, dist: DistTrainContext | null): MethodRunner {
  const crop = { query: { min: o.cropQuery[0], max: o.cropQuery[1] }, doc: { min: o.cropDoc[0], max: o.cropDoc[1] }, deletion: o.cropDeletion };
  const temperature = (model: DotModel): number => o.temperature ?? defaultTemperature(model.dim);
  // --mlm-weight weighs MLM against the contrastive loss; alone, MLM is the loss.
  const weight = o.objective === 'mlm' ? 1 : o.mlmWeight;
  const k = dist ? 1 : (o.microBatches ?? 1);
  return {
    queryRows: data.queryRows,
    queryId: data.queryId,
    step: (model, docs, ctx) =>
      tidy(() => {
        const metrics: Record<string, number> = {};
        if (dist === null && k === 1) {
          let loss: Tensor | null = null;
          if (o.objective !== 'mlm') {
            loss = contrastiveLoss(model, data.docs, docs, data.padId, ctx.rng, { crop, maxQueryLength: o.maxQueryLength, maxDocLength: o.maxDocLength, temperature: temperature(model), device: o.device });
            metrics['contrastive'] = loss.item();
          }
          if (vocab !== null) {
            const mlm = mlmBatchLoss(model, data.docs, docs, ctx.rng, { vocab, probability: o.mlmProbability, maxDocLength: o.maxDocLength, device: o.device });
            metrics['mlm'] = mlm.item();
            loss = loss === null ? mlm : loss.add(mlm.mul(o.mlmWeight));
          }
          let total = loss as Tensor;
          if (ctx.poison) total = total.mul(Number.NaN);
          total.backward();
          return { loss: total.item(), metrics };
        }
        // Ranks (src/dist/ddp.ts semantics) or micro-batches: the crops and masks of the whole batch are drawn first,
        // from the shared RNG (one process's draws), then each part [s, e) is computed and backpropagated.
        // Contrastive: with cross-rank negatives the whole batch's loss, W × it backpropagated; otherwise the part's
        // own in-batch loss (averaged over ranks by the all-reduce, over micro-batches by 1/k). MLM: the part's
        // summed cross-entropy over the whole batch's masked count (× W on ranks), so it is the batch mean.
        const W = dist?.pg.world ?? 1;
        const x = dist?.crossRankNegatives ?? false;
        const parts = dist ? [sliceRange(docs.length, dist.pg.rank, W)] : Array.from({ length: k }, (_, i) => sliceRange(docs.length, i, k));
        const views = o.objective !== 'mlm' ? drawCropViews(data.docs, docs, ctx.rng, { crop, maxQueryLength: o.maxQueryLength, maxDocLength: o.maxDocLength }) : null;
        const masks = vocab !== null ? drawMasks(data.docs, docs, ctx.rng, { vocab, probability: o.mlmProbability, maxDocLength: o.maxDocLength }) : null;
        let cSum = 0;
        let mSum = 0;
        for (const [s, e] of parts) {
          if (e <= s) continue;
          tidy(() => {
            let total: Tensor | null = null;
            if (views !== null) {
              const gather = dist && x ? (t: Tensor): Tensor => gatherWithGrad(dist.pg, t) : null;
              const c = viewsContrastiveLoss(model, { a: views.a.slice(s, e), b: views.b.slice(s, e) }, data.padId, { temperature: temperature(model), device: o.device }, gather);
              cSum += c.item();
              total = c.mul(dist ? (x ? W : 1) : 1 / k);
            }
            if (masks !== null) {
              const m = maskedLoss(model, sliceMasked(masks, s, e), o.device, masks.numMasked);
              mSum += m.item();
              const scaled = m.mul(weight * W);
              total = total === null ? scaled : total.add(scaled);
            }
            if (ctx.poison && total !== null) total = total.mul(Number.NaN);
            if (total !== null && total.requiresGrad) total.backward();
          });
        }
        // Per-rank values whose mean over ranks is the batch's (the trainer averages the loss itself).
        if (views !== null) metrics['contrastive'] = dist ? cSum : cSum / k;
        if (masks !== null) metrics['mlm'] = mSum * W;
        const value = ctx.poison ? Number.NaN : (metrics['contrastive'] ?? 0) + weight * (metrics['mlm'] ?? 0);
        if (dist) {
          const keys = Object.keys(metrics);
          const mean = meanOverRanks(dist.pg, keys.map((key) => metrics[key] as number));
          keys.forEach((key, i) => (metrics[key] = mean[i] as number));
        }
        return { loss: value, metrics };
      }),
  };
}

function adoreRunner(
  o: TrainOptions,
  data: TrainData,
  side: { retrieval: AdoreIndex | AdoreRetrieval; collective: CollectiveSearch },
  hooks: TrainHooks,
): MethodRunner {
  const retrieval = side.retrieval;
  return {
    queryRows: data.queryRows,
    queryId: data.queryId,
    ...('searcher' in retrieval ? { evalSearcher: retrieval.searcher } : {}),
    evalCollectiveSearch: side.collective,
    step: (model, queries, ctx) => {
      const r = adoreStep(model, data, queries, retrieval, {
        maxQueryLength: o.maxQueryLength,
        padToMax: ctx.padToMax,
        device: o.device,
        negTopk: o.negTopk,
        metricCut: o.metricCut,
        // DRhard's σ = 1 for its models; a from-scratch model was trained at the listwise temperature (measured:
        // ADORE on the demo's STAR +.005 MRR@10 at σ = 1, +.039 at τ = 0.05·D, one epoch).
        temperature: o.temperature ?? (o.fromScratch ? defaultTemperature(model.dim) : 1),
        appendMissingPositives: o.appendMissingPositives,
        poison: ctx.poison,
      });
      if (r.retrieved.k > 0) hooks.onRetrieval?.({ step: ctx.step, queries, ids: r.retrieved.ids, k: r.retrieved.k });
      return { loss: r.loss, metrics: { mrr10: r.mrr10, recall10: r.recall10, appended: r.appended, tEncode: r.tEncode, tSearch: r.tSearch, tLoss: r.tLoss } };
    },
  };
}
