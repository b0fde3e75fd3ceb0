// Demo presets: corpus subset, model size and training budgets for a 2-core CPU (default ≤ 15 min, quick ≤ 3 min).
// Budgets are epochs over the subset (steps follow from its size), warmups are a fraction of each run.
import type { Objective } from '../train/pretrain.ts';

export interface StageBudget {
  batchSize: number;
  /** Passes over the stage's rows (training queries, or documents for pretraining); steps = ⌈epochs·rows/batch⌉. */
  epochs: number;
  lr: number;
  /** Linear warmup as a fraction of the stage's steps. */
  warmupFrac: number;
}

export interface DemoPreset {
  name: 'default' | 'quick';
  /** tuneQueries: training queries held out of training, on which the hybrid's weight is chosen (never dev). */
  subset: { trainQueries: number; devQueries: number; tuneQueries: number; docs: number };
  vocabSize: number;
  maxDocLength: number;
  maxQueryLength: number;
  model: { hiddenSize: number; numHiddenLayers: number; numAttentionHeads: number; intermediateSize: number; pooling: 'first' | 'mean' };
  /** Corpus-only pretraining before the warmups (null: warmups start from random weights). */
  pretrain: (StageBudget & { objective: Objective; cropQuery: [number, number]; cropDoc: [number, number] }) | null;
  /** Loss and optimizer of the warmups and STAR (DRhard: pairwise + LAMB, tuned for pretrained RoBERTa). */
  train: { loss: 'pairwise' | 'listwise'; optimizer: 'adamw' | 'lamb' };
  warmup: StageBudget;
  star: StageBudget & { topk: number };
  adore: StageBudget & { negTopk: number; metricCut: number };
  /** Dev run depth (Recall@100 needs 100). */
  k: number;
}

/** Steps of a stage over `rows` rows. */
export function stageSteps(b: StageBudget, rows: number): number {
  return Math.max(1, Math.ceil((b.epochs * rows) / b.batchSize));
}

export function warmupSteps(b: StageBudget, rows: number): number {
  return Math.round(b.warmupFrac * stageSteps(b, rows));
}

export const PRESETS: Record<DemoPreset['name'], DemoPreset> = {
  default: {
    name: 'default',
    // All of data/demo: every training query but the held-out tuning ones, every document. A 12k-query subset
    // overfitted (train loss 0.05 after 4 epochs, measured) where the full set is still under one epoch.
    subset: { trainQueries: 1_000_000, devQueries: 1500, tuneQueries: 500, docs: 1_000_000 },
    vocabSize: 8192,
    maxDocLength: 64,
    maxQueryLength: 24,
    // Masked-mean pooling: from scratch, first-token pooling collapsed (loss → ln 2, dev MRR@10 0.001 after 100
    // steps, measured); mean pooling reached dev MRR@10 0.19 by step 50 on the same data. DRhard's checkpoints
    // (pretrained RoBERTa) use first-token pooling, which `--init` from them keeps.
    model: { hiddenSize: 128, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 512, pooling: 'mean' },
    // Budget (measured on this 2-core machine): ADORE bought the most MRR@10 per second (+.039 for one 80 s epoch on
    // STAR, against STAR's +.032 over its warmup for 200 s), the pretraining stage is shared by the three warmups.
    pretrain: { objective: 'contrastive', batchSize: 128, epochs: 0.2, lr: 1e-3, warmupFrac: 0.1, cropQuery: [0.1, 0.5], cropDoc: [0.5, 1] },
    train: { loss: 'listwise', optimizer: 'adamw' },
    warmup: { batchSize: 128, epochs: 0.25, lr: 1e-3, warmupFrac: 0.1 },
    star: { batchSize: 128, epochs: 0.4, lr: 5e-4, warmupFrac: 0.1, topk: 100 },
    adore: { batchSize: 32, epochs: 0.6, lr: 1e-4, warmupFrac: 0.1, negTopk: 100, metricCut: 100 },
    k: 100,
  },
  quick: {
    name: 'quick',
    subset: { trainQueries: 4000, devQueries: 500, tuneQueries: 300, docs: 8000 },
    vocabSize: 4096,
    maxDocLength: 64,
    maxQueryLength: 24,
    model: { hiddenSize: 128, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 512, pooling: 'mean' },
    pretrain: { objective: 'contrastive', batchSize: 64, epochs: 0.5, lr: 1e-3, warmupFrac: 0.1, cropQuery: [0.1, 0.5], cropDoc: [0.5, 1] },
    train: { loss: 'listwise', optimizer: 'adamw' },
    warmup: { batchSize: 64, epochs: 1, lr: 1e-3, warmupFrac: 0.1 },
    star: { batchSize: 64, epochs: 1, lr: 5e-4, warmupFrac: 0.1, topk: 50 },
    adore: { batchSize: 32, epochs: 1, lr: 1e-4, warmupFrac: 0.1, negTopk: 50, metricCut: 50 },
    k: 100,
  },
};
