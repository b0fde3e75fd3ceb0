// `drhard serve` as a process: binds 127.0.0.1 by default and prints its URL, warns when told to bind another
// address, drains in-flight requests on SIGTERM and exits 0, and refuses bad flags (exit 2) and bad token files (1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli, makeServeFixture, post, ROOT, type SearchAnswer } from './helpers.ts';

const f = await makeServeFixture();
const m = f.models[0]!;

interface Proc {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `drhard serve` and resolves once it printed its URL. */
async function start(args: string[]): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'serve', '--data', f.ds, '--port', '0', ...args], {
    cwd: ROOT,
    env: { ...process.env, DRHARD_LOG_LEVEL: 'info', DRHARD_NUM_THREADS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d.toString();
      const line = /^(http:\/\/\S+)\n/m.exec(out);
      if (line) resolve(line[1] as string);
    });
    void exited.then((code) => reject(new Error(`drhard serve exited ${code} before listening:\n${err}`)));
  });
  return { child, url, stderr: () => err, exited };
}

test('binds 127.0.0.1 by default, prints its URL, serves; SIGTERM drains in-flight requests and exits 0', async () => {
  // A long batch wait keeps the requests queued (in flight) when the signal arrives.
  const p = await start(['--model', m.dir, '--doc-embeddings', m.emb, '--bm25', '--batch-wait', '400', '--batch-size', '64']);
  assert.match(p.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.doesNotMatch(p.stderr(), /other machines/);
  const queries = Array.from({ length: 12 }, (_, i) => ({ query: `dense index ${i}`, k: 5, mode: i % 2 === 0 ? 'dense' : 'hybrid' }));
  const pending = queries.map((q) => post(p.url, q));
  // Wait until the server holds them all, then signal.
  for (let i = 0; i < 200; i++) {
    const t = await (await fetch(`${p.url}/metrics`)).text();
    if (Number(/^drhard_queue_depth (\d+)$/m.exec(t)?.[1]) === queries.length) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  p.child.kill('SIGTERM');
  const answers = await Promise.all(pending);
  for (const a of answers) {
    assert.equal(a.status, 200, JSON.stringify(a.json));
    assert.equal((a.json as SearchAnswer).results[0]!.hits.length, 5);
  }
  assert.equal(await p.exited, 0, p.stderr());
  assert.match(p.stderr(), /"msg":"draining"/);
  assert.match(p.stderr(), /"msg":"stopped"/);
  await assert.rejects(fetch(`${p.url}/healthz`), 'no longer listening');
});

test('--host other than loopback: a warning that other machines can reach it (and that no token is asked)', async () => {
  const p = await start(['--bm25', '--host', '0.0.0.0']);
  try {
    assert.match(p.stderr(), /"level":"warn".*other machines can reach this server.*--token-file/);
    const port = new URL(p.url).port;
    const r = await post(`http://127.0.0.1:${port}`, { query: 'dense', mode: 'bm25', k: 2 });
    assert.equal(r.status, 200);
  } finally {
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0);
  }
});

test('--token-file: the token guards the API', async () => {
  const tf = path.join(f.dir, 'token');
  fs.writeFileSync(tf, 'a-long-enough-secret-token\n', { mode: 0o600 });
  const p = await start(['--bm25', '--token-file', tf]);
  try {
    assert.equal((await post(p.url, { query: 'dense', mode: 'bm25' })).status, 401);
    assert.equal((await post(p.url, { query: 'dense', mode: 'bm25' }, { authorization: 'Bearer a-long-enough-secret-token' })).status, 200);
  } finally {
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0);
  }
});

test('bad flags exit 2, a bad token file or model exits 1, naming the problem', async () => {
  const short = path.join(f.dir, 'short-token');
  fs.writeFileSync(short, 'abc\n');
  const cases: Array<[string[], number, RegExp]> = [
    [['serve', '--data', f.ds], 2, /nothing to serve/],
    [['serve', '--data', f.ds, '--model', m.dir], 2, /1 --model but 0 --doc-embeddings/],
    [['serve', '--data', f.ds, '--model', m.dir, '--doc-embeddings', m.emb, '--load-index', m.emb], 2, /not both/],
    [['serve', '--data', f.ds, '--bm25', '--port', '70000'], 2, /--port/],
    [['serve', '--data', f.ds, '--bm25', '--hybrid-method', 'interpolate'], 2, /--hybrid-weight/],
    [['serve', '--data', f.ds, '--bm25', '--token-file', short], 1, /short-token.*at least 16/],
    [['serve', '--data', f.ds, '--bm25', '--token-file', path.join(f.dir, 'missing')], 1, /missing.*ENOENT/],
    [['serve', '--data', f.ds, '--model', m.dir, '--doc-embeddings', path.join(f.dir, 'none.f32')], 1, /none\.f32/],
  ];
  for (const [args, code, msg] of cases) {
    const r = await cli(args);
    assert.equal(r.code, code, `${args.join(' ')}\n${r.stderr}`);
    assert.match(r.stderr, msg, args.join(' '));
    assert.equal(r.stdout, '', 'no URL printed');
  }
});
