// Saved faiss indexes: round trip with the same top-k, refusal of a truncated file, a wrong manifest, foreign
// embeddings and non-finite rows (before any index file exists).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../../src/tensor/index.ts';
import { buildIndex, indexManifestPath, loadIndex, searcherFromIndex } from '../../src/retrieval/ann.ts';
import { DenseSearcher } from '../../src/retrieval/search.ts';
import { DrhardInputError } from '../../src/util/errors.ts';
import { sha256FileSync } from '../../src/util/hash.ts';
import { tmpDir, writeEmbeddingsFile } from './helpers.ts';

const dir = tmpDir();
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
T.manualSeed(31);
const emb = path.join(dir, 'docs.emb');
T.tidy(() => writeEmbeddingsFile(emb, T.randn([3000, 16])));

test('build → load round trip: manifest fields, same top-k as the in-memory faiss index', () => {
  for (const factory of ['HNSW16', 'IVF16,Flat']) {
    const out = path.join(dir, `${factory.replace(/\W/g, '_')}.faiss`);
    const m = buildIndex(emb, out, { factory, params: factory.startsWith('IVF') ? { nprobe: 16 } : { efSearch: 64 } });
    assert.equal(m.ntotal, 3000);
    assert.equal(m.dim, 16);
    assert.equal(m.metric, 'ip');
    assert.equal(m.factory, factory);
    assert.equal(m.bytes, fs.statSync(out).size);
    T.tidy(() => {
      const q = T.randn([20, 16]);
      using a = DenseSearcher.fromFile(emb, { index: factory, params: m.params });
      using b = searcherFromIndex(out, { embeddings: emb });
      assert.equal(b.mode, 'faiss');
      const ra = a.search(q, 10);
      const rb = b.search(q, 10);
      assert.deepEqual(rb.ids, ra.ids);
      assert.deepEqual(rb.scores, ra.scores);
      // IVF16 with nprobe 16 visits every list: exact.
      if (factory.startsWith('IVF')) {
        using exact = DenseSearcher.fromFile(emb);
        assert.deepEqual(rb.ids, exact.search(q, 10).ids);
      }
      assert.deepEqual(b.docVectors([2999]).toFloat32Array(), a.docVectors([2999]).toFloat32Array());
    });
  }
});

test('truncated index, edited manifest, foreign embeddings, missing manifest: clear errors, process survives', () => {
  const out = path.join(dir, 'flat.faiss');
  buildIndex(emb, out, { factory: 'Flat' });
  const good = fs.readFileSync(out);
  const manifest = fs.readFileSync(indexManifestPath(out), 'utf8');

  fs.writeFileSync(out, good.subarray(0, good.length - 100));
  assert.throws(() => loadIndex(out), (e: unknown) => e instanceof DrhardInputError && /flat\.faiss: index file has \d+ bytes, its manifest says \d+: truncated/.test(e.message));
  // Same size, one flipped byte: the checksum catches it.
  const flipped = Buffer.from(good);
  flipped[flipped.length - 7] = (flipped[flipped.length - 7] as number) ^ 1;
  fs.writeFileSync(out, flipped);
  assert.throws(() => loadIndex(out), /sha256 .* does not match its manifest/);
  fs.writeFileSync(out, good);

  const m = JSON.parse(manifest) as { ntotal: number; dim: number; bytes: number; sha256: string };
  fs.writeFileSync(indexManifestPath(out), JSON.stringify({ ...m, ntotal: 2999 }));
  assert.throws(() => loadIndex(out), /faiss reports ntotal 3000, dim 16, metric ip; the manifest says 2999, 16, ip/);
  fs.writeFileSync(indexManifestPath(out), JSON.stringify({ ...m, format: 'something-else' }));
  assert.throws(() => loadIndex(out), /invalid index manifest/);
  fs.writeFileSync(indexManifestPath(out), manifest);

  const other = path.join(dir, 'other.emb');
  T.tidy(() => writeEmbeddingsFile(other, T.randn([3000, 16])));
  assert.throws(() => loadIndex(out, { embeddings: other }), /index was built from embeddings with sha256 .*, but .*other\.emb has/);
  const { index } = loadIndex(out, { embeddings: emb });
  assert.equal(index.ntotal, 3000);
  index.dispose();

  // A git-lfs pointer with a matching hand-made manifest still fails cleanly inside faiss.
  const lfs = path.join(dir, 'lfs.faiss');
  fs.writeFileSync(lfs, 'version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n');
  const h = sha256FileSync(lfs);
  fs.writeFileSync(indexManifestPath(lfs), JSON.stringify({ ...m, sha256: h.sha256, bytes: h.size }));
  assert.throws(() => loadIndex(lfs), (e: unknown) => e instanceof DrhardInputError && e.message.includes('lfs.faiss'));
  fs.rmSync(indexManifestPath(out));
  assert.throws(() => loadIndex(out), /no index manifest/);
});

test('non-finite embeddings are refused before faiss add, naming the count and first rows; no index file is left', () => {
  const bad = path.join(dir, 'bad.emb');
  T.tidy(() => {
    const x = T.randn([200, 16]);
    x.select(0, 150).fill_(Number.NaN);
    x.select(0, 3).select(0, 0).fill_(Number.NEGATIVE_INFINITY);
    writeEmbeddingsFile(bad, x);
  });
  const out = path.join(dir, 'bad.faiss');
  assert.throws(() => buildIndex(bad, out, { factory: 'HNSW8' }), /2 row\(s\) hold NaN or Inf; first: 3, 150/);
  assert.ok(!fs.existsSync(out));
  assert.ok(!fs.existsSync(indexManifestPath(out)));
  // Sharded: the rows are checked as the search loads each shard (the file is read once), so the search fails.
  using sharded = DenseSearcher.fromFile(bad, { maxMemoryBytes: 8000, chunkRows: 64, queryBatch: 4 });
  assert.throws(() => sharded.search(T.randn([2, 16]), 3), /bad\.emb: document embeddings: 2 row\(s\) hold NaN or Inf; first: 3, 150/);
});
