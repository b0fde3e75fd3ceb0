// A Git LFS / git-annex pointer in place of a data file is named as one (issue 14), by every reader a user feeds
// files to: line files (qrels, runs), collections, safetensors and torch weights, embeddings.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pointerKind } from '../../src/util/pointer.ts';
import { forEachLine } from '../../src/data/lines.ts';
import { readLineChunks } from '../../src/data/chunks.ts';
import { SafetensorsFile } from '../../src/models/safetensors.ts';
import { readTorchBin } from '../../src/tensor/torchbin.ts';
import { layoutOf } from '../../src/retrieval/embeddings.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const LFS = 'version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n';

function withPointer(name: string, fn: (file: string) => void | Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-pointer-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, LFS);
  return Promise.resolve(fn(file)).finally(() => fs.rmSync(dir, { recursive: true, force: true }));
}

test('pointerKind recognizes Git LFS and git-annex pointers, and nothing else', () => {
  assert.equal(pointerKind(Buffer.from(LFS)), 'git-lfs');
  assert.equal(pointerKind(Buffer.from('/annex/objects/SHA256E-s1234--abcd.tsv\n')), 'git-annex');
  assert.equal(pointerKind(Buffer.from('../../.git/annex/objects/xx/yy/SHA256E-s1--a/SHA256E-s1--a')), 'git-annex');
  assert.equal(pointerKind(Buffer.from('1\t0\t7\t1\n')), null);
  assert.equal(pointerKind(Buffer.from('version 2\n')), null);
});

test('every reader names a pointer file as one, with the fix', async () => {
  const lfs = /is a git-lfs pointer \(\d+ bytes\), not the data it stands for: run 'git lfs pull'/;
  await withPointer('qrels.tsv', (f) => assert.throws(() => forEachLine(f, () => {}), lfs));
  await withPointer('collection.tsv', async (f) => {
    await assert.rejects(async () => {
      for await (const _ of readLineChunks(f)) void _;
    }, lfs);
  });
  await withPointer('model.safetensors', (f) => assert.throws(() => new SafetensorsFile(f), lfs));
  await withPointer('pytorch_model.bin', (f) => assert.throws(() => readTorchBin(f), lfs));
  await withPointer('corpus.f32', (f) => assert.throws(() => layoutOf(f, { dim: 4 }), lfs));
});

test('CLI: evaluate with a pointer as --qrels exits 1 naming the file and the pointer', async () => {
  await withPointer('qrels.dev.tsv', (f) => {
    const run = path.join(path.dirname(f), 'run.trec');
    fs.writeFileSync(run, '1 Q0 7 1 1.0 x\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'evaluate', '--qrels', f, '--run', run], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /qrels\.dev\.tsv.*git-lfs pointer/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
});
