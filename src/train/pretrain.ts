// Corpus-only pretraining (`drhard pretrain`): contrastive random-crop pairs (Contriever) and/or masked language
// modelling (RoBERTa's dynamic masking), on the documents of a dataset, with no queries or labels.
import { tensor, tidy, type Tensor } from '../tensor/index.ts';
import type { DotModel } from '../models/dual.ts';
import type { TokenStore } from '../data/tokenstore.ts';
import { openDataset } from '../data/dataset.ts';
import { listwiseLoss } from '../losses/listwise.ts';
import { IGNORE_INDEX, gatherMasked, maskTokens, maskedBatchTensors, mlmLoss, type MaskedBatch } from '../losses/mlm.ts';
import { loadTokenizer } from '../tokenizers/load.ts';
import { findTokenizerDir } from '../tokenizers/files.ts';
import { DrhardInputError } from '../util/errors.ts';
import type { Rng } from '../util/rng.ts';
import { Csr, type TrainData } from './data.ts';

export const OBJECTIVES = ['contrastive', 'mlm', 'both'] as const;
export type Objective = (typeof OBJECTIVES)[number];

/** A span [lo, hi] of a document's length, as fractions. */
export interface CropRange {
  min: number;
  max: number;
}

export interface CropOptions {
  /** The query-side view: a short span, like a query. */
  query: CropRange;
  /** The document-side view. */
  doc: CropRange;
  /** Each token of a view is dropped with this probability (Contriever: 0.1); a view keeps at least one token. */
  deletion: number;
}

/**
 * One random view of a token row `[<s>, x1 … xn, </s>]`: a contiguous span of ⌈f·n⌉ content tokens (f uniform in
 * [min, max], start uniform), tokens deleted with probability `deletion`, re-wrapped in the row's first and last
 * token. Rows of at most one content token are returned whole.
 */
export function cropView(row: Int32Array, range: CropRange, deletion: number, rng: Rng): number[] {
  const n = row.length - 2;
  if (n <= 1) return Array.from(row);
  const f = range.min + (range.max - range.min) * rng.float();
  const len = Math.min(n, Math.max(1, Math.ceil(f * n)));
  const start = rng.int(n - len + 1);
  const kept: number[] = [];
  for (let i = 0; i < len; i++) {
    const tok = row[1 + start + i] as number;
    if (deletion > 0 && rng.float() < deletion) continue;
    kept.push(tok);
  }
  if (kept.length === 0) kept.push(row[1 + start + rng.int(len)] as number);
  return [row[0] as number, ...kept, row[row.length - 1] as number];
}

/** A view cut to `max` tokens keeping its last (</s>), as the stores' read-time truncation does. */
function truncateView(v: number[], max: number): number[] {
  return v.length <= max ? v : [...v.slice(0, max - 1), v[v.length - 1] as number];
}

/** Pads token lists (each already ≤ maxLen) into [B, L] int64 ids and mask on `device`. */
export function padViews(views: number[][], padId: number, device: string): { ids: Tensor; mask: Tensor } {
  const L = Math.max(...views.map((v) => v.length));
  const ids = new Int32Array(views.length * L).fill(padId);
  const mask = new Int32Array(views.length * L);
  views.forEach((v, b) => {
    ids.set(v, b * L);
    mask.fill(1, b * L, b * L + v.length);
  });
  return tidy(() => ({
    ids: tensor(ids, { shape: [views.length, L] }).to({ dtype: 'int64', device }),
    mask: tensor(mask, { shape: [views.length, L] }).to({ dtype: 'int64', device }),
  }));
}

/** A row of `store` cut as the trainer reads documents: DRhard's read-time truncation to maxLen tokens. */
export function truncatedRow(store: TokenStore, row: number, maxLen: number): Int32Array {
  const t = store.get(row);
  if (t.length <= maxLen) return t;
  const out = t.slice(0, maxLen);
  out[maxLen - 1] = t[t.length - 1] as number;
  return out;
}

export interface ContrastiveStepOptions {
  crop: CropOptions;
  maxQueryLength: number;
  maxDocLength: number;
  temperature: number;
  device: string;
}

/** The two views of each document of a batch: A (query-like, cut to maxQueryLength) and B (document-like). */
export interface CropViews {
  a: number[][];
  b: number[][];
}

/** Draws the views of every row, in row order (view A then view B of each row): the RNG order one process uses. */
export function drawCropViews(docs: TokenStore, rows: readonly number[], rng: Rng, o: Pick<ContrastiveStepOptions, 'crop' | 'maxQueryLength' | 'maxDocLength'>): CropViews {
  const a: number[][] = [];
  const b: number[][] = [];
  for (const r of rows) {
    const row = truncatedRow(docs, r, o.maxDocLength);
    a.push(truncateView(cropView(row, o.crop.query, o.crop.deletion, rng), o.maxQueryLength));
    b.push(cropView(row, o.crop.doc, o.crop.deletion, rng));
  }
  return { a, b };
}

/**
 * The listwise loss of drawn views (view A of document i must score its own view B above the others' B views).
 * `gather` (distributed, cross-rank negatives) turns this process's embeddings into every rank's, in batch order.
 */
export function viewsContrastiveLoss(model: DotModel, views: CropViews, padId: number, o: Pick<ContrastiveStepOptions, 'temperature' | 'device'>, gather?: ((t: Tensor) => Tensor) | null): Tensor {
  return tidy(() => {
    const qa = padViews(views.a, padId, o.device);
    const db = padViews(views.b, padId, o.device);
    let qe = model.encode(qa.ids, qa.mask);
    let de = model.encode(db.ids, db.mask);
    if (gather) {
      qe = gather(qe);
      de = gather(de);
    }
    return listwiseLoss({ queries: qe, positives: de, inbatch: true, temperature: o.temperature });
  });
}

/**
 * Contrastive crop loss for a batch of documents: view A (query-like) of document i must score its own view B
 * above the B views of the other documents (listwise, in-batch negatives). Returns the loss tensor (with graph).
 */
export function contrastiveLoss(model: DotModel, docs: TokenStore, rows: readonly number[], padId: number, rng: Rng, o: ContrastiveStepOptions): Tensor {
  return viewsContrastiveLoss(model, drawCropViews(docs, rows, rng, o), padId, o);
}

/**
 * The dataset's corpus as training "queries": every document with at least one content token is a row, so the
 * trainer's epoch order, checkpointing and resume apply unchanged.
 */
export function loadCorpusData(dir: string): TrainData {
  const dataset = openDataset(dir);
  try {
    const docs = dataset.corpus;
    const rows: number[] = [];
    for (let i = 0; i < docs.count; i++) if (docs.length(i) >= 3) rows.push(i);
    if (rows.length === 0) throw new DrhardInputError('the corpus has no document with a content token to pretrain on', { file: dir });
    let ids: string[] | undefined;
    return {
      dataset,
      split: 'corpus',
      queries: docs,
      docs,
      padId: dataset.manifest.tokenizer.padId,
      queryRows: Int32Array.from(rows),
      positives: new Csr(new Int32Array(docs.count + 1), new Int32Array(0)),
      negatives: null,
      queryId: (o) => (ids ??= dataset.docIds())[o] ?? `#${o}`,
    };
  } catch (e) {
    dataset.close();
    throw e;
  }
}

/** What masking needs from the tokenizer. */
export interface MaskVocab {
  vocabSize: number;
  maskTokenId: number;
  padTokenId: number;
  specialTokenIds: number[];
}

const SPECIAL_TOKENS = ['<s>', '</s>', '<pad>', '<unk>', '<mask>', '[CLS]', '[SEP]', '[PAD]', '[UNK]', '[MASK]'];

/** The mask id and special ids of the tokenizer that made the dataset (or of the --init model directory). */
export async function maskVocab(candidates: ReadonlyArray<string | undefined>, vocabSize: number, padTokenId: number): Promise<MaskVocab> {
  const dir = findTokenizerDir(candidates);
  if (dir === undefined) {
    throw new DrhardInputError(`the MLM objective needs the tokenizer's mask token, and no tokenizer files were found in ${candidates.filter(Boolean).join(' or ')}`);
  }
  const tok = await loadTokenizer(dir);
  const specials = SPECIAL_TOKENS.map((t) => tok.tokenToId(t)).filter((x): x is number => x !== undefined);
  const maskTokenId = tok.tokenToId('<mask>') ?? tok.tokenToId('[MASK]');
  if (maskTokenId === undefined) throw new DrhardInputError('the tokenizer has no <mask> or [MASK] token', { file: dir });
  if (maskTokenId >= vocabSize) throw new DrhardInputError(`mask token id ${maskTokenId} >= the model's vocab_size ${vocabSize}`, { file: dir });
  return { vocabSize, maskTokenId, padTokenId, specialTokenIds: specials };
}

/** RoBERTa's dynamic masking of a batch of documents (15%, 80/10/10, drawn from `rng` over the whole batch). */
export function drawMasks(docs: TokenStore, rows: readonly number[], rng: Rng, o: { vocab: MaskVocab; probability: number; maxDocLength: number }): MaskedBatch {
  const views = rows.map((r) => Array.from(truncatedRow(docs, r, o.maxDocLength)));
  return maskTokens(views, rng, { ...o.vocab, mlmProbability: o.probability });
}

/** Rows [start, end) of a masked batch (same padded length L). */
export function sliceMasked(m: MaskedBatch, start: number, end: number): MaskedBatch {
  const L = m.shape[1];
  const labels = m.labels.slice(start * L, end * L);
  let n = 0;
  for (const y of labels) if (y !== IGNORE_INDEX) n++;
  return { ...m, shape: [end - start, L], ids: m.ids.slice(start * L, end * L), attention: m.attention.slice(start * L, end * L), labels, numMasked: n };
}

/**
 * The summed cross-entropy of the masked positions divided by `count` (default: their number, the batch mean); the
 * head is applied to the masked positions only.
 */
export function maskedLoss(model: DotModel, m: MaskedBatch, device: string, count?: number): Tensor {
  return tidy(() => {
    const t = maskedBatchTensors(m, device);
    const h = model.backbone.forward(t.ids, t.mask); // [B, L, H]
    const g = gatherMasked(h, m.labels); // [M, H]
    return mlmLoss(model.mlmLogits(g.hidden), g.labels, count);
  });
}

/**
 * MLM loss of a batch of documents with RoBERTa's dynamic masking (15%, 80/10/10, drawn from `rng`), the head applied
 * to the masked positions only. Returns the loss tensor (with graph).
 */
export function mlmBatchLoss(model: DotModel, docs: TokenStore, rows: readonly number[], rng: Rng, o: { vocab: MaskVocab; probability: number; maxDocLength: number; device: string }): Tensor {
  return maskedLoss(model, drawMasks(docs, rows, rng, o), o.device);
}
