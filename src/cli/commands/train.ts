// `drhard train`: STAR-style training (inbatch, randneg, bm25neg, star) and ADORE, resumable; flags come from the one
// zod schema in src/train/options.ts, so the CLI and trainDualEncoder take the same options with the same help.
import * as fs from 'node:fs';
import type { Command } from 'commander';
import type { z } from 'zod';
import { DrhardInputError, DrhardUsageError } from '../../util/errors.ts';
import { resolveTrainOptions, trainOptionsSchema, type TrainOptions } from '../../train/options.ts';
import { defineCommand, kebab, usageMessage } from '../command.ts';
import { emitResult } from '../result.ts';

export const PLACEHOLDERS: Record<string, string> = {
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
  resume: 'checkpoint',
};

/** Options from a --config JSON file, overridden by flags given on the command line. */
function mergeConfig(flags: Record<string, unknown>, fixed: Record<string, unknown> = {}): Record<string, unknown> {
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
    // Flags carry no defaults (the schema fills them), so a given flag always wins over the file.
    if (v !== undefined) out[key] = v;
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
    await emitResult(summary(r));
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

/**
 * Defines `name` over the training schema (all of its options, or the `schema` subset), with --config and the
 * action that runs trainDualEncoder; `fixed` options are set whatever the flags say (pretrain: method).
 */
export function defineTrainCommand(program: Command, name: string, description: string, schema: z.ZodObject = trainOptionsSchema, fixed: Record<string, unknown> = {}): Command {
  return defineCommand(program, {
    name,
    description,
    schema,
    placeholders: PLACEHOLDERS,
    extra: (cmd) => {
      cmd.option('--config <file>', 'JSON file of training options (library names, e.g. {"batchSize": 64}); flags override it');
    },
    parse: (raw): TrainOptions => {
      const input = mergeConfig(raw, fixed);
      // Every problem at once: field problems in the CLI's words (missing required option --data <dir>), then the
      // cross-field rules resolveTrainOptions adds after the schema's own issues.
      const r = trainOptionsSchema.safeParse(input);
      const fields = r.success ? [] : [usageMessage(r.error.issues, input, { schema: trainOptionsSchema, placeholders: PLACEHOLDERS })];
      try {
        if (fields.length === 0) return resolveTrainOptions(input);
        resolveTrainOptions(input);
      } catch (e) {
        if (!(e instanceof DrhardInputError)) throw e;
        const lines = e.message.split('\n').slice(1).map((l) => l.trim());
        const cross = lines.slice(r.success ? 0 : r.error.issues.length).map((l) => l.replace(/^([a-z][A-Za-z0-9]*):/, (m, k: string) => (k in trainOptionsSchema.shape ? `--${kebab(k)}:` : m)));
        throw new DrhardUsageError([...fields, ...cross].join('; ') || e.message);
      }
      throw new DrhardUsageError(fields.join('; '));
    },
    run,
  });
}

export function register(program: Command): void {
  defineTrainCommand(
    program,
    'train',
    "Train a dual encoder with DRhard's semantics: --method inbatch|randneg|bm25neg|star (both towers, in-batch + sampled negatives) " +
      'or adore (query encoder against fixed --doc-embeddings). Prints a JSON summary on stdout; exits 130/143 after a graceful stop.',
  );
}
