// Child process for test/dist/adore.test.ts, one rank (or, without WORLD_SIZE, the single process):
//   retrieval <file> <queries> <dim> <k>: ADORE's retrieval of one batch: this rank's slice of the queries gathered,
//     the shards searched and merged, and the whole batch's doc vectors; prints ids, scores and the vectors' sum.
//   train <options.json>: trainDualEncoder with those options; prints one JSON line per step with the retrieved ids.
import * as fs from 'node:fs';
import { ProcessGroup } from '../../src/dist/group.ts';
import { openShardedAdoreIndex } from '../../src/dist/adore.ts';
import { openAdoreIndex, localRetrieval } from '../../src/train/adore.ts';
import { trainDualEncoder } from '../../src/train/index.ts';
import { tensor } from '../../src/tensor/index.ts';
import { createLogger } from '../../src/util/log.ts';

const [mode, ...args] = process.argv.slice(2);
const pg = ProcessGroup.fromEnv({ timeoutMs: 60_000 });
if (mode === 'retrieval') {
  const [file, qfile, dim, k] = [args[0] as string, args[1] as string, Number(args[2]), Number(args[3])];
  const qb = fs.readFileSync(qfile);
  const all = new Float32Array(qb.buffer, qb.byteOffset, qb.byteLength / 4);
  const B = all.length / dim;
  const count = fs.statSync(file).size / 4 / dim;
  const side = pg ? openShardedAdoreIndex(file, pg, { dim, count, index: 'Flat' }) : null;
  const single = side === null ? openAdoreIndex(file, { dim, count, index: 'Flat' }) : null;
  const r = side?.retrieval ?? localRetrieval(single as NonNullable<typeof single>);
  const [s, e] = r.slice(B);
  const q = r.gather(tensor(all.slice(s * dim, e * dim), { shape: [e - s, dim] }));
  const hits = r.search(q, k);
  const vectors = r.docVectors(Int32Array.from(hits.ids, (x) => Math.max(0, x)));
  process.stdout.write(
    `${JSON.stringify({ rank: pg?.rank ?? -1, slice: [s, e], ids: Array.from(hits.ids), scores: Array.from(hits.scores), vectors: Array.from(vectors.toFloat32Array()) })}\n`,
  );
  side?.dispose();
  single?.searcher.dispose();
} else if (mode === 'train') {
  const options = JSON.parse(fs.readFileSync(args[0] as string, 'utf8')) as Record<string, unknown>;
  const r = await trainDualEncoder(options as never, {
    logger: createLogger({ level: 'warn' }),
    ...(pg ? { dist: { pg, crossRankNegatives: false } } : {}),
    hooks: { onRetrieval: (x) => process.stdout.write(`${JSON.stringify({ step: x.step, queries: x.queries, k: x.k, ids: Array.from(x.ids) })}\n`) },
  });
  process.stdout.write(`${JSON.stringify({ done: r.step, modelDir: r.modelDir, history: r.history })}\n`);
} else throw new Error(`unknown mode ${mode}`);
pg?.destroy();
