// The float32 screens' floor (sharded search passes each query's k-th best score of earlier shards): a kernel given a
// floor returns every document that can reach it and prunes the rest, and sharded search with ties that straddle shard
// boundaries still equals the in-memory search and the float64 brute force, with the fp32 engine and every int8 kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../../src/tensor/index.ts';
import { DenseSearcher } from '../../src/retrieval/search.ts';
import { Int8Copy, maxRowNorm, sgemmScreenedSearch } from '../../src/retrieval/screen.ts';
import { withEnv } from '../helpers/env.ts';
import { testSeed } from '../helpers/seed.ts';
import { bruteForceTopK, hitRows, rowLists, tmpDir, writeEmbeddingsFile } from './helpers.ts';

type Search = (q: T.Tensor, k: number, floor?: Float32Array) => { scores: Float32Array; ids: BigInt64Array; rescored: BigInt64Array };

/** The screens under test: fp32, then each int8 kernel this CPU runs (over one int8 copy, disposed by the caller). */
function screens(docs: T.Tensor): { list: Array<[string, Search]>; copy: Int8Copy | null } {
  const maxNorm = maxRowNorm(docs);
  const list: Array<[string, Search]> = [['fp32', (q, k, floor) => sgemmScreenedSearch(q, docs, maxNorm, k, 4096, floor)]];
  const copy = T.int8ScreenSupported() ? Int8Copy.build(docs) : null;
  for (const isa of copy === null ? [] : T.int8ScreenIsas()) list.push([`int8 ${isa}`, (q, k, floor) => (copy as Int8Copy).search(q, docs, k, { isa, floor })]);
  return { list, copy };
}

test('a floor keeps every document that reaches it (ties included) and prunes the rescoring', () => {
  const seed = testSeed(181);
  T.manualSeed(seed);
  for (const D of [24, 300]) T.tidy(() => {
    const tag = `D=${D} seed=${seed} (DRHARD_TEST_SEED=${seed} to replay)`;
    const N = 6000;
    const B = 6;
    const k = 40;
    // Small integers: many exact ties, also at the floor itself.
    const docs = T.randint(-3, 4, [N, D]).to('float32').contiguous();
    const q = T.randint(-3, 4, [B, D]).to('float32').contiguous();
    const ref = bruteForceTopK(q, docs, N, 'float64');
    // The floor: the score at place k/2 of each query's true list.
    const floor = Float32Array.from(ref.scores, (row) => row[k / 2] as number);
    const { list, copy } = screens(docs);
    for (const [name, search] of list) {
      const full = search(q, k);
      const cut = search(q, k, floor);
      const got = rowLists(cut.ids, B, k);
      const gotScores = rowLists(cut.scores, B, k);
      for (let b = 0; b < B; b++) {
        // Every document scoring at least the floor, best first, ties to the lower offset (up to k); below the floor
        // a row may hold documents whose bounds straddled it (rescored, so exact), which the caller's merge drops.
        const f = floor[b] as number;
        const want = (ref.ids[b] as number[]).filter((_, i) => ((ref.scores[b] as number[])[i] as number) >= f).slice(0, k);
        const kept = (got[b] as number[]).filter((id, i) => id >= 0 && ((gotScores[b] as number[])[i] as number) >= f);
        assert.deepEqual(kept, want, `${name}: query ${b} ${tag}`);
        assert.deepEqual((gotScores[b] as number[]).slice(0, want.length), (ref.scores[b] as number[]).slice(0, want.length), `${name}: scores, query ${b} ${tag}`);
      }
      // Not vacuous: with the floor fewer documents are rescored than without.
      const sum = (x: BigInt64Array): number => Array.from(x, Number).reduce((a, c) => a + c, 0);
      assert.ok(sum(cut.rescored) < sum(full.rescored), `${name}: the floor pruned nothing (${sum(cut.rescored)} vs ${sum(full.rescored)}) ${tag}`);
    }
    copy?.dispose();
  });
});

test('sharded search with ties across shard boundaries equals the in-memory search and the brute force (fp32, every int8 kernel)', () => {
  const seed = testSeed(182);
  T.manualSeed(seed);
  const dir = tmpDir();
  try {
    T.tidy(() => {
      const N = 5000;
      const D = 20;
      const base = T.randint(-2, 3, [N / 5, D]).to('float32');
      const gauss = T.randn([N / 5, D]);
      const engines: Array<['fp32' | 'int8', string | undefined]> = [['fp32', undefined], ...T.int8ScreenIsas().map((i): ['int8', string] => ['int8', i])];
      // Each row five times, spread over the file: equal scores in different shards; integers (ties everywhere) and
      // gaussian rows (a floor set too high would lose documents just above the k-th score).
      for (const [what, rows, q] of [
        ['integers', base, T.randint(-2, 3, [9, D]).to('float32').contiguous()],
        ['gaussian', gauss, T.randn([9, D])],
      ] as const) {
        const docs = T.cat([rows, rows, rows, rows, rows], 0).contiguous();
        const file = path.join(dir, `${what}.emb`);
        writeEmbeddingsFile(file, docs);
        const ref = bruteForceTopK(q, docs, 60, 'float64');
        for (const [engine, isa] of engines) {
          withEnv({ DRHARD_INT8_ISA: isa }, () => {
            using sharded = DenseSearcher.fromFile(file, { engine, maxMemoryBytes: (N * D * 4) / 6 });
            using mem = DenseSearcher.fromTensor(docs, { engine });
            assert.ok(sharded.shards > 3, `${sharded.shards} shards`);
            const got = hitRows(sharded.search(q, 60), 9);
            assert.deepEqual(got, hitRows(mem.search(q, 60), 9), `${engine} ${isa ?? ''}: sharded vs in-memory, ${what}, seed=${seed}`);
            assert.deepEqual(got, ref, `${engine} ${isa ?? ''}: sharded vs brute force, ${what}, seed=${seed}`);
          });
        }
      }
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
