// Child process for test/dist/search.test.ts: one rank searching its shard of an embeddings file; prints the merged run.
import * as fs from 'node:fs';
import { ProcessGroup } from '../../src/dist/group.ts';
import { openRankShard, shardedSearch } from '../../src/dist/search.ts';
import { tensor } from '../../src/tensor/index.ts';

const [file, queries, dim, k] = [process.argv[2] as string, process.argv[3] as string, Number(process.argv[4]), Number(process.argv[5])];
const pg = ProcessGroup.fromEnv({ timeoutMs: 30000 });
if (pg === null) throw new Error('WORLD_SIZE not set');
const shard = openRankShard(file, pg, { layout: { dim, dtype: 'float32' } });
const qb = fs.readFileSync(queries);
const q = tensor(new Float32Array(qb.buffer, qb.byteOffset, qb.byteLength / 4), { shape: [qb.byteLength / 4 / dim, dim] });
const hits = shardedSearch(pg, shard, q, k);
process.stdout.write(`${JSON.stringify({ rank: pg.rank, start: shard.start, ids: Array.from(hits.ids), scores: Array.from(hits.scores) })}\n`);
shard.searcher.dispose();
pg.destroy();
