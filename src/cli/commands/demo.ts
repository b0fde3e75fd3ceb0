// `drhard demo`: the whole DRhard pipeline on the shipped corpus; prints the results table, writes report.html.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { z } from 'zod';
import { defineCommand } from '../command.ts';
import { emitText } from '../result.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const options = z.object({
  outDir: z.string().default('runs/demo').describe('output directory (re-running resumes finished stages)'),
  quick: z.boolean().default(false).describe('smoke preset: tiny subset and model, ≤ 3 minutes (not for conclusions)'),
  data: z.string().default(path.resolve(here, '../../../data/demo')).describe('directory of the shipped demo corpus'),
  seed: z.coerce.number().int().default(42).describe('seed for the subset, initialization, data order and sampling'),
  progress: z.boolean().default(true).describe('progress bars on stderr'),
});

export function register(program: Command): void {
  defineCommand(program, {
    name: 'demo',
    description: 'run warmups → mine → STAR → ADORE on the bundled Debian-descriptions corpus; print the table, write report.html',
    schema: options,
    placeholders: { outDir: 'dir', data: 'dir' },
    aliases: { out: 'outDir' },
    run: async (o) => {
      const { runDemo } = await import('../../demo/pipeline.ts');
      const { collectEnvironment, formatSummary, reportData } = await import('../../demo/report.ts');
      const { renderReport } = await import('../../report/index.ts');
      const res = await runDemo({ out: o.outDir, quick: o.quick, source: o.data, seed: o.seed, progress: o.progress && process.stderr.isTTY === true });
      const reportPath = path.join(res.out, 'report.html');
      await renderReport(reportData(res, await collectEnvironment({ seed: o.seed })), reportPath);
      await emitText(formatSummary(res, reportPath));
    },
  });
}
