// `drhard serve` under hostile requests: malformed JSON, wrong types, a 10 MB body, k = 1e9, a 100k-character
// query, a slow client holding a connection, a flood past the queue, bad tokens. Each gets a 4xx/503 or a closed
// connection, and the server keeps answering.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { makeServeFixture, post, serveInProcess, type SearchAnswer } from './helpers.ts';

const f = await makeServeFixture();
const TOKEN = 'test-token-0123456789abcdef';
const s = await serveInProcess(f, { limits: { requestTimeoutMs: 1500, headersTimeoutMs: 1000 }, batch: { maxQueue: 8, maxWaitMs: 30 } });
const authed = await serveInProcess(f, { token: TOKEN }, { bm25: false, collection: undefined as unknown as string });
after(async () => {
  await s.close();
  await authed.close();
});
const url = s.server.url;

async function stillAnswers(u = url, headers: Record<string, string> = {}): Promise<void> {
  const r = await post(u, { query: 'dense index', k: 3 }, headers);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal((r.json as SearchAnswer).results[0]!.hits.length, 3);
}

function errorCode(j: unknown): string {
  return (j as { error: { code: string } }).error.code;
}

test('malformed JSON and wrong types get 400 with a JSON error naming the field', async () => {
  const cases: Array<[string | object, RegExp]> = [
    ['{', /not JSON/],
    ['', /not JSON/],
    ['[1,2', /not JSON/],
    ['"just a string"', /body/],
    ['null', /body/],
    [{ query: 5 }, /^query:/],
    [{ queries: 'x' }, /^queries:/],
    [{ queries: [] }, /^queries:/],
    [{ queries: ['a', 7] }, /^queries\.1:/],
    [{ query: 'a', k: '10' }, /^k:/],
    [{ query: 'a', k: -1 }, /^k:/],
    [{ query: 'a', k: 1.5 }, /^k:/],
    [{ query: 'a', k: 1e9 }, /^k:.*100/],
    ['{"query":"a","k":1e400}', /^k:/],
    [{ query: 'a', mode: 'sql' }, /^mode:/],
    [{ query: 'a', text: 'yes' }, /^text:/],
    [{ query: 'a', extra: 1 }, /extra/],
    [{ query: 'a', __proto__: { k: 5 }, constructor: 1 }, /constructor/],
    [{ query: 'a', queries: ['b'] }, /exactly one/],
    [{}, /exactly one/],
    [{ query: '   ' }, /empty/],
    [{ query: 'a', model: '../../etc/passwd' }, /unknown model/],
    [{ queries: Array.from({ length: 65 }, () => 'a') }, /^queries:/],
    [`${'['.repeat(100000)}${']'.repeat(100000)}`, /./],
  ];
  for (const [body, msg] of cases) {
    const r = await post(url, body);
    assert.equal(r.status, 400, `${String(JSON.stringify(body)).slice(0, 80)} → ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
    const e = (r.json as { error: { code: string; message: string } }).error;
    assert.match(e.message, msg, String(JSON.stringify(body)).slice(0, 80));
  }
  const noType = await fetch(`${url}/v1/search`, { method: 'POST', body: '{"query":"a"}' });
  assert.equal(noType.status, 415);
  await stillAnswers();
});

test('a 100k-character query gets 400 query_too_long; a 10 MB body gets 413 or a closed connection', async () => {
  const long = await post(url, { query: 'dense '.repeat(20000) });
  assert.equal(long.status, 400);
  assert.equal(errorCode(long.json), 'query_too_long');
  // With a length header: refused before the body is read.
  const big = JSON.stringify({ query: 'a', pad: 'x'.repeat(10 * 1024 * 1024) });
  try {
    const r = await post(url, big);
    assert.equal(r.status, 413);
    assert.equal(errorCode(r.json), 'body_too_large');
  } catch (e) {
    assert.match(String((e as Error).cause ?? e), /ECONNRESET|EPIPE|socket|closed|terminated/i);
  }
  // Streamed without a length: cut off once past the limit.
  const chunk = new TextEncoder().encode('x'.repeat(1 << 20));
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent++ < 10) c.enqueue(chunk);
      else c.close();
    },
  });
  try {
    const r = await fetch(`${url}/v1/search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: stream, duplex: 'half' } as RequestInit);
    assert.equal(r.status, 413);
  } catch (e) {
    assert.match(String((e as Error).cause ?? e), /ECONNRESET|EPIPE|socket|closed|terminated/i);
  }
  await stillAnswers();
});

test('a slow client holding a connection is cut off while others are answered', async () => {
  const sock = net.connect(s.server.port, '127.0.0.1');
  await new Promise<void>((r) => sock.once('connect', () => r()));
  let received = '';
  sock.on('data', (d) => (received += d.toString()));
  const closed = new Promise<number>((r) => sock.once('close', () => r(performance.now())));
  // Headers promise 1000 bytes; one byte of body arrives, then nothing.
  sock.write('POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
  const t0 = performance.now();
  // Meanwhile the server answers others, many times over.
  for (let i = 0; i < 5; i++) await stillAnswers();
  // A second slow client that never finishes its headers.
  const slowHeaders = net.connect(s.server.port, '127.0.0.1');
  slowHeaders.on('error', () => undefined);
  slowHeaders.resume();
  slowHeaders.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
  const headersClosed = new Promise<void>((r) => slowHeaders.once('close', () => r()));
  await stillAnswers();
  const t1 = await closed;
  await headersClosed;
  assert.ok(t1 - t0 < 10_000, 'cut off after the request timeout, not held for ever');
  assert.ok(received === '' || /^HTTP\/1\.1 408/.test(received), `a 408 or a plain close, got ${JSON.stringify(received.slice(0, 60))}`);
  await stillAnswers();
});

test('a flood past the queue gets 503 busy for the excess, answers for the rest', async () => {
  const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => post(url, { query: `rank ${i}`, k: 5, mode: 'hybrid' })));
  const codes = rs.map((r) => r.status);
  assert.ok(codes.every((c) => c === 200 || c === 503), codes.join(','));
  assert.ok(codes.includes(200), 'some answered');
  assert.ok(codes.includes(503), `a queue of 8 cannot hold 40 requests: ${codes.join(',')}`);
  for (const r of rs) if (r.status === 503) assert.equal(errorCode(r.json), 'busy');
  await stillAnswers();
});

test('bearer token: missing or wrong → 401, right → 200; /healthz and the page stay open', async () => {
  const u = authed.server.url;
  for (const h of [{} as Record<string, string>, { authorization: 'Bearer wrong' }, { authorization: `Basic ${TOKEN}` }, { authorization: `Bearer ${TOKEN}x` }, { authorization: `Bearer ${TOKEN.slice(0, -1)}` }]) {
    const r = await post(u, { query: 'dense' }, h);
    assert.equal(r.status, 401, JSON.stringify(h));
    assert.equal(errorCode(r.json), 'unauthorized');
    assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/);
  }
  assert.equal((await fetch(`${u}/metrics`)).status, 401);
  assert.equal((await fetch(`${u}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  assert.equal((await fetch(`${u}/healthz`)).status, 200);
  assert.equal((await fetch(`${u}/`)).status, 200);
  await stillAnswers(u, { authorization: `Bearer ${TOKEN}` });
  // This server has no BM25: asking for it is a 400 that says how to get it.
  const r = await post(u, { query: 'dense', mode: 'hybrid' }, { authorization: `Bearer ${TOKEN}` });
  assert.equal(r.status, 400);
  assert.match((r.json as { error: { message: string } }).error.message, /--bm25/);
});
