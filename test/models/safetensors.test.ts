// safetensors reader/writer: round trips, reading the Python-written fixtures, and fuzzed corruption.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import {
  encodeSafetensors,
  parseSafetensors,
  readSafetensors,
  SafetensorsFile,
  writeSafetensors,
  type RawTensor,
} from '../../src/models/safetensors.ts';
import { DrhardInputError } from '../../src/util/errors.ts';
import { fcParams } from '../helpers/seed.ts';

const FIX = path.join(import.meta.dirname, '..', 'fixtures', 'models');

function f32(values: number[], shape: number[]): RawTensor {
  return { dtype: 'float32', shape, data: new Uint8Array(new Float32Array(values).buffer) };
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-st-'));
}

test('encode → parse round-trips names, dtypes, shapes, bytes and metadata', () => {
  const tensors: Array<[string, RawTensor]> = [
    ['a.weight', f32([1, 2, 3, 4, 5, 6], [2, 3])],
    ['b', { dtype: 'int64', shape: [2], data: new Uint8Array(new BigInt64Array([7n, -1n]).buffer) }],
    ['empty', { dtype: 'float32', shape: [0, 4], data: new Uint8Array(0) }],
    ['scalar', f32([9.5], [])],
  ];
  const bytes = encodeSafetensors(tensors, { format: 'pt' });
  // The reference writer pads the header so the data section starts 8-byte aligned.
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + n) % 8, 0);
  const { tensors: back, metadata } = parseSafetensors(bytes);
  assert.deepEqual(metadata, { format: 'pt' });
  assert.deepEqual([...back.keys()], tensors.map(([k]) => k));
  for (const [name, t] of tensors) {
    const b = back.get(name)!;
    assert.equal(b.dtype, t.dtype);
    assert.deepEqual(b.shape, t.shape);
    assert.deepEqual(Buffer.from(b.data), Buffer.from(t.data));
  }
});

test('writeSafetensors streams the same bytes as encodeSafetensors, and SafetensorsFile reads them back', () => {
  const dir = tmpDir();
  const p = path.join(dir, 'x.safetensors');
  const tensors: Array<[string, RawTensor]> = [
    ['x', f32([0.5, -2], [2])],
    ['y', { dtype: 'uint8', shape: [3], data: new Uint8Array([1, 2, 3]) }],
  ];
  writeSafetensors(p, tensors.map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, bytes: () => t.data }]));
  assert.deepEqual(fs.readFileSync(p), Buffer.from(encodeSafetensors(tensors)));
  using f = new SafetensorsFile(p);
  assert.deepEqual(f.names, ['x', 'y']);
  assert.deepEqual([...new Float32Array(f.read('x').data.slice().buffer)], [0.5, -2]);
  assert.throws(() => f.read('nope'), DrhardInputError);
  fs.rmSync(dir, { recursive: true });
});

test('a failed write leaves no file behind', () => {
  const dir = tmpDir();
  const p = path.join(dir, 'bad.safetensors');
  assert.throws(() =>
    writeSafetensors(p, [['x', { dtype: 'float32', shape: [4], bytes: () => new Uint8Array(3) }]]),
  );
  assert.deepEqual(fs.readdirSync(dir), []);
  fs.rmSync(dir, { recursive: true });
});

test('reads the Python-written fixture checkpoint', () => {
  const { tensors, metadata } = readSafetensors(path.join(FIX, 'roberta-tiny', 'model.safetensors'));
  assert.equal(metadata['format'], 'pt');
  const w = tensors.get('roberta.embeddings.word_embeddings.weight')!;
  assert.equal(w.dtype, 'float32');
  assert.deepEqual(w.shape, [80, 24]);
  assert.ok(tensors.has('embeddingHead.weight') && tensors.has('norm.bias'));
});

function corrupt(header: unknown, dataBytes = 16): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + h.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.byteLength), true);
  out.set(h, 8);
  return out;
}

test('named errors for truncated and inconsistent files', () => {
  const cases: Array<[Uint8Array, RegExp]> = [
    [new Uint8Array(3), /too short/],
    [(() => { const b = new Uint8Array(16); new DataView(b.buffer).setBigUint64(0, 1000n, true); return b; })(), /exceeds the file size/],
    [corrupt([1, 2]), /not a JSON object/],
    [corrupt({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 32] } }), /w: .*past the end.*truncated/],
    [corrupt({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }), /w: .*needs 12 bytes/],
    [corrupt({ w: { dtype: 'I16', shape: [1], data_offsets: [0, 2] } }), /w: unsupported dtype "I16"/],
    [corrupt({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }), /shape must be/],
    [corrupt({ w: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }), /data_offsets must be/],
    [
      corrupt({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }),
      /b: data of "b" overlaps "a"/,
    ],
    [corrupt({ __metadata__: { a: 1 } }), /__metadata__/],
  ];
  for (const [bytes, re] of cases) {
    assert.throws(() => parseSafetensors(bytes, 'm.safetensors'), (e: unknown) => {
      assert.ok(e instanceof DrhardInputError, String(e));
      assert.match(e.message, /^m\.safetensors: /);
      assert.match(e.message, re);
      return true;
    });
  }
});

test('a truncated real file is a clear error when opened from disk', () => {
  const dir = tmpDir();
  const src = fs.readFileSync(path.join(FIX, 'roberta-tiny', 'model.safetensors'));
  const p = path.join(dir, 'cut.safetensors');
  fs.writeFileSync(p, src.subarray(0, src.byteLength - 100));
  assert.throws(() => new SafetensorsFile(p), /cut\.safetensors: .*truncated/);
  fs.writeFileSync(p, src.subarray(0, 50));
  assert.throws(() => new SafetensorsFile(p), /cut\.safetensors: header length \d+ exceeds/);
  assert.throws(() => new SafetensorsFile(path.join(dir, 'missing')), /cannot open \(ENOENT\)/);
  fs.rmSync(dir, { recursive: true });
});

/** Every parse either succeeds with in-bounds, disjoint, size-consistent views, or throws DrhardInputError. */
function parseOrInputError(bytes: Uint8Array): void {
  let r: ReturnType<typeof parseSafetensors>;
  try {
    r = parseSafetensors(bytes);
  } catch (e) {
    assert.ok(e instanceof DrhardInputError, `unexpected ${String(e)}`);
    return;
  }
  const spans: Array<[number, number]> = [];
  for (const t of r.tensors.values()) {
    const start = t.data.byteOffset - bytes.byteOffset;
    assert.ok(t.data.buffer === bytes.buffer && start >= 0 && start + t.data.byteLength <= bytes.byteLength);
    spans.push([start, start + t.data.byteLength]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) assert.ok(spans[i]![0] >= spans[i - 1]![1]);
}

test('fuzz: random bytes never crash the parser', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), parseOrInputError), fcParams(2101, { numRuns: 500 }));
});

test('fuzz: mutated valid files never crash or read out of bounds', () => {
  const base = encodeSafetensors([
    ['a', f32([1, 2, 3], [3])],
    ['b', { dtype: 'int32', shape: [2, 1], data: new Uint8Array(8) }],
  ]);
  const mutation = fc.record({
    cut: fc.nat({ max: base.byteLength }),
    flips: fc.array(fc.tuple(fc.nat({ max: base.byteLength - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
  });
  fc.assert(
    fc.property(mutation, ({ cut, flips }) => {
      const b = base.slice();
      for (const [i, v] of flips) b[i] = v;
      parseOrInputError(b.subarray(0, cut));
      parseOrInputError(b);
    }),
    fcParams(2101, { numRuns: 1000 }),
  );
});

test('fuzz: structured headers with arbitrary dtype/shape/offsets', () => {
  const entry = fc.record({
    dtype: fc.constantFrom('F32', 'F64', 'I64', 'BF16', 'U8', 'BOOL', 'I16', 'X'),
    shape: fc.array(fc.integer({ min: -1, max: 5 }), { maxLength: 3 }),
    data_offsets: fc.tuple(fc.integer({ min: -2, max: 70 }), fc.integer({ min: -2, max: 70 })),
  });
  fc.assert(
    fc.property(fc.dictionary(fc.string({ maxLength: 4 }), entry, { maxKeys: 4 }), fc.nat({ max: 64 }), (h, n) => {
      parseOrInputError(corrupt(h, n));
    }),
    fcParams(2101, { numRuns: 1000 }),
  );
});
