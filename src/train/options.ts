// Every option of `drhard train` / trainDualEncoder in one zod schema, with DRhard's per-method defaults.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { DrhardInputError } from '../util/errors.ts';
import { canonicalJson } from '../util/hash.ts';
import { SCRATCH_KEY } from '../models/config.ts';

export const METHODS = ['inbatch', 'randneg', 'bm25neg', 'star', 'adore', 'pretrain'] as const;
export type Method = (typeof METHODS)[number];

const posInt = z.number().int().positive();
const nonNegInt = z.number().int().nonnegative();

/**
 * Field names are the library's; the CLI flag is the kebab-case name (`maxSteps` → `--max-steps`). Fields left
 * `optional()` without a default take the method's DRhard default in `resolveTrainOptions` (see METHOD_DEFAULTS).
 */
export const trainOptionsSchema = z.object({
  method: z
    .enum(METHODS)
    .describe(
      'training method: inbatch (in-batch negatives), randneg (random corpus negatives), bm25neg (in-batch + BM25 top negatives), ' +
        'star (in-batch + static dense hard negatives), adore (query encoder against a fixed document index), ' +
        'pretrain (corpus only: contrastive crops and/or MLM; what `drhard pretrain` runs)',
    ),
  data: z.string().min(1).describe('preprocessed dataset directory (written by `drhard preprocess`)'),
  trainSplit: z.string().min(1).default('train').describe('query split to train on (its qrels give the positives)'),
  outDir: z.string().min(1).describe('output directory: checkpoints/, model/ (final model), metrics.jsonl, train-config.json'),
  logDir: z.string().min(1).optional().describe('TensorBoard event directory (default <out-dir>/log)'),
  init: z
    .string()
    .min(1)
    .optional()
    .describe(
      'model directory to start from (config.json + model.safetensors or pytorch_model.bin), or a config.json file for a fresh model; ' +
        'for adore, the model that produced --doc-embeddings',
    ),
  initConfig: z
    .union([z.string().min(1), z.record(z.string(), z.unknown())])
    .optional()
    .describe('train a freshly initialized model instead: a config.json path, inline JSON, or (library) a config object'),
  negatives: z
    .string()
    .min(1)
    .optional()
    .describe('hard-negative lists (star, bm25neg): the output of `drhard mine`, DRhard hard.json, or "qid<TAB>docid" lines'),
  hardNum: posInt.default(1).describe('hard negatives drawn per query per visit, fresh each time (star, bm25neg); DRhard: 1'),
  randNum: posInt.default(1).describe('uniformly random corpus documents per query (randneg)'),
  loss: z
    .enum(['pairwise', 'listwise'])
    .optional()
    .describe(
      'STAR-style methods: pairwise = DRhard\'s logistic loss over (positive, negative) pairs; listwise = softmax cross-entropy ' +
        'over the positive and every negative of the batch (Tevatron/DPR/Contriever), with --temperature ' +
        '(default: pairwise; listwise for a model trained from scratch)',
    ),
  temperature: z
    .number()
    .positive()
    .optional()
    .describe(
      'listwise: softmax temperature on dot products (default 0.05 × embedding dim: cosine/0.05 for LayerNorm-headed embeddings); ' +
        'adore: scores are divided by it in the pairwise loss, RankNet σ = 1/τ (default 1 as DRhard; 0.05 × dim for a model trained from scratch)',
    ),
  objective: z
    .enum(['contrastive', 'mlm', 'both'])
    .default('contrastive')
    .describe('pretrain: contrastive random-crop pairs with in-batch negatives (Contriever), masked language modelling (RoBERTa), or both summed'),
  cropQuery: z
    .tuple([z.number().gt(0).max(1), z.number().gt(0).max(1)])
    .default([0.1, 0.5])
    .describe('pretrain: the query-side view is a span of this fraction [min,max] of the document (Contriever: 0.1,0.5)'),
  cropDoc: z
    .tuple([z.number().gt(0).max(1), z.number().gt(0).max(1)])
    .default([0.5, 1])
    .describe('pretrain: the document-side view\'s fraction [min,max] of the document (most of it, as documents are searched; Contriever: 0.1,0.5)'),
  cropDeletion: z.number().min(0).lt(1).default(0.1).describe('pretrain: drop each token of a view with this probability (Contriever: 0.1)'),
  mlmProbability: z.number().gt(0).lt(1).default(0.15).describe('pretrain: fraction of tokens selected for MLM (80% <mask>, 10% random, 10% kept)'),
  mlmWeight: z.number().nonnegative().default(1).describe('pretrain --objective both: weight of the MLM loss added to the contrastive loss'),
  docEmbeddings: z
    .string()
    .min(1)
    .optional()
    .describe('adore: fixed document embeddings (float32 rows in doc-offset order, with or without a .json manifest)'),
  index: z
    .string()
    .min(1)
    .default('Flat')
    .describe('adore: the fixed index: Flat (exact), a faiss factory string (HNSW32, IVF1024,PQ64 …), or a saved index file built from --doc-embeddings'),
  negTopk: posInt.default(200).describe('adore: documents retrieved per query each step'),
  metricCut: posInt.default(200).describe('adore: ranks beyond this get 1/rank = 0 in the pair weights (must be >= 1)'),
  appendMissingPositives: z
    .boolean()
    .default(false)
    .describe('adore: append every unretrieved positive (JPQ), not only when none was retrieved (DRhard)'),
  minRel: z.number().int().default(1).describe('qrels grade that counts as a positive (DRhard counts every qrels line; MS MARCO train has only 1s)'),
  optimizer: z
    .enum(['lamb', 'adamw'])
    .optional()
    .describe('optimizer (default: lamb for STAR-style methods, adamw for adore and for any model trained from scratch)'),
  lr: z.number().positive().optional().describe('peak learning rate (default 1e-4; adore 5e-6; from scratch: 1e-3, adore 1e-4)'),
  warmupSteps: nonNegInt
    .optional()
    .describe('linear warmup steps, then linear decay to 0 (default 1000; adore 2000; from scratch: 10% of the run, see --warmup-ratio)'),
  warmupRatio: z
    .number()
    .min(0)
    .max(1)
    .optional()
    .describe('linear warmup as a fraction of the run\'s steps; overrides --warmup-steps (default for models trained from scratch: 0.1)'),
  weightDecay: z.number().nonnegative().default(0.01).describe('weight decay, not applied to biases and LayerNorm weights'),
  adamEps: z.number().positive().default(1e-8).describe('Adam/LAMB epsilon'),
  maxGradNorm: z.number().nonnegative().default(1).describe('clip the global gradient norm to this (0 = no clipping)'),
  batchSize: posInt.optional().describe('queries per step (default 256; adore 32)'),
  maxQueryLength: z.number().int().min(2).optional().describe('query tokens incl. specials (default 24; adore 64)'),
  maxDocLength: z.number().int().min(2).default(120).describe('document tokens incl. specials (passages 120, documents 512)'),
  padFirstBatches: nonNegInt.default(10).describe('pad the first N steps to full length so out-of-memory shows early (DRhard: 10)'),
  epochs: z.number().positive().optional().describe('epochs; sets the schedule length unless --max-steps (default 100; adore 6)'),
  maxSteps: nonNegInt.default(0).describe('stop after this many steps and end the LR decay there (0 = from --epochs)'),
  seed: z.number().int().default(42).describe('seed for data order, sampling, dropout and fresh initialization'),
  microBatches: posInt
    .optional()
    .describe('STAR-style methods and pretrain: split each batch into this many micro-batches, each with its own in-batch negatives, gradients averaged (default 1)'),
  negativesXDevice: z
    .boolean()
    .optional()
    .describe('distributed runs (drhard launch; STAR-style methods and pretrain): in-batch negatives from every rank\'s batch slice, as one process with the whole batch (Tevatron\'s negatives_x_device)'),
  gradCacheChunk: nonNegInt.default(0).describe('gradient caching: encode at most this many sequences with a graph at once (0 = off)'),
  device: z.string().min(1).default('cpu').describe('device for the model: cpu, cuda, cuda:1 …'),
  threads: posInt.optional().describe('libtorch/faiss threads (default: DRHARD_NUM_THREADS or all cores)'),
  saveEvery: nonNegInt.default(1000).describe('write a checkpoint every N steps (0 = only at the end)'),
  keepLast: nonNegInt.default(3).describe('checkpoints to keep (0 = all)'),
  logEvery: posInt.optional().describe('average and log metrics every N steps (default 50; adore 100)'),
  evalEvery: nonNegInt.default(0).describe('dev evaluation every N steps (0 = off)'),
  evalSplit: z.string().min(1).default('dev').describe('query split for dev evaluation'),
  evalQueries: nonNegInt.default(500).describe('dev queries sampled (once, by seed) for evaluation (0 = all)'),
  evalDocs: nonNegInt
    .default(0)
    .describe('STAR-style methods: evaluate against the sampled queries\' positives plus this many random documents instead of the whole corpus (0 = whole corpus)'),
  evalBatchSize: posInt.default(128).describe('encoding batch size for dev evaluation'),
  resume: z
    .union([z.boolean(), z.string().min(1)])
    .default(false)
    .describe('continue from the latest complete checkpoint in <out-dir>/checkpoints (or from the given checkpoint directory)'),
  allowConfigChange: z.boolean().default(false).describe('resume even if training options differ from the checkpoint\'s (they are listed)'),
  overwrite: z.boolean().default(false).describe('start fresh in a non-empty output directory, replacing drhard\'s files there'),
  onNonfinite: z.enum(['abort', 'skip']).default('abort').describe('on a NaN/inf loss or gradient: abort (default), or skip the update'),
  maxNonfinite: posInt.default(10).describe('with --on-nonfinite skip: abort after this many consecutive skipped steps'),
  progress: z.boolean().default(true).describe('show a progress bar on stderr'),
});

export type TrainOptionsInput = z.input<typeof trainOptionsSchema>;
type Parsed = z.output<typeof trainOptionsSchema>;

/** Options after defaults: what the trainer reads. */
export type TrainOptions = Omit<Parsed, 'optimizer' | 'lr' | 'warmupSteps' | 'batchSize' | 'maxQueryLength' | 'epochs' | 'logEvery' | 'loss'> & {
  optimizer: 'lamb' | 'adamw';
  lr: number;
  warmupSteps: number;
  batchSize: number;
  maxQueryLength: number;
  epochs: number;
  logEvery: number;
  loss: 'pairwise' | 'listwise';
  /** The model descends from random weights (--init-config, or a config marked by init-model/pretrain): scratch defaults. */
  fromScratch: boolean;
};

type MethodDefaults = Pick<TrainOptions, 'optimizer' | 'lr' | 'warmupSteps' | 'batchSize' | 'maxQueryLength' | 'epochs' | 'logEvery' | 'loss'>;

/** DRhard's star/train.py (LAMB, 1e-4, warmup 1000, batch 256, 24/120, 100 epochs, log 50) and adore/train.py. */
export const METHOD_DEFAULTS: Record<'star' | 'adore', MethodDefaults> = {
  star: { optimizer: 'lamb', lr: 1e-4, warmupSteps: 1000, batchSize: 256, maxQueryLength: 24, epochs: 100, logEvery: 50, loss: 'pairwise' },
  adore: { optimizer: 'adamw', lr: 5e-6, warmupSteps: 2000, batchSize: 32, maxQueryLength: 64, epochs: 6, logEvery: 100, loss: 'pairwise' },
};

/**
 * Defaults for a model trained from random weights, measured on the demo corpus (README, "Training from scratch"):
 * DRhard's LAMB barely moves small-initialized weights (its trust ratio scales steps by ‖w‖) and its pairwise loss
 * learns slowly; AdamW with a listwise loss learned 2.4× the MRR@10 in the same steps. Warmup is a share of the run
 * (`warmupRatio`), not DRhard's 1000/2000 steps sized for 50k-step GPU runs.
 */
export const SCRATCH_DEFAULTS: Record<'star' | 'adore' | 'pretrain', Partial<MethodDefaults> & { warmupRatio: number }> = {
  star: { optimizer: 'adamw', lr: 1e-3, loss: 'listwise', epochs: 1, warmupRatio: 0.1 },
  adore: { optimizer: 'adamw', lr: 1e-4, epochs: 1, warmupRatio: 0.1 },
  pretrain: { optimizer: 'adamw', lr: 1e-3, loss: 'listwise', epochs: 1, warmupRatio: 0.1 },
};

/** Whether the model to train descends from random weights: a fresh config, or a config.json marked by drhard. */
export function initIsFromScratch(o: { init?: string | undefined; initConfig?: unknown }): boolean {
  if (o.initConfig !== undefined) return true;
  if (o.init === undefined) return false;
  try {
    const st = fs.statSync(o.init, { throwIfNoEntry: false });
    if (st === undefined) return false;
    if (st.isFile()) return true;
    const cfg = JSON.parse(fs.readFileSync(path.join(o.init, 'config.json'), 'utf8')) as Record<string, unknown>;
    return cfg[SCRATCH_KEY] === true;
  } catch {
    return false; // an unreadable --init is reported where the model is loaded
  }
}

/** Rules between fields; they read the raw input, so they are reported together with the schema's issues. */
function crossFieldProblems(o: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const has = (k: string): boolean => o[k] !== undefined;
  const method = o['method'];
  if (!has('init') && !has('initConfig')) problems.push('init: give --init (a model directory) or --init-config (a fresh model)');
  if (has('init') && has('initConfig')) problems.push('init: --init and --init-config are mutually exclusive');
  if ((method === 'star' || method === 'bm25neg') && !has('negatives')) {
    problems.push(`negatives: --method ${method} needs --negatives (from \`drhard mine\`${method === 'bm25neg' ? ' --source bm25' : ''})`);
  }
  if (method === 'adore') {
    if (!has('docEmbeddings')) problems.push('docEmbeddings: --method adore needs --doc-embeddings');
    if (!has('init')) problems.push('init: --method adore needs --init (the model that encoded --doc-embeddings)');
    if (typeof o['gradCacheChunk'] === 'number' && o['gradCacheChunk'] > 0) problems.push('gradCacheChunk: not used by adore (only queries are encoded)');
  }
  if (method === 'adore' && typeof o['microBatches'] === 'number' && o['microBatches'] > 1) problems.push('microBatches: --method adore does not split batches');
  if (method === 'adore' && o['negativesXDevice'] === true) problems.push('negativesXDevice: --method adore has no in-batch negatives (its lists come from the index)');
  if (method !== 'adore' && has('docEmbeddings')) problems.push('docEmbeddings: only --method adore uses --doc-embeddings');
  if (method === 'pretrain' && has('negatives')) problems.push('negatives: pretraining reads only the corpus');
  for (const k of ['cropQuery', 'cropDoc'] as const) {
    const r = o[k];
    if (Array.isArray(r) && typeof r[0] === 'number' && typeof r[1] === 'number' && r[0] > r[1]) problems.push(`${k}: min ${r[0]} > max ${r[1]}`);
  }
  if ((method === 'inbatch' || method === 'randneg' || method === 'adore') && has('negatives')) {
    problems.push(`negatives: --method ${String(method)} does not use --negatives`);
  }
  return problems;
}

/** Validates, fills defaults and checks cross-field rules; every problem is reported at once. */
export function resolveTrainOptions(input: TrainOptionsInput | Record<string, unknown>): TrainOptions {
  const r = trainOptionsSchema.safeParse(input);
  const problems = r.success ? [] : r.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`);
  problems.push(...crossFieldProblems(input as Record<string, unknown>));
  if (!r.success || problems.length > 0) throw new DrhardInputError(`invalid training options:\n  ${problems.join('\n  ')}`);
  const o = r.data;
  const d = METHOD_DEFAULTS[o.method === 'adore' ? 'adore' : 'star'];
  const fromScratch = initIsFromScratch(o);
  const sd = fromScratch ? SCRATCH_DEFAULTS[o.method === 'adore' ? 'adore' : o.method === 'pretrain' ? 'pretrain' : 'star'] : null;
  return {
    ...o,
    optimizer: o.optimizer ?? sd?.optimizer ?? d.optimizer,
    lr: o.lr ?? sd?.lr ?? d.lr,
    warmupSteps: o.warmupSteps ?? d.warmupSteps,
    ...(o.warmupSteps === undefined && o.warmupRatio === undefined && sd ? { warmupRatio: sd.warmupRatio } : {}),
    batchSize: o.batchSize ?? d.batchSize,
    maxQueryLength: o.maxQueryLength ?? d.maxQueryLength,
    epochs: o.epochs ?? sd?.epochs ?? d.epochs,
    logEvery: o.logEvery ?? d.logEvery,
    loss: o.loss ?? sd?.loss ?? d.loss,
    fromScratch,
  };
}

/**
 * Options that change nothing about the trained weights (where files go, how often to save or show progress);
 * every other key must match a checkpoint's to resume from it without --allow-config-change.
 */
export const NON_SEMANTIC_KEYS: ReadonlySet<string> = new Set([
  'outDir',
  'logDir',
  'resume',
  'allowConfigChange',
  'overwrite',
  'progress',
  'saveEvery',
  'keepLast',
  'threads',
  'onNonfinite',
  'maxNonfinite',
]);

/** Keys whose values differ between two option sets (ignoring NON_SEMANTIC_KEYS), with both values. */
export function diffOptions(saved: Record<string, unknown>, now: Record<string, unknown>): Array<{ key: string; saved: unknown; now: unknown }> {
  const keys = new Set([...Object.keys(saved), ...Object.keys(now)]);
  const enc = (v: unknown): string => (v === undefined ? '' : canonicalJson(v));
  const out: Array<{ key: string; saved: unknown; now: unknown }> = [];
  for (const k of [...keys].sort()) {
    if (NON_SEMANTIC_KEYS.has(k)) continue;
    if (enc(saved[k]) !== enc(now[k])) out.push({ key: k, saved: saved[k], now: now[k] });
  }
  return out;
}
