// `drhard train`: STAR-style training (inbatch, randneg, bm25neg, star) and ADORE, resumable; flags come from the one
// zod schema in src/train/options.ts, so the CLI and trainDualEncoder take the same options with the same help.
import * as fs from 'node:fs';
import { Option, type Command } from 'commander';
import { z } from 'zod';
import { DrhardInputError, DrhardUsageError } from '../../util/errors.ts';
import { resolveTrainOptions, trainOptionsSchema, type TrainOptions } from '../../train/options.ts';
import { kebab, unwrapSchema as unwrap } from '../options.ts';


const PLACEHOLDER: Record<string, string> = {
  data: 'dir',
  outDir: 'dir',
  logDir: 'dir',
  init: 'dir',
  initConfig: 'file|json',
  negatives: 'file',
  docEmbeddings: 'file',
  index: 'factory',
  method: 'method',
  trainSplit: 'split',
  evalSplit: 'split',
  device: 'device',
  optimizer: 'name',
  onNonfinite: 'policy',
};

/** One commander option per schema field: booleans as switches (--no-x when on by default), numbers parsed. */
function optionFor(key: string, field: z.ZodType): Option {
  const { inner, def } = unwrap(field);
  const flag = kebab(key);
  const help = field.description ?? '';
  if (inner instanceof z.ZodBoolean) {
    return def === true ? new Option(`--no-${flag}`, `turn off: ${help}`) : new Option(`--${flag}`, help);
  }
  if (inner instanceof z.ZodUnion && key === 'resume') return new Option(`--${flag} [checkpoint]`, help);
  if (inner instanceof z.ZodTuple) {
    const o = new Option(`--${flag} <min,max>`, help).argParser((v: string) => v.split(',').map((x) => (x.trim() === '' ? Number.NaN : Number(x))));
    if (def !== undefined) o.default(def, (def as number[]).join(','));
    return o;
  }
  const o = new Option(`--${flag} <${inner instanceof z.ZodNumber ? 'n' : (PLACEHOLDER[key] ?? 'value')}>`, help);
  if (inner instanceof z.ZodEnum) o.choices(inner.options.map(String));
  if (inner instanceof z.ZodNumber) o.argParser((v: string) => (v.trim() === '' ? Number.NaN : Number(v)));
  if (def !== undefined) o.default(def);
  return o;
}

/** Options from a --config JSON file, overridden by flags given on the command line. */
function mergeConfig(cmd: Command, flags: Record<string, unknown>, fixed: Record<string, unknown> = {}): Record<string, unknown> {
  const file = flags['config'];
  const out: Record<string, unknown> = {};
  if (typeof file === 'string') {
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new DrhardInputError(`cannot read training options (${(e as Error).message})`, { file });
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new DrhardInputError('expected a JSON object of training options', { file });
    Object.assign(out, json);
  }
  for (const key of Object.keys(trainOptionsSchema.shape)) {
    const v = flags[key];
    if (v === undefined) continue;
    // Defaults shown in --help must not override a value the config file sets.
    if (cmd.getOptionValueSource(key) === 'default' && key in out) continue;
    out[key] = v;
  }
  return { ...out, ...fixed };
}

function summary(r: { modelDir: string | null; checkpointDir: string | null; step: number; totalSteps: number; stopped: string | null; nonfiniteSkipped: number; history: Array<Record<string, number>> }): Record<string, unknown> {
  const lastTrain = [...r.history].reverse().find((h) => h['loss'] !== undefined);
  const lastDev = [...r.history].reverse().find((h) => Object.keys(h).some((k) => k.startsWith('dev/')));
  return { modelDir: r.modelDir, checkpointDir: r.checkpointDir, step: r.step, totalSteps: r.totalSteps, stopped: r.stopped, nonfiniteSkipped: r.nonfiniteSkipped, lastTrain, lastDev };
}

async function run(o: TrainOptions): Promise<void> {
  // libtorch loads with these modules: only when the command runs, so `drhard --help` stays fast.
  const { trainDualEncoder, NonFiniteError } = await import('../../train/index.ts');
  const { StopSignal } = await import('../../util/signals.ts');
  using stop = new StopSignal();
  // Launched by drhard launch / torchrun: a process group from the environment (src/dist/).
  const { ProcessGroup } = await import('../../dist/group.ts');
  const pg = ProcessGroup.fromEnv();
  try {
    const r = await trainDualEncoder(o, { stop, ...(pg ? { dist: { pg, crossRankNegatives: o.negativesXDevice ?? false } } : {}) });
    pg?.destroy();
    process.stdout.write(`${JSON.stringify(summary(r))}\n`);
    process.exitCode = r.exitCode;
  } catch (e) {
    // After a failure a peer may be stuck: leave the group without waiting for it.
    pg?.destroy({ destroy: false });
    if (e instanceof Error && e.name === 'DistError') {
      process.stderr.write(`drhard: error: ${e.message}\n`);
      process.exitCode = 1;
      return;
    }
    if (!(e instanceof NonFiniteError)) throw e;
    process.stderr.write(`drhard: error: ${e.message}\n`);
    process.exitCode = 1;
  }
}

/** Adds the schema's options (all, or those `keep` accepts) and the action that runs trainDualEncoder. */
export function addTrainOptions(cmd: Command, keep: (key: string) => boolean = () => true, fixed: Record<string, unknown> = {}): void {
  cmd.option('--config <file>', 'JSON file of training options (library names, e.g. {"batchSize": 64}); flags override it');
  for (const [key, field] of Object.entries(trainOptionsSchema.shape)) if (keep(key)) cmd.addOption(optionFor(key, field as z.ZodType));
  cmd.action(async (flags: Record<string, unknown>, self: Command) => {
    const input = mergeConfig(self, flags, fixed);
    let o: TrainOptions;
    try {
      o = resolveTrainOptions(input);
    } catch (e) {
      if (e instanceof DrhardInputError) throw new DrhardUsageError(e.message.replace(/\b([a-z][A-Za-z0-9]*):/g, (m, k: string) => (k in trainOptionsSchema.shape ? `--${kebab(k)}:` : m)));
      throw e;
    }
    await run(o);
  });
}

export function register(program: Command): void {
  const cmd = program
    .command('train')
    .description(
      "Train a dual encoder with DRhard's semantics: --method inbatch|randneg|bm25neg|star (both towers, in-batch + sampled negatives) " +
        'or adore (query encoder against fixed --doc-embeddings). Prints a JSON summary on stdout; exits 130/143 after a graceful stop.',
    );
  addTrainOptions(cmd);
}
