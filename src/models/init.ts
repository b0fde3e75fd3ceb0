// A fresh (randomly initialized) model directory for training from scratch: config.json derived from a tokenizer
// and the size options, model.safetensors of the seeded init, and the tokenizer files.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadTokenizer } from '../tokenizers/load.ts';
import { findTokenizerDir } from '../tokenizers/files.ts';
import { DrhardInputError, DrhardUsageError } from '../util/errors.ts';
import { publishDir } from '../util/fsx.ts';
import { CONFIG_FILE, saveModel } from './checkpoint.ts';
import { createConfig, SCRATCH_KEY, type EncoderConfig } from './config.ts';
import { createModel } from './dual.ts';

export interface InitModelOptions {
  /** Model directory to write (built in a temp dir beside it, renamed into place). */
  out: string;
  /** A tokenizer or model directory, a tokenizer.json file, or a dataset directory (its recorded tokenizer). */
  tokenizer: string;
  /** Encoder family (default: bert for a WordPiece tokenizer, else roberta). */
  modelType?: 'roberta' | 'bert';
  /** Width (default 256). */
  hiddenSize?: number;
  /** Transformer layers (default 4). */
  numHiddenLayers?: number;
  /** Attention heads (default 4); must divide hiddenSize. */
  numAttentionHeads?: number;
  /** Feed-forward width (default 4 × hiddenSize). */
  intermediateSize?: number;
  /** Longest sequence in tokens, special tokens included (default 512); sets max_position_embeddings. */
  maxLength?: number;
  /** 'mean' (default: from scratch, first-token pooling collapses) or 'first'. */
  pooling?: 'first' | 'mean';
  /** Linear + LayerNorm head after pooling, as DRhard's RobertaDot (default true). */
  embeddingHead?: boolean;
  /** Embedding size of the head (default hiddenSize). */
  outputEmbeddingSize?: number;
  /** hidden_dropout_prob and attention_probs_dropout_prob (default 0.1). */
  dropout?: number;
  /** Seed of the initialization (default 42). */
  seed?: number;
  /** Replace an existing model directory at `out` (one with a config.json). */
  overwrite?: boolean;
}

export interface InitModelResult {
  out: string;
  config: EncoderConfig;
  parameters: number;
  /** Where the tokenizer files were copied from. */
  tokenizer: string;
}

/** max_position_embeddings for sequences of `maxLength` tokens: RoBERTa's positions start after padding_idx. */
export function positionsFor(modelType: 'roberta' | 'bert', maxLength: number, padTokenId: number): number {
  return modelType === 'roberta' ? maxLength + padTokenId + 1 : maxLength;
}

/** Writes a freshly initialized model directory that `drhard train --init` (and loadModel) accepts. */
export async function initModelDir(opts: InitModelOptions): Promise<InitModelResult> {
  const tokDir = findTokenizerDir([opts.tokenizer]);
  if (tokDir === undefined) {
    throw new DrhardInputError('no tokenizer here: expected tokenizer.json, vocab.json + merges.txt, vocab.txt, or a dataset directory that records its tokenizer', {
      file: opts.tokenizer,
    });
  }
  const tok = await loadTokenizer(tokDir);
  const modelType = opts.modelType ?? (tok.info.model === 'WordPiece' ? 'bert' : 'roberta');
  const hidden = opts.hiddenSize ?? 256;
  const heads = opts.numAttentionHeads ?? 4;
  if (hidden % heads !== 0) throw new DrhardUsageError(`hidden size ${hidden} is not a multiple of the number of heads ${heads}`);
  const maxLength = opts.maxLength ?? 512;
  if (!Number.isInteger(maxLength) || maxLength < 2) throw new DrhardUsageError(`max length must be an integer >= 2, got ${maxLength}`);
  const pad = tok.padId;
  const dropout = opts.dropout ?? 0.1;
  const config = createConfig({
    modelType,
    vocabSize: tok.vocabSize,
    padTokenId: pad,
    hiddenSize: hidden,
    numHiddenLayers: opts.numHiddenLayers ?? 4,
    numAttentionHeads: heads,
    intermediateSize: opts.intermediateSize ?? 4 * hidden,
    maxPositionEmbeddings: positionsFor(modelType, maxLength, pad),
    pooling: opts.pooling ?? 'mean',
    embeddingHead: opts.embeddingHead ?? true,
    outputEmbeddingSize: opts.outputEmbeddingSize ?? hidden,
    hiddenDropoutProb: dropout,
    attentionProbsDropoutProb: dropout,
  });
  const out = path.resolve(opts.out);
  if (fs.existsSync(out)) {
    const entries = fs.statSync(out).isDirectory() ? fs.readdirSync(out) : null;
    if (entries === null) throw new DrhardUsageError(`${out} exists and is not a directory`);
    if (entries.length > 0) {
      if (opts.overwrite !== true) throw new DrhardUsageError(`output directory ${out} exists; pass --overwrite to replace it`);
      if (!entries.includes(CONFIG_FILE)) throw new DrhardUsageError(`refusing to overwrite ${out}: it is not a model directory (no ${CONFIG_FILE})`);
    }
  }
  // HF configs name the sequence markers too; loaders that build a tokenizer from the config read them.
  // Marks the lineage: `drhard train` picks its from-scratch defaults for this model and every model trained from it.
  const extra: Record<string, unknown> = { [SCRATCH_KEY]: true };
  if (tok.clsId >= 0) extra['bos_token_id'] = tok.clsId;
  if (tok.sepId >= 0) extra['eos_token_id'] = tok.sepId;
  let parameters = 0;
  await publishDir(out, (tmp) => {
    const model = createModel(config, { seed: opts.seed ?? 42 });
    try {
      parameters = model.numParameters();
      saveModel(model, tmp, extra, { tokenizer: tokDir });
    } finally {
      model.dispose();
    }
  });
  return { out, config, parameters, tokenizer: tokDir };
}
