// Train's periodic dev evaluation (src/train/deveval.ts) reports what `drhard evaluate` says of a run of the same
// hits written with the dataset's ids: ties (duplicate passages score alike) break on the ids the evaluator sees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openDataset, preprocessMsmarco } from '../../src/data/index.ts';
import { readRun, type Qrels } from '../../src/data/trec.ts';
import { evaluate } from '../../src/eval/evaluate.ts';
import { loadModel } from '../../src/models/checkpoint.ts';
import { RunWriter } from '../../src/retrieval/runs.ts';
import { DenseSearcher } from '../../src/retrieval/search.ts';
import { DevEvaluator, encodeRows, DEV_METRICS } from '../../src/train/deveval.ts';
import type { TrainData } from '../../src/train/data.ts';
import { createLogger } from '../../src/util/log.ts';
import { seededRng } from '../helpers/seed.ts';
import { makeModelDir, tmpDir, TOK } from '../retrieval/helpers.ts';

const WORDS = 'dense sparse vector index query passage document rank score model encoder negative train search token'.split(' ');

test('dev evaluation during training equals evaluate() on the written run with original ids (duplicate passages tie)', async () => {
  const { rng, tag } = seededRng(1410);
  const dir = tmpDir('drhard-deveval-');
  try {
    const raw = path.join(dir, 'raw');
    fs.mkdirSync(raw);
    // Passages in pairs of identical text; pids run opposite to offsets, so offset order and id order disagree.
    const nDocs = 60;
    const texts: string[] = [];
    for (let i = 0; i < nDocs; i++) texts.push(i % 2 === 1 ? texts[i - 1]! : Array.from({ length: 4 + rng.int(8) }, () => WORDS[rng.int(WORDS.length)]!).join(' '));
    fs.writeFileSync(path.join(raw, 'collection.tsv'), texts.map((t, i) => `${900 - i}\t${t}\n`).join(''));
    for (const [split, n, base] of [['train', 4, 100], ['dev', 24, 500]] as const) {
      const q: string[] = [];
      const r: string[] = [];
      for (let i = 0; i < n; i++) {
        const d = rng.int(nDocs);
        q.push(`${base + i}\t${texts[d]!.split(' ').slice(0, 3).join(' ')}\n`);
        r.push(`${base + i}\t0\t${900 - d}\t1\n`);
      }
      fs.writeFileSync(path.join(raw, `queries.${split}.tsv`), q.join(''));
      fs.writeFileSync(path.join(raw, `qrels.${split}.tsv`), r.join(''));
    }
    const dsDir = path.join(dir, 'ds');
    await preprocessMsmarco({ input: raw, out: dsDir, tokenizer: TOK, maxDocLength: 24, maxQueryLength: 12, threads: 0, progress: false, log: createLogger({ level: 'silent' }) });
    const ds = openDataset(dsDir);
    const { model } = loadModel(makeModelDir(dir, { seed: 7 }));
    try {
      model.eval();
      const padId = ds.manifest.tokenizer.padId;
      const data = { dataset: ds, split: 'train', queries: ds.queries('train'), docs: ds.corpus, padId } as unknown as TrainData;
      const opts = { split: 'dev', queries: 0, docs: 0, batchSize: 16, maxQueryLength: 12, maxDocLength: 24, device: 'cpu', seed: 1 };
      const logged = new DevEvaluator(data, opts).run(model);
      // The same search, written as `drhard search --data … --split dev` writes it, scored as `drhard evaluate`.
      const qrelsOff = ds.qrels('dev');
      const qRows = [...qrelsOff.keys()].sort((a, b) => a - b);
      const q = encodeRows(model, ds.queries('dev'), qRows, 12, padId, 16, 'cpu');
      const docs = encodeRows(model, ds.corpus, Array.from({ length: ds.corpus.count }, (_, i) => i), 24, padId, 16, 'cpu');
      using searcher = DenseSearcher.fromTensor(docs);
      const hits = searcher.search(q, 100);
      const qids = ds.queryIds('dev');
      const pids = ds.docIds();
      const file = path.join(dir, 'dev.run');
      const w = new RunWriter(file, { format: 'trec', qid: (b) => qids[qRows[b]!]!, docid: (d) => pids[d]! });
      w.add(0, hits);
      w.close();
      const qrels: Qrels = new Map([...qrelsOff].map(([qo, m]) => [qids[qo]!, new Map([...m].map(([d, g]) => [pids[d]!, g]))]));
      const fromFile = evaluate(qrels, readRun(file).run, { metrics: [...DEV_METRICS] }).mean;
      for (const m of DEV_METRICS) assert.equal(logged[m], fromFile[m], `${m}: logged ${logged[m]} vs evaluate ${fromFile[m]}; ${tag}`);
      q.dispose();
      docs.dispose();
    } finally {
      model.dispose();
      ds.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
