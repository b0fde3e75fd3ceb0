// Tensor maps saved in torch.save's format round-trip exactly; runtime settings (threads, seed, RNG state).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../src/tensor/index.ts';

test('saveTensors/loadTensors round-trip bit-exactly across dtypes', () => {
  T.tidy(() => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-ser-'));
    const p = path.join(dir, 'm.pt');
    const src = { a: T.randn([3, 4]), b: T.arange(5), c: T.randn([2]).to('bfloat16'), d: T.tensor([1, 0], { dtype: 'bool' }) };
    T.saveTensors(src, p);
    const back = T.loadTensors(p);
    assert.deepEqual([...back.keys()].sort(), ['a', 'b', 'c', 'd']);
    for (const [k, v] of Object.entries(src)) {
      const w = back.get(k)!;
      assert.equal(w.dtype, v.dtype);
      assert.deepEqual(w.shape, v.shape);
      assert.deepEqual(Buffer.from(w.data().buffer), Buffer.from(v.data().buffer), k);
    }
    fs.writeFileSync(p, fs.readFileSync(p).subarray(0, 100));
    assert.throws(() => T.loadTensors(p), /m\.pt: cannot read tensors/);
    fs.rmSync(dir, { recursive: true });
  });
});

test('fromFile preads a region straight into a tensor and reports short files', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-ff-'));
  const p = path.join(dir, 'x.f32');
  fs.writeFileSync(p, Buffer.from(Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]).buffer));
  T.tidy(() => {
    assert.deepEqual(T.fromFile(p, 8, [2, 3], 'float32').toArray(), [2, 3, 4, 5, 6, 7]);
    assert.throws(() => T.fromFile(p, 16, [2, 3], 'float32'), /file too short/);
    assert.throws(() => T.fromFile(path.join(dir, 'nope'), 0, [1], 'float32'), /No such file/);
    // readFileInto refills an existing buffer in place (same storage), and refuses views it cannot fill linearly.
    const buf = T.zeros([2, 2]);
    const ptrBefore = buf.narrow(0, 0, 1);
    T.readFileInto(p, 4, buf);
    assert.deepEqual(buf.toArray(), [1, 2, 3, 4]);
    assert.deepEqual(ptrBefore.toArray(), [1, 2]);
    T.readFileInto(p, 16, buf.narrow(0, 1, 1));
    assert.deepEqual(buf.toArray(), [1, 2, 4, 5]);
    assert.throws(() => T.readFileInto(p, 0, buf.t()), /contiguous CPU tensor/);
    assert.throws(() => T.readFileInto(p, 24, buf), /file too short/);
  });
  fs.rmSync(dir, { recursive: true });
});

test('fromFile and readFileInto read regions over 8 MiB in blocks: the same bytes; short files and non-contiguous targets refused', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-ff-'));
  const p = path.join(dir, 'big.f32');
  // 2.5M distinct values (10 MB): every block boundary lands inside, and a misplaced block shows as wrong values.
  const n = 2_500_000;
  const src = Float32Array.from({ length: n }, (_, i) => i * 0.5 - 7);
  fs.writeFileSync(p, Buffer.from(src.buffer));
  T.tidy(() => {
    const a = T.fromFile(p, 12, [1200, 2000], 'float32');
    assert.deepEqual(a.toFloat32Array(), src.subarray(3, 3 + 2_400_000));
    const buf = T.zeros([2000, 1200]);
    T.readFileInto(p, 400, buf);
    assert.deepEqual(buf.toFloat32Array(), src.subarray(100, 100 + 2_400_000));
    // Too short by one value: the error names the whole read, as the one-pread path does.
    assert.throws(() => T.readFileInto(p, 4 * 100_001, buf), new RegExp(`big\\.f32: file too short: wanted 9600000 bytes at offset ${4 * 100_001}`));
    assert.throws(() => T.readFileInto(p, 0, buf.t()), /contiguous CPU tensor/);
  });
  fs.rmSync(dir, { recursive: true });
});

test('setMallocMmapThreshold takes a byte count (glibc here) and refuses nonsense', () => {
  assert.equal(T.setMallocMmapThreshold(1 << 20), process.platform === 'linux');
  assert.throws(() => T.setMallocMmapThreshold(-1), RangeError);
  assert.throws(() => T.setMallocMmapThreshold(1.5), RangeError);
});

test('threads, manual seed and RNG state save/restore', () => {
  T.tidy(() => {
    const n = T.getNumThreads();
    T.setNumThreads(1);
    assert.equal(T.getNumThreads(), 1);
    T.setNumThreads(n);
    assert.throws(() => T.setNumThreads(0), /positive integer/);
    T.manualSeed(42);
    const a = T.randn([5]).toArray();
    T.manualSeed(42);
    assert.deepEqual(T.randn([5]).toArray(), a);
    const st = T.getRngState();
    const b = T.rand([4]).toArray();
    T.setRngState(st);
    assert.deepEqual(T.rand([4]).toArray(), b);
    assert.equal(typeof T.cudaIsAvailable(), 'boolean');
  });
});

test('loadTensors reads a Python state dict (OrderedDict, zip format) that libtorch alone cannot', () => {
  // Written by Python torch.save(nn.Linear(3, 2).state_dict()) in scripts/fixtures/models_make.py's format family;
  // here we reuse the committed HF fixture checkpoint.
  const file = path.join(path.dirname(new URL(import.meta.url).pathname), '../fixtures/models/roberta-tiny/pytorch_model.bin');
  T.tidy(() => {
    const m = T.loadTensors(file);
    assert.ok(m.size > 10);
    assert.ok([...m.keys()].some((k) => k.includes('encoder.layer.0')));
  });
});
