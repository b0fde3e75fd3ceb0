// `drhard mine`: hard negatives per training query (DRhard's prepare_hardneg: top-k + margin from a dense index,
// judged documents removed, first k kept), or BM25 / random negatives; writes a negatives file + counters.
import * as path from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { DrhardUsageError } from '../../util/errors.ts';
import { defineCommand } from '../command.ts';
import { exactSchema, paramsSchema, sizeSchema } from '../retrieval.ts';
import { emitResult } from '../result.ts';

const options = z.object({
  data: z.string().describe('dataset directory written by drhard preprocess'),
  split: z.string().default('train').describe('query split to mine for (default train; DRhard: train, whatever its README says)'),
  source: z.enum(['dense', 'bm25', 'random']).default('dense').describe('dense (default: --model or --doc-embeddings), bm25, or random negatives'),
  topk: z.coerce.number().int().positive().default(200).describe('negatives kept per query (default 200)'),
  margin: z.coerce.number().int().min(0).default(10).describe('extra candidates retrieved so removals still leave --topk (default 10, as DRhard)'),
  out: z.string().describe('negatives file to write (+ <out>.json with provenance and counters)'),
  format: z.enum(['jsonl', 'bin', 'tsv']).default('jsonl').describe('jsonl: {"qoffset": q, "negatives": [...]} per line (default); bin: compact CSR of offsets; tsv: "qid<TAB>docid<TAB>rank" with original ids'),
  model: z.string().optional().describe('dense: model directory; queries and corpus are encoded (resumably) into --work'),
  docEmbeddings: z.string().optional().describe('dense: document embeddings file to reuse (drhard encode --split corpus)'),
  queryEmbeddings: z.string().optional().describe("dense: query embeddings of --split to reuse (drhard encode --split <split>)"),
  work: z.string().optional().describe('dense with --model: where encoded embeddings go (default <out>.work/)'),
  maxQueryLength: z.coerce.number().int().min(2).optional().describe("dense with --model: query token cap (default: the split's preprocessing length)"),
  maxDocLength: z.coerce.number().int().min(2).optional().describe("dense with --model: document token cap (default: the corpus's preprocessing length)"),
  batchSize: z.coerce.number().int().positive().default(64).describe('dense with --model: sequences per forward pass (default 64)'),
  device: z.string().default('cpu').describe("dense with --model: 'cpu' (default) or 'cuda:N'"),
  index: z.string().default('flat').describe("dense: 'flat' (exact, default) or a faiss index_factory string"),
  param: paramsSchema.optional().describe('dense: faiss runtime parameter name=value (repeatable)'),
  maxMemory: sizeSchema.optional().describe('dense: memory budget for document vectors (a larger corpus keeps only its int8 copy in memory where that fits, else is searched shard by shard)'),
  exact: exactSchema,
  threads: z.coerce.number().int().positive().optional().describe('bm25: search threads, each a slice of the queries against the shared index (default: every core)'),
  seed: z.coerce.number().int().default(42).describe('random negatives and --fill-random: seed (default 42)'),
  removeCopies: z.boolean().default(true).describe('also drop candidates whose text equals a positive (duplicate passages)'),
  fillRandom: z
    .boolean()
    .default(true)
    .describe('top up lists shorter than --topk with random non-judged documents (BM25 finding only positives, or every candidate a copy of the positive), so training never meets an empty list'),
  progress: z.boolean().default(true).describe('progress on stderr'),
});
type Options = z.infer<typeof options>;

async function run(o: Options): Promise<void> {
  if (o.source === 'dense' && o.model === undefined && (o.docEmbeddings === undefined || o.queryEmbeddings === undefined)) {
    throw new DrhardUsageError('--source dense needs --model, or both --doc-embeddings and --query-embeddings');
  }
  if (o.threads !== undefined && o.source !== 'bm25') throw new DrhardUsageError(`--threads is for --source bm25 (dense search threads: DRHARD_NUM_THREADS)`);
  if (o.source !== 'dense' && (o.model !== undefined || o.docEmbeddings !== undefined || o.queryEmbeddings !== undefined)) {
    throw new DrhardUsageError(`--source ${o.source} takes no --model/--doc-embeddings/--query-embeddings`);
  }
  const { openDataset } = await import('../../data/index.ts');
  const { mineNegativesParallel } = await import('../../retrieval/mine.ts');
  const { writeNegatives } = await import('../../retrieval/negatives.ts');
  const { DenseSearcher } = await import('../../retrieval/search.ts');
  const { Bm25Index } = await import('../../retrieval/bm25.ts');
  const { embeddingsSha256 } = await import('../../retrieval/ann.ts');
  const { datasetChecksum, idWriters, modelDirChecksum, searcherOptions } = await import('../retrieval.ts');
  const { Progress } = await import('../../util/progress.ts');
  const { log } = await import('../../util/log.ts');
  // Launched distributed (dense source): each rank searches its row range, the top-k lists are merged, rank 0 writes.
  const { runDistributed } = await import('../../dist/run.ts');
  await runDistributed(async ({ pg, lead }) => {
  const ds = openDataset(o.data);
  const cleanup: Array<() => void> = [() => ds.close()];
  try {
    const qstore = ds.queries(o.split);
    const qrels = ds.qrels(o.split);
    if (qrels.size === 0) throw new DrhardUsageError(`split ${o.split} has no qrels: nothing to mine for`);
    const meta: Record<string, unknown> = { dataset: { path: o.data, checksum: datasetChecksum(ds), split: o.split }, source: o.source, topk: o.topk, margin: o.margin };
    const t0 = performance.now();
    let source: Parameters<typeof mineNegativesParallel>[0]['source'];
    if (o.source === 'random') {
      source = { kind: 'random', docs: ds.corpus.count, seed: o.seed };
      meta['seed'] = o.seed;
    } else if (o.source === 'bm25') {
      const t = ds.manifest.tokenizer;
      const index = Bm25Index.build(ds.corpus, { ignore: [t.clsId, t.sepId, t.padId] });
      log.info({ docs: index.count, postings: index.postings, seconds: Number(((performance.now() - t0) / 1000).toFixed(3)) }, 'bm25 index built');
      source = { kind: 'bm25', index, queries: qstore };
      meta['bm25'] = index.params;
    } else {
      let docEmb = o.docEmbeddings;
      let qEmb = o.queryEmbeddings;
      if (o.model !== undefined) {
        const { loadModel, weightsFile } = await import('../../models/checkpoint.ts');
        const { encodeSplit } = await import('../../retrieval/encode.ts');
        const work = o.work ?? `${o.out}.work`;
        const { model } = loadModel(o.model, { device: o.device });
        try {
          const checksum = await modelDirChecksum(o.model, weightsFile(o.model));
          const dsum = datasetChecksum(ds);
          const { encodeShard } = await import('../../dist/shard.ts');
          const common = { batchSize: o.batchSize, padId: ds.manifest.tokenizer.padId, progress: o.progress, model: { path: o.model, checksum }, ...(pg ? { shard: encodeShard(pg) } : {}) };
          qEmb ??= path.join(work, `${o.split}.emb`);
          docEmb ??= path.join(work, 'corpus.emb');
          await encodeSplit(model, qstore, { ...common, out: qEmb, maxLength: o.maxQueryLength ?? qstore.maxLength, dataset: { path: o.data, checksum: dsum, split: o.split } });
          await encodeSplit(model, ds.corpus, { ...common, out: docEmb, maxLength: o.maxDocLength ?? ds.corpus.maxLength, dataset: { path: o.data, checksum: dsum, split: 'corpus' } });
          meta['model'] = { path: o.model, checksum };
        } finally {
          model.dispose();
        }
      }
      let searcher: import('../../dist/search.ts').SearcherView;
      if (pg !== null) {
        if (o.index !== 'flat') throw new DrhardUsageError('distributed mining supports exact search only (no --index)');
        const { openRankShard, shardedSearcherView } = await import('../../dist/search.ts');
        const shard = openRankShard(docEmb as string, pg, searcherOptions(o));
        cleanup.push(() => shard.searcher.dispose());
        searcher = shardedSearcherView(pg, shard);
      } else {
        const full = DenseSearcher.fromFile(docEmb as string, searcherOptions(o));
        cleanup.push(() => full.dispose());
        searcher = full;
      }
      if (searcher.count !== ds.corpus.count) throw new DrhardUsageError(`${docEmb}: ${searcher.count} rows, but the corpus has ${ds.corpus.count} documents`);
      source = { kind: 'dense', searcher, queryEmbeddings: qEmb as string };
      meta['embeddings'] = { docs: docEmb, docsSha256: embeddingsSha256(docEmb as string), queries: qEmb, index: o.index };
    }
    const progress = new Progress({ total: qrels.size, label: 'mine', unit: 'query', enabled: o.progress });
    const t1 = performance.now();
    const r = await mineNegativesParallel({
      source,
      ...(o.threads !== undefined ? { threads: o.threads } : {}),
      qrels,
      topk: o.topk,
      margin: o.margin,
      ...(o.removeCopies ? { corpus: ds.corpus } : {}),
      ...(o.fillRandom && o.source !== 'random' ? { fillRandomSeed: o.seed } : {}),
      onProgress: (done) => progress.update(done),
    });
    progress.stop();
    const seconds = (performance.now() - t1) / 1000;
    const { qid, docid } = o.format === 'tsv' ? idWriters('original', ds, o.split) : {};
    if (lead) writeNegatives(o.out, r.negatives, o.format, { ...meta, counters: r.counters, seconds }, qid && docid ? { qid, docid } : undefined);
    if (r.counters.queriesShort > 0) log.warn({ queriesShort: r.counters.queriesShort, minNegatives: r.counters.minNegatives }, `some queries have fewer than ${o.topk} negatives`);
    await emitResult({ out: o.out, ...r.counters, seconds: Number(seconds.toFixed(3)) });
  } finally {
    for (const f of cleanup.reverse()) f();
  }
  }, { distributed: o.source === 'dense', name: 'mine' });
}

export function register(program: Command): void {
  defineCommand(program, {
    name: 'mine',
    description: 'Mine hard (dense), BM25 or random negatives for a query split',
    schema: options,
    placeholders: {
      data: 'dir', split: 'name', source: 'kind', out: 'file', format: 'format', model: 'dir', docEmbeddings: 'file', queryEmbeddings: 'file',
      work: 'dir', device: 'device', index: 'factory', exact: 'engine', param: 'name=value', maxMemory: 'bytes', threads: 'n',
    },
    aliases: { dataset: 'data', embeddings: 'docEmbeddings' },
    run,
  });
}
