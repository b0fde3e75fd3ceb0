// Integration: `drhard demo --quick` end to end from the CLI (table, results.json, report.html), then a re-run
// that resumes every finished stage instead of redoing it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LABELS = ['BM25', 'Inbatch-Neg', 'Rand-Neg', 'BM25-Neg', 'STAR', 'ADORE (STAR)', 'ADORE (Rand-Neg)', 'ADORE (Inbatch-Neg)', 'Hybrid (ADORE+STAR, BM25)'];

function demo(out: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), 'demo', '--quick', '--out-dir', out, '--no-progress'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, DRHARD_LOG_LEVEL: 'warn' },
    timeout: 15 * 60 * 1000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Results {
  methods: Array<{ method: string; label: string; eval: { mean: Record<string, number>; queries: string[] } }>;
  significance: Record<string, { baseline: string; tests: Record<string, { pT: number; pRand: number }> }>;
  timings: Array<{ name: string; resumed: boolean }>;
  subset: { devQueries: number; docs: number };
  claims: Array<{ claim: string; holds: boolean }>;
  hybrid: { denseWeight: number } | null;
}

test('drhard demo --quick runs the whole pipeline, then resumes instead of redoing it', { timeout: 20 * 60 * 1000 }, () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-demo-'));
  try {
    const first = demo(out);
    assert.equal(first.status, 0, `demo failed:\n${first.stderr.slice(-4000)}`);
    for (const label of LABELS) {
      const row = first.stdout.split('\n').find((l) => l.startsWith(`| ${label} |`));
      assert.ok(row, `table row for ${label}`);
      const cells = row.split('|').map((c) => c.trim());
      for (const c of cells.slice(2, 5)) assert.match(c, /^[01]\.\d{3}$/, `${label}: metric cell ${c}`);
    }
    const res = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as Results;
    assert.deepEqual(res.methods.map((m) => m.label), LABELS);
    for (const m of res.methods) {
      assert.equal(m.eval.queries.length, res.subset.devQueries, `${m.label} evaluated on every dev query`);
      for (const v of Object.values(m.eval.mean)) assert.ok(v >= 0 && v <= 1);
    }
    // ADORE is compared with its own starting model, STAR with the warmup it was initialised from.
    assert.equal(res.significance['adore-star']?.baseline, 'STAR');
    assert.equal(res.significance['adore-inbatch']?.baseline, 'Inbatch-Neg');
    for (const s of Object.values(res.significance)) for (const t of Object.values(s.tests)) assert.ok(t.pT >= 0 && t.pT <= 1 && t.pRand > 0 && t.pRand <= 1);
    // Learning happened: a random ranking of the corpus scores MRR@10 ≈ 3/docs (< 0.001 here); STAR must reach a real
    // share of BM25's. A loss without gradient, a sign error or a collapsed encoder stays near the random level.
    const mrr = (m: string): number => res.methods.find((x) => x.method === m)!.eval.mean['mrr@10'] as number;
    assert.ok(mrr('star') > 0.3 * mrr('bm25'), `STAR ${mrr('star')} vs BM25 ${mrr('bm25')}`);
    assert.ok(mrr('star') > 100 * (3 / res.subset.docs), `STAR ${mrr('star')} is near a random ranking`);
    assert.ok(res.hybrid !== null && res.hybrid.denseWeight >= 0 && res.hybrid.denseWeight <= 1);
    assert.ok(res.claims.length === 5, JSON.stringify(res.claims));
    assert.match(first.stdout, /\| Check \(dev MRR@10\) \| Holds \|/);
    const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
    assert.ok((html.match(/<svg/g) ?? []).length >= 5, 'report has its plots');
    assert.ok(html.includes('ADORE (STAR)'));
    assert.ok(html.includes('Example queries'), 'report shows per-query examples of STAR vs ADORE (STAR)');
    // The metrics the demo reports are what `drhard evaluate` says of the run files it wrote.
    for (const m of ['star', 'adore-star']) {
      const ev = spawnSync(
        process.execPath,
        ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), 'evaluate', '--data', path.join(out, 'data', 'dataset'), '--split', 'dev', '--run', path.join(out, m, 'dev.run.trec'), '--format', 'json'],
        { cwd: root, encoding: 'utf8' },
      );
      assert.equal(ev.status, 0, ev.stderr);
      const cli = JSON.parse(ev.stdout) as Record<string, number>;
      const mean = res.methods.find((x) => x.method === m)!.eval.mean;
      for (const k of ['mrr@10', 'recall@100', 'ndcg@10']) assert.equal(mean[k], cli[k], `${m} ${k}: demo ${mean[k]} vs evaluate ${cli[k]}`);
    }

    const second = demo(out);
    assert.equal(second.status, 0, second.stderr.slice(-2000));
    const res2 = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as Results;
    assert.ok(res2.timings.length >= 10 && res2.timings.every((t) => t.resumed), 'every stage reused on re-run');
    assert.deepEqual(res2.methods.map((m) => m.eval.mean), res.methods.map((m) => m.eval.mean));
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
