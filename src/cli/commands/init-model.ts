// `drhard init-model`: a fresh model directory (config.json from a tokenizer and size flags, the seeded random
// init, the tokenizer files) to start training from scratch with `drhard train --init DIR`.
import type { Command } from 'commander';
import { z } from 'zod';
import { defineCommand } from '../command.ts';
import { emitResult } from '../result.ts';

const posInt = z.coerce.number().int('must be an integer').min(1, 'must be a positive integer');

const options = z.object({
  outDir: z.string().describe('model directory to write: config.json, model.safetensors and the tokenizer files (built in a temp dir, renamed into place)'),
  tokenizer: z
    .string()
    .describe('the tokenizer: a directory from `drhard tokenizer train` or any model directory with tokenizer files, a tokenizer.json, or a dataset directory (the tokenizer it was preprocessed with); sets vocab_size and pad_token_id'),
  type: z
    .enum(['auto', 'roberta', 'bert'])
    .default('auto')
    .describe('encoder family: roberta (positions start after the pad id, no token types) or bert; auto (default): bert for a WordPiece tokenizer, else roberta'),
  hiddenSize: posInt.default(256).describe('model width, hidden_size (default 256)'),
  layers: posInt.default(4).describe('transformer layers, num_hidden_layers (default 4)'),
  heads: posInt.default(4).describe('attention heads, num_attention_heads; must divide --hidden-size (default 4)'),
  intermediateSize: posInt.optional().describe('feed-forward width, intermediate_size (default 4 × hidden size)'),
  maxLength: z.coerce
    .number()
    .int('must be an integer')
    .min(2, 'must be at least 2')
    .default(512)
    .describe('longest input in tokens, special tokens included (default 512); max_position_embeddings = this + pad_token_id + 1 for roberta, this for bert'),
  pooling: z
    .enum(['first', 'mean'])
    .default('mean')
    .describe('how a sequence becomes one vector: mean (masked mean of the last layer; default, trains from scratch) or first (the first token, as DRhard; collapses when trained from scratch)'),
  embeddingHead: z.boolean().default(true).describe("Linear + LayerNorm head after pooling, as DRhard's RobertaDot (default on; --no-embedding-head: the pooled vector as is)"),
  outputEmbeddingSize: posInt.optional().describe('embedding size produced by the head, output_embedding_size (default: hidden size)'),
  dropout: z.coerce.number().min(0).max(1).default(0.1).describe('hidden and attention dropout probability (default 0.1)'),
  seed: z.coerce.number().int().default(42).describe('seed of the random initialization (default 42)'),
  overwrite: z.boolean().default(false).describe('replace an existing model directory'),
});
type Options = z.infer<typeof options>;


async function run(o: Options): Promise<void> {
  const { DrhardUsageError } = await import('../../util/errors.ts');
  if (o.hiddenSize % o.heads !== 0) throw new DrhardUsageError(`--heads: ${o.heads} does not divide --hidden-size ${o.hiddenSize}`);
  if (!o.embeddingHead && o.outputEmbeddingSize !== undefined && o.outputEmbeddingSize !== o.hiddenSize) {
    throw new DrhardUsageError('--output-embedding-size needs the embedding head (without it, embeddings have --hidden-size dimensions)');
  }
  const { initModelDir } = await import('../../models/init.ts');
  const { log } = await import('../../util/log.ts');
  const r = await initModelDir({
    out: o.outDir,
    tokenizer: o.tokenizer,
    ...(o.type !== 'auto' ? { modelType: o.type } : {}),
    hiddenSize: o.hiddenSize,
    numHiddenLayers: o.layers,
    numAttentionHeads: o.heads,
    ...(o.intermediateSize !== undefined ? { intermediateSize: o.intermediateSize } : {}),
    maxLength: o.maxLength,
    pooling: o.pooling,
    embeddingHead: o.embeddingHead,
    ...(o.outputEmbeddingSize !== undefined ? { outputEmbeddingSize: o.outputEmbeddingSize } : {}),
    dropout: o.dropout,
    seed: o.seed,
    overwrite: o.overwrite,
  });
  const c = r.config;
  log.info({ out: r.out, parameters: r.parameters }, `initialized a ${c.modelType} model with ${(r.parameters / 1e6).toFixed(2)}M parameters`);
  const summary = {
    out: r.out,
    modelType: c.modelType,
    parameters: r.parameters,
    vocabSize: c.vocabSize,
    padTokenId: c.padTokenId,
    hiddenSize: c.hiddenSize,
    layers: c.numHiddenLayers,
    heads: c.numAttentionHeads,
    intermediateSize: c.intermediateSize,
    maxLength: o.maxLength,
    maxPositionEmbeddings: c.maxPositionEmbeddings,
    pooling: c.pooling,
    embeddingHead: c.embeddingHead,
    outputEmbeddingSize: c.outputEmbeddingSize,
    tokenizer: r.tokenizer,
  };
  await emitResult(summary);
}

export function register(program: Command): void {
  defineCommand(program, {
    name: 'init-model',
    description:
      'Write a freshly initialized model directory (config.json, model.safetensors, tokenizer files) sized for training from scratch; ' +
      'start training with `drhard train --init <out-dir>`. Prints a JSON summary with the parameter count.',
    schema: options,
    placeholders: { outDir: 'dir', tokenizer: 'dir', type: 'type', pooling: 'pooling', dropout: 'p' },
    aliases: { out: 'outDir' },
    run,
  });
}
