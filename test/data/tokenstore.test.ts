// Token store: write/read round trip, DRhard read-time truncation in batch(), validation of damaged files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { openTokenStore } from '../../src/data/index.ts';
import { TokenStoreWriter, tokenStoreFiles } from '../../src/data/tokenstore.ts';
import { IdIndex } from '../../src/data/idindex.ts';
import { DrhardInputError } from '../../src/util/errors.ts';
import { fcParams } from '../helpers/seed.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-store-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

function writeRows(name: string, rows: number[][]): void {
  const w = new TokenStoreWriter(dir, name);
  // Two appends so row offsets cross an append boundary.
  const half = Math.floor(rows.length / 2);
  for (const part of [rows.slice(0, half), rows.slice(half)]) {
    w.appendPacked(Int32Array.from(part.flat()), Int32Array.from(part.map((r) => r.length)));
  }
  w.finish();
}

/** dataset.SequenceDataset.__getitem__ from DRhard, transcribed. */
function drhardTruncate(ids: number[], max: number): number[] {
  const seq = Math.min(max - 1, ids.length - 1);
  return [ids[0]!, ...ids.slice(1, Math.max(1, seq)), ids[ids.length - 1]!];
}

test('rows round-trip; batch() pads to the longest kept row and applies DRhard truncation', () => {
  fc.assert(
    fc.property(
      fc.array(fc.array(fc.integer({ min: 0, max: 50_000 }), { minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 30 }),
      fc.integer({ min: 2, max: 45 }),
      fc.boolean(),
      (rows, maxLen, padToMax) => {
        writeRows('r', rows);
        const st = openTokenStore(dir, 'r', rows.length, 64);
        try {
          assert.equal(st.count, rows.length);
          rows.forEach((r, i) => {
            assert.equal(st.length(i), r.length);
            assert.deepEqual(Array.from(st.get(i)), r);
          });
          const pick = rows.map((_, i) => (i * 7) % rows.length);
          const b = st.batch(pick, maxLen, -1, { padToMax });
          const want = pick.map((i) => drhardTruncate(rows[i]!, maxLen));
          const L = padToMax ? maxLen : Math.max(...want.map((w) => w.length));
          assert.equal(b.L, L);
          pick.forEach((_, k) => {
            const row = Array.from(b.ids.subarray(k * L, (k + 1) * L));
            const m = Array.from(b.mask.subarray(k * L, (k + 1) * L));
            const w = want[k]!;
            assert.deepEqual(row, [...w, ...Array<number>(L - w.length).fill(-1)]);
            assert.deepEqual(m, [...Array<number>(w.length).fill(1), ...Array<number>(L - w.length).fill(0)]);
          });
        } finally {
          st.close();
        }
      },
    ),
    fcParams(2104, { numRuns: 200 }),
  );
});

test('keeps <s> and </s> when re-truncating (DRhard example)', () => {
  writeRows('s', [[0, 10, 11, 12, 13, 2], [0, 5, 2]]);
  const st = openTokenStore(dir, 's', 2, 6);
  const b = st.batch([0, 1], 4, 1);
  assert.equal(b.L, 4);
  assert.deepEqual(Array.from(b.ids), [0, 10, 11, 2, 0, 5, 2, 1]);
  assert.deepEqual(Array.from(b.mask), [1, 1, 1, 1, 1, 1, 1, 0]);
  assert.throws(() => st.get(2), RangeError);
  assert.throws(() => st.batch([0], 1, 1), RangeError);
  st.close();
  assert.throws(() => st.get(0), /closed/);
});

test('damaged stores are rejected naming the file', () => {
  writeRows('d', [[1, 2, 3], [4, 5]]);
  const f = tokenStoreFiles(dir, 'd');
  assert.throws(() => openTokenStore(dir, 'd', 3, 8), (e: unknown) => e instanceof DrhardInputError && e.file === f.lengths);
  fs.truncateSync(f.tokens, 12);
  assert.throws(() => openTokenStore(dir, 'd', 2, 8), (e: unknown) => e instanceof DrhardInputError && e.file === f.tokens);
  writeRows('d', [[1, 2, 3], [4, 5]]);
  const off = fs.readFileSync(f.offsets);
  off.writeBigInt64LE(4n, 8);
  fs.writeFileSync(f.offsets, off);
  assert.throws(() => openTokenStore(dir, 'd', 2, 8), /offsets and lengths disagree/);
  writeRows('d', [[1, 2, 3], [4, 5]]);
  fs.rmSync(f.tokens);
  assert.throws(() => openTokenStore(dir, 'd', 2, 8), /missing token store file/);
});

test('IdIndex: numeric and string ids, duplicates, growth', () => {
  const idx = new IdIndex();
  const ids: string[] = [];
  for (let i = 0; i < 50_000; i++) ids.push(String(i * 7919 + 3));
  ids.push('0', '007', 'D12', 'abc', '999999999999999', '1e3', '-5', '12345678901234567890');
  ids.forEach((id, i) => assert.equal(idx.add(id, i), true, id));
  assert.equal(idx.size, ids.length);
  ids.forEach((id, i) => assert.equal(idx.get(id), i));
  assert.equal(idx.add('3', 1), false, 'duplicate of 0*7919+3');
  assert.equal(idx.add('007', 1), false);
  assert.equal(idx.get('7'), undefined, "'007' is not '7'");
  assert.equal(idx.get('1000'), undefined);
});
