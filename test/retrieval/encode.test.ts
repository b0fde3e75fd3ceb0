// encodeSplit: vectors equal direct model.encode, search scores equal dot products, SIGKILL mid-encode then
// resume gives a byte-identical file, identity changes discard stale parts, float16 output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../../src/tensor/index.ts';
import { openDataset } from '../../src/data/index.ts';
import { loadModel } from '../../src/models/checkpoint.ts';
import { encodeIds, truncateIds } from '../../src/models/encode.ts';
import { encodeSplit } from '../../src/retrieval/encode.ts';
import { readEmbeddingsManifest, readRows } from '../../src/retrieval/embeddings.ts';
import { DenseSearcher } from '../../src/retrieval/search.ts';
import { sha256FileSync } from '../../src/util/hash.ts';
import { makeDataset, makeModelDir, tmpDir, ROOT } from './helpers.ts';

const dir = tmpDir();
const dsDir = await makeDataset(dir);
const modelDir = makeModelDir(dir);
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

test('encoded corpus equals direct encoding; search scores equal tensor dot products', async () => {
  const ds = openDataset(dsDir);
  const { model } = loadModel(modelDir);
  try {
    const out = path.join(dir, 'corpus.emb');
    const r = await encodeSplit(model, ds.corpus, { out, maxLength: 32, batchSize: 16, chunkRows: 100, progress: false, dataset: { path: dsDir, checksum: 'x', split: 'corpus' } });
    assert.equal(r.encoded, ds.corpus.count);
    const m = readEmbeddingsManifest(out);
    assert.equal(m.count, ds.corpus.count);
    assert.equal(m.dim, 8);
    assert.equal(m.maxLength, 32);
    assert.equal(m.pooling, 'first');
    assert.equal(m.sha256, sha256FileSync(out).sha256);
    assert.ok(!fs.existsSync(`${out}.parts`));
    // Reference: the models layer's encoder over the same truncated rows, one at a time (no padding at all).
    const seqs = Array.from({ length: ds.corpus.count }, (_, i) => truncateIds(ds.corpus.get(i), 32));
    const ref = encodeIds(model, seqs, { batchSize: 1 });
    const got = T.tidy(() => readRows(out, m, 0, m.count).toFloat32Array());
    let maxDiff = 0;
    for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs((got[i] as number) - (ref[i] as number)));
    assert.ok(maxDiff < 1e-5, `max diff ${maxDiff}`);

    const qout = path.join(dir, 'dev.emb');
    await encodeSplit(model, ds.queries('dev'), { out: qout, maxLength: 16, progress: false });
    // float32 GEMM engines reproduce q·dᵀ of a float32 matmul bit for bit; the bf16 screen rescores in float64 and
    // rounds once, so it reproduces the float64 product rounded to float32.
    for (const engine of ['torch', 'faiss', 'bf16'] as const) {
      using s = DenseSearcher.fromFile(out, { engine });
      T.tidy(() => {
        const q = readRows(qout, readEmbeddingsManifest(qout), 0, ds.queries('dev').count);
        const hits = s.search(q, 10);
        const d = readRows(out, m, 0, m.count);
        const full = (engine === 'bf16' ? q.to('float64').matmul(d.to('float64').t()).to('float32') : q.matmul(d.t())).toFloat32Array();
        for (let b = 0; b < q.size(0); b++) {
          for (let j = 0; j < 10; j++) {
            const id = hits.ids[b * 10 + j] as number;
            assert.equal(hits.scores[b * 10 + j], full[b * m.count + id], `${engine}: query ${b} rank ${j}`);
          }
        }
      });
    }
    // Rerun: the output is complete, nothing is encoded.
    const again = await encodeSplit(model, ds.corpus, { out, maxLength: 32, batchSize: 16, chunkRows: 100, progress: false, dataset: { path: dsDir, checksum: 'x', split: 'corpus' } });
    assert.equal(again.encoded, 0);
  } finally {
    model.dispose();
    ds.close();
  }
});

function runChild(out: string, killAfterPart: number | null): Promise<{ code: number | null; signal: NodeJS.Signals | null; parts: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'encode-child.ts'), modelDir, dsDir, out, killAfterPart === null ? 'fast' : 'slow'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, DRHARD_LOG_LEVEL: 'silent', DRHARD_NUM_THREADS: '1' },
    });
    let parts = 0;
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('part ')) parts++;
        if (killAfterPart !== null && parts === killAfterPart) child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, parts }));
  });
}

test('SIGKILL mid-encode, then resume: completed parts are reused and the file is byte-identical', async () => {
  const clean = path.join(dir, 'clean.emb');
  const a = await runChild(clean, null);
  assert.equal(a.code, 0);
  const nParts = Math.ceil(300 / 40);
  assert.equal(a.parts, nParts);

  const killed = path.join(dir, 'killed.emb');
  const b = await runChild(killed, 3);
  assert.equal(b.signal, 'SIGKILL');
  assert.ok(!fs.existsSync(killed), 'no final file after a kill');
  const kept = fs.readdirSync(`${killed}.parts`).filter((f) => /^part-\d+\.json$/.test(f));
  assert.ok(kept.length >= 3 && kept.length < nParts, `kept ${kept.length} parts`);

  const c = await runChild(killed, null);
  assert.equal(c.code, 0);
  assert.equal(c.parts, nParts - kept.length, 'only the missing parts are re-encoded');
  assert.deepEqual(fs.readFileSync(killed), fs.readFileSync(clean));
  assert.equal(readEmbeddingsManifest(killed).sha256, readEmbeddingsManifest(clean).sha256);
});

test('a corrupted part is re-encoded; parts of a different model are discarded; float16 output', async () => {
  const ds = openDataset(dsDir);
  const { model } = loadModel(modelDir);
  try {
    const out = path.join(dir, 'c.emb');
    let stopAt = 2;
    let n = 0;
    await assert.rejects(
      encodeSplit(model, ds.corpus, { out, maxLength: 32, chunkRows: 50, progress: false, onPart: () => n++, shouldStop: () => n >= stopAt }),
      /encoding stopped after 100 rows/,
    );
    // Flip one byte inside part 1's range of the data file: its sha256 no longer matches, so it is redone.
    const data = path.join(`${out}.parts`, 'data.partial');
    assert.equal(fs.statSync(data).size, 300 * 8 * 4, 'the data file has its final size from the start');
    const fd = fs.openSync(data, 'r+');
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, 50 * 8 * 4 + 5);
    b[0] = (b[0] as number) ^ 0xff;
    fs.writeSync(fd, b, 0, 1, 50 * 8 * 4 + 5);
    fs.closeSync(fd);
    stopAt = Infinity;
    const r = await encodeSplit(model, ds.corpus, { out, maxLength: 32, chunkRows: 50, progress: false });
    assert.equal(r.reused, 50);
    assert.equal(r.encoded, 250);

    // Different weights: stale parts must not be mixed in.
    const out2 = path.join(dir, 'd.emb');
    n = 0;
    stopAt = 2;
    await assert.rejects(encodeSplit(model, ds.corpus, { out: out2, maxLength: 32, chunkRows: 50, progress: false, onPart: () => n++, shouldStop: () => n >= stopAt }));
    T.noGrad(() => model.stateDict().get('norm.bias')!.add_(0.5));
    const r2 = await encodeSplit(model, ds.corpus, { out: out2, maxLength: 32, chunkRows: 50, progress: false });
    assert.equal(r2.reused, 0);

    const h = path.join(dir, 'h.emb');
    await encodeSplit(model, ds.corpus, { out: h, maxLength: 32, chunkRows: 50, progress: false, dtype: 'float16' });
    const mh = readEmbeddingsManifest(h);
    assert.equal(mh.dtype, 'float16');
    assert.equal(fs.statSync(h).size, 300 * 8 * 2);
    const diff = T.tidy(() => readRows(h, mh, 0, 300).sub(readRows(out2, readEmbeddingsManifest(out2), 0, 300)).abs().max().item());
    assert.ok(diff < 1e-2, `float16 diff ${diff}`);
  } finally {
    model.dispose();
    ds.close();
  }
});

test('sharded: rank 0 checks every part in its one hashing read; a missing or corrupted peer part is refused, naming it', async () => {
  const ds = openDataset(dsDir);
  const { model } = loadModel(modelDir);
  try {
    const opts = { maxLength: 32, batchSize: 16, chunkRows: 40, progress: false, dataset: { path: dsDir, checksum: 'x', split: 'corpus' } };
    const one = path.join(dir, 'shard-one.emb');
    await encodeSplit(model, ds.corpus, { ...opts, out: one });
    // Both "ranks" run in this process, one after the other: their waits return at once.
    const shard = (rank: number) => ({ rank, world: 2, signal: () => {}, waitFor: () => {} });
    const out = path.join(dir, 'shard-two.emb');
    // Rank 0 alone: rank 1's parts (1, 3, …) were never written.
    await assert.rejects(encodeSplit(model, ds.corpus, { ...opts, out, shard: shard(0) }), /part 1 \(rank 1\) is missing or does not verify/);
    // Rank 1 writes its parts (then fails reading the unpublished output, as no rank 0 published it).
    await assert.rejects(encodeSplit(model, ds.corpus, { ...opts, out, shard: shard(1) }));
    const data = path.join(`${out}.parts`, 'data.partial');
    const rowBytes = 8 * 4;
    const fd = fs.openSync(data, 'r+');
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, 3 * 40 * rowBytes + 5);
    b[0] = (b[0] as number) ^ 0xff;
    fs.writeSync(fd, b, 0, 1, 3 * 40 * rowBytes + 5);
    fs.closeSync(fd);
    await assert.rejects(encodeSplit(model, ds.corpus, { ...opts, out, shard: shard(0) }), /part 3 \(rank 1\) is missing or does not verify/);
    // Restored, rank 0 reuses its own parts, checks rank 1's and publishes the single-process file.
    const fd2 = fs.openSync(data, 'r+');
    b[0] = (b[0] as number) ^ 0xff;
    fs.writeSync(fd2, b, 0, 1, 3 * 40 * rowBytes + 5);
    fs.closeSync(fd2);
    const r = await encodeSplit(model, ds.corpus, { ...opts, out, shard: shard(0) });
    assert.equal(r.encoded, 0);
    assert.ok(fs.readFileSync(one).equals(fs.readFileSync(out)), 'sharded file differs from one process');
    assert.equal(readEmbeddingsManifest(out).sha256, readEmbeddingsManifest(one).sha256);
  } finally {
    model.dispose();
    ds.close();
  }
});
