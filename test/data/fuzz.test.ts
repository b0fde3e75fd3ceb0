// Property tests of the line parsers and the chunked reader: clean errors only, exact round trips, chunking-invariant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { parseChunk, readLineChunks, type ParseOptions, type RecordKind } from '../../src/data/index.ts';
import { pyRstrip, pyStrip } from '../../src/tokenizers/index.ts';
import { DrhardInputError } from '../../src/util/errors.ts';
import { fcParams } from '../helpers/seed.ts';

const KINDS: RecordKind[] = ['msmarco-passage', 'msmarco-doc', 'msmarco-query', 'beir-corpus', 'beir-query'];
const opts = (kind: RecordKind, extra: Partial<ParseOptions> = {}): ParseOptions => ({
  kind,
  file: 'f.tsv',
  idType: 'numeric',
  maxChars: 0,
  titleSep: ' ',
  skipInvalid: false,
  ...extra,
});

function lineCount(buf: Uint8Array): number {
  let n = 0;
  for (const b of buf) if (b === 10) n++;
  return n + (buf.length > 0 && buf[buf.length - 1] !== 10 ? 1 : 0);
}

// Bytes biased toward the separators and near-valid structure the parsers branch on.
const piece = fc.oneof(
  fc.constantFrom('\t', '\n', '\r', ' ', '{', '}', '"', ':', ',', '_id', 'text', 'title', 'D', '0', '12', '\u00e9', '\u{1F600}', '\u0085', '\u001f'),
  fc.string({ maxLength: 6 }),
);
const fuzzBytes = fc.oneof(
  fc.array(piece, { maxLength: 40 }).map((a) => new Uint8Array(Buffer.from(a.join(''), 'utf8'))),
  fc.uint8Array({ maxLength: 200 }),
);

test('parseChunk on arbitrary bytes: only DrhardInputError with an in-range line; skipInvalid never throws', () => {
  fc.assert(
    fc.property(fuzzBytes, fc.constantFrom(...KINDS), fc.constantFrom<'numeric' | 'string'>('numeric', 'string'), fc.integer({ min: 1, max: 1e6 }), (buf, kind, idType, first) => {
      const lines = lineCount(buf);
      try {
        const r = parseChunk(buf, first, opts(kind, { idType }));
        assert.equal(r.ids.length + r.skipped.length, lines);
      } catch (e) {
        assert.ok(e instanceof DrhardInputError, String(e));
        assert.ok(e.line !== undefined && e.line >= first && e.line < first + lines, `line ${e.line} outside [${first}, ${first + lines})`);
        assert.equal(e.file, 'f.tsv');
      }
      const s = parseChunk(buf, first, opts(kind, { idType, skipInvalid: true }));
      assert.equal(s.ids.length + s.skipped.length, lines);
      for (let i = 0; i < s.ids.length; i++) {
        assert.ok(s.ids[i]!.length > 0 && !/\s/.test(s.ids[i]!));
        assert.ok(s.texts[i]!.length > 0);
      }
      assert.deepEqual([...s.lines, ...s.skipped.map((k) => k.line)].sort((a, b) => a - b), Array.from({ length: lines }, (_, i) => first + i));
    }),
    fcParams(2103, { numRuns: 3000 }),
  );
});

const idArb = fc.oneof(fc.nat().map(String), fc.stringMatching(/^[A-Za-z0-9._:\u00e9-]{1,12}$/));
const textArb = fc
  .string({ minLength: 1, maxLength: 60, unit: fc.oneof(fc.constantFrom('a', 'Z', ' ', '\u00e9', '\u4e2d', '\u{1F600}', '<sep>', '\u3000', '.'), fc.string({ minLength: 1, maxLength: 1, unit: 'binary' })) })
  .filter((t) => !/[\t\n\r]/.test(t) && pyRstrip(t).length > 0);

test('MS MARCO TSV round trip: ids exact, text rstripped and cut by code points', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.tuple(idArb, textArb), { minLength: 1, maxLength: 20, selector: (r) => r[0] }), fc.integer({ min: 0, max: 30 }), (rows, maxChars) => {
      const tsv = rows.map(([id, t]) => `${id}\t${t}`).join('\n');
      const r = parseChunk(Buffer.from(tsv, 'utf8'), 1, opts('msmarco-passage', { idType: 'string', maxChars }));
      assert.deepEqual(r.ids, rows.map((x) => x[0]));
      const want = rows.map(([, t]) => {
        const s = pyRstrip(t);
        return maxChars > 0 ? Array.from(s).slice(0, maxChars).join('') : s;
      });
      assert.deepEqual(r.texts, want);
    }),
    fcParams(2103, { numRuns: 500 }),
  );
});

test('BEIR JSONL round trip, and any proper prefix of a line is a clean error', () => {
  fc.assert(
    fc.property(idArb, fc.option(textArb, { nil: undefined }), textArb, fc.nat(), (id, title, text, cutAt) => {
      const obj: Record<string, unknown> = { _id: id, text, metadata: { k: [1, 2] } };
      if (title !== undefined) obj['title'] = title;
      const line = JSON.stringify(obj);
      const want = pyStrip(`${title ?? ''} ${text}`);
      if (want.length > 0) {
        const r = parseChunk(Buffer.from(line), 7, opts('beir-corpus'));
        assert.deepEqual([r.ids, r.texts, r.lines], [[id], [want], [7]]);
      }
      const prefix = line.slice(0, cutAt % line.length);
      if (prefix.length === 0) return;
      assert.throws(() => parseChunk(Buffer.from(prefix), 7, opts('beir-corpus')), (e: unknown) => e instanceof DrhardInputError && e.line === 7);
    }),
    fcParams(2103, { numRuns: 500 }),
  );
});

test('readLineChunks: same lines and numbering for any chunk size (BOM dropped, last line without newline kept)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-chunks-'));
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.string({ maxLength: 30 }).map((s) => s.replace(/\n/g, '')), { maxLength: 60 }), fc.boolean(), fc.boolean(), fc.integer({ min: 1, max: 64 }), async (lines, bom, finalNl, chunk) => {
        const body = lines.join('\n') + (finalNl && lines.length > 0 ? '\n' : '');
        const file = path.join(dir, 'x.tsv');
        fs.writeFileSync(file, (bom ? '\ufeff' : '') + body);
        const got: string[] = [];
        let expectFirst = 1;
        const gen = readLineChunks(file, chunk);
        let res = await gen.next();
        while (res.done !== true) {
          const c = res.value;
          assert.equal(c.firstLine, expectFirst);
          const text = Buffer.from(c.buf).toString('utf8');
          const ls = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
          assert.equal(ls.length, c.lineCount);
          got.push(...ls);
          expectFirst += c.lineCount;
          res = await gen.next();
        }
        const want = body.length === 0 ? [] : (body.endsWith('\n') ? body.slice(0, -1) : body).split('\n');
        assert.deepEqual(got, want);
        assert.equal(res.value.lines, want.length);
        assert.equal(res.value.bytes, Buffer.byteLength((bom ? '\ufeff' : '') + body));
      }),
      fcParams(2103, { numRuns: 200 }),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
