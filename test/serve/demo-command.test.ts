// The command the demo prints to serve its models runs as written: laid out like a demo's output directory (fixture
// models in place of STAR and ADORE, a path with a space and a quote), the printed line starts a server that answers
// with both models, BM25 and the collection's text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { serveCommand } from '../../src/demo/report.ts';
import type { DemoResult } from '../../src/demo/pipeline.ts';
import { makeServeFixture, post, ROOT, type SearchAnswer } from './helpers.ts';

test("the demo's serve command starts a server over both models and BM25", async () => {
  const f = await makeServeFixture();
  const out = path.join(f.dir, "demo out's");
  fs.mkdirSync(path.join(out, 'data', 'raw'), { recursive: true });
  fs.symlinkSync(f.ds, path.join(out, 'data', 'dataset'));
  fs.copyFileSync(f.collection, path.join(out, 'data', 'raw', 'collection.tsv'));
  const method = (name: string, i: number) => ({ method: name, label: name, modelDir: f.models[i]!.dir, corpusEmbeddings: f.models[i]!.emb, eval: {}, history: [], baseline: null });
  const res = { out, preset: { maxQueryLength: 24 }, methods: [{ ...method('bm25', 0), modelDir: null, corpusEmbeddings: null }, method('star', 1), method('adore-star', 0)] } as unknown as DemoResult;
  const cmd = serveCommand(res);
  assert.ok(cmd !== null);
  assert.match(cmd, /^drhard serve /);
  assert.equal(serveCommand({ ...res, methods: res.methods.slice(0, 2) }), null, 'no ADORE model, no command');
  // As a shell runs it, with `drhard` being this checkout's CLI.
  const line = `${cmd.replace(/^drhard /, `${JSON.stringify(process.execPath)} --import tsx src/cli/main.ts `)} --port 0`;
  const child = spawn('/bin/sh', ['-c', `exec ${line}`], { cwd: ROOT, env: { ...process.env, DRHARD_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let o = '';
      child.stdout.on('data', (d) => {
        o += d.toString();
        const m = /^(http:\/\/\S+)\n/m.exec(o);
        if (m) resolve(m[1] as string);
      });
      void exited.then((c) => reject(new Error(`exited ${c}: ${err}`)));
    });
    const info = (await (await fetch(`${url}/v1/info`)).json()) as { models: string[]; bm25: boolean; maxQueryLength: number };
    assert.deepEqual(info.models, ['adore-star', 'star']);
    assert.equal(info.bm25, true);
    assert.equal(info.maxQueryLength, 24);
    const r = await post(url, { query: 'dense index', model: 'star', text: true, k: 2 });
    assert.equal(r.status, 200);
    const hit = (r.json as SearchAnswer).results[0]!.hits[0]!;
    assert.equal(hit.text, fs.readFileSync(f.collection, 'utf8').split('\n').find((l) => l.startsWith(`${hit.id}\t`))!.split('\t')[1]);
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0, err);
  }
});
