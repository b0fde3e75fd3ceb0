// Bounded memory: reading + parsing a collection much larger than the chunk buffers keeps RSS growth far below its size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseChunk, readLineChunks } from '../../src/data/index.ts';

test('readLineChunks + parseChunk stream a 96 MB collection with < 48 MB RSS growth', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-mem-'));
  try {
    const file = path.join(dir, 'collection.tsv');
    const fd = fs.openSync(file, 'w');
    const line = (i: number): string => `${i}\t${'lorem ipsum dolor sit amet consectetur '.repeat(4)}${i}\n`;
    let block = '';
    for (let i = 0; i < 5000; i++) block += line(i);
    const target = 96 << 20;
    let written = 0;
    let rows = 0;
    while (written < target) {
      fs.writeSync(fd, block);
      written += block.length;
      rows += 5000;
    }
    fs.closeSync(fd);
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    let records = 0;
    const opts = { kind: 'msmarco-passage' as const, file, idType: 'string' as const, maxChars: 0, titleSep: '', skipInvalid: false };
    const gen = readLineChunks(file, 1 << 20);
    for (let r = await gen.next(); r.done !== true; r = await gen.next()) {
      records += parseChunk(r.value.buf, r.value.firstLine, opts).ids.length;
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    assert.equal(records, rows);
    const growth = (peak - rss0) / (1 << 20);
    assert.ok(growth < 48, `RSS grew by ${growth.toFixed(1)} MiB while streaming ${written >> 20} MiB`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
