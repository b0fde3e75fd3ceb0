// Masked-language-model objective for corpus pretraining: RoBERTa's dynamic masking (HF's
// DataCollatorForLanguageModeling.torch_mask_tokens) and the cross-entropy over the masked positions.
//
//   select   each maskable token (not padding, not a special id) with probability p (0.15)
//   replace  a selected token by <mask> with prob. 0.8, by a uniform id from [0, vocabSize) with 0.1, else keep it
//   labels   y_t = original id at selected positions, −100 elsewhere
//   L = (1/M) Σ_{t : y_t ≠ −100} −log softmax(z_t)[y_t]      (cross_entropy(ignore_index=−100), mean over the M)
//
// Shapes: ids/labels [B, L] (row-major Int32Array on the JS side), hidden [B, L, H] → gathered [M, H], logits
// [M, V] (from MlmHead in src/models/mlm.ts), labels [M].
//
// Randomness comes only from the project's Rng (in a fixed order: one draw per maskable token, one more per selected
// token, plus the random id), so a run resumed from a saved Rng state masks exactly as the uninterrupted run.
// HF draws the random replacement from the whole vocabulary (len(tokenizer)), specials included, and so do we. With
// RoBERTa a random draw of the pad id then also shifts the following position ids (create_position_ids_from_input_ids
// skips pad ids), exactly as in HF; the attention mask is the original one.
//
// At least one token per batch: if the Bernoulli draws select nothing (probability (1−p)^n for n maskable tokens,
// only plausible for tiny batches), one maskable token chosen uniformly is selected and replaced by the same
// 80/10/10 draw. HF has no such rule (its loss is then NaN, a mean over nothing); it raises the expected selection
// rate by at most 1/n. A batch with no maskable token at all gets numMasked = 0, and mlmLoss returns 0 for it.
import { crossEntropy, Tensor, tensor, tidy } from '../tensor/index.ts';
import type { Rng } from '../util/rng.ts';
import { DrhardInputError } from '../util/errors.ts';

/** Label of positions that are not predicted (torch's default ignore_index). */
export const IGNORE_INDEX = -100;

export interface MaskOptions {
  /** Random replacements are uniform over [0, vocabSize) (HF: len(tokenizer)). */
  vocabSize: number;
  /** The <mask> / [MASK] id. */
  maskTokenId: number;
  /** Padding id: never selected (and, for ragged input, what rows are padded with). */
  padTokenId: number;
  /** Ids that are never selected: the tokenizer's special ids (<s> </s> <unk> <pad> <mask>; HF's all_special_ids). */
  specialTokenIds?: Iterable<number>;
  /** Selection probability p, in (0, 1]. Default 0.15. */
  mlmProbability?: number;
  /** Share of the selected tokens replaced by the mask id. Default 0.8. */
  maskReplaceProb?: number;
  /** Share replaced by a random id (the rest stay unchanged). Default 0.1. */
  randomReplaceProb?: number;
}

/** A padded batch, row-major [B, L]. Padding is where `mask` is 0, or (without a mask) where the id is the pad id. */
export interface PaddedIds {
  ids: ArrayLike<number> | BigInt64Array;
  shape: readonly [number, number];
  mask?: ArrayLike<number> | BigInt64Array;
}

export interface MaskedBatch {
  /** [B, L] */
  shape: [number, number];
  /** [B·L] model inputs after masking (padding positions hold the pad id). */
  ids: Int32Array;
  /** [B·L] attention mask of the ORIGINAL batch: 1 = token, 0 = padding. */
  attention: Int32Array;
  /** [B·L] original id at selected positions, −100 elsewhere. */
  labels: Int32Array;
  /** Selected positions (labels ≠ −100). */
  numMasked: number;
  /** How the selected tokens were replaced. */
  counts: { mask: number; random: number; kept: number };
  /** Maskable positions (neither padding nor special). */
  numMaskable: number;
  /** Whether the at-least-one rule picked the only selected token. */
  forced: boolean;
}

const TWO_32 = 4294967296;

function checkProb(v: number, field: string, allowZero: boolean): number {
  if (!Number.isFinite(v) || v > 1 || v < 0 || (!allowZero && v === 0)) {
    throw new DrhardInputError(`must be a probability in ${allowZero ? '[0' : '(0'}, 1], got ${v}`, { field });
  }
  return v;
}

function checkId(v: number, field: string, vocabSize: number): void {
  if (!Number.isInteger(v) || v < 0 || v >= vocabSize) throw new DrhardInputError(`must be an id in [0, ${vocabSize}), got ${v}`, { field });
}

/**
 * RoBERTa/HF dynamic masking of one batch, deterministic given `rng`'s state (which it advances).
 * `input`: ragged sequences (padded here to the longest with the pad id) or a padded batch.
 */
export function maskTokens(input: readonly ArrayLike<number>[] | PaddedIds, rng: Rng, opts: MaskOptions): MaskedBatch {
  const V = opts.vocabSize;
  if (!Number.isSafeInteger(V) || V <= 0) throw new DrhardInputError(`must be a positive integer, got ${V}`, { field: 'vocabSize' });
  checkId(opts.maskTokenId, 'maskTokenId', V);
  checkId(opts.padTokenId, 'padTokenId', V);
  const p = checkProb(opts.mlmProbability ?? 0.15, 'mlmProbability', false);
  const pMask = checkProb(opts.maskReplaceProb ?? 0.8, 'maskReplaceProb', true);
  const pRand = checkProb(opts.randomReplaceProb ?? 0.1, 'randomReplaceProb', true);
  if (pMask + pRand > 1 + 1e-12) throw new DrhardInputError(`maskReplaceProb + randomReplaceProb = ${pMask + pRand} > 1`, { field: 'randomReplaceProb' });

  let B: number;
  let L: number;
  let ids: Int32Array;
  let attention: Int32Array;
  const pad = opts.padTokenId;
  if ('shape' in input) {
    [B, L] = input.shape;
    const n = B * L;
    if (input.ids.length !== n) throw new RangeError(`maskTokens: ${input.ids.length} ids for shape [${B}, ${L}]`);
    if (input.mask && input.mask.length !== n) throw new RangeError(`maskTokens: ${input.mask.length} mask entries for shape [${B}, ${L}]`);
    ids = new Int32Array(n);
    attention = new Int32Array(n);
    const src = input.ids;
    const m = input.mask;
    for (let i = 0; i < n; i++) {
      ids[i] = Number(src[i]);
      attention[i] = m ? (Number(m[i]) !== 0 ? 1 : 0) : ids[i] !== pad ? 1 : 0;
      if (!attention[i]) ids[i] = pad;
    }
  } else {
    B = input.length;
    L = input.reduce((a, s) => Math.max(a, s.length), 0);
    ids = new Int32Array(B * L).fill(pad);
    attention = new Int32Array(B * L);
    input.forEach((s, b) => {
      for (let j = 0; j < s.length; j++) {
        ids[b * L + j] = s[j] as number;
        attention[b * L + j] = 1;
      }
    });
  }

  const special = new Set<number>(opts.specialTokenIds ?? []);
  special.add(pad);
  const n = B * L;
  const labels = new Int32Array(n).fill(IGNORE_INDEX);
  const counts = { mask: 0, random: 0, kept: 0 };
  // next() < t has probability ⌈t⌉/2³²: p to within 2⁻³².
  const tSel = p * TWO_32;
  const tMask = pMask * TWO_32;
  const tRand = (pMask + pRand) * TWO_32;
  const replace = (i: number): void => {
    labels[i] = ids[i] as number;
    const u = rng.next();
    if (u < tMask) {
      ids[i] = opts.maskTokenId;
      counts.mask++;
    } else if (u < tRand) {
      ids[i] = rng.int(V);
      counts.random++;
    } else counts.kept++;
  };
  const maskable = (i: number): boolean => attention[i] === 1 && !special.has(ids[i] as number);

  let numMaskable = 0;
  let numMasked = 0;
  for (let i = 0; i < n; i++) {
    if (!maskable(i)) continue;
    numMaskable++;
    if (rng.next() < tSel) {
      replace(i);
      numMasked++;
    }
  }
  let forced = false;
  if (numMasked === 0 && numMaskable > 0) {
    // Nothing was replaced, so ids still hold the originals and `maskable` still finds the same positions.
    let k = rng.int(numMaskable);
    for (let i = 0; i < n; i++) {
      if (!maskable(i)) continue;
      if (k-- === 0) {
        replace(i);
        break;
      }
    }
    numMasked = 1;
    forced = true;
  }
  return { shape: [B, L], ids, attention, labels, numMasked, counts, numMaskable, forced };
}

function int64(a: Int32Array, shape: number[], device: string): Tensor {
  return tensor(BigInt64Array.from(a, (x) => BigInt(x)), { shape, device });
}

/** The masked batch as int64 tensors [B, L] on `device`: ids and attention mask for the tower, labels. */
export function maskedBatchTensors(m: MaskedBatch, device = 'cpu'): { ids: Tensor; mask: Tensor; labels: Tensor } {
  return { ids: int64(m.ids, m.shape, device), mask: int64(m.attention, m.shape, device), labels: int64(m.labels, m.shape, device) };
}

/**
 * The hidden states of the predicted positions only, so the head's [·, V] product runs on M rows instead of B·L.
 * hidden [B, L, H]; labels [B, L] as a tensor or row-major numbers (MaskedBatch.labels: no device sync).
 * Returns hidden [M, H], labels [M] int64 (on hidden's device) and the flat positions index [M] (b·L + j, ascending).
 */
export function gatherMasked(hidden: Tensor, labels: Tensor | ArrayLike<number>): { hidden: Tensor; labels: Tensor; index: Tensor } {
  const [B, L, H] = hidden.shape as [number, number, number];
  const flat = labels instanceof Tensor ? labels.toInt32Array() : labels;
  if (flat.length !== B * L) throw new RangeError(`gatherMasked: ${flat.length} labels for hidden [${B}, ${L}, ${H}]`);
  const pos: bigint[] = [];
  const lab: bigint[] = [];
  for (let i = 0; i < flat.length; i++) {
    const y = flat[i] as number;
    if (y !== IGNORE_INDEX) {
      pos.push(BigInt(i));
      lab.push(BigInt(y));
    }
  }
  return tidy(() => {
    const device = hidden.device;
    const index = tensor(BigInt64Array.from(pos), { shape: [pos.length], device });
    return {
      hidden: hidden.reshape([B * L, H]).indexSelect(0, index),
      labels: tensor(BigInt64Array.from(lab), { shape: [lab.length], device }),
      index,
    };
  });
}

/**
 * Mean cross-entropy of logits [N, V] over the positions whose label [N] is not −100 (torch's
 * F.cross_entropy(logits, labels, ignore_index=-100)); half-precision logits are upcast to float32 first (as
 * autocast does). With no predicted position the loss is 0 (still connected to the graph) instead of torch's NaN.
 */
export function mlmLoss(logits: Tensor, labels: Tensor, count?: number): Tensor {
  return tidy(() => {
    const z = logits.dtype === 'float16' || logits.dtype === 'bfloat16' ? logits.to('float32') : logits;
    const y = labels.to({ dtype: 'int64', device: z.device });
    const sum = crossEntropy(z, y, { reduction: 'sum', ignoreIndex: IGNORE_INDEX });
    // A given count (distributed: the whole batch's masked positions) replaces this batch's own.
    if (count !== undefined) return sum.div(Math.max(1, count));
    const n = y.ne(IGNORE_INDEX).sum().clamp(1).to(z.dtype);
    return sum.div(n);
  });
}
