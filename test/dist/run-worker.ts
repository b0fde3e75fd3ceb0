// Child process for test/dist/run.test.ts: one rank of runDistributed writing `out` through output(), then reporting
// (after the run ended) where it wrote and whether that file is still there. argv: <out> [fail]
import * as fs from 'node:fs';
import { runDistributed } from '../../src/dist/run.ts';

const [out, fail] = process.argv.slice(2) as [string, string?];
let wrote = '';
let lead = false;
let error: string | null = null;
try {
  await runDistributed(
    async (d) => {
      lead = d.lead;
      wrote = d.output(out, 'test') as string;
      fs.writeFileSync(wrote, `rank ${d.pg?.rank}\n`);
      if (fail === 'fail') throw new Error('boom');
    },
    { name: 'test' },
  );
} catch (e) {
  error = (e as Error).message;
}
process.stdout.write(`${JSON.stringify({ lead, wrote, exists: fs.existsSync(wrote), error })}\n`);
