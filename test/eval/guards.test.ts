// evaluate/compare refusals (src/eval/guards.ts): a run sharing no query with the qrels, a run whose doc ids are
// offsets against original-id qrels, and compare over different query sets are usage errors (exit 2, one line)
// unless --allow-partial / --allow-different-queries; an honest run passes untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseQrels, parseRun, type Qrels, type Run } from '../../src/data/trec.ts';
import { checkRunAgainstQrels, checkSameQuerySets, runCoverage } from '../../src/eval/guards.ts';
import { DrhardUsageError } from '../../src/util/errors.ts';
import { seededRng } from '../helpers/seed.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FIX = path.join(ROOT, 'test/fixtures/eval');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-eval-guards-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function drhard(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** An MS MARCO-like setup: integer qids/pids, the run either in the same ids or in offsets of a shuffled corpus. */
function marcoLike(seed: number): { qrels: Qrels; idsRun: Run; offsetRun: Run; tag: string } {
  const { rng, tag } = seededRng(seed);
  const nDocs = 5000;
  const pids = Array.from({ length: nDocs }, (_, i) => String(1000 + i * 7));
  const qrels: Qrels = new Map();
  const idsRun: Run = new Map();
  const offsetRun: Run = new Map();
  for (let q = 0; q < 300; q++) {
    const qid = String(500000 + q * 13);
    const rel = rng.int(nDocs);
    qrels.set(qid, new Map([[pids[rel]!, 1]]));
    const docs = new Set<number>([rel]);
    while (docs.size < 50) docs.add(rng.int(nDocs));
    const offs = [...docs];
    const scores = offs.map(() => rng.next() / 2 ** 32);
    idsRun.set(qid, { docids: offs.map((d) => pids[d]!), scores });
    offsetRun.set(qid, { docids: offs.map(String), scores });
  }
  return { qrels, idsRun, offsetRun, tag };
}

function refused(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DrhardUsageError, `expected DrhardUsageError, got ${String(e)}`);
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

test('checkRunAgainstQrels: honest run passes; offsets against original ids and disjoint queries are refused', () => {
  const { qrels, idsRun, offsetRun, tag } = marcoLike(1404);
  const warnings: string[] = [];
  const warn = (m: string): void => void warnings.push(m);
  const c = checkRunAgainstQrels(qrels, idsRun, 'ids.run', { allowPartial: false, warn });
  assert.equal(c.queriesWithJudged, 300, tag);
  assert.deepEqual(warnings, []);
  // Offsets collide with pids now and then, but nowhere near 1% of the queries retrieve a judged document.
  assert.ok(runCoverage(qrels, offsetRun).queriesWithJudged < 3, tag);
  refused(() => checkRunAgainstQrels(qrels, offsetRun, 'off.run', { allowPartial: false, warn }), /^off\.run: only \d+ of the 300 queries .*--data DIR.*--allow-partial/);
  const shifted: Run = new Map([...idsRun].map(([q, r]) => [`x${q}`, r]));
  refused(() => checkRunAgainstQrels(qrels, shifted, 'shift.run', { allowPartial: false, warn }), /^shift\.run: none of the run's 300 queries .*--allow-partial/);
  refused(() => checkRunAgainstQrels(qrels, new Map(), 'empty.run', { allowPartial: false, warn }), /empty\.run: the run has no results/);
  checkRunAgainstQrels(qrels, offsetRun, 'off.run', { allowPartial: true, warn });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /scored anyway/);
});

test('checkSameQuerySets: only judged queries have to agree', () => {
  const qrels = parseQrels('1 0 a 1\n2 0 b 1\n3 0 c 1\n');
  const a = parseRun('1 Q0 a 1 3 x\n2 Q0 b 1 3 x\n3 Q0 c 1 3 x\n').run;
  const extra = parseRun('1 Q0 a 1 3 x\n2 Q0 b 1 3 x\n3 Q0 c 1 3 x\n99 Q0 z 1 3 x\n').run;
  const fewer = parseRun('1 Q0 a 1 3 x\n2 Q0 b 1 3 x\n').run;
  const warn = (): void => assert.fail('no warning expected');
  checkSameQuerySets([{ file: 'a', run: a }, { file: 'extra', run: extra }], { allow: false, warn, qrels });
  refused(() => checkSameQuerySets([{ file: 'a', run: a }, { file: 'fewer', run: fewer }], { allow: false, warn, qrels }), /1 queries only in a \(e\.g\. 3\).*--allow-different-queries/);
});

test('CLI: evaluate refuses offsets / disjoint runs with exit 2 and one line, --allow-partial scores them; compare refuses different query sets', () => {
  const { qrels, idsRun, offsetRun } = marcoLike(1405);
  const qrelsFile = path.join(tmp, 'q.qrels');
  fs.writeFileSync(qrelsFile, [...qrels].flatMap(([q, m]) => [...m].map(([d, r]) => `${q} 0 ${d} ${r}\n`)).join(''));
  const toFile = (name: string, run: Run): string => {
    const f = path.join(tmp, name);
    fs.writeFileSync(f, [...run].flatMap(([q, r]) => r.docids.map((d, i) => `${q} Q0 ${d} ${i + 1} ${r.scores[i]} t\n`)).join(''));
    return f;
  };
  const idsFile = toFile('ids.run', idsRun);
  const offFile = toFile('off.run', offsetRun);
  const ok = drhard('evaluate', '--qrels', qrelsFile, '--run', idsFile, '--format', 'json');
  assert.equal(ok.code, 0, ok.stderr);
  const bad = drhard('evaluate', '--qrels', qrelsFile, '--run', offFile, '--format', 'json');
  assert.equal(bad.code, 2, bad.stderr);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /off\.run: only \d+ of the 300 queries/);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  const forced = drhard('evaluate', '--qrels', qrelsFile, '--run', offFile, '--format', 'json', '--allow-partial');
  assert.equal(forced.code, 0, forced.stderr);
  assert.ok((JSON.parse(forced.stdout) as Record<string, number>)['mrr@10']! < 0.05);
  const half: Run = new Map([...idsRun].slice(0, 150));
  const halfFile = toFile('half.run', half);
  const cmp = drhard('compare', '--qrels', qrelsFile, idsFile, halfFile, '--format', 'json', '--trials', '100');
  assert.equal(cmp.code, 2, cmp.stderr);
  assert.match(cmp.stderr, /150 queries only in .*ids\.run.*--allow-different-queries/);
  const cmp2 = drhard('compare', '--qrels', qrelsFile, idsFile, halfFile, '--format', 'json', '--trials', '100', '--allow-different-queries');
  assert.equal(cmp2.code, 0, cmp2.stderr);
  const cmp3 = drhard('compare', '--qrels', qrelsFile, idsFile, offFile, '--format', 'json', '--trials', '100');
  assert.equal(cmp3.code, 2, cmp3.stderr);
  assert.match(cmp3.stderr, /off\.run: only/);
  // The shipped fixtures (honest runs) still pass.
  const fx = drhard('compare', '--qrels', path.join(FIX, 'marco.qrels.tsv'), path.join(FIX, 'marco.run.tsv'), path.join(FIX, 'marco.run.trec'), '--format', 'json', '--trials', '100');
  assert.equal(fx.code, 0, fx.stderr);
});
