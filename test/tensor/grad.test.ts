// Autograd of every differentiable op the models use, against central finite differences in float64.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.ts';

type Spec = { shape: number[]; positive?: boolean };
/** Checks d f(inputs).sum() / d input against central differences (eps 1e-6) for every element of every input. */
function gradcheck(name: string, specs: Spec[], f: (xs: T.Tensor[]) => T.Tensor, seed = 1): void {
  T.tidy(() => {
    let s = seed;
    const rnd = (): number => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    const values = specs.map((sp) => Float64Array.from({ length: sp.shape.reduce((a, b) => a * b, 1) }, () =>
      sp.positive ? 0.5 + Math.abs(rnd()) : rnd()));
    const build = (vals: Float64Array[]): T.Tensor[] => vals.map((v, i) => T.tensor(v, { shape: specs[i]!.shape }));
    const xs = build(values).map((x) => x.setRequiresGrad());
    f(xs).sum().backward();
    const eps = 1e-6;
    values.forEach((v, i) => {
      const analytic = xs[i]!.grad!.toArray();
      for (let j = 0; j < v.length; j++) {
        const plus = values.map((w) => w.slice());
        const minus = values.map((w) => w.slice());
        plus[i]![j]! += eps;
        minus[i]![j]! -= eps;
        const num = T.noGrad(() => (f(build(plus)).sum().item() - f(build(minus)).sum().item()) / (2 * eps));
        assert.ok(Math.abs(num - analytic[j]!) <= 1e-6 * (1 + Math.abs(num)),
          `${name}: input ${i} element ${j}: analytic ${analytic[j]} vs numeric ${num}`);
      }
    });
  });
}

const W = (xs: T.Tensor[], i: number): T.Tensor => xs[i]!;
test('elementwise ops', () => {
  gradcheck('add/sub/mul/div', [{ shape: [2, 3] }, { shape: [3] }, { shape: [2, 3], positive: true }],
    (x) => W(x, 0).add(W(x, 1)).mul(W(x, 0)).sub(W(x, 1), 0.5).div(W(x, 2)));
  gradcheck('pow/sqrt/exp/log/rsqrt', [{ shape: [5], positive: true }],
    (x) => W(x, 0).pow(3).add(W(x, 0).sqrt()).add(W(x, 0).exp()).add(W(x, 0).log()).add(W(x, 0).rsqrt()));
  gradcheck('tanh/sigmoid/softplus/gelu/erf/abs/relu', [{ shape: [7] }],
    (x) => W(x, 0).tanh().add(W(x, 0).sigmoid()).add(W(x, 0).softplus()).add(W(x, 0).gelu()).add(W(x, 0).erf())
      .add(W(x, 0).abs()).add(W(x, 0).relu()));
  gradcheck('clamp/square/neg/reciprocal', [{ shape: [6] }],
    (x) => W(x, 0).clamp(-0.5, 0.5).add(W(x, 0).square()).add(W(x, 0).neg()).add(W(x, 0).add(3).reciprocal()));
});

test('linear algebra and shapes', () => {
  gradcheck('matmul', [{ shape: [2, 3] }, { shape: [3, 4] }], (x) => W(x, 0).matmul(W(x, 1)));
  gradcheck('bmm', [{ shape: [2, 2, 3] }, { shape: [2, 3, 2] }], (x) => W(x, 0).bmm(W(x, 1)));
  gradcheck('linear', [{ shape: [3, 4] }, { shape: [2, 4] }, { shape: [2] }], (x) => T.linear(W(x, 0), W(x, 1), W(x, 2)));
  gradcheck('reshape/permute/transpose/view/narrow/select/expand/unsqueeze',
    [{ shape: [2, 3, 4] }],
    (x) => W(x, 0).permute([2, 0, 1]).transpose(0, 1).contiguous().view([2, 12]).reshape([6, 4]).narrow(0, 1, 3)
      .select(1, 2).unsqueeze(0).expand([2, 3]).mul(T.tensor(Float64Array.from([1, 2, 3, 4, 5, 6]), { shape: [2, 3] })));
  gradcheck('cat/stack', [{ shape: [2, 2] }, { shape: [2, 2] }],
    (x) => T.cat([W(x, 0), W(x, 1).mul(2)], 1).mul(T.stack([W(x, 1), W(x, 0)], 0).reshape([2, 4])));
  gradcheck('indexSelect/gather/maskedFill/where', [{ shape: [3, 4] }], (x) => {
    const idx = T.tensor(BigInt64Array.from([2n, 0n, 2n]));
    const g = W(x, 0).gather(1, T.tensor(BigInt64Array.from([1n, 3n, 0n]), { shape: [3, 1] }));
    const m = W(x, 0).maskedFill(T.tensor([[1, 0, 0, 1], [0, 0, 0, 0], [1, 1, 0, 0]], { dtype: 'bool' }), 0);
    return W(x, 0).indexSelect(0, idx).sum(0).add(g.sum()).add(m.sum(0)).add(T.where(W(x, 0).gt(0), W(x, 0), W(x, 0).mul(3)).sum(0));
  });
});

test('reductions and normalizations', () => {
  gradcheck('sum/mean/max/norm/logsumexp', [{ shape: [3, 4] }],
    (x) => W(x, 0).sum(1).add(W(x, 0).mean(1)).add(W(x, 0).max(1)).add(W(x, 0).norm(2, 1)).add(W(x, 0).logsumexp(1)));
  gradcheck('softmax/logSoftmax', [{ shape: [2, 5] }],
    (x) => W(x, 0).softmax(1).mul(T.arange(10).reshape([2, 5]).to('float64')).add(W(x, 0).logSoftmax(1).mul(0.3)));
  gradcheck('layerNorm', [{ shape: [3, 6] }, { shape: [6] }, { shape: [6] }],
    (x) => T.layerNorm(W(x, 0), [6], W(x, 1), W(x, 2), 1e-5).mul(T.arange(18).reshape([3, 6]).to('float64')));
  gradcheck('embedding', [{ shape: [5, 3] }],
    (x) => T.embedding(W(x, 0), T.tensor(BigInt64Array.from([4n, 1n, 4n, 0n]), { shape: [2, 2] })).mul(2));
  gradcheck('crossEntropy', [{ shape: [3, 4] }],
    (x) => T.crossEntropy(W(x, 0), T.tensor(BigInt64Array.from([0n, 3n, 1n]))));
  gradcheck('topk values', [{ shape: [6] }], (x) => W(x, 0).topk(3).values.mul(T.tensor(Float64Array.from([3, 2, 1]))));
});

test('backward accumulates, zeroGrad resets, detach stops gradients', () => {
  T.tidy(() => {
    const w = T.tensor(Float64Array.from([1, 2])).setRequiresGrad();
    w.mul(3).sum().backward();
    w.mul(3).sum().backward();
    assert.deepEqual(w.grad!.toArray(), [6, 6]);
    w.zeroGrad();
    assert.equal(w.grad, null);
    w.detach().mul(w).sum().backward();
    assert.deepEqual(w.grad!.toArray(), [1, 2]);
    assert.throws(() => T.ones([2]).mul(2).sum().backward(), /does not require grad/);
  });
});
