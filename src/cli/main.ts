#!/usr/bin/env node
// drhard command-line entry: builds the commander program from one module per command.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { DrhardInputError, DrhardUsageError, fsError, isSystemError } from '../util/errors.ts';

/** The version in package.json (the one npm installs), printed by `drhard --version`. */
export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const program = new Command('drhard')
  .description('Train, run and evaluate dense retrievers with hard negatives (STAR, ADORE)')
  .version(VERSION, '-V, --version', 'print the drhard version and exit')
  .option('--log-format <format>', 'log lines on stderr: text (human-readable), json (one object per line), or auto: text on a terminal, else json (default: auto, or DRHARD_LOG_FORMAT)')
  // Every error is one line: commander's own ("unknown option", "(Did you mean --data?)") included, no help dump.
  .configureOutput({ outputError: (str, write) => write(`drhard: ${str.trim().replace(/\s*\n\s*/g, ' ')}\n`) })
  .exitOverride()
  .hook('preSubcommand', async (self) => {
    const f = self.opts()['logFormat'] as string | undefined;
    if (f === undefined) return;
    const { setLogFormat, parseLogFormat } = await import('../util/log.ts');
    const fmt = parseLogFormat(f);
    if (fmt === null) throw new DrhardUsageError(`--log-format: expected text, json or auto, got ${JSON.stringify(f)}`);
    setLogFormat(fmt);
  });

// Each command module exports `register(program: Command): void`. Add one line per command.
const commandModules: Array<() => Promise<{ register: (p: Command) => void }>> = [
  // COMMANDS (keep one per line)
  () => import('./commands/encode.ts'),
  () => import('./commands/search.ts'),
  () => import('./commands/mine.ts'),
  () => import('./commands/bm25.ts'),
  () => import('./commands/evaluate.ts'),
  () => import('./commands/compare.ts'),
  () => import('./commands/fuse.ts'),
  () => import('./commands/preprocess.ts'),
  () => import('./commands/convert-ids.ts'),
  () => import('./commands/build-demo-data.ts'),
  () => import('./commands/embed.ts'),
  () => import('./commands/train.ts'),
  () => import('./commands/pretrain.ts'),
  () => import('./commands/demo.ts'),
  () => import('./commands/tokenizer.ts'),
  () => import('./commands/init-model.ts'),
  () => import('./commands/export.ts'),
  () => import('./commands/serve.ts'),
  () => import('./commands/launch.ts'),
];

/** Error messages that span lines (lists of problems) become one line. */
const oneLine = (m: string): string => m.trim().replace(/\s*\n\s*/g, '; ');

async function main(): Promise<void> {
  for (const load of commandModules) (await load()).register(program);
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    // Launched by torchrun: its failure summary shows this error (src/dist/torchelastic.ts).
    if (process.env['TORCHELASTIC_ERROR_FILE']) (await import('../dist/torchelastic.ts')).recordTorchelasticError(e);
    if (e instanceof DrhardUsageError) {
      process.stderr.write(`drhard: ${oneLine(e.message)}\n`);
      process.exitCode = 2;
      return;
    }
    if (e instanceof DrhardInputError) {
      process.stderr.write(`drhard: error: ${oneLine(e.message)}\n`);
      process.exitCode = 1;
      return;
    }
    // A file-system error no writer wrapped (disk full, permissions): one line with the path and the call, no stack.
    if (isSystemError(e)) {
      const where = e.path ?? (e as { dest?: string }).dest ?? '(unknown path)';
      process.stderr.write(`drhard: error: ${fsError(e.syscall, where, e).message}\n`);
      process.exitCode = 1;
      return;
    }
    // A bug, not bad input: one line, and the stack when asked for.
    const stack = process.env['DRHARD_DEBUG'] === '1' && e instanceof Error ? `\n${e.stack ?? ''}` : ' (DRHARD_DEBUG=1 shows the stack)';
    process.stderr.write(`drhard: internal error: ${oneLine(e instanceof Error ? e.message : String(e))}${stack}\n`);
    process.exitCode = 1;
  }
}

await main();
