// Optimizer base over named parameter groups (HF Trainer's decay / no-decay split), with state save/load as a
// tensor map plus JSON so a resumed run continues exactly.
import { empty, noGrad, tidy, zerosLike, Tensor } from '../tensor/index.ts';
import { native } from '../native/addon.ts';
import { clipGradNorm } from './clip.ts';

export interface ParamGroup {
  /** Parameter names (as in the model's state dict); state is keyed by name so it survives a restart. */
  names: string[];
  params: Tensor[];
  lr: number;
  weightDecay: number;
}

export interface GroupInit {
  params: Array<[string, Tensor]>;
  lr?: number;
  weightDecay?: number;
}

/** HF Trainer's rule: names containing any of these get no weight decay (DRhard's `norm.weight` is decayed). */
export const NO_DECAY = ['bias', 'LayerNorm.weight'];

/** Splits named parameters into a decayed group and a no-decay group (empty groups are dropped). */
export function paramGroups(named: Array<[string, Tensor]>, opts: { weightDecay: number; noDecay?: string[] }): GroupInit[] {
  const nd = opts.noDecay ?? NO_DECAY;
  const isNd = (n: string): boolean => nd.some((s) => n.includes(s));
  return [
    { params: named.filter(([n]) => !isNd(n)), weightDecay: opts.weightDecay },
    { params: named.filter(([n]) => isNd(n)), weightDecay: 0 },
  ].filter((g) => g.params.length > 0);
}

export interface AdamLikeOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  /** Default for groups that do not set their own. */
  weightDecay?: number;
  /**
   * One native call per step over all parameters (default). false: the op-by-op path, one libtorch op per line of
   * the reference optimizer; both give bit-identical parameters and moments (kept for that test).
   */
  fused?: boolean;
}

export interface MomentState {
  step: number;
  expAvg: Tensor;
  expAvgSq: Tensor;
}

/** JSON half of an optimizer state dict; the tensors are `${name}.exp_avg` / `${name}.exp_avg_sq`. */
export interface OptimizerMeta {
  kind: string;
  betas: [number, number];
  eps: number;
  groups: Array<{ names: string[]; lr: number; weightDecay: number }>;
  steps: Record<string, number>;
}

export abstract class AdamLike {
  abstract readonly kind: string;
  readonly groups: ParamGroup[];
  readonly betas: [number, number];
  readonly eps: number;
  protected readonly state = new Map<string, MomentState>();
  readonly fused: boolean;
  /** Native optimizer code (0 AdamW, 1 LAMB) and whether its fused step needs a scratch buffer. */
  protected abstract readonly nativeKind: number;
  /** A clip coefficient computed by clipGradNorm, applied by the next step() inside its pass over the gradients. */
  private deferredClip: { coef: Tensor; params: Set<Tensor> } | null = null;
  private scratch: Tensor | null = null;
  private readonly own = new Set<Tensor>();

  constructor(params: GroupInit[] | Array<[string, Tensor]>, opts: AdamLikeOptions) {
    const inits: GroupInit[] = params.length > 0 && Array.isArray(params[0]) ? [{ params: params as Array<[string, Tensor]> }] : (params as GroupInit[]);
    const seen = new Set<string>();
    this.groups = inits.map((g) => {
      for (const [n] of g.params) {
        if (seen.has(n)) throw new Error(`parameter ${n} appears in two groups`);
        seen.add(n);
      }
      return {
        names: g.params.map(([n]) => n),
        params: g.params.map(([, t]) => t),
        lr: g.lr ?? opts.lr,
        weightDecay: g.weightDecay ?? opts.weightDecay ?? 0,
      };
    });
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-6;
    this.fused = opts.fused ?? true;
    for (const g of this.groups) for (const p of g.params) this.own.add(p);
  }

  /**
   * clip_grad_norm_ over `params`' gradients (returns the total norm before clipping). Fused: the gradients of this
   * optimizer's parameters are scaled by the next step(), in its single pass over them (others at once), so call
   * step() next without touching the gradients; zeroGrad() or another clip discards a pending scale.
   */
  clipGradNorm(params: Tensor[], maxNorm: number): number {
    this.discardDeferredClip();
    if (!this.fused) return clipGradNorm(params, maxNorm);
    return tidy(() =>
      noGrad(() => {
        const withGrad = params.flatMap((p) => {
          const g = p.grad;
          return g ? [[p, g] as const] : [];
        });
        if (withGrad.length === 0) return 0;
        const [t, c] = native.clipCoefficient(withGrad.map(([, g]) => g.handle), maxNorm);
        const total = new Tensor(t);
        const coef = new Tensor(c);
        const deferred = new Set<Tensor>();
        for (const [p, g] of withGrad) {
          if (this.own.has(p)) deferred.add(p);
          else g.mul_(coef);
        }
        this.deferredClip = { coef: coef.keep(), params: deferred };
        return total.item();
      }),
    );
  }

  /** Forgets a clip coefficient that no step() consumed (the gradients stay unscaled). */
  discardDeferredClip(): void {
    this.deferredClip?.coef.dispose();
    this.deferredClip = null;
  }

  /** [a, b] of one parameter's native update: AdamW (step size, -lr·decay or 0), LAMB (lr, decay). */
  protected abstract nativeScalars(st: MomentState, group: ParamGroup): [number, number];

  /** A parameter's moments, created as zeros (kept across steps) on its first step. */
  protected momentsFor(name: string, p: Tensor): MomentState {
    let st = this.state.get(name);
    if (!st) {
      st = { step: 0, expAvg: zerosLike(p).keep(), expAvgSq: zerosLike(p).keep() };
      this.state.set(name, st);
    }
    return st;
  }

  private stepFused(): void {
    const clip = this.deferredClip;
    this.deferredClip = null;
    try {
      tidy(() =>
        noGrad(() => {
          const ps: Tensor[] = [];
          const ms: Tensor[] = [];
          const vs: Tensor[] = [];
          const as: number[] = [];
          const bs: number[] = [];
          let maxNumel = 0;
          for (const g of this.groups) {
            g.params.forEach((p, i) => {
              if (!p.grad) return;
              const st = this.momentsFor(g.names[i]!, p);
              st.step += 1;
              const [a, b] = this.nativeScalars(st, g);
              ps.push(p);
              ms.push(st.expAvg);
              vs.push(st.expAvgSq);
              as.push(a);
              bs.push(b);
              if (p.device === 'cpu' && p.dtype === 'float32') maxNumel = Math.max(maxNumel, p.numel);
            });
          }
          let coef: Tensor | null = clip?.coef ?? null;
          if (clip && (clip.params.size !== ps.length || ps.some((p) => !clip.params.has(p)))) {
            // The clipped set is not the stepped set: scale the clipped gradients now, step unscaled.
            for (const p of clip.params) p.grad?.mul_(clip.coef);
            coef = null;
          }
          // LAMB's fused pass writes the Adam step, p² and step² of the largest parameter.
          if (this.nativeKind === 1 && maxNumel > 0 && (this.scratch?.numel ?? 0) < 3 * maxNumel) {
            this.scratch?.dispose();
            this.scratch = empty([3 * maxNumel]).keep();
          }
          native.optimStep(
            this.nativeKind,
            ps.map((p) => p.handle),
            ms.map((m) => m.handle),
            vs.map((v) => v.handle),
            as,
            bs,
            [this.betas[0], this.betas[1], this.eps, 1 - this.betas[0], 1 - this.betas[1]],
            coef?.handle ?? null,
            true,
            this.nativeKind === 1 ? (this.scratch?.handle ?? null) : null,
          );
        }),
      );
    } finally {
      clip?.coef.dispose();
    }
  }

  /** Applies one update to every parameter that has a gradient. */
  step(): void {
    if (this.fused) return this.stepFused();
    this.discardDeferredClip();
    tidy(() =>
      noGrad(() => {
        for (const g of this.groups) {
          g.params.forEach((p, i) => {
            const grad = p.grad;
            if (!grad) return;
            const name = g.names[i]!;
            const st = this.momentsFor(name, p);
            st.step += 1;
            // One scope per parameter: a single scope over the whole step kept every temporary of every
            // parameter alive to the end (several model-sized copies at base size, all freshly page-faulted).
            tidy(() => this.update(p, grad, st, g));
          });
        }
      }),
    );
  }

  protected abstract update(p: Tensor, grad: Tensor, st: MomentState, group: ParamGroup): void;

  zeroGrad(): void {
    this.discardDeferredClip();
    for (const g of this.groups) for (const p of g.params) p.zeroGrad();
  }

  /** Live state tensors (not copies) and JSON metadata. */
  stateDict(): { tensors: Map<string, Tensor>; meta: OptimizerMeta } {
    const tensors = new Map<string, Tensor>();
    const steps: Record<string, number> = {};
    for (const [n, st] of this.state) {
      tensors.set(`${n}.exp_avg`, st.expAvg);
      tensors.set(`${n}.exp_avg_sq`, st.expAvgSq);
      steps[n] = st.step;
    }
    return {
      tensors,
      meta: {
        kind: this.kind,
        betas: this.betas,
        eps: this.eps,
        groups: this.groups.map((g) => ({ names: g.names, lr: g.lr, weightDecay: g.weightDecay })),
        steps,
      },
    };
  }

  /** Restores moments, step counts and group lrs/decays; parameter names and shapes must match. */
  loadStateDict(sd: { tensors: Map<string, Tensor>; meta: OptimizerMeta }): void {
    const { meta, tensors } = sd;
    if (meta.kind !== this.kind) throw new Error(`optimizer state is for ${meta.kind}, this optimizer is ${this.kind}`);
    if (meta.groups.length !== this.groups.length) {
      throw new Error(`optimizer state has ${meta.groups.length} parameter groups, this optimizer has ${this.groups.length}`);
    }
    meta.groups.forEach((mg, i) => {
      const g = this.groups[i]!;
      if (mg.names.join('\n') !== g.names.join('\n')) {
        const missing = g.names.filter((n) => !mg.names.includes(n));
        const extra = mg.names.filter((n) => !g.names.includes(n));
        throw new Error(`optimizer group ${i} does not match: missing ${missing.join(', ') || '-'}; unexpected ${extra.join(', ') || '-'}`);
      }
    });
    const byName = new Map<string, Tensor>();
    for (const g of this.groups) g.names.forEach((n, i) => byName.set(n, g.params[i]!));
    const next = new Map<string, MomentState>();
    for (const [n, step] of Object.entries(meta.steps)) {
      const p = byName.get(n) ?? (() => { throw new Error(`optimizer state for unknown parameter ${n}`); })();
      const m = tensors.get(`${n}.exp_avg`);
      const v = tensors.get(`${n}.exp_avg_sq`);
      if (!m || !v) throw new Error(`optimizer state lacks the moments of ${n}`);
      if (m.shape.join(',') !== p.shape.join(',') || v.shape.join(',') !== p.shape.join(',')) {
        throw new Error(`optimizer moments of ${n} have shape [${m.shape.join(', ')}], parameter has [${p.shape.join(', ')}]`);
      }
      next.set(n, {
        step,
        expAvg: noGrad(() => m.to({ dtype: p.dtype, device: p.device }).clone()).keep(),
        expAvgSq: noGrad(() => v.to({ dtype: p.dtype, device: p.device }).clone()).keep(),
      });
    }
    this.dispose();
    for (const [n, st] of next) this.state.set(n, st);
    meta.groups.forEach((mg, i) => {
      this.groups[i]!.lr = mg.lr;
      this.groups[i]!.weightDecay = mg.weightDecay;
    });
  }

  /** Frees the moment tensors. */
  dispose(): void {
    this.discardDeferredClip();
    this.scratch?.dispose();
    this.scratch = null;
    for (const st of this.state.values()) {
      st.expAvg.dispose();
      st.expAvgSq.dispose();
    }
    this.state.clear();
  }
}
