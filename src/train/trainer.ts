// The trainer core shared by every method: the step loop, non-finite policy, logging (JSONL, TensorBoard, progress),
// periodic dev evaluation, checkpoints and graceful stop. Methods plug in through MethodRunner.
import * as fs from 'node:fs';
import type { DotModel } from '../models/dual.ts';
import { gradNorm, type AdamLike, type LinearSchedule } from '../optim/index.ts';
import type { DenseSearcher } from '../retrieval/search.ts';
import type { CheckpointManager } from '../util/checkpoint.ts';
import { fsError } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import { Progress } from '../util/progress.ts';
import { Rng } from '../util/rng.ts';
import { SummaryWriter } from './tensorboard.ts';
import type { DevEvaluator } from './deveval.ts';
import { EpochOrder } from './sampler.ts';
import { emptyWindow, torchRngBase64, writeCheckpointFiles, type MetricsRecord, type TrainerState } from './state.ts';
import { anyRank, averageGradients, gatherStrings, meanOverRanks, type DistTrainContext } from '../dist/ddp.ts';
import { distributedDevEval, type CollectiveSearch } from '../dist/deveval.ts';

export interface StepContext {
  /** Global step about to run (0-based). */
  step: number;
  /** Draws positives / negatives; its state is checkpointed. */
  rng: Rng;
  /** DRhard pads its first batches to full length. */
  padToMax: boolean;
  /** Test hook: make this step's loss NaN. */
  poison: boolean;
}

export interface StepOutcome {
  loss: number;
  /** Method-specific values averaged into each metrics line (ADORE: mrr10, recall10, timings). */
  metrics: Record<string, number>;
}

/** What a training method provides to the core. */
export interface MethodRunner {
  /** Training query offsets; an epoch visits each once. */
  readonly queryRows: Int32Array;
  /** Forward and backward of one batch of query offsets; gradients accumulate into the model. */
  step(model: DotModel, queries: number[], ctx: StepContext): StepOutcome;
  /** The fixed index dev evaluation searches (ADORE); STAR-style methods re-encode documents. */
  readonly evalSearcher?: Pick<DenseSearcher, 'search'>;
  /** Distributed ADORE: the sharded index's search, which every rank joins during dev evaluation. */
  readonly evalCollectiveSearch?: CollectiveSearch;
  /** Query ids for error messages. */
  queryId(offset: number): string;
}

/** Hooks for tests and embedding applications. */
export interface TrainHooks {
  /** Return true to make step `step` (0-based) produce a NaN loss. */
  poisonStep?: (step: number) => boolean;
  /** ADORE: the doc offsets retrieved for the step's global batch ([B, k] row-major, -1 = none), on every rank. */
  onRetrieval?: (info: { step: number; queries: number[]; ids: Int32Array; k: number }) => void;
  /** After each completed (or skipped) step. */
  onStep?: (info: { step: number; loss: number; lr: number; skipped: boolean }) => void | Promise<void>;
}

/** Something that can ask the loop to stop after the current step (StopSignal satisfies it). */
export interface StopRequest {
  readonly requested: boolean;
  readonly signal: NodeJS.Signals | null;
  readonly exitCode: number | null;
}

/** A non-finite loss or gradient under --on-nonfinite abort (or too many consecutive skips). The CLI exits 1. */
export class NonFiniteError extends Error {
  readonly step: number;
  readonly queryIds: string[];
  constructor(message: string, step: number, queryIds: string[]) {
    super(message);
    this.name = 'NonFiniteError';
    this.step = step;
    this.queryIds = queryIds;
  }
}

export interface LoopConfig {
  model: DotModel;
  optimizer: AdamLike;
  schedule: LinearSchedule;
  runner: MethodRunner;
  checkpoints: CheckpointManager;
  devEval: DevEvaluator | null;
  state: TrainerState;
  totalSteps: number;
  batchSize: number;
  seed: number;
  maxGradNorm: number;
  padFirstBatches: number;
  onNonfinite: 'abort' | 'skip';
  maxNonfinite: number;
  logEvery: number;
  evalEvery: number;
  saveEvery: number;
  metricsFile: string;
  /** null on ranks other than 0, which write nothing. */
  tensorboard: SummaryWriter | null;
  progress: boolean;
  label: string;
  logger: Logger;
  /** Written into each checkpoint: model config extras, options and identities. */
  modelExtra: Record<string, unknown>;
  options: Record<string, unknown>;
  identity: Record<string, unknown>;
  hooks: TrainHooks;
  stop: StopRequest | null;
  /** The checkpoint the state came from (not re-saved when the run stops before its first step). */
  resumedFrom: string | null;
  /** Data-parallel training (src/dist/ddp.ts): gradients averaged over ranks, rank 0 writes. */
  dist?: DistTrainContext | null;
}

export interface LoopResult {
  step: number;
  /** Directory of the last checkpoint written (or resumed from), if any. */
  checkpoint: string | null;
  stopped: NodeJS.Signals | null;
  nonfiniteSkipped: number;
}

const TRAIN_TAGS: Record<string, string> = { loss: 'train/loss', lr: 'train/lr', gradNorm: 'train/grad_norm', mrr10: 'train/mrr_10', recall10: 'train/recall_10' };

/** Appends one record to metrics.jsonl, to the in-memory history and to TensorBoard. */
function emit(c: LoopConfig, rec: MetricsRecord): void {
  c.state.history.push(rec);
  if (c.dist && c.dist.pg.rank !== 0) return;
  try {
    fs.appendFileSync(c.metricsFile, `${JSON.stringify(rec)}\n`);
  } catch (e) {
    throw fsError('append', c.metricsFile, e);
  }
  for (const [k, v] of Object.entries(rec)) {
    if (k === 'step' || k === 'epoch' || !Number.isFinite(v)) continue;
    c.tensorboard?.addScalar(TRAIN_TAGS[k] ?? (k.includes('/') ? k : `train/${k}`), v, rec.step);
  }
}

/** Runs steps state.step … totalSteps-1, then returns; stops early (after a checkpoint) when `stop` is requested. */
export async function runTrainLoop(c: LoopConfig): Promise<LoopResult> {
  const { model, optimizer, schedule, runner, state } = c;
  const params = model.parameters();
  const order = new EpochOrder(runner.queryRows.length, c.batchSize, c.seed, state.order);
  const rng = Rng.fromState(state.sampleRng);
  let lastCheckpoint: string | null = c.resumedFrom;
  let lastSavedStep = c.resumedFrom === null ? -1 : state.step;

  const dist = c.dist ?? null;
  const save = async (): Promise<void> => {
    if (lastSavedStep === state.step) return;
    state.order = order.state();
    state.sampleRng = rng.state();
    // Every rank's dropout generator; the order and sampling RNG are the same on every rank.
    if (dist) state.dist = { world: dist.pg.world, torchRng: gatherStrings(dist.pg, torchRngBase64()) };
    if (dist && dist.pg.rank !== 0) {
      lastSavedStep = state.step;
      return;
    }
    c.tensorboard?.flush();
    const ck = await c.checkpoints.save(
      state.step,
      (dir) => writeCheckpointFiles(dir, { model, modelExtra: c.modelExtra, optimizer, schedule, state, options: c.options, identity: c.identity }),
      { epoch: order.epoch },
    );
    lastCheckpoint = ck.dir;
    lastSavedStep = state.step;
  };

  const progress = new Progress({ total: c.totalSteps, label: c.label, start: state.step, unit: 'step', enabled: c.progress && (!dist || dist.pg.rank === 0) });
  try {
    while (state.step < c.totalSteps) {
      // Signals arrive on the event loop; a loop that never yields would never see them.
      await new Promise<void>((r) => setImmediate(r));
      // Ranks agree on stopping: a signal that reached some ranks only must not leave the others in a collective.
      if (dist ? anyRank(dist.pg, c.stop?.requested ?? false) : c.stop?.requested) break;
      const epoch = order.epoch;
      const idx = order.next();
      const queries = idx.map((i) => runner.queryRows[i] as number);
      const lr = schedule.lr;
      const t0 = performance.now();
      const out = runner.step(model, queries, {
        step: state.step,
        rng,
        padToMax: state.step < c.padFirstBatches,
        poison: c.hooks.poisonStep?.(state.step) ?? false,
      });
      if (dist) {
        averageGradients(dist.pg, params, dist.bucketBytes);
        [out.loss] = meanOverRanks(dist.pg, [out.loss]) as [number];
      }
      // The optimizer's clip defers the scaling into its fused step (one pass over the gradients, not two).
      const norm = c.maxGradNorm > 0 ? optimizer.clipGradNorm(params, c.maxGradNorm) : gradNorm(params);
      const w = state.window;
      if (!Number.isFinite(out.loss) || !Number.isFinite(norm)) {
        model.zeroGrad();
        optimizer.discardDeferredClip();
        state.nonfinite.consecutive += 1;
        state.nonfinite.total += 1;
        const ids = queries.map((q) => runner.queryId(q));
        const what = Number.isFinite(out.loss) ? `gradient norm (${norm})` : `loss (${out.loss})`;
        const msg =
          `non-finite ${what} at step ${state.step + 1} (epoch ${epoch}); batch query ids: ${ids.slice(0, 32).join(', ')}` +
          `${ids.length > 32 ? ` … (${ids.length} in all)` : ''}; last checkpoint: ${lastCheckpoint ?? c.checkpoints.list().at(-1)?.dir ?? 'none'}`;
        if (c.onNonfinite === 'abort') throw new NonFiniteError(`${msg} (--on-nonfinite skip would skip such steps)`, state.step + 1, ids);
        if (state.nonfinite.consecutive > c.maxNonfinite) {
          throw new NonFiniteError(`${msg}; ${state.nonfinite.consecutive} consecutive non-finite steps exceed --max-nonfinite ${c.maxNonfinite}`, state.step + 1, ids);
        }
        c.logger.warn({ step: state.step + 1, epoch, queryIds: ids.slice(0, 32) }, `${msg}: update skipped`);
        w.skipped += 1;
        await c.hooks.onStep?.({ step: state.step, loss: out.loss, lr, skipped: true });
        continue;
      }
      state.nonfinite.consecutive = 0;
      optimizer.step();
      schedule.step();
      model.zeroGrad();
      state.step += 1;

      w.steps += 1;
      w.samples += queries.length;
      w.seconds += (performance.now() - t0) / 1000;
      const add = (k: string, v: number): void => void (w.sums[k] = (w.sums[k] ?? 0) + v);
      add('loss', out.loss);
      add('gradNorm', norm);
      for (const [k, v] of Object.entries(out.metrics)) add(k, v);
      const samplesPerSec = w.seconds > 0 ? w.samples / w.seconds : 0;
      const shown: Record<string, number> = { loss: (w.sums['loss'] ?? 0) / w.steps, lr, 'samples/s': Math.round(samplesPerSec * 10) / 10 };
      if (w.sums['mrr10'] !== undefined) shown['mrr@10'] = w.sums['mrr10'] / w.steps;
      progress.update(state.step, shown);
      if (state.step % c.logEvery === 0 || state.step === c.totalSteps) {
        const rec: MetricsRecord = { step: state.step, epoch, lr };
        for (const [k, v] of Object.entries(w.sums)) rec[k] = v / w.steps;
        rec['samplesPerSec'] = samplesPerSec;
        if (w.skipped > 0) rec['skipped'] = w.skipped;
        emit(c, rec);
        state.window = emptyWindow();
      }
      if (c.devEval && c.evalEvery > 0 && (state.step % c.evalEvery === 0 || state.step === c.totalSteps)) {
        // Distributed: once, on rank 0 (the others wait, or join a sharded index's search), logged once.
        const m = dist ? distributedDevEval(dist.pg, c.devEval, model, state.step, runner.evalCollectiveSearch ?? null) : c.devEval.run(model, runner.evalSearcher);
        if (m !== null) {
          const rec: MetricsRecord = { step: state.step };
          for (const [k, v] of Object.entries(m)) rec[`dev/${k}`] = v;
          emit(c, rec);
          c.logger.info({ step: state.step, ...m }, 'dev evaluation');
        }
      }
      await c.hooks.onStep?.({ step: state.step, loss: out.loss, lr, skipped: false });
      if (c.saveEvery > 0 && state.step % c.saveEvery === 0) await save();
    }
    await save();
  } finally {
    progress.stop();
    c.tensorboard?.flush();
  }
  return { step: state.step, checkpoint: lastCheckpoint, stopped: c.stop?.requested ? c.stop.signal : state.step < c.totalSteps ? 'SIGTERM' : null, nonfiniteSkipped: state.nonfinite.total };
}
