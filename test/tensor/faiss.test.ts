// faiss through the addon: flat IP exactness, factory strings, write/read round trip, errors as JS exceptions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../src/tensor/index.ts';

test('IndexFlatIP returns exact top-k of the dot products', () => {
  T.tidy(() => {
    T.manualSeed(3);
    const docs = T.randn([500, 16]);
    const qs = T.randn([7, 16]);
    using ix = T.FaissIndex.create(16, 'Flat', 'ip');
    ix.add(docs);
    assert.equal(ix.ntotal, 500);
    assert.equal(ix.metric, 'ip');
    const r = ix.search(qs, 5);
    const ref = qs.matmul(docs.t()).topk(5);
    assert.deepEqual(Array.from(r.ids, Number), ref.indices.toArray());
    const rv = ref.values.toArray();
    r.scores.forEach((s, i) => assert.ok(Math.abs(s - rv[i]!) < 1e-4));
    // Float32Array input gives the same answer
    const r2 = ix.search(qs.toFloat32Array(), 5);
    assert.deepEqual(r2.ids, r.ids);
  });
});

test('factory indexes train, search, write and read back identically', () => {
  T.tidy(() => {
    T.manualSeed(4);
    const docs = T.randn([2000, 32]);
    const qs = T.randn([20, 32]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-faiss-'));
    for (const f of ['HNSW16', 'IVF16,Flat', 'PQ8']) {
      using ix = T.FaissIndex.create(32, f, 'ip');
      if (!ix.isTrained) ix.train(docs);
      ix.add(docs);
      if (f.startsWith('IVF')) ix.setParam('nprobe', 4);
      const a = ix.search(qs, 10);
      const p = path.join(dir, `${f.replace(/[^A-Za-z0-9]/g, '_')}.faiss`);
      ix.write(p);
      using back = T.FaissIndex.read(p);
      if (f.startsWith('IVF')) back.setParam('nprobe', 4);
      assert.equal(back.ntotal, 2000);
      assert.equal(back.dim, 32);
      assert.deepEqual(back.search(qs, 10).ids, a.ids, f);
    }
    fs.rmSync(dir, { recursive: true });
  });
});

test('faiss errors become JS errors: bad factory, wrong dim, truncated and foreign files', () => {
  assert.throws(() => T.FaissIndex.create(8, 'NoSuchIndex'), /could not parse|NoSuchIndex/);
  using ix = T.FaissIndex.create(8, 'Flat');
  assert.throws(() => T.tidy(() => ix.add(T.ones([2, 4]))), /\[n, 8\] matrix/);
  assert.throws(() => ix.search(new Float32Array(5), 1), /multiple of the index dimension/);
  ix.add(new Float32Array(16));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-faiss-'));
  const p = path.join(dir, 'x.faiss');
  ix.write(p);
  const bytes = fs.readFileSync(p);
  fs.writeFileSync(p, bytes.subarray(0, bytes.length - 10));
  assert.throws(() => T.FaissIndex.read(p), /x\.faiss: cannot read faiss index/);
  fs.writeFileSync(p, 'version https://git-lfs.github.com/spec/v1\n');
  assert.throws(() => T.FaissIndex.read(p), /cannot read faiss index/);
  assert.throws(() => T.FaissIndex.read(path.join(dir, 'missing')), /not found/);
  fs.rmSync(dir, { recursive: true });
  ix.dispose();
  assert.throws(() => ix.ntotal, /disposed/);
});
