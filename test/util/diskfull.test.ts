// A real full disk: a small tmpfs filled up to a few KiB, then each writer is run against it. Every one must exit
// non-zero (or throw) with one line naming the output path and "no space left on device", print no stack and no
// success summary, and leave no partial output (nor temp file) behind; a faiss index rebuilt on the full disk must
// leave the previous index and its manifest untouched. Needs root to mount (CI runs as root); skipped with the reason
// otherwise.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../src/tensor/index.ts';
import { buildIndex, indexManifestPath, loadIndex } from '../../src/retrieval/ann.ts';
import { trainTokenizer } from '../../src/tokenizers/train.ts';
import { DrhardFsError } from '../../src/util/errors.ts';
import { sha256File } from '../../src/util/hash.ts';
import { makeDataset, tmpDir, writeEmbeddingsFile, ROOT } from '../retrieval/helpers.ts';
import { seededRng } from '../helpers/seed.ts';

const MNT_KIB = 2048;
const FILLER = 'filler.bin';
let work = '';
let mnt = '';
let skip: string | false = false;
let ds = '';

function sh(cmd: string, args: string[]): { ok: boolean; msg: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ok: r.status === 0, msg: `${cmd} ${args.join(' ')}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}` };
}

before(async () => {
  work = tmpDir('drhard-diskfull-');
  mnt = path.join(work, 'mnt');
  fs.mkdirSync(mnt);
  if (process.platform !== 'linux') skip = `tmpfs mounts need Linux (platform ${process.platform})`;
  else if (process.getuid?.() !== 0) skip = `mounting a tmpfs needs root (uid ${process.getuid?.()})`;
  else {
    const m = sh('mount', ['-t', 'tmpfs', '-o', `size=${MNT_KIB}k`, 'tmpfs', mnt]);
    if (!m.ok) skip = `cannot mount a tmpfs (${m.msg})`;
  }
  if (skip === false) ds = await makeDataset(work);
});

after(() => {
  if (skip === false) sh('umount', [mnt]);
  fs.rmSync(work, { recursive: true, force: true });
});

function free(): number {
  const s = fs.statfsSync(mnt);
  return s.bavail * s.bsize;
}

/** Empties the tmpfs, then fills it so that `leave` bytes (rounded down to pages) stay free. */
function fillLeaving(leave: number): void {
  for (const n of fs.readdirSync(mnt)) fs.rmSync(path.join(mnt, n), { recursive: true, force: true });
  const page = fs.statfsSync(mnt).bsize;
  const size = Math.max(0, Math.floor((free() - leave) / page) * page);
  fs.writeFileSync(path.join(mnt, FILLER), Buffer.alloc(size, 1));
  const left = free();
  assert.ok(left <= leave && left > leave - 2 * page, `could not leave ${leave} bytes free (have ${left})`);
}

function cli(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, DRHARD_LOG_LEVEL: 'warn', DRHARD_NUM_THREADS: '1', ...env },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Exit 1, stdout without a success line, stderr one error line naming `out` and ENOSPC, no JS stack. */
function assertFailedCleanly(r: { code: number | null; stdout: string; stderr: string }, out: string): void {
  const all = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.code, 1, all);
  assert.equal(r.stdout, '', all);
  const errLine = r.stderr.split('\n').find((l) => l.startsWith('drhard: error: '));
  assert.ok(errLine !== undefined, all);
  assert.ok(errLine.includes(out), `the error does not name ${out}: ${all}`);
  assert.match(errLine, /no space left on device \(ENOSPC\)/, all);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `a stack was printed: ${all}`);
  assert.deepEqual(fs.readdirSync(mnt), [FILLER], `partial output or temp files left: ${all}`);
}

test('convert-ids --output on a full disk: exit 1 naming the file, no partial run file', (t) => {
  if (skip !== false) return t.skip(skip);
  // 20 dev queries x 300 documents: ~170 KB of output, one write(2) call, against 40 KiB free.
  const input = path.join(work, 'dev.offsets.trec');
  const lines: string[] = [];
  for (let q = 0; q < 20; q++) for (let d = 0; d < 300; d++) lines.push(`${q} Q0 ${d} ${d + 1} ${(300 - d) / 7} drhard\n`);
  fs.writeFileSync(input, lines.join(''));
  fillLeaving(40 << 10);
  const out = path.join(mnt, 'conv.trec');
  const r = cli(['convert-ids', '--data', ds, '--split', 'dev', '--run', input, '--out', out]);
  assertFailedCleanly(r, out);
  // With room, the same command succeeds: the failure above was the disk, not the input.
  fillLeaving(1 << 20);
  const ok = cli(['convert-ids', '--data', ds, '--split', 'dev', '--run', input, '--out', out]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(fs.readFileSync(out, 'utf8').split('\n').length - 1, 6000);
});

test('search --out on a full disk: exit 1 naming the file, no partial run file', (t) => {
  if (skip !== false) return t.skip(skip);
  const { rng, tag } = seededRng(1414);
  const emb = (n: number): T.Tensor => T.tensor(Float32Array.from({ length: n * 16 }, () => rng.float() - 0.5), { shape: [n, 16] });
  const corpus = path.join(work, 'corpus.emb');
  const queries = path.join(work, 'dev.emb');
  const c = emb(300);
  const q = emb(20);
  writeEmbeddingsFile(corpus, c);
  writeEmbeddingsFile(queries, q);
  c.dispose();
  q.dispose();
  fillLeaving(40 << 10);
  const out = path.join(mnt, 'dev.run');
  const r = cli(['search', '--query-embeddings', queries, '--doc-embeddings', corpus, '--topk', '300', '--data', ds, '--split', 'dev', '--out', out]);
  assertFailedCleanly(r, out);
  fillLeaving(1 << 20);
  const ok = cli(['search', '--query-embeddings', queries, '--doc-embeddings', corpus, '--topk', '300', '--data', ds, '--split', 'dev', '--out', out]);
  assert.equal(ok.code, 0, `${tag}: ${ok.stderr}`);
  assert.equal(fs.readFileSync(out, 'utf8').split('\n').length - 1, 6000, tag);
});

test('preprocess --out on a full disk: exit 1 naming the dataset directory, no partial dataset or temp dir', (t) => {
  if (skip !== false) return t.skip(skip);
  // The dataset takes ~30 pages (120 KiB) on a tmpfs; 40 KiB are free.
  fillLeaving(40 << 10);
  const out = path.join(mnt, 'ds');
  const tok = path.join(ROOT, 'test', 'fixtures', 'tokenizers', 'roberta-tiny');
  const args = ['preprocess', '--input', path.join(work, 'raw'), '--out-dir', out, '--tokenizer', tok, '--max-doc-length', '40', '--max-query-length', '16', '--threads', '0'];
  const r = cli(args);
  assertFailedCleanly(r, out);
  fillLeaving(1 << 20);
  const ok = cli(args);
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok(fs.existsSync(path.join(out, 'manifest.json')));
});

test('tokenizer training: a corpus file cut short by a full disk is an error naming it, not a smaller tokenizer', async (t) => {
  if (skip !== false) return t.skip(skip);
  fillLeaving(40 << 10);
  const outDir = path.join(work, 'tok-out');
  const texts = Array.from({ length: 3000 }, (_, i) => `passage ${i} about dense retrieval with hard negatives, number ${i * 7}`);
  const saved = process.env['TMPDIR'];
  process.env['TMPDIR'] = mnt; // the trainer's corpus file goes to os.tmpdir()
  try {
    await assert.rejects(trainTokenizer(texts, { kind: 'bpe', outDir, vocabSize: 300 }), (e: unknown) => {
      assert.ok(e instanceof DrhardFsError, String(e));
      assert.ok(e.path.startsWith(mnt) && e.path.endsWith('corpus.txt'), e.message);
      assert.match(e.message, /write failed: no space left on device \(ENOSPC\)/);
      return true;
    });
  } finally {
    if (saved === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = saved;
  }
  assert.ok(!fs.existsSync(path.join(outDir, 'tokenizer.json')));
  assert.deepEqual(fs.readdirSync(mnt), [FILLER]);
});

test('rebuilding a faiss index on a full disk keeps the previous index and manifest; the error names the index', async (t) => {
  if (skip !== false) return t.skip(skip);
  const { rng, tag } = seededRng(1415);
  const make = (file: string): void => {
    const x = T.tensor(Float32Array.from({ length: 1500 * 32 }, () => rng.float() - 0.5), { shape: [1500, 32] });
    writeEmbeddingsFile(file, x);
    x.dispose();
  };
  const embA = path.join(work, 'a.emb');
  const embB = path.join(work, 'b.emb');
  make(embA);
  make(embB);
  for (const n of fs.readdirSync(mnt)) fs.rmSync(path.join(mnt, n), { recursive: true, force: true });
  const out = path.join(mnt, 'index.faiss');
  const first = buildIndex(embA, out, { factory: 'Flat' });
  const before = { index: (await sha256File(out)).sha256, manifest: fs.readFileSync(indexManifestPath(out), 'utf8') };
  const page = fs.statfsSync(mnt).bsize;
  const pages = Math.ceil(first.bytes / page);
  // (a) Room for all but the last page: faiss's buffered tail fails only in fclose, which faiss merely prints.
  // (b) Almost no room: an fwrite fails and faiss throws.
  for (const [what, leave] of [
    ['all but the last page free', (pages - 1) * page],
    ['8 KiB free', 8 << 10],
  ] as const) {
    const filler = path.join(mnt, FILLER);
    fs.rmSync(filler, { force: true });
    const size = Math.floor((free() - leave) / page) * page;
    fs.writeFileSync(filler, Buffer.alloc(size, 1));
    let err: unknown = null;
    try {
      buildIndex(embB, out, { factory: 'Flat' });
    } catch (e) {
      err = e;
    }
    assert.equal((await sha256File(out)).sha256, before.index, `${what}: the old index was replaced (${String(err)})`);
    assert.equal(fs.readFileSync(indexManifestPath(out), 'utf8'), before.manifest, what);
    assert.deepEqual(fs.readdirSync(mnt).sort(), [FILLER, 'index.faiss', 'index.faiss.json'], what);
    const { index } = loadIndex(out, { embeddings: embA });
    assert.equal(index.ntotal, 1500, what);
    index.dispose();
    assert.ok(err instanceof DrhardFsError && err.message.startsWith(`${out}: `), `${what}, ${tag}: ${String(err)}`);
  }
});

test('the tmpfs used here is really that small (sanity check of the setup)', (t) => {
  if (skip !== false) return t.skip(skip);
  const s = fs.statfsSync(mnt);
  assert.ok(s.blocks * s.bsize <= MNT_KIB * 1024, `${s.blocks * s.bsize} bytes`);
  assert.notEqual(path.resolve(mnt), path.resolve(os.tmpdir()));
});
