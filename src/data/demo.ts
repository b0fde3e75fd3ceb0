// Demo corpus builder: MS MARCO-format retrieval data from Debian's English package descriptions (no network needed).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import * as zlib from 'node:zlib';
import { DrhardInputError, DrhardUsageError } from '../util/errors.ts';
import { publishDir, writeFileAtomic } from '../util/fsx.ts';
import { sha256FileSync } from '../util/hash.ts';

export interface BuildDemoOptions {
  /** Output directory (replaced as a whole, atomically). */
  out: string;
  /** apt Translation-en files (default: /var/lib/apt/lists/*_i18n_Translation-en*). Any apt compression. */
  sources?: string[];
  /** Dev queries drawn by a seeded hash; the rest are train (default 1500). */
  devQueries?: number;
  seed?: number;
  /** Documents with fewer words are dropped as trivial (default 10). */
  minDocWords?: number;
  /** Synopses with fewer words are dropped as queries (default 2). */
  minQueryWords?: number;
  /** Synopses shared by more than this many distinct documents are too generic to be queries (default 10). */
  maxRelevant?: number;
}

export interface DemoStats {
  sources: Array<{ file: string; sha256: string; stanzas: number }>;
  packages: number;
  /** Packages whose description was dropped as too short. */
  trivial: number;
  documents: number;
  /** Packages folded into another package's identical document. */
  duplicatePackages: number;
  queries: { train: number; dev: number; dropped: { short: number; generic: number } };
  judgments: { train: number; dev: number };
  files: Record<string, { bytes: number; sha256: string }>;
}

const APT_LISTS = '/var/lib/apt/lists';

export function defaultDemoSources(): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(APT_LISTS);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.includes('_i18n_Translation-en') && !n.endsWith('.diff'))
    .sort()
    .map((n) => path.join(APT_LISTS, n));
}

/** Lines of a possibly compressed apt list file: gzip in-process, anything else (lz4, xz, zstd) via apt-helper. */
async function* sourceLines(file: string): AsyncGenerator<string> {
  let input: NodeJS.ReadableStream;
  let child: ReturnType<typeof spawn> | undefined;
  if (file.endsWith('.gz')) input = fs.createReadStream(file).pipe(zlib.createGunzip());
  else if (/\.(lz4|xz|bz2|zst|lzma)$/.test(file)) {
    // apt-helper decompresses every format apt itself stores its lists in.
    child = spawn('/usr/lib/apt/apt-helper', ['cat-file', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    input = child.stdout as NodeJS.ReadableStream;
  } else input = fs.createReadStream(file);
  let stderr = '';
  child?.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = child ? new Promise<number | null>((resolve) => child.on('close', resolve)) : Promise.resolve(0);
  const rl = readline.createInterface({ input, crlfDelay: Infinity });
  for await (const line of rl) yield line;
  const code = await exited;
  if (code !== 0) throw new DrhardInputError(`cannot decompress (apt-helper exit ${code}): ${stderr.trim()}`, { file });
}

interface Stanza {
  pkg: string;
  synopsis: string;
  long: string[];
}

function normalizeSpace(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** RFC 822 stanzas of a Translation file: Package, Description-en synopsis, indented long description. */
async function readStanzas(file: string, onStanza: (s: Stanza) => void): Promise<number> {
  let count = 0;
  let cur: Partial<Stanza> & { long: string[] } = { long: [] };
  let inDesc = false;
  let lineNo = 0;
  const flush = (): void => {
    if (cur.pkg !== undefined) {
      if (cur.synopsis === undefined) throw new DrhardInputError(`package ${cur.pkg} has no Description-en`, { file, line: lineNo });
      onStanza(cur as Stanza);
      count++;
    }
    cur = { long: [] };
    inDesc = false;
  };
  for await (const line of sourceLines(file)) {
    lineNo++;
    if (line.trim().length === 0) {
      flush();
      continue;
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (inDesc) cur.long.push(line);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new DrhardInputError('expected "Field: value" or an indented continuation line', { file, line: lineNo });
    const field = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    inDesc = false;
    if (field === 'Package') cur.pkg = value;
    else if (field === 'Description-en') {
      cur.synopsis = value;
      inDesc = true;
    }
  }
  flush();
  return count;
}

/** Long description → one line: " ." paragraph breaks and line breaks become spaces (TSV has one text per line). */
function longText(lines: string[]): string {
  return normalizeSpace(lines.filter((l) => l.trim() !== '.').join(' '));
}

function hashKey(seed: number, s: string): string {
  return createHash('sha256').update(`${seed}\0${s}`).digest('hex');
}

/**
 * Builds the demo dataset: document = a package's long description (identical descriptions merged, trivial ones
 * dropped), query = a one-line synopsis, relevant = the documents of every package with that synopsis. Writes
 * collection.tsv.gz, queries.{train,dev}.tsv.gz, qrels.{train,dev}.tsv and README.md.
 */
export async function buildDemoData(opts: BuildDemoOptions): Promise<DemoStats> {
  const sources = opts.sources ?? defaultDemoSources();
  if (sources.length === 0) {
    throw new DrhardUsageError(`no apt Translation-en lists in ${APT_LISTS}; run: apt-get update -o Acquire::Languages=en`);
  }
  const devN = opts.devQueries ?? 1500;
  const seed = opts.seed ?? 42;
  const minDocWords = opts.minDocWords ?? 10;
  const minQueryWords = opts.minQueryWords ?? 2;
  const maxRelevant = opts.maxRelevant ?? 10;

  // First stanza of a package wins (sources in sorted order), so the result does not depend on readdir order.
  const byPkg = new Map<string, { synopsis: string; text: string }>();
  const srcStats: DemoStats['sources'] = [];
  for (const file of sources) {
    const stanzas = await readStanzas(file, (s) => {
      if (!byPkg.has(s.pkg)) byPkg.set(s.pkg, { synopsis: normalizeSpace(s.synopsis), text: longText(s.long) });
    });
    srcStats.push({ file, sha256: sha256FileSync(file).sha256, stanzas });
  }

  const pkgs = [...byPkg.keys()].sort();
  const docOf = new Map<string, number>(); // text → doc index
  const docText: string[] = [];
  const pkgDoc = new Map<string, number>();
  let trivial = 0;
  let dupPkgs = 0;
  for (const p of pkgs) {
    const { text } = byPkg.get(p)!;
    if (text.split(' ').length < minDocWords) {
      trivial++;
      continue;
    }
    let d = docOf.get(text);
    if (d === undefined) {
      d = docText.length;
      docOf.set(text, d);
      docText.push(text);
    } else dupPkgs++;
    pkgDoc.set(p, d);
  }

  const bySynopsis = new Map<string, Set<number>>();
  for (const p of pkgs) {
    const d = pkgDoc.get(p);
    if (d === undefined) continue;
    const syn = byPkg.get(p)!.synopsis;
    let set = bySynopsis.get(syn);
    if (set === undefined) {
      set = new Set();
      bySynopsis.set(syn, set);
    }
    set.add(d);
  }
  let short = 0;
  let generic = 0;
  const queries: Array<{ text: string; docs: number[] }> = [];
  for (const syn of [...bySynopsis.keys()].sort()) {
    const docs = [...bySynopsis.get(syn)!].sort((a, b) => a - b);
    if (syn.split(' ').length < minQueryWords) short++;
    else if (docs.length > maxRelevant) generic++;
    else queries.push({ text: syn, docs });
  }
  if (queries.length <= devN) throw new DrhardUsageError(`only ${queries.length} queries; cannot hold out ${devN} for dev`);
  // qid = position in synopsis order; the dev set is the devN smallest seeded hashes, so it is independent of qids.
  const order = queries.map((q, i) => ({ i, h: hashKey(seed, q.text) })).sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : 0));
  const isDev = new Uint8Array(queries.length);
  for (let k = 0; k < devN; k++) isDev[order[k]!.i] = 1;

  const out = path.resolve(opts.out);
  const files: DemoStats['files'] = {};
  const stats: DemoStats = {
    sources: srcStats,
    packages: byPkg.size,
    trivial,
    documents: docText.length,
    duplicatePackages: dupPkgs,
    queries: { train: queries.length - devN, dev: devN, dropped: { short, generic } },
    judgments: { train: 0, dev: 0 },
    files,
  };
  await publishDir(out, (tmp) => {
    const put = (name: string, text: string): void => {
      const data = name.endsWith('.gz') ? zlib.gzipSync(Buffer.from(text, 'utf8'), { level: 9 }) : Buffer.from(text, 'utf8');
      writeFileAtomic(path.join(tmp, name), data, { sync: false }); // checked write; publishDir syncs the directory
      files[name] = { bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') };
    };
    put('collection.tsv.gz', docText.map((t, i) => `${i}\t${t}\n`).join(''));
    for (const split of ['train', 'dev'] as const) {
      const want = split === 'dev' ? 1 : 0;
      const qs: string[] = [];
      const qr: string[] = [];
      queries.forEach((q, qid) => {
        if (isDev[qid] !== want) return;
        qs.push(`${qid}\t${q.text}\n`);
        for (const d of q.docs) qr.push(`${qid}\t0\t${d}\t1\n`);
      });
      stats.judgments[split] = qr.length;
      put(`queries.${split}.tsv.gz`, qs.join(''));
      put(`qrels.${split}.tsv`, qr.join(''));
    }
    put('README.md', demoReadme(stats, { devN, seed, minDocWords, minQueryWords, maxRelevant }));
  });
  return stats;
}

function demoReadme(s: DemoStats, o: { devN: number; seed: number; minDocWords: number; minQueryWords: number; maxRelevant: number }): string {
  const src = s.sources.map((x) => `- \`${path.basename(x.file)}\` (${x.stanzas} stanzas, sha256 \`${x.sha256.slice(0, 16)}…\`)`).join('\n');
  const fileRows = Object.entries(s.files)
    .filter(([n]) => n !== 'README.md')
    .map(([n, f]) => `| \`${n}\` | ${f.bytes.toLocaleString('en-US')} |`)
    .join('\n');
  return `# drhard demo dataset (Debian package descriptions)

MS MARCO passage-format retrieval data, shipped so the demo needs no network. Generated by
\`node --import tsx scripts/build-demo-data.ts\` (or \`drhard build-demo-data --out-dir data/demo\`); do not edit by hand.

- **Documents** (\`collection.tsv.gz\`, \`pid<TAB>text\`): the long description of a Debian package, paragraphs and
  lines joined with single spaces. Identical descriptions are one document (${s.duplicatePackages.toLocaleString('en-US')} packages
  folded into another's document). Descriptions under ${o.minDocWords} words are dropped (${s.trivial.toLocaleString('en-US')} packages).
- **Queries** (\`queries.{train,dev}.tsv.gz\`, \`qid<TAB>text\`): a package's one-line synopsis (Description-en).
  A synopsis shared by several packages is one query, relevant to all their documents. Synopses under
  ${o.minQueryWords} words (${s.queries.dropped.short}) or shared by more than ${o.maxRelevant} documents (${s.queries.dropped.generic}, e.g. "transitional dummy package") are dropped.
- **Qrels** (\`qrels.{train,dev}.tsv\`, \`qid<TAB>0<TAB>pid<TAB>1\`).
- **Split**: the ${o.devN} queries with the smallest sha256("${o.seed}\\0" + synopsis) are dev, the rest train.
- Ids: pids are 0..N-1 in package-name order of each document's first package; qids are 0..Q-1 in synopsis order.

| | count |
|---|---|
| packages read | ${s.packages.toLocaleString('en-US')} |
| documents | ${s.documents.toLocaleString('en-US')} |
| train queries | ${s.queries.train.toLocaleString('en-US')} |
| dev queries | ${s.queries.dev.toLocaleString('en-US')} |
| train judgments | ${s.judgments.train.toLocaleString('en-US')} |
| dev judgments | ${s.judgments.dev.toLocaleString('en-US')} |

| file | bytes |
|---|---|
${fileRows}

Sources (\`apt-get update -o Acquire::Languages=en\`, Debian 12 "bookworm" main, updates and security):
${src}

The descriptions are Debian's package metadata (DFSG-free package descriptions written by the package maintainers).
The whole corpus is kept; consumers subsample it (the demo trains a small model from scratch on a subset).
`;
}
