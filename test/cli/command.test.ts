// Every command's flags come from its zod schema through src/cli/command.ts: defaults shown once, `--no-x` help that
// reads naturally, plain-English missing-option errors, one-line errors, one flag name per concept, and old names
// kept as hidden aliases that warn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { defineCommand } from '../../src/cli/command.ts';
import { DrhardUsageError } from '../../src/util/errors.ts';

const ROOT = path.join(import.meta.dirname, '..', '..');
const MAIN = path.join(ROOT, 'src', 'cli', 'main.ts');
const FX = path.join(ROOT, 'test', 'fixtures', 'eval');

function drhard(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { encoding: 'utf8', env: { ...process.env, DRHARD_LOG_LEVEL: 'silent' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const toy = z.object({
  data: z.string().describe('dataset directory'),
  batchSize: z.coerce.number().int().positive().default(64).describe('sequences per step (default 64)'),
  topk: z.coerce.number().int().positive().default(100).describe('documents per query'),
  progress: z.boolean().default(true).describe('show a progress bar on stderr'),
  input: z.array(z.string()).optional().describe('input files'),
  format: z.enum(['trec', 'msmarco']).default('trec').describe('run format'),
});

/** A program with the toy command; returns its parsed options (or the error) and what it wrote to stderr. */
async function runToy(args: string[]): Promise<{ o?: z.output<typeof toy>; error?: unknown; stderr: string; help: string }> {
  const program = new Command('t').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  let got: z.output<typeof toy> | undefined;
  const cmd = defineCommand(program, {
    name: 'toy',
    description: 'a toy',
    schema: toy,
    placeholders: { data: 'dir', input: 'file' },
    aliases: { dataset: 'data', k: 'topk' },
    run: async (o) => {
      got = o;
    },
  });
  let stderr = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => ((stderr += chunk), true)) as typeof process.stderr.write;
  try {
    await program.parseAsync(['toy', ...args], { from: 'user' });
    return { o: got!, stderr, help: cmd.helpInformation() };
  } catch (error) {
    return { error, stderr, help: cmd.helpInformation() };
  } finally {
    process.stderr.write = write;
  }
}

test('defineCommand: schema defaults fill in, numbers parse, arrays repeat, --no-x turns a switch off', async () => {
  const a = await runToy(['--data', 'd']);
  assert.deepEqual(a.o, { data: 'd', batchSize: 64, topk: 100, progress: true, format: 'trec' });
  const b = await runToy(['--data', 'd', '--batch-size', '8', '--no-progress', '--input', 'x', 'y', '--input', 'z', '--format', 'msmarco']);
  assert.deepEqual(b.o, { data: 'd', batchSize: 8, topk: 100, progress: false, input: ['x', 'y', 'z'], format: 'msmarco' });
  const c = await runToy(['--data', 'd', '--progress']);
  assert.equal(c.o?.progress, true);
});

test('defineCommand help: each default once, natural --no-x help, required marked, choices listed once', async () => {
  const { help } = await runToy(['--help']);
  assert.match(help, /--batch-size <n> +sequences per step \(default 64\)\n/);
  assert.doesNotMatch(help, /\(default 64\) \(default/);
  assert.match(help, /--topk <n> +documents per query \(default: 100\)\n/);
  assert.match(help, /--progress +show a progress bar on stderr \(default: on\)\n/);
  assert.match(help, /--no-progress +turn --progress off\n/);
  assert.doesNotMatch(help, /turn off:/);
  assert.match(help, /--data <dir> +dataset directory \(required\)\n/);
  assert.match(help, /--format <value> +run format \(one of: trec, msmarco\) \(default: trec\)\n/);
  assert.doesNotMatch(help, /choices:/);
  assert.doesNotMatch(help, /--dataset|--k\b/, 'aliases are hidden');
});

test('defineCommand errors: a missing option is named in plain words; a bad value names the flag and the value', async () => {
  const a = await runToy([]);
  assert.ok(a.error instanceof DrhardUsageError);
  assert.equal(a.error.message, 'missing required option --data <dir>');
  const b = await runToy(['--data', 'd', '--topk', '0']);
  assert.ok(b.error instanceof DrhardUsageError);
  assert.match(b.error.message, /^--topk: .*\(got 0\)$/);
  const c = await runToy(['--data', 'd', '--format', 'csv']);
  assert.match((c.error as Error).message, /^--format: expected one of "trec"\|"msmarco" \(got "csv"\)$/);
  const d = await runToy(['--data', 'd', '--batch-size', 'many']);
  assert.match((d.error as Error).message, /^--batch-size: expected number, received NaN \(got "many"\)$/);
});

test('defineCommand aliases: the old name works with a deprecation warning; old and new together is an error', async () => {
  const a = await runToy(['--dataset', 'd', '--k', '5']);
  assert.equal(a.error, undefined);
  assert.equal(a.o?.data, 'd');
  assert.equal(a.o?.topk, 5);
  assert.match(a.stderr, /--dataset is deprecated .*use --data/);
  assert.match(a.stderr, /--k is deprecated .*use --topk/);
  const b = await runToy(['--dataset', 'd', '--data', 'e']);
  assert.match((b.error as Error).message, /give --data or its old name --dataset, not both/);
});

/** `drhard --help` → command paths, with `tokenizer train` for the nested one. */
function commands(): string[][] {
  const help = drhard(['--help']).out;
  const names = [...help.split('Commands:')[1]!.matchAll(/^ {2}([a-z][a-z0-9-]*)/gm)].map((m) => m[1]!).filter((n) => n !== 'help');
  assert.ok(names.length >= 15, help);
  return names.map((n) => (n === 'tokenizer' ? ['tokenizer', 'train'] : [n]));
}

/** Help's option entries: each begins with "  -" and runs to the next one (wrapped description lines included). */
function entries(help: string): string[] {
  const opts = help.split(/\nOptions:\n/)[1] ?? '';
  return opts.split(/\n(?= {2}-)/).map((e) => e.replace(/\s+/g, ' ').trim());
}

const DEPRECATED = ['--dataset', '--output', '--k', '--corpus', '--queries', '--embeddings', '--ids-file'];

test('every command: defaults printed once, no "turn off:", each --no-x beside its --x, no deprecated flag names', () => {
  for (const cmd of commands()) {
    const r = drhard([...cmd, '--help']);
    assert.equal(r.code, 0, r.err);
    const name = cmd.join(' ');
    assert.doesNotMatch(r.out, /turn off:/, name);
    for (const e of entries(r.out)) {
      assert.doesNotMatch(e, /\(default:? ([^)]*)\).*\(default: \1\)/, `${name}: default shown twice`);
      const flag = /^(--[a-z0-9-]+)/.exec(e)?.[1];
      if (flag !== undefined) assert.ok(!DEPRECATED.includes(flag), `${name}: deprecated name ${flag} in help`);
      const neg = /^--no-([a-z0-9-]+)/.exec(e)?.[1];
      if (neg !== undefined) assert.match(r.out, new RegExp(`\\n {2}--${neg}\\b`), `${name}: --no-${neg} without --${neg}`);
    }
  }
});

test('a missing required option is one plain line naming the flag, exit 2 (no zod wording, no help dump)', () => {
  const a = drhard(['evaluate']);
  assert.equal(a.code, 2);
  assert.equal(a.err, 'drhard: missing required option --run <file>\n');
  const b = drhard(['bm25']);
  assert.equal(b.code, 2);
  assert.equal(b.err, 'drhard: missing required option --data <dir>\n');
  const c = drhard(['train', '--method', 'star']);
  assert.equal(c.code, 2);
  assert.match(c.err, /^drhard: missing required option --data <dir>; missing required option --out-dir <dir>; .*--negatives[^\n]*\n$/);
  assert.doesNotMatch(a.err + b.err + c.err, /Invalid input|received undefined/);
});

test('commander errors (unknown option, bad choice) are one line, exit 2', () => {
  const a = drhard(['evaluate', '--rnu', 'x']);
  assert.equal(a.code, 2);
  assert.equal(a.err, "drhard: error: unknown option '--rnu' (Did you mean --run?)\n");
  const b = drhard(['nonsense']);
  assert.equal(b.code, 2);
  assert.equal(b.err.split('\n').length, 2, b.err);
});

test('an old flag name still works for one release: evaluate --output writes the report and warns', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-alias-'));
  try {
    const out = path.join(dir, 'metrics.json');
    const r = drhard(['evaluate', '--qrels', path.join(FX, 'marco.qrels.tsv'), '--run', path.join(FX, 'marco.run.trec'), '--format', 'json', '--output', out]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /^drhard: warning: --output is deprecated and will be removed in the next release; use --out$/m);
    assert.ok((JSON.parse(fs.readFileSync(out, 'utf8')) as { queries: number }).queries > 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
