// The HTML report: validated input, escaped text, inline SVG charts, no external loads; checked in headless Chromium.
// The demo's report data: hybrid row, one loss chart per loss kind, LR/dev curves, tuning chart, run metadata.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seedClaims } from '../../src/demo/pipeline.ts';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { renderReport, renderReportHtml, winTieLoss, type ReportData } from '../../src/report/index.ts';
import { EXAMPLE_LOSS_KINDS, exampleReportData } from '../../src/report/example.ts';
import { DrhardInputError } from '../../src/util/errors.ts';
import { collectEnvironment, faissHeaderVersion, flattenParams, formatClaims, formatSummary, formatTable, formatTimings, lossKindOf, reportData, serveCommand, type RunEnvironment } from '../../src/demo/report.ts';
import { significance, type MethodEval } from '../../src/demo/evaluate.ts';
import type { DemoResult, MethodOutcome } from '../../src/demo/pipeline.ts';
import { PRESETS } from '../../src/demo/presets.ts';
import type { MetricsRecord } from '../../src/train/index.ts';
import { torchVersion } from '../../src/tensor/index.ts';
import { Rng } from '../../src/util/rng.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

// 3 loss charts (one per loss kind), train MRR, LR, dev/mrr@10, 3 CI charts, win/tie/loss, sorted deltas, tuning
const CHART_COUNT = 12;

function count(hay: string, needle: RegExp): number {
  return (hay.match(needle) ?? []).length;
}

/** id → inner HTML of every chart figure. */
function figures(html: string): Map<string, string> {
  return new Map([...html.matchAll(/<figure class="chart" id="([^"]+)"[^>]*>([\s\S]*?)<\/figure>/g)].map((m) => [m[1]!, m[2]!]));
}

/** The text drawn in an SVG (vega writes each label as one <text> element). */
function svgTexts(svg: string): string[] {
  return [...svg.matchAll(/<text\b[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'"));
}

test('winTieLoss counts with a tie epsilon', () => {
  assert.deepEqual(winTieLoss([0.1, 0, -0.2, 1e-12, -1e-12, 0.5]), { wins: 2, ties: 3, losses: 1 });
  assert.deepEqual(winTieLoss([0.01, -0.01, 0.2], 0.05), { wins: 1, ties: 2, losses: 0 });
  assert.deepEqual(winTieLoss([]), { wins: 0, ties: 0, losses: 0 });
});

test('report HTML: all charts inline as SVG, table formatting, nothing external, deterministic', async () => {
  const data = exampleReportData(3, 300);
  const html = await renderReportHtml(data);
  assert.equal(count(html, /<svg\b/g), CHART_COUNT);
  assert.equal(count(html, /<figure class="chart"/g), CHART_COUNT);
  assert.doesNotMatch(html, /<script|<link|<iframe|<img|@import|url\(\s*['"]?https?:/i);
  // The only URLs are SVG namespace names, which browsers never fetch.
  const urls = (html.match(/https?:\/\/[^\s"'<>)]+/g) ?? []).filter((u) => !/^http:\/\/www\.w3\.org\/(2000\/svg|1999\/xlink)$/.test(u));
  assert.deepEqual(urls, []);
  assert.match(html, /font-family="DejaVu Sans, Helvetica, Arial, sans-serif"|font-family:\s*DejaVu Sans/);
  // Best value bold, p-values marked against the baseline, NaN/null as a dash.
  assert.match(html, /<th scope="row">Hybrid \(ADORE\+STAR, BM25\)<\/th><td class="num"><strong>0\.362<\/strong> <span class="p sig" title="vs BM25">p&lt;0\.001 \*<\/span>/);
  assert.match(html, /<th scope="row">BM25 <span class="tag">baseline<\/span><\/th><td class="num">0\.187<\/td>/);
  assert.match(html, /<th scope="row">diverged run<\/th><td class="num">—<\/td><td class="num">—<\/td><td class="num">—<\/td>/);
  // No label is truncated (vega's default label limits cut 'ADORE (Inbatch-Neg)' to 'ADORE (Inbatch-Ne…').
  assert.ok(!html.includes('…'), 'no truncated label');
  const figs = figures(html);
  // One loss chart per loss kind, each titled with its kind and holding only its own methods, with full names.
  const lossFigs = [...figs].filter(([id]) => id.startsWith('curve-loss-'));
  assert.equal(lossFigs.length, Object.keys(EXAMPLE_LOSS_KINDS).length);
  const kindMethods: Record<string, string[]> = {
    [EXAMPLE_LOSS_KINDS.pretrain]: ['Pretraining (contrastive)'],
    [EXAMPLE_LOSS_KINDS.listwise]: ['Rand-Neg', 'STAR'],
    [EXAMPLE_LOSS_KINDS.adore]: ['ADORE (STAR)', 'ADORE (Inbatch-Neg)'],
  };
  for (const [kind, ms] of Object.entries(kindMethods)) {
    const fig = lossFigs.find(([, f]) => svgTexts(f).includes(kind));
    assert.ok(fig, `a loss chart titled ${kind}`);
    const legend = svgTexts(fig[1]).filter((t) => data.curves.some((c) => c.method === t));
    assert.deepEqual(legend.sort(), [...ms].sort(), `${kind}: legend`);
  }
  assert.ok(svgTexts(figs.get('curve-lr')!).includes('learning rate'));
  assert.ok(svgTexts(figs.get('curve-dev-0')!).includes('dev/mrr@10'));
  // BM25 and the hybrid are reference lines in the CI charts, labelled in their own rows; BM25's Recall@100 is
  // far below the dense rows, so it is off scale rather than squeezing their intervals.
  const recall = svgTexts(figs.get('ci-1')!);
  assert.ok(recall.includes('◀ 0.520 [0.500, 0.540], off scale'), recall.join(' | '));
  assert.ok(recall.includes('Hybrid (ADORE+STAR, BM25)') && recall.includes('0.881 [0.867, 0.895]'));
  assert.ok(svgTexts(figs.get('ci-0')!).includes('0.187 [0.169, 0.205]'), 'BM25 MRR@10 within 2× the span: drawn in range');
  // Tuning chart with the chosen weight, and the metadata tables.
  assert.ok(svgTexts(figs.get('tuning-0')!).includes('chosen 0.65 (0.360)'));
  assert.match(html, /<section id="metadata"><h2>Run metadata<\/h2>/);
  assert.match(html, /<tr><th scope="row">seed<\/th><td>42<\/td><\/tr>/);
  const w = winTieLoss(data.pair!.deltas);
  assert.ok(html.includes(`better than STAR on <strong>${w.wins}</strong> queries, worse on <strong>${w.losses}</strong>, tied on <strong>${w.ties}</strong>`));
  assert.equal(w.wins + w.ties + w.losses, 300);
  assert.equal(await renderReportHtml(exampleReportData(3, 300)), html, 'same data, same bytes');
});

test('user text is escaped in the table and inside SVG; non-finite curve points are dropped and counted', async () => {
  const evil = '<script>alert(1)</script>&"\'';
  const data: ReportData = {
    title: `T ${evil}`,
    results: [{ method: evil, mrr10: 0.1, recall100: 0.2, ndcg10: 0.3, notes: evil }],
    curves: [{ method: evil, points: [{ step: 0, loss: 1 }, { step: 1, loss: Number.NaN }, { step: 2, loss: 0.5 }] }],
    devMetrics: [{ method: evil, metrics: { 'MRR@10': { value: 0.1, lo: 0.05, hi: 0.15 } } }],
    pair: { a: evil, b: 'B', metric: 'MRR@10', deltas: [0.1, -0.1, 0] },
  };
  const html = await renderReportHtml(data);
  assert.doesNotMatch(html, /<script/i);
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;'));
  assert.match(html, /Training loss per step \(1 non-finite point not drawn\)/);
  assert.equal(count(html, /<svg\b/g), 4);
  const meta = await renderReportHtml({ ...data, metadata: [{ title: evil, rows: [{ key: evil, value: evil }] }] });
  assert.doesNotMatch(meta, /<script/i);
  assert.equal(count(meta, /&lt;script&gt;alert\(1\)&lt;\/script&gt;&amp;&quot;&#39;/g), count(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;&amp;&quot;&#39;/g) + 3);
});

test('invalid data is refused with every problem and its path', async () => {
  const bad = {
    ...exampleReportData(1, 10),
    title: '',
    devMetrics: [{ method: 'X', metrics: { 'MRR@10': { value: 0.5, lo: 0.6, hi: 0.7 } } }],
    results: [{ method: 'Y', mrr10: 0.1, recall100: 0.2, ndcg10: 0.3, pValues: { mrr10: 2 } }],
  } as ReportData;
  await assert.rejects(renderReportHtml(bad), (e: unknown) => {
    assert.ok(e instanceof DrhardInputError);
    assert.match(e.message, /title:/);
    assert.match(e.message, /devMetrics\.0\.metrics\.MRR@10: need lo <= value <= hi/);
    assert.match(e.message, /results\.0\.pValues\.mrr10:/);
    return true;
  });
  const withExtra = { ...exampleReportData(1, 10), colour: 'red' } as unknown as ReportData;
  await assert.rejects(renderReportHtml(withExtra), /colour/);
  const nanDelta = exampleReportData(1, 10);
  nanDelta.pair!.deltas[3] = Number.NaN;
  await assert.rejects(renderReportHtml(nanDelta), /pair\.deltas\.3/);
});

test('a minimal report (table only) renders without charts', async () => {
  const html = await renderReportHtml({ title: 'T', results: [], curves: [], devMetrics: [] });
  assert.equal(count(html, /<svg\b/g), 0);
  assert.match(html, /<table class="results">/);
});

// DRHARD_CHROMIUM picks a browser binary (a missing path exercises the skip).
function findChromium(): string | null {
  const env = process.env['DRHARD_CHROMIUM'];
  if (env !== undefined) return fs.existsSync(env) ? env : null;
  for (const c of ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']) if (fs.existsSync(c)) return c;
  return null;
}

/** Fraction of non-white pixels in an 8-bit RGB/RGBA non-interlaced PNG (enough to tell "blank" from "drawn"). */
function inkFraction(png: Buffer): { width: number; height: number; ink: number } {
  assert.equal(png.subarray(0, 8).toString('hex'), '89504e470d0a1a0a');
  let off = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (off < png.length) {
    const len = png.readUInt32BE(off);
    const type = png.toString('latin1', off + 4, off + 8);
    const body = png.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      assert.equal(body[8], 8, 'bit depth');
      channels = body[9] === 6 ? 4 : body[9] === 2 ? 3 : 0;
      assert.ok(channels > 0, `colour type ${body[9]}`);
      assert.equal(body[12], 0, 'interlace');
    } else if (type === 'IDAT') idat.push(body);
    off += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const prev = Buffer.alloc(stride);
  const cur = Buffer.alloc(stride);
  let ink = 0;
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? cur[x - channels]! : 0;
      const b = prev[x]!;
      const c = x >= channels ? prev[x - channels]! : 0;
      let v = line[x]!;
      if (f === 1) v += a;
      else if (f === 2) v += b;
      else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      cur[x] = v & 0xff;
    }
    for (let x = 0; x < width; x++) {
      if (cur[x * channels]! < 235 || cur[x * channels + 1]! < 235 || cur[x * channels + 2]! < 235) ink++;
    }
    cur.copy(prev);
  }
  return { width, height, ink: ink / (width * height) };
}

test('headless Chromium: page loads offline with no console errors, DOM has every SVG, screenshot is drawn', async (t) => {
  const chromium = findChromium();
  if (!chromium) {
    t.skip('chromium not installed (Debian: apt-get install -y chromium); browser check skipped');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-report-'));
  try {
    const out = path.join(dir, 'report.html');
    await renderReport(exampleReportData(5, 400), out);
    assert.deepEqual(fs.readdirSync(dir), ['report.html'], 'atomic write leaves no temp file');
    const base = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--hide-scrollbars',
      '--enable-logging=stderr',
      '--v=0',
    ];
    const run = (extra: string[], profile: string) =>
      spawnSync(chromium, [...base, `--user-data-dir=${path.join(dir, profile)}`, ...extra, `file://${out}`], {
        encoding: 'utf8',
        timeout: 60_000,
        maxBuffer: 64 << 20,
      });
    const dom = run(['--dump-dom'], 'p1');
    assert.equal(dom.status, 0, dom.stderr.slice(-2000));
    assert.equal(count(dom.stdout, /<svg\b[^>]*class="marks"/g), CHART_COUNT, 'every chart is in the rendered DOM');
    assert.ok(count(dom.stdout, /<path\b/g) > 20, 'SVGs contain drawn paths');
    const consoleLines = dom.stderr.split('\n').filter((l) => /CONSOLE|Refused to|Uncaught|net::ERR_/.test(l));
    assert.deepEqual(consoleLines, [], 'no console errors, CSP violations or failed loads');
    const png = path.join(dir, 'shot.png');
    const shot = run([`--screenshot=${png}`, '--window-size=1200,2600'], 'p2');
    assert.equal(shot.status, 0, shot.stderr.slice(-2000));
    const img = inkFraction(fs.readFileSync(png));
    assert.equal(img.width, 1200);
    assert.equal(img.height, 2600);
    assert.ok(img.ink > 0.02 && img.ink < 0.6, `ink fraction ${img.ink}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A demo result shaped as runDemo returns it (per-query values random), without running the pipeline. */
function fakeDemoResult(): DemoResult {
  const rng = new Rng(11);
  const n = 40;
  const evalOf = (base: number): MethodEval => {
    const values = {
      'mrr@10': Array.from({ length: n }, () => Math.min(1, Math.max(0, base + (rng.float() - 0.5) * 0.4))),
      'recall@100': Array.from({ length: n }, () => (rng.float() < base + 0.4 ? 1 : 0)),
      'ndcg@10': Array.from({ length: n }, () => Math.min(1, Math.max(0, base + (rng.float() - 0.5) * 0.4))),
    };
    const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
    return { queries: Array.from({ length: n }, (_, i) => String(i)), values, mean: { 'mrr@10': mean(values['mrr@10']), 'recall@100': mean(values['recall@100']), 'ndcg@10': mean(values['ndcg@10']) } };
  };
  const history = (start: number, extra: (i: number) => Record<string, number> = () => ({})): MetricsRecord[] =>
    Array.from({ length: 8 }, (_, i) => ({ step: (i + 1) * 10, epoch: 0, lr: 1e-3 * (1 - i / 8), loss: start / (1 + i), gradNorm: 1, samplesPerSec: 100, ...extra(i) }));
  const m = (method: string, label: string, base: number, baseline: string | null, hist: MetricsRecord[] = []): MethodOutcome => ({
    method, label, modelDir: null, corpusEmbeddings: null, eval: evalOf(base), history: hist, baseline,
  });
  const adoreHist = (): MetricsRecord[] => [...history(0.1, (i) => ({ mrr10: 0.3 + i * 0.01 })), { step: 80, 'dev/mrr@10': 0.31 }];
  const methods = [
    m('bm25', 'BM25', 0.2, null),
    m('inbatch', 'Inbatch-Neg', 0.3, 'bm25', history(3)),
    m('randneg', 'Rand-Neg', 0.28, 'inbatch', history(3.2)),
    m('bm25neg', 'BM25-Neg', 0.26, 'inbatch', history(3.1)),
    m('star', 'STAR', 0.33, 'inbatch', history(2)),
    m('adore-star', 'ADORE (STAR)', 0.35, 'star', adoreHist()),
    m('adore-randneg', 'ADORE (Rand-Neg)', 0.3, 'randneg', adoreHist()),
    m('adore-inbatch', 'ADORE (Inbatch-Neg)', 0.31, 'inbatch', adoreHist()),
    m('hybrid', 'Hybrid (ADORE+STAR, BM25)', 0.38, 'bm25'),
  ];
  const byName = new Map(methods.map((x) => [x.method, x]));
  const sig: DemoResult['significance'] = {};
  for (const x of methods) if (x.baseline !== null) sig[x.method] = significance(x.eval, byName.get(x.baseline)!.eval, byName.get(x.baseline)!.label);
  return {
    preset: PRESETS.quick,
    subset: { docs: 4000, trainQueries: 2000, devQueries: n, tuneQueries: 200, trainQrels: 2100, devQrels: 45 },
    methods,
    significance: sig,
    starInit: 'Inbatch-Neg',
    claims: seedClaims(byName),
    hybrid: { denseWeight: 0.35, tuneMrr10: 0.41, curve: Array.from({ length: 21 }, (_, i) => ({ alpha: i / 20, value: 0.41 - (i / 20 - 0.35) ** 2 })) },
    pretrain: { history: history(4.5, () => ({ contrastive: 1 })) },
    timings: [
      { name: 'data', seconds: 3.2, resumed: false },
      { name: 'pretrain', seconds: 20.5, resumed: true },
      { name: 'hybrid', seconds: 1.5, resumed: false },
    ],
    totalSeconds: 25.2,
    out: '/tmp/x',
  };
}

test('demo report: hybrid row in table and HTML, one loss chart per loss kind, LR/dev curves, tuning chart, metadata', async () => {
  const r = fakeDemoResult();
  // formatTable: the hybrid row prints like the others, against BM25.
  const row = formatTable(r).split('\n').find((l) => l.startsWith('| Hybrid (ADORE+STAR, BM25) |'));
  assert.ok(row, 'hybrid row in the table');
  const cells = row.split('|').map((c) => c.trim());
  for (const c of cells.slice(2, 5)) assert.match(c, /^[01]\.\d{3}$/);
  assert.equal(cells[5], 'BM25');
  assert.match(cells[6]!, /^[+-]\d\.\d{3} \[[-\d.]+, [-\d.]+\]$/);
  // formatClaims: one line per ordering, with the fixture's means; Rand-Neg vs Inbatch-Neg is not significant on
  // 60 noisy queries, the hybrid's +0.18 over BM25 is.
  const claims = formatClaims(r).split('\n');
  const mean = (m: string): string => r.methods.find((x) => x.method === m)!.eval.mean['mrr@10'].toFixed(3);
  assert.ok((claims.find((l) => l.startsWith('| Rand-Neg > Inbatch-Neg |')) ?? '').startsWith(`| Rand-Neg > Inbatch-Neg | no | ${mean('randneg')} vs ${mean('inbatch')} |`), claims.join('\n'));
  assert.ok((claims.find((l) => l.startsWith('| Hybrid (ADORE+STAR, BM25) > BM25 |')) ?? '').startsWith(`| Hybrid (ADORE+STAR, BM25) > BM25 | yes | ${mean('hybrid')} vs ${mean('bm25')} |`), claims.join('\n'));
  // The best-dense target compares trained models (rows with a model directory); this fixture has none.
  assert.ok(!claims.some((l) => l.startsWith('| best dense')), claims.join('\n'));
  assert.equal(claims.length, 2 + 4);

  const env: RunEnvironment = { ...(await collectEnvironment({ seed: 7, cwd: ROOT })), gitCommit: 'cafebabe'.repeat(5) };
  const data = reportData(r, env);
  const html = await renderReportHtml(data);
  assert.match(html, /<th scope="row">Hybrid \(ADORE\+STAR, BM25\)<\/th><td class="num">/);
  assert.match(html, /dense weight α = 0\.35 chosen on 200 held-out training queries/);
  assert.ok(!html.includes('…'), 'no truncated label');
  assert.doesNotMatch(html, /<script|<link|<img|url\(\s*['"]?https?:/i);

  const figs = figures(html);
  // Three loss kinds (pretraining contrastive, warmups/STAR listwise, ADORE's pairwise): three charts, each with its
  // own methods only.
  const kinds = [lossKindOf('pretrain', r), lossKindOf('star', r), lossKindOf('adore-star', r)];
  assert.equal(new Set(kinds).size, 3);
  const lossFigs = [...figs].filter(([id]) => id.startsWith('curve-loss-')).map(([, f]) => f);
  assert.equal(lossFigs.length, 3, 'one loss chart per loss kind');
  const expect: Array<[string, string[]]> = [
    [kinds[0]!, ['Pretraining (contrastive)']],
    [kinds[1]!, ['Inbatch-Neg', 'Rand-Neg', 'BM25-Neg', 'STAR']],
    [kinds[2]!, ['ADORE (STAR)', 'ADORE (Rand-Neg)', 'ADORE (Inbatch-Neg)']],
  ];
  const allLabels = new Set([...r.methods.map((x) => x.label), 'Pretraining (contrastive)']);
  for (const [kind, labels] of expect) {
    const f = lossFigs.find((x) => svgTexts(x).includes(kind));
    assert.ok(f, `loss chart for ${kind}`);
    assert.deepEqual(svgTexts(f).filter((t) => allLabels.has(t)).sort(), [...labels].sort(), `${kind}: its methods, full names`);
  }
  assert.ok(figs.has('curve-trainMrr'));
  assert.deepEqual(svgTexts(figs.get('curve-lr')!).filter((t) => allLabels.has(t)).length, 8, 'LR of every trained run, pretraining included');
  assert.ok(svgTexts(figs.get('curve-dev-0')!).includes('dev/mrr@10'));
  assert.ok(!figs.has('curve-dev-1'));
  // BM25 and the hybrid: reference rows in every CI chart.
  for (const i of [0, 1, 2]) {
    const t = svgTexts(figs.get(`ci-${i}`)!);
    assert.ok(t.includes('BM25') && t.includes('Hybrid (ADORE+STAR, BM25)'), `ci-${i}`);
  }
  assert.match(html, /Dashed: references \(BM25, Hybrid \(ADORE\+STAR, BM25\)\)/);
  // Tuning curve with the chosen alpha marked.
  const tune = svgTexts(figs.get('tuning-0')!);
  assert.ok(tune.includes('chosen 0.35 (0.410)'), tune.join(' | '));
  assert.ok(tune.includes('dense weight α (BM25: 1 − α)'));

  // Metadata: environment, every preset hyperparameter, stage times.
  const meta = /<section id="metadata">([\s\S]*?)<\/section>/.exec(html)?.[1];
  assert.ok(meta, 'metadata section');
  const rows = new Map([...meta.matchAll(/<tr><th scope="row">([^<]*)<\/th><td>([^<]*)<\/td><\/tr>/g)].map((x) => [x[1]!, x[2]!]));
  assert.equal(rows.get('seed'), '7');
  assert.equal(rows.get('git commit'), 'cafebabe'.repeat(5));
  assert.equal(rows.get('drhard version'), (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  assert.equal(rows.get('node'), process.version);
  assert.equal(rows.get('libtorch'), torchVersion());
  assert.ok(rows.has('faiss') && rows.has('CPU') && rows.has('libtorch threads'));
  assert.equal(rows.get('logical CPUs'), String(os.availableParallelism()));
  const params = flattenParams(PRESETS.quick);
  assert.ok(params.length > 25);
  for (const p of params) assert.equal(rows.get(p.key)?.replace(/&quot;/g, '"'), p.value, `hyperparameter ${p.key}`);
  assert.ok(params.some((p) => p.key === 'pretrain.cropQuery' && p.value === '[0.1,0.5]'));
  assert.equal(rows.get('pretrain'), '20.5 s (done earlier, reused)');
  assert.equal(rows.get('total (this invocation)'), '25.2 s');
  assert.equal(rows.get('dense weight α (chosen)'), '0.35');

  // Without an environment (e.g. a results.json re-rendered elsewhere) there is still the preset and the timings.
  const bare = await renderReportHtml(reportData({ ...r, pretrain: undefined }));
  assert.doesNotMatch(bare, /<th scope="row">seed</);
  assert.match(bare, /<th scope="row">warmup\.lr<\/th>/);
  assert.equal([...figures(bare).keys()].filter((id) => id.startsWith('curve-loss-')).length, 2, 'no pretraining history: no pretraining chart');
});

test('run environment: git commit only inside a checkout, faiss version from the headers', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-env-'));
  try {
    const outside = await collectEnvironment({ cwd: dir });
    assert.equal(outside.gitCommit, null, 'not a git checkout: no commit, no error');
    assert.equal(outside.seed, null);
    assert.equal(outside.node, process.version);
    assert.equal(outside.libtorch, torchVersion());
    const hasGit = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
    if (hasGit.status === 0) assert.match((await collectEnvironment({ cwd: ROOT })).gitCommit ?? '', new RegExp(`^${hasGit.stdout.trim()}( \\(uncommitted changes\\))?$`));

    fs.mkdirSync(path.join(dir, 'include', 'faiss'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'include', 'faiss', 'Index.h'), '#define FAISS_VERSION_MAJOR 1\n#define FAISS_VERSION_MINOR 8\n#define FAISS_VERSION_PATCH 0\n');
    assert.equal(faissHeaderVersion([path.join(dir, 'nope'), dir]), '1.8.0');
    assert.equal(faissHeaderVersion([path.join(dir, 'nope')]), null);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("demo summary: table, checks, timings, report and results paths, then the serve line when both models exist", () => {
  const r = fakeDemoResult();
  // The layout `drhard demo` printed before its stdout went through emitText, byte for byte.
  const head = `\n${formatTable(r)}\n\n${formatClaims(r)}\n\n${formatTimings(r)}\n\nreport: /tmp/x/report.html\nresults: /tmp/x/results.json\n`;
  assert.equal(formatSummary(r, '/tmp/x/report.html'), head, 'no models: no serve line');
  const withModels: DemoResult = {
    ...r,
    methods: r.methods.map((m) => (m.method === 'star' || m.method === 'adore-star' ? { ...m, modelDir: `/tmp/x/${m.method}/model`, corpusEmbeddings: `/tmp/x/${m.method}/corpus.f32` } : m)),
  };
  const serve = serveCommand(withModels);
  assert.ok(serve !== null && serve.startsWith('drhard serve '));
  assert.equal(formatSummary(withModels, '/tmp/x/report.html'), `${head}serve the models (search page and API at http://127.0.0.1:8080): ${serve}\n`);
});
