// `drhard serve`: an HTTP search service (POST /v1/search, /healthz, /metrics) and a search page over trained models,
// BM25 and their hybrid (src/serve/); drains in-flight requests on SIGTERM/SIGINT.
import type { Command } from 'commander';
import { z } from 'zod';
import { DrhardUsageError } from '../../util/errors.ts';
import { defineCommand } from '../command.ts';
import { exactSchema, paramsSchema, searcherOptions, sizeSchema } from '../retrieval.ts';

const options = z.object({
  model: z.array(z.string()).optional().describe('model directory (config, weights, tokenizer) encoding the queries; repeat for a second model'),
  docEmbeddings: z.array(z.string()).optional().describe('document embeddings file of each --model, in the same order (drhard encode --split corpus)'),
  loadIndex: z.array(z.string()).optional().describe('or: a saved faiss index of each --model (drhard search --save-index), instead of --doc-embeddings'),
  name: z.array(z.string()).optional().describe('name of each --model in answers and on the page (default: dense, or the model directory names)'),
  data: z.string().describe('dataset directory (drhard preprocess): original document ids, BM25 and the document text'),
  bm25: z.boolean().optional().describe('also serve BM25 over the dataset, and the hybrid of each model with it'),
  collection: z.string().optional().describe('document text from this file (id<TAB>text lines, or BEIR .jsonl); default: the stored tokens decoded'),
  host: z.string().default('127.0.0.1').describe('address to bind (default 127.0.0.1; any other address is reachable from other machines: a warning is logged)'),
  port: z.coerce.number().int().min(0).max(65535).default(8080).describe('TCP port (default 8080; 0: any free port). The URL is printed on stdout'),
  tokenFile: z.string().optional().describe('file holding a bearer token that /v1/search and /metrics require'),
  maxLength: z.coerce.number().int().min(2).default(32).describe('token cap of a query, as drhard search --max-length (default 32); longer queries are cut and flagged'),
  compat28: z.boolean().optional().describe("tokenize queries as DRhard's transformers-2.8 RobertaTokenizer (default: the dataset's setting)"),
  hybridMethod: z.enum(['rrf', 'interpolate']).default('rrf').describe('hybrid fusion: rrf (default) or interpolate (min-max scores, needs --hybrid-weight)'),
  hybridWeight: z.coerce.number().min(0).max(1).optional().describe('hybrid interpolate: weight of the dense run (BM25 gets 1 − weight)'),
  maxK: z.coerce.number().int().positive().default(100).describe('largest k a request may ask for (default 100)'),
  maxQueries: z.coerce.number().int().positive().default(64).describe('most queries in one request (default 64)'),
  maxQueryChars: z.coerce.number().int().positive().default(2000).describe('longest query in characters; longer ones get 400 (default 2000)'),
  maxBody: sizeSchema.optional().describe('largest request body, e.g. 1M (default 256K); larger ones get 413'),
  requestTimeout: z.coerce.number().int().positive().default(10000).describe('ms a request may take to arrive; slower clients are disconnected (default 10000)'),
  batchSize: z.coerce.number().int().positive().default(32).describe('most queries encoded and searched together (micro-batching; 1 turns it off; default 32)'),
  batchWait: z.coerce.number().min(0).default(2).describe('ms the first queued query waits for others to batch with (default 2)'),
  textChars: z.coerce.number().int().min(0).default(600).describe('characters of document text per hit when a request asks for text (default 600)'),
  exact: exactSchema,
  param: paramsSchema.optional().describe('faiss runtime parameter name=value for --index (repeatable): nprobe=64, efSearch=128'),
  maxMemory: sizeSchema.optional().describe('memory budget for document vectors, e.g. 4G; a larger corpus keeps only its int8 copy in memory where that fits (exact: rescored rows are read from the file), else is searched shard by shard'),
});
type Options = z.infer<typeof options>;

async function run(o: Options): Promise<void> {
  const { openServer } = await import('../../serve/cli.ts');
  const models = o.model ?? [];
  const vectors = o.docEmbeddings ?? o.loadIndex ?? [];
  if (o.docEmbeddings !== undefined && o.loadIndex !== undefined) throw new DrhardUsageError('give --doc-embeddings or --load-index, not both');
  if (models.length !== vectors.length) throw new DrhardUsageError(`${models.length} --model but ${vectors.length} --doc-embeddings/--load-index: give one per model, in the same order`);
  if (o.name !== undefined && o.name.length !== models.length) throw new DrhardUsageError(`${o.name.length} --name for ${models.length} --model`);
  if (models.length === 0 && !o.bm25) throw new DrhardUsageError('nothing to serve: give --model with --doc-embeddings (or --load-index), and/or --bm25');
  if (o.hybridMethod === 'interpolate' && o.hybridWeight === undefined) throw new DrhardUsageError('--hybrid-method interpolate needs --hybrid-weight');
  if (o.hybridMethod === 'rrf' && o.hybridWeight !== undefined) throw new DrhardUsageError('--hybrid-weight needs --hybrid-method interpolate');
  await openServer({ ...o, searcher: searcherOptions({ index: 'flat', param: o.param, exact: o.exact, maxMemory: o.maxMemory }) });
}

export function register(program: Command): void {
  defineCommand(program, {
    name: 'serve',
    description: 'Serve models, BM25 and their hybrid over HTTP: a JSON search API and a search page',
    schema: options,
    placeholders: {
      model: 'dir', docEmbeddings: 'file', loadIndex: 'file', name: 'name', data: 'dir', collection: 'file', host: 'address', port: 'port',
      tokenFile: 'file', hybridMethod: 'method', hybridWeight: 'alpha', maxBody: 'bytes', requestTimeout: 'ms', batchWait: 'ms', param: 'name=value', maxMemory: 'bytes',
    },
    aliases: { dataset: 'data', embeddings: 'docEmbeddings', index: 'loadIndex' },
    run,
  });
}
