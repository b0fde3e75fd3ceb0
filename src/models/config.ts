// Model configuration: Hugging Face config.json fields (validated with zod) plus drhard's dual-encoder fields.
import * as fs from 'node:fs';
import { z } from 'zod';
import { DrhardInputError } from '../util/errors.ts';

/** Field names are HF's so a config.json from the hub (or from DRhard) parses without translation. */
export const encoderConfigSchema = z.looseObject({
  model_type: z.enum(['roberta', 'bert']).describe('encoder family; selects position ids and the weight-name prefix'),
  vocab_size: z.number().int().positive().describe('rows of the word embedding'),
  hidden_size: z.number().int().positive().describe('model width D'),
  num_hidden_layers: z.number().int().nonnegative().describe('transformer layers'),
  num_attention_heads: z.number().int().positive().describe('attention heads; must divide hidden_size'),
  intermediate_size: z.number().int().positive().describe('feed-forward width'),
  max_position_embeddings: z.number().int().positive().describe('rows of the position embedding'),
  type_vocab_size: z.number().int().positive().optional().describe('rows of the token-type embedding (HF default 2)'),
  pad_token_id: z.number().int().nonnegative().optional().describe('padding id (default: 1 for roberta, 0 for bert)'),
  layer_norm_eps: z.number().positive().optional().describe('LayerNorm epsilon inside the encoder (HF default 1e-12)'),
  hidden_dropout_prob: z.number().min(0).max(1).optional().describe('dropout on embeddings and sublayer outputs'),
  attention_probs_dropout_prob: z.number().min(0).max(1).optional().describe('dropout on attention probabilities'),
  hidden_act: z.literal('gelu').optional().describe('only exact-erf GELU is implemented'),
  initializer_range: z.number().positive().optional().describe('std of the normal init'),
  position_embedding_type: z.literal('absolute').optional().describe('only absolute positions are implemented'),
  architectures: z.array(z.string()).optional().describe('HF class names; drhard writes RobertaDot or BertDot'),
  pooling: z.enum(['first', 'mean']).optional().describe('drhard: first-token (CLS) or masked-mean pooling'),
  embedding_head: z.boolean().optional().describe('drhard: Linear `embeddingHead` + LayerNorm `norm` after pooling'),
  output_embedding_size: z.number().int().positive().optional().describe('DRhard: embedding size D of the head'),
  mlm_head: z.boolean().optional().describe('drhard: the model carries a tied MLM head (lm_head / cls.predictions), as pretraining checkpoints do'),
});

/** A config with every default filled in: what the model code reads. */
export interface EncoderConfig {
  modelType: 'roberta' | 'bert';
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  padTokenId: number;
  layerNormEps: number;
  hiddenDropoutProb: number;
  attentionProbsDropoutProb: number;
  initializerRange: number;
  pooling: 'first' | 'mean';
  embeddingHead: boolean;
  outputEmbeddingSize: number;
  /** Pretraining checkpoints carry HF's MLM head (`lm_head.*` / `cls.predictions.*`), decoder tied to the word embeddings. */
  mlmHead: boolean;
  /** Fields of the original config.json we do not interpret, kept so a re-save does not lose them. */
  extra: Record<string, unknown>;
}

const KNOWN = new Set(Object.keys(encoderConfigSchema.shape));

/** Validates a parsed config.json object; `file` names the source in error messages. */
export function parseConfig(json: unknown, file = 'config.json'): EncoderConfig {
  const r = encoderConfigSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new DrhardInputError(issue.message, { file, field: issue.path.join('.') || undefined });
  }
  const c = r.data;
  if (c.hidden_size % c.num_attention_heads !== 0) {
    throw new DrhardInputError(`hidden_size ${c.hidden_size} is not a multiple of num_attention_heads ${c.num_attention_heads}`, {
      file,
      field: 'num_attention_heads',
    });
  }
  const roberta = c.model_type === 'roberta';
  const pad = c.pad_token_id ?? (roberta ? 1 : 0);
  if (pad >= c.vocab_size) throw new DrhardInputError(`pad_token_id ${pad} >= vocab_size ${c.vocab_size}`, { file, field: 'pad_token_id' });
  // RoBERTa positions start at pad+1, so the table must hold pad+1+L rows for sequences of length L.
  if (roberta && c.max_position_embeddings <= pad + 1) {
    throw new DrhardInputError(`max_position_embeddings ${c.max_position_embeddings} leaves no positions after pad_token_id ${pad}`, {
      file,
      field: 'max_position_embeddings',
    });
  }
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) if (!KNOWN.has(k)) extra[k] = v;
  return {
    modelType: c.model_type,
    vocabSize: c.vocab_size,
    hiddenSize: c.hidden_size,
    numHiddenLayers: c.num_hidden_layers,
    numAttentionHeads: c.num_attention_heads,
    intermediateSize: c.intermediate_size,
    maxPositionEmbeddings: c.max_position_embeddings,
    typeVocabSize: c.type_vocab_size ?? 2,
    padTokenId: pad,
    layerNormEps: c.layer_norm_eps ?? 1e-12,
    hiddenDropoutProb: c.hidden_dropout_prob ?? 0.1,
    attentionProbsDropoutProb: c.attention_probs_dropout_prob ?? 0.1,
    initializerRange: c.initializer_range ?? 0.02,
    pooling: c.pooling ?? 'first',
    embeddingHead: c.embedding_head ?? true,
    outputEmbeddingSize: c.output_embedding_size ?? c.hidden_size,
    mlmHead: c.mlm_head ?? false,
    extra,
  };
}

/**
 * config.json key marking a model that started from random weights (`drhard init-model`, `--init-config`); kept by
 * every model trained from it, so `drhard train` can choose its from-scratch defaults (see train/options.ts).
 */
export const SCRATCH_KEY = 'drhard_from_scratch';

/** Whether a config descends from a randomly initialized model (SCRATCH_KEY). */
export function isFromScratch(c: EncoderConfig): boolean {
  return c.extra[SCRATCH_KEY] === true;
}

/** Reads and validates `path` (a config.json). */
export function readConfig(path: string): EncoderConfig {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw new DrhardInputError(`cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file: path });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new DrhardInputError(`not valid JSON (${(e as Error).message})`, { file: path });
  }
  return parseConfig(json, path);
}

/** The config.json object drhard writes: HF fields (so transformers can build the encoder) plus drhard's. */
export function configToJson(c: EncoderConfig): Record<string, unknown> {
  const arch = c.modelType === 'roberta' ? 'RobertaDot' : 'BertDot';
  return {
    ...c.extra,
    architectures: [arch],
    model_type: c.modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    intermediate_size: c.intermediateSize,
    max_position_embeddings: c.maxPositionEmbeddings,
    type_vocab_size: c.typeVocabSize,
    pad_token_id: c.padTokenId,
    layer_norm_eps: c.layerNormEps,
    hidden_dropout_prob: c.hiddenDropoutProb,
    attention_probs_dropout_prob: c.attentionProbsDropoutProb,
    hidden_act: 'gelu',
    initializer_range: c.initializerRange,
    position_embedding_type: 'absolute',
    pooling: c.pooling,
    embedding_head: c.embeddingHead,
    output_embedding_size: c.outputEmbeddingSize,
    ...(c.mlmHead ? { mlm_head: true } : {}),
  };
}

/** Partial options for `createConfig`; unspecified fields take HF's defaults for the family. */
export type ConfigInit = Partial<Omit<EncoderConfig, 'extra'>> & Pick<EncoderConfig, 'modelType' | 'vocabSize'>;

/** A from-scratch config (the demo's small RoBERTa/BERT-like model) with HF defaults per family. */
export function createConfig(init: ConfigInit): EncoderConfig {
  const roberta = init.modelType === 'roberta';
  const hidden = init.hiddenSize ?? 256;
  const pad = init.padTokenId ?? (roberta ? 1 : 0);
  const json = {
    model_type: init.modelType,
    vocab_size: init.vocabSize,
    hidden_size: hidden,
    num_hidden_layers: init.numHiddenLayers ?? 4,
    num_attention_heads: init.numAttentionHeads ?? 4,
    intermediate_size: init.intermediateSize ?? hidden * 4,
    // RoBERTa reserves pad+1 leading rows, hence 514 for 512 tokens.
    max_position_embeddings: init.maxPositionEmbeddings ?? (roberta ? 514 : 512),
    type_vocab_size: init.typeVocabSize ?? (roberta ? 1 : 2),
    pad_token_id: pad,
    layer_norm_eps: init.layerNormEps ?? (roberta ? 1e-5 : 1e-12),
    hidden_dropout_prob: init.hiddenDropoutProb ?? 0.1,
    attention_probs_dropout_prob: init.attentionProbsDropoutProb ?? 0.1,
    initializer_range: init.initializerRange ?? 0.02,
    pooling: init.pooling ?? 'first',
    embedding_head: init.embeddingHead ?? true,
    output_embedding_size: init.outputEmbeddingSize ?? hidden,
    mlm_head: init.mlmHead ?? false,
  };
  return parseConfig(json, '<createConfig>');
}
