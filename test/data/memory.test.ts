// Bounded memory: readLineChunks + parseChunk stream a 96 MiB collection in a child process whose V8 heap is capped hard
// (--max-old-space-size), and whose reachable memory is read after forced full GCs, so the result does not depend on
// when V8 collects (RSS growth did: 27-56 MiB on the same code). Two controls that keep every chunk must fail the same
// checks, so the cap cannot silently become too generous to catch a leak.
//
// The cap: 32 MiB of old space. Streaming keeps ~11.4 MiB reachable after a full GC (tsx, the loaded modules and one
// 1 MiB chunk's records), so there is ~20 MiB of room for one chunk's short-lived garbage, nearly 3x headroom. Keeping
// the parsed records of the whole file needs > 96 MiB of strings (every text plus 610,000 ids) and cannot fit: V8
// aborts with "JavaScript heap out of memory". Raw chunk Buffers live outside the V8 heap, which the cap does not
// bound; for them the child reports the largest post-GC `arrayBuffers` (4-10 MiB when streaming: the chunk, the
// carried-over tail and the read stream's buffers), held to 32 MiB, a third of the file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const CHILD = path.join(import.meta.dirname, 'fixtures', 'memory-child.ts');
const HEAP_CAP_MIB = 32;
const BUFFERS_MAX_MIB = 32;
let dir = '';
let file = '';
let rows = 0;
let bytes = 0;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-mem-'));
  file = path.join(dir, 'collection.tsv');
  const fd = fs.openSync(file, 'w');
  const line = (i: number): string => `${i}\t${'lorem ipsum dolor sit amet consectetur '.repeat(4)}${i}\n`;
  let block = '';
  for (let i = 0; i < 5000; i++) block += line(i);
  const buf = Buffer.from(block);
  while (bytes < 96 << 20) {
    fs.writeFileSync(fd, buf);
    bytes += buf.length;
    rows += 5000;
  }
  fs.closeSync(fd);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

interface ChildReport {
  records: number;
  chunks: number;
  peakHeapMiB: number;
  peakBuffersMiB: number;
}

function stream(mode: 'stream' | 'keep-parsed' | 'keep-buffers'): { status: number | null; signal: NodeJS.Signals | null; report: ChildReport | null; stderr: string } {
  const r = spawnSync(process.execPath, [`--max-old-space-size=${HEAP_CAP_MIB}`, '--expose-gc', '--import', 'tsx', CHILD, file, mode], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  return { status: r.status, signal: r.signal, report: last.startsWith('{') ? (JSON.parse(last) as ChildReport) : null, stderr: r.stderr.slice(-2000) };
}

test(`readLineChunks + parseChunk stream a 96 MiB collection under a ${HEAP_CAP_MIB} MiB heap cap`, () => {
  const r = stream('stream');
  assert.equal(r.status, 0, `streaming did not fit the heap cap: ${r.signal ?? ''} ${r.stderr}`);
  assert.ok(r.report !== null);
  assert.equal(r.report.records, rows);
  assert.ok(r.report.chunks >= 90, `only ${r.report.chunks} chunks for ${bytes >> 20} MiB: the reader is not chunking`);
  assert.ok(r.report.peakBuffersMiB < BUFFERS_MAX_MIB, `${r.report.peakBuffersMiB.toFixed(1)} MiB of Buffers reachable after GC`);
});

test('controls: keeping every chunk\'s records dies at the heap cap; keeping the raw chunks exceeds the Buffer bound', () => {
  const parsed = stream('keep-parsed');
  assert.notEqual(parsed.status, 0, `keeping all parsed records fit in ${HEAP_CAP_MIB} MiB: the cap is too generous`);
  assert.match(parsed.stderr, /heap out of memory|Allocation failed/);
  const raw = stream('keep-buffers');
  assert.ok(raw.report !== null, raw.stderr);
  assert.ok(raw.report.peakBuffersMiB >= BUFFERS_MAX_MIB, `keeping all raw chunks stayed at ${raw.report.peakBuffersMiB.toFixed(1)} MiB`);
});
