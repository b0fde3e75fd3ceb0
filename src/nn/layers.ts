// Basic layers with PyTorch parameter names (weight, bias) and HF's BERT initialization.
import { dropout, dropoutNoise, embedding, layerNorm, linear, noGrad, ones, tidy, zeros, type Tensor } from '../tensor/index.ts';
import { Module } from './module.ts';

/** N(0, std) init, as HF's `_init_weights` (std = config.initializer_range, 0.02 by default). */
export function normalInit(shape: number[], std: number): Tensor {
  return noGrad(() => zeros(shape).normal_(0, std));
}

export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly hasBias: boolean;

  constructor(inFeatures: number, outFeatures: number, opts: { bias?: boolean; std?: number } = {}) {
    super();
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.hasBias = opts.bias ?? true;
    this.registerParameter('weight', normalInit([outFeatures, inFeatures], opts.std ?? 0.02));
    if (this.hasBias) this.registerParameter('bias', zeros([outFeatures]));
  }

  get weight(): Tensor {
    return this.param('weight');
  }
  get bias(): Tensor | null {
    return this.hasBias ? this.param('bias') : null;
  }

  /** x [..., in] → [..., out] */
  forward(x: Tensor): Tensor {
    const mp = this.mixedPrecision;
    if (mp === null) return linear(x, this.weight, this.bias);
    // As autocast: the output stays in the compute dtype (a following Linear needs no cast; adding a float32
    // residual promotes back to float32). Casting the master weight each call is cheap next to the product.
    return tidy(() => linear(x.to(mp), this.weight.to(mp), this.bias?.to(mp)));
  }
}

export class Embedding extends Module {
  readonly numEmbeddings: number;
  readonly dim: number;
  /** Row that gets no gradient (and starts at zero), as torch.nn.Embedding(padding_idx=…). */
  readonly paddingIdx: number | undefined;

  constructor(numEmbeddings: number, dim: number, opts: { paddingIdx?: number; std?: number } = {}) {
    super();
    this.numEmbeddings = numEmbeddings;
    this.dim = dim;
    this.paddingIdx = opts.paddingIdx;
    const w = normalInit([numEmbeddings, dim], opts.std ?? 0.02);
    if (this.paddingIdx !== undefined) {
      const pad = this.paddingIdx;
      tidy(() => {
        noGrad(() => void w.select(0, pad).zero_());
      });
    }
    this.registerParameter('weight', w);
  }

  get weight(): Tensor {
    return this.param('weight');
  }

  /** ids [...] int64 → [..., dim] */
  forward(ids: Tensor): Tensor {
    return embedding(this.weight, ids, this.paddingIdx);
  }
}

export class LayerNorm extends Module {
  readonly dim: number;
  readonly eps: number;

  constructor(dim: number, eps = 1e-5) {
    super();
    this.dim = dim;
    this.eps = eps;
    this.registerParameter('weight', ones([dim]));
    this.registerParameter('bias', zeros([dim]));
  }

  get weight(): Tensor {
    return this.param('weight');
  }
  get bias(): Tensor {
    return this.param('bias');
  }

  /** Normalizes in the parameters' dtype (a bfloat16 input from a mixed-precision Linear is upcast first). */
  forward(x: Tensor): Tensor {
    const w = this.weight;
    if (x.dtype === w.dtype) return layerNorm(x, [this.dim], w, this.bias, this.eps);
    return tidy(() => layerNorm(x.to(w.dtype), [this.dim], w, this.bias, this.eps));
  }
}

export class Dropout extends Module {
  readonly p: number;
  /**
   * libtorch's at::dropout on CPU too, which draws PyTorch's random stream number for number but serially. Off: CPU
   * noise comes from drhard's parallel generator (one draw of libtorch's generator seeds each call, so seeding and
   * saved generator states still decide the masks). CUDA always uses libtorch's.
   */
  parity = false;
  constructor(p: number) {
    super();
    this.p = p;
  }
  forward(x: Tensor): Tensor {
    const on = this.training && this.p > 0;
    if (!on || this.parity || this.p >= 1 || x.device !== 'cpu') return dropout(x, this.p, on);
    // at::dropout's own formula, input * noise, so the backward is the same.
    return tidy(() => x.mul(dropoutNoise(x, this.p)));
  }
}
