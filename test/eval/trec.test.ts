// Qrels/run readers and writers (src/data/trec.ts): formats, trec_eval's skipping rules, strict errors, round trips.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  parseQrels,
  parseRun,
  rankedDocs,
  readQrels,
  readRun,
  runFromDocs,
  strcmpUtf8,
  trecOrder,
  writeMsmarcoRun,
  writeQrels,
  writeTrecRun,
  type Run,
} from '../../src/data/trec.ts';
import { DrhardInputError } from '../../src/util/errors.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-trec-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function docsOf(run: Run, qid: string): Array<[string, number]> {
  const r = run.get(qid);
  assert.ok(r, `query ${qid} missing`);
  return r.docids.map((d, i) => [d, r.scores[i]!]);
}

function throwsInput(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DrhardInputError, `expected DrhardInputError, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });
}

test('TREC run: BOM, CRLF, comments and blank lines skipped; rank column ignored; tag kept', () => {
  const { run, format, tag } = parseRun(
    '\ufeff# header\r\n\r\n1 Q0 a 7 0.5 tagA\r\n  \n  # Q0 z 1 9 tagA\n1 Q0 b 1 0.25 tagA\n2\tQ0\tc\t3\t-1e3\ttagA',
    'r.txt',
  );
  assert.equal(format, 'trec');
  assert.equal(tag, 'tagA');
  assert.deepEqual([...run.keys()], ['1', '2']);
  assert.deepEqual(docsOf(run, '1'), [
    ['a', 0.5],
    ['b', 0.25],
  ]);
  assert.deepEqual(docsOf(run, '2'), [['c', -1000]]);
});

test('MS MARCO run: auto-detected, scored -rank so the file order holds', () => {
  const { run, format, tag } = parseRun('5\t300\t2\n5\t100\t1\n5\t200\t3\n');
  assert.equal(format, 'msmarco');
  assert.equal(tag, undefined);
  assert.deepEqual(
    rankedDocs(run.get('5')!).map((d) => d.docid),
    ['100', '300', '200'],
  );
});

test('explicit format disagreeing with the file is an error with file:line', () => {
  throwsInput(() => parseRun('1\ta\t1\n', 'x.tsv', { format: 'trec' }), /^x\.tsv:1: expected 6 fields/);
  throwsInput(() => parseRun('1 Q0 a 1 1 t\n', 'x.trec', { format: 'msmarco' }), /^x\.trec:1: expected 3 fields/);
  throwsInput(() => parseRun('1 a\n', 'x'), /^x:1: cannot detect run format/);
});

test('strict errors name file:line and field', () => {
  throwsInput(() => parseRun('1 Q0 a 1 0.5 t\n1 Q0 b 2 abc t\n', 'run.txt'), /^run\.txt:2: score: not a number: "abc"/);
  throwsInput(() => parseRun('1 Q0 a 1 0.5 t\n1 Q0 b 2 0x10 t\n', 'run.txt'), /^run\.txt:2: score: not a number/);
  throwsInput(() => parseRun('1 Q0 a 1 0.5 t\n1 Q0 b 2 nan t\n', 'run.txt'), /^run\.txt:2: score: not a number/);
  throwsInput(() => parseRun('1 Q0 a 1 0.5 t\n1 Q0 b 2 0.5\n', 'run.txt'), /^run\.txt:2: expected 6 fields .* found 5/);
  throwsInput(() => parseRun('1 Q0 a 1 0.5 t\n1 Q0 b 2 0.5 t extra\n', 'run.txt'), /^run\.txt:2: expected 6 fields .* more than 6/);
  throwsInput(() => parseRun('1 Q0 a 1 0.5 t\n# c\n1 Q0 a 2 0.4 t\n', 'run.txt'), /^run\.txt:3: docid: duplicate document a for query 1/);
  throwsInput(() => parseRun('1\ta\t1\n1\tb\t1\n', 'm.tsv'), /^m\.tsv:2: rank: duplicate rank 1 for query 1/);
  throwsInput(() => parseRun('1\ta\t0\n', 'm.tsv'), /^m\.tsv:1: rank: rank must be ≥ 1/);
  throwsInput(() => parseRun('1\ta\t1.5\n', 'm.tsv'), /^m\.tsv:1: rank: not an integer/);
  throwsInput(() => parseQrels('1 0 a 1\n1 0 a 2\n', 'q.txt'), /^q\.txt:2: docid: duplicate judgment/);
  throwsInput(() => parseQrels('1 0 a 1\n1 0 b x\n', 'q.txt'), /^q\.txt:2: rel: not an integer: "x"/);
  throwsInput(() => parseQrels('1 0 a 1\n1 0 b 1.5\n', 'q.txt'), /^q\.txt:2: rel: not an integer/);
  throwsInput(() => parseQrels('1 0 a\n', 'q.txt'), /^q\.txt:1: expected 4 fields/);
});

test('duplicates are caught when a query resumes after another (non-contiguous lines)', () => {
  throwsInput(() => parseRun('1 Q0 a 1 1 t\n2 Q0 a 1 1 t\n1 Q0 b 2 0 t\n1 Q0 a 3 0 t\n', 'r'), /^r:4: docid: duplicate document a for query 1/);
  throwsInput(() => parseRun('1\ta\t1\n2\ta\t1\n1\tb\t1\n', 'm'), /^m:3: rank: duplicate rank 1 for query 1/);
  const { run } = parseRun('1 Q0 a 1 1 t\n2 Q0 a 1 1 t\n1 Q0 b 2 0 t\n');
  assert.deepEqual(run.get('1')!.docids, ['a', 'b']);
  assert.deepEqual([...run.keys()], ['1', '2']);
});

test('non-ASCII ids take the UTF-8 path; numbers parse exactly like Number()', () => {
  const { run } = parseRun('q1 Q0 dé 1 0.1 t\nq1 Q0 文书 2 1e-3 t\nq1 Q0 x 3 +2.50 t\nq1 Q0 y 4 -inf t\nq1 Q0 z 5 123456789012345678 t\n');
  assert.deepEqual(docsOf(run, 'q1'), [
    ['dé', 0.1],
    ['文书', 0.001],
    ['x', 2.5],
    ['y', -Infinity],
    ['z', 123456789012345678],
  ]);
  const values = ['0.30000000000000004', '9007199254740.993', '1.000000000000001', '-0.0', '.5', '5.', '00012.5000'];
  const text = values.map((v, i) => `q Q0 d${i} 1 ${v} t`).join('\n');
  const r = parseRun(text).run.get('q')!;
  values.forEach((v, i) => assert.ok(Object.is(r.scores[i], Number(v)), `${v}: ${r.scores[i]} vs ${Number(v)}`));
});

test('long ids (≥ 13 chars) and lines longer than the read buffer survive chunking', () => {
  const longId = `doc_${'x'.repeat(5 << 20)}`; // 5 MB line > 4 MB chunk
  const file = path.join(tmp, 'long.run');
  const lines: string[] = [];
  for (let i = 0; i < 50000; i++) lines.push(`query_number_${i % 7} Q0 msmarco_passage_${i} ${i} ${i / 3} t`);
  lines.push(`query_number_0 Q0 ${longId} 1 0.5 t`);
  fs.writeFileSync(file, lines.join('\n'));
  const { run } = readRun(file);
  assert.equal(run.size, 7);
  let total = 0;
  for (const r of run.values()) total += r.docids.length;
  assert.equal(total, 50001);
  const q0 = run.get('query_number_0')!;
  assert.equal(q0.docids[q0.docids.length - 1], longId);
  assert.equal(q0.docids[0], 'msmarco_passage_0');
  assert.equal(run.get('query_number_3')!.scores[0], 1);
});

test('ties: trec_eval order is score desc, then docid desc in byte order', () => {
  const run = runFromDocs({
    q: [
      { docid: 'd9', score: 1 },
      { docid: 'd10', score: 1 },
      { docid: 'D5', score: 1 },
      { docid: 'a', score: 2 },
      { docid: '\u{1F600}', score: 0 },
      { docid: '\uFFFD', score: 0 },
    ],
  });
  assert.deepEqual(
    rankedDocs(run.get('q')!).map((d) => d.docid),
    ['a', 'd9', 'd10', 'D5', '\u{1F600}', '\uFFFD'],
  );
  // U+1F600 is F0 9F.. in UTF-8, above U+FFFD's EF BF BD, although its UTF-16 code unit 0xD83D is below 0xFFFD
  assert.ok(strcmpUtf8('\u{1F600}', '\uFFFD') > 0);
  assert.ok('\u{1F600}' < '\uFFFD');
  assert.deepEqual(Array.from(trecOrder({ docids: ['b', 'a', 'c'], scores: new Float32Array([1, 1, 2]) })), [2, 0, 1]);
});

test('writers: TREC and MS MARCO round-trip the ranking; qrels round-trip', () => {
  const run = runFromDocs({
    q1: [
      { docid: 'x', score: 0.1 + 0.2 },
      { docid: 'y', score: 1e-20 },
      { docid: 'z', score: 0.1 + 0.2 },
    ],
    q2: [{ docid: 'w', score: -Infinity }],
  });
  const trecFile = path.join(tmp, 'w.trec');
  writeTrecRun(trecFile, run, { tag: 'T' });
  assert.equal(
    fs.readFileSync(trecFile, 'utf8'),
    'q1 Q0 z 1 0.30000000000000004 T\nq1 Q0 x 2 0.30000000000000004 T\nq1 Q0 y 3 1e-20 T\nq2 Q0 w 1 -Infinity T\n',
  );
  const back = readRun(trecFile).run;
  assert.deepEqual(rankedDocs(back.get('q1')!), rankedDocs(run.get('q1')!));
  const marcoFile = path.join(tmp, 'w.tsv');
  writeMsmarcoRun(marcoFile, run);
  assert.equal(fs.readFileSync(marcoFile, 'utf8'), 'q1\tz\t1\nq1\tx\t2\nq1\ty\t3\nq2\tw\t1\n');
  const qrels = parseQrels('1 0 a 2\n1 0 b 0\n2 0 c -1\n');
  const qf = path.join(tmp, 'q.txt');
  writeQrels(qf, qrels);
  assert.deepEqual(readQrels(qf), qrels);
});

test('writers refuse bad runs and leave nothing behind', () => {
  const target = path.join(tmp, 'bad.trec');
  throwsInput(() => writeTrecRun(target, runFromDocs({ q: [{ docid: 'a', score: NaN }] })), /NaN/);
  throwsInput(() => writeTrecRun(target, runFromDocs({ q: [{ docid: 'a b', score: 1 }] })), /whitespace/);
  throwsInput(() => writeTrecRun(target, runFromDocs({ q: [{ docid: 'a', score: 1 }, { docid: 'a', score: 2 }] })), /duplicate/);
  throwsInput(() => writeTrecRun(target, new Map([['q', { docids: ['a'], scores: [1, 2] }]])), /1 docids but 2 scores/);
  assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.includes('bad')), []);
});

test('missing file → DrhardInputError naming it', () => {
  throwsInput(() => readRun(path.join(tmp, 'nope.run')), /nope\.run: cannot open/);
});

test('offset runs: ids mapped through a dataset id table; a bad offset names file:line', async () => {
  const { offsetMapper } = await import('../../src/eval/load.ts');
  const ids = { queryIds: ['1048585', '2'], docIds: ['D7', 'D8', 'D9'], qrels: () => new Map(), close: () => {} };
  const { run } = parseRun('0 Q0 2 1 0.9 t\n0 Q0 0 2 0.8 t\n1 Q0 1 1 0.5 t\n', 'off.run', { ids: offsetMapper(ids) });
  assert.deepEqual([...run.keys()], ['1048585', '2']);
  assert.deepEqual(run.get('1048585')!.docids, ['D9', 'D7']);
  throwsInput(() => parseRun('0 Q0 3 1 0.9 t\n', 'off.run', { ids: offsetMapper(ids) }), /^off\.run:1: docid: docid offset "3" is not in \[0, 3\)/);
  throwsInput(() => parseRun('0\tx\t1\n', 'off.tsv', { ids: offsetMapper(ids) }), /^off\.tsv:1: docid: docid offset "x"/);
});
