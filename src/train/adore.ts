// ADORE (DRhard adore/train.py): encode queries, search the fixed document index with the detached embeddings,
// label and extend the lists, RankNet loss with gradient to the query encoder only. Also the pairing of a trained
// query encoder with the exact document-embeddings file it was trained against.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tidy } from '../tensor/index.ts';
import type { DotModel } from '../models/dual.ts';
import { CONFIG_FILE } from '../models/checkpoint.ts';
import { DenseSearcher } from '../retrieval/search.ts';
import { embeddingsSha256, indexManifestPath, loadIndex } from '../retrieval/ann.ts';
import { adoreLoss, buildAdoreLists, listTensors } from '../losses/adore.ts';
import { DrhardInputError } from '../util/errors.ts';
import type { TrainData } from './data.ts';
import { tokenBatch } from './star.ts';

/** The config.json key under which an ADORE model records its document embeddings. */
export const ADORE_CONFIG_KEY = 'drhard_adore';

export interface DocEmbeddingsIdentity {
  file: string;
  sha256: string;
  count: number;
  dim: number;
}

/** The fixed side of ADORE: the searcher over the document embeddings and their identity. */
export interface AdoreIndex {
  searcher: DenseSearcher;
  identity: DocEmbeddingsIdentity;
}

/** A saved index (`drhard search --save-index`): a file with its manifest beside it. */
function isSavedIndex(index: string): boolean {
  return fs.existsSync(indexManifestPath(index)) && fs.statSync(index, { throwIfNoEntry: false })?.isFile() === true;
}

/**
 * The searcher over the document embeddings. `index`: 'Flat' (exact), a faiss factory string built here (HNSW32 …),
 * or the path of a saved index, which must have been built from these embeddings.
 */
export function openAdoreIndex(file: string, opts: { dim: number; count: number; index: string }): AdoreIndex {
  const sha256 = embeddingsSha256(file);
  const searcher = isSavedIndex(opts.index)
    ? DenseSearcher.fromFaiss(loadIndex(opts.index, { embeddings: file }).index, { file, layout: { dim: opts.dim } })
    : DenseSearcher.fromFile(file, { index: opts.index, layout: { dim: opts.dim } });
  if (searcher.dim !== opts.dim || searcher.count !== opts.count) {
    const got = { count: searcher.count, dim: searcher.dim };
    searcher.dispose();
    throw new DrhardInputError(`holds ${got.count} × ${got.dim} vectors; the model and corpus need ${opts.count} × ${opts.dim}`, { file });
  }
  return { searcher, identity: { file: path.resolve(file), sha256, count: opts.count, dim: opts.dim } };
}

/**
 * Refuses to pair an ADORE-trained model directory with document embeddings other than those it was trained
 * against (its queries only make sense in that space). Models without the record (STAR, external) pass.
 */
export function checkAdorePairing(modelDir: string, embeddingsFile: string): void {
  const cfgFile = path.join(modelDir, CONFIG_FILE);
  let rec: unknown;
  try {
    rec = (JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as Record<string, unknown>)[ADORE_CONFIG_KEY];
  } catch (e) {
    throw new DrhardInputError(`cannot read (${(e as Error).message})`, { file: cfgFile });
  }
  if (rec === undefined) return;
  const want = (rec as Partial<DocEmbeddingsIdentity> | null)?.sha256;
  const got = embeddingsSha256(embeddingsFile);
  if (want !== got) {
    throw new DrhardInputError(
      `this ADORE query encoder was trained against document embeddings with sha256 ${String(want)}, but ${embeddingsFile} has ${got}; ` +
        'use the embeddings it was trained with',
      { file: cfgFile },
    );
  }
}

export interface AdoreStepOptions {
  /** Scores are divided by it before the pairwise loss (RankNet σ = 1/τ; DRhard: 1). */
  temperature?: number;
  maxQueryLength: number;
  padToMax: boolean;
  device: string;
  negTopk: number;
  metricCut: number;
  appendMissingPositives: boolean;
  /** Test hook: poison the loss (NaN) before backward. */
  poison?: boolean;
}

export interface AdoreStepResult {
  loss: number;
  /** Mean MRR@10 and recall@10 of the retrieved lists (DRhard's train/mrr_10, train/recall_10). */
  mrr10: number;
  recall10: number;
  /** Positives appended after the retrieved lists. */
  appended: number;
  /** Seconds spent encoding (forward), searching, and in the loss + backward. */
  tEncode: number;
  tSearch: number;
  tLoss: number;
}

const now = (): number => performance.now() / 1000;

/** One ADORE step's forward and backward (gradients accumulate into the model). */
export function adoreStep(model: DotModel, data: TrainData, queries: number[], idx: AdoreIndex, o: AdoreStepOptions): AdoreStepResult {
  return tidy(() => {
    const t0 = now();
    const tok = tokenBatch(data.queries, queries, o.maxQueryLength, data.padId, o.padToMax, o.device);
    const q = model.encode(tok.ids, tok.mask); // [B, D]
    const t1 = now();
    const none = { mrr10: 0, recall10: 0, appended: 0, tEncode: t1 - t0, tSearch: 0, tLoss: 0 };
    // The searcher refuses non-finite queries; a NaN here is the trainer's non-finite case, not bad input.
    if (!q.allFinite()) return { loss: Number.NaN, ...none };
    const hits = idx.searcher.search(q.detach(), o.negTopk);
    const t2 = now();
    const lists = buildAdoreLists(
      hits.ids,
      hits.k,
      queries.map((qo) => data.positives.row(qo)),
      { appendMissingPositives: o.appendMissingPositives },
    );
    const B = queries.length;
    const t = listTensors(lists, o.device);
    const docs = idx.searcher.docVectors(lists.ids).reshape([B, lists.L, -1]); // [B, L, D], no gradient
    let scores = (o.device === 'cpu' ? docs : docs.to(o.device)).bmm(q.unsqueeze(2)).squeeze(2); // [B, L]
    // RankNet's σ = 1/τ: DRhard's σ = 1 on raw dot products; a model trained with a listwise temperature τ has its
    // score differences on that scale, where σ = 1 saturates the logistic loss.
    if (o.temperature !== undefined && o.temperature !== 1) scores = scores.div(o.temperature);
    let { loss } = adoreLoss({ scores, labels: t.labels, valid: t.valid, metricCut: o.metricCut });
    if (o.poison === true) loss = loss.mul(Number.NaN);
    loss.backward();
    const value = loss.item();
    const mean = (a: number[]): number => a.reduce((s, x) => s + x, 0) / a.length;
    return {
      loss: value,
      mrr10: mean(lists.mrr10),
      recall10: mean(lists.recall10),
      appended: lists.appended.reduce((s, x) => s + x, 0),
      tEncode: t1 - t0,
      tSearch: t2 - t1,
      tLoss: now() - t2,
    };
  });
}
