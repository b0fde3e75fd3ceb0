// Compressed faiss indexes over an embeddings file larger than the memory budget: size estimates, and the index
// streamed from the file equal to the one built from rows in memory.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import * as T from '../../src/tensor/index.ts';
import { faissBytesPerVector } from '../../src/retrieval/faissmem.ts';
import { DenseSearcher, FAISS_TRAIN_ROWS } from '../../src/retrieval/search.ts';
import { seededRng } from '../helpers/seed.ts';
import { tmpDir, writeEmbeddingsFile } from './helpers.ts';

const dir = tmpDir('drhard-faissmem-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('bytes per vector from the factory string', () => {
  assert.equal(faissBytesPerVector('IVF1024,PQ64', 768), 64 + 8);
  assert.equal(faissBytesPerVector('IVF4096,PQ32x4fs', 768), 16 + 8);
  assert.equal(faissBytesPerVector('IVF256,SQ8', 768), 768 + 8);
  assert.equal(faissBytesPerVector('IVF256,SQfp16', 128), 256 + 8);
  assert.equal(faissBytesPerVector('OPQ16_64,IVF100,PQ16', 768), 16 + 8);
  assert.equal(faissBytesPerVector('PCA64,IVF100,Flat', 768), 256 + 8);
  assert.equal(faissBytesPerVector('Flat', 768), 3072);
  // HNSW keeps the full vectors plus 2M links at level 0.
  assert.ok((faissBytesPerVector('HNSW32', 768) as number) > 3072 + 2 * 32 * 4);
  for (const f of ['LSH', 'IVF100', 'IVF100,Foo', 'Refine(Flat)']) assert.equal(faissBytesPerVector(f, 768), null, f);
});

test('a compressed (IVF-SQ8) index over a file above the budget is streamed from it, same as built in memory', () => {
  const { rng, tag } = seededRng(31);
  // More rows than the training sample, so codes + sample fit a budget the float32 rows do not.
  const N = FAISS_TRAIN_ROWS + 300_000;
  const D = 32;
  const x = new Float32Array(N * D);
  for (let i = 0; i < x.length; i++) x[i] = rng.next() * 2 - 1;
  const file = path.join(dir, 'docs.f32');
  T.tidy(() => writeEmbeddingsFile(file, T.tensor(x, { shape: [N, D] })));
  const rowsBytes = N * D * 4;
  const factory = 'IVF8,SQ8';
  const need = N * (faissBytesPerVector(factory, D) as number) + FAISS_TRAIN_ROWS * D * 4;
  assert.ok(need < rowsBytes, 'the test needs a budget between the index and the rows');
  const budget = Math.floor((need + rowsBytes) / 2);
  const q = T.keep(T.tensor(x.slice(0, 16 * D), { shape: [16, D] }));
  const streamed = DenseSearcher.fromFile(file, { index: factory, maxMemoryBytes: budget, params: { nprobe: 8 } });
  const loaded = DenseSearcher.fromFile(file, { index: factory, maxMemoryBytes: 4 * rowsBytes, params: { nprobe: 8 } });
  try {
    assert.equal(streamed.mode, 'faiss');
    const a = streamed.search(q, 10);
    const b = loaded.search(q, 10);
    assert.deepEqual(Array.from(a.ids), Array.from(b.ids), tag);
    assert.deepEqual(Array.from(a.scores), Array.from(b.scores), tag);
    // ADORE gathers stored rows: from the file, since the searcher holds only codes.
    const rows = T.tidy(() => streamed.docVectors([5, N - 1]).data() as Float32Array);
    assert.deepEqual(Array.from(rows), [...Array.from(x.subarray(5 * D, 6 * D)), ...Array.from(x.subarray((N - 1) * D))], tag);
  } finally {
    streamed.dispose();
    loaded.dispose();
    q.dispose();
  }
  // An index that keeps the full vectors still does not fit, and says so.
  assert.throws(() => DenseSearcher.fromFile(file, { index: 'HNSW16', maxMemoryBytes: budget }), /exceed the memory budget.*HNSW16.*needs about/);
  assert.throws(() => DenseSearcher.fromFile(file, { index: 'LSH', maxMemoryBytes: budget }), /of unknown size/);
});
