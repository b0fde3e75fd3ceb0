// `drhard encode`: embeddings of a dataset split (or the corpus) into a raw float32/float16 file + manifest,
// length-sorted batches, resumable after a crash or kill.
import type { Command } from 'commander';
import { z } from 'zod';
import { defineCommand } from '../command.ts';
import { emitResult } from '../result.ts';

const options = z.object({
  model: z.string().describe('model directory: config.json + model.safetensors (or pytorch_model.bin)'),
  data: z.string().describe('dataset directory written by drhard preprocess'),
  split: z.string().default('corpus').describe("what to encode: 'corpus' (documents, default) or a query split (train, dev, ...)"),
  out: z.string().describe('embeddings file to write (manifest: <out>.json; work in progress: <out>.parts/)'),
  maxLength: z.coerce.number().int().min(2).optional().describe("sequence length cap (default: the split's preprocessing length; DRhard: 32 queries, 256 passages)"),
  batchSize: z.coerce.number().int().positive().default(64).describe('sequences per forward pass (default 64)'),
  dtype: z.enum(['float32', 'float16']).default('float32').describe('stored value type (default float32)'),
  chunkRows: z.coerce.number().int().positive().default(16384).describe('rows per resumable part (default 16384)'),
  pooling: z.enum(['first', 'mean']).optional().describe("pooling for a plain Hugging Face encoder without DRhard's head: first ([CLS]/<s>) or mean (default: the model's config)"),
  device: z.string().default('cpu').describe("'cpu' (default) or 'cuda:N'"),
  resume: z.boolean().default(true).describe('reuse the verified parts of an interrupted run with the same model, data and settings'),
  progress: z.boolean().default(true).describe('progress bar with throughput and ETA on stderr'),
});
type Options = z.infer<typeof options>;

async function run(o: Options): Promise<void> {
  const { openDataset } = await import('../../data/index.ts');
  const { loadModel, weightsFile } = await import('../../models/checkpoint.ts');
  const { encodeSplit, EncodeStopped } = await import('../../retrieval/encode.ts');
  const { datasetChecksum, modelDirChecksum, storeOf } = await import('../retrieval.ts');
  const { StopSignal } = await import('../../util/signals.ts');
  const { encodeShard } = await import('../../dist/shard.ts');
  const { runDistributed } = await import('../../dist/run.ts');
  await runDistributed(async ({ pg }) => {
  const ds = openDataset(o.data);
  const { model } = loadModel(o.model, { device: o.device, pooling: o.pooling });
  using stop = new StopSignal();
  try {
    const store = storeOf(ds, o.split);
    const r = await encodeSplit(model, store, {
      out: o.out,
      maxLength: o.maxLength ?? store.maxLength,
      batchSize: o.batchSize,
      chunkRows: o.chunkRows,
      dtype: o.dtype,
      padId: ds.manifest.tokenizer.padId,
      resume: o.resume,
      progress: o.progress,
      model: { path: o.model, checksum: await modelDirChecksum(o.model, weightsFile(o.model)) },
      dataset: { path: o.data, checksum: datasetChecksum(ds), split: o.split },
      shouldStop: () => stop.requested,
      ...(pg ? { shard: encodeShard(pg) } : {}),
    });
    await emitResult({ out: o.out, count: r.manifest.count, dim: r.manifest.dim, dtype: r.manifest.dtype, encoded: r.encoded, reused: r.reused, seconds: Number(r.seconds.toFixed(3)), encodeSeconds: r.encodeSeconds, cpuSeconds: r.cpuSeconds, rowsPerSecond: r.encoded > 0 ? Number((r.encoded / r.seconds).toFixed(1)) : null });
  } catch (e) {
    if (e instanceof EncodeStopped) {
      process.stderr.write(`drhard encode: ${e.message}\n`);
      process.exitCode = stop.exitCode ?? 130;
      return;
    }
    throw e;
  } finally {
    model.dispose();
    ds.close();
  }
  }, { name: 'encode' });
}

export function register(program: Command): void {
  defineCommand(program, {
    name: 'encode',
    description: 'Encode a dataset split or the corpus into an embeddings file (resumable)',
    schema: options,
    placeholders: { model: 'dir', data: 'dir', split: 'name', out: 'file', device: 'device', dtype: 'type' },
    aliases: { dataset: 'data' },
    run,
  });
}
