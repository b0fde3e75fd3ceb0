// Regenerates data/demo (the shipped demo dataset) from apt's English package descriptions; prints the counts.
// Run: apt-get update -o Acquire::Languages=en && node --import tsx scripts/build-demo-data.ts [outDir]
import * as path from 'node:path';
import { buildDemoData } from '../src/data/demo.ts';

const out = process.argv[2] ?? path.join(import.meta.dirname, '..', 'data', 'demo');
const stats = await buildDemoData({ out });
process.stdout.write(`${JSON.stringify(stats, null, 2)}\n`);
