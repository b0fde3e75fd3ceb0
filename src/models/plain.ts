// Plain Hugging Face encoders (RobertaModel/BertModel/…ForMaskedLM weights without DRhard's `embeddingHead`/`norm`):
// loaded headless with the pooling the caller names, or refused with the exact config keys and flags that fix it.
import { DrhardInputError } from '../util/errors.ts';
import type { EncoderConfig } from './config.ts';

export interface PlainEncoderOptions {
  /** Pooling for a plain encoder (CLI --pooling): 'first' ([CLS]/<s>, as DRhard/ANCE) or 'mean' (masked mean). */
  pooling?: 'first' | 'mean' | undefined;
}

export interface PlainEncoderResolution {
  config: EncoderConfig;
  /** Checkpoint keys to skip: HF heads a headless dual encoder never uses (pooler, MLM head). */
  skip: (key: string) => boolean;
  /** True when the checkpoint was taken as a plain encoder (no head). */
  plain: boolean;
}

const HEAD_PREFIXES = ['embeddingHead.', 'norm.'];

/**
 * Decides how to read a checkpoint whose keys are `keys` (already normalized) under `config` (from `configFile`).
 * A checkpoint with head weights, or a config that turned the head off, loads as it is (with `pooling` applied when
 * given). A checkpoint without head weights under a config that expects one (the default: an HF config.json has no
 * `embedding_head` key) loads headless when `pooling` is given, and otherwise fails naming the fix.
 */
export function resolvePlainEncoder(config: EncoderConfig, keys: Iterable<string>, configFile: string, weightsFile: string, opts: PlainEncoderOptions): PlainEncoderResolution {
  const withPooling = opts.pooling !== undefined ? { ...config, pooling: opts.pooling } : config;
  const all = [...keys];
  const hasHead = all.some((k) => HEAD_PREFIXES.some((p) => k.startsWith(p)));
  const hasEncoder = all.some((k) => k.startsWith(`${config.modelType}.embeddings.`));
  const keepAll = { config: withPooling, skip: () => false, plain: false };
  if (!config.embeddingHead || hasHead || !hasEncoder) return keepAll;
  if (opts.pooling === undefined) {
    throw new DrhardInputError(
      `a plain ${config.modelType} encoder (no embeddingHead.*/norm.* weights, which DRhard's ${config.modelType === 'roberta' ? 'RobertaDot' : 'BertDot'} has): ` +
        `to use it without a head pass --pooling first (the [CLS]/<s> vector, as DRhard and ANCE) or --pooling mean (masked mean, as sentence-transformers), ` +
        `or set "embedding_head": false and "pooling": "first" (or "mean") in ${configFile}; to train a head on it, give it to drhard train as the initial model`,
      { file: weightsFile },
    );
  }
  const unused = [`${config.modelType}.pooler.`, ...(config.mlmHead ? [] : ['lm_head.', 'cls.'])];
  return { config: { ...withPooling, embeddingHead: false }, skip: (k) => unused.some((p) => k.startsWith(p)), plain: true };
}
