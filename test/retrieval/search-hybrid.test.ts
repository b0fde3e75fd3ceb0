// `drhard search --hybrid-bm25`: its output equals fusing by hand — `drhard search` (dense run) and `drhard bm25`
// (BM25 run) written to files, then `drhard fuse` — for RRF, a given dense weight and a weight tuned on another split;
// bad flag combinations exit 2 and write nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeDataset, makeModelDir, tmpDir, ROOT } from './helpers.ts';

const dir = tmpDir('drhard-hybrid-');
const ds = await makeDataset(dir);
const model = makeModelDir(dir);
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, DRHARD_LOG_LEVEL: 'warn', DRHARD_NUM_THREADS: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(args: string[]): string {
  const r = cli(args);
  assert.equal(r.code, 0, `${args.join(' ')}\n${r.stderr}`);
  return r.stdout;
}

const emb = (split: string): string => path.join(dir, `${split}.emb`);
const K = '12';

test('search --hybrid-bm25 equals drhard fuse of the dense and the drhard bm25 runs', () => {
  for (const split of ['corpus', 'dev', 'train']) ok(['encode', '--model', model, '--data', ds, '--split', split, '--out', emb(split), '--no-progress']);
  const run = (name: string): string => path.join(dir, name);
  // By hand: the two runs as files (original ids, as search and bm25 write them by default), then fuse.
  for (const split of ['dev', 'train']) {
    ok(['search', '--query-embeddings', emb(split), '--doc-embeddings', emb('corpus'), '--topk', K, '--data', ds, '--split', split, '--out', run(`${split}.dense`)]);
    ok(['bm25', '--data', ds, '--split', split, '--topk', K, '--out', run(`${split}.bm25`)]);
  }
  const search = ['search', '--query-embeddings', emb('dev'), '--doc-embeddings', emb('corpus'), '--topk', K, '--data', ds, '--split', 'dev', '--tag', 'hyb', '--hybrid-bm25'];
  const fuse = ['fuse', run('dev.dense'), run('dev.bm25'), '--tag', 'hyb'];

  // RRF (the default): stdout against stdout.
  const rrf = ok(search);
  assert.equal(rrf, ok(fuse));
  const dense = fs.readFileSync(run('dev.dense'), 'utf8');
  const bm25 = fs.readFileSync(run('dev.bm25'), 'utf8');
  const docsOf = (text: string, q: string): string[] => text.split('\n').filter((l) => l.startsWith(`${q} `)).map((l) => l.split(' ')[2]!);
  const qids = [...new Set(rrf.trim().split('\n').map((l) => l.split(' ')[0]!))];
  assert.equal(qids.length, 20, 'every dev query');
  // Fused, not a copy of either input: some query ranks documents only one of the runs retrieved, in a new order.
  assert.ok(qids.some((q) => docsOf(rrf, q).join() !== docsOf(dense, q).join() && docsOf(rrf, q).join() !== docsOf(bm25, q).join()));
  assert.ok(qids.every((q) => new Set(docsOf(rrf, q)).size === docsOf(rrf, q).length && docsOf(rrf, q).length === Number(K)));

  // Interpolation with a given dense weight: files against files (the output file is written atomically).
  ok([...search, '--hybrid-weight', '0.3', '--out', run('dev.hybrid')]);
  ok([...fuse, '--method', 'interpolate', '--alpha', '0.3', '--out', run('dev.fused')]);
  assert.equal(fs.readFileSync(run('dev.hybrid'), 'utf8'), fs.readFileSync(run('dev.fused'), 'utf8'));
  assert.notEqual(fs.readFileSync(run('dev.hybrid'), 'utf8'), rrf);

  // Weight tuned on the train split's qrels: the same alpha and run as drhard fuse --tune-qrels on the train runs.
  const tuned = ok([...search, '--hybrid-method', 'interpolate', '--hybrid-tune-split', 'train', '--hybrid-tune-queries', emb('train')]);
  const report = run('fuse.json');
  const byHand = ok([...fuse, '--method', 'interpolate', '--tune-qrels', path.join(dir, 'raw', 'qrels.train.tsv'), '--tune-runs', `${run('train.dense')},${run('train.bm25')}`, '--report', report]);
  assert.equal(tuned, byHand);
  const alpha = (JSON.parse(fs.readFileSync(report, 'utf8')) as { tuning: { alpha: number } }).tuning.alpha;
  ok([...search, '--hybrid-weight', String(alpha), '--out', run('dev.alpha')]);
  assert.equal(fs.readFileSync(run('dev.alpha'), 'utf8'), tuned, `the tuned run is the run at alpha ${alpha}`);

  // MS MARCO format and offsets: the same fusion written another way (the rank column agrees with the TREC run's).
  const ms = ok([...search, '--format', 'msmarco']);
  assert.deepEqual(
    ms.trim().split('\n').map((l) => l.split('\t')),
    rrf.trim().split('\n').map((l) => { const f = l.split(' '); return [f[0]!, f[2]!, f[3]!]; }),
  );
});

test('search --hybrid-*: bad combinations exit 2 and write nothing; a wrong tuning embeddings file exits 1', () => {
  const out = path.join(dir, 'never.run');
  const base = ['search', '--query-embeddings', emb('dev'), '--doc-embeddings', emb('corpus'), '--data', ds, '--split', 'dev', '--out', out];
  const cases: Array<[string[], RegExp]> = [
    [['search', '--query-embeddings', emb('dev'), '--doc-embeddings', emb('corpus'), '--out', out, '--hybrid-bm25'], /--data and --split/],
    [[...base, '--hybrid-weight', '0.4'], /--hybrid-weight needs --hybrid-bm25/],
    [[...base, '--hybrid-bm25', '--hybrid-method', 'rrf', '--hybrid-weight', '0.4'], /rrf takes no weight/],
    [[...base, '--hybrid-bm25', '--hybrid-method', 'interpolate'], /needs --hybrid-weight .* or --hybrid-tune-split/],
    [[...base, '--hybrid-bm25', '--hybrid-weight', '0.4', '--hybrid-tune-split', 'train', '--hybrid-tune-queries', emb('train')], /not both/],
    [[...base, '--hybrid-bm25', '--hybrid-tune-split', 'train'], /--hybrid-tune-queries/],
    [[...base, '--hybrid-bm25', '--hybrid-tune-split', 'dev', '--hybrid-tune-queries', emb('dev')], /is the split being searched/],
    [[...base, '--hybrid-bm25', '--hybrid-weight', '1.5'], /--hybrid-weight/],
    [['search', '--query', 'rust', '--model', model, '--doc-embeddings', emb('corpus'), '--data', ds, '--out', out, '--hybrid-bm25'], /not --query text/],
  ];
  for (const [args, msg] of cases) {
    const r = cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}\n${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.ok(!fs.existsSync(out));
  }
  // The dev embeddings given as the train split's: the row count does not match, refused before anything is written.
  const r = cli([...base, '--hybrid-bm25', '--hybrid-tune-split', 'train', '--hybrid-tune-queries', emb('dev')]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /20 query embeddings but split train has 40 queries/);
  assert.ok(!fs.existsSync(out));
});
