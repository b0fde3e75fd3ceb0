// `drhard bm25`: a BM25 baseline run over a dataset's token store (term = token id), with index/search timings and,
// when the split has qrels, MRR@10 / Recall@100 / NDCG@10 on stderr.
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { z } from 'zod';
import { defineCommand } from '../command.ts';

const options = z.object({
  data: z.string().describe('dataset directory written by drhard preprocess'),
  split: z.string().default('dev').describe('query split to search (default dev)'),
  topk: z.coerce.number().int().positive().default(1000).describe('documents per query (default 1000)'),
  k1: z.coerce.number().min(0).default(0.9).describe("BM25 k1 (default 0.9, Anserini's MS MARCO setting)"),
  b: z.coerce.number().min(0).max(1).default(0.4).describe("BM25 b (default 0.4, Anserini's MS MARCO setting)"),
  out: z.string().optional().describe('run file to write (atomically); default stdout'),
  format: z.enum(['trec', 'msmarco']).default('trec').describe('trec: "qid Q0 docid rank score tag" (default); msmarco: "qid<TAB>docid<TAB>rank"'),
  ids: z.enum(['original', 'offsets']).default('original').describe('ids in the run: the dataset\'s original ids (default) or offsets'),
  tag: z.string().default('bm25').describe('TREC run tag (default bm25)'),
  threads: z.coerce.number().int().positive().optional().describe('search threads, each a slice of the queries against the shared index (default: every core)'),
});
type Options = z.infer<typeof options>;

async function run(o: Options): Promise<void> {
  const { openDataset } = await import('../../data/index.ts');
  const { Bm25Index } = await import('../../retrieval/bm25.ts');
  const { RunWriter, evaluateHits } = await import('../../retrieval/runs.ts');
  const { idWriters } = await import('../retrieval.ts');
  const { log } = await import('../../util/log.ts');
  const ds = openDataset(o.data);
  try {
    const t = ds.manifest.tokenizer;
    const queries = ds.queries(o.split);
    const t0 = performance.now();
    const index = Bm25Index.build(ds.corpus, { k1: o.k1, b: o.b, ignore: [t.clsId, t.sepId, t.padId] });
    const indexSeconds = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    const hits = await index.searchBatchParallel(queries, o.topk, o.threads !== undefined ? { threads: o.threads } : {});
    const searchSeconds = (performance.now() - t1) / 1000;
    const ids = idWriters(o.ids, ds, o.split);
    const writer = new RunWriter(o.out ?? null, { format: o.format, tag: o.tag, ...ids });
    try {
      writer.add(0, hits);
      writer.close();
    } catch (e) {
      writer.abort();
      throw e;
    }
    const summary: Record<string, number> = {
      docs: index.count, postings: index.postings, indexSeconds: round(indexSeconds), queries: queries.count, searchSeconds: round(searchSeconds), threads: o.threads ?? availableParallelism(),
      queriesPerSecond: round(queries.count / searchSeconds),
    };
    const qrels = ds.qrels(o.split);
    if (qrels.size > 0) Object.assign(summary, evaluateHits(qrels, Int32Array.from({ length: queries.count }, (_, i) => i), hits, undefined, ids));
    log.info(summary, 'bm25 done');
  } finally {
    ds.close();
  }
}

const round = (x: number): number => Number(x.toFixed(4));

export function register(program: Command): void {
  defineCommand(program, {
    name: 'bm25',
    description: 'BM25 baseline run over a dataset split (term = token id; Anserini k1/b)',
    schema: options,
    placeholders: { data: 'dir', split: 'name', out: 'file', format: 'format', ids: 'kind', tag: 'tag', threads: 'n' },
    aliases: { dataset: 'data', k: 'topk' },
    run,
  });
}
