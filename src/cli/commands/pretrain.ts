// `drhard pretrain`: corpus-only pretraining (contrastive crops and/or MLM) before `drhard train --init`; the same
// options, checkpoints, resume and logs as `drhard train` (it is `train --method pretrain` with the relevant flags).
import type { Command } from 'commander';
import { z } from 'zod';
import { trainOptionsSchema } from '../../train/options.ts';
import { defineTrainCommand } from './train.ts';

/** Options of `train` that have no meaning without queries, labels or a document index. */
const NOT_FOR_PRETRAIN = new Set([
  'method',
  'trainSplit',
  'negatives',
  'hardNum',
  'randNum',
  'docEmbeddings',
  'index',
  'negTopk',
  'metricCut',
  'appendMissingPositives',
  'minRel',
  'loss',
  'gradCacheChunk',
  'evalDocs',
]);

export function register(program: Command): void {
  defineTrainCommand(
    program,
    'pretrain',
    'Pretrain an encoder on a dataset\'s corpus alone: contrastive random-crop pairs with in-batch negatives (Contriever), masked ' +
      'language modelling (RoBERTa dynamic masking), or both. From scratch (--init-config, or --init with a model directory from ' +
      '`drhard init-model`) or from a checkpoint. Writes <out-dir>/model for `drhard train --init`; resumable with --resume.',
    z.object(Object.fromEntries(Object.entries(trainOptionsSchema.shape).filter(([k]) => !NOT_FOR_PRETRAIN.has(k)))),
    { method: 'pretrain' },
  );
}
