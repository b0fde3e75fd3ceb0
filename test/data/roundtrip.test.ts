// preprocess → openDataset → convert-ids on MS MARCO passage/doc, string-id and BEIR fixtures: ids survive exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { convertRunIds, openDataset, preprocessBeir, preprocessMsmarco, type Dataset } from '../../src/data/index.ts';
import { loadTokenizer } from '../../src/tokenizers/index.ts';
import { readRun } from '../../src/data/trec.ts';

const FIX = path.join(import.meta.dirname, '..', 'fixtures', 'data');
const TOK = path.join(import.meta.dirname, '..', 'fixtures', 'tokenizers', 'roberta-tiny');
const BERT = path.join(import.meta.dirname, '..', 'fixtures', 'tokenizers', 'bert-tiny');

interface Expected {
  docs: string[];
  splits: Record<string, { queries: string[]; qrels: Array<[string | number, string | number, number]> }>;
}
const EXPECTED = JSON.parse(fs.readFileSync(path.join(FIX, 'expected.json'), 'utf8')) as Record<string, Expected>;
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-data-rt-'));
process.on('exit', () => fs.rmSync(tmpRoot, { recursive: true, force: true }));

const quiet = { progress: false, log: (await import('../../src/util/log.ts')).createLogger({ level: 'silent' }) };

/** Checks ids, qrels and a converted run against the fixture's expectations. */
function checkDataset(ds: Dataset, exp: Expected, tag: string): void {
  assert.deepEqual(ds.docIds(), exp.docs, `${tag}: doc ids in collection order`);
  assert.deepEqual(ds.splits().sort(), Object.keys(exp.splits).sort());
  exp.docs.forEach((d, i) => assert.equal(ds.docOffset(d), i));
  assert.equal(ds.docOffset('no-such-doc'), undefined);
  for (const [split, e] of Object.entries(exp.splits)) {
    assert.deepEqual(ds.queryIds(split), e.queries, `${tag}/${split}: kept queries, file order`);
    assert.equal(ds.queries(split).count, e.queries.length);
    const got: Array<[string, string, number]> = [];
    for (const [q, docs] of ds.qrels(split)) for (const [d, rel] of docs) got.push([ds.queryIds(split)[q] as string, ds.docIds()[d] as string, rel]);
    const want = e.qrels.map(([q, d, r]) => [String(q), String(d), r] as [string, string, number]);
    assert.deepEqual(got.sort(), want.sort(), `${tag}/${split}: qrels`);
    e.queries.forEach((q, i) => assert.equal(ds.queryOffset(split, q), i));

    // A run by offsets in both formats (every doc for every query) → convert → exactly the original ids.
    const offsetsTrec: string[] = [];
    const offsetsMs: string[] = [];
    const wantTrec: string[] = [];
    const wantMs: string[] = [];
    for (let q = 0; q < e.queries.length; q++) {
      for (let d = 0; d < exp.docs.length; d++) {
        const doc = (d * 7 + q) % exp.docs.length;
        offsetsTrec.push(`${q} Q0 ${doc} ${d + 1} ${(100 - d) / 4} tag`);
        wantTrec.push(`${e.queries[q]} Q0 ${exp.docs[doc]} ${d + 1} ${(100 - d) / 4} tag`);
        offsetsMs.push(`${q}\t${doc}\t${d + 1}`);
        wantMs.push(`${e.queries[q]}\t${exp.docs[doc]}\t${d + 1}`);
      }
    }
    for (const [fmt, lines, want] of [
      ['trec', offsetsTrec, wantTrec],
      ['msmarco', offsetsMs, wantMs],
    ] as const) {
      const inFile = path.join(tmpRoot, `${tag}-${split}-${fmt}.in`);
      const outFile = path.join(tmpRoot, `${tag}-${split}-${fmt}.out`);
      fs.writeFileSync(inFile, `${lines.join('\n')}\n`);
      const r = convertRunIds({ dataset: ds, split, input: inFile, output: outFile });
      assert.equal(r.format, fmt);
      assert.equal(r.lines, lines.length);
      assert.equal(fs.readFileSync(outFile, 'utf8'), `${want.join('\n')}\n`, `${tag}/${split}/${fmt}: converted run`);
      // trec.ts reads the converted run back with the original ids.
      const back = readRun(outFile);
      assert.deepEqual([...back.run.keys()], e.queries.filter((_, i) => lines.length > 0 && i < e.queries.length));
    }
  }
}

test('MS MARCO passage: non-contiguous numeric ids round-trip; tokens match the tokenizer; DRhard query filtering', async () => {
  const out = path.join(tmpRoot, 'passage');
  const r = await preprocessMsmarco({ ...quiet, input: path.join(FIX, 'msmarco-passage'), out, tokenizer: TOK, compat28: true, maxDocLength: 24, maxQueryLength: 12, threads: 0 });
  assert.equal(r.manifest.corpus.count, 8);
  assert.ok(r.manifest.corpus.truncated >= 1, 'pid 42 is longer than 24 tokens');
  assert.equal(r.manifest.splits['train']?.qrels?.sha256.length, 64);
  const ds = openDataset(out);
  try {
    checkDataset(ds, EXPECTED['msmarco-passage'] as Expected, 'passage');
    // Stored ids are exactly the tokenizer's ids for the (rstripped, cut) text.
    const tok = await loadTokenizer(TOK, { compat28: true });
    const lines = fs.readFileSync(path.join(FIX, 'msmarco-passage', 'collection.tsv'), 'utf8').trimEnd().split('\n');
    for (let i = 0; i < lines.length; i++) {
      const text = (lines[i] as string).split('\t')[1] as string;
      assert.deepEqual(Array.from(ds.corpus.get(i)), Array.from(await tok.encode(text, 24)));
      assert.equal(ds.corpus.length(i), ds.corpus.get(i).length);
    }
    assert.equal(ds.corpus.maxLength, 24);
    assert.equal(ds.manifest.tokenizer.padId, 1);
  } finally {
    ds.close();
  }
});

test('worker threads and gzip input give byte-identical datasets', async () => {
  const gzDir = path.join(tmpRoot, 'gzin');
  fs.mkdirSync(gzDir);
  for (const f of fs.readdirSync(path.join(FIX, 'msmarco-passage'))) {
    const src = fs.readFileSync(path.join(FIX, 'msmarco-passage', f));
    if (f.startsWith('qrels')) fs.writeFileSync(path.join(gzDir, f), src);
    else fs.writeFileSync(path.join(gzDir, `${f}.gz`), zlib.gzipSync(src));
  }
  const a = path.join(tmpRoot, 'p-inproc');
  const b = path.join(tmpRoot, 'p-workers');
  const base = { ...quiet, tokenizer: TOK, compat28: true, maxDocLength: 24, maxQueryLength: 12 };
  await preprocessMsmarco({ ...base, input: path.join(FIX, 'msmarco-passage'), out: a, threads: 0 });
  // Tiny chunks: many jobs in flight, out-of-order completion, chunk views into gunzip's pooled buffers.
  await preprocessMsmarco({ ...base, input: gzDir, out: b, threads: 2, chunkBytes: 64 });
  // Files at any depth (the tokenizer/ copy included), relative to the dataset directory.
  const list = (d: string): string[] => (fs.readdirSync(d, { recursive: true }) as string[]).filter((f) => f !== 'manifest.json' && fs.statSync(path.join(d, f)).isFile()).sort();
  const files = list(a);
  assert.deepEqual(list(b), files);
  for (const f of files) assert.ok(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f))), `${f} differs`);
  // The manifest records the raw (compressed) file's checksum.
  const mb = openDataset(b).manifest;
  assert.ok(mb.corpus.file.path.endsWith('collection.tsv.gz'));
});

test('MS MARCO document: D-ids, url<sep>title<sep>body', async () => {
  const out = path.join(tmpRoot, 'doc');
  await preprocessMsmarco({ ...quiet, kind: 'doc', input: path.join(FIX, 'msmarco-doc'), out, tokenizer: TOK, compat28: true, maxDocLength: 64, maxQueryLength: 12, threads: 0 });
  const ds = openDataset(out);
  try {
    checkDataset(ds, EXPECTED['msmarco-doc'] as Expected, 'doc');
    const tok = await loadTokenizer(TOK, { compat28: true });
    const [, url, title, body] = (fs.readFileSync(path.join(FIX, 'msmarco-doc', 'msmarco-docs.tsv'), 'utf8').split('\n')[0] as string).split('\t');
    assert.deepEqual(Array.from(ds.corpus.get(0)), Array.from(await tok.encode(`${url}<sep>${title}<sep>${body}`, 64)));
  } finally {
    ds.close();
  }
});

test('MS MARCO format with string ids (and numeric-looking ones with leading zeros)', async () => {
  const out = path.join(tmpRoot, 'strings');
  await assert.rejects(
    preprocessMsmarco({ ...quiet, input: path.join(FIX, 'msmarco-strings'), out, tokenizer: TOK, threads: 0 }),
    /collection\.tsv:1: pid: not a numeric id/,
  );
  assert.equal(fs.existsSync(out), false);
  await preprocessMsmarco({ ...quiet, input: path.join(FIX, 'msmarco-strings'), out, tokenizer: TOK, idType: 'string', threads: 0 });
  const ds = openDataset(out);
  try {
    checkDataset(ds, EXPECTED['msmarco-strings'] as Expected, 'strings');
    assert.equal(ds.docOffset('42'), undefined, "'0042' is not '42'");
  } finally {
    ds.close();
  }
});

test('BEIR: JSONL corpus/queries, qrels with header, one split per qrels file; BERT WordPiece', async () => {
  const out = path.join(tmpRoot, 'beir');
  const r = await preprocessBeir({ ...quiet, input: path.join(FIX, 'beir'), out, tokenizer: BERT, maxDocLength: 40, maxQueryLength: 10, threads: 0 });
  assert.deepEqual(Object.keys(r.manifest.splits).sort(), ['dev', 'test']);
  assert.equal(r.manifest.tokenizer.format, 'vocab.txt');
  const ds = openDataset(out);
  try {
    checkDataset(ds, EXPECTED['beir'] as Expected, 'beir');
    const first = JSON.parse(fs.readFileSync(path.join(FIX, 'beir', 'corpus.jsonl'), 'utf8').split('\n')[0] as string) as { title: string; text: string };
    const tok = await loadTokenizer(BERT);
    assert.deepEqual(Array.from(ds.corpus.get(0)), Array.from(await tok.encode(`${first.title} ${first.text}`.trim(), 40)));
    assert.equal(ds.corpus.get(0)[0], tok.clsId);
  } finally {
    ds.close();
  }
});

test('output directory safety: refuses to overwrite without the flag, or a non-dataset directory at all', async () => {
  const out = path.join(tmpRoot, 'safety');
  const args = { ...quiet, input: path.join(FIX, 'msmarco-passage'), out, tokenizer: TOK, threads: 0 };
  await preprocessMsmarco(args);
  const before = fs.readFileSync(path.join(out, 'manifest.json'), 'utf8');
  await assert.rejects(preprocessMsmarco(args), /exists; pass --overwrite/);
  await preprocessMsmarco({ ...args, overwrite: true });
  assert.notEqual(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'), before, 'rebuilt (new createdAt)');
  const foreign = path.join(tmpRoot, 'foreign');
  fs.mkdirSync(foreign);
  fs.writeFileSync(path.join(foreign, 'precious.txt'), 'keep me');
  await assert.rejects(preprocessMsmarco({ ...args, out: foreign, overwrite: true }), /not a drhard dataset/);
  assert.equal(fs.readFileSync(path.join(foreign, 'precious.txt'), 'utf8'), 'keep me');
  // No temp directories left beside the outputs.
  assert.deepEqual(fs.readdirSync(tmpRoot).filter((f) => f.includes('.tmp-')), []);
});

test('a temp directory left by a killed run is cleaned up and does not block a restart', async () => {
  const out = path.join(tmpRoot, 'restart');
  // A pid that cannot be alive (above pid_max) stands for the killed process.
  const stale = path.join(tmpRoot, `.restart.tmp-99999999-abc`);
  fs.mkdirSync(stale);
  fs.writeFileSync(path.join(stale, 'corpus.tokens.i32'), 'partial');
  await preprocessMsmarco({ ...quiet, input: path.join(FIX, 'msmarco-passage'), out, tokenizer: TOK, threads: 0 });
  assert.equal(fs.existsSync(stale), false);
  openDataset(out).close();
});
