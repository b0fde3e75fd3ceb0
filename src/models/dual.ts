// Dual-encoder models as DRhard's RobertaDot: one shared tower for queries and documents, pooling, then an
// optional Linear `embeddingHead` + LayerNorm `norm`. Scores are dot products of the embeddings.
import { manualSeed, tidy, type Tensor } from '../tensor/index.ts';
import { Dropout, LayerNorm, Linear } from '../nn/layers.ts';
import { Module } from '../nn/module.ts';
import { createConfig, type ConfigInit, type EncoderConfig } from './config.ts';
import { TransformerModel } from './encoder.ts';
import { BertOnlyMLMHead, RobertaLMHead } from './mlm.ts';

/** Token ids and attention mask of one padded batch. */
export interface TokenBatch {
  /** [B, L] int64 */
  ids: Tensor;
  /** [B, L] (1 = token, 0 = padding) */
  mask: Tensor;
}

export class DotModel extends Module {
  readonly config: EncoderConfig;
  /** The transformer, registered as `roberta` or `bert` (HF's base_model_prefix). */
  readonly backbone: TransformerModel;
  readonly embeddingHead: Linear | null;
  readonly norm: LayerNorm | null;
  /** HF's MLM head (`lm_head` / `cls`) when config.mlmHead: pretraining only; its decoder is the word embedding. */
  readonly lmHead: RobertaLMHead | BertOnlyMLMHead | null;
  #dropoutParity = false;

  constructor(config: EncoderConfig) {
    super();
    this.config = config;
    this.backbone = this.registerModule(config.modelType, new TransformerModel(config));
    if (config.embeddingHead) {
      this.embeddingHead = this.registerModule(
        'embeddingHead',
        new Linear(config.hiddenSize, config.outputEmbeddingSize, { std: config.initializerRange }),
      );
      // DRhard builds nn.LayerNorm(output_embedding_size): the default eps 1e-5, not the config's.
      this.norm = this.registerModule('norm', new LayerNorm(config.outputEmbeddingSize, 1e-5));
    } else {
      this.embeddingHead = null;
      this.norm = null;
    }
    if (!config.mlmHead) this.lmHead = null;
    else if (config.modelType === 'roberta') this.lmHead = this.registerModule('lm_head', new RobertaLMHead(config));
    else this.lmHead = this.registerModule('cls', new BertOnlyMLMHead(config));
  }

  /** MLM logits of hidden states [..., H] → [..., V] (needs config.mlmHead). */
  mlmLogits(hidden: Tensor): Tensor {
    if (this.lmHead === null) throw new Error('this model has no MLM head (config mlm_head is not set)');
    return this.lmHead.forward(hidden, this.backbone.embeddings.word_embeddings.weight);
  }

  /**
   * PyTorch's dropout stream, draw for draw (the tests compare training gradients with PyTorch's this way): training
   * computes every position of the last layer as Hugging Face does, and every Dropout uses libtorch's serial
   * at::dropout. Off by default: first-token pooling computes only position 0 of the last layer in training too
   * (about 1/12 less work at base size), and CPU dropout noise comes from a parallel generator; the masks have the
   * same distribution, and seeds and saved generator states still decide them.
   */
  get dropoutParity(): boolean {
    return this.#dropoutParity;
  }
  set dropoutParity(on: boolean) {
    this.#dropoutParity = on;
    for (const [, m] of this.namedModules()) if (m instanceof Dropout) m.parity = on;
  }

  /** Size of the vectors `encode` returns. */
  get dim(): number {
    return this.config.embeddingHead ? this.config.outputEmbeddingSize : this.config.hiddenSize;
  }

  /** ids [B, L] int64, mask [B, L] → embeddings [B, D]. Queries and documents use the same tower. */
  encode(ids: Tensor, mask: Tensor): Tensor {
    return tidy(() => {
      // First-token pooling reads one position of the last layer, which then computes only that position (its
      // keys and values still see every token): the same embedding to float rounding, 1/L of that layer's work.
      // In training with dropoutParity, every position, so that dropout draws as many numbers as PyTorch's.
      const first = this.config.pooling !== 'mean';
      const firstTokenOnly = first && !(this.training && this.#dropoutParity);
      const h = this.backbone.forward(ids, mask, { firstTokenOnly }); // [B, L or 1, H]
      let pooled: Tensor;
      if (!first) {
        const m = mask.to(h.dtype);
        pooled = h.mul(m.unsqueeze(-1)).sum(1).div(m.sum(1, true)); // [B, H]
      } else {
        pooled = h.select(1, 0); // [B, H]: the <s>/[CLS] token
      }
      if (this.embeddingHead && this.norm) pooled = this.norm.forward(this.embeddingHead.forward(pooled));
      return pooled;
    });
  }

  /**
   * ADORE trains only the query side against frozen document embeddings. The tower is shared, so the query
   * encoder's parameters are all of the model's; this names that intent at call sites.
   */
  queryParameters(): Array<[string, Tensor]> {
    return this.namedParameters();
  }
}

/** DRhard's RobertaDot (and ANCE's RobertaDot_NLL_LN): weights under `roberta.`, `embeddingHead.`, `norm.`. */
export class RobertaDot extends DotModel {
  constructor(config: EncoderConfig) {
    if (config.modelType !== 'roberta') throw new Error(`RobertaDot needs model_type roberta, got ${config.modelType}`);
    super(config);
  }
}

/** The same dual encoder over BERT (weights under `bert.`; positions 0…L-1). */
export class BertDot extends DotModel {
  constructor(config: EncoderConfig) {
    if (config.modelType !== 'bert') throw new Error(`BertDot needs model_type bert, got ${config.modelType}`);
    super(config);
  }
}

/**
 * A freshly initialized model (N(0, initializer_range) weights, zero biases, unit LayerNorms, zero padding rows),
 * for training from scratch. `seed` seeds libtorch's generator first, for reproducible inits.
 */
export function createModel(config: EncoderConfig | ConfigInit, opts: { seed?: number } = {}): DotModel {
  const c = 'extra' in config ? config : createConfig(config);
  if (opts.seed !== undefined) manualSeed(opts.seed);
  return c.modelType === 'roberta' ? new RobertaDot(c) : new BertDot(c);
}
