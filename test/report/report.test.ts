// The HTML report: validated input, escaped text, inline SVG charts, no external loads; checked in headless Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { renderReport, renderReportHtml, winTieLoss, type ReportData } from '../../src/report/index.ts';
import { exampleReportData } from '../../src/report/example.ts';
import { DrhardInputError } from '../../src/util/errors.ts';

const CHART_COUNT = 7; // loss, train MRR, 3 CI charts, win/tie/loss, sorted deltas

function count(hay: string, needle: RegExp): number {
  return (hay.match(needle) ?? []).length;
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
  assert.match(html, /<strong>0\.347<\/strong> <span class="p sig" title="vs BM25">p&lt;0\.001 \*<\/span>/);
  assert.match(html, /<th scope="row">BM25 <span class="tag">baseline<\/span><\/th><td class="num">0\.187<\/td>/);
  assert.match(html, /<th scope="row">diverged run<\/th><td class="num">—<\/td><td class="num">—<\/td><td class="num">—<\/td>/);
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
