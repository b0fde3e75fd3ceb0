// Test helpers for retrieval: embeddings files with manifests, a small synthetic MS MARCO-style dataset, a tiny model.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../src/tensor/index.ts';
import { preprocessMsmarco } from '../../src/data/index.ts';
import { createModel } from '../../src/models/dual.ts';
import { saveModel } from '../../src/models/checkpoint.ts';
import { writeEmbeddingsManifest, type EmbeddingDType } from '../../src/retrieval/embeddings.ts';
import { sha256 } from '../../src/util/hash.ts';
import { createLogger } from '../../src/util/log.ts';
import { Rng } from '../../src/util/rng.ts';

export const TOK = path.join(import.meta.dirname, '..', 'fixtures', 'tokenizers', 'roberta-tiny');
export const ROOT = path.join(import.meta.dirname, '..', '..');

export function tmpDir(prefix = 'drhard-retrieval-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function writeEmbeddingsFile(file: string, x: T.Tensor, dtype: EmbeddingDType = 'float32'): void {
  const data = T.tidy(() => x.to(dtype).data());
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  fs.writeFileSync(file, bytes);
  const [count, dim] = x.shape as [number, number];
  writeEmbeddingsManifest(file, { format: 'drhard-embeddings', version: 1, dim, count, dtype, sha256: sha256(bytes), bytes: bytes.byteLength });
}

const WORDS = (
  'dense sparse vector index faiss query passage document rank score model encoder negative hard train debian ' +
  'package library python rust node typescript retrieval search token embed cluster graph tree hash table'
).split(' ');

/**
 * MS MARCO passage-format files with `nDocs` passages (numeric, non-contiguous pids) and train/dev queries drawn
 * from words of a relevant passage; preprocessed with the tiny RoBERTa tokenizer into `<dir>/ds`.
 */
export async function makeDataset(dir: string, opts: { nDocs?: number; nTrain?: number; nDev?: number; seed?: number } = {}): Promise<string> {
  const rng = new Rng(opts.seed ?? 5);
  const nDocs = opts.nDocs ?? 300;
  const raw = path.join(dir, 'raw');
  fs.mkdirSync(raw, { recursive: true });
  const docs: string[][] = [];
  const lines: string[] = [];
  for (let i = 0; i < nDocs; i++) {
    const n = 3 + rng.int(25);
    const w = Array.from({ length: n }, () => WORDS[rng.int(WORDS.length)] as string);
    // A few exact duplicates, as in MS MARCO.
    docs.push(i % 37 === 5 && i > 0 ? (docs[i - 1] as string[]) : w);
    lines.push(`${i * 3 + 1}\t${(docs[i] as string[]).join(' ')}`);
  }
  fs.writeFileSync(path.join(raw, 'collection.tsv'), `${lines.join('\n')}\n`);
  const split = (name: string, n: number, qidBase: number): void => {
    const q: string[] = [];
    const r: string[] = [];
    for (let i = 0; i < n; i++) {
      const d = rng.int(nDocs);
      const w = docs[d] as string[];
      const text = Array.from({ length: 2 + rng.int(4) }, () => w[rng.int(w.length)] as string).join(' ');
      q.push(`${qidBase + i}\t${text}`);
      r.push(`${qidBase + i}\t0\t${d * 3 + 1}\t1`);
      if (i % 4 === 0) r.push(`${qidBase + i}\t0\t${((d + 1) % nDocs) * 3 + 1}\t1`);
    }
    fs.writeFileSync(path.join(raw, `queries.${name}.tsv`), `${q.join('\n')}\n`);
    fs.writeFileSync(path.join(raw, `qrels.${name}.tsv`), `${r.join('\n')}\n`);
  };
  split('train', opts.nTrain ?? 40, 1000);
  split('dev', opts.nDev ?? 20, 5000);
  const out = path.join(dir, 'ds');
  await preprocessMsmarco({
    input: raw,
    out,
    tokenizer: TOK,
    maxDocLength: 40,
    maxQueryLength: 16,
    threads: 0,
    progress: false,
    log: createLogger({ level: 'silent' }),
  });
  return out;
}

/** A small random RoBERTa dual encoder saved with the tiny tokenizer's files (so text queries can be encoded). */
export function makeModelDir(dir: string, opts: { seed?: number; hidden?: number } = {}): string {
  const out = path.join(dir, 'model');
  const vocab = Object.keys(JSON.parse(fs.readFileSync(path.join(TOK, 'vocab.json'), 'utf8')) as object).length;
  const m = createModel(
    { modelType: 'roberta', vocabSize: vocab, hiddenSize: opts.hidden ?? 16, numHiddenLayers: 1, numAttentionHeads: 2, maxPositionEmbeddings: 66, outputEmbeddingSize: 8 },
    { seed: opts.seed ?? 3 },
  );
  saveModel(m, out);
  m.dispose();
  for (const f of fs.readdirSync(TOK)) fs.copyFileSync(path.join(TOK, f), path.join(out, f));
  return out;
}

/** A TokenStore over in-memory rows (for fixtures that are lists of token ids). */
export function memoryStore(rows: number[][], maxLength = 512): import('../../src/data/tokenstore.ts').TokenStore {
  return {
    count: rows.length,
    maxLength,
    length: (i) => (rows[i] as number[]).length,
    get: (i) => Int32Array.from(rows[i] as number[]),
    batch: () => {
      throw new Error('memoryStore.batch is not implemented');
    },
    close: () => undefined,
  };
}

/**
 * Brute-force top-k of q·docsᵀ, each row sorted by score desc then id asc. 'float32': a float32 matmul (the scores
 * of the float32 engines); 'float64': the float64 product rounded once to float32 (the bf16 engine's rescoring).
 */
export function bruteForceTopK(q: T.Tensor, docs: T.Tensor, k: number, precision: 'float32' | 'float64' = 'float32'): { scores: number[][]; ids: number[][] } {
  const s = T.tidy(() => (precision === 'float64' ? q.to('float64').matmul(docs.to('float64').t()).toFloat64Array() : q.matmul(docs.t()).toFloat32Array()));
  const N = docs.size(0);
  const out = { scores: [] as number[][], ids: [] as number[][] };
  for (let b = 0; b < q.size(0); b++) {
    const row = Array.from(s.subarray(b * N, (b + 1) * N), (x) => Math.fround(x));
    const order = Array.from(row.keys()).sort((x, y) => (row[y] as number) - (row[x] as number) || x - y).slice(0, k);
    out.ids.push(order);
    out.scores.push(order.map((i) => row[i] as number));
  }
  return out;
}

/** Row-major [B, k] values as B lists of numbers. */
export function rowLists(a: ArrayLike<number | bigint>, B: number, k: number): number[][] {
  return Array.from({ length: B }, (_, b) => Array.from({ length: k }, (_, j) => Number(a[b * k + j])));
}

/** Search hits ([B, k] scores and ids) as per-row lists, the shape bruteForceTopK returns. */
export function hitRows(r: { scores: Float32Array; ids: Int32Array; k: number }, B: number): { scores: number[][]; ids: number[][] } {
  return { scores: rowLists(r.scores, B, r.k), ids: rowLists(r.ids, B, r.k) };
}
