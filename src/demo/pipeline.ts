// `drhard demo`: the seed paper's pipeline (warmups → mine → STAR → ADORE) end to end on the shipped corpus.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openDataset } from '../data/index.ts';
import { loadModel } from '../models/index.ts';
import { Bm25Index } from '../retrieval/bm25.ts';
import { encodeSplit } from '../retrieval/encode.ts';
import { layoutOf, readRows } from '../retrieval/embeddings.ts';
import { mineNegatives, mineNegativesParallel } from '../retrieval/mine.ts';
import { writeNegatives } from '../retrieval/negatives.ts';
import { DenseSearcher } from '../retrieval/search.ts';
import { trainDualEncoder, type MetricsRecord } from '../train/index.ts';
import { log as rootLog, type Logger } from '../util/log.ts';
import { writeSubset, trainDemoTokenizer, preprocessDemo, type SubsetStats } from './data.ts';
import { denseRun, evaluateDense, readRunJson, writeRunJson, writeTrecRun, hitsToRun, offsetQrels, scoreRun, splitIds, significance, type MethodEval, type Significance } from './evaluate.ts';
import { PRESETS, stageSteps, warmupSteps, type DemoPreset } from './presets.ts';
import { fuseInterpolate, tuneInterpolation, type Run } from '../eval/index.ts';
import { StageRunner, type StageTiming } from './stages.ts';
import { demoPairExamples } from './examples.ts';
import type { PairExample } from '../report/types.ts';

export interface DemoOptions {
  out: string;
  quick?: boolean;
  /** Directory of the shipped corpus (data/demo). */
  source: string;
  seed?: number;
  logger?: Logger;
  /** Show training/encoding progress bars. */
  progress?: boolean;
}

/** One trained (or baseline) method's outcome, as stored in its stage marker. */
export interface MethodOutcome {
  method: string;
  label: string;
  /** Model directory (null for BM25). */
  modelDir: string | null;
  /** Corpus embeddings used to search (for ADORE: its starting model's). */
  corpusEmbeddings: string | null;
  eval: MethodEval;
  history: MetricsRecord[];
  /** The method it is compared against (its starting model, or the baseline). */
  baseline: string | null;
}

/** One ordering the demo checks: `a` beats `b` on dev MRR@10 (paired tests), or a ratio target. */
export interface Claim {
  claim: string;
  a: string;
  b: string;
  /** Mean MRR@10 of a and b, and a − b with its 95% CI. */
  mrr10: [number, number];
  diff: number;
  ci: [number, number];
  pT: number;
  pRand: number;
  /** a > b with p < alpha in both tests (for a ratio target: the ratio reached). */
  holds: boolean;
  alpha: number;
}

export interface DemoResult {
  preset: DemoPreset;
  subset: SubsetStats;
  methods: MethodOutcome[];
  significance: Record<string, Significance>;
  starInit: string;
  /** The seed paper's claims and this project's targets, each measured on the dev queries (see `seedClaims`). */
  claims: Claim[];
  /** The hybrid row's fusion: ADORE (STAR) and BM25, the dense weight chosen on the held-out tuning queries. */
  hybrid: { denseWeight: number; tuneMrr10: number; curve: Array<{ alpha: number; value: number }> } | null;
  /** The corpus pretraining stage's metrics history (null: no pretraining stage; absent in older results.json). */
  pretrain?: { history: MetricsRecord[] } | null;
  /** Example dev queries of the report's pair, STAR vs ADORE (STAR) (absent in older results.json). */
  examples?: PairExample[] | null;
  timings: StageTiming[];
  totalSeconds: number;
  out: string;
}

const WARMUPS = [
  { method: 'inbatch', label: 'Inbatch-Neg' },
  { method: 'randneg', label: 'Rand-Neg' },
  { method: 'bm25neg', label: 'BM25-Neg' },
] as const;

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const t0 = performance.now();
  const preset = PRESETS[o.quick ? 'quick' : 'default'];
  const seed = o.seed ?? 42;
  const log = o.logger ?? rootLog.child({ mod: 'demo' });
  const progress = o.progress ?? false;
  const out = path.resolve(o.out);
  const stages = new StageRunner(out, log);
  log.info({ preset: preset.name, out }, 'drhard demo: warmups → mine → STAR → ADORE on Debian package descriptions');

  // 1. Data: subset, tokenizer trained from scratch, token stores.
  const dataCfg = { v: 2, subset: preset.subset, vocab: preset.vocabSize, maxDoc: preset.maxDocLength, maxQuery: preset.maxQueryLength, seed };
  const subset = await stages.run('data', dataCfg, async (dir) => {
    const raw = path.join(dir, 'raw');
    const stats = writeSubset({ source: o.source, ...preset.subset, seed }, raw);
    await trainDemoTokenizer(raw, path.join(dir, 'tokenizer'), preset.vocabSize);
    await preprocessDemo(raw, path.join(dir, 'tokenizer'), path.join(dir, 'dataset'), {
      vocabSize: preset.vocabSize,
      maxDocLength: preset.maxDocLength,
      maxQueryLength: preset.maxQueryLength,
    });
    return stats;
  });
  const datasetDir = path.join(out, 'data', 'dataset');
  const ds = openDataset(datasetDir);
  try {
    const devQrels = offsetQrels(ds, 'dev');
    const methods: MethodOutcome[] = [];

    // 2. BM25: the lexical baseline and the source of BM25 negatives.
    const bm25 = await stages.run('bm25', { v: 4, dataCfg, topk: preset.star.topk }, async (dir) => {
      // As `drhard bm25` does: the special tokens every row carries are not terms.
      const t = ds.manifest.tokenizer;
      const index = Bm25Index.build(ds.corpus, { ignore: [t.clsId, t.sepId, t.padId] });
      const runOf = async (split: string): Promise<Run> => {
        const qs = ds.queries(split);
        const rows = Array.from({ length: qs.count }, (_, i) => i);
        const hits = await index.searchBatchParallel(qs, preset.k, { rows });
        return hitsToRun(rows, hits.ids, hits.scores, preset.k);
      };
      const dev = await runOf('dev');
      writeRunJson(path.join(dir, 'dev.run.json'), dev);
      writeRunJson(path.join(dir, 'tune.run.json'), await runOf('tune'));
      const ev = scoreRun(devQrels, dev, splitIds(ds, 'dev'));
      // A query none of whose terms is in the corpus gets no BM25 hit: its list is topped up with random documents.
      const mined = await mineNegativesParallel({
        source: { kind: 'bm25', index, queries: ds.queries('train') },
        qrels: ds.qrels('train'),
        topk: preset.star.topk,
        corpus: ds.corpus,
        fillRandomSeed: seed,
      });
      writeNegatives(path.join(dir, 'negatives.bin'), mined.negatives, 'bin', { source: 'bm25' });
      return { eval: ev, counters: mined.counters };
    });
    methods.push({ method: 'bm25', label: 'BM25', modelDir: null, corpusEmbeddings: null, eval: bm25.eval, history: [], baseline: null });

    const modelInit = {
      modelType: 'roberta' as const,
      vocabSize: preset.vocabSize,
      ...preset.model,
      maxPositionEmbeddings: preset.maxDocLength + 2 + 2,
    };
    const common = {
      data: datasetDir,
      maxQueryLength: preset.maxQueryLength,
      maxDocLength: preset.maxDocLength,
      seed,
      saveEvery: 50,
      keepLast: 1,
      logEvery: 10,
      padFirstBatches: 0,
      progress,
      resume: true,
    };

    /** Trains one method, encodes the corpus with it, evaluates on dev. Resumes inside training if killed. */
    const trainAndEval = async (
      name: string,
      label: string,
      config: Record<string, unknown>,
      baseline: string,
      corpusFrom?: string,
      provenance: Record<string, unknown> = {},
    ): Promise<MethodOutcome> =>
      // provenance (e.g. which warmup mined STAR's negatives) only keys the stage: a change redoes it.
      stages.run(name, { v: 1, dataCfg, config, provenance }, async (dir) => {
        const r = await trainDualEncoder({ ...common, ...config, outDir: path.join(dir, 'train') } as Parameters<typeof trainDualEncoder>[0]);
        if (r.modelDir === null) throw new Error(`${label} training stopped early (signal ${String(r.stopped)}): re-run the demo to resume`);
        let corpus = corpusFrom;
        if (corpus === undefined) {
          corpus = path.join(dir, 'corpus.f32');
          const { model } = loadModel(r.modelDir);
          try {
            model.eval();
            await encodeSplit(model, ds.corpus, { out: corpus, maxLength: preset.maxDocLength, batchSize: 128, progress });
          } finally {
            model.dispose();
          }
        }
        const ev = await evaluateDense(ds, {
          queryModel: r.modelDir,
          corpusEmbeddings: corpus,
          split: 'dev',
          maxQueryLength: preset.maxQueryLength,
          k: preset.k,
          outDir: dir,
        });
        log.info({ method: label, mrr10: ev.mean['mrr@10'], recall100: ev.mean['recall@100'] }, 'dev evaluation');
        return { method: name, label, modelDir: r.modelDir, corpusEmbeddings: corpus, eval: ev, history: r.history, baseline };
      });

    // 3. Corpus-only pretraining (contrastive crops and/or MLM): what the warmups start from.
    const pt = preset.pretrain;
    let warmInit: Record<string, unknown> = { initConfig: modelInit };
    let pretrain: DemoResult['pretrain'] = null;
    if (pt !== null) {
      const cfg = {
        method: 'pretrain',
        objective: pt.objective,
        initConfig: modelInit,
        batchSize: pt.batchSize,
        maxSteps: stageSteps(pt, ds.corpus.count),
        warmupSteps: warmupSteps(pt, ds.corpus.count),
        lr: pt.lr,
        optimizer: 'adamw',
        cropQuery: pt.cropQuery,
        cropDoc: pt.cropDoc,
      };
      const pre = await stages.run('pretrain', { v: 1, dataCfg, cfg }, async (dir) => {
        const r = await trainDualEncoder({ ...common, ...cfg, outDir: path.join(dir, 'train') } as Parameters<typeof trainDualEncoder>[0]);
        if (r.modelDir === null) throw new Error(`pretraining stopped early (signal ${String(r.stopped)}): re-run the demo to resume`);
        return { modelDir: r.modelDir, history: r.history };
      });
      warmInit = { init: pre.modelDir };
      pretrain = { history: pre.history };
    }

    // 4. Warmups: in-batch, random and BM25 negatives.
    const w = preset.warmup;
    const nTrain = ds.qrels('train').size;
    const recipe = { loss: preset.train.loss, optimizer: preset.train.optimizer };
    for (const { method, label } of WARMUPS) {
      const cfg: Record<string, unknown> = {
        method,
        ...warmInit,
        ...recipe,
        batchSize: w.batchSize,
        maxSteps: stageSteps(w, nTrain),
        lr: w.lr,
        warmupSteps: warmupSteps(w, nTrain),
      };
      if (method === 'bm25neg') cfg['negatives'] = path.join(out, 'bm25', 'negatives.bin');
      methods.push(await trainAndEval(method, label, cfg, method === 'inbatch' ? 'bm25' : 'inbatch', undefined, { pretrain: pt }));
    }

    // 5. Mine static hard negatives with the best warmup (DRhard used ANCE's BM25 warmup; here: best dev MRR@10).
    const warm = methods.filter((m) => WARMUPS.some((x) => x.method === m.method));
    const best = warm.reduce((a, b) => (b.eval.mean['mrr@10'] > a.eval.mean['mrr@10'] ? b : a));
    const mined = await stages.run('mine', { v: 2, from: best.method, dataCfg, topk: preset.star.topk, warm: preset.warmup, pretrain: pt, recipe }, async (dir) => {
      const qFile = path.join(dir, 'train-queries.f32');
      const { model } = loadModel(best.modelDir as string);
      try {
        model.eval();
        await encodeSplit(model, ds.queries('train'), { out: qFile, maxLength: preset.maxQueryLength, batchSize: 256, progress });
      } finally {
        model.dispose();
      }
      using searcher = DenseSearcher.fromFile(best.corpusEmbeddings as string);
      const layout = layoutOf(qFile);
      const qEmb = readRows(qFile, layout, 0, layout.count);
      try {
        // Families of packages share a description whose first maxDocLength tokens are identical: every candidate of
        // such a query can be a copy of its positive (dropped), and the list is topped up with random documents.
        const r = mineNegatives({
          source: { kind: 'dense', searcher, queryEmbeddings: qEmb },
          qrels: ds.qrels('train'),
          topk: preset.star.topk,
          corpus: ds.corpus,
          fillRandomSeed: seed,
        });
        writeNegatives(path.join(dir, 'negatives.bin'), r.negatives, 'bin', { source: 'dense', model: best.method });
        return { from: best.method, counters: r.counters };
      } finally {
        qEmb.dispose();
      }
    });

    // 6. STAR from the best warmup with its mined negatives.
    const s = preset.star;
    const star = await trainAndEval(
      'star',
      'STAR',
      {
        method: 'star',
        init: best.modelDir,
        ...recipe,
        negatives: path.join(out, 'mine', 'negatives.bin'),
        batchSize: s.batchSize,
        maxSteps: stageSteps(s, nTrain),
        lr: s.lr,
        warmupSteps: warmupSteps(s, nTrain),
      },
      best.method,
      undefined,
      { minedFrom: mined.from, warmup: preset.warmup, pretrain: pt, recipe },
    );
    methods.push(star);

    // 7. ADORE on each starting model: query encoder only, against that model's fixed document embeddings.
    const a = preset.adore;
    for (const start of [star, methods.find((m) => m.method === 'randneg')!, methods.find((m) => m.method === 'inbatch')!]) {
      const cfg = {
        method: 'adore',
        init: start.modelDir,
        docEmbeddings: start.corpusEmbeddings,
        batchSize: a.batchSize,
        maxSteps: stageSteps(a, nTrain),
        lr: a.lr,
        warmupSteps: warmupSteps(a, nTrain),
        negTopk: a.negTopk,
        metricCut: a.metricCut,
        maxQueryLength: preset.maxQueryLength,
      };
      const prov = { start: start.method, startConfig: start.method === 'star' ? preset.star : preset.warmup, pretrain: pt, recipe };
      methods.push(await trainAndEval(`adore-${start.method}`, `ADORE (${start.label})`, cfg, start.method, start.corpusEmbeddings as string, prov));
    }

    // 8. Hybrid: ADORE (STAR) fused with BM25 by min-max interpolation, the weight chosen on held-out training
    // queries (the dense model never trained on them; dev is never looked at).
    const adoreStar = methods.find((m) => m.method === 'adore-star')!;
    const hybrid = await stages.run('hybrid', { v: 1, dataCfg, from: adoreStar.modelDir, prov: { pretrain: pt, recipe, star: preset.star, adore: preset.adore } }, async (dir) => {
      const dense = (split: string): Promise<Run> =>
        denseRun(ds, {
          queryModel: adoreStar.modelDir as string,
          corpusEmbeddings: adoreStar.corpusEmbeddings as string,
          split,
          maxQueryLength: preset.maxQueryLength,
          k: preset.k,
          outDir: dir,
        });
      const bm25Tune = readRunJson(path.join(out, 'bm25', 'tune.run.json'));
      const bm25Dev = readRunJson(path.join(out, 'bm25', 'dev.run.json'));
      const tuned = tuneInterpolation([await dense('tune'), bm25Tune], offsetQrels(ds, 'tune'), { metric: 'mrr@10' });
      const fused = fuseInterpolate([await dense('dev'), bm25Dev], { weights: tuned.weights, depth: preset.k });
      writeTrecRun(path.join(dir, 'dev.hybrid.run.trec'), fused, 'drhard-hybrid');
      return { eval: scoreRun(devQrels, fused, splitIds(ds, 'dev')), denseWeight: tuned.alpha, tuneMrr10: tuned.value, curve: tuned.curve };
    });
    methods.push({ method: 'hybrid', label: 'Hybrid (ADORE+STAR, BM25)', modelDir: null, corpusEmbeddings: null, eval: hybrid.eval, history: [], baseline: 'bm25' });

    const byName = new Map(methods.map((m) => [m.method, m]));
    const sig: Record<string, Significance> = {};
    for (const m of methods) {
      if (m.baseline === null) continue;
      const b = byName.get(m.baseline);
      if (b) sig[m.method] = significance(m.eval, b.eval, b.label);
    }
    const claims = seedClaims(byName);
    const result: DemoResult = {
      preset,
      subset,
      methods,
      significance: sig,
      starInit: best.label,
      claims,
      hybrid: { denseWeight: hybrid.denseWeight, tuneMrr10: hybrid.tuneMrr10, curve: hybrid.curve },
      pretrain,
      examples: demoPairExamples(out, ds, devQrels, 'star', 'adore-star'),
      timings: stages.timings,
      totalSeconds: (performance.now() - t0) / 1000,
      out,
    };
    fs.writeFileSync(path.join(out, 'results.json'), `${JSON.stringify(result, null, 1)}\n`);
    return result;
  } finally {
    ds.close();
  }
}

/**
 * The seed's ordering (STAR > Rand-Neg > Inbatch-Neg, ADORE (STAR) > STAR; p < .05) and the hybrid's gain over BM25
 * (p < .01), by paired t-test and randomization test on dev MRR@10; plus the best dense model's share of BM25's.
 */
export function seedClaims(byName: Map<string, MethodOutcome>): Claim[] {
  /** a against b on dev MRR@10; `holds` decides from the test and the means. */
  const claim = (A: MethodOutcome, B: MethodOutcome, text: string, alpha: number, holds: (diff: number, pT: number, pRand: number) => boolean): Claim => {
    const t = significance(A.eval, B.eval, B.label).tests['mrr@10'];
    const mrr10: [number, number] = [A.eval.mean['mrr@10'], B.eval.mean['mrr@10']];
    return { claim: text, a: A.label, b: B.label, mrr10, diff: t.diff, ci: t.ci, pT: t.pT, pRand: t.pRand, holds: holds(t.diff, t.pT, t.pRand), alpha };
  };
  const out: Claim[] = [];
  const pair = (a: string, b: string, alpha: number): void => {
    const A = byName.get(a);
    const B = byName.get(b);
    if (A && B) out.push(claim(A, B, `${A.label} > ${B.label}`, alpha, (diff, pT, pRand) => diff > 0 && pT < alpha && pRand < alpha));
  };
  pair('randneg', 'inbatch', 0.05);
  pair('star', 'randneg', 0.05);
  pair('adore-star', 'star', 0.05);
  pair('hybrid', 'bm25', 0.01);
  const bm25 = byName.get('bm25');
  const dense = [...byName.values()].filter((m) => m.modelDir !== null);
  if (bm25 && dense.length > 0) {
    const best = dense.reduce((x, y) => (y.eval.mean['mrr@10'] > x.eval.mean['mrr@10'] ? y : x));
    const ratio = best.eval.mean['mrr@10'] / bm25.eval.mean['mrr@10'];
    out.push(claim(best, bm25, `best dense (${best.label}) ≥ 0.9 × BM25 (${ratio.toFixed(3)} ×)`, Number.NaN, () => ratio >= 0.9));
  }
  return out;
}
