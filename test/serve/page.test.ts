// The search page of `drhard serve` in headless Chromium (puppeteer-core, /usr/bin/chromium; skipped, saying so, when
// it is missing): type a query, both columns show results with query terms highlighted and a latency, and the page
// logs no console errors (a CSP violation would be one).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { makeServeFixture, serveInProcess } from './helpers.ts';

// The page's document, for the callbacks puppeteer runs in the browser (this project compiles without the DOM lib).
interface El { textContent: string | null; querySelector(s: string): El | null; querySelectorAll(s: string): El[] & { length: number } }
declare const document: El;

const CHROMIUM = process.env['DRHARD_CHROMIUM'] ?? '/usr/bin/chromium';

test('search page: a query shows results in both columns, terms highlighted, no console errors', async (t) => {
  if (!fs.existsSync(CHROMIUM)) {
    t.skip(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set DRHARD_CHROMIUM)`);
    return;
  }
  const puppeteer = (await import('puppeteer-core')).default;
  const f = await makeServeFixture();
  const s = await serveInProcess(f);
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  after(async () => {
    await browser.close();
    await s.close();
  });
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warn') problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${String(e)}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  await page.goto(`${s.server.url}/`, { waitUntil: 'networkidle0' });
  // The columns list what the server offers; the right one defaults to the hybrid.
  await page.waitForFunction(() => document.querySelectorAll('.col select option').length === 10);
  const picked = await page.$$eval('.col select', (els) => els.map((e) => (e as unknown as { value: string }).value));
  assert.deepEqual(picked, ['a', 'hybrid:a']);
  await page.type('#q', 'faiss vector index');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => Array.from(document.querySelectorAll('.col')).every((c) => c.querySelectorAll('.hits li').length > 0 && /ms/.test(c.querySelector('.took')?.textContent ?? '')));
  const cols = await page.$$eval('.col', (els) =>
    els.map((c) => ({
      hits: c.querySelectorAll('.hits li').length,
      marks: Array.from(c.querySelectorAll('mark')).map((m) => (m as El).textContent?.toLowerCase()),
      took: c.querySelector('.took')?.textContent ?? '',
    })),
  );
  for (const c of cols) {
    assert.equal(c.hits, 10);
    assert.match(c.took, /\d+(\.\d+)? ms \(server \d+(\.\d+)? ms\)/);
    assert.ok(c.marks.length > 0, 'query terms highlighted');
    assert.ok(c.marks.every((m) => m === 'faiss' || m === 'vector' || m === 'index'), c.marks.join(','));
  }
  // Switch the right column to BM25: it searches again, every hit shares a highlighted term.
  await page.select('.col[data-col="1"] select', 'bm25');
  await page.waitForFunction(() => (document.querySelector('.col[data-col="1"] .took')?.textContent ?? '').startsWith('BM25'));
  const bm25 = await page.$$eval('.col[data-col="1"] .hits li', (els) => els.map((li) => li.querySelectorAll('mark').length));
  assert.ok(bm25.length > 0 && bm25.every((n) => n > 0), `every BM25 hit has a highlighted term: ${bm25.join(',')}`);
  assert.equal(await page.$eval('#status', (e) => e.textContent), '');
  assert.deepEqual(problems, []);
});
