// Bad input: every error names file:line:field, nothing is left behind, and --skip-invalid counts instead of failing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openDataset, preprocessBeir, preprocessMsmarco } from '../../src/data/index.ts';
import { DrhardInputError } from '../../src/util/errors.ts';
import { createLogger } from '../../src/util/log.ts';

const TOK = path.join(import.meta.dirname, '..', 'fixtures', 'tokenizers', 'roberta-tiny');
const ROOT = path.join(import.meta.dirname, '..', '..');
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-data-err-'));
process.on('exit', () => fs.rmSync(tmpRoot, { recursive: true, force: true }));
const quiet = { progress: false, log: createLogger({ level: 'silent' }), threads: 0, tokenizer: TOK };

let n = 0;
interface Files {
  collection?: string | Buffer;
  queries?: string | Buffer;
  qrels?: string;
}
const GOOD = {
  collection: '1\tfirst passage\n2\tsecond passage\n3\tthird one\n',
  queries: '10\twhat is first\n11\tsecond?\n',
  qrels: '10 0 1 1\n11 0 3 1\n',
};

function setup(files: Files): { dir: string; out: string; args: Parameters<typeof preprocessMsmarco>[0] } {
  const dir = path.join(tmpRoot, `case${n++}`);
  fs.mkdirSync(dir);
  const f = { ...GOOD, ...files };
  fs.writeFileSync(path.join(dir, 'collection.tsv'), f.collection);
  fs.writeFileSync(path.join(dir, 'queries.tsv'), f.queries);
  fs.writeFileSync(path.join(dir, 'qrels.tsv'), f.qrels);
  const out = path.join(dir, 'out');
  return {
    dir,
    out,
    args: {
      ...quiet,
      out,
      collection: path.join(dir, 'collection.tsv'),
      splits: [{ name: 'train', queries: path.join(dir, 'queries.tsv'), qrels: path.join(dir, 'qrels.tsv') }],
    },
  };
}

async function expectError(files: Files, where: string, message: RegExp, field?: string): Promise<void> {
  const { dir, out, args } = setup(files);
  await assert.rejects(preprocessMsmarco(args), (e: unknown) => {
    assert.ok(e instanceof DrhardInputError, `DrhardInputError expected, got ${String(e)}`);
    assert.ok(e.message.includes(where), `${e.message} should name ${where}`);
    assert.match(e.message, message);
    if (field !== undefined) assert.equal(e.field, field);
    return true;
  });
  assert.equal(fs.existsSync(out), false, 'no output directory');
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('.')), [], 'no temp directory');
}

test('wrong column count, trailing tab, empty line', async () => {
  await expectError({ collection: '1\tok\n2\ta\tb\n' }, 'collection.tsv:2', /expected 2 tab-separated fields \(pid, text\), found 3/);
  await expectError({ collection: '1\tok\n2\ttrailing tab\t\n' }, 'collection.tsv:2', /found 3/);
  await expectError({ collection: '1\tok\n2 no tab\n' }, 'collection.tsv:2', /found 1/);
  await expectError({ collection: '1\tok\n\n3\tx\n' }, 'collection.tsv:2', /empty line/);
  await expectError({ queries: '10\tq\n11\n' }, 'queries.tsv:2', /found 1/);
});

test('non-numeric id where the format needs one', async () => {
  await expectError({ collection: '1\tok\n2\tok\nabc\ttext\n' }, 'collection.tsv:3', /not a numeric id: "abc"/, 'pid');
  await expectError({ queries: '10\tq\n-11\tq\n' }, 'queries.tsv:2', /not a numeric id/, 'qid');
});

test('duplicate ids', async () => {
  await expectError({ collection: '1\ta\n2\tb\n1\tc\n' }, 'collection.tsv:3', /duplicate id 1/, 'id');
  await expectError({ queries: '10\ta\n10\tb\n' }, 'queries.tsv:2', /duplicate id 10/, 'id');
});

test('invalid UTF-8 and empty text', async () => {
  const bad = Buffer.concat([Buffer.from('1\tfine\n2\tbad '), Buffer.from([0xff, 0xfe]), Buffer.from(' bytes\n3\tfine\n')]);
  await expectError({ collection: bad }, 'collection.tsv:2', /invalid UTF-8/);
  await expectError({ collection: '1\tok\n2\t   \n' }, 'collection.tsv:2', /empty text/, 'text');
  await expectError({ queries: '10\t\n' }, 'queries.tsv:1', /empty text/, 'text');
});

test('qrels ids missing from the collection or the queries; malformed qrels', async () => {
  await expectError({ qrels: '10 0 1 1\n11 0 999 1\n' }, 'qrels.tsv:2', /document 999 is not in collection.tsv/, 'docid');
  await expectError({ qrels: '10 0 1 1\n55 0 2 1\n' }, 'qrels.tsv:2', /query 55 is not in queries.tsv/, 'qid');
  await expectError({ qrels: '10 0 1\n' }, 'qrels.tsv:1', /expected 4 fields/);
  await expectError({ qrels: '10 0 1 x\n' }, 'qrels.tsv:1', /not an integer/);
});

test('BOM and CRLF are accepted and change nothing', async () => {
  const a = setup({});
  const b = setup({ collection: `\ufeff${GOOD.collection.replace(/\n/g, '\r\n')}`, queries: GOOD.queries.replace(/\n/g, '\r\n') });
  await preprocessMsmarco(a.args);
  await preprocessMsmarco(b.args);
  for (const f of ['corpus.tokens.i32', 'pid2offset.tsv', 'train-query.tokens.i32', 'train-qrel.tsv']) {
    assert.ok(fs.readFileSync(path.join(a.out, f)).equals(fs.readFileSync(path.join(b.out, f))), f);
  }
});

test('BEIR: truncated JSONL line, missing fields, qrels without header', async () => {
  const mk = (corpus: string, queries: string, qrels: string): string => {
    const dir = path.join(tmpRoot, `beir${n++}`);
    fs.mkdirSync(path.join(dir, 'qrels'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'corpus.jsonl'), corpus);
    fs.writeFileSync(path.join(dir, 'queries.jsonl'), queries);
    fs.writeFileSync(path.join(dir, 'qrels', 'test.tsv'), qrels);
    return dir;
  };
  const c = '{"_id": "a", "title": "T", "text": "alpha"}\n{"_id": "b", "text": "beta"}\n';
  const q = '{"_id": "q1", "text": "what"}\n';
  const qr = 'query-id\tcorpus-id\tscore\nq1\ta\t1\n';
  const cases: Array<[string, RegExp]> = [
    [mk('{"_id": "a", "text": "alpha"}\n{"_id": "b", "text": "be', q, qr), /corpus\.jsonl:2: invalid or truncated JSON/],
    [mk('{"_id": "a", "title": "x"}\n', q, qr), /corpus\.jsonl:1: text: missing text/],
    [mk('{"text": "no id"}\n', q, qr), /corpus\.jsonl:1: _id: missing _id/],
    [mk('{"_id": "a b", "text": "x"}\n', q, qr), /corpus\.jsonl:1: _id: id contains whitespace/],
    [mk(c, q, 'q1\ta\t1\n'), /test\.tsv:1: expected the BEIR header/],
    [mk(c, q, 'query-id\tcorpus-id\tscore\nq1\tzz\t1\n'), /test\.tsv:2: corpus-id: document zz is not in corpus\.jsonl/],
    [mk(c, '{"_id": "q1", "text": "  "}\n', qr), /queries\.jsonl:1: text: empty text/],
  ];
  for (const [dir, re] of cases) {
    await assert.rejects(preprocessBeir({ ...quiet, input: dir, out: path.join(dir, 'out') }), re);
    assert.equal(fs.existsSync(path.join(dir, 'out')), false);
  }
});

test('--skip-invalid counts and reports bad lines and keeps the rest', async () => {
  const bad = Buffer.concat([
    Buffer.from('1\tgood one\n2\ta\tb\nabc\tnot numeric\n1\tduplicate\n4\t \n5\tbad '),
    Buffer.from([0xc3]),
    Buffer.from('\n6\tgood six\n'),
  ]);
  const { out, args } = setup({
    collection: bad,
    queries: '10\tq\n10\tdup\n11\tq two\n12\tunjudged\n',
    qrels: '10 0 1 1\n10 0 2 1\n11 0 6 1\n13 0 6 1\nbroken\n',
  });
  const r = await preprocessMsmarco({ ...args, skipInvalid: true });
  assert.equal(r.manifest.corpus.count, 2);
  assert.equal(r.manifest.corpus.skipped, 5);
  const s = r.manifest.splits['train']!;
  assert.equal(s.count, 2);
  assert.deepEqual(s.skipped, { queries: 1, qrels: 3 }, 'doc 2 missing, query 13 missing, one malformed line');
  assert.equal(s.judgments, 2);
  const ds = openDataset(out);
  try {
    assert.deepEqual(ds.docIds(), ['1', '6']);
    assert.deepEqual(ds.queryIds('train'), ['10', '11']);
  } finally {
    ds.close();
  }
});

test('CLI: bad input exits 1 naming file:line, prints no data, writes nothing; bad flag exits 2', () => {
  const { dir, out } = setup({ collection: '1\tok\n2\ta\tb\n' });
  const cli = (args: string[]): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'main.ts'), ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, DRHARD_LOG_LEVEL: 'silent' },
    });
  const base = ['preprocess', '--collection', path.join(dir, 'collection.tsv'), '--split', `train=${path.join(dir, 'queries.tsv')}:${path.join(dir, 'qrels.tsv')}`];
  const r = cli([...base, '--out-dir', out, '--tokenizer', TOK, '--threads', '0']);
  assert.equal(r.status, 1, String(r.stderr));
  assert.match(String(r.stderr), /collection\.tsv:2: expected 2 tab-separated fields/);
  assert.equal(r.stdout, '');
  assert.equal(fs.existsSync(out), false);
  const r2 = cli([...base, '--out-dir', out, '--tokenizer', TOK, '--max-doc-length', 'many']);
  assert.equal(r2.status, 2);
  assert.equal(r2.stdout, '');
  assert.equal(fs.existsSync(out), false);
});
