// BERT/RoBERTa encoders exact to Hugging Face's modeling_bert.py / modeling_roberta.py (no pooler): the module
// tree mirrors HF's so parameter names equal checkpoint keys (embeddings.word_embeddings.weight,
// encoder.layer.0.attention.self.query.weight, …).
import { arange, tidy, type DType, type Tensor } from '../tensor/index.ts';
import { Dropout, Embedding, LayerNorm, Linear } from '../nn/layers.ts';
import { Module, ModuleList } from '../nn/module.ts';
import type { EncoderConfig } from './config.ts';

// torch.finfo(dtype).min: HF's additive mask value for padded keys, in the model's dtype.
const FINFO_MIN: Partial<Record<DType, number>> = {
  float32: -3.4028234663852886e38,
  float64: -1.7976931348623157e308,
  float16: -65504,
  bfloat16: -3.3895313892515355e38,
};

export class Embeddings extends Module {
  readonly word_embeddings: Embedding;
  readonly position_embeddings: Embedding;
  readonly token_type_embeddings: Embedding;
  readonly LayerNorm: LayerNorm;
  readonly dropout: Dropout;
  readonly roberta: boolean;
  readonly padTokenId: number;

  constructor(c: EncoderConfig) {
    super();
    this.roberta = c.modelType === 'roberta';
    this.padTokenId = c.padTokenId;
    const std = c.initializerRange;
    this.word_embeddings = this.registerModule('word_embeddings', new Embedding(c.vocabSize, c.hiddenSize, { paddingIdx: c.padTokenId, std }));
    // RoBERTa's position table also has padding_idx = pad (its row is never trained); BERT's has none.
    const posPad = this.roberta ? { paddingIdx: c.padTokenId } : {};
    this.position_embeddings = this.registerModule('position_embeddings', new Embedding(c.maxPositionEmbeddings, c.hiddenSize, { ...posPad, std }));
    this.token_type_embeddings = this.registerModule('token_type_embeddings', new Embedding(c.typeVocabSize, c.hiddenSize, { std }));
    this.LayerNorm = this.registerModule('LayerNorm', new LayerNorm(c.hiddenSize, c.layerNormEps));
    this.dropout = this.registerModule('dropout', new Dropout(c.hiddenDropoutProb));
  }

  /** Position ids [B, L] (RoBERTa) or [1, L] (BERT). */
  positionIds(ids: Tensor): Tensor {
    if (this.roberta) {
      // create_position_ids_from_input_ids: count non-pad tokens; pads keep position padding_idx.
      const m = ids.ne(this.padTokenId).to('int64');
      // The addon passes JS numbers as double scalars (int64 + 1 → float32), hence the cast back.
      return m.cumsum(1).mul(m).add(this.padTokenId).to('int64');
    }
    return arange(0, ids.size(1), 1, { device: ids.device }).unsqueeze(0);
  }

  /** ids [B, L] int64 → [B, L, H] */
  forward(ids: Tensor): Tensor {
    return tidy(() => {
      const pos = this.positionIds(ids);
      const maxPos = this.position_embeddings.numEmbeddings;
      if (ids.size(1) + (this.roberta ? this.padTokenId + 1 : 0) > maxPos) {
        throw new RangeError(`sequence length ${ids.size(1)} exceeds the ${maxPos} position embeddings`);
      }
      // token_type_ids are all 0 (single-segment inputs): every token adds row 0 of the type table.
      const type0 = this.token_type_embeddings.weight.select(0, 0);
      const x = this.word_embeddings.forward(ids).add(type0).add(this.position_embeddings.forward(pos));
      return this.dropout.forward(this.LayerNorm.forward(x));
    });
  }
}

export class SelfAttention extends Module {
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  readonly dropout: Dropout;
  readonly heads: number;
  readonly headSize: number;

  constructor(c: EncoderConfig) {
    super();
    const std = c.initializerRange;
    this.heads = c.numAttentionHeads;
    this.headSize = c.hiddenSize / c.numAttentionHeads;
    this.query = this.registerModule('query', new Linear(c.hiddenSize, c.hiddenSize, { std }));
    this.key = this.registerModule('key', new Linear(c.hiddenSize, c.hiddenSize, { std }));
    this.value = this.registerModule('value', new Linear(c.hiddenSize, c.hiddenSize, { std }));
    this.dropout = this.registerModule('dropout', new Dropout(c.attentionProbsDropoutProb));
  }

  /** [B, L, H] → [B, heads, L, headSize] */
  private split(x: Tensor): Tensor {
    const [b, l] = x.shape as [number, number];
    return x.view([b, l, this.heads, this.headSize]).permute([0, 2, 1, 3]);
  }

  /**
   * x [B, L, H], extMask [B, 1, 1, L] additive → [B, Lq, H]: the outputs at the positions of `rows` [B, Lq, H]
   * (default: all of x; keys and values always come from all of x).
   */
  forward(x: Tensor, extMask: Tensor, rows: Tensor = x): Tensor {
    const [b, lq, hidden] = rows.shape as [number, number, number];
    const q = this.split(this.query.forward(rows));
    const k = this.split(this.key.forward(x));
    const v = this.split(this.value.forward(x));
    const mp = this.mixedPrecision;
    // Mixed precision: products in the compute dtype; the float32 mask add promotes scores back for softmax.
    const mm = (a: Tensor, c: Tensor): Tensor => (mp === null ? a.matmul(c) : a.to(mp).matmul(c.to(mp)));
    // Same op order as HF (scale after the product) so results agree to float rounding.
    const scores = mm(q, k.transpose(2, 3)).div(Math.sqrt(this.headSize)).add(extMask); // [B, heads, L, L]
    const probs = this.dropout.forward(scores.softmax(-1));
    return mm(probs, v).permute([0, 2, 1, 3]).contiguous().view([b, lq, hidden]);
  }
}

/** dense → dropout → LayerNorm(h + residual): HF's SelfOutput and Output share this shape. */
export class ResidualOutput extends Module {
  readonly dense: Linear;
  readonly LayerNorm: LayerNorm;
  readonly dropout: Dropout;

  constructor(c: EncoderConfig, inSize: number) {
    super();
    this.dense = this.registerModule('dense', new Linear(inSize, c.hiddenSize, { std: c.initializerRange }));
    this.LayerNorm = this.registerModule('LayerNorm', new LayerNorm(c.hiddenSize, c.layerNormEps));
    this.dropout = this.registerModule('dropout', new Dropout(c.hiddenDropoutProb));
  }

  forward(h: Tensor, residual: Tensor): Tensor {
    return this.LayerNorm.forward(this.dropout.forward(this.dense.forward(h)).add(residual));
  }
}

export class Attention extends Module {
  readonly self: SelfAttention;
  readonly output: ResidualOutput;
  constructor(c: EncoderConfig) {
    super();
    this.self = this.registerModule('self', new SelfAttention(c));
    this.output = this.registerModule('output', new ResidualOutput(c, c.hiddenSize));
  }
  /** firstOnly: only position 0's output [B, 1, H] (what first-token pooling reads from the last layer). */
  forward(x: Tensor, extMask: Tensor, firstOnly = false): Tensor {
    const rows = firstOnly ? x.narrow(1, 0, 1) : x;
    return this.output.forward(this.self.forward(x, extMask, rows), rows);
  }
}

export class Intermediate extends Module {
  readonly dense: Linear;
  constructor(c: EncoderConfig) {
    super();
    this.dense = this.registerModule('dense', new Linear(c.hiddenSize, c.intermediateSize, { std: c.initializerRange }));
  }
  forward(x: Tensor): Tensor {
    return this.dense.forward(x).gelu();
  }
}

export class Layer extends Module {
  readonly attention: Attention;
  readonly intermediate: Intermediate;
  readonly output: ResidualOutput;
  constructor(c: EncoderConfig) {
    super();
    this.attention = this.registerModule('attention', new Attention(c));
    this.intermediate = this.registerModule('intermediate', new Intermediate(c));
    this.output = this.registerModule('output', new ResidualOutput(c, c.intermediateSize));
  }
  forward(x: Tensor, extMask: Tensor, firstOnly = false): Tensor {
    // One scope per layer keeps peak memory near PyTorch's, which frees intermediates by refcount.
    return tidy(() => {
      const a = this.attention.forward(x, extMask, firstOnly);
      return this.output.forward(this.intermediate.forward(a), a);
    });
  }
}

export class Encoder extends Module {
  readonly layer: ModuleList<Layer>;
  constructor(c: EncoderConfig) {
    super();
    this.layer = this.registerModule('layer', new ModuleList(Array.from({ length: c.numHiddenLayers }, () => new Layer(c))));
  }
  /** firstTokenOnly: the last layer computes position 0 only ([B, 1, H] out); the others need every position. */
  forward(x: Tensor, extMask: Tensor, firstTokenOnly = false): Tensor {
    let h = x;
    const layers = this.layer.items;
    for (const [i, layer] of layers.entries()) {
      const next = layer.forward(h, extMask, firstTokenOnly && i === layers.length - 1);
      if (h !== x) h.dispose();
      h = next;
    }
    return h;
  }
}

/** RobertaModel / BertModel with add_pooling_layer=False: last hidden states. */
export class TransformerModel extends Module {
  readonly config: EncoderConfig;
  readonly embeddings: Embeddings;
  readonly encoder: Encoder;

  constructor(c: EncoderConfig) {
    super();
    this.config = c;
    this.embeddings = this.registerModule('embeddings', new Embeddings(c));
    this.encoder = this.registerModule('encoder', new Encoder(c));
  }

  /**
   * ids [B, L] int64, mask [B, L] (1 = token, 0 = pad; any numeric dtype) → [B, L, H], or [B, 1, H] (position 0)
   * with firstTokenOnly.
   */
  forward(ids: Tensor, mask: Tensor, opts: { firstTokenOnly?: boolean } = {}): Tensor {
    return tidy(() => {
      const x = this.embeddings.forward(ids);
      // get_extended_attention_mask: (1 - mask) * finfo(dtype).min, broadcast over heads and query positions.
      const dt = x.dtype;
      const min = FINFO_MIN[dt] ?? FINFO_MIN.float32!;
      const ext = mask.to(dt).neg().add(1).mul(min).unsqueeze(1).unsqueeze(2); // [B, 1, 1, L]
      return this.encoder.forward(x, ext, opts.firstTokenOnly ?? false);
    });
  }
}
