// Module base: parameters registered under dotted names equal to Hugging Face checkpoint keys, train/eval mode,
// state dicts and device moves. Layers and models are written only against the tensor API.
import { noGrad, type Tensor } from '../tensor/index.ts';

const FLOAT_DTYPES: string[] = ['float32', 'float64', 'float16', 'bfloat16'];

export interface LoadReport {
  /** Parameters of the module that the state dict does not provide. */
  missing: string[];
  /** State-dict keys that name no parameter of the module. */
  unexpected: string[];
}

export class StateDictError extends Error {
  readonly report: LoadReport;
  constructor(message: string, report: LoadReport) {
    super(message);
    this.name = 'StateDictError';
    this.report = report;
  }
}

export abstract class Module {
  // Parameters live only here, so `to()` and `loadStateDict()` can replace or fill them in one place.
  readonly #params = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();
  #training = true;
  #mixed: 'bfloat16' | 'float16' | null = null;

  /** Registers a leaf tensor as a trainable parameter; it is kept out of tidy() scopes and owned by the module. */
  protected registerParameter(name: string, t: Tensor): Tensor {
    if (name.includes('.')) throw new Error(`parameter name ${name} must not contain '.'`);
    if (this.#params.has(name) || this.#children.has(name)) throw new Error(`duplicate member ${name}`);
    t.keep().setRequiresGrad(true);
    this.#params.set(name, t);
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    if (this.#params.has(name) || this.#children.has(name)) throw new Error(`duplicate member ${name}`);
    this.#children.set(name, m);
    m.train(this.#training);
    m.setMixedPrecision(this.#mixed);
    return m;
  }

  /** The current tensor of a parameter of this module (not of children). */
  protected param(name: string): Tensor {
    const t = this.#params.get(name);
    if (!t) throw new Error(`no parameter ${name}`);
    return t;
  }

  get training(): boolean {
    return this.#training;
  }

  /** Sets training mode (dropout on) recursively. */
  train(mode = true): this {
    this.#training = mode;
    for (const c of this.#children.values()) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /**
   * Mixed precision (recursive), autocast-like: matrix products (Linear, attention) run in `dtype` and return
   * it; GELU and dropout run on those outputs; residual adds promote back to float32, and LayerNorm, softmax and
   * the pooled embedding are float32. Parameters stay float32 masters with float32 gradients. On CPUs with
   * AMX/AVX512-BF16 'bfloat16' is several times faster. null restores full float32.
   */
  setMixedPrecision(dtype: 'bfloat16' | 'float16' | null): this {
    this.#mixed = dtype;
    for (const c of this.#children.values()) c.setMixedPrecision(dtype);
    return this;
  }

  get mixedPrecision(): 'bfloat16' | 'float16' | null {
    return this.#mixed;
  }

  /** [dotted name, parameter] pairs in registration order (the order HF's state_dict uses). */
  namedParameters(prefix = ''): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    for (const [n, t] of this.#params) out.push([prefix + n, t]);
    for (const [n, c] of this.#children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  namedModules(prefix = ''): Array<[string, Module]> {
    const out: Array<[string, Module]> = [[prefix.replace(/\.$/, ''), this]];
    for (const [n, c] of this.#children) out.push(...c.namedModules(`${prefix}${n}.`));
    return out;
  }

  /** Number of trainable scalars. */
  numParameters(): number {
    return this.parameters().reduce((a, t) => a + t.numel, 0);
  }

  /**
   * The live parameter tensors by name (like PyTorch, no copies): read or save them, do not dispose them.
   */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedParameters());
  }

  /**
   * Copies tensors into the parameters by name (casting dtype and device). Shape mismatches always throw.
   * With `strict` (default) any missing or unexpected key throws a StateDictError listing them; otherwise the
   * lists are returned and the missing parameters keep their current values.
   */
  loadStateDict(map: Map<string, Tensor> | Record<string, Tensor>, opts: { strict?: boolean } = {}): LoadReport {
    const src = map instanceof Map ? map : new Map(Object.entries(map));
    const own = this.stateDict();
    const report: LoadReport = {
      missing: [...own.keys()].filter((k) => !src.has(k)),
      unexpected: [...src.keys()].filter((k) => !own.has(k)),
    };
    for (const [k, t] of src) {
      const p = own.get(k);
      if (p && p.shape.join(',') !== t.shape.join(',')) {
        throw new StateDictError(`${k}: checkpoint shape [${t.shape.join(', ')}] != model shape [${p.shape.join(', ')}]`, report);
      }
    }
    if ((opts.strict ?? true) && (report.missing.length > 0 || report.unexpected.length > 0)) {
      throw new StateDictError(describeReport(report), report);
    }
    noGrad(() => {
      for (const [k, t] of src) own.get(k)?.copy_(t);
    });
    return report;
  }

  /**
   * Moves every parameter to a device ('cpu', 'cuda:0') or casts it to a floating dtype ('float64', 'bfloat16');
   * the new leaf tensors replace the old ones, which are disposed. Create optimizers after this, as in PyTorch:
   * they hold the parameter tensors.
   */
  to(target: string): this {
    const isDtype = FLOAT_DTYPES.includes(target);
    for (const [n, t] of this.#params) {
      if (isDtype ? t.dtype === target : t.device === target || (target === 'cuda' && t.device === 'cuda:0')) continue;
      const moved = noGrad(() => t.to(target));
      moved.keep().setRequiresGrad(true);
      t.dispose();
      this.#params.set(n, moved);
    }
    for (const c of this.#children.values()) c.to(target);
    return this;
  }

  /** The device of the first parameter ('cpu' for a module without parameters). */
  get device(): string {
    const first = this.namedParameters()[0];
    return first ? first[1].device : 'cpu';
  }

  /** Drops every parameter's gradient (like `zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    for (const t of this.parameters()) t.zeroGrad();
  }

  /** Frees all parameters. The module is unusable afterwards. */
  dispose(): void {
    for (const t of this.#params.values()) t.dispose();
    for (const c of this.#children.values()) c.dispose();
  }
}

export function describeReport(r: LoadReport): string {
  // A wholly wrong checkpoint would list hundreds of names; the first 20 of each kind identify the problem.
  const list = (ks: string[]): string => (ks.length <= 20 ? ks.join(', ') : `${ks.slice(0, 20).join(', ')} (+${ks.length - 20} more)`);
  const parts: string[] = [];
  if (r.missing.length > 0) parts.push(`missing keys: ${list(r.missing)}`);
  if (r.unexpected.length > 0) parts.push(`unexpected keys: ${list(r.unexpected)}`);
  return parts.join('; ') || 'all keys matched';
}

/** An ordered list of child modules named 0, 1, … (PyTorch's ModuleList, hence `layer.0.attention…`). */
export class ModuleList<M extends Module> extends Module {
  readonly items: M[];
  constructor(items: M[]) {
    super();
    this.items = items;
    items.forEach((m, i) => this.registerModule(String(i), m));
  }
}
