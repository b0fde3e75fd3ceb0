// What a training checkpoint holds besides weights and optimizer: step, data order, RNG states, metrics history,
// options and input identities (trainer.json), written into and read from CheckpointManager directories.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getRngState, setRngState, tensor, torchVersion } from '../tensor/index.ts';
import type { DotModel } from '../models/dual.ts';
import { loadModel, saveModel } from '../models/checkpoint.ts';
import { loadOptimizerState, saveOptimizerState, type AdamLike, type LinearSchedule } from '../optim/index.ts';
import { CheckpointError } from '../util/checkpoint.ts';
import { DrhardInputError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/fsx.ts';
import type { RngState } from '../util/rng.ts';
import type { OrderState } from './sampler.ts';

export const TRAIN_STATE_FORMAT = 'drhard-train-state/1';
export const TRAIN_STATE_FILE = 'trainer.json';
export const MODEL_SUBDIR = 'model';

/** One line of metrics.jsonl: `step` plus named values (train: loss, lr, …; dev: dev/mrr@10, …). */
export interface MetricsRecord {
  step: number;
  [key: string]: number;
}

/** Sums over the steps since the last metrics line (saved, so a resumed run logs the same averages). */
export interface LogWindow {
  steps: number;
  skipped: number;
  samples: number;
  seconds: number;
  sums: Record<string, number>;
}

export const emptyWindow = (): LogWindow => ({ steps: 0, skipped: 0, samples: 0, seconds: 0, sums: {} });

export interface TrainerState {
  step: number;
  order: OrderState;
  /** The TS generator drawing positives and negatives (DRhard's `random`). */
  sampleRng: RngState;
  nonfinite: { consecutive: number; total: number };
  window: LogWindow;
  history: MetricsRecord[];
  /** Data-parallel runs: the world size and every rank's libtorch generator state (base64), in rank order. */
  dist?: { world: number; torchRng: string[] };
}

export interface TrainStateFile extends TrainerState {
  format: typeof TRAIN_STATE_FORMAT;
  /** libtorch's CPU generator (dropout masks), base64 of its uint8 state. */
  torchRng: string;
  /** Options as resolved for the run that wrote this checkpoint. */
  options: Record<string, unknown>;
  /** Inputs whose content must not change under a resumed run (ADORE: document-embeddings sha256). */
  identity: Record<string, unknown>;
  versions: { torch: string; node: string };
}

export function torchRngBase64(): string {
  const t = getRngState();
  try {
    const d = t.data();
    return Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64');
  } finally {
    t.dispose();
  }
}

export function restoreTorchRng(b64: string): void {
  const bytes = Buffer.from(b64, 'base64');
  const t = tensor(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  try {
    setRngState(t);
  } finally {
    t.dispose();
  }
}

export interface CheckpointContents {
  model: DotModel;
  modelExtra: Record<string, unknown>;
  optimizer: AdamLike;
  schedule: LinearSchedule;
  state: TrainerState;
  options: Record<string, unknown>;
  identity: Record<string, unknown>;
}

/** Fills a checkpoint's temp directory: model/ (HF layout), optimizer state, trainer.json. */
export function writeCheckpointFiles(dir: string, c: CheckpointContents): void {
  saveModel(c.model, path.join(dir, MODEL_SUBDIR), c.modelExtra);
  saveOptimizerState(dir, c.optimizer, c.schedule);
  const file: TrainStateFile = {
    format: TRAIN_STATE_FORMAT,
    ...c.state,
    torchRng: torchRngBase64(),
    options: c.options,
    identity: c.identity,
    versions: { torch: torchVersion(), node: process.version },
  };
  writeFileAtomic(path.join(dir, TRAIN_STATE_FILE), `${JSON.stringify(file)}\n`);
}

/** Reads and shape-checks trainer.json of a verified checkpoint directory. */
export function readTrainState(dir: string): TrainStateFile {
  const file = path.join(dir, TRAIN_STATE_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CheckpointError(`cannot read training state (${(e as Error).message})`, file);
  }
  const s = raw as Partial<TrainStateFile> | null;
  if (s === null || typeof s !== 'object' || s.format !== TRAIN_STATE_FORMAT) throw new CheckpointError(`not a ${TRAIN_STATE_FORMAT} file`, file);
  if (!Number.isSafeInteger(s.step) || typeof s.torchRng !== 'string' || !s.order || !s.sampleRng || !Array.isArray(s.history)) {
    throw new CheckpointError('training state is missing fields', file);
  }
  return s as TrainStateFile;
}

/** Loads the model of a checkpoint (strict: every parameter must be present). */
export function loadCheckpointModel(dir: string, device: string): DotModel {
  return loadModel(path.join(dir, MODEL_SUBDIR), { device }).model;
}

/** Restores optimizer moments and the schedule position from a checkpoint. */
export function loadCheckpointOptimizer(dir: string, optimizer: AdamLike, schedule: LinearSchedule): void {
  try {
    loadOptimizerState(dir, optimizer, schedule);
  } catch (e) {
    if (e instanceof DrhardInputError) throw e;
    throw new DrhardInputError(`cannot restore the optimizer: ${(e as Error).message}`, { file: dir });
  }
}
