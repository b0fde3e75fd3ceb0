// `drhard search`: top-k documents for query embeddings (or ad-hoc query text) by exact inner product or a faiss
// index (built, saved with a verified manifest, reloaded), sharded when the corpus exceeds --max-memory; with
// --hybrid-bm25, the dense run of a dataset split fused with a BM25 run of the same queries (src/retrieval/hybrid.ts).
import type { Command } from 'commander';
import { z } from 'zod';
import { DrhardUsageError } from '../../util/errors.ts';
import type { DenseSearcher } from '../../retrieval/search.ts';
import { defineCommand, kebab } from '../command.ts';
import { exactSchema, paramsSchema, sizeSchema } from '../retrieval.ts';

const options = z.object({
  queryEmbeddings: z.string().optional().describe('query embeddings file (drhard encode --split <split>); row = query offset'),
  query: z.array(z.string()).optional().describe('ad-hoc query text (repeatable); encoded with --model and its tokenizer'),
  model: z.string().optional().describe('model directory with a tokenizer, for --query'),
  docEmbeddings: z.string().optional().describe('document embeddings file (drhard encode --split corpus)'),
  topk: z.coerce.number().int().positive().default(100).describe('documents per query (default 100)'),
  index: z.string().default('flat').describe("'flat' (exact inner product, default) or a faiss index_factory string: HNSW32, IVF4096,PQ64, ..."),
  param: paramsSchema.optional().describe('faiss runtime parameter name=value (repeatable): nprobe=64, efSearch=128'),
  saveIndex: z.string().optional().describe('build the --index over --doc-embeddings and save it here (+ .json manifest), then search it'),
  loadIndex: z.string().optional().describe('search a saved index (its manifest is verified; with --doc-embeddings, also that it was built from it)'),
  maxMemory: sizeSchema.optional().describe('memory budget for document vectors, e.g. 4G; a larger corpus keeps only its int8 copy in memory where that fits (exact: rescored rows are read from the file), else is searched shard by shard'),
  exact: exactSchema,
  verify: z.boolean().default(false).describe('check the full sha256 of --doc-embeddings against its manifest even when it is large (default: files over 1 GiB get the sampled-block check)'),
  out: z.string().optional().describe('run file to write (atomically); default stdout'),
  format: z.enum(['trec', 'msmarco']).default('trec').describe('trec: "qid Q0 docid rank score tag" (default); msmarco: "qid<TAB>docid<TAB>rank"'),
  ids: z.enum(['original', 'offsets']).optional().describe('ids in the run: original (needs --data/--split; default when --data is given) or offsets'),
  data: z.string().optional().describe('dataset directory, for original ids (and the tokenizer settings of --query)'),
  split: z.string().optional().describe('query split of --data the --query-embeddings were encoded from'),
  tag: z.string().default('drhard').describe('TREC run tag (default drhard)'),
  pooling: z.enum(['first', 'mean']).optional().describe("pooling for a plain Hugging Face encoder without DRhard's head: first ([CLS]/<s>) or mean (default: the model's config)"),
  maxLength: z.coerce.number().int().min(2).default(32).describe('token cap for --query text (default 32, as DRhard queries)'),
  compat28: z.boolean().optional().describe("tokenize --query as DRhard's transformers-2.8 RobertaTokenizer (default: the dataset's setting, else off)"),
  hybridBm25: z
    .boolean()
    .optional()
    .describe('hybrid: also run BM25 (as drhard bm25, --topk documents) on the --split queries of --data and output the fusion of the dense and BM25 runs (as drhard fuse)'),
  hybridMethod: z
    .enum(['rrf', 'interpolate'])
    .optional()
    .describe('--hybrid-bm25 fusion: rrf (Σ 1/(60 + rank), no weight; the default) or interpolate (min-max scores; the default with --hybrid-weight/--hybrid-tune-split)'),
  hybridWeight: z.coerce.number().min(0).max(1).optional().describe('--hybrid-bm25 interpolate: weight α of the dense run; BM25 gets 1 − α'),
  hybridTuneSplit: z
    .string()
    .optional()
    .describe('--hybrid-bm25 interpolate: choose α (grid 0, 0.05, …, 1, max MRR@10) on this split\'s qrels: held-out TRAINING queries, never the split you evaluate'),
  hybridTuneQueries: z.string().optional().describe('query embeddings of --hybrid-tune-split (drhard encode --split <that split>)'),
});
type Options = z.infer<typeof options>;

async function run(o: Options): Promise<void> {
  if ((o.queryEmbeddings === undefined) === (o.query === undefined)) throw new DrhardUsageError('give exactly one of --query-embeddings <file> and --query <text>');
  if (o.query !== undefined && o.model === undefined) throw new DrhardUsageError('--query needs --model (the encoder and its tokenizer)');
  if (o.saveIndex !== undefined && o.loadIndex !== undefined) throw new DrhardUsageError('give at most one of --save-index and --load-index');
  if (o.loadIndex === undefined && o.docEmbeddings === undefined) throw new DrhardUsageError('--doc-embeddings is required (unless --load-index)');
  const hybridMethod = checkHybrid(o);
  const T = await import('../../tensor/index.ts');
  const { DenseSearcher: Searcher } = await import('../../retrieval/search.ts');
  const { buildIndex, searcherFromIndex } = await import('../../retrieval/ann.ts');
  const { RunWriter, searchFileToRun } = await import('../../retrieval/runs.ts');
  const { idWriters, searcherOptions } = await import('../retrieval.ts');
  const { openDataset } = await import('../../data/index.ts');
  const { log } = await import('../../util/log.ts');

  const { openRankShard, shardedSearch } = await import('../../dist/search.ts');
  const { runDistributed } = await import('../../dist/run.ts');
  // Launched distributed (exact search of an embeddings file): rank 0 writes the run, the others a scratch file.
  await runDistributed(async ({ pg, output }) => {
  let shard: import('../../dist/search.ts').RankShard | null = null;
  const ds = o.data !== undefined ? openDataset(o.data) : undefined;
  const idMode = o.ids ?? (ds !== undefined && (o.split !== undefined || o.query !== undefined) ? 'original' : 'offsets');
  const t0 = performance.now();
  let searcher: DenseSearcher;
  const params = o.param ?? {};
  if (o.loadIndex !== undefined) {
    searcher = searcherFromIndex(o.loadIndex, { ...(o.docEmbeddings !== undefined ? { embeddings: o.docEmbeddings } : {}), params });
  } else if (o.saveIndex !== undefined) {
    const m = buildIndex(o.docEmbeddings as string, o.saveIndex, { factory: o.index === 'flat' ? 'Flat' : o.index, params });
    log.info({ index: o.saveIndex, factory: m.factory, ntotal: m.ntotal, seconds: m.buildSeconds }, 'index built and saved');
    searcher = searcherFromIndex(o.saveIndex, { embeddings: o.docEmbeddings as string });
  } else if (pg !== null) {
    // Launched distributed: this rank holds its row range only; the top-k lists are merged below (src/dist/search.ts).
    if (o.query !== undefined || hybridMethod !== null || o.index !== 'flat') throw new DrhardUsageError('distributed search supports exact search of --query-embeddings (no --query, --hybrid-bm25 or --index)');
    shard = openRankShard(o.docEmbeddings as string, pg, searcherOptions(o));
    searcher = shard.searcher;
  } else {
    searcher = Searcher.fromFile(o.docEmbeddings as string, searcherOptions(o));
  }
  const loadSeconds = (performance.now() - t0) / 1000;
  try {
    // Ad-hoc queries have no split: they are numbered 1, 2, … and only doc ids are mapped.
    if (idMode === 'original' && o.query === undefined && o.split === undefined) throw new DrhardUsageError('--ids original needs --split (the query split of --query-embeddings)');
    const ids = idWriters(idMode, ds, o.query !== undefined ? undefined : o.split);
    const writer = new RunWriter(output(o.out ?? null, 'run'), { format: o.format, tag: o.tag, ...(o.query !== undefined ? (ids.docid ? { docid: ids.docid } : {}) : ids) });
    const t1 = performance.now();
    let nq: number;
    try {
      if (o.query !== undefined) {
        const { loadModel } = await import('../../models/checkpoint.ts');
        const { loadTokenizer } = await import('../../tokenizers/index.ts');
        const { encodeTexts } = await import('../../retrieval/encode.ts');
        const { model } = loadModel(o.model as string, { pooling: o.pooling });
        try {
          const tok = await loadTokenizer(o.model as string, { compat28: o.compat28 ?? ds?.manifest.tokenizer.compat28 ?? false });
          const q = await encodeTexts(model, tok, o.query, { maxLength: o.maxLength });
          const hits = T.tidy(() => searcher.search(q, o.topk));
          q.dispose();
          for (let b = 0; b < o.query.length; b++) {
            const docs: string[] = [];
            const scores: number[] = [];
            for (let j = 0; j < o.topk; j++) {
              const d = hits.ids[b * o.topk + j] as number;
              if (d < 0) continue;
              docs.push(ids.docid ? ids.docid(d) : String(d));
              scores.push(hits.scores[b * o.topk + j] as number);
            }
            writer.addRanking(String(b + 1), docs, scores);
          }
          nq = o.query.length;
        } finally {
          model.dispose();
        }
      } else if (hybridMethod !== null) {
        const { hybridBm25Search } = await import('../../retrieval/hybrid.ts');
        const h = hybridBm25Search(ds!, searcher, o.split!, o.queryEmbeddings as string, (sp) => idWriters(idMode, ds, sp), {
          method: hybridMethod,
          k: o.topk,
          block: searcher.mode === 'sharded' ? 65536 : 4096,
          ...(o.hybridWeight !== undefined ? { denseWeight: o.hybridWeight } : {}),
          ...(o.hybridTuneSplit !== undefined ? { tune: { split: o.hybridTuneSplit, queries: o.hybridTuneQueries! } } : {}),
        });
        if (h.tuned) {
          const t = h.tuned;
          log.info(
            { split: o.hybridTuneSplit, metric: t.metric, alpha: t.alpha, value: t.value, queries: t.queries, curve: t.curve.map((c) => [c.alpha, Number(c.value.toFixed(6))]) },
            `hybrid: tuned dense weight = ${t.alpha} (${t.metric} ${t.value.toFixed(4)} on ${t.queries} ${o.hybridTuneSplit} queries)`,
          );
        }
        log.info({ method: h.method, weights: { dense: h.weights[0], bm25: h.weights[1] }, depth: h.depth }, 'hybrid: dense + BM25 fused');
        // Ids are already the run's (original or offsets); rankings come out in the evaluator's order.
        for (const [qid, r] of h.run) writer.addRanking(qid, r.docids, r.scores);
        nq = h.run.size;
      } else {
        const rankShard = shard;
        nq = searchFileToRun(pg !== null && rankShard !== null ? { search: (q, k) => shardedSearch(pg, rankShard, q, k) } : searcher, o.queryEmbeddings as string, writer, {
          k: o.topk,
          dim: searcher.dim,
          // A sharded search reads the whole corpus per call, so give it as many queries at once as is sensible.
          block: searcher.mode === 'sharded' ? 65536 : 4096,
        });
      }
      writer.close();
    } catch (e) {
      writer.abort();
      throw e;
    }
    const seconds = (performance.now() - t1) / 1000;
    log.info({ queries: nq, k: o.topk, mode: searcher.mode, engine: searcher.engine ?? o.index, shards: searcher.shards, docs: searcher.count, loadSeconds: Number(loadSeconds.toFixed(3)), searchSeconds: Number(seconds.toFixed(3)), qps: Number((nq / seconds).toFixed(1)) }, 'search done');
  } finally {
    searcher.dispose();
    ds?.close();
  }
  }, { distributed: o.loadIndex === undefined && o.saveIndex === undefined, name: 'search' });
}

/** Validates the --hybrid-* flags; returns the fusion method, or null without --hybrid-bm25. */
function checkHybrid(o: Options): 'rrf' | 'interpolate' | null {
  const extra = (['hybridMethod', 'hybridWeight', 'hybridTuneSplit', 'hybridTuneQueries'] as const).filter((k) => o[k] !== undefined);
  if (!o.hybridBm25) {
    if (extra.length > 0) throw new DrhardUsageError(`${extra.map((k) => `--${kebab(k)}`).join(', ')} ${extra.length === 1 ? 'needs' : 'need'} --hybrid-bm25`);
    return null;
  }
  if (o.query !== undefined) throw new DrhardUsageError('--hybrid-bm25 searches a dataset split: give --query-embeddings <embeddings of --split>, not --query text');
  if (o.data === undefined || o.split === undefined) throw new DrhardUsageError('--hybrid-bm25 needs --data and --split (BM25 searches that split\'s queries over the dataset corpus)');
  const weighted = o.hybridWeight !== undefined || o.hybridTuneSplit !== undefined;
  const method = o.hybridMethod ?? (weighted ? 'interpolate' : 'rrf');
  if (method === 'rrf' && weighted) throw new DrhardUsageError('--hybrid-method rrf takes no weight: drop --hybrid-weight/--hybrid-tune-split, or use --hybrid-method interpolate');
  if (method === 'interpolate' && o.hybridWeight !== undefined && o.hybridTuneSplit !== undefined) {
    throw new DrhardUsageError('give --hybrid-weight or --hybrid-tune-split, not both (the tuning split chooses the weight)');
  }
  if (method === 'interpolate' && !weighted) throw new DrhardUsageError('--hybrid-method interpolate needs --hybrid-weight <dense weight> or --hybrid-tune-split <held-out split>');
  if ((o.hybridTuneSplit === undefined) !== (o.hybridTuneQueries === undefined)) {
    throw new DrhardUsageError('--hybrid-tune-split and --hybrid-tune-queries go together (the tuning split and its query embeddings)');
  }
  if (o.hybridTuneSplit !== undefined && o.hybridTuneSplit === o.split) {
    throw new DrhardUsageError(`--hybrid-tune-split ${o.hybridTuneSplit} is the split being searched: tune on held-out training queries, never on the queries you evaluate`);
  }
  return method;
}

export function register(program: Command): void {
  defineCommand(program, {
    name: 'search',
    description: 'Retrieve the top-k documents for query embeddings or query text (exact or faiss)',
    schema: options,
    placeholders: {
      queryEmbeddings: 'file', query: 'text', model: 'dir', docEmbeddings: 'file', index: 'factory', exact: 'engine', param: 'name=value', saveIndex: 'file', loadIndex: 'file',
      maxMemory: 'bytes', out: 'file', format: 'format', ids: 'kind', data: 'dir', split: 'name', tag: 'tag',
      hybridMethod: 'method', hybridWeight: 'alpha', hybridTuneSplit: 'split', hybridTuneQueries: 'file',
    },
    aliases: { queries: 'queryEmbeddings', corpus: 'docEmbeddings', dataset: 'data', k: 'topk' },
    run,
  });
}
