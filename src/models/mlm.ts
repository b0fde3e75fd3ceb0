// Masked-language-model heads exact to Hugging Face's RobertaLMHead (modeling_roberta.py) and BertOnlyMLMHead
// (modeling_bert.py), for corpus pretraining of a DotModel's tower.
//
//   logits = LayerNorm_eps( gelu_erf( h Wdᵀ + bd ) ) Eᵀ + b        h [N, H] → logits [N, V]
//
// Wd/bd = the head's dense layer, LayerNorm with eps = config.layer_norm_eps, E [V, H] = the tower's word-embedding
// matrix (the decoder weight is TIED to it: no parameter of its own, and its gradient lands in the embedding), b [V] =
// the decoder bias. Parameter names are HF's, so `head.stateDict()` merged with `model.stateDict()` is the state
// dict of RobertaForMaskedLM / BertForMaskedLM (plus drhard's embeddingHead/norm):
//   roberta: lm_head.bias, lm_head.dense.{weight,bias}, lm_head.layer_norm.{weight,bias}
//   bert:    cls.predictions.bias, cls.predictions.transform.dense.{weight,bias}, cls.predictions.transform.LayerNorm.{weight,bias}
// HF checkpoints may also carry the tied aliases `lm_head.decoder.{weight,bias}` / `cls.predictions.decoder.{weight,bias}`
// (copies of the word embedding and of the bias): `headState` skips them (or uses decoder.bias when bias is absent).
import { linear, tidy, zeros, type Tensor } from '../tensor/index.ts';
import { Embedding, LayerNorm, Linear } from '../nn/layers.ts';
import { Module } from '../nn/module.ts';
import type { EncoderConfig } from './config.ts';
import type { DotModel } from './dual.ts';

/**
 * Where the tied decoder weight [V, H] comes from. Prefer the Embedding module (or a getter): its `.weight` is read at
 * every forward, so it stays right after `model.to(device)` replaces the parameter tensors. A bare Tensor is read as
 * given and goes stale (disposed) once the model is moved or cast.
 */
export type TiedWeight = Embedding | Tensor | (() => Tensor);

function weightGetter(w: TiedWeight): () => Tensor {
  if (w instanceof Embedding) return () => w.weight;
  if (typeof w === 'function') return w;
  return () => w;
}

/** logits = x Eᵀ + b, in the mixed-precision dtype when one is set (as autocast runs the decoder Linear). */
function decode(x: Tensor, weight: Tensor, bias: Tensor, mp: 'bfloat16' | 'float16' | null): Tensor {
  if (mp === null) return linear(x, weight, bias);
  return tidy(() => linear(x.to(mp), weight.to(mp), bias.to(mp)));
}

/** HF's RobertaLMHead without its decoder Linear (whose weight is the tied embedding and whose bias is `bias`). */
export class RobertaLMHead extends Module {
  readonly dense: Linear;
  readonly layer_norm: LayerNorm;

  constructor(c: EncoderConfig) {
    super();
    // HF registers dense, layer_norm, decoder, then the bias; state_dict lists own parameters first (bias), as here.
    this.dense = this.registerModule('dense', new Linear(c.hiddenSize, c.hiddenSize, { std: c.initializerRange }));
    this.layer_norm = this.registerModule('layer_norm', new LayerNorm(c.hiddenSize, c.layerNormEps));
    this.registerParameter('bias', zeros([c.vocabSize]));
  }
  get bias(): Tensor {
    return this.param('bias');
  }
  /** x [..., H], decoder weight [V, H] → [..., V] */
  forward(x: Tensor, decoderWeight: Tensor): Tensor {
    return tidy(() => decode(this.layer_norm.forward(this.dense.forward(x).gelu()), decoderWeight, this.bias, this.mixedPrecision));
  }
}

/** HF's BertPredictionHeadTransform: dense → gelu → LayerNorm. */
export class BertPredictionHeadTransform extends Module {
  readonly dense: Linear;
  readonly LayerNorm: LayerNorm;
  constructor(c: EncoderConfig) {
    super();
    this.dense = this.registerModule('dense', new Linear(c.hiddenSize, c.hiddenSize, { std: c.initializerRange }));
    this.LayerNorm = this.registerModule('LayerNorm', new LayerNorm(c.hiddenSize, c.layerNormEps));
  }
  forward(x: Tensor): Tensor {
    return this.LayerNorm.forward(this.dense.forward(x).gelu());
  }
}

/** HF's BertLMPredictionHead without its decoder Linear (tied weight, bias = `bias`). */
export class BertLMPredictionHead extends Module {
  readonly transform: BertPredictionHeadTransform;
  constructor(c: EncoderConfig) {
    super();
    this.transform = this.registerModule('transform', new BertPredictionHeadTransform(c));
    this.registerParameter('bias', zeros([c.vocabSize]));
  }
  get bias(): Tensor {
    return this.param('bias');
  }
  forward(x: Tensor, decoderWeight: Tensor): Tensor {
    return tidy(() => decode(this.transform.forward(x), decoderWeight, this.bias, this.mixedPrecision));
  }
}

/** HF's BertOnlyMLMHead: the `cls.` wrapper around `predictions`. */
export class BertOnlyMLMHead extends Module {
  readonly predictions: BertLMPredictionHead;
  constructor(c: EncoderConfig) {
    super();
    this.predictions = this.registerModule('predictions', new BertLMPredictionHead(c));
  }
  /** x [..., H], decoder weight [V, H] → [..., V] */
  forward(x: Tensor, decoderWeight: Tensor): Tensor {
    return this.predictions.forward(x, decoderWeight);
  }
}

/**
 * The MLM head of a RoBERTa (`lm_head.*`) or BERT (`cls.predictions.*`) tower; its namedParameters() are HF's full
 * checkpoint keys. Hold it next to the DotModel (`MlmHead.forModel(model)`), optimize
 * `[...model.parameters(), ...head.parameters()]` (the tied embedding is the model's, so it is listed once), and
 * move it with `head.to(device)` as well.
 */
export class MlmHead extends Module {
  readonly config: EncoderConfig;
  readonly lm_head: RobertaLMHead | null;
  readonly cls: BertOnlyMLMHead | null;
  readonly #weight: () => Tensor;

  constructor(config: EncoderConfig, wordEmbeddings: TiedWeight) {
    super();
    this.config = config;
    this.#weight = weightGetter(wordEmbeddings);
    if (config.modelType === 'roberta') {
      this.lm_head = this.registerModule('lm_head', new RobertaLMHead(config));
      this.cls = null;
    } else {
      this.cls = this.registerModule('cls', new BertOnlyMLMHead(config));
      this.lm_head = null;
    }
  }

  /** A fresh head (HF init: N(0, initializer_range) dense, unit LayerNorm, zero biases) tied to `model`'s embedding. */
  static forModel(model: DotModel): MlmHead {
    return new MlmHead(model.config, model.backbone.embeddings.word_embeddings);
  }

  /** `lm_head.` or `cls.predictions.`: the prefix of every key of this head. */
  get prefix(): string {
    return this.config.modelType === 'roberta' ? 'lm_head.' : 'cls.predictions.';
  }

  /** The tied decoder weight [V, H] (the word embedding matrix, read now). */
  get decoderWeight(): Tensor {
    const w = this.#weight();
    if (w.disposed) throw new Error('MlmHead: the tied word-embedding tensor was disposed (tie the head to the Embedding module, not its tensor, when the model is moved)');
    return w;
  }

  /** The decoder bias [V] (`lm_head.bias` / `cls.predictions.bias`). */
  get bias(): Tensor {
    return (this.lm_head ?? this.cls!.predictions).bias;
  }

  /** hidden [..., H] (e.g. the gathered masked positions [M, H]) → logits [..., V]. */
  forward(hidden: Tensor): Tensor {
    const w = this.decoderWeight;
    return (this.lm_head ?? this.cls!).forward(hidden, w);
  }

  /**
   * The entries of a full checkpoint (RobertaForMaskedLM, BertForMaskedLM/BertForPreTraining, or one drhard saved)
   * that this head loads: keys under `prefix`, without the tied decoder aliases (`decoder.weight` is the word
   * embedding; `decoder.bias` is used only when `bias` is absent, as in some HF versions). Pass the result to
   * `loadStateDict` (strict: a checkpoint without a head reports the head's keys missing). Tensors are not copied.
   */
  headState(sd: Map<string, Tensor>): Map<string, Tensor> {
    const p = this.prefix;
    const out = new Map<string, Tensor>();
    for (const [k, t] of sd) {
      if (!k.startsWith(p) || k === `${p}decoder.weight` || k === `${p}decoder.bias`) continue;
      out.set(k, t);
    }
    const alias = sd.get(`${p}decoder.bias`);
    if (!out.has(`${p}bias`) && alias) out.set(`${p}bias`, alias);
    return out;
  }
}
