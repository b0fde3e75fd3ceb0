// The demo's outputs: the seed-shaped results table (stdout) and the HTML report's data.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CurvePoint, MetaSection, ReportData, TrainingCurve } from '../report/types.ts';
import type { MetricsRecord } from '../train/index.ts';
import { meanCi } from './evaluate.ts';
import type { DemoResult } from './pipeline.ts';

const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '—');
const fp = (p: number): string => (p < 0.001 ? '<.001' : p.toFixed(3).replace(/^0/, ''));

/** A Markdown table shaped like the seed's: method, MRR@10, R@100, NDCG@10, and paired tests vs the start model. */
export function formatTable(r: DemoResult): string {
  const lines = [
    `| Method | Dev MRR@10 | Dev R@100 | Dev NDCG@10 | vs | ΔMRR@10 [95% CI] | p (t-test / randomization) |`,
    `|---|---|---|---|---|---|---|`,
  ];
  for (const m of r.methods) {
    const s = r.significance[m.method];
    const t = s?.tests['mrr@10'];
    lines.push(
      `| ${m.label} | ${f3(m.eval.mean['mrr@10'])} | ${f3(m.eval.mean['recall@100'])} | ${f3(m.eval.mean['ndcg@10'])} | ` +
        `${s ? s.baseline : '—'} | ${t ? `${t.diff >= 0 ? '+' : ''}${t.diff.toFixed(3)} [${t.ci[0].toFixed(3)}, ${t.ci[1].toFixed(3)}]` : '—'} | ` +
        `${t ? `${fp(t.pT)} / ${fp(t.pRand)}` : '—'} |`,
    );
  }
  return lines.join('\n');
}

/** The seed's orderings and the targets, one line each: holds or not, with the numbers. */
export function formatClaims(r: DemoResult): string {
  const rows = r.claims.map(
    (c) =>
      `| ${c.claim} | ${c.holds ? 'yes' : 'no'} | ${f3(c.mrr10[0])} vs ${f3(c.mrr10[1])} | ${c.diff >= 0 ? '+' : ''}${c.diff.toFixed(3)} ` +
      `[${c.ci[0].toFixed(3)}, ${c.ci[1].toFixed(3)}] | ${fp(c.pT)} / ${fp(c.pRand)}${Number.isFinite(c.alpha) ? ` (need < ${c.alpha})` : ''} |`,
  );
  return ['| Check (dev MRR@10) | Holds | MRR@10 | Δ [95% CI] | p (t-test / randomization) |', '|---|---|---|---|---|', ...rows].join('\n');
}

/** The `drhard serve` command line that serves the demo's ADORE (STAR) and STAR models side by side with BM25. */
export function serveCommand(r: DemoResult): string | null {
  const star = r.methods.find((m) => m.method === 'star');
  const adore = r.methods.find((m) => m.method === 'adore-star');
  if (star?.modelDir == null || adore?.modelDir == null || star.corpusEmbeddings === null || adore.corpusEmbeddings === null) return null;
  const q = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const data = path.join(r.out, 'data');
  return [
    'drhard serve', '--data', q(path.join(data, 'dataset')), '--collection', q(path.join(data, 'raw', 'collection.tsv')),
    '--model', q(adore.modelDir), '--doc-embeddings', q(adore.corpusEmbeddings), '--name', 'adore-star',
    '--model', q(star.modelDir), '--doc-embeddings', q(star.corpusEmbeddings), '--name', 'star',
    '--bm25', '--max-length', String(r.preset.maxQueryLength),
  ].join(' ');
}

export function formatTimings(r: DemoResult): string {
  const rows = r.timings.map((t) => `| ${t.name} | ${t.seconds.toFixed(1)} s${t.resumed ? ' (done earlier, reused)' : ''} |`);
  return ['| Stage | Wall time |', '|---|---|', ...rows, `| total (this invocation) | ${r.totalSeconds.toFixed(1)} s |`].join('\n');
}

/**
 * What `drhard demo` prints on stdout: the results table, the checks, the stage timings, where the report and the
 * results went, and the serve command when both models exist.
 */
export function formatSummary(r: DemoResult, reportPath: string): string {
  const serve = serveCommand(r);
  return (
    `\n${formatTable(r)}\n\n${formatClaims(r)}\n\n${formatTimings(r)}\n\nreport: ${reportPath}\nresults: ${path.join(r.out, 'results.json')}\n` +
    (serve !== null ? `serve the models (search page and API at http://127.0.0.1:8080): ${serve}\n` : '')
  );
}

/** Where and with what a demo ran: the report's metadata section (every field tolerates being unknown). */
export interface RunEnvironment {
  seed: number | null;
  /** HEAD of the working directory's git checkout, with " (uncommitted changes)" when it is dirty; null outside one. */
  gitCommit: string | null;
  packageVersion: string | null;
  node: string;
  libtorch: string | null;
  /** faiss version from the headers the native addon is built against (the native API has no version call). */
  faiss: string | null;
  cpuModel: string;
  logicalCpus: number;
  /** libtorch intra-op threads (DRHARD_NUM_THREADS, else every core). */
  torchThreads: number | null;
  platform: string;
}

function git(args: string[], cwd: string): string | null {
  try {
    const r = spawnSync('git', args, { cwd, encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
    return r.status === 0 && typeof r.stdout === 'string' ? r.stdout.trim() : null;
  } catch {
    return null;
  }
}

/** FAISS_VERSION_{MAJOR,MINOR,PATCH} of the first faiss/Index.h found where native/CMakeLists.txt looks for faiss. */
export function faissHeaderVersion(roots: string[] = [process.env['FAISS_DIR'], '/usr', '/usr/local'].filter((x): x is string => !!x)): string | null {
  for (const root of roots) {
    const h = path.join(root, 'include', 'faiss', 'Index.h');
    let text: string;
    try {
      text = fs.readFileSync(h, 'utf8');
    } catch {
      continue;
    }
    const part = (n: string): string | undefined => new RegExp(`#define\\s+FAISS_VERSION_${n}\\s+(\\d+)`).exec(text)?.[1];
    const [a, b, c] = [part('MAJOR'), part('MINOR'), part('PATCH')];
    if (a !== undefined && b !== undefined && c !== undefined) return `${a}.${b}.${c}`;
  }
  return null;
}

/** Collects the run environment; nothing here throws (an unknown field is null). */
export async function collectEnvironment(o: { seed?: number; cwd?: string } = {}): Promise<RunEnvironment> {
  const cwd = o.cwd ?? process.cwd();
  let gitCommit = git(['rev-parse', 'HEAD'], cwd);
  if (gitCommit !== null) {
    const dirty = git(['status', '--porcelain', '--untracked-files=no'], cwd);
    if (dirty) gitCommit += ' (uncommitted changes)';
  }
  let packageVersion: string | null = null;
  try {
    packageVersion = (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? null;
  } catch {
    packageVersion = null;
  }
  let libtorch: string | null = null;
  let torchThreads: number | null = null;
  try {
    const T = await import('../tensor/index.ts');
    libtorch = T.torchVersion();
    torchThreads = T.getNumThreads();
  } catch {
    // native addon not built: leave unknown
  }
  const cpus = os.cpus();
  return {
    seed: o.seed ?? null,
    gitCommit,
    packageVersion,
    node: process.version,
    libtorch,
    faiss: faissHeaderVersion(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    logicalCpus: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
    torchThreads,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  };
}

/** Leaves of a nested object as dotted keys: { warmup: { lr: 1e-3 } } → [['warmup.lr', '0.001']]. */
export function flattenParams(x: unknown, prefix = ''): Array<{ key: string; value: string }> {
  if (x !== null && typeof x === 'object' && !Array.isArray(x)) {
    const entries = Object.entries(x as Record<string, unknown>);
    if (entries.length === 0) return [{ key: prefix || '(none)', value: '{}' }];
    return entries.flatMap(([k, v]) => flattenParams(v, prefix ? `${prefix}.${k}` : k));
  }
  return [{ key: prefix || '(value)', value: x === undefined ? '—' : JSON.stringify(x) }];
}

/** Methods drawn as reference lines in the CI charts (not among the dense rows being compared). */
const REFERENCE_METHODS = new Set(['bm25', 'hybrid']);

const num = (v: unknown): number => (typeof v === 'number' ? v : Number.NaN);

/** A history as report curve points (train lines) and dev points (lines with `dev/…` keys). */
function historyCurve(method: string, lossKind: string, history: MetricsRecord[]): TrainingCurve {
  const points: CurvePoint[] = [];
  const dev: NonNullable<TrainingCurve['dev']> = [];
  for (const h of history) {
    const step = num(h.step);
    if ('loss' in h) {
      points.push({
        step,
        loss: num(h['loss']),
        ...('lr' in h ? { lr: num(h['lr']) } : {}),
        ...('mrr10' in h ? { trainMrr: num(h['mrr10']) } : {}),
      });
    }
    for (const [k, v] of Object.entries(h)) if (k.startsWith('dev/')) dev.push({ step, metric: k, value: num(v) });
  }
  return { method, lossKind, points, ...(dev.length ? { dev } : {}) };
}

const PRETRAIN_LOSS: Record<string, string> = {
  contrastive: 'pretraining: contrastive loss (random-crop pairs, in-batch negatives)',
  mlm: 'pretraining: masked-LM loss',
  both: 'pretraining: contrastive + masked-LM loss',
};

/** The loss kind of a method's training curve: ADORE's, the warmups'/STAR's (the preset's loss), pretraining's. */
export function lossKindOf(method: string, r: Pick<DemoResult, 'preset'>): string {
  if (method === 'pretrain') return PRETRAIN_LOSS[r.preset.pretrain?.objective ?? 'contrastive'] ?? 'pretraining loss';
  if (method.startsWith('adore')) return 'ADORE: ΔMRR-weighted pairwise loss (query encoder, dynamic negatives)';
  return `${r.preset.train.loss} loss (warmups, STAR)`;
}

export function reportData(r: DemoResult, env?: RunEnvironment): ReportData {
  const byName = new Map(r.methods.map((m) => [m.method, m]));
  const star = byName.get('star');
  const adoreStar = byName.get('adore-star');
  const hybridRow = byName.get('hybrid');
  const curves: TrainingCurve[] = [];
  if (r.pretrain && r.pretrain.history.length > 0) {
    curves.push(historyCurve(`Pretraining (${r.preset.pretrain?.objective ?? 'corpus'})`, lossKindOf('pretrain', r), r.pretrain.history));
  }
  for (const m of r.methods) if (m.history.length > 0) curves.push(historyCurve(m.label, lossKindOf(m.method, r), m.history));

  const metadata: MetaSection[] = [];
  if (env) {
    metadata.push({
      title: 'Run',
      rows: [
        { key: 'seed', value: env.seed === null ? 'unknown' : String(env.seed) },
        { key: 'git commit', value: env.gitCommit ?? 'not a git checkout' },
        { key: 'drhard version', value: env.packageVersion ?? 'unknown' },
        { key: 'node', value: env.node },
        { key: 'libtorch', value: env.libtorch ?? 'unknown' },
        { key: 'faiss', value: env.faiss ?? 'unknown' },
        { key: 'CPU', value: env.cpuModel },
        { key: 'logical CPUs', value: String(env.logicalCpus) },
        { key: 'libtorch threads', value: env.torchThreads === null ? 'unknown' : String(env.torchThreads) },
        { key: 'platform', value: env.platform },
      ],
    });
  }
  metadata.push({ title: `Hyperparameters (preset "${r.preset.name}")`, rows: flattenParams(r.preset) });
  if (r.hybrid) {
    metadata.push({
      title: 'Hybrid fusion',
      rows: [
        { key: 'fusion', value: 'min-max score interpolation: α · dense + (1 − α) · BM25' },
        { key: 'dense weight α (chosen)', value: String(r.hybrid.denseWeight) },
        { key: 'tuning MRR@10 at α', value: r.hybrid.tuneMrr10.toFixed(4) },
        { key: 'tuning queries', value: String(r.subset.tuneQueries) },
      ],
    });
  }
  metadata.push({
    title: 'Stage times',
    rows: [
      ...r.timings.map((t) => ({ key: t.name, value: `${t.seconds.toFixed(1)} s${t.resumed ? ' (done earlier, reused)' : ''}` })),
      { key: 'total (this invocation)', value: `${r.totalSeconds.toFixed(1)} s` },
    ],
  });

  const data: ReportData = {
    title: 'drhard demo: DRhard training methods on Debian package descriptions',
    subtitle:
      `${r.subset.docs.toLocaleString('en')} documents, ${r.subset.trainQueries.toLocaleString('en')} training and ` +
      `${r.subset.devQueries.toLocaleString('en')} dev queries; preset "${r.preset.name}"`,
    baseline: 'each row\'s starting model (column "vs" in the table notes)',
    results: r.methods.map((m) => {
      const s = r.significance[m.method];
      const tuned = m.method === 'hybrid' && r.hybrid ? `; dense weight α = ${r.hybrid.denseWeight} chosen on ${r.subset.tuneQueries} held-out training queries` : '';
      return {
        method: m.label,
        mrr10: m.eval.mean['mrr@10'],
        recall100: m.eval.mean['recall@100'],
        ndcg10: m.eval.mean['ndcg@10'],
        ...(s ? { pValues: { mrr10: s.tests['mrr@10'].pT, recall100: s.tests['recall@100'].pT, ndcg10: s.tests['ndcg@10'].pT } } : {}),
        notes: `${s ? `vs ${s.baseline} (paired t-test)` : 'baseline'}${tuned}`,
      };
    }),
    curves,
    devMetrics: r.methods.map((m) => ({
      method: m.label,
      metrics: {
        'MRR@10': meanCi(m.eval.values['mrr@10']),
        'Recall@100': meanCi(m.eval.values['recall@100']),
        'NDCG@10': meanCi(m.eval.values['ndcg@10']),
      },
      ...(REFERENCE_METHODS.has(m.method) ? { reference: true } : {}),
    })),
    metadata,
    notes: [
      'Pipeline (as the seed paper, from scratch): ' +
        (r.preset.pretrain ? `pretrain the encoder on the corpus alone (${r.preset.pretrain.objective}); ` : '') +
        'warm up the dual encoder with in-batch, random or BM25 negatives; ' +
        `mine static hard negatives with the best warmup (${r.starInit}); train STAR; then ADORE (query encoder only, ` +
        'dynamic hard negatives from the fixed document index) on each starting model' +
        (hybridRow ? '; finally fuse ADORE (STAR) with BM25 (min-max interpolation, weight tuned on held-out training queries).' : '.'),
      'Corpus: Debian package long descriptions; query: the package synopsis; relevant: the package(s) carrying it. ' +
        'Dev metrics over all dev queries; p-values are two-sided paired t-tests (randomization tests in results.json).',
      `Model: hidden ${r.preset.model.hiddenSize}, ${r.preset.model.numHiddenLayers} layers, vocabulary ${r.preset.vocabSize} ` +
        '(byte-level BPE trained on the corpus); CPU training on this machine.',
    ],
  };
  if (r.hybrid && r.hybrid.curve.length > 0) {
    data.tuning = [
      {
        title: `${hybridRow?.label ?? 'Hybrid'}: dense weight`,
        param: 'dense weight α (BM25: 1 − α)',
        metric: 'MRR@10, tuning queries',
        points: r.hybrid.curve.map((c) => ({ x: c.alpha, value: c.value })),
        chosen: r.hybrid.denseWeight,
        note: `Min-max interpolation; ${r.subset.tuneQueries} held-out training queries (never dev).`,
      },
    ];
  }
  if (star && adoreStar) {
    data.pair = {
      a: star.label,
      b: adoreStar.label,
      metric: 'MRR@10',
      deltas: adoreStar.eval.values['mrr@10'].map((v, i) => v - (star.eval.values['mrr@10'][i] as number)),
      ...(r.examples ? { examples: r.examples } : {}),
    };
  }
  return data;
}
