// Tensor op values against hand-computed / float64 JavaScript results, errors, dtypes and disposal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.ts';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6): void => {
  assert.equal(a.length, b.length, 'length');
  for (let i = 0; i < a.length; i++)
    assert.ok(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `element ${i}: ${a[i]} vs ${b[i]}`);
};
const f64 = (data: number[], shape: number[]): T.Tensor => T.tensor(Float64Array.from(data), { shape });
const seq = (n: number, f: (i: number) => number): number[] => Array.from({ length: n }, (_, i) => f(i));

test('creation and export for every dtype', () => {
  T.tidy(() => {
    assert.deepEqual(T.tensor(Float32Array.from([1.5, -2])).toArray(), [1.5, -2]);
    assert.deepEqual([...T.tensor(Int32Array.from([3, -4])).toInt32Array()], [3, -4]);
    assert.deepEqual([...T.tensor(BigInt64Array.from([2n ** 40n, -1n])).toBigInt64Array()], [2n ** 40n, -1n]);
    assert.equal(T.tensor(Uint8Array.from([0, 255])).dtype, 'uint8');
    const h = T.tensor([0.5, 1.25, -3], { dtype: 'float16' });
    assert.equal(h.dtype, 'float16');
    assert.deepEqual(h.toArray(), [0.5, 1.25, -3]);
    assert.deepEqual(T.tensor([1, 2.5], { dtype: 'bfloat16' }).toFloat32Array().length, 2);
    const b = T.tensor([1, 0, 1], { dtype: 'bool' });
    assert.equal(b.dtype, 'bool');
    assert.deepEqual(b.toArray(), [1, 0, 1]);
    assert.deepEqual(T.zeros([2, 3]).shape, [2, 3]);
    assert.deepEqual(T.full([2], 7).toArray(), [7, 7]);
    assert.deepEqual(T.arange(5).toArray(), [0, 1, 2, 3, 4]);
    assert.equal(T.arange(5).dtype, 'int64');
    assert.deepEqual(T.arange(1, 2, 0.25).toArray(), [1, 1.25, 1.5, 1.75]);
    const r = T.randint(3, 7, [1000]).toArray();
    assert.ok(r.every((x) => x >= 3 && x < 7) && new Set(r).size === 4);
    const p = T.randperm(10).toArray().sort((a, b) => a - b);
    assert.deepEqual(p, seq(10, (i) => i));
    const u = T.rand([1000]).toArray();
    assert.ok(u.every((x) => x >= 0 && x < 1));
    const n = T.randn([20000]);
    assert.ok(Math.abs(n.mean().item()) < 0.05 && Math.abs(n.norm().item() / Math.sqrt(20000) - 1) < 0.05);
    assert.deepEqual(T.tensor([[1, 2], [3, 4]]).shape, [2, 2]);
    assert.throws(() => T.tensor([[1, 2], [3]]), /ragged/);
    assert.throws(() => T.fromBuffer(new Float32Array(3), [2, 2], 'float32'), /bytes/);
  });
});

test('elementwise arithmetic with broadcasting and scalars', () => {
  T.tidy(() => {
    const a = f64([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = f64([10, 20, 30], [3]);
    close(a.add(b).toArray(), [11, 22, 33, 14, 25, 36]);
    close(a.add(b, 2).toArray(), [21, 42, 63, 24, 45, 66]);
    close(a.sub(1).toArray(), [0, 1, 2, 3, 4, 5]);
    close(a.mul(b).toArray(), [10, 40, 90, 40, 100, 180]);
    close(a.div(2).toArray(), [0.5, 1, 1.5, 2, 2.5, 3]);
    close(a.pow(2).toArray(), [1, 4, 9, 16, 25, 36]);
    close(a.neg().toArray(), [-1, -2, -3, -4, -5, -6]);
    const xs = [-2.5, -1, -0.1, 0, 0.3, 1, 2.7];
    const x = f64(xs, [7]);
    close(x.abs().toArray(), xs.map(Math.abs));
    close(x.exp().toArray(), xs.map(Math.exp));
    close(x.tanh().toArray(), xs.map(Math.tanh));
    close(x.relu().toArray(), xs.map((v) => Math.max(0, v)));
    close(x.sigmoid().toArray(), xs.map((v) => 1 / (1 + Math.exp(-v))));
    close(x.softplus().toArray(), xs.map((v) => Math.log1p(Math.exp(v))));
    close(x.clamp(-1, 1).toArray(), xs.map((v) => Math.min(1, Math.max(-1, v))));
    close(x.square().toArray(), xs.map((v) => v * v));
    // exact GELU: x * Phi(x); erf from the float64 series in libtorch vs the definition through erf()
    close(x.gelu().toArray(), x.mul(x.div(Math.SQRT2).erf().add(1)).mul(0.5).toArray(), 1e-12);
    close(T.tensor(Float64Array.from([0.5, 1, 2])).erf().toArray(), [0.5204998778130465, 0.8427007929497149, 0.9953222650189527], 1e-12);
    const pos = f64([0.5, 1, 4], [3]);
    close(pos.sqrt().toArray(), [Math.sqrt(0.5), 1, 2]);
    close(pos.log().toArray(), [Math.log(0.5), 0, Math.log(4)]);
    close(pos.rsqrt().toArray(), [1 / Math.sqrt(0.5), 1, 0.5]);
    close(pos.reciprocal().toArray(), [2, 1, 0.25]);
    assert.deepEqual(x.gt(0).toArray(), xs.map((v) => (v > 0 ? 1 : 0)));
    assert.deepEqual(x.le(0).toArray(), xs.map((v) => (v <= 0 ? 1 : 0)));
    assert.deepEqual(x.eq(1).toArray(), xs.map((v) => (v === 1 ? 1 : 0)));
    assert.deepEqual(x.ne(1).logicalNot().toArray(), xs.map((v) => (v === 1 ? 1 : 0)));
    assert.deepEqual(x.gt(0).logicalAnd(x.lt(2)).toArray(), xs.map((v) => (v > 0 && v < 2 ? 1 : 0)));
    assert.equal(T.tensor([1, Number.NaN]).allFinite(), false);
    assert.equal(T.tensor([1, 2]).allFinite(), true);
    close(T.where(x.gt(0), x, T.zerosLike(x)).toArray(), xs.map((v) => (v > 0 ? v : 0)));
  });
});

test('matmul, bmm, linear against float64 loops', () => {
  T.tidy(() => {
    const A = seq(6, (i) => i * 0.5 - 1);
    const B = seq(12, (i) => Math.sin(i));
    const ref: number[] = [];
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 4; j++) {
        let s = 0;
        for (let k = 0; k < 3; k++) s += A[i * 3 + k]! * B[k * 4 + j]!;
        ref.push(s);
      }
    close(f64(A, [2, 3]).matmul(f64(B, [3, 4])).toArray(), ref, 1e-12);
    close(f64(A, [1, 2, 3]).bmm(f64(B, [1, 3, 4])).toArray(), ref, 1e-12);
    // linear: x @ W.T + b with W [4, 3]
    const W = f64(B, [3, 4]).t().contiguous();
    close(T.linear(f64(A, [2, 3]), W, f64([1, 1, 1, 1], [4])).toArray(), ref.map((v) => v + 1), 1e-12);
    assert.throws(() => f64(A, [2, 3]).matmul(f64(A, [2, 3])), /cannot be multiplied/);
  });
});

test('shape ops and indexing', () => {
  T.tidy(() => {
    const a = T.arange(24).reshape([2, 3, 4]);
    assert.deepEqual(a.permute([2, 0, 1]).shape, [4, 2, 3]);
    assert.deepEqual(a.transpose(0, 2).contiguous().view([4, 6]).shape, [4, 6]);
    assert.deepEqual(a.unsqueeze(1).shape, [2, 1, 3, 4]);
    assert.deepEqual(a.unsqueeze(1).squeeze(1).shape, [2, 3, 4]);
    assert.deepEqual(a.flatten(1).shape, [2, 12]);
    assert.deepEqual(a.narrow(2, 1, 2).select(0, 1).toArray(), [13, 14, 17, 18, 21, 22]);
    assert.deepEqual(T.arange(3).expand([2, 3]).toArray(), [0, 1, 2, 0, 1, 2]);
    assert.deepEqual(T.arange(2).repeat([2]).toArray(), [0, 1, 0, 1]);
    const m = T.arange(6).reshape([2, 3]);
    assert.deepEqual(m.indexSelect(1, T.tensor([2, 0], { dtype: 'int64' })).toArray(), [2, 0, 5, 3]);
    assert.deepEqual(m.gather(1, T.tensor([[1], [2]], { dtype: 'int64' })).toArray(), [1, 5]);
    assert.deepEqual(T.zeros([2, 3]).scatter(1, T.tensor([[0], [2]], { dtype: 'int64' }), 1).toArray(), [1, 0, 0, 0, 0, 1]);
    assert.deepEqual(m.maskedFill(m.gt(3), -1).toArray(), [0, 1, 2, 3, -1, -1]);
    assert.deepEqual(T.cat([m, m], 0).shape, [4, 3]);
    assert.deepEqual(T.stack([m, m], 1).shape, [2, 2, 3]);
    assert.throws(() => a.view([5, 5]), /invalid for input of size 24/);
    assert.throws(() => m.indexSelect(0, T.tensor([5], { dtype: 'int64' })), /out of range|INDICES|index/i);
    assert.throws(() => m.gather(1, T.tensor([[0.5]])), /int64|Long|dtype/i);
  });
});

test('reductions, topk, sort, softmax', () => {
  T.tidy(() => {
    const v = [3, -1, 4, 1, -5, 9];
    const a = f64(v, [2, 3]);
    close(a.sum().toArray(), [11]);
    close(a.sum(1).toArray(), [6, 5]);
    close(a.mean(0, true).toArray(), [2, -3, 6.5]);
    assert.equal(a.max().item(), 9);
    assert.equal(a.min().item(), -5);
    const md = a.maxDim(1);
    assert.deepEqual(md.values.toArray(), [4, 9]);
    assert.deepEqual(md.indices.toArray(), [2, 2]);
    assert.deepEqual(a.argmax(1).toArray(), [2, 2]);
    assert.equal(a.argmax().item(), 5);
    const tk = f64([0.1, 0.9, 0.5, 0.7], [4]).topk(2);
    assert.deepEqual(tk.indices.toArray(), [1, 3]);
    close(tk.values.toArray(), [0.9, 0.7]);
    const s = f64([2, 1, 2, 0], [4]).sort(0, true);
    assert.deepEqual(s.indices.toArray(), [0, 2, 1, 3], 'stable descending');
    close(a.norm().toArray(), [Math.sqrt(v.reduce((x, y) => x + y * y, 0))]);
    close(a.norm(1, 1).toArray(), [8, 15]);
    const row = [3, -1, 4];
    const lse = Math.log(row.reduce((x, y) => x + Math.exp(y), 0));
    close(a.logsumexp(1).toArray().slice(0, 1), [lse]);
    close(a.softmax(1).toArray().slice(0, 3), row.map((x) => Math.exp(x - lse)));
    close(a.logSoftmax(1).toArray().slice(0, 3), row.map((x) => x - lse));
    assert.deepEqual(T.arange(4).cumsum(0).toArray(), [0, 1, 3, 6]);
    assert.equal(T.tensor([0, 0, 1]).any().item(), 1);
    assert.equal(T.tensor([0, 1]).all().item(), 0);
  });
});

test('nn functional: embedding, layer_norm, dropout, cross_entropy', () => {
  T.tidy(() => {
    const W = f64(seq(8, (i) => i), [4, 2]);
    assert.deepEqual(T.embedding(W, T.tensor([[3, 0]], { dtype: 'int64' })).toArray(), [6, 7, 0, 1]);
    const x = f64([1, 2, 3, 4, 10, 20, 30, 50], [2, 4]);
    const ln = T.layerNorm(x, [4], null, null, 1e-5).toArray();
    for (let r = 0; r < 2; r++) {
      const row = x.toArray().slice(r * 4, r * 4 + 4);
      const mu = row.reduce((p, q) => p + q, 0) / 4;
      const vr = row.reduce((p, q) => p + (q - mu) ** 2, 0) / 4;
      close(ln.slice(r * 4, r * 4 + 4), row.map((q) => (q - mu) / Math.sqrt(vr + 1e-5)), 1e-10);
    }
    const d = T.dropout(T.ones([10000]), 0.25, true).toArray();
    const zerosFrac = d.filter((q) => q === 0).length / d.length;
    assert.ok(Math.abs(zerosFrac - 0.25) < 0.03);
    assert.ok(d.every((q) => q === 0 || Math.abs(q - 1 / 0.75) < 1e-6));
    assert.deepEqual(T.dropout(T.ones([4]), 0.5, false).toArray(), [1, 1, 1, 1]);
    const logits = f64([1, 2, 0.5, -1, 0, 3], [2, 3]);
    const tgt = T.tensor([1, 2], { dtype: 'int64' });
    const lr = (row: number[], t: number): number => Math.log(row.reduce((p, q) => p + Math.exp(q), 0)) - row[t]!;
    close(T.crossEntropy(logits, tgt).toArray(), [(lr([1, 2, 0.5], 1) + lr([-1, 0, 3], 2)) / 2], 1e-12);
    close(T.crossEntropy(logits, tgt, { reduction: 'none' }).toArray(), [lr([1, 2, 0.5], 1), lr([-1, 0, 3], 2)], 1e-12);
  });
});

test('in-place updates, dtype/device conversion, no-grad mode', () => {
  T.tidy(() => {
    const p = f64([1, 2, 3], [3]);
    p.add_(f64([1, 1, 1], [3]), 0.5).mul_(2);
    close(p.toArray(), [3, 5, 7]);
    p.addcmul_(f64([1, 2, 3], [3]), f64([2, 2, 2], [3]), 0.5).addcdiv_(f64([1, 1, 1], [3]), f64([2, 4, 8], [3]), 2);
    close(p.toArray(), [3 + 1 + 1, 5 + 2 + 0.5, 7 + 3 + 0.25]);
    p.clamp_(null, 7);
    close(p.toArray(), [5, 7, 7]);
    p.copy_(f64([0, 0, 1], [3])).fill_(4).zero_();
    close(p.toArray(), [0, 0, 0]);
    assert.equal(p.to('float32').dtype, 'float32');
    assert.equal(p.to('cpu').device, 'cpu');
    const w = T.ones([2]).setRequiresGrad();
    const y = T.noGrad(() => w.mul(2));
    assert.equal(y.requiresGrad, false);
    assert.equal(w.mul(2).requiresGrad, true);
  });
});

test('errors: bad shapes and dtypes become JS errors with libtorch messages; disposed tensors refuse use', () => {
  const a = T.ones([2, 3]);
  assert.throws(() => a.add(T.ones([4])), /size of tensor a \(3\) must match/);
  assert.throws(() => T.embedding(T.ones([4, 2]), T.tensor([0.5])), /Long|Int|dtype|indices/i);
  assert.throws(() => a.narrow(1, 2, 5), /start \(2\) \+ length \(5\) exceeds dimension size \(3\)/);
  assert.throws(() => T.zeros([2], { device: 'cuda:7' }), /CUDA|cuda|device/);
  a.dispose();
  assert.equal(a.disposed, true);
  assert.throws(() => a.add(1), /tensor was disposed/);
  assert.throws(() => a.shape, /tensor was disposed/);
  a.dispose(); // idempotent
});

test('integral JS numbers keep integer dtypes; fractional ones promote', () => {
  T.tidy(() => {
    const i = T.arange(3);
    assert.equal(i.add(1).dtype, 'int64');
    assert.deepEqual(i.mul(2).toArray(), [0, 2, 4]);
    assert.equal(i.add(0.5).dtype, 'float32');
    assert.equal(T.tensor(Int32Array.from([1, 2])).sub(1).dtype, 'int32');
    assert.equal(T.ones([2]).add(1).dtype, 'float32');
    assert.equal(T.ones([2], { dtype: 'float64' }).mul(3).dtype, 'float64');
  });
});
