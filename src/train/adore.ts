// ADORE (DRhard adore/train.py): encode queries, search the fixed document index with the detached embeddings,
// label and extend the lists, RankNet loss with gradient to the query encoder only. Also the pairing of a trained
// query encoder with the exact document-embeddings file it was trained against.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tidy, zeros, type Tensor } from '../tensor/index.ts';
import type { DotModel } from '../models/dual.ts';
import { CONFIG_FILE } from '../models/checkpoint.ts';
import { DenseSearcher, type SearchHits } from '../retrieval/search.ts';
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

/**
 * Where a step's retrieval runs: the whole index in this process, or one shard per rank (src/dist/adore.ts). Every
 * process calls gather, search and docVectors with the same global batch, in the same order (they may be collectives).
 */
export interface AdoreRetrieval {
  /** Processes sharing the batch (1: this one alone). */
  readonly world: number;
  /** This process's rows [start, end) of a global batch of B queries. */
  slice(B: number): [number, number];
  /** Every process's query embeddings [B, D] (detached) from this process's rows [end − start, D]. */
  gather(local: Tensor): Tensor;
  /** The exact top-k of the global batch, score descending, ties by lower offset. */
  search(q: Tensor, k: number): SearchHits;
  /** Stored vectors [n, D] of global doc offsets. */
  docVectors(ids: Int32Array): Tensor;
}

/** The single-process retrieval: the whole index here. */
export function localRetrieval(idx: Pick<AdoreIndex, 'searcher'>): AdoreRetrieval {
  return {
    world: 1,
    slice: (B) => [0, B],
    gather: (local) => local,
    search: (q, k) => idx.searcher.search(q, k),
    docVectors: (ids) => idx.searcher.docVectors(ids),
  };
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
  /** The global batch's retrieved doc offsets [B, k] (-1: none); empty when the step stopped on a non-finite query. */
  retrieved: { ids: Int32Array; k: number };
}

const now = (): number => performance.now() / 1000;

/**
 * One ADORE step's forward and backward (gradients accumulate into the model). With a distributed retrieval each
 * process encodes its slice of `queries` (the global batch), the slices' embeddings are gathered and searched
 * together, and the process's loss is Σ_{its queries} loss_q · W/B, so the gradient averaged over W processes is
 * the one-process gradient of the batch mean Σ_q loss_q / B whatever the slice sizes. Returned metrics are the whole
 * batch's (every process builds every list); the loss is this process's part (its mean over processes is the batch's).
 */
export function adoreStep(model: DotModel, data: TrainData, queries: number[], idx: AdoreIndex | AdoreRetrieval, o: AdoreStepOptions): AdoreStepResult {
  const r = 'gather' in idx ? idx : localRetrieval(idx);
  return tidy(() => {
    const t0 = now();
    const B = queries.length;
    const [start, end] = r.slice(B);
    const n = end - start;
    let q: Tensor | null = null; // [n, D]
    if (n > 0) {
      const tok = tokenBatch(data.queries, queries.slice(start, end), o.maxQueryLength, data.padId, o.padToMax, o.device);
      q = model.encode(tok.ids, tok.mask);
    }
    const qAll = r.gather(q === null ? zeros([0, model.dim], { device: o.device }) : q.detach()); // [B, D]
    const t1 = now();
    const none = { mrr10: 0, recall10: 0, appended: 0, tEncode: t1 - t0, tSearch: 0, tLoss: 0, retrieved: { ids: new Int32Array(0), k: 0 } };
    // The searcher refuses non-finite queries; a NaN here is the trainer's non-finite case, not bad input. Every
    // process sees the same gathered batch, so all of them stop here together.
    if (!qAll.allFinite()) return { loss: Number.NaN, ...none };
    const hits = r.search(qAll, o.negTopk);
    const t2 = now();
    const lists = buildAdoreLists(
      hits.ids,
      hits.k,
      queries.map((qo) => data.positives.row(qo)),
      { appendMissingPositives: o.appendMissingPositives },
    );
    const L = lists.L;
    // Every process asks for the whole batch's vectors (a distributed retrieval gathers them from the shards).
    const vectors = r.docVectors(lists.ids); // [B·L, D], no gradient
    let value = 0;
    if (q !== null) {
      const t = listTensors(lists, o.device);
      const part = (x: Tensor): Tensor => (n === B ? x : x.narrow(0, start, n));
      const docs = part(vectors.reshape([B, L, -1])); // [n, L, D]
      let scores = (o.device === 'cpu' ? docs : docs.to(o.device)).bmm(q.unsqueeze(2)).squeeze(2); // [n, L]
      // RankNet's σ = 1/τ: DRhard's σ = 1 on raw dot products; a model trained with a listwise temperature τ has its
      // score differences on that scale, where σ = 1 saturates the logistic loss.
      if (o.temperature !== undefined && o.temperature !== 1) scores = scores.div(o.temperature);
      const out = adoreLoss({ scores, labels: part(t.labels), valid: part(t.valid), metricCut: o.metricCut });
      let loss = r.world === 1 ? out.loss : out.perQuery.sum().mul(r.world / B);
      if (o.poison === true) loss = loss.mul(Number.NaN);
      loss.backward();
      value = loss.item();
    } else if (o.poison === true) value = Number.NaN;
    const mean = (a: number[]): number => a.reduce((s, x) => s + x, 0) / a.length;
    return {
      loss: value,
      mrr10: mean(lists.mrr10),
      recall10: mean(lists.recall10),
      appended: lists.appended.reduce((s, x) => s + x, 0),
      tEncode: t1 - t0,
      tSearch: t2 - t1,
      tLoss: now() - t2,
      retrieved: { ids: hits.ids, k: hits.k },
    };
  });
}
