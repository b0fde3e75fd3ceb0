// Embeddings files are checked against their manifest before they are searched (src/retrieval/embeddings.ts
// verifyEmbeddings): a same-size corrupted file is refused; large files take the sampled-block check, with the full
// sha256 on --verify or when the file's mtime moved; files without a manifest load with a warning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../../src/tensor/index.ts';
import { manifestPathFor, readEmbeddingsManifest, sampleDigest, verifyEmbeddings } from '../../src/retrieval/embeddings.ts';
import { DenseSearcher } from '../../src/retrieval/search.ts';
import { DrhardInputError } from '../../src/util/errors.ts';
import { testSeed } from '../helpers/seed.ts';
import { ROOT, tmpDir, writeEmbeddingsFile } from './helpers.ts';

const seed = testSeed(1406);
T.manualSeed(seed);
const tag = `seed=${seed} (DRHARD_TEST_SEED=${seed} to replay)`;
const dir = tmpDir('drhard-verify-');
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

/** Flips one byte at `at` in place (same size). */
function flipByte(file: string, at: number): void {
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, at);
  b[0] = b[0]! ^ 0x40;
  fs.writeSync(fd, b, 0, 1, at);
  fs.closeSync(fd);
}

function refusedInput(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DrhardInputError, `expected DrhardInputError, got ${String(e)}; ${tag}`);
    assert.match(e.message, re);
    return true;
  });
}

test('a same-size corrupted embeddings file is refused by DenseSearcher.fromFile (full sha256 for small files)', () => {
  const file = path.join(dir, 'small.f32');
  T.tidy(() => writeEmbeddingsFile(file, T.randn([500, 16])));
  using ok = DenseSearcher.fromFile(file);
  assert.equal(ok.count, 500);
  flipByte(file, 4 * 16 * 250 + 3);
  refusedInput(() => DenseSearcher.fromFile(file), /sha256 .* does not match its manifest/);
});

test('large files: sampled blocks catch a swapped/corrupted sampled region, --verify (full) catches the rest, a moved mtime forces the full check', () => {
  const file = path.join(dir, 'large.f32');
  T.tidy(() => writeEmbeddingsFile(file, T.randn([30000, 64])));
  const m = readEmbeddingsManifest(file);
  assert.ok(m.sample !== undefined && m.mtimeMs !== undefined);
  const fast = { fullCheckBytes: 0, warn: (msg: string) => assert.fail(`unexpected warning: ${msg}`) };
  assert.equal(verifyEmbeddings(file, fast), 'sampled');
  assert.equal(verifyEmbeddings(file, { ...fast, full: true }), 'full');
  // Pretend the mtime was preserved (cp -p, in-place bit rot): only the content differs.
  const keepMtime = (): void => {
    const mm = JSON.parse(fs.readFileSync(manifestPathFor(file), 'utf8')) as Record<string, unknown>;
    mm['mtimeMs'] = fs.statSync(file).mtimeMs;
    fs.writeFileSync(manifestPathFor(file), JSON.stringify(mm));
  };
  // A byte between sampled blocks: the sampled check cannot see it, the full check can.
  const { blocks, blockBytes } = m.sample!;
  const secondBlock = Math.floor((m.bytes - blockBytes) / (blocks - 1));
  assert.ok(secondBlock > blockBytes + 1, 'the file is big enough for gaps between sampled blocks');
  const between = secondBlock - 1;
  flipByte(file, between);
  keepMtime();
  assert.equal(verifyEmbeddings(file, fast), 'sampled');
  refusedInput(() => verifyEmbeddings(file, { ...fast, full: true }), /sha256 .* does not match/);
  // A byte in the first block: the sampled check refuses it.
  flipByte(file, 10);
  keepMtime();
  refusedInput(() => verifyEmbeddings(file, fast), /sampled-block sha256 does not match/);
  // Same content, moved mtime: the fast path falls back to the full sha256 (and warns).
  flipByte(file, 10);
  flipByte(file, between);
  const warnings: string[] = [];
  assert.equal(verifyEmbeddings(file, { fullCheckBytes: 0, warn: (w) => void warnings.push(w) }), 'full');
  assert.match(warnings.join('\n'), /modified \(mtime\)/);
  assert.equal(sampleDigest(file, m.bytes, blocks, blockBytes).sha256, m.sample!.sha256);
});

test('no manifest: searched with a warning (bare file + layout); an old manifest without sampled digest gets the full check', () => {
  const file = path.join(dir, 'bare.f32');
  T.tidy(() => writeEmbeddingsFile(file, T.randn([300, 8])));
  const manifest = fs.readFileSync(manifestPathFor(file), 'utf8');
  fs.rmSync(manifestPathFor(file));
  const warnings: string[] = [];
  assert.equal(verifyEmbeddings(file, { warn: (w) => void warnings.push(w) }), 'unverified');
  assert.match(warnings[0]!, /no manifest .*cannot be verified/);
  using s = DenseSearcher.fromFile(file, { layout: { dim: 8 } });
  assert.equal(s.count, 300);
  const old = JSON.parse(manifest) as Record<string, unknown>;
  delete old['sample'];
  delete old['mtimeMs'];
  fs.writeFileSync(manifestPathFor(file), JSON.stringify(old));
  warnings.length = 0;
  assert.equal(verifyEmbeddings(file, { fullCheckBytes: 0, warn: (w) => void warnings.push(w) }), 'full');
  assert.match(warnings[0]!, /no sampled digest/);
});

test('CLI: search refuses a same-size corrupted --corpus with exit 1 naming the file, writes no run', () => {
  const corpus = path.join(dir, 'cli-corpus.f32');
  const queries = path.join(dir, 'cli-queries.f32');
  T.tidy(() => writeEmbeddingsFile(corpus, T.randn([200, 8])));
  T.tidy(() => writeEmbeddingsFile(queries, T.randn([5, 8])));
  flipByte(corpus, 100);
  const out = path.join(dir, 'cli.run');
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'search', '--queries', queries, '--corpus', corpus, '--ids', 'offsets', '--k', '5', '--out', out], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /cli-corpus\.f32.*sha256 .* does not match its manifest/);
  assert.equal(fs.existsSync(out), false);
});
