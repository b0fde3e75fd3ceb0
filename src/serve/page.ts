// The search page of `drhard serve`: HTML, CSS and script as strings served by the same process (no external assets,
// nothing inline, so the Content-Security-Policy can forbid everything but same-origin script, style and fetch).

export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>drhard search</title>
<link rel="stylesheet" href="/app.css">
</head>
<body>
<header>
<h1>drhard search</h1>
<p id="about"></p>
</header>
<form id="form">
<input id="q" type="search" name="q" placeholder="Type a query" autocomplete="off" autofocus maxlength="2000" required>
<label>k <input id="k" type="number" min="1" max="100" value="10"></label>
<button type="submit">Search</button>
</form>
<div id="auth" hidden><label>Bearer token <input id="token" type="password" autocomplete="off"></label></div>
<p id="status" role="status"></p>
<main>
<section class="col" data-col="0"><select aria-label="left retriever"></select><p class="took"></p><ol class="hits"></ol></section>
<section class="col" data-col="1"><select aria-label="right retriever"></select><p class="took"></p><ol class="hits"></ol></section>
</main>
<script src="/app.js" type="module"></script>
</body>
</html>
`;

export const PAGE_CSS = `
:root { color-scheme: light dark; --fg: #1b1f24; --muted: #5b6470; --bg: #fff; --line: #d6dae0; --mark: #ffe58a; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8eb; --muted: #9aa3ad; --bg: #15181c; --line: #343a42; --mark: #6b5a12; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1200px; padding: 1rem 1.5rem; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 1.3rem; margin: 0; }
#about, .took, .meta { color: var(--muted); font-size: 0.85rem; }
form { display: flex; gap: 0.5rem; align-items: center; margin: 1rem 0 0.5rem; }
#q { flex: 1; font-size: 1rem; padding: 0.45rem 0.6rem; border: 1px solid var(--line); border-radius: 4px; background: var(--bg); color: var(--fg); }
#k { width: 4.5rem; }
button { padding: 0.45rem 1rem; }
main { display: grid; grid-template-columns: 1fr 1fr; gap: 1.5rem; }
@media (max-width: 800px) { main { grid-template-columns: 1fr; } }
.col select { font-size: 0.95rem; padding: 0.2rem; }
.hits { padding-left: 1.6rem; }
.hits li { margin: 0 0 0.8rem; border-bottom: 1px solid var(--line); padding-bottom: 0.5rem; }
.hits .text { margin: 0.15rem 0 0; word-break: break-word; }
mark { background: var(--mark); color: inherit; padding: 0 1px; }
#status.error { color: #c0392b; }
`;

export const PAGE_JS = `
const $ = (s, el = document) => el.querySelector(s);
const cols = [...document.querySelectorAll('.col')];
const status = $('#status');
let info = null;

function headers() {
  const h = { 'content-type': 'application/json' };
  const t = sessionStorage.getItem('drhard-token');
  if (t) h.authorization = 'Bearer ' + t;
  return h;
}

function setStatus(msg, error = false) {
  status.textContent = msg;
  status.classList.toggle('error', error);
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// The query's words, for highlighting (letters and digits, case-insensitive).
function terms(q) {
  const seen = new Set();
  for (const m of q.toLowerCase().matchAll(/[\\p{L}\\p{N}]+/gu)) if (m[0].length > 1 || /\\p{N}/u.test(m[0])) seen.add(m[0]);
  return [...seen].sort((a, b) => b.length - a.length);
}

// Text with query words wrapped in <mark>, built from text nodes only (never HTML).
function highlighted(text, words) {
  const p = el('p', 'text');
  if (words.length === 0) { p.textContent = text; return p; }
  const esc = words.map((w) => w.replace(/[.*+?^\${}()|[\\]\\\\]/g, '\\\\$&'));
  const re = new RegExp('(?<![\\\\p{L}\\\\p{N}])(' + esc.join('|') + ')(?![\\\\p{L}\\\\p{N}])', 'giu');
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) p.append(document.createTextNode(text.slice(last, m.index)));
    p.append(el('mark', '', m[0]));
    last = m.index + m[0].length;
  }
  if (last < text.length) p.append(document.createTextNode(text.slice(last)));
  return p;
}

function label(r) {
  if (r.mode === 'dense') return 'dense: ' + r.model;
  if (r.mode === 'bm25') return 'BM25';
  return 'hybrid: ' + r.model + ' + BM25';
}

async function loadInfo() {
  const res = await fetch('/v1/info');
  info = await res.json();
  $('#about').textContent = info.documents + ' documents · models: ' + (info.models.join(', ') || 'none') + (info.bm25 ? ' · BM25' : '');
  $('#auth').hidden = !info.auth;
  $('#k').max = String(info.maxK);
  cols.forEach((c, i) => {
    const sel = $('select', c);
    for (const r of info.retrievers) sel.append(new Option(label(r), r.id));
    const pick = i === 0 ? info.retrievers[0] : (info.retrievers.find((r) => r.mode === 'hybrid') ?? info.retrievers[1] ?? info.retrievers[0]);
    if (pick) sel.value = pick.id;
  });
}

async function searchCol(c, q, k) {
  const id = $('select', c).value;
  const r = info.retrievers.find((x) => x.id === id);
  const list = $('.hits', c);
  const took = $('.took', c);
  list.replaceChildren();
  took.textContent = 'searching…';
  const body = { query: q, k, mode: r.mode, text: true };
  if (r.model) body.model = r.model;
  const t0 = performance.now();
  const res = await fetch('/v1/search', { method: 'POST', headers: headers(), body: JSON.stringify(body) });
  const ms = performance.now() - t0;
  const data = await res.json();
  if (!res.ok) {
    took.textContent = '';
    if (res.status === 401) $('#auth').hidden = false;
    throw new Error(data.error ? data.error.message : 'HTTP ' + res.status);
  }
  const a = data.results[0];
  took.textContent = label(r) + ' · ' + a.hits.length + ' hits · ' + ms.toFixed(1) + ' ms (server ' + data.tookMs.toFixed(1) + ' ms)' + (a.truncated ? ' · query truncated to ' + data.maxQueryLength + ' tokens' : '');
  const words = terms(q);
  for (const h of a.hits) {
    const li = el('li');
    li.append(el('div', 'meta', h.id + ' · ' + h.score.toFixed(4)));
    li.append(highlighted(h.text ?? '', words));
    list.append(li);
  }
}

async function search() {
  const q = $('#q').value.trim();
  if (!q) return;
  const k = Math.max(1, Math.min(Number($('#k').value) || 10, info.maxK));
  const t = $('#token').value;
  if (t) sessionStorage.setItem('drhard-token', t);
  setStatus('');
  const results = await Promise.allSettled(cols.map((c) => searchCol(c, q, k)));
  const failed = results.filter((r) => r.status === 'rejected');
  if (failed.length > 0) setStatus(failed[0].reason.message, true);
}

$('#form').addEventListener('submit', (e) => { e.preventDefault(); search(); });
for (const c of cols) $('select', c).addEventListener('change', () => { if ($('#q').value.trim()) search(); });
loadInfo().catch((e) => setStatus('cannot reach the server: ' + e.message, true));
`;
