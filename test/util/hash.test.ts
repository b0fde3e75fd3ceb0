// sha256 of files must match the one-shot digest; canonical JSON must ignore key order and refuse lossy values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { canonicalJson, hashJson, sha256, sha256File, sha256FileSync } from '../../src/util/hash.ts';

test('sha256 of known strings', () => {
  assert.equal(sha256(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(sha256('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(sha256(new Uint8Array([0x61, 0x62, 0x63])), sha256('abc'));
});

test('streaming file hash equals one-shot hash across chunk boundaries; size is reported', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-hash-'));
  try {
    const data = Buffer.alloc((1 << 20) * 2 + 12345);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    const f = path.join(dir, 'x.bin');
    fs.writeFileSync(f, data);
    const expect = createHash('sha256').update(data).digest('hex');
    assert.deepEqual(await sha256File(f), { sha256: expect, size: data.length });
    assert.deepEqual(sha256FileSync(f), { sha256: expect, size: data.length });
    const e = path.join(dir, 'empty');
    fs.writeFileSync(e, '');
    assert.deepEqual(await sha256File(e), { sha256: sha256(''), size: 0 });
    await assert.rejects(sha256File(path.join(dir, 'missing')), /ENOENT/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('canonicalJson sorts keys at every depth and drops undefined like JSON.stringify', () => {
  const a = { b: 1, a: { y: [3, { q: 1, p: 2 }], x: 'hi' }, u: undefined };
  const b = { a: { x: 'hi', y: [3, { p: 2, q: 1 }] }, b: 1 };
  assert.equal(canonicalJson(a), '{"a":{"x":"hi","y":[3,{"p":2,"q":1}]},"b":1}');
  assert.equal(canonicalJson(a), canonicalJson(b));
  assert.equal(hashJson(a), hashJson(b));
  assert.notEqual(hashJson(a), hashJson({ ...b, b: 2 }));
  assert.equal(canonicalJson([undefined, null, true]), '[null,null,true]');
  assert.equal(canonicalJson({ d: new Date(0) }), '{"d":"1970-01-01T00:00:00.000Z"}');
  assert.equal(canonicalJson('é\n'), JSON.stringify('é\n'));
  assert.deepEqual(JSON.parse(canonicalJson(a)), JSON.parse(JSON.stringify(a)));
});

test('canonicalJson refuses NaN, Infinity, bigint, functions and cycles', () => {
  assert.throws(() => canonicalJson({ lr: Number.NaN }), /non-finite number at \$\.lr/);
  assert.throws(() => canonicalJson([1, Infinity]), /\$\[1\]/);
  assert.throws(() => canonicalJson({ n: 1n }), /bigint/);
  assert.throws(() => canonicalJson({ f: () => 1 }), /function/);
  const c: Record<string, unknown> = {};
  c['self'] = c;
  assert.throws(() => canonicalJson(c), /cycle/);
  // A shared (non-cyclic) reference is fine.
  const shared = { k: 1 };
  assert.equal(canonicalJson({ a: shared, b: shared }), '{"a":{"k":1},"b":{"k":1}}');
});
