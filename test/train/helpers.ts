// Shared helpers for training tests: a small synthetic MS MARCO-like dataset (preprocessed with the tiny RoBERTa
// tokenizer), negatives files, a tiny model config, and ADORE document embeddings.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { preprocessMsmarco } from '../../src/data/preprocess.ts';
import { openDataset } from '../../src/data/dataset.ts';
import { loadModel, saveModel } from '../../src/models/checkpoint.ts';
import { createModel } from '../../src/models/dual.ts';
import { encodeRows } from '../../src/train/deveval.ts';
import { Rng } from '../../src/util/rng.ts';
import { createLogger } from '../../src/util/log.ts';

export const TOKENIZER = path.join(import.meta.dirname, '..', 'fixtures', 'tokenizers', 'roberta-tiny');
export const quiet = createLogger({ level: 'silent' });

/** hidden 32, 2 layers: fast enough for many steps on a shared 2-core machine. */
export const TINY_CONFIG = {
  model_type: 'roberta',
  vocab_size: 561,
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  intermediate_size: 64,
  max_position_embeddings: 48,
  type_vocab_size: 1,
  pad_token_id: 1,
  layer_norm_eps: 1e-5,
};

export function tmpDir(prefix = 'drhard-train-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

export interface SyntheticData {
  dir: string;
  /** The dataset directory. */
  data: string;
  /** `qid<TAB>docid` hard negatives for every train query (20 non-relevant docs each). */
  negatives: string;
  nDocs: number;
  nTrain: number;
}

/**
 * `docs` passages of random words; each train/dev query repeats a few words of its positive passage. Query 3's
 * positive is also relevant to query 4 (an in-batch false negative when both land in a batch).
 */
export async function makeDataset(opts: { docs?: number; train?: number; dev?: number; seed?: number } = {}): Promise<SyntheticData> {
  const nDocs = opts.docs ?? 200;
  const nTrain = opts.train ?? 48;
  const nDev = opts.dev ?? 12;
  const rng = new Rng(opts.seed ?? 7);
  const dir = tmpDir('drhard-train-data-');
  const input = path.join(dir, 'input');
  fs.mkdirSync(input);
  const vocab = Array.from({ length: 60 }, () => Array.from({ length: 3 + rng.int(4) }, () => LETTERS[rng.int(26)]).join(''));
  const docs = Array.from({ length: nDocs }, () => Array.from({ length: 12 + rng.int(12) }, () => vocab[rng.int(vocab.length)]));
  fs.writeFileSync(path.join(input, 'collection.tsv'), docs.map((w, i) => `${1000 + i}\t${w.join(' ')}\n`).join(''));
  const split = (name: string, n: number, qbase: number, dbase: number): void => {
    const q: string[] = [];
    const r: string[] = [];
    for (let i = 0; i < n; i++) {
      const d = dbase + i;
      const words = docs[d] as string[];
      q.push(`${qbase + i}\t${Array.from({ length: 3 }, () => words[rng.int(words.length)]).join(' ')}\n`);
      r.push(`${qbase + i}\t0\t${1000 + d}\t1\n`);
    }
    if (name === 'train') r.push(`${qbase + 4}\t0\t${1000 + dbase + 3}\t1\n`);
    fs.writeFileSync(path.join(input, `queries.${name}.tsv`), q.join(''));
    fs.writeFileSync(path.join(input, `qrels.${name}.tsv`), r.join(''));
  };
  split('train', nTrain, 1, 0);
  split('dev', nDev, 5001, nTrain);
  const data = path.join(dir, 'dataset');
  await preprocessMsmarco({
    out: data,
    tokenizer: TOKENIZER,
    input,
    kind: 'passage',
    maxDocLength: 40,
    maxQueryLength: 16,
    threads: 0,
    progress: false,
    log: quiet,
    splits: [
      { name: 'train', queries: path.join(input, 'queries.train.tsv'), qrels: path.join(input, 'qrels.train.tsv') },
      { name: 'dev', queries: path.join(input, 'queries.dev.tsv'), qrels: path.join(input, 'qrels.dev.tsv') },
    ],
  });
  const negatives = path.join(dir, 'negatives.tsv');
  const lines: string[] = [];
  for (let i = 0; i < nTrain; i++) {
    const pos = new Set([i, ...(i === 4 ? [3] : [])]);
    let k = 0;
    for (const d of rng.sample(nDocs, 30)) {
      if (pos.has(d) || k >= 20) continue;
      lines.push(`${1 + i}\t${1000 + d}\t${++k}\n`);
    }
  }
  fs.writeFileSync(negatives, lines.join(''));
  return { dir, data, negatives, nDocs, nTrain };
}

/** A fresh tiny model saved as an HF directory (seeded), e.g. the `--init` of ADORE. */
export function saveFreshModel(dir: string, seed = 1): string {
  const m = createModel({ modelType: 'roberta', vocabSize: 561, hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 64, maxPositionEmbeddings: 48 }, { seed });
  saveModel(m, dir);
  m.dispose();
  return dir;
}

/** Encodes the corpus with the model in `modelDir` and writes bare float32 rows (ADORE's --doc-embeddings). */
export function writeDocEmbeddings(modelDir: string, dataDir: string, file: string, maxLen = 40): { count: number; dim: number } {
  const { model } = loadModel(modelDir);
  const ds = openDataset(dataDir);
  try {
    const rows = Array.from({ length: ds.corpus.count }, (_, i) => i);
    const e = encodeRows(model, ds.corpus, rows, maxLen, ds.manifest.tokenizer.padId, 64, 'cpu');
    const f = e.toFloat32Array();
    fs.writeFileSync(file, new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
    const out = { count: e.size(0), dim: e.size(1) };
    e.dispose();
    return out;
  } finally {
    ds.close();
    model.dispose();
  }
}
